//! Engine, compilation cache, stores with limits, and the epoch ticker.

use crate::PluginError;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::{Component, ResourceTable};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter, Store,
    Trap, UpdateDeadline,
};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// Limits every plugin call runs under.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PluginLimits {
    /// Linear memory a plugin instance may grow to.
    pub memory_bytes: usize,
    /// Deadline of one call, counting the plugin's own running time: time spent inside the
    /// host's imports (a database query, password hashing) is credited back.
    pub deadline: Duration,
}

impl Default for PluginLimits {
    fn default() -> Self {
        PluginLimits {
            memory_bytes: 64 << 20,
            deadline: Duration::from_millis(500),
        }
    }
}

const TICK: Duration = Duration::from_millis(2);

fn ticks(d: Duration) -> u64 {
    (d.as_millis() / TICK.as_millis()).max(1) as u64
}

/// Time spent in the host's own imports during the current call, credited back to the
/// plugin's deadline: a slow database must not fail a plugin that is itself quick. Only
/// imports reached through [`HostClock::timed`] count, so a plugin cannot buy itself time by
/// blocking in some other import.
#[derive(Debug, Clone, Default)]
pub struct HostClock(Arc<AtomicU64>);

/// A host import's implementation, timed from its lookup until the import returns.
pub struct Timed<H: ?Sized> {
    host: Arc<H>,
    clock: HostClock,
    started: Instant,
}

impl<H: ?Sized> std::ops::Deref for Timed<H> {
    type Target = H;
    fn deref(&self) -> &H {
        &self.host
    }
}

impl<H: ?Sized> Drop for Timed<H> {
    fn drop(&mut self) {
        let micros = self.started.elapsed().as_micros().min(u64::MAX as u128) as u64;
        self.clock.0.fetch_add(micros, Ordering::Relaxed);
    }
}

impl HostClock {
    /// `host`, with the time until the returned guard drops credited to the plugin.
    pub fn timed<H: ?Sized>(&self, host: Arc<H>) -> Timed<H> {
        Timed {
            host,
            clock: self.clone(),
            started: Instant::now(),
        }
    }

    /// The credit gathered since the last take.
    fn take(&self) -> Duration {
        Duration::from_micros(self.0.swap(0, Ordering::Relaxed))
    }
}

