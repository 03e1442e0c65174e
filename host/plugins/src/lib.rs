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

pub mod api;
mod health;
mod runtime;
pub mod scheduler;

pub use health::{Health, HealthReport};
pub use runtime::{PluginLimits, Runtime, State};

use displaydoc::Display;
use thiserror::Error;

/// WIT packages and major versions this host serves.
pub const SERVED_PACKAGES: &[&str] = &[
    "metacloud:host@1",
    "metacloud:scheduler@1",
    "metacloud:api@1",
];

/// A plugin that could not be loaded or whose call failed.
#[derive(Debug, Display, Error, Clone, PartialEq)]
pub enum PluginError {
    /// cannot read plugin {path}: {reason}
    Read { path: String, reason: String },
    /// plugin {path} is not a valid component: {reason}
    Invalid { path: String, reason: String },
    /// plugin {path} imports {import}, which this host does not serve (it serves {served})
    Incompatible {
        path: String,
        import: String,
        served: String,
    },
    /// plugin {path} does not export the {world} world: {reason}
    WrongWorld {
        path: String,
        world: String,
        reason: String,
    },
    /// plugin {plugin} exceeded its deadline of {millis} ms in {call}
    Timeout {
        plugin: String,
        call: String,
        millis: u64,
    },
    /// plugin {plugin} exceeded its memory limit of {limit_mb} MiB in {call}
    OutOfMemory {
        plugin: String,
        call: String,
        limit_mb: u64,
    },
    /// plugin {plugin} trapped in {call}: {reason}
    Trap {
        plugin: String,
        call: String,
        reason: String,
    },
    /// plugin {plugin} returned an error from {call}: {message} (code {code})
    Returned {
        plugin: String,
        call: String,
        code: u32,
        message: String,
    },
    /// plugin runtime error: {0}
    Runtime(String),
}
