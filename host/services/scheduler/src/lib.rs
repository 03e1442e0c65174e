//! The scheduler: for each instance of a request, filters the hosts, weighs the survivors,
//! picks the best and consumes its resources before the next instance of the batch, as
//! Nova's FilterScheduler does.
//!
//! This is the native Rust chain of Nova's filters and weighers; it stays as the benchmark
//! baseline when policy moves into WASM plugins.

pub mod filters;
pub mod wasm;
pub mod weighers;

use metacloud_config::{Config, SchedulerConfig, SchedulerDriver};
use metacloud_plugins::swap::{HotSwap, Source};
use metacloud_queue::Consumer;
use metacloud_rpc::objects::{HostState, RequestSpec};
use metacloud_rpc::scheduler::{Request, Selection};
use metacloud_rpc::{serve, topics, Rpc, RpcError};
use std::sync::Arc;

pub use filters::Filter;
pub use weighers::Weigher;

/// A configured chain of filters and weighers.
pub struct Chain {
    filters: Vec<Box<dyn Filter>>,
    weighers: Vec<(Box<dyn Weigher>, f64)>,
    host_subset_size: usize,
    alternates: usize,
}

impl Chain {
    /// Builds the chain named in config (names were validated at load).
    pub fn from_config(config: &SchedulerConfig, alternates: usize) -> Chain {
        Chain {
            filters: config
                .filters
                .iter()
                .filter_map(|name| filters::by_name(name, config))
                .collect(),
            weighers: config
                .weighers
                .iter()
                .filter_map(|w| weighers::by_name(&w.name).map(|x| (x, w.multiplier)))
                .collect(),
            host_subset_size: config.host_subset_size.max(1),
            alternates,
        }
    }

    /// One host per instance of `spec`, consuming resources within the batch.
    pub fn select(
        &self,
        spec: &RequestSpec,
        mut hosts: Vec<HostState>,
    ) -> Result<Selection, RpcError> {
        let mut selection = Selection {
            hosts: Vec::with_capacity(spec.instance_uuids.len()),
            alternates: Vec::with_capacity(spec.instance_uuids.len()),
        };
        let mut weights = Vec::with_capacity(hosts.len());
        // Later picks of the batch see the earlier ones as group members.
        let mut grouped = spec.server_group.as_ref().map(|_| spec.clone());
        let active: Vec<&dyn Filter> = self
            .filters
            .iter()
            .filter(|f| f.applies(spec))
            .map(|f| f.as_ref())
            .collect();
        for (n, uuid) in spec.instance_uuids.iter().enumerate() {
            let spec = grouped.as_ref().unwrap_or(spec);
            let candidates: Vec<usize> = (0..hosts.len())
                .filter(|&i| filters::not_ignored(&hosts[i], spec))
                .filter(|&i| active.iter().all(|f| f.passes(&hosts[i], spec)))
                .collect();
            if candidates.is_empty() {
                return Err(no_valid_host(n, spec, hosts.len()));
            }
            self.weigh(&hosts, spec, &candidates, &mut weights);
            let (chosen, alternates) = pick(
                &candidates,
                &weights,
                self.host_subset_size,
                self.alternates,
            );
            selection.hosts.push(hosts[chosen].host.clone());
            selection
                .alternates
                .push(alternates.iter().map(|&i| hosts[i].host.clone()).collect());
            hosts[chosen].consume(&spec.flavor, uuid);
            if let Some(g) = grouped.as_mut().and_then(|s| s.server_group.as_mut()) {
                *g.hosts.entry(hosts[chosen].host.clone()).or_default() += 1;
            }
        }
        Ok(selection)
    }

    /// Nova's weighing: each weigher's raw weights normalised to [0, 1] over the
    /// candidates, times its multiplier, summed.
    fn weigh(
        &self,
        hosts: &[HostState],
        spec: &RequestSpec,
        candidates: &[usize],
        out: &mut Vec<f64>,
    ) {
        out.clear();
        out.resize(candidates.len(), 0.0);
        let mut raw = Vec::with_capacity(candidates.len());
        for (weigher, multiplier) in &self.weighers {
            if *multiplier == 0.0 || !weigher.applies(spec) {
                continue;
            }
            raw.clear();
            raw.extend(candidates.iter().map(|&i| weigher.weigh(&hosts[i], spec)));
            add_normalised(&raw, *multiplier, out);
        }
    }
}

