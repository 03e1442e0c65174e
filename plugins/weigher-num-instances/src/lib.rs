//! Nova's `NumInstancesWeigher` as a plugin: a raw weight, normalised and multiplied by the host.

use metacloud_sdk::{Request, Snapshot, Weigher};

pub struct NumInstancesWeigher;

impl Weigher for NumInstancesWeigher {
    const NAME: &'static str = "NumInstancesWeigher";
    const DEFAULT_MULTIPLIER: f64 = 0.0;

    fn weigh(snap: &Snapshot, host: usize, _req: &Request) -> f64 {
        snap.running_vms[host] as f64
    }
}

metacloud_sdk::weigher_plugin!(NumInstancesWeigher, "../../wit/scheduler");
