//! The scheduler's plugin worlds: filters and weighers, loaded and called under limits.

use crate::health::{Health, HealthReport};
use crate::runtime::{Runtime, State};
use crate::PluginError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::Store;

pub(crate) mod filter_world {
    wasmtime::component::bindgen!({
        world: "filter-plugin",
        path: "../../wit/scheduler",
    });
}

mod weigher_world {
    wasmtime::component::bindgen!({
        world: "weigher-plugin",
        path: "../../wit/scheduler",
        with: {
            "metacloud:host": super::filter_world::metacloud::host,
            "metacloud:scheduler/types": super::filter_world::metacloud::scheduler::types,
            "metacloud:scheduler/host-details": super::filter_world::metacloud::scheduler::host_details,
        },
    });
}

use filter_world::metacloud::host::types::{LogLevel, PluginError as GuestError};
use filter_world::metacloud::host::{config, log, metrics, types as host_types};
pub use filter_world::metacloud::scheduler::types::{
    Aggregate, FilterResult, Flavor, HostColumns, HostSnapshot, HostUpdate, RequestSpec,
    ServerGroup,
};
use filter_world::metacloud::scheduler::{host_details, types as sched_types};

impl host_types::Host for State {}
impl sched_types::Host for State {}

impl log::Host for State {
    fn enabled(&mut self, level: LogLevel) -> bool {
        match level {
            LogLevel::Trace => tracing::enabled!(tracing::Level::TRACE),
            LogLevel::Debug => tracing::enabled!(tracing::Level::DEBUG),
            LogLevel::Info => tracing::enabled!(tracing::Level::INFO),
            LogLevel::Warn => tracing::enabled!(tracing::Level::WARN),
            LogLevel::Error => tracing::enabled!(tracing::Level::ERROR),
        }
    }

    fn log(&mut self, level: LogLevel, message: String, fields: Vec<(String, String)>) {
        let plugin = &self.plugin;
        let fields = fields
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        match level {
            LogLevel::Trace => tracing::trace!(%plugin, %fields, "{message}"),
            LogLevel::Debug => tracing::debug!(%plugin, %fields, "{message}"),
            LogLevel::Info => tracing::info!(%plugin, %fields, "{message}"),
            LogLevel::Warn => tracing::warn!(%plugin, %fields, "{message}"),
            LogLevel::Error => tracing::error!(%plugin, %fields, "{message}"),
        }
    }
}

impl config::Host for State {
    fn get(&mut self, key: String) -> Option<String> {
        self.config.get(&key).cloned()
    }

    fn get_all(&mut self) -> Vec<(String, String)> {
        self.config
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

impl metrics::Host for State {
    fn counter_add(&mut self, name: String, value: u64, _labels: Vec<(String, String)>) {
        tracing::trace!(plugin = %self.plugin, %name, value, "plugin counter");
    }

    fn histogram_record(&mut self, name: String, value: f64, _labels: Vec<(String, String)>) {
        tracing::trace!(plugin = %self.plugin, %name, value, "plugin histogram");
    }
}

impl host_details::Host for State {
    fn instances(&mut self, host: u32) -> Vec<String> {
        self.host_instances
            .get(host as usize)
            .cloned()
            .unwrap_or_default()
    }
}

/// The linker every scheduler plugin is instantiated with: WASI (nothing granted) and the
/// scheduler worlds' imports.
fn linker(rt: &Runtime) -> Result<Linker<State>, PluginError> {
    let mut linker = Linker::<State>::new(rt.engine());
    let err = |e: wasmtime::Error| PluginError::Runtime(e.to_string());
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(err)?;
    filter_world::FilterPlugin::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)
        .map_err(err)?;
    Ok(linker)
}

fn returned(plugin: &str, call: &str, e: GuestError) -> PluginError {
    PluginError::Returned {
        plugin: plugin.to_string(),
        call: call.to_string(),
        code: e.code,
        message: e.message,
    }
}

/// What kind of scheduler plugin a component is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Filter,
    Weigher,
}

/// A loaded scheduler plugin: compiled, linked, self-checked.
pub struct SchedulerPlugin {
    /// The name it gives itself (`RamFilter`, …), by which config refers to it.
    pub name: String,
    pub kind: Kind,
    pub path: PathBuf,
    /// For weighers: the multiplier used unless config sets one.
    pub default_multiplier: f64,
    pub config: Arc<BTreeMap<String, String>>,
    pre: Pre,
    health: Arc<Health>,
}

enum Pre {
    Filter(filter_world::FilterPluginPre<State>),
    Weigher(weigher_world::WeigherPluginPre<State>),
}

