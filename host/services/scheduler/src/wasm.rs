//! The WASM policy: filters and weighers are plugin components.
//!
//! Per request each plugin gets one fresh instance (pooling allocator, µs), one `sync` with
//! the column snapshot, then per instance of the batch one `filter`/`weigh` call with the
//! surviving candidate indices, and an `update` with the one row the pick changed. The host
//! chains the filters and normalises and multiplies weights exactly as the native chain.

use crate::{add_normalised, no_valid_host, pick, Policy};
use metacloud_config::Config;
use metacloud_plugins::scheduler::{
    Aggregate, Flavor, HostColumns, HostSnapshot, HostUpdate, Kind, RequestSpec as WitSpec,
    SchedulerPlugin, ServerGroup, Session,
};
use metacloud_plugins::{PluginError, PluginLimits, Runtime};
use metacloud_rpc::objects::{HostState, RequestSpec};
use metacloud_rpc::scheduler::Selection;
use metacloud_rpc::RpcError;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

/// Why the WASM policy could not be set up.
#[derive(Debug, Error)]
pub enum LoadError {
    #[error("{0}")]
    Plugin(#[from] PluginError),
    #[error("cannot read plugin directory {dir} (scheduler.plugin_dir): {reason}")]
    Dir { dir: String, reason: String },
    #[error("{kind} {name:?} named in scheduler.{key} is not in {dir}; found: {found}")]
    Missing {
        kind: &'static str,
        name: String,
        key: &'static str,
        dir: String,
        found: String,
    },
}

/// Filters and weighers as loaded plugins.
pub struct WasmChain {
    runtime: Runtime,
    filters: Vec<Arc<SchedulerPlugin>>,
    weighers: Vec<(Arc<SchedulerPlugin>, f64)>,
    host_subset_size: usize,
    alternates: usize,
    generation: AtomicU64,
    /// Plugin instances kept between requests with the snapshot they hold, so a request
    /// sends only the rows that changed since the previous one.
    live: std::sync::Mutex<Option<Live>>,
}

/// Instances that hold `hosts` as of `generation`.
struct Live {
    generation: u64,
    hosts: Vec<HostState>,
    /// Host name -> index in this generation.
    index: HostIndex,
    filters: Vec<Session>,
    weighers: Vec<(Session, f64)>,
}

/// Whether two host lists differ only in the fields `update` carries.
fn same_shape(a: &[HostState], b: &[HostState]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.host == y.host
                && x.availability_zone == y.availability_zone
                && x.up == y.up
                && x.disabled == y.disabled
                && x.vcpus == y.vcpus
                && x.memory_mb == y.memory_mb
                && x.failed_builds == y.failed_builds
                && x.hypervisor_type == y.hypervisor_type
                && x.cpu_arch == y.cpu_arch
                && x.instances == y.instances
                && x.aggregates == y.aggregates
        })
}

/// Whether the fields `update` carries differ (the rest was compared by `same_shape`).
fn changed(new: &HostState, old: &HostState) -> bool {
    new.vcpus_used != old.vcpus_used
        || new.memory_mb_used != old.memory_mb_used
        || new.local_gb_used != old.local_gb_used
        || new.running_vms != old.running_vms
        || new.io_ops != old.io_ops
        || new.reserved_memory_mb != old.reserved_memory_mb
        || new.local_gb != old.local_gb
        || new.cpu_allocation_ratio != old.cpu_allocation_ratio
        || new.ram_allocation_ratio != old.ram_allocation_ratio
        || new.disk_allocation_ratio != old.disk_allocation_ratio
}

fn row(i: usize, h: &HostState) -> HostUpdate {
    HostUpdate {
        host: i as u32,
        free_ram_mb: h.free_ram_mb(),
        free_disk_gb: h.free_disk_gb(),
        free_vcpus: h.free_vcpus(),
        running_vms: h.running_vms as u32,
        io_ops: h.io_ops as u32,
    }
}

/// Whether `passed` is `candidates` with some entries left out (one linear walk; the
/// candidates are ascending, so this also rules out repeats).
fn is_subsequence(passed: &[u32], candidates: &[u32]) -> bool {
    let mut rest = candidates.iter();
    passed.iter().all(|p| rest.any(|c| c == p))
}

/// Host name -> index in a generation's snapshot.
pub type HostIndex = HashMap<String, u32>;

/// The index of `hosts`.
pub fn host_index(hosts: &[HostState]) -> HostIndex {
    hosts
        .iter()
        .enumerate()
        .map(|(i, h)| (h.host.clone(), i as u32))
        .collect()
}

