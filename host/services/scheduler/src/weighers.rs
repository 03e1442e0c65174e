//! Nova's host weighers, natively. Each returns a raw weight; the chain normalises.

use metacloud_rpc::objects::{group_policy, HostState, RequestSpec};

/// A raw weight for one host; higher is preferred (before the multiplier).
pub trait Weigher: Send + Sync {
    fn name(&self) -> &'static str;
    fn weigh(&self, host: &HostState, spec: &RequestSpec) -> f64;
    /// Whether the weights can differ for this request; when not, they would normalise
    /// to zero and the chain skips the weigher.
    fn applies(&self, _spec: &RequestSpec) -> bool {
        true
    }
}

/// The weigher called `name` in config.
pub fn by_name(name: &str) -> Option<Box<dyn Weigher>> {
    Some(match name {
        "RAMWeigher" => Box::new(RamWeigher),
        "CPUWeigher" => Box::new(CpuWeigher),
        "DiskWeigher" => Box::new(DiskWeigher),
        "NumInstancesWeigher" => Box::new(NumInstancesWeigher),
        "BuildFailureWeigher" => Box::new(BuildFailureWeigher),
        "IoOpsWeigher" => Box::new(IoOpsWeigher),
        "ServerGroupSoftAffinityWeigher" => Box::new(ServerGroupSoftAffinityWeigher),
        "ServerGroupSoftAntiAffinityWeigher" => Box::new(ServerGroupSoftAntiAffinityWeigher),
        _ => return None,
    })
}

/// Free RAM: with a positive multiplier, spreads.
pub struct RamWeigher;
impl Weigher for RamWeigher {
    fn name(&self) -> &'static str {
        "RAMWeigher"
    }
    fn weigh(&self, host: &HostState, _: &RequestSpec) -> f64 {
        host.free_ram_mb()
    }
}

/// Free vCPUs.
pub struct CpuWeigher;
impl Weigher for CpuWeigher {
    fn name(&self) -> &'static str {
        "CPUWeigher"
    }
    fn weigh(&self, host: &HostState, _: &RequestSpec) -> f64 {
        host.free_vcpus()
    }
}

/// Free disk.
pub struct DiskWeigher;
impl Weigher for DiskWeigher {
    fn name(&self) -> &'static str {
        "DiskWeigher"
    }
    fn weigh(&self, host: &HostState, _: &RequestSpec) -> f64 {
        host.free_disk_gb()
    }
}

/// Number of instances (Nova's default multiplier 0.0; negative prefers emptier hosts).
pub struct NumInstancesWeigher;
impl Weigher for NumInstancesWeigher {
    fn name(&self) -> &'static str {
        "NumInstancesWeigher"
    }
    fn weigh(&self, host: &HostState, _: &RequestSpec) -> f64 {
        host.running_vms as f64
    }
}

/// Recent build failures, negated: hosts that keep failing sink to the bottom.
pub struct BuildFailureWeigher;
impl Weigher for BuildFailureWeigher {
    fn name(&self) -> &'static str {
        "BuildFailureWeigher"
    }
    fn weigh(&self, host: &HostState, _: &RequestSpec) -> f64 {
        -(host.failed_builds as f64)
    }
}

/// Instances doing I/O-heavy work (Nova's default multiplier -1.0 prefers quiet hosts).
pub struct IoOpsWeigher;
impl Weigher for IoOpsWeigher {
    fn name(&self) -> &'static str {
        "IoOpsWeigher"
    }
    fn weigh(&self, host: &HostState, _: &RequestSpec) -> f64 {
        host.io_ops as f64
    }
}

fn group_members_on(host: &HostState, spec: &RequestSpec, policy: &str) -> f64 {
    match &spec.server_group {
        Some(g) if g.policy == policy => g.members_on(&host.host) as f64,
        _ => 0.0,
    }
}

/// Soft-affinity groups: more members on the host is better.
pub struct ServerGroupSoftAffinityWeigher;
impl Weigher for ServerGroupSoftAffinityWeigher {
    fn applies(&self, spec: &RequestSpec) -> bool {
        spec.server_group
            .as_ref()
            .is_some_and(|g| g.policy == group_policy::SOFT_AFFINITY)
    }
    fn name(&self) -> &'static str {
        "ServerGroupSoftAffinityWeigher"
    }
    fn weigh(&self, host: &HostState, spec: &RequestSpec) -> f64 {
        group_members_on(host, spec, group_policy::SOFT_AFFINITY)
    }
}

/// Soft-anti-affinity groups: fewer members on the host is better.
pub struct ServerGroupSoftAntiAffinityWeigher;
impl Weigher for ServerGroupSoftAntiAffinityWeigher {
    fn applies(&self, spec: &RequestSpec) -> bool {
        spec.server_group
            .as_ref()
            .is_some_and(|g| g.policy == group_policy::SOFT_ANTI_AFFINITY)
    }
    fn name(&self) -> &'static str {
        "ServerGroupSoftAntiAffinityWeigher"
    }
    fn weigh(&self, host: &HostState, spec: &RequestSpec) -> f64 {
        -group_members_on(host, spec, group_policy::SOFT_ANTI_AFFINITY)
    }
}