/// Denies memory growth past the cap and remembers that it did, so the trap that follows
/// is reported as running out of memory.
pub(crate) struct Limiter {
    max_memory: usize,
    pub(crate) denied: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_memory {
            self.denied = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
}

/// What a plugin's store holds: a WASI context with nothing granted, its limiter, and the
/// data its imports may read.
pub struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: Limiter,
    /// The plugin's name, for logs and metrics.
    pub plugin: String,
    /// The plugin's own settings.
    pub config: Arc<BTreeMap<String, String>>,
    /// Instances per host index of the current snapshot (the `host-details` import).
    pub host_instances: Arc<Vec<Vec<String>>>,
    /// The compute operations an API dialect may call (its `compute` import).
    pub api: Option<Arc<dyn crate::api::ApiHost>>,
    /// The identity operations (its `identity` import).
    pub identity: Option<Arc<dyn crate::api::IdentityHost>>,
    /// The image operations (its `images` import).
    pub images: Option<Arc<dyn crate::api::ImageHost>>,
    /// The calling instance (its `metadata` import).
    pub metadata: Option<Arc<dyn crate::api::MetadataHost>>,
    /// Time the host's imports took during the current call.
    pub(crate) host_clock: HostClock,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// One wasmtime engine for the process, with its compilation cache and epoch ticker.
#[derive(Clone)]
pub struct Runtime {
    engine: Engine,
    limits: PluginLimits,
    cache_dir: Option<PathBuf>,
}

impl Runtime {
    /// An engine with the pooling allocator and epoch interruption; compiled components are
    /// cached under `cache_dir` when given.
    pub fn new(limits: PluginLimits, cache_dir: Option<PathBuf>) -> Result<Runtime, PluginError> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(256)
            .total_core_instances(1024)
            .total_memories(512)
            .total_tables(1024)
            .total_stacks(256)
            .max_memory_size(limits.memory_bytes.max(1 << 20));
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        // `METACLOUD_PLUGIN_PROFILER=perfmap` names compiled plugin functions for `perf`.
        if std::env::var("METACLOUD_PLUGIN_PROFILER").as_deref() == Ok("perfmap") {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = Engine::new(&config).map_err(|e| PluginError::Runtime(e.to_string()))?;
        let weak = engine.weak();
        std::thread::Builder::new()
            .name("plugin-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(TICK);
                }
            })
            .map_err(|e| PluginError::Runtime(e.to_string()))?;
        if let Some(dir) = &cache_dir {
            let _ = std::fs::create_dir_all(dir);
        }
        Ok(Runtime {
            engine,
            limits,
            cache_dir,
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn limits(&self) -> PluginLimits {
        self.limits
    }

    /// Loads a component: from the compilation cache when it holds this exact file for this
    /// engine, else compiled (and cached). Refuses imports of WIT majors not served.
    pub fn load(&self, path: &Path) -> Result<Component, PluginError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| PluginError::Read {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        let cached = self.cache_path(&bytes);
        let component = match cached.as_ref().filter(|p| p.exists()) {
            // SAFETY: the cache holds only artifacts this process family serialised itself,
            // under a name that includes the engine's compatibility hash.
            Some(p) => match unsafe { Component::deserialize_file(&self.engine, p) } {
                Ok(c) => c,
                Err(_) => self.compile(&bytes, &shown, cached.as_deref())?,
            },
            None => self.compile(&bytes, &shown, cached.as_deref())?,
        };
        check_imports(&self.engine, &component, &shown)?;
        Ok(component)
    }

    fn compile(
        &self,
        bytes: &[u8],
        shown: &str,
        cache: Option<&Path>,
    ) -> Result<Component, PluginError> {
        let component =
            Component::from_binary(&self.engine, bytes).map_err(|e| PluginError::Invalid {
                path: shown.to_string(),
                reason: format!("{e:#}")
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string(),
            })?;
        if let Some(cache) = cache {
            if let Ok(artifact) = component.serialize() {
                let tmp = cache.with_extension("tmp");
                if std::fs::write(&tmp, artifact).is_ok() {
                    let _ = std::fs::rename(&tmp, cache);
                }
            }
        }
        Ok(component)
    }

    fn cache_path(&self, bytes: &[u8]) -> Option<PathBuf> {
        use sha2::{Digest, Sha256};
        let dir = self.cache_dir.as_ref()?;
        let digest: String = Sha256::digest(bytes)
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect();
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut h);
        Some(dir.join(format!("{digest}-{:016x}.cwasm", h.finish())))
    }

    /// A store for one plugin call sequence, with the memory cap and no WASI grants.
    pub fn store(
        &self,
        plugin: &str,
        config: Arc<BTreeMap<String, String>>,
        host_instances: Arc<Vec<Vec<String>>>,
    ) -> Store<State> {
        let state = State {
            wasi: WasiCtxBuilder::new().build(),
            table: ResourceTable::new(),
            limiter: Limiter {
                max_memory: self.limits.memory_bytes,
                denied: false,
            },
            plugin: plugin.to_string(),
            config,
            host_instances,
            api: None,
            identity: None,
            images: None,
            metadata: None,
            host_clock: HostClock::default(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        // At the deadline, the time the host's imports took since the last check is given
        // back; with none to give, the call is interrupted.
        store.epoch_deadline_callback(|ctx| {
            let credit = ctx.data().host_clock.take();
            Ok(if credit >= TICK {
                UpdateDeadline::Continue(ticks(credit))
            } else {
                UpdateDeadline::Interrupt
            })
        });
        store
    }

    /// Arms the deadline for the next call.
    pub fn arm(&self, store: &mut Store<State>) {
        store.data().host_clock.take();
        store.set_epoch_deadline(ticks(self.limits.deadline));
    }

    /// Turns a failed call into a [`PluginError`] naming what went wrong.
    pub fn classify(
        &self,
        store: &Store<State>,
        call: &str,
        error: wasmtime::Error,
    ) -> PluginError {
        let plugin = store.data().plugin.clone();
        if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
            return PluginError::Timeout {
                plugin,
                call: call.to_string(),
                millis: self.limits.deadline.as_millis() as u64,
            };
        }
        if store.data().limiter.denied {
            return PluginError::OutOfMemory {
                plugin,
                call: call.to_string(),
                limit_mb: (self.limits.memory_bytes >> 20) as u64,
            };
        }
        let reason = match error.downcast_ref::<Trap>() {
            Some(trap) => trap.to_string(),
            None => format!("{error:#}")
                .lines()
                .next()
                .unwrap_or_default()
                .to_string(),
        };
        PluginError::Trap {
            plugin,
            call: call.to_string(),
            reason,
        }
    }
}

/// `metacloud:pkg/iface@1.2.3` → (`metacloud:pkg`, major 1).
fn package_major(import: &str) -> Option<(&str, u64)> {
    let (path, version) = import.split_once('@')?;
    let package = path.split('/').next()?;
    let major = version.split('.').next()?.parse().ok()?;
    Some((package, major))
}

fn check_imports(engine: &Engine, component: &Component, shown: &str) -> Result<(), PluginError> {
    let ty = component.component_type();
    for (name, _) in ty.imports(engine).chain(ty.exports(engine)) {
        let Some((package, major)) = package_major(name) else {
            continue;
        };
        if !package.starts_with("metacloud:") {
            continue;
        }
        let served = crate::SERVED_PACKAGES
            .iter()
            .any(|p| *p == format!("{package}@{major}"));
        if !served {
            return Err(PluginError::Incompatible {
                path: shown.to_string(),
                import: name.to_string(),
                served: crate::SERVED_PACKAGES.join(", "),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::package_major;

    #[test]
    fn versions_are_read_from_import_names() {
        assert_eq!(
            package_major("metacloud:scheduler/filter@2.0.0"),
            Some(("metacloud:scheduler", 2))
        );
        assert_eq!(package_major("wasi:io/streams@0.2.6"), Some(("wasi:io", 0)));
        assert_eq!(package_major("plain"), None);
    }
}
