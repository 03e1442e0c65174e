//! Nova's `RamFilter` as a plugin.

use metacloud_sdk::{Filter, Request, Snapshot};

pub struct RamFilter;

impl Filter for RamFilter {
    const NAME: &'static str = "RamFilter";

    fn passes(snap: &Snapshot, host: usize, req: &Request) -> bool {
        snap.free_ram_mb[host] >= req.flavor.memory_mb as f64
    }
}

metacloud_sdk::filter_plugin!(RamFilter, "../../wit/scheduler");
