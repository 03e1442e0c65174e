//! Nova's host filters, natively.

use metacloud_config::SchedulerConfig;
use metacloud_rpc::objects::{group_policy, HostState, RequestSpec};

/// Keeps or drops one host for a request.
pub trait Filter: Send + Sync {
    fn name(&self) -> &'static str;
    fn passes(&self, host: &HostState, spec: &RequestSpec) -> bool;
    /// Whether the filter can drop any host for this request; when not, the chain skips
    /// it (decided once per request, as the plugins do).
    fn applies(&self, _spec: &RequestSpec) -> bool {
        true
    }
}

/// Whether a flavor has extra specs in `scope` (or unscoped ones).
fn has_scoped_specs(spec: &RequestSpec, scope: &str) -> bool {
    spec.flavor
        .extra_specs
        .keys()
        .any(|k| k.split_once(':').is_none_or(|(s, _)| s == scope))
}

/// The filter called `name` in config.
pub fn by_name(name: &str, config: &SchedulerConfig) -> Option<Box<dyn Filter>> {
    Some(match name {
        "ComputeFilter" => Box::new(ComputeFilter),
        "AvailabilityZoneFilter" => Box::new(AvailabilityZoneFilter),
        "VCPUFilter" => Box::new(VcpuFilter),
        "RamFilter" => Box::new(RamFilter),
        "DiskFilter" => Box::new(DiskFilter),
        "ComputeCapabilitiesFilter" => Box::new(ComputeCapabilitiesFilter),
        "ImagePropertiesFilter" => Box::new(ImagePropertiesFilter),
        "SameHostFilter" => Box::new(SameHostFilter),
        "DifferentHostFilter" => Box::new(DifferentHostFilter),
        "NumInstancesFilter" => Box::new(NumInstancesFilter {
            max: config.max_instances_per_host as u64,
        }),
        "IoOpsFilter" => Box::new(IoOpsFilter {
            max: config.max_io_ops_per_host as u64,
        }),
        "ServerGroupAffinityFilter" => Box::new(ServerGroupAffinityFilter),
        "ServerGroupAntiAffinityFilter" => Box::new(ServerGroupAntiAffinityFilter),
        "AggregateInstanceExtraSpecsFilter" => Box::new(AggregateInstanceExtraSpecsFilter),
        "AggregateMultiTenancyIsolation" => Box::new(AggregateMultiTenancyIsolation),
        _ => return None,
    })
}

/// The compute service is up and not disabled.
pub struct ComputeFilter;
impl Filter for ComputeFilter {
    fn name(&self) -> &'static str {
        "ComputeFilter"
    }
    fn passes(&self, host: &HostState, _: &RequestSpec) -> bool {
        host.up && !host.disabled
    }
}

/// The host is in the requested availability zone.
pub struct AvailabilityZoneFilter;
impl Filter for AvailabilityZoneFilter {
    fn applies(&self, spec: &RequestSpec) -> bool {
        spec.availability_zone
            .as_deref()
            .is_some_and(|az| !az.is_empty())
    }
    fn name(&self) -> &'static str {
        "AvailabilityZoneFilter"
    }
    fn passes(&self, host: &HostState, spec: &RequestSpec) -> bool {
        match spec.availability_zone.as_deref() {
            None | Some("") => true,
            // Nova's "zone:host" form forces a host.
            Some(az) => match az.split_once(':') {
                Some((zone, h)) => {
                    (zone.is_empty() || zone == host.availability_zone)
                        && (h.is_empty() || h == host.host)
                }
                None => az == host.availability_zone,
            },
        }
    }
}

/// Enough vCPUs under the allocation ratio.
pub struct VcpuFilter;
impl Filter for VcpuFilter {
    fn name(&self) -> &'static str {
        "VCPUFilter"
    }
    fn passes(&self, host: &HostState, spec: &RequestSpec) -> bool {
        host.free_vcpus() >= spec.flavor.vcpus as f64
    }
}

/// Enough RAM under the allocation ratio.
pub struct RamFilter;
impl Filter for RamFilter {
    fn name(&self) -> &'static str {
        "RamFilter"
    }
    fn passes(&self, host: &HostState, spec: &RequestSpec) -> bool {
        host.free_ram_mb() >= spec.flavor.memory_mb as f64
    }
}

/// Enough disk under the allocation ratio.
pub struct DiskFilter;
impl Filter for DiskFilter {
    fn name(&self) -> &'static str {
        "DiskFilter"
    }
    fn passes(&self, host: &HostState, spec: &RequestSpec) -> bool {
        host.free_disk_gb() >= (spec.flavor.root_gb + spec.flavor.ephemeral_gb) as f64
    }
}