/// Settings every plugin gets from `[scheduler]` (the knobs Nova's filters read).
fn base_settings(config: &Config) -> BTreeMap<String, String> {
    [
        (
            "max_instances_per_host",
            config.scheduler.max_instances_per_host,
        ),
        ("max_io_ops_per_host", config.scheduler.max_io_ops_per_host),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The plugin's own `[scheduler.plugin_config.NAME]` table, if any.
fn plugin_config(config: &Config, name: &str) -> Option<BTreeMap<String, String>> {
    config.scheduler.plugin_config.get(name).map(|table| {
        table
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), v)
            })
            .collect()
    })
}

/// Every `*.wasm` in `dir`, sorted.
fn components(dir: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let entries = std::fs::read_dir(dir).map_err(|e| LoadError::Dir {
        dir: dir.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wasm") && p.is_file())
        .collect();
    paths.sort();
    Ok(paths)
}

impl WasmChain {
    /// Loads every component of `scheduler.plugin_dir` and keeps those named in config.
    pub fn load(config: &Config, alternates: usize) -> Result<WasmChain, LoadError> {
        let runtime = Runtime::new(
            PluginLimits {
                memory_bytes: (config.plugins.memory_limit_mb << 20) as usize,
                deadline: Duration::from_millis(config.plugins.call_timeout_ms),
            },
            config.plugins.cache_dir.clone(),
        )?;
        let dir = config.scheduler.plugin_dir.clone().unwrap_or_default();
        let mut by_name: HashMap<String, Arc<SchedulerPlugin>> = HashMap::new();
        for path in components(&dir)? {
            // Load with the settings of whatever name it turns out to have: [scheduler]'s
            // knobs, overridden by the plugin's own table.
            let probe = SchedulerPlugin::load(&runtime, &path, base_settings(config));
            let plugin = match probe {
                Ok(p) => match plugin_config(config, &p.name) {
                    None => p,
                    Some(own) => {
                        let mut settings = base_settings(config);
                        settings.extend(own);
                        SchedulerPlugin::load(&runtime, &path, settings)?
                    }
                },
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "plugin not loaded");
                    continue;
                }
            };
            tracing::info!(name = %plugin.name, kind = ?plugin.kind, path = %path.display(), "plugin loaded");
            by_name.insert(plugin.name.clone(), Arc::new(plugin));
        }
        let found = || {
            let mut names: Vec<&String> = by_name.keys().collect();
            names.sort();
            names
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut filters = Vec::new();
        for name in &config.scheduler.filters {
            match by_name.get(name).filter(|p| p.kind == Kind::Filter) {
                Some(p) => filters.push(p.clone()),
                None => {
                    return Err(LoadError::Missing {
                        kind: "filter",
                        name: name.clone(),
                        key: "filters",
                        dir: dir.display().to_string(),
                        found: found(),
                    })
                }
            }
        }
        let mut weighers = Vec::new();
        for w in &config.scheduler.weighers {
            match by_name.get(&w.name).filter(|p| p.kind == Kind::Weigher) {
                Some(p) => weighers.push((p.clone(), w.multiplier)),
                None => {
                    return Err(LoadError::Missing {
                        kind: "weigher",
                        name: w.name.clone(),
                        key: "weighers",
                        dir: dir.display().to_string(),
                        found: found(),
                    })
                }
            }
        }
        Ok(WasmChain {
            runtime,
            filters,
            weighers,
            host_subset_size: config.scheduler.host_subset_size.max(1),
            alternates,
            generation: AtomicU64::new(1),
            live: std::sync::Mutex::new(None),
        })
    }

    /// Instances holding `hosts`: the kept ones brought up to date with only the changed
    /// rows when the hosts are the same set with the same static fields, else fresh ones
    /// with a full `sync` of a new generation.
    fn prepare(&self, live: Option<Live>, hosts: &[HostState]) -> Result<Live, RpcError> {
        if let Some(mut live) = live {
            if same_shape(&live.hosts, hosts) {
                let changes: Vec<HostUpdate> = hosts
                    .iter()
                    .zip(&live.hosts)
                    .enumerate()
                    .filter(|(_, (new, old))| changed(new, old))
                    .map(|(i, (new, _))| row(i, new))
                    .collect();
                if !changes.is_empty() {
                    let generation = live.generation;
                    for s in live
                        .filters
                        .iter_mut()
                        .chain(live.weighers.iter_mut().map(|(s, _)| s))
                    {
                        s.update(generation, &changes).map_err(plugin_failed)?;
                    }
                    for c in &changes {
                        let i = c.host as usize;
                        live.hosts[i] = hosts[i].clone();
                    }
                }
                return Ok(live);
            }
        }
        let generation = self.generation.fetch_add(1, Ordering::Relaxed);
        let snap = snapshot(generation, hosts);
        let placed: Arc<Vec<Vec<String>>> =
            Arc::new(hosts.iter().map(|h| h.instances.clone()).collect());
        let open = |p: &Arc<SchedulerPlugin>| -> Result<Session, RpcError> {
            let mut s = p
                .session(&self.runtime, placed.clone())
                .map_err(plugin_failed)?;
            s.sync(&snap).map_err(plugin_failed)?;
            Ok(s)
        };
        Ok(Live {
            generation,
            hosts: hosts.to_vec(),
            index: host_index(hosts),
            filters: self.filters.iter().map(open).collect::<Result<_, _>>()?,
            weighers: self
                .weighers
                .iter()
                .filter(|(_, m)| *m != 0.0)
                .map(|(p, m)| open(p).map(|s| (s, *m)))
                .collect::<Result<_, _>>()?,
        })
    }

    /// Places every instance of `spec`, keeping the instances' view in step with each pick.
    /// Returns the instances holding the original snapshot again (picks rolled back).
    fn place(
        &self,
        mut live: Live,
        spec: &RequestSpec,
        mut hosts: Vec<HostState>,
    ) -> Result<(Live, Selection), RpcError> {
        let generation = live.generation;
        let mut selection = Selection {
            hosts: Vec::with_capacity(spec.instance_uuids.len()),
            alternates: Vec::with_capacity(spec.instance_uuids.len()),
        };
        let mut touched = Vec::new();
        // Later picks of the batch see the earlier ones as group members.
        let mut group = spec.server_group.clone();
        for (n, uuid) in spec.instance_uuids.iter().enumerate() {
            let req = wit_spec(spec, group.as_ref(), uuid, &live.index);
            let mut candidates: Vec<u32> = (0..hosts.len() as u32)
                .filter(|&i| crate::filters::not_ignored(&hosts[i as usize], spec))
                .collect();
            for f in &mut live.filters {
                if candidates.is_empty() {
                    break;
                }
                let passed = f
                    .filter(&req, generation, &candidates)
                    .map_err(plugin_failed)?;
                // A plugin may only narrow the candidates it was given, in their order.
                if !is_subsequence(&passed, &candidates) {
                    return Err(plugin_failed(PluginError::Returned {
                        plugin: "filter".into(),
                        call: "filter".into(),
                        code: 0,
                        message: "returned hosts that were not candidates, or out of order".into(),
                    }));
                }
                candidates = passed;
            }
            if candidates.is_empty() {
                return Err(no_valid_host(n, spec, hosts.len()));
            }
            let mut weights = vec![0.0; candidates.len()];
            for (w, multiplier) in &mut live.weighers {
                let raw = w
                    .weigh(&req, generation, &candidates)
                    .map_err(plugin_failed)?;
                add_normalised(&raw, *multiplier, &mut weights);
            }
            let idx: Vec<usize> = candidates.iter().map(|&i| i as usize).collect();
            let (chosen, alternates) = pick(&idx, &weights, self.host_subset_size, self.alternates);
            selection.hosts.push(hosts[chosen].host.clone());
            selection
                .alternates
                .push(alternates.iter().map(|&i| hosts[i].host.clone()).collect());
            hosts[chosen].consume(&spec.flavor, uuid);
            if let Some(g) = group.as_mut() {
                *g.hosts.entry(hosts[chosen].host.clone()).or_default() += 1;
            }
            if n + 1 < spec.instance_uuids.len() {
                touched.push(chosen);
                let change = [row(chosen, &hosts[chosen])];
                for s in live
                    .filters
                    .iter_mut()
                    .chain(live.weighers.iter_mut().map(|(s, _)| s))
                {
                    s.update(generation, &change).map_err(plugin_failed)?;
                }
            }
        }
        // The picks are not claims yet: give the instances back the rows as they were, so
        // the next request's diff starts from the snapshot it is compared with.
        touched.sort_unstable();
        touched.dedup();
        if !touched.is_empty() {
            let restore: Vec<HostUpdate> =
                touched.iter().map(|&i| row(i, &live.hosts[i])).collect();
            for s in live
                .filters
                .iter_mut()
                .chain(live.weighers.iter_mut().map(|(s, _)| s))
            {
                s.update(generation, &restore).map_err(plugin_failed)?;
            }
        }
        Ok((live, selection))
    }

    /// Health of every plugin in the chain.
    pub fn health(&self) -> Vec<(String, metacloud_plugins::HealthReport)> {
        self.filters
            .iter()
            .chain(self.weighers.iter().map(|(w, _)| w))
            .map(|p| (p.name.clone(), p.health()))
            .collect()
    }
}

fn intern(names: &mut Vec<String>, value: &str) -> u16 {
    match names.iter().position(|n| n == value) {
        Some(i) => i as u16,
        None => {
            names.push(value.to_string());
            (names.len() - 1) as u16
        }
    }
}

/// The column snapshot of `hosts`.
pub fn snapshot(generation: u64, hosts: &[HostState]) -> HostSnapshot {
    let mut az_names = Vec::new();
    let mut hypervisor_types = Vec::new();
    let mut cpu_archs = Vec::new();
    let mut c = HostColumns {
        free_ram_mb: Vec::with_capacity(hosts.len()),
        free_disk_gb: Vec::with_capacity(hosts.len()),
        free_vcpus: Vec::with_capacity(hosts.len()),
        total_vcpus: Vec::with_capacity(hosts.len()),
        total_ram_mb: Vec::with_capacity(hosts.len()),
        running_vms: Vec::with_capacity(hosts.len()),
        io_ops: Vec::with_capacity(hosts.len()),
        failed_builds: Vec::with_capacity(hosts.len()),
        az_index: Vec::with_capacity(hosts.len()),
        hypervisor_index: Vec::with_capacity(hosts.len()),
        arch_index: Vec::with_capacity(hosts.len()),
        service_up: Vec::with_capacity(hosts.len()),
        disabled: Vec::with_capacity(hosts.len()),
    };
    for h in hosts {
        c.free_ram_mb.push(h.free_ram_mb());
        c.free_disk_gb.push(h.free_disk_gb());
        c.free_vcpus.push(h.free_vcpus());
        c.total_vcpus.push(h.vcpus as u32);
        c.total_ram_mb.push(h.memory_mb);
        c.running_vms.push(h.running_vms as u32);
        c.io_ops.push(h.io_ops as u32);
        c.failed_builds.push(h.failed_builds as u32);
        c.az_index.push(intern(&mut az_names, &h.availability_zone));
        c.hypervisor_index
            .push(intern(&mut hypervisor_types, &h.hypervisor_type));
        c.arch_index.push(intern(&mut cpu_archs, &h.cpu_arch));
        c.service_up.push(h.up);
        c.disabled.push(h.disabled);
    }
    HostSnapshot {
        generation,
        hostnames: hosts.iter().map(|h| h.host.clone()).collect(),
        az_names,
        hypervisor_types,
        cpu_archs,
        aggregates: aggregates(hosts),
        columns: c,
    }
}

/// Every aggregate of `hosts` once, with the indices of its hosts.
fn aggregates(hosts: &[HostState]) -> Vec<Aggregate> {
    let mut out: Vec<Aggregate> = Vec::new();
    for (i, h) in hosts.iter().enumerate() {
        for a in &h.aggregates {
            match out.iter_mut().find(|x| x.name == a.name) {
                Some(x) => x.hosts.push(i as u32),
                None => out.push(Aggregate {
                    name: a.name.clone(),
                    metadata: pairs(&a.metadata),
                    hosts: vec![i as u32],
                }),
            }
        }
    }
    out
}

fn pairs(map: &BTreeMap<String, String>) -> Vec<(String, String)> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn wit_spec(
    spec: &RequestSpec,
    group: Option<&metacloud_rpc::objects::GroupSpec>,
    uuid: &str,
    index: &HostIndex,
) -> WitSpec {
    WitSpec {
        instance_uuid: uuid.to_string(),
        project_id: spec.project_id.clone(),
        flavor: Flavor {
            name: spec.flavor.name.clone(),
            vcpus: spec.flavor.vcpus,
            memory_mb: spec.flavor.memory_mb,
            root_gb: spec.flavor.root_gb,
            ephemeral_gb: spec.flavor.ephemeral_gb,
            extra_specs: pairs(&spec.flavor.extra_specs),
        },
        image_properties: spec
            .image
            .as_ref()
            .map(|i| pairs(&i.properties))
            .unwrap_or_default(),
        availability_zone: spec.availability_zone.clone(),
        same_host: spec.hints.same_host.clone(),
        different_host: spec.hints.different_host.clone(),
        num_instances: spec.instance_uuids.len() as u32,
        server_group: group.map(|g| ServerGroup {
            uuid: g.uuid.clone(),
            policy: g.policy.clone(),
            max_per_host: g.max_server_per_host.max(1),
            // Members on hosts outside the snapshot cannot matter to a filter.
            hosts: g
                .hosts
                .iter()
                .filter_map(|(h, n)| index.get(h).map(|&i| (i, *n)))
                .collect(),
        }),
    }
}

fn plugin_failed(e: PluginError) -> RpcError {
    RpcError::Remote(format!("scheduler plugin failed: {e}"))
}

impl Policy for WasmChain {
    fn select(&self, spec: &RequestSpec, hosts: Vec<HostState>) -> Result<Selection, RpcError> {
        let mut slot = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let live = self.prepare(slot.take(), &hosts)?;
        // A failed call leaves `slot` empty: the next request starts from fresh instances.
        let (live, selection) = self.place(live, spec, hosts)?;
        *slot = Some(live);
        Ok(selection)
    }

    fn health(&self) -> Vec<metacloud_rpc::scheduler::PluginHealth> {
        WasmChain::health(self)
            .into_iter()
            .map(|(name, h)| metacloud_rpc::scheduler::PluginHealth {
                name,
                calls: h.calls,
                failures: h.failures,
                consecutive_failures: h.consecutive_failures,
                healthy: h.healthy,
                metrics: h.metrics,
            })
            .collect()
    }

    fn describe(&self) -> String {
        format!(
            "WASM filters [{}], weighers [{}]",
            self.filters
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            self.weighers
                .iter()
                .map(|(p, m)| format!("{}x{m}", p.name))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// What one plugin decided on canned input (`metacloud plugin test`).
#[derive(Debug, serde::Serialize)]
pub struct TrialReport {
    pub plugin: String,
    pub kind: &'static str,
    /// Filters: the hosts that passed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passed: Option<Vec<String>>,
    /// Weighers: raw and normalised weight per host, best first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weights: Option<Vec<(String, f64, f64)>>,
    pub micros: u64,
    /// The counters and gauges the plugin reported through its `metrics` import.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, f64>,
}

/// Runs one plugin on `hosts` for `spec`, without a cloud: the SDK's test harness.
pub fn trial(
    path: &Path,
    settings: BTreeMap<String, String>,
    hosts: &[HostState],
    spec: &RequestSpec,
) -> Result<TrialReport, PluginError> {
    let runtime = Runtime::new(PluginLimits::default(), None)?;
    let plugin = SchedulerPlugin::load(&runtime, path, settings)?;
    let placed = Arc::new(hosts.iter().map(|h| h.instances.clone()).collect());
    let started = std::time::Instant::now();
    let mut session = plugin.session(&runtime, placed)?;
    session.sync(&snapshot(1, hosts))?;
    let uuid = spec
        .instance_uuids
        .first()
        .cloned()
        .unwrap_or_else(|| "00000000-0000-0000-0000-000000000000".into());
    let req = wit_spec(spec, spec.server_group.as_ref(), &uuid, &host_index(hosts));
    let candidates: Vec<u32> = (0..hosts.len() as u32).collect();
    let mut report = TrialReport {
        plugin: plugin.name.clone(),
        kind: match plugin.kind {
            Kind::Filter => "filter",
            Kind::Weigher => "weigher",
        },
        passed: None,
        weights: None,
        micros: 0,
        metrics: BTreeMap::new(),
    };
    match plugin.kind {
        Kind::Filter => {
            let passed = session.filter(&req, 1, &candidates)?;
            report.passed = Some(
                passed
                    .iter()
                    .filter_map(|&i| hosts.get(i as usize).map(|h| h.host.clone()))
                    .collect(),
            );
        }
        Kind::Weigher => {
            let raw = session.weigh(&req, 1, &candidates)?;
            let mut normalised = vec![0.0; raw.len()];
            add_normalised(&raw, 1.0, &mut normalised);
            let mut rows: Vec<(String, f64, f64)> = hosts
                .iter()
                .zip(raw.iter().zip(&normalised))
                .map(|(h, (r, n))| (h.host.clone(), *r, *n))
                .collect();
            rows.sort_by(|a, b| b.2.total_cmp(&a.2));
            report.weights = Some(rows);
        }
    }
    report.micros = started.elapsed().as_micros() as u64;
    report.metrics = plugin.health().metrics;
    Ok(report)
}
