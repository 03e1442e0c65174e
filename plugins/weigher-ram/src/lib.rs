//! Nova's `RAMWeigher` as a plugin: a raw weight, normalised and multiplied by the host.

use metacloud_sdk::{Request, Snapshot, Weigher};

pub struct RAMWeigher;

impl Weigher for RAMWeigher {
    const NAME: &'static str = "RAMWeigher";
    const DEFAULT_MULTIPLIER: f64 = 1.0;

    fn weigh(snap: &Snapshot, host: usize, _req: &Request) -> f64 {
        snap.free_ram_mb[host]
    }
}

metacloud_sdk::weigher_plugin!(RAMWeigher, "../../wit/scheduler");
