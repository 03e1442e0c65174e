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
        for (n, uuid) in spec.instance_uuids.iter().enumerate() {
            let candidates: Vec<usize> = (0..hosts.len())
                .filter(|&i| filters::not_ignored(&hosts[i], spec))
                .filter(|&i| self.filters.iter().all(|f| f.passes(&hosts[i], spec)))
                .collect();
            if candidates.is_empty() {
                return Err(no_valid_host(n, spec, hosts.len()));
            }
            self.weigh(&hosts, &candidates, &mut weights);
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
        }
        Ok(selection)
    }

    /// Nova's weighing: each weigher's raw weights normalised to [0, 1] over the
    /// candidates, times its multiplier, summed.
    fn weigh(&self, hosts: &[HostState], candidates: &[usize], out: &mut Vec<f64>) {
        out.clear();
        out.resize(candidates.len(), 0.0);
        let mut raw = Vec::with_capacity(candidates.len());
        for (weigher, multiplier) in &self.weighers {
            if *multiplier == 0.0 {
                continue;
            }
            raw.clear();
            raw.extend(candidates.iter().map(|&i| weigher.weigh(&hosts[i])));
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
/// index) and up to `alternates` runners-up.
pub fn pick(
    candidates: &[usize],
    weights: &[f64],
    subset: usize,
    alternates: usize,
) -> (usize, Vec<usize>) {
    let mut ranked: Vec<(usize, f64)> = candidates
        .iter()
        .copied()
        .zip(weights.iter().copied())
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let n = if subset > 1 {
        (uuid::Uuid::new_v4().as_u128() % subset.min(ranked.len()) as u128) as usize
    } else {
        0
    };
    let chosen = ranked[n].0;
    let rest = ranked
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
    placed: std::collections::HashMap<
        String,
        (String, metacloud_rpc::objects::Flavor, std::time::Instant),
    >,
}

/// How long a selection is remembered when its claim never shows up (a failed claim).
const PENDING_TTL: std::time::Duration = std::time::Duration::from_secs(60);

impl Pending {
    /// Applies selections not yet reflected in `hosts` (whose `instances` list what the
    /// database has claimed) and forgets those that are, or that are too old.
    pub fn apply(&mut self, hosts: &mut [HostState]) {
        let claimed: std::collections::HashSet<&str> = hosts
            .iter()
            .flat_map(|h| h.instances.iter().map(String::as_str))
            .collect();
        let now = std::time::Instant::now();
        self.placed.retain(|uuid, (_, _, at)| {
            !claimed.contains(uuid.as_str()) && now.duration_since(*at) < PENDING_TTL
        });
        for (uuid, (host, flavor, _)) in &self.placed {
            if let Some(h) = hosts.iter_mut().find(|h| &h.host == host) {
                h.consume(flavor, uuid);
            }
        }
    }

    /// Remembers the selections of `spec`.
    pub fn record(&mut self, spec: &RequestSpec, selection: &Selection) {
        let now = std::time::Instant::now();
        for (uuid, host) in spec.instance_uuids.iter().zip(&selection.hosts) {
            self.placed
                .insert(uuid.clone(), (host.clone(), spec.flavor.clone(), now));
        }
    }
}

/// The scheduler service: serves `select_destinations` on the `scheduler` topic.
pub struct Scheduler {
    policy: Arc<dyn Policy>,
    pending: Arc<std::sync::Mutex<Pending>>,
}

impl Scheduler {
    /// The scheduler with the configured policy: the native chain, or the WASM plugins of
    /// `scheduler.plugin_dir` (every named plugin must load, or the start fails).
    pub fn new(config: &Config) -> Result<Scheduler, wasm::LoadError> {
        let alternates = config.conductor.max_attempts.saturating_sub(1) as usize;
        let policy: Arc<dyn Policy> = match config.scheduler.driver {
            SchedulerDriver::Native => Arc::new(Chain::from_config(&config.scheduler, alternates)),
            SchedulerDriver::Wasm => Arc::new(wasm::WasmChain::load(config, alternates)?),
        };
        Ok(Scheduler {
            policy,
            pending: Arc::default(),
        })
    }

    /// What the scheduler runs.
    pub fn describe(&self) -> String {
        self.policy.describe()
    }

    /// Starts consuming the `scheduler` topic.
    pub async fn start(&self, rpc: &Rpc) -> anyhow::Result<Consumer> {
        let chain = self.policy.clone();
        let pending = self.pending.clone();
        let handler = serve("scheduler", move |req: Request, _| {
            let chain = chain.clone();
            let pending = pending.clone();
            async move {
                match req {
                    Request::SelectDestinations { spec, mut hosts } => {
                        let n = hosts.len();
                        let started = std::time::Instant::now();
                        // One selection at a time per scheduler, each seeing the previous.
                        let result = {
                            let mut pending = pending.lock().unwrap_or_else(|e| e.into_inner());
                            pending.apply(&mut hosts);
                            let result = chain.select(&spec, hosts);
                            if let Ok(selection) = &result {
                                pending.record(&spec, selection);
                            }
                            result
                        };
                        tracing::info!(
                            instances = spec.instance_uuids.len(),
                            hosts = n,
                            micros = started.elapsed().as_micros() as u64,
                            ok = result.is_ok(),
                            "select_destinations"
                        );
                        result
                    }
                }
            }
        });
        Ok(rpc.bus().serve(topics::SCHEDULER, handler).await?)
    }
}

#[cfg(test)]
mod tests;
