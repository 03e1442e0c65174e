//! Nova's host weighers, natively. Each returns a raw weight; the chain normalises.

use metacloud_rpc::objects::HostState;

/// A raw weight for one host; higher is preferred (before the multiplier).
pub trait Weigher: Send + Sync {
    fn name(&self) -> &'static str;
    fn weigh(&self, host: &HostState) -> f64;
}

/// The weigher called `name` in config.
pub fn by_name(name: &str) -> Option<Box<dyn Weigher>> {
    Some(match name {
        "RAMWeigher" => Box::new(RamWeigher),
        "CPUWeigher" => Box::new(CpuWeigher),
        "DiskWeigher" => Box::new(DiskWeigher),
        "NumInstancesWeigher" => Box::new(NumInstancesWeigher),
        "BuildFailureWeigher" => Box::new(BuildFailureWeigher),
        _ => return None,
    })
}

/// Free RAM: with a positive multiplier, spreads.
pub struct RamWeigher;
impl Weigher for RamWeigher {
    fn name(&self) -> &'static str {
        "RAMWeigher"
    }
    fn weigh(&self, host: &HostState) -> f64 {
        host.free_ram_mb()
    }
}

/// Free vCPUs.
pub struct CpuWeigher;
impl Weigher for CpuWeigher {
    fn name(&self) -> &'static str {
        "CPUWeigher"
    }
    fn weigh(&self, host: &HostState) -> f64 {
        host.free_vcpus()
    }
}

/// Free disk.
pub struct DiskWeigher;
impl Weigher for DiskWeigher {
    fn name(&self) -> &'static str {
        "DiskWeigher"
    }
    fn weigh(&self, host: &HostState) -> f64 {
        host.free_disk_gb()
    }
}

/// Number of instances (Nova's default multiplier 0.0; negative prefers emptier hosts).
pub struct NumInstancesWeigher;
impl Weigher for NumInstancesWeigher {
    fn name(&self) -> &'static str {
        "NumInstancesWeigher"
    }
    fn weigh(&self, host: &HostState) -> f64 {
        host.running_vms as f64
    }
}

/// Recent build failures, negated: hosts that keep failing sink to the bottom.
pub struct BuildFailureWeigher;
impl Weigher for BuildFailureWeigher {
    fn name(&self) -> &'static str {
        "BuildFailureWeigher"
    }
    fn weigh(&self, host: &HostState) -> f64 {
        -(host.failed_builds as f64)
    }
}
