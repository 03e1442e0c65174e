//! Requests to one compute worker (topic `compute.<host>`).

use crate::objects::InstanceSpec;
use serde::{Deserialize, Serialize};

/// Requests on `compute.<host>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "method", content = "args", rename_all = "snake_case")]
pub enum Request {
    /// (cast) Spawn the instance; resources are already claimed on this host.
    BuildAndRunInstance { instance: Box<InstanceSpec> },
    /// (cast) Destroy the guest and report it gone.
    TerminateInstance { uuid: String },
    /// (cast)
    StartInstance { uuid: String },
    /// (cast) Graceful stop, then hard after the configured timeout.
    StopInstance { uuid: String },
    /// (cast)
    RebootInstance { uuid: String, hard: bool },
    /// (call) The hypervisor's own list of domains. Replies `Vec<Domain>`.
    ListDomains,
    /// (call) The serial console log. Replies `String`.
    ConsoleOutput { uuid: String },
}

/// A domain as the hypervisor lists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Domain {
    pub name: String,
    pub uuid: String,
    pub power_state: i32,
}
