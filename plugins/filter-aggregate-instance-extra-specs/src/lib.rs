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

    fn filter(snap: &Snapshot, candidates: Vec<u32>, req: &Request) -> Vec<u32> {
        let ours = req.flavor.extra_specs.iter().any(|(key, _)| {
            matches!(
                key.split_once(':'),
                Some(("aggregate_instance_extra_specs", _)) | None
            )
        });
        if ours {
            metacloud_sdk::each_host::<Self>(snap, candidates, req)
        } else {
            candidates
        }
    }
}

metacloud_sdk::filter_plugin!(AggregateInstanceExtraSpecsFilter, "../../wit/scheduler");
