//! Why a plugin could not be loaded or its call failed.

use displaydoc::Display;
use thiserror::Error;

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

impl PluginError {
    /// The first line of a wasmtime error, for messages that name a plugin.
    pub(crate) fn first_line(e: &wasmtime::Error) -> String {
        format!("{e:#}")
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    }
}