fn host_capability(host: &HostState, key: &str) -> Option<String> {
    Some(match key {
        "hypervisor_type" => host.hypervisor_type.clone(),
        "cpu_arch" | "cpu_info:arch" => host.cpu_arch.clone(),
        "vcpus" => host.vcpus.to_string(),
        "memory_mb" => host.memory_mb.to_string(),
        "free_ram_mb" => (host.free_ram_mb() as i64).to_string(),
        "free_disk_mb" => ((host.free_disk_gb() * 1024.0) as i64).to_string(),
        "availability_zone" => host.availability_zone.clone(),
        _ => return None,
    })
}

/// Nova's extra-spec operators: `= N` (at least N), `s== s`, `s!= s`, `<in> s`, `<or> a <or> b`,
/// `== N`, `!= N`, `>= N`, `<= N`; a bare value must match exactly.
pub fn spec_matches(value: &str, requirement: &str) -> bool {
    let req = requirement.trim();
    let num = |s: &str| s.trim().parse::<f64>().ok();
    let (op, operand) = match req.split_once(' ') {
        Some((op, rest))
            if [
                "=", "==", "!=", ">=", "<=", "s==", "s!=", "s<", "s>", "<in>", "<or>",
            ]
            .contains(&op) =>
        {
            (op, rest.trim())
        }
        _ => return value == req,
    };
    match op {
        "=" | ">=" => matches!((num(value), num(operand)), (Some(v), Some(o)) if v >= o),
        "<=" => matches!((num(value), num(operand)), (Some(v), Some(o)) if v <= o),
        "==" => matches!((num(value), num(operand)), (Some(v), Some(o)) if v == o),
        "!=" => matches!((num(value), num(operand)), (Some(v), Some(o)) if v != o),
        "s==" => value == operand,
        "s!=" => value != operand,
        "s<" => value < operand,
        "s>" => value > operand,
        "<in>" => value.contains(operand),
        "<or>" => req
            .split("<or>")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .any(|alt| alt == value),
        _ => false,
    }
}

/// Flavor extra specs scoped `capabilities:` (or unscoped) match the host's capabilities.
pub struct ComputeCapabilitiesFilter;
impl Filter for ComputeCapabilitiesFilter {
    fn applies(&self, spec: &RequestSpec) -> bool {
        has_scoped_specs(spec, "capabilities")
    }
    fn name(&self) -> &'static str {
        "ComputeCapabilitiesFilter"
    }
    fn passes(&self, host: &HostState, spec: &RequestSpec) -> bool {
        spec.flavor.extra_specs.iter().all(|(key, req)| {
            let key = match key.split_once(':') {
                Some(("capabilities", rest)) => rest,
                Some(_) => return true, // another scope: not ours
                None => key.as_str(),
            };
            match host_capability(host, key) {
                Some(value) => spec_matches(&value, req),
                None => true, // Nova ignores capabilities the host does not report
            }
        })
    }
}

/// Image properties (`hw_architecture`, `img_hv_type`) match the host.
pub struct ImagePropertiesFilter;
impl Filter for ImagePropertiesFilter {
    fn applies(&self, spec: &RequestSpec) -> bool {
        spec.image
            .as_ref()
            .is_some_and(|i| !i.properties.is_empty())
    }
    fn name(&self) -> &'static str {
        "ImagePropertiesFilter"
    }
    fn passes(&self, host: &HostState, spec: &RequestSpec) -> bool {
        let Some(image) = &spec.image else {
            return true;
        };
        let prop = |a: &str, b: &str| image.properties.get(a).or_else(|| image.properties.get(b));
        let arch_ok = prop("hw_architecture", "architecture")
            .map(|a| a.eq_ignore_ascii_case(&host.cpu_arch))
            .unwrap_or(true);
        let hv_ok = prop("img_hv_type", "hypervisor_type")
            .map(|h| h.eq_ignore_ascii_case(&host.hypervisor_type))
            .unwrap_or(true);
        arch_ok && hv_ok
    }
}

/// The host runs one of the `same_host` instances.
pub struct SameHostFilter;
impl Filter for SameHostFilter {
    fn applies(&self, spec: &RequestSpec) -> bool {
        !spec.hints.same_host.is_empty()
    }
    fn name(&self) -> &'static str {
        "SameHostFilter"
    }
    fn passes(&self, host: &HostState, spec: &RequestSpec) -> bool {
        spec.hints.same_host.is_empty()
            || spec
                .hints
                .same_host
                .iter()
                .any(|u| host.instances.contains(u))
    }
}

/// The host runs none of the `different_host` instances.
pub struct DifferentHostFilter;
impl Filter for DifferentHostFilter {
    fn applies(&self, spec: &RequestSpec) -> bool {
        !spec.hints.different_host.is_empty()
    }
    fn name(&self) -> &'static str {
        "DifferentHostFilter"
    }
    fn passes(&self, host: &HostState, spec: &RequestSpec) -> bool {
        !spec
            .hints
            .different_host
            .iter()
            .any(|u| host.instances.contains(u))
    }
}

