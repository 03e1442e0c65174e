//! A filter built against `metacloud:scheduler@2.0.0`: the host refuses it at load.

use metacloud_sdk::{Filter, Request, Snapshot};

pub struct FutureFilter;

impl Filter for FutureFilter {
    const NAME: &'static str = "FutureFilter";

    fn passes(_snap: &Snapshot, _host: usize, _req: &Request) -> bool {
        true
    }
}

metacloud_sdk::filter_plugin!(FutureFilter, "wit");
