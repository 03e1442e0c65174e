//! Nova's `BuildFailureWeigher` as a plugin: a raw weight, normalised and multiplied by the host.

use metacloud_sdk::{Request, Snapshot, Weigher};

pub struct BuildFailureWeigher;

impl Weigher for BuildFailureWeigher {
    const NAME: &'static str = "BuildFailureWeigher";
    const DEFAULT_MULTIPLIER: f64 = 1_000_000.0;

    fn weigh(snap: &Snapshot, host: usize, _req: &Request) -> f64 {
        -(snap.failed_builds[host] as f64)
    }
}

metacloud_sdk::weigher_plugin!(BuildFailureWeigher, "../../wit/scheduler");
