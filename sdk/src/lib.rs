//! The plugin author's crate for Metacloud scheduler filters and weighers.
//!
//! A plugin implements [`Filter`] or [`Weigher`] on its own type and calls
//! [`filter_plugin!`] or [`weigher_plugin!`]: the SDK keeps the host snapshot the host sends
//! (`sync`, `update`) in the instance, turns the WIT types into plain Rust ones, and answers
//! `info`, `filter` and `weigh`. The plugin writes only its decision.
//!
//! API dialects (HTTP APIs behind the `api-dialect` world) are written with the
//! [`dialect`] module and [`dialect_plugin!`]; network drivers (the `network-driver`
//! world) with the [`network`] module and [`network_driver_plugin!`].

use std::cell::RefCell;

#[cfg(feature = "dialect")]
pub mod dialect;

#[cfg(feature = "network")]
pub mod network;

/// The hosts as the scheduler sees them, one entry per host index.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub generation: u64,
    pub hostnames: Vec<String>,
    pub az_names: Vec<String>,
    pub hypervisor_types: Vec<String>,
    pub cpu_archs: Vec<String>,
    /// Free amounts after allocation ratios and reservations.
    pub free_ram_mb: Vec<f64>,
    pub free_disk_gb: Vec<f64>,
    pub free_vcpus: Vec<f64>,
    pub total_vcpus: Vec<u32>,
    pub total_ram_mb: Vec<u64>,
    pub running_vms: Vec<u32>,
    /// Instances doing I/O-heavy work (building, resizing, snapshotting).
    pub io_ops: Vec<u32>,
    pub failed_builds: Vec<u32>,
    pub az_index: Vec<u16>,
    pub hypervisor_index: Vec<u16>,
    pub arch_index: Vec<u16>,
    pub service_up: Vec<bool>,
    pub disabled: Vec<bool>,
    /// Host aggregates, each with the indices of its hosts.
    pub aggregates: Vec<Aggregate>,
    /// Per host, the positions in `aggregates` of the aggregates it is in (filled by
    /// [`Snapshot::index_aggregates`], which the SDK calls on `sync`).
    pub aggregates_of: Vec<Vec<u32>>,
}

/// A host aggregate: named hosts with metadata.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Aggregate {
    pub name: String,
    pub metadata: Vec<(String, String)>,
    pub hosts: Vec<u32>,
}

impl Aggregate {
    /// A metadata value by key.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

impl Snapshot {
    pub fn len(&self) -> usize {
        self.hostnames.len()
    }
    pub fn is_empty(&self) -> bool {
        self.hostnames.is_empty()
    }
    pub fn hostname(&self, i: usize) -> &str {
        &self.hostnames[i]
    }
    pub fn az(&self, i: usize) -> &str {
        &self.az_names[self.az_index[i] as usize]
    }
    pub fn hypervisor_type(&self, i: usize) -> &str {
        &self.hypervisor_types[self.hypervisor_index[i] as usize]
    }
    pub fn cpu_arch(&self, i: usize) -> &str {
        &self.cpu_archs[self.arch_index[i] as usize]
    }
    /// Builds `aggregates_of` from `aggregates`.
    pub fn index_aggregates(&mut self) {
        self.aggregates_of = vec![Vec::new(); self.len()];
        for (a, agg) in self.aggregates.iter().enumerate() {
            for &h in &agg.hosts {
                if let Some(list) = self.aggregates_of.get_mut(h as usize) {
                    list.push(a as u32);
                }
            }
        }
    }
    /// The aggregates host `i` is in.
    pub fn aggregates_of(&self, i: usize) -> impl Iterator<Item = &Aggregate> {
        self.aggregates_of
            .get(i)
            .into_iter()
            .flatten()
            .map(|&a| &self.aggregates[a as usize])
    }
    /// Values of metadata `key` over the aggregates of host `i`, comma lists split
    /// (Nova's `aggregate_metadata_get_by_host`).
    pub fn aggregate_values(&self, i: usize, key: &str) -> Vec<&str> {
        self.aggregates_of(i)
            .filter_map(|a| a.get(key))
            .flat_map(|v| v.split(',').map(str::trim))
            .collect()
    }
    /// A changed row (resources consumed by an earlier pick).
    pub fn apply(&mut self, c: &Change) {
        let i = c.host as usize;
        if i < self.len() {
            self.free_ram_mb[i] = c.free_ram_mb;
            self.free_disk_gb[i] = c.free_disk_gb;
            self.free_vcpus[i] = c.free_vcpus;
            self.running_vms[i] = c.running_vms;
            self.io_ops[i] = c.io_ops;
        }
    }
}

/// One changed row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change {
    pub host: u32,
    pub free_ram_mb: f64,
    pub free_disk_gb: f64,
    pub free_vcpus: f64,
    pub running_vms: u32,
    pub io_ops: u32,
}