impl SchedulerPlugin {
    /// Loads `path` as a filter or weigher (whichever it exports) and asks it who it is.
    pub fn load(
        rt: &Runtime,
        path: &Path,
        config: BTreeMap<String, String>,
    ) -> Result<SchedulerPlugin, PluginError> {
        let component = rt.load(path)?;
        let linker = linker(rt)?;
        let shown = path.display().to_string();
        let pre = linker
            .instantiate_pre(&component)
            .map_err(|e| PluginError::WrongWorld {
                path: shown.clone(),
                world: "metacloud:scheduler filter-plugin or weigher-plugin".into(),
                reason: format!("{e:#}")
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string(),
            })?;
        let config = Arc::new(config);
        let pre = match filter_world::FilterPluginPre::new(pre.clone()) {
            Ok(p) => Pre::Filter(p),
            Err(filter_err) => match weigher_world::WeigherPluginPre::new(pre) {
                Ok(p) => Pre::Weigher(p),
                Err(_) => {
                    return Err(PluginError::WrongWorld {
                        path: shown,
                        world: "metacloud:scheduler filter-plugin or weigher-plugin".into(),
                        reason: filter_err.to_string(),
                    })
                }
            },
        };
        let mut plugin = SchedulerPlugin {
            name: shown.clone(),
            kind: match pre {
                Pre::Filter(_) => Kind::Filter,
                Pre::Weigher(_) => Kind::Weigher,
            },
            path: path.to_path_buf(),
            default_multiplier: 1.0,
            config,
            pre,
            health: Arc::default(),
        };
        // Self-check: instantiate and ask for its info under the usual limits.
        let mut session = plugin.session(rt, Arc::default())?;
        match &mut session.instance {
            Instance::Filter(f) => {
                rt.arm(&mut session.store);
                let info = f
                    .metacloud_scheduler_filter()
                    .call_info(&mut session.store)
                    .map_err(|e| rt.classify(&session.store, "info", e))?;
                plugin.name = info.name;
            }
            Instance::Weigher(w) => {
                rt.arm(&mut session.store);
                let info = w
                    .metacloud_scheduler_weigher()
                    .call_info(&mut session.store)
                    .map_err(|e| rt.classify(&session.store, "info", e))?;
                plugin.name = info.name;
                plugin.default_multiplier = info.default_multiplier;
            }
        }
        Ok(plugin)
    }

    /// A fresh instance for one scheduling request.
    pub fn session(
        &self,
        rt: &Runtime,
        host_instances: Arc<Vec<Vec<String>>>,
    ) -> Result<Session, PluginError> {
        let mut store = rt.store(&self.name, self.config.clone(), host_instances);
        let instance = match &self.pre {
            Pre::Filter(p) => p.instantiate(&mut store).map(Instance::Filter),
            Pre::Weigher(p) => p.instantiate(&mut store).map(Instance::Weigher),
        }
        .map_err(|e| rt.classify(&store, "instantiate", e));
        let instance = match instance {
            Ok(i) => i,
            Err(e) => {
                self.health.record(false);
                return Err(e);
            }
        };
        Ok(Session {
            rt: rt.clone(),
            store,
            instance,
            health: self.health.clone(),
        })
    }

    pub fn health(&self) -> HealthReport {
        self.health.report()
    }
}

enum Instance {
    Filter(filter_world::FilterPlugin),
    Weigher(weigher_world::WeigherPlugin),
}

/// One plugin instance serving one request: `sync` once, then `filter`/`weigh` per
/// instance of the batch, with `update` after each pick.
pub struct Session {
    rt: Runtime,
    store: Store<State>,
    instance: Instance,
    health: Arc<Health>,
}

impl Session {
    fn finish<T>(&mut self, call: &str, r: wasmtime::Result<T>) -> Result<T, PluginError> {
        let r = r.map_err(|e| self.rt.classify(&self.store, call, e));
        self.health.record(r.is_ok());
        r
    }

    /// Sends the whole snapshot.
    pub fn sync(&mut self, snapshot: &HostSnapshot) -> Result<(), PluginError> {
        self.rt.arm(&mut self.store);
        let r = match &self.instance {
            Instance::Filter(f) => f
                .metacloud_scheduler_filter()
                .call_sync(&mut self.store, snapshot),
            Instance::Weigher(w) => w
                .metacloud_scheduler_weigher()
                .call_sync(&mut self.store, snapshot),
        };
        self.finish("sync", r)
    }

    /// Sends rows changed within the generation.
    pub fn update(&mut self, generation: u64, changes: &[HostUpdate]) -> Result<(), PluginError> {
        self.rt.arm(&mut self.store);
        let r = match &self.instance {
            Instance::Filter(f) => {
                f.metacloud_scheduler_filter()
                    .call_update(&mut self.store, generation, changes)
            }
            Instance::Weigher(w) => {
                w.metacloud_scheduler_weigher()
                    .call_update(&mut self.store, generation, changes)
            }
        };
        self.finish("update", r)
    }

    /// The surviving candidates (filters only).
    pub fn filter(
        &mut self,
        req: &RequestSpec,
        generation: u64,
        candidates: &[u32],
    ) -> Result<Vec<u32>, PluginError> {
        let Instance::Filter(f) = &self.instance else {
            return Err(PluginError::Runtime("not a filter".into()));
        };
        self.rt.arm(&mut self.store);
        let r = f.metacloud_scheduler_filter().call_filter(
            &mut self.store,
            req,
            generation,
            candidates,
        );
        let plugin = self.store.data().plugin.clone();
        match self.finish("filter", r)? {
            Ok(result) => Ok(result.passed),
            Err(e) => Err(returned(&plugin, "filter", e)),
        }
    }

    /// One raw weight per candidate (weighers only).
    pub fn weigh(
        &mut self,
        req: &RequestSpec,
        generation: u64,
        candidates: &[u32],
    ) -> Result<Vec<f64>, PluginError> {
        let Instance::Weigher(w) = &self.instance else {
            return Err(PluginError::Runtime("not a weigher".into()));
        };
        self.rt.arm(&mut self.store);
        let r = w.metacloud_scheduler_weigher().call_weigh(
            &mut self.store,
            req,
            generation,
            candidates,
        );
        let plugin = self.store.data().plugin.clone();
        let weights = match self.finish("weigh", r)? {
            Ok(w) => w,
            Err(e) => return Err(returned(&plugin, "weigh", e)),
        };
        if weights.len() != candidates.len() {
            return Err(PluginError::Returned {
                plugin,
                call: "weigh".into(),
                code: 0,
                message: format!(
                    "returned {} weights for {} candidates",
                    weights.len(),
                    candidates.len()
                ),
            });
        }
        Ok(weights)
    }
}
