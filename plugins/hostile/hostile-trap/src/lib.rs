//! A filter that misbehaves in `filter` (its `info` and `sync` work): the host must fail
//! only this call.

use metacloud_sdk::{Filter, Request, Snapshot};

pub struct HostileTrap;

impl Filter for HostileTrap {
    const NAME: &'static str = "HostileTrap";

    fn passes(_snap: &Snapshot, _host: usize, _req: &Request) -> bool {
        #[cfg(target_arch = "wasm32")]
        core::arch::wasm32::unreachable();
        #[allow(unreachable_code)]
        true
    }
}

metacloud_sdk::filter_plugin!(HostileTrap, "../../../wit/scheduler");
