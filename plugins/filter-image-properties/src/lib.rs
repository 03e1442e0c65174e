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

    fn filter(snap: &Snapshot, candidates: Vec<u32>, req: &Request) -> Vec<u32> {
        let prop = |a: &str, b: &str| req.image_property(a).or_else(|| req.image_property(b));
        let arch = prop("hw_architecture", "architecture");
        let hv = prop("img_hv_type", "hypervisor_type");
        if arch.is_none() && hv.is_none() {
            return candidates;
        }
        // Decide per distinct architecture and hypervisor type, then look up per host.
        let fits = |want: Option<&str>, names: &[String]| -> Vec<bool> {
            names
                .iter()
                .map(|n| want.is_none_or(|w| w.eq_ignore_ascii_case(n)))
                .collect()
        };
        let arch_ok = fits(arch, &snap.cpu_archs);
        let hv_ok = fits(hv, &snap.hypervisor_types);
        candidates
            .into_iter()
            .filter(|&i| {
                let i = i as usize;
                arch_ok[snap.arch_index[i] as usize] && hv_ok[snap.hypervisor_index[i] as usize]
            })
            .collect()
    }
}

metacloud_sdk::filter_plugin!(ImagePropertiesFilter, "../../wit/scheduler");
