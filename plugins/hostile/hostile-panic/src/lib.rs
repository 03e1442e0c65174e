//! A filter that misbehaves in `filter` (its `info` and `sync` work): the host must fail
//! only this call.

use metacloud_sdk::{Filter, Request, Snapshot};

pub struct HostilePanic;

impl Filter for HostilePanic {
    const NAME: &'static str = "HostilePanic";

    fn passes(_snap: &Snapshot, host: usize, _req: &Request) -> bool {
        panic!("hostile plugin panics on host {host}")
    }
}

metacloud_sdk::filter_plugin!(HostilePanic, "../../../wit/scheduler");
