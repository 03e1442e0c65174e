//! Nova's `DiskWeigher` as a plugin: a raw weight, normalised and multiplied by the host.

use metacloud_sdk::{Request, Snapshot, Weigher};

pub struct DiskWeigher;

impl Weigher for DiskWeigher {
    const NAME: &'static str = "DiskWeigher";
    const DEFAULT_MULTIPLIER: f64 = 1.0;

    fn weigh(snap: &Snapshot, host: usize, _req: &Request) -> f64 {
        snap.free_disk_gb[host]
    }
}

metacloud_sdk::weigher_plugin!(DiskWeigher, "../../wit/scheduler");
