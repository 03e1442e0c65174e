//! Requests to the scheduler.

use crate::objects::{HostState, RequestSpec};
use serde::{Deserialize, Serialize};

/// Requests on the `scheduler` topic. (A wire type, decoded and consumed at once: the size
/// difference between its variants costs nothing.)
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "method", content = "args", rename_all = "snake_case")]
pub enum Request {
    /// (call) One host per instance of the spec, in order, chosen among `hosts`.
    /// Replies [`Selection`] or `NoValidHost`.
    SelectDestinations {
        spec: RequestSpec,
        hosts: Vec<HostState>,
    },
    /// (call) What the scheduler runs and how each plugin fares. Replies [`PolicyReport`].
    PolicyReport,
}

/// The scheduler's policy and the health of each of its plugins.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PolicyReport {
    pub policy: String,
    pub plugins: Vec<PluginHealth>,
}

/// Calls and failures of one plugin; unhealthy after repeated failures in a row.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PluginHealth {
    pub name: String,
    pub calls: u64,
    pub failures: u64,
    pub consecutive_failures: u64,
    pub healthy: bool,
    /// The plugin's own counters and gauges (its `metrics` import), by name.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub metrics: std::collections::BTreeMap<String, f64>,
}

/// The scheduler's answer: `hosts[i]` for `spec.instance_uuids[i]`, plus alternates per
/// instance for reschedules without another scheduler round trip.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Selection {
    pub hosts: Vec<String>,
    pub alternates: Vec<Vec<String>>,
}
