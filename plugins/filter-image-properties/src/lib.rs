//! Nova's `ImagePropertiesFilter` as a plugin.

use metacloud_sdk::{Filter, Request, Snapshot};

pub struct ImagePropertiesFilter;

impl Filter for ImagePropertiesFilter {
    const NAME: &'static str = "ImagePropertiesFilter";

    fn passes(snap: &Snapshot, host: usize, req: &Request) -> bool {
        let prop = |a: &str, b: &str| req.image_property(a).or_else(|| req.image_property(b));
        let arch_ok = prop("hw_architecture", "architecture")
            .map(|a| a.eq_ignore_ascii_case(snap.cpu_arch(host)))
            .unwrap_or(true);
        let hv_ok = prop("img_hv_type", "hypervisor_type")
            .map(|h| h.eq_ignore_ascii_case(snap.hypervisor_type(host)))
            .unwrap_or(true);
        arch_ok && hv_ok
    }
}

metacloud_sdk::filter_plugin!(ImagePropertiesFilter, "../../wit/scheduler");
