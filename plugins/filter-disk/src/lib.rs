//! Nova's `DiskFilter` as a plugin.

use metacloud_sdk::{Filter, Request, Snapshot};

pub struct DiskFilter;

impl Filter for DiskFilter {
    const NAME: &'static str = "DiskFilter";

    fn passes(snap: &Snapshot, host: usize, req: &Request) -> bool {
        snap.free_disk_gb[host] >= (req.flavor.root_gb + req.flavor.ephemeral_gb) as f64
    }
}

metacloud_sdk::filter_plugin!(DiskFilter, "../../wit/scheduler");