/// Fewer than `max` instances on the host.
pub struct NumInstancesFilter {
    pub max: u64,
}
impl Filter for NumInstancesFilter {
    fn name(&self) -> &'static str {
        "NumInstancesFilter"
    }
    fn passes(&self, host: &HostState, _: &RequestSpec) -> bool {
        host.running_vms < self.max
    }
}

/// Fewer than `max` instances doing I/O-heavy work on the host.
pub struct IoOpsFilter {
    pub max: u64,
}
impl Filter for IoOpsFilter {
    fn name(&self) -> &'static str {
        "IoOpsFilter"
    }
    fn passes(&self, host: &HostState, _: &RequestSpec) -> bool {
        host.io_ops < self.max
    }
}

/// Affinity groups: once a member is placed, only its host(s).
pub struct ServerGroupAffinityFilter;
impl Filter for ServerGroupAffinityFilter {
    fn applies(&self, spec: &RequestSpec) -> bool {
        spec.server_group
            .as_ref()
            .is_some_and(|g| g.policy == group_policy::AFFINITY)
    }
    fn name(&self) -> &'static str {
        "ServerGroupAffinityFilter"
    }
    fn passes(&self, host: &HostState, spec: &RequestSpec) -> bool {
        match &spec.server_group {
            Some(g) if g.policy == group_policy::AFFINITY => {
                g.hosts.is_empty() || g.members_on(&host.host) > 0
            }
            _ => true,
        }
    }
}

/// Anti-affinity groups: fewer than `max_server_per_host` members on the host.
pub struct ServerGroupAntiAffinityFilter;
impl Filter for ServerGroupAntiAffinityFilter {
    fn applies(&self, spec: &RequestSpec) -> bool {
        spec.server_group
            .as_ref()
            .is_some_and(|g| g.policy == group_policy::ANTI_AFFINITY)
    }
    fn name(&self) -> &'static str {
        "ServerGroupAntiAffinityFilter"
    }
    fn passes(&self, host: &HostState, spec: &RequestSpec) -> bool {
        match &spec.server_group {
            Some(g) if g.policy == group_policy::ANTI_AFFINITY => {
                g.members_on(&host.host) < g.max_server_per_host.max(1)
            }
            _ => true,
        }
    }
}

/// Values of a metadata key over every aggregate of the host, comma lists split (Nova's
/// `aggregate_metadata_get_by_host`).
pub fn aggregate_values<'a>(host: &'a HostState, key: &str) -> Vec<&'a str> {
    host.aggregates
        .iter()
        .filter_map(|a| a.metadata.get(key))
        .flat_map(|v| v.split(',').map(str::trim))
        .collect()
}

/// Flavor extra specs scoped `aggregate_instance_extra_specs:` (or unscoped) must be
/// matched by the metadata of one of the host's aggregates.
pub struct AggregateInstanceExtraSpecsFilter;
impl Filter for AggregateInstanceExtraSpecsFilter {
    fn applies(&self, spec: &RequestSpec) -> bool {
        has_scoped_specs(spec, "aggregate_instance_extra_specs")
    }
    fn name(&self) -> &'static str {
        "AggregateInstanceExtraSpecsFilter"
    }
    fn passes(&self, host: &HostState, spec: &RequestSpec) -> bool {
        spec.flavor.extra_specs.iter().all(|(key, req)| {
            let key = match key.split_once(':') {
                Some(("aggregate_instance_extra_specs", rest)) => rest,
                Some(_) => return true,
                None => key.as_str(),
            };
            aggregate_values(host, key)
                .iter()
                .any(|v| spec_matches(v, req))
        })
    }
}

/// Hosts in aggregates with `filter_tenant_id*` metadata take only those projects.
pub struct AggregateMultiTenancyIsolation;
impl Filter for AggregateMultiTenancyIsolation {
    fn name(&self) -> &'static str {
        "AggregateMultiTenancyIsolation"
    }
    fn passes(&self, host: &HostState, spec: &RequestSpec) -> bool {
        let mut allowed = host
            .aggregates
            .iter()
            .flat_map(|a| a.metadata.iter())
            .filter(|(k, _)| k.starts_with("filter_tenant_id"))
            .flat_map(|(_, v)| v.split(',').map(str::trim))
            .peekable();
        allowed.peek().is_none() || allowed.any(|p| p == spec.project_id)
    }
}

/// Hosts that already failed this request are not tried again, and a request that names
/// its host considers no other (always applied).
pub fn not_ignored(host: &HostState, spec: &RequestSpec) -> bool {
    !spec.ignore_hosts.contains(&host.host)
        && spec.requested_host.as_ref().is_none_or(|h| *h == host.host)
}
