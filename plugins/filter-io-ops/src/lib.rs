//! Nova's `IoOpsFilter` as a plugin: hosts with too many instances building are skipped.

use metacloud_sdk::{Filter, Request, Snapshot};

pub struct IoOpsFilter;

thread_local! {
    static MAX: u32 = setting("max_io_ops_per_host")
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
}

impl Filter for IoOpsFilter {
    const NAME: &'static str = "IoOpsFilter";

    fn passes(snap: &Snapshot, host: usize, _req: &Request) -> bool {
        MAX.with(|max| snap.io_ops[host] < *max)
    }
}

metacloud_sdk::filter_plugin!(IoOpsFilter, "../../wit/scheduler");