/// Nova's "no valid host" for the instance at position `placed` of the batch.
pub fn no_valid_host(placed: usize, spec: &RequestSpec, hosts: usize) -> RpcError {
    RpcError::NoValidHost(format!(
        "There are not enough hosts available: {placed} of {} instances placed \
         ({hosts} hosts considered)",
        spec.instance_uuids.len()
    ))
}

/// A placement policy: the native chain or the WASM plugin chain.
pub trait Policy: Send + Sync {
    fn select(&self, spec: &RequestSpec, hosts: Vec<HostState>) -> Result<Selection, RpcError>;
    /// What runs, for logs: filter and weigher names.
    fn describe(&self) -> String;
    /// Per-plugin health (empty for the native chain).
    fn health(&self) -> Vec<metacloud_rpc::scheduler::PluginHealth> {
        Vec::new()
    }
}

impl Policy for Chain {
    fn select(&self, spec: &RequestSpec, hosts: Vec<HostState>) -> Result<Selection, RpcError> {
        Chain::select(self, spec, hosts)
    }

    fn describe(&self) -> String {
        format!(
            "native filters [{}], weighers [{}]",
            self.filters
                .iter()
                .map(|f| f.name())
                .collect::<Vec<_>>()
                .join(", "),
            self.weighers
                .iter()
                .map(|(w, m)| format!("{}x{m}", w.name()))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// Nova's normalisation: raw weights scaled to [0, 1] over the candidates (all 0 when they
/// are equal), times the multiplier, added to `acc`.
pub fn add_normalised(raw: &[f64], multiplier: f64, acc: &mut [f64]) {
    let (min, max) = raw
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), w| {
            (lo.min(*w), hi.max(*w))
        });
    let range = max - min;
    for (a, w) in acc.iter_mut().zip(raw) {
        let normalised = if range > 0.0 && range.is_finite() {
            (w - min) / range
        } else {
            0.0
        };
        *a += multiplier * normalised;
    }
}

/// The best candidate (randomly among the best `subset` when above 1; ties go to the lower
/// index) and up to `alternates` runners-up. Only the top `subset + alternates` are ranked
/// (one pass over the candidates, no full sort).
pub fn pick(
    candidates: &[usize],
    weights: &[f64],
    subset: usize,
    alternates: usize,
) -> (usize, Vec<usize>) {
    let subset = subset.max(1);
    let keep = subset + alternates;
    // Best first; a later candidate displaces only a strictly better-weighed one, so ties
    // keep the lower index ahead.
    let mut top: Vec<(usize, f64)> = Vec::with_capacity(keep + 1);
    for (&c, &w) in candidates.iter().zip(weights) {
        if top.len() == keep && top.last().is_some_and(|&(_, lw)| w.total_cmp(&lw).is_le()) {
            continue;
        }
        let at = top.partition_point(|&(_, tw)| tw.total_cmp(&w).is_ge());
        top.insert(at, (c, w));
        top.truncate(keep);
    }
    let n = if subset > 1 {
        (uuid::Uuid::new_v4().as_u128() % subset.min(top.len()) as u128) as usize
    } else {
        0
    };
    let chosen = top[n].0;
    let rest = top
        .iter()
        .filter(|(i, _)| *i != chosen)
        .take(alternates)
        .map(|(i, _)| *i)
        .collect();
    (chosen, rest)
}

/// Selections this scheduler made that the database snapshot may not show yet: between a
/// selection and its claim, a concurrent request would otherwise see the same free host
/// and pile onto it (Nova's scheduler consumes from its in-memory host state likewise).
#[derive(Default)]
pub struct Pending {
    placed: std::collections::HashMap<String, Placed>,
}

/// One remembered selection.
struct Placed {
    host: String,
    flavor: metacloud_rpc::objects::Flavor,
    group: Option<String>,
    at: std::time::Instant,
}

/// How long a selection is remembered when its claim never shows up: a failed claim, or
/// an instance claimed and deleted again before the next request looked (it never appears
/// among the claimed ones then). Claims land within milliseconds of a selection, and the
/// database's claim refuses an over-full host anyway, so the memory is kept short: a long
/// one held phantom consumption for a minute whenever servers came and went quickly (as
/// tempest makes them), and turned boots away with "No valid host".
const PENDING_TTL: std::time::Duration = std::time::Duration::from_secs(10);

impl Pending {
    /// Applies selections not yet reflected in `hosts` (whose `instances` list what the
    /// database has claimed) and forgets those that are, or that are too old.
    pub fn apply(&mut self, hosts: &mut [HostState]) {
        let claimed: std::collections::HashSet<&str> = hosts
            .iter()
            .flat_map(|h| h.instances.iter().map(String::as_str))
            .collect();
        let now = std::time::Instant::now();
        self.placed.retain(|uuid, p| {
            !claimed.contains(uuid.as_str()) && now.duration_since(p.at) < PENDING_TTL
        });
        for (uuid, p) in &self.placed {
            if let Some(h) = hosts.iter_mut().find(|h| h.host == p.host) {
                h.consume(&p.flavor, uuid);
            }
        }
    }

