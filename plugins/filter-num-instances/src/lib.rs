//! Nova's `NumInstancesFilter` as a plugin.

use metacloud_sdk::{Filter, Request, Snapshot};

pub struct NumInstancesFilter;

thread_local! {
    /// Read once per instance (settings do not change while it lives).
    static MAX: u32 = setting("max_instances_per_host")
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
}

impl Filter for NumInstancesFilter {
    const NAME: &'static str = "NumInstancesFilter";

    fn passes(snap: &Snapshot, host: usize, _req: &Request) -> bool {
        MAX.with(|max| snap.running_vms[host] < *max)
    }
}

metacloud_sdk::filter_plugin!(NumInstancesFilter, "../../wit/scheduler");
