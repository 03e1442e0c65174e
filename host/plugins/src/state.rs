//! What every plugin store holds, whatever its world: a WASI context with nothing granted,
//! the memory limiter, the clock of time spent in the host's imports, the plugin's own
//! identity and settings (what the base imports read), and its world's data.

use crate::health::Health;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::ResourceTable;
use wasmtime::{CallHook, ResourceLimiter};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// Who a plugin is, as its imports see it.
#[derive(Clone)]
pub struct Plugin {
    /// Its name, for logs and metrics.
    pub name: String,
    /// Its own settings from the operator's TOML.
    pub config: Arc<BTreeMap<String, String>>,
    /// Its counters, which its `metrics` import also writes.
    pub health: Arc<Health>,
}

/// A plugin store's data: the base every world shares, and `world`, the world's own.
pub struct State<D> {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: Limiter,
    pub(crate) clock: HostClock,
    pub(crate) plugin: Plugin,
    pub(crate) world: D,
}

impl<D> State<D> {
    pub(crate) fn new(plugin: Plugin, max_memory: usize, world: D) -> State<D> {
        State {
            wasi: WasiCtxBuilder::new().build(),
            table: ResourceTable::new(),
            limiter: Limiter {
                max_memory,
                denied: false,
            },
            clock: HostClock::default(),
            plugin,
            world,
        }
    }

    /// The world's data, for an import of the host's own: from now until the import
    /// returns, its time is credited back to the plugin's deadline. Every world reaches its
    /// imports through here, so the accounting is done in this one place.
    pub(crate) fn import(&mut self) -> &mut D {
        self.clock.start();
        &mut self.world
    }

    /// The plugin's identity, for the base imports (timed as [`State::import`]).
    pub(crate) fn plugin(&mut self) -> &mut Plugin {
        self.clock.start();
        &mut self.plugin
    }

    /// The world's data.
    pub fn world(&mut self) -> &mut D {
        &mut self.world
    }
}

impl<D: Send> WasiView for State<D> {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Time spent in the host's own imports during the current call, credited back to the
/// plugin's deadline: a slow database must not fail a plugin that is itself quick. Only
/// imports reached through [`State::import`] count (the store's call hook closes each
/// one), so a plugin cannot buy itself time by blocking in WASI.
#[derive(Debug, Default)]
pub(crate) struct HostClock {
    started: Option<Instant>,
    credit: Duration,
}

impl HostClock {
    fn start(&mut self) {
        self.started = Some(Instant::now());
    }

    /// The store's call hook: a host import of ours that returns adds its time.
    pub(crate) fn hook(&mut self, kind: CallHook) {
        if matches!(kind, CallHook::ReturningFromHost) {
            if let Some(started) = self.started.take() {
                self.credit += started.elapsed();
            }
        }
    }

    /// The credit gathered since the last take.
    pub(crate) fn take(&mut self) -> Duration {
        std::mem::take(&mut self.credit)
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