    /// Counts unclaimed selections of members of `spec`'s server group on their hosts
    /// (call after [`Pending::apply`], which forgets the claimed ones).
    pub fn apply_group(&self, spec: &mut RequestSpec) {
        let Some(group) = spec.server_group.as_mut() else {
            return;
        };
        for p in self.placed.values() {
            if p.group.as_deref() == Some(group.uuid.as_str()) {
                *group.hosts.entry(p.host.clone()).or_default() += 1;
            }
        }
    }

    /// Remembers the selections of `spec`.
    pub fn record(&mut self, spec: &RequestSpec, selection: &Selection) {
        let now = std::time::Instant::now();
        for (uuid, host) in spec.instance_uuids.iter().zip(&selection.hosts) {
            self.placed.insert(
                uuid.clone(),
                Placed {
                    host: host.clone(),
                    flavor: spec.flavor.clone(),
                    group: spec.server_group.as_ref().map(|g| g.uuid.clone()),
                    at: now,
                },
            );
        }
    }
}

/// The fanout exchange on which schedulers hear "reload your policy".
pub const RELOAD_EXCHANGE: &str = "scheduler_reload";

/// The scheduler service: serves `select_destinations` on the `scheduler` topic.
///
/// Its policy can be swapped while it runs (plugin directory or config file changed,
/// SIGHUP, or an admin call): the new one is loaded beside the old, new requests go to it,
/// in-flight ones finish on the old, and a policy that fails to load leaves the old in place.
pub struct Scheduler {
    policy: Arc<HotSwap<PolicySource>>,
    pending: std::sync::Mutex<Pending>,
}

fn build_policy(config: &Config, alternates: usize) -> Result<Arc<dyn Policy>, wasm::LoadError> {
    Ok(match config.scheduler.driver {
        SchedulerDriver::Native => Arc::new(Chain::from_config(&config.scheduler, alternates)),
        SchedulerDriver::Wasm => Arc::new(wasm::WasmChain::load(config, alternates)?),
    })
}

/// Where the policy comes from: `[scheduler]` of the config and its plugin directory.
struct PolicySource {
    alternates: usize,
}

impl Source for PolicySource {
    type Item = dyn Policy;

    fn what(&self) -> String {
        "scheduler policy".into()
    }

    fn build(&self, config: &Config) -> Result<Arc<dyn Policy>, String> {
        build_policy(config, self.alternates).map_err(|e| e.to_string())
    }

    fn plugin_dir(&self, config: &Config) -> Option<std::path::PathBuf> {
        config.scheduler.plugin_dir.clone()
    }

