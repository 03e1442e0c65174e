//! The plugin runtime: WebAssembly components on wasmtime, with the host in charge.
//!
//! - One [`Runtime`] (one engine) per process; each component is compiled once and the
//!   compiled artifact cached on disk, keyed by the file's SHA-256 and the engine's
//!   compatibility hash, so a restart loads it in a fraction of a millisecond.
//! - Instances come from the pooling allocator through a prepared `InstancePre`.
//! - Every store has a memory cap (a `ResourceLimiter`) and every call a deadline (epoch
//!   interruption, ticked by a background thread): a plugin that loops, allocates without
//!   bound, traps or panics fails that call with a [`PluginError`], never the host.
//! - Plugins get WASI without filesystem, network, environment or arguments: no sockets,
//!   files or secrets. What they may ask of the host is their world's imports.
//! - A plugin built against a WIT major version the host does not serve is refused at load,
//!   with a message naming the versions served.
//!
//! The shape: [`state`] is what every store holds; [`base`] the imports every world gets
//! (log, config, metrics); each world — [`scheduler`], [`api`], [`network`] — is one module implementing
//! [`World`]; [`swap`] serves any of them hot-swappable.

pub mod api;
pub mod base;
mod error;
mod health;
pub mod network;
mod runtime;
pub mod scheduler;
mod state;
pub mod swap;
mod world;

pub use error::PluginError;
pub use health::{Health, HealthReport};
pub use runtime::{PluginLimits, Runtime};
pub use state::{Plugin, State};
pub use world::World;

/// A world's name and the WIT packages (with major version) it serves.
pub type Served = (&'static str, &'static [&'static str]);

/// The packages of every world this host serves, with their major versions: the base's,
/// then each world's. A new world adds its line here.
pub const WORLDS: &[Served] = &[
    ("base", base::PACKAGES),
    (
        scheduler::SchedulerWorld::NAME,
        scheduler::SchedulerWorld::PACKAGES,
    ),
    (api::DialectWorld::NAME, api::DialectWorld::PACKAGES),
    (network::NetworkWorld::NAME, network::NetworkWorld::PACKAGES),
];

/// Every WIT package and major version this host serves.
pub fn served_packages() -> Vec<&'static str> {
    WORLDS.iter().flat_map(|(_, p)| p.iter().copied()).collect()
}
