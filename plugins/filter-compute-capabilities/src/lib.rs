//! Nova's `ComputeCapabilitiesFilter` as a plugin.

use metacloud_sdk::{Filter, Request, Snapshot};

pub struct ComputeCapabilitiesFilter;

impl Filter for ComputeCapabilitiesFilter {
    const NAME: &'static str = "ComputeCapabilitiesFilter";

    fn passes(snap: &Snapshot, host: usize, req: &Request) -> bool {
        req.flavor.extra_specs.iter().all(|(key, want)| {
            let key = match key.split_once(':') {
                Some(("capabilities", rest)) => rest,
                Some(_) => return true, // another scope: not ours
                None => key.as_str(),
            };
            let have = match key {
                "hypervisor_type" => snap.hypervisor_type(host).to_string(),
                "cpu_arch" | "cpu_info:arch" => snap.cpu_arch(host).to_string(),
                "vcpus" => snap.total_vcpus[host].to_string(),
                "memory_mb" => snap.total_ram_mb[host].to_string(),
                "free_ram_mb" => (snap.free_ram_mb[host] as i64).to_string(),
                "free_disk_mb" => ((snap.free_disk_gb[host] * 1024.0) as i64).to_string(),
                "availability_zone" => snap.az(host).to_string(),
                _ => return true, // Nova ignores capabilities the host does not report
            };
            metacloud_sdk::spec_matches(&have, want)
        })
    }

    fn filter(snap: &Snapshot, candidates: Vec<u32>, req: &Request) -> Vec<u32> {
        // Most extra specs belong to other scopes (hw:, quota:...): without one of ours,
        // every host passes.
        let ours = req
            .flavor
            .extra_specs
            .iter()
            .any(|(key, _)| matches!(key.split_once(':'), Some(("capabilities", _)) | None));
        if ours {
            metacloud_sdk::each_host::<Self>(snap, candidates, req)
        } else {
            candidates
        }
    }
}

metacloud_sdk::filter_plugin!(ComputeCapabilitiesFilter, "../../wit/scheduler");
