//! Nova's `AggregateInstanceExtraSpecsFilter` as a plugin: flavor extra specs scoped
//! `aggregate_instance_extra_specs:` (or unscoped) must match the metadata of one of the
//! host's aggregates.

use metacloud_sdk::{spec_matches, Filter, Request, Snapshot};

pub struct AggregateInstanceExtraSpecsFilter;

impl Filter for AggregateInstanceExtraSpecsFilter {
    const NAME: &'static str = "AggregateInstanceExtraSpecsFilter";

    fn passes(snap: &Snapshot, host: usize, req: &Request) -> bool {
        req.flavor.extra_specs.iter().all(|(key, want)| {
            let key = match key.split_once(':') {
                Some(("aggregate_instance_extra_specs", rest)) => rest,
                Some(_) => return true,
                None => key.as_str(),
            };
            snap.aggregate_values(host, key)
                .iter()
                .any(|have| spec_matches(have, want))
        })
    }
}

metacloud_sdk::filter_plugin!(AggregateInstanceExtraSpecsFilter, "../../wit/scheduler");