/// The flavor asked for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Flavor {
    pub name: String,
    pub vcpus: u32,
    pub memory_mb: u64,
    pub root_gb: u64,
    pub ephemeral_gb: u64,
    pub extra_specs: Vec<(String, String)>,
}

/// One instance to place.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Request {
    pub instance_uuid: String,
    pub project_id: String,
    pub flavor: Flavor,
    pub image_properties: Vec<(String, String)>,
    pub availability_zone: Option<String>,
    pub same_host: Vec<String>,
    pub different_host: Vec<String>,
    pub num_instances: u32,
    /// The server group the instance joins, if any.
    pub server_group: Option<ServerGroup>,
}

/// A server group and where its members are.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerGroup {
    pub uuid: String,
    /// `affinity`, `anti-affinity`, `soft-affinity` or `soft-anti-affinity`.
    pub policy: String,
    pub max_per_host: u32,
    /// (host index, members on it).
    pub hosts: Vec<(u32, u32)>,
}

impl ServerGroup {
    /// Members on host `i`.
    pub fn members_on(&self, i: usize) -> u32 {
        self.hosts
            .iter()
            .find(|(h, _)| *h as usize == i)
            .map_or(0, |(_, n)| *n)
    }
}

impl Request {
    /// The server group, when its policy is `policy`.
    pub fn group_with_policy(&self, policy: &str) -> Option<&ServerGroup> {
        self.server_group.as_ref().filter(|g| g.policy == policy)
    }