    fn describe(&self, policy: &dyn Policy) -> String {
        policy.describe()
    }
}

impl Scheduler {
    /// The scheduler with the configured policy: the native chain, or the WASM plugins of
    /// `scheduler.plugin_dir` (every named plugin must load, or the start fails).
    pub fn new(config: &Config) -> Result<Arc<Scheduler>, wasm::LoadError> {
        let alternates = config.conductor.max_attempts.saturating_sub(1) as usize;
        let policy = build_policy(config, alternates)?;
        let source = PolicySource { alternates };
        Ok(Arc::new(Scheduler {
            policy: Arc::new(HotSwap::started(source, config.clone(), policy)),
            pending: Default::default(),
        }))
    }

    /// The policy new requests go to.
    pub fn current(&self) -> Arc<dyn Policy> {
        self.policy.current()
    }

    /// What the scheduler runs.
    pub fn describe(&self) -> String {
        self.current().describe()
    }

    /// Loads the policy again (re-reading the config file, if there is one) and switches
    /// to it; on failure keeps the current one and says why. Blocking: compiles plugins.
    pub fn reload(&self) -> Result<String, String> {
        self.policy.reload().map(|p| p.describe())
    }

    /// One selection under the pending-selection overlay (blocking: plugins may run).
    pub fn select(
        &self,
        spec: &RequestSpec,
        mut hosts: Vec<HostState>,
    ) -> Result<Selection, RpcError> {
        let policy = self.current();
        // One selection at a time per scheduler, each seeing the previous ones.
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.apply(&mut hosts);
        let grouped = spec.server_group.as_ref().map(|_| {
            let mut s = spec.clone();
            pending.apply_group(&mut s);
            s
        });
        let result = policy.select(grouped.as_ref().unwrap_or(spec), hosts);
        if let Ok(selection) = &result {
            pending.record(spec, selection);
        }
        result
    }

    /// Starts consuming the `scheduler` topic and the reload fanout.
    pub async fn start(self: &Arc<Self>, rpc: &Rpc) -> anyhow::Result<Vec<Consumer>> {
        let me = self.clone();
        let handler = serve("scheduler", move |req: Request, _| {
            let me = me.clone();
            async move {
                match req {
                    Request::SelectDestinations { spec, hosts } => {
                        let n = hosts.len();
                        let started = std::time::Instant::now();
                        let (spec, result) = tokio::task::spawn_blocking(move || {
                            let r = me.select(&spec, hosts);
                            (spec, r)
                        })
                        .await
                        .map_err(|e| RpcError::Remote(format!("scheduler task failed: {e}")))?;
                        tracing::info!(
                            instances = spec.instance_uuids.len(),
                            hosts = n,
                            micros = started.elapsed().as_micros() as u64,
                            ok = result.is_ok(),
                            "select_destinations"
                        );
                        result.and_then(|r| {
                            serde_json::to_value(r).map_err(|e| RpcError::Codec(e.to_string()))
                        })
                    }
                    Request::PolicyReport => {
                        let policy = me.current();
                        serde_json::to_value(metacloud_rpc::scheduler::PolicyReport {
                            policy: policy.describe(),
                            plugins: policy.health(),
                        })
                        .map_err(|e| RpcError::Codec(e.to_string()))
                    }
                }
            }
        });
        let serving = rpc.bus().serve(topics::SCHEDULER, handler).await?;
        let me = self.clone();
        let reload = serve("scheduler", move |_: ReloadRequest, _| {
            let me = me.clone();
            async move {
                let _ = tokio::task::spawn_blocking(move || me.reload()).await;
                Ok(())
            }
        });
        let reloading = rpc.bus().subscribe(RELOAD_EXCHANGE, reload).await?;
        Ok(vec![serving, reloading])
    }

    /// Watches the plugin directory and the config file; a change triggers a reload.
    pub fn spawn_watch(&self, every: std::time::Duration) {
        self.policy.spawn_watch(every);
    }
}

/// The message on [`RELOAD_EXCHANGE`].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ReloadRequest {
    pub reason: String,
}

#[cfg(test)]
mod tests;
