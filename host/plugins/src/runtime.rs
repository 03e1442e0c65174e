//! Engine, compilation cache, stores with limits, and the epoch ticker.

use crate::error::PluginError;
use crate::state::{Plugin, State};
use crate::world::World;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Duration;
use wasmtime::component::{Component, InstancePre, Linker};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap,
    UpdateDeadline,
};

/// A component of world `W`, linked and ready to instantiate.
pub type Prepared<W> = InstancePre<State<<W as World>::Data>>;

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

    /// Loads a component of world `W`: from the compilation cache when it holds this exact
    /// file for this engine, else compiled (and cached). Refuses imports of WIT majors that
    /// `W` and the base do not serve.
    pub fn load<W: World>(&self, path: &Path) -> Result<Component, PluginError> {
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
        let served: Vec<&str> = crate::base::PACKAGES
            .iter()
            .chain(W::PACKAGES)
            .copied()
            .collect();
        check_imports(&self.engine, &component, &shown, &served)?;
        Ok(component)
    }

    /// The linker of world `W`: WASI with nothing granted, the base imports, `W`'s own.
    pub fn linker<W: World>(&self) -> Result<Linker<State<W::Data>>, PluginError> {
        let mut linker = Linker::new(&self.engine);
        let err = |e: wasmtime::Error| PluginError::Runtime(e.to_string());
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(err)?;
        crate::base::add_to_linker(&mut linker).map_err(err)?;
        W::add_to_linker(&mut linker).map_err(err)?;
        Ok(linker)
    }

    /// `path` loaded as a component of world `W` and linked, ready to instantiate.
    pub fn prepare<W: World>(&self, path: &Path) -> Result<(Component, Prepared<W>), PluginError> {
        let component = self.load::<W>(path)?;
        let pre = self
            .linker::<W>()?
            .instantiate_pre(&component)
            .map_err(|e| PluginError::WrongWorld {
                path: path.display().to_string(),
                world: W::NAME.into(),
                reason: PluginError::first_line(&e),
            })?;
        Ok((component, pre))
    }

    /// `component` linked with WASI and the base only, the imports of world `W` trapping:
    /// for calls that must not reach the host (a plugin's name, its routes, a refusal).
    pub fn prepare_bare<W: World>(
        &self,
        component: &Component,
    ) -> Result<InstancePre<State<()>>, PluginError> {
        let mut linker = Linker::new(&self.engine);
        let err = |e: wasmtime::Error| PluginError::Runtime(e.to_string());
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(err)?;
        crate::base::add_to_linker(&mut linker).map_err(err)?;
        trap_imports(&mut linker, &self.engine, component, W::PACKAGES).map_err(err)?;
        linker.instantiate_pre(component).map_err(err)
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
                reason: PluginError::first_line(&e),
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

    /// A store for one plugin call sequence, with the memory cap, no WASI grants, and the
    /// world's data `world`.
    pub fn store<D: Send + 'static>(&self, plugin: Plugin, world: D) -> Store<State<D>> {
        let state = State::new(plugin, self.limits.memory_bytes, world);
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.call_hook(|mut ctx, kind| {
            ctx.data_mut().clock.hook(kind);
            Ok(())
        });
        // At the deadline, the time the host's imports took since the last check is given
        // back; with none to give, the call is interrupted.
        store.epoch_deadline_callback(|mut ctx| {
            let credit = ctx.data_mut().clock.take();
            Ok(if credit >= TICK {
                UpdateDeadline::Continue(ticks(credit))
            } else {
                UpdateDeadline::Interrupt
            })
        });
        store
    }

    /// Arms the deadline for the next call.
    pub fn arm<D>(&self, store: &mut Store<State<D>>) {
        store.data_mut().clock.take();
        store.set_epoch_deadline(ticks(self.limits.deadline));
    }

    /// Turns a failed call into a [`PluginError`] naming what went wrong.
    pub fn classify<D>(
        &self,
        store: &Store<State<D>>,
        call: &str,
        error: wasmtime::Error,
    ) -> PluginError {
        let plugin = store.data().plugin.name.clone();
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
            None => PluginError::first_line(&error),
        };
        PluginError::Trap {
            plugin,
            call: call.to_string(),
            reason,
        }
    }
}

/// Defines every function that `component` imports from `packages` as a trap.
fn trap_imports<T: 'static>(
    linker: &mut Linker<T>,
    engine: &Engine,
    component: &Component,
    packages: &[&str],
) -> wasmtime::Result<()> {
    use wasmtime::component::types::ComponentItem;
    let ty = component.component_type();
    for (name, item) in ty.imports(engine) {
        let Some((package, major)) = package_major(name) else {
            continue;
        };
        if !packages.contains(&format!("{package}@{major}").as_str()) {
            continue;
        }
        let ComponentItem::ComponentInstance(instance) = item else {
            continue;
        };
        let mut at = linker.instance(name)?;
        for (func, item) in instance.exports(engine) {
            if let ComponentItem::ComponentFunc(_) = item {
                let what = format!("{name}#{func}");
                at.func_new(func, move |_, _, _, _| {
                    wasmtime::bail!("`{what}` may not be called here")
                })?;
            }
        }
    }
    Ok(())
}

/// `metacloud:pkg/iface@1.2.3` → (`metacloud:pkg`, major 1).
fn package_major(import: &str) -> Option<(&str, u64)> {
    let (path, version) = import.split_once('@')?;
    let package = path.split('/').next()?;
    let major = version.split('.').next()?.parse().ok()?;
    Some((package, major))
}

fn check_imports(
    engine: &Engine,
    component: &Component,
    shown: &str,
    served: &[&str],
) -> Result<(), PluginError> {
    let ty = component.component_type();
    for (name, _) in ty.imports(engine).chain(ty.exports(engine)) {
        let Some((package, major)) = package_major(name) else {
            continue;
        };
        if !package.starts_with("metacloud:") {
            continue;
        }
        if !served.iter().any(|p| *p == format!("{package}@{major}")) {
            return Err(PluginError::Incompatible {
                path: shown.to_string(),
                import: name.to_string(),
                served: served.join(", "),
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
