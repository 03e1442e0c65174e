//! Nova's `ComputeFilter` as a plugin.

use metacloud_sdk::{Filter, Request, Snapshot};

pub struct ComputeFilter;

impl Filter for ComputeFilter {
    const NAME: &'static str = "ComputeFilter";

    fn passes(snap: &Snapshot, host: usize, _req: &Request) -> bool {
        snap.service_up[host] && !snap.disabled[host]
    }
}

metacloud_sdk::filter_plugin!(ComputeFilter, "../../wit/scheduler");
