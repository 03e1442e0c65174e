//! Nova's `CPUWeigher` as a plugin: a raw weight, normalised and multiplied by the host.

use metacloud_sdk::{Request, Snapshot, Weigher};

pub struct CPUWeigher;

impl Weigher for CPUWeigher {
    const NAME: &'static str = "CPUWeigher";
    const DEFAULT_MULTIPLIER: f64 = 1.0;

    fn weigh(snap: &Snapshot, host: usize, _req: &Request) -> f64 {
        snap.free_vcpus[host]
    }
}

metacloud_sdk::weigher_plugin!(CPUWeigher, "../../wit/scheduler");
