//! The scheduler's plugin world: filters and weighers, loaded and called under limits.

use crate::error::PluginError;
use crate::health::{Health, HealthReport};
use crate::runtime::Runtime;
use crate::state::{Plugin, State};
use crate::world::World;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::Store;

mod filter_world {
    wasmtime::component::bindgen!({
        world: "filter-plugin",
        path: "../../wit/scheduler",
        with: {
            "metacloud:host": crate::base::bindings::metacloud::host,
        },
    });
}

mod weigher_world {
    wasmtime::component::bindgen!({
        world: "weigher-plugin",
        path: "../../wit/scheduler",
        with: {
            "metacloud:host": crate::base::bindings::metacloud::host,
            "metacloud:scheduler/types": super::filter_world::metacloud::scheduler::types,
            "metacloud:scheduler/host-details": super::filter_world::metacloud::scheduler::host_details,
        },
    });
}

use crate::base::bindings::metacloud::host::types::PluginError as GuestError;
pub use filter_world::metacloud::scheduler::types::{
    Aggregate, FilterResult, Flavor, HostColumns, HostSnapshot, HostUpdate, RequestSpec,
    ServerGroup,
};
use filter_world::metacloud::scheduler::{host_details, types as sched_types};

/// The scheduler world (`filter-plugin` and `weigher-plugin`).
pub struct SchedulerWorld;

/// What a scheduler plugin's imports read: the instances on each host of the snapshot.
pub struct SchedulerData {
    host_instances: Arc<Vec<Vec<String>>>,
}

impl World for SchedulerWorld {
    const NAME: &'static str = "metacloud:scheduler filter-plugin or weigher-plugin";
    const PACKAGES: &'static [&'static str] = &["metacloud:scheduler@1"];
    type Data = SchedulerData;

    fn add_to_linker(linker: &mut Linker<State<SchedulerData>>) -> wasmtime::Result<()> {
        sched_types::add_to_linker::<_, HasSelf<SchedulerData>>(linker, |s| s.import())?;
        host_details::add_to_linker::<_, HasSelf<SchedulerData>>(linker, |s| s.import())
    }
}

impl sched_types::Host for SchedulerData {}

impl host_details::Host for SchedulerData {
    fn instances(&mut self, host: u32) -> Vec<String> {
        self.host_instances
            .get(host as usize)
            .cloned()
            .unwrap_or_default()
    }
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
    Filter(filter_world::FilterPluginPre<State<SchedulerData>>),
    Weigher(weigher_world::WeigherPluginPre<State<SchedulerData>>),
}

impl SchedulerPlugin {
    /// Loads `path` as a filter or weigher (whichever it exports) and asks it who it is.
    pub fn load(
        rt: &Runtime,
        path: &Path,
        config: BTreeMap<String, String>,
    ) -> Result<SchedulerPlugin, PluginError> {
        let (_, pre) = rt.prepare::<SchedulerWorld>(path)?;
        let shown = path.display().to_string();
        let config = Arc::new(config);
        let pre = match filter_world::FilterPluginPre::new(pre.clone()) {
            Ok(p) => Pre::Filter(p),
            Err(filter_err) => match weigher_world::WeigherPluginPre::new(pre) {
                Ok(p) => Pre::Weigher(p),
                Err(_) => {
                    return Err(PluginError::WrongWorld {
                        path: shown,
                        world: SchedulerWorld::NAME.into(),
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
        let plugin = Plugin {
            name: self.name.clone(),
            config: self.config.clone(),
            health: self.health.clone(),
        };
        let mut store = rt.store(plugin, SchedulerData { host_instances });
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
    store: Store<State<SchedulerData>>,
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
        let plugin = self.store.data().plugin.name.clone();
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
        let plugin = self.store.data().plugin.name.clone();
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
