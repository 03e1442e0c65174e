//! Nova's `VCPUFilter` as a plugin.

use metacloud_sdk::{Filter, Request, Snapshot};

pub struct VCPUFilter;

impl Filter for VCPUFilter {
    const NAME: &'static str = "VCPUFilter";

    fn passes(snap: &Snapshot, host: usize, req: &Request) -> bool {
        snap.free_vcpus[host] >= req.flavor.vcpus as f64
    }
}

metacloud_sdk::filter_plugin!(VCPUFilter, "../../wit/scheduler");
