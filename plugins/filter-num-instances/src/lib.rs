//! Nova's `NumInstancesFilter` as a plugin.

use metacloud_sdk::{Filter, Request, Snapshot};

pub struct NumInstancesFilter;

impl Filter for NumInstancesFilter {
    const NAME: &'static str = "NumInstancesFilter";

    fn passes(snap: &Snapshot, host: usize, _req: &Request) -> bool {
        let max = setting("max_instances_per_host")
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(50);
        snap.running_vms[host] < max
    }
}

metacloud_sdk::filter_plugin!(NumInstancesFilter, "../../wit/scheduler");
