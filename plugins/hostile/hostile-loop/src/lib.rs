//! A filter that misbehaves in `filter` (its `info` and `sync` work): the host must fail
//! only this call.

use metacloud_sdk::{Filter, Request, Snapshot};

pub struct HostileLoop;

impl Filter for HostileLoop {
    const NAME: &'static str = "HostileLoop";

    fn passes(_snap: &Snapshot, _host: usize, _req: &Request) -> bool {
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
}

metacloud_sdk::filter_plugin!(HostileLoop, "../../../wit/scheduler");