    /// An image property by name.
    pub fn image_property(&self, key: &str) -> Option<&str> {
        self.image_properties
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Keeps or drops hosts.
pub trait Filter {
    /// The name operators use in `[scheduler] filters = [...]`.
    const NAME: &'static str;
    fn passes(snapshot: &Snapshot, host: usize, req: &Request) -> bool;

    /// The survivors among `candidates` (ascending, all in range), in their order. The
    /// default asks [`Filter::passes`] per host; override it to decide once per request
    /// what can be (a request without the hint a filter reads keeps every candidate), or
    /// to work on the snapshot's columns.
    fn filter(snapshot: &Snapshot, candidates: Vec<u32>, req: &Request) -> Vec<u32> {
        each_host::<Self>(snapshot, candidates, req)
    }
}

/// [`Filter::passes`] for every candidate: the default of [`Filter::filter`], for
/// overrides to fall back on.
pub fn each_host<F: Filter + ?Sized>(
    snapshot: &Snapshot,
    candidates: Vec<u32>,
    req: &Request,
) -> Vec<u32> {
    candidates
        .into_iter()
        .filter(|&i| F::passes(snapshot, i as usize, req))
        .collect()
}

/// Scores hosts; higher is better before the operator's multiplier. The host normalises.
pub trait Weigher {
    /// The name operators use in `[scheduler] weighers = [...]`.
    const NAME: &'static str;
    const DEFAULT_MULTIPLIER: f64 = 1.0;
    fn weigh(snapshot: &Snapshot, host: usize, req: &Request) -> f64;

    /// One raw weight per candidate, same order. The default asks [`Weigher::weigh`] per
    /// host; override it to answer once per request what can be.
    fn weigh_all(snapshot: &Snapshot, candidates: &[u32], req: &Request) -> Vec<f64> {
        candidates
            .iter()
            .map(|&i| Self::weigh(snapshot, i as usize, req))
            .collect()
    }
}

thread_local! {
    static SNAPSHOT: RefCell<Snapshot> = RefCell::new(Snapshot::default());
}

/// Replaces the instance's snapshot (the `sync` call).
pub fn store(mut snapshot: Snapshot) {
    snapshot.index_aggregates();
    SNAPSHOT.with(|s| *s.borrow_mut() = snapshot);
}

/// Applies changed rows (the `update` call).
pub fn update(changes: impl IntoIterator<Item = Change>) {
    SNAPSHOT.with(|s| {
        let mut s = s.borrow_mut();
        for c in changes {
            s.apply(&c);
        }
    });
}

/// Runs `f` on the instance's snapshot.
pub fn with_snapshot<T>(f: impl FnOnce(&Snapshot) -> T) -> T {
    SNAPSHOT.with(|s| f(&s.borrow()))
}

/// Nova's extra-spec operators: `= N` (at least N), `== N`, `!= N`, `>= N`, `<= N`,
/// `s== s`, `s!= s`, `s< s`, `s> s`, `<in> s`, `<or> a <or> b`; a bare value matches exactly.
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

/// Generates the bindings of a scheduler world in the calling crate and exports `$ty`.
/// `$wit` is the path of `wit/scheduler` relative to the plugin crate's directory.
#[macro_export]
macro_rules! filter_plugin {
    ($ty:ty, $wit:literal) => {
        mod __metacloud_bindings {
            wit_bindgen::generate!({
                world: "filter-plugin",
                path: $wit,
                generate_all,
            });
        }
        $crate::__glue!(filter, $ty);
    };
}

/// As [`filter_plugin!`], for a weigher.
#[macro_export]
macro_rules! weigher_plugin {
    ($ty:ty, $wit:literal) => {
        mod __metacloud_bindings {
            wit_bindgen::generate!({
                world: "weigher-plugin",
                path: $wit,
                generate_all,
            });
        }
        $crate::__glue!(weigher, $ty);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __glue {
    (@common) => {
        use __metacloud_bindings::metacloud::scheduler::types as __t;
        fn __snapshot(s: __t::HostSnapshot) -> $crate::Snapshot {
            let c = s.columns;
            $crate::Snapshot {
                generation: s.generation,
                hostnames: s.hostnames,
                az_names: s.az_names,
                hypervisor_types: s.hypervisor_types,
                cpu_archs: s.cpu_archs,
                free_ram_mb: c.free_ram_mb,
                free_disk_gb: c.free_disk_gb,
                free_vcpus: c.free_vcpus,
                total_vcpus: c.total_vcpus,
                total_ram_mb: c.total_ram_mb,
                running_vms: c.running_vms,
                io_ops: c.io_ops,
                failed_builds: c.failed_builds,
                az_index: c.az_index,
                hypervisor_index: c.hypervisor_index,
                arch_index: c.arch_index,
                service_up: c.service_up,
                disabled: c.disabled,
                aggregates: s
                    .aggregates
                    .into_iter()
                    .map(|a| $crate::Aggregate {
                        name: a.name,
                        metadata: a.metadata,
                        hosts: a.hosts,
                    })
                    .collect(),
                aggregates_of: Vec::new(),
            }
        }
        fn __changes(changes: Vec<__t::HostUpdate>) -> Vec<$crate::Change> {
            changes
                .into_iter()
                .map(|c| $crate::Change {
                    host: c.host,
                    free_ram_mb: c.free_ram_mb,
                    free_disk_gb: c.free_disk_gb,
                    free_vcpus: c.free_vcpus,
                    running_vms: c.running_vms,
                    io_ops: c.io_ops,
                })
                .collect()
        }
        fn __request(r: __t::RequestSpec) -> $crate::Request {
            $crate::Request {
                instance_uuid: r.instance_uuid,
                project_id: r.project_id,
                flavor: $crate::Flavor {
                    name: r.flavor.name,
                    vcpus: r.flavor.vcpus,
                    memory_mb: r.flavor.memory_mb,
                    root_gb: r.flavor.root_gb,
                    ephemeral_gb: r.flavor.ephemeral_gb,
                    extra_specs: r.flavor.extra_specs,
                },
                image_properties: r.image_properties,
                availability_zone: r.availability_zone,
                same_host: r.same_host,
                different_host: r.different_host,
                num_instances: r.num_instances,
                server_group: r.server_group.map(|g| $crate::ServerGroup {
                    uuid: g.uuid,
                    policy: g.policy,
                    max_per_host: g.max_per_host,
                    hosts: g.hosts,
                }),
            }
        }
        /// Instances placed on a host (asks the host; for same/different-host hints).
        #[allow(dead_code)]
        pub fn host_instances(host: usize) -> Vec<String> {
            __metacloud_bindings::metacloud::scheduler::host_details::instances(host as u32)
        }
        /// This plugin's setting `key` from the operator's TOML.
        #[allow(dead_code)]
        pub fn setting(key: &str) -> Option<String> {
            __metacloud_bindings::metacloud::host::config::get(key)
        }
        /// Adds `value` to this plugin's counter `name` (shown in the scheduler's report).
        #[allow(dead_code)]
        pub fn counter(name: &str, value: u64) {
            __metacloud_bindings::metacloud::host::metrics::counter_add(name, value, &[])
        }
        /// Sets this plugin's gauge `name` to `value` (shown in the scheduler's report).
        #[allow(dead_code)]
        pub fn gauge(name: &str, value: f64) {
            __metacloud_bindings::metacloud::host::metrics::gauge_set(name, value, &[])
        }
    };
    (filter, $ty:ty) => {
        $crate::__glue!(@common);
        struct __Export;
        impl __metacloud_bindings::exports::metacloud::scheduler::filter::Guest for __Export {
            fn info() -> __metacloud_bindings::exports::metacloud::scheduler::filter::FilterInfo {
                __metacloud_bindings::exports::metacloud::scheduler::filter::FilterInfo {
                    name: <$ty as $crate::Filter>::NAME.to_string(),
                    pure: true,
                }
            }
            fn sync(s: __t::HostSnapshot) {
                $crate::store(__snapshot(s));
            }
            fn update(_generation: u64, changes: Vec<__t::HostUpdate>) {
                $crate::update(__changes(changes));
            }
            fn filter(
                req: __t::RequestSpec,
                _generation: u64,
                candidates: Vec<u32>,
            ) -> Result<__t::FilterResult, __metacloud_bindings::metacloud::host::types::PluginError> {
                let req = __request(req);
                let passed = $crate::with_snapshot(|snap| {
                    if candidates.iter().any(|&i| i as usize >= snap.len()) {
                        return Err(__metacloud_bindings::metacloud::host::types::PluginError {
                            code: 1,
                            message: "candidate outside the snapshot".to_string(),
                        });
                    }
                    Ok(<$ty as $crate::Filter>::filter(snap, candidates, &req))
                })?;
                Ok(__t::FilterResult { passed, rejections: Vec::new() })
            }
        }
        __metacloud_bindings::export!(__Export with_types_in __metacloud_bindings);
    };
    (weigher, $ty:ty) => {
        $crate::__glue!(@common);
        struct __Export;
        impl __metacloud_bindings::exports::metacloud::scheduler::weigher::Guest for __Export {
            fn info() -> __metacloud_bindings::exports::metacloud::scheduler::weigher::WeigherInfo {
                __metacloud_bindings::exports::metacloud::scheduler::weigher::WeigherInfo {
                    name: <$ty as $crate::Weigher>::NAME.to_string(),
                    default_multiplier: <$ty as $crate::Weigher>::DEFAULT_MULTIPLIER,
                }
            }
            fn sync(s: __t::HostSnapshot) {
                $crate::store(__snapshot(s));
            }
            fn update(_generation: u64, changes: Vec<__t::HostUpdate>) {
                $crate::update(__changes(changes));
            }
            fn weigh(
                req: __t::RequestSpec,
                _generation: u64,
                candidates: Vec<u32>,
            ) -> Result<Vec<f64>, __metacloud_bindings::metacloud::host::types::PluginError> {
                let req = __request(req);
                $crate::with_snapshot(|snap| {
                    if candidates.iter().any(|&i| i as usize >= snap.len()) {
                        return Err(__metacloud_bindings::metacloud::host::types::PluginError {
                            code: 1,
                            message: "candidate outside the snapshot".to_string(),
                        });
                    }
                    Ok(<$ty as $crate::Weigher>::weigh_all(snap, &candidates, &req))
                })
            }
        }
        __metacloud_bindings::export!(__Export with_types_in __metacloud_bindings);
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_spec_operators() {
        assert!(spec_matches("16", ">= 8"));
        assert!(spec_matches("16", "= 8"));
        assert!(!spec_matches("4", "= 8"));
        assert!(spec_matches("QEMU", "s== QEMU"));
        assert!(spec_matches("x86_64", "<or> aarch64 <or> x86_64"));
        assert!(spec_matches("test", "test"));
        assert!(!spec_matches("test", "QEMU"));
    }

    #[test]
    fn changes_apply_to_their_row() {
        let mut s = Snapshot {
            hostnames: vec!["a".into(), "b".into()],
            free_ram_mb: vec![1.0, 2.0],
            free_disk_gb: vec![1.0, 2.0],
            free_vcpus: vec![1.0, 2.0],
            running_vms: vec![0, 0],
            io_ops: vec![0, 0],
            ..Default::default()
        };
        s.apply(&Change {
            host: 1,
            free_ram_mb: 0.5,
            free_disk_gb: 0.5,
            free_vcpus: 0.5,
            running_vms: 3,
            io_ops: 1,
        });
        assert_eq!((s.free_ram_mb[1], s.running_vms[1]), (0.5, 3));
        assert_eq!(s.free_ram_mb[0], 1.0);
        assert_eq!(s.io_ops, vec![0, 1]);
    }

    #[test]
    fn aggregate_values_come_from_the_hosts_aggregates() {
        let mut s = Snapshot {
            hostnames: vec!["a".into(), "b".into(), "c".into()],
            aggregates: vec![
                Aggregate {
                    name: "ssd".into(),
                    metadata: vec![("disk".into(), "ssd, nvme".into())],
                    hosts: vec![0, 1],
                },
                Aggregate {
                    name: "gpu".into(),
                    metadata: vec![("gpu".into(), "true".into())],
                    hosts: vec![1],
                },
            ],
            ..Default::default()
        };
        s.index_aggregates();
        assert_eq!(s.aggregate_values(0, "disk"), vec!["ssd", "nvme"]);
        assert_eq!(s.aggregate_values(1, "gpu"), vec!["true"]);
        assert!(s.aggregate_values(2, "disk").is_empty());
        assert_eq!(s.aggregates_of(1).count(), 2);
    }

    #[test]
    fn group_members_by_host() {
        let g = ServerGroup {
            policy: "anti-affinity".into(),
            max_per_host: 1,
            hosts: vec![(2, 1), (5, 3)],
            ..Default::default()
        };
        assert_eq!((g.members_on(5), g.members_on(0)), (3, 0));
        let r = Request {
            server_group: Some(g),
            ..Default::default()
        };
        assert!(r.group_with_policy("anti-affinity").is_some());
        assert!(r.group_with_policy("affinity").is_none());
    }
}
