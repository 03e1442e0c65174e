//! Requests to a network worker (topic `network` for a central worker, `network.<host>`
//! in multi-host mode: see [`crate::topics::network`]).

use serde::{Deserialize, Serialize};

/// Requests on a network worker's topic.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "method", content = "args", rename_all = "snake_case")]
pub enum Request {
    /// (call) The instance's ports on `host`, for its guest definition: the worker records
    /// the host and replies `Vec<PortSpec>` (empty: the instance has no network).
    Ports { uuid: String, host: String },
    /// (cast) The instance's guest runs: its taps exist and can be attached.
    Plugged { uuid: String },
    /// (cast) The desired state changed (a port, group, rule or floating address): apply it.
    Refresh { reason: String },
}

/// One interface of a guest: libvirt makes the tap `device` with `mac`; the network
/// worker attaches it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PortSpec {
    pub id: String,
    pub mac: String,
    pub device: String,
    pub address: String,
}
