//! Nova's `IoOpsWeigher` as a plugin: with the default multiplier -1.0, quiet hosts win.

use metacloud_sdk::{Request, Snapshot, Weigher};

pub struct IoOpsWeigher;

impl Weigher for IoOpsWeigher {
    const NAME: &'static str = "IoOpsWeigher";
    const DEFAULT_MULTIPLIER: f64 = -1.0;

    fn weigh(snap: &Snapshot, host: usize, _req: &Request) -> f64 {
        snap.io_ops[host] as f64
    }
}

metacloud_sdk::weigher_plugin!(IoOpsWeigher, "../../wit/scheduler");
