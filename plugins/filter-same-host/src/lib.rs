//! Nova's `SameHostFilter` as a plugin.

use metacloud_sdk::{Filter, Request, Snapshot};

pub struct SameHostFilter;

impl Filter for SameHostFilter {
    const NAME: &'static str = "SameHostFilter";

    fn passes(_snap: &Snapshot, host: usize, req: &Request) -> bool {
        req.same_host.is_empty() || {
            let placed = host_instances(host);
            req.same_host.iter().any(|u| placed.contains(u))
        }
    }
}

metacloud_sdk::filter_plugin!(SameHostFilter, "../../wit/scheduler");
