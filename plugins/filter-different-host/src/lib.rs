//! Nova's `DifferentHostFilter` as a plugin.

use metacloud_sdk::{Filter, Request, Snapshot};

pub struct DifferentHostFilter;

impl Filter for DifferentHostFilter {
    const NAME: &'static str = "DifferentHostFilter";

    fn passes(_snap: &Snapshot, host: usize, req: &Request) -> bool {
        req.different_host.is_empty() || {
            let placed = host_instances(host);
            !req.different_host.iter().any(|u| placed.contains(u))
        }
    }
}

metacloud_sdk::filter_plugin!(DifferentHostFilter, "../../wit/scheduler");
