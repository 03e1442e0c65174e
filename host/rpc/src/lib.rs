//! What services say to each other.
//!
//! Each service has one request enum ([`conductor::Request`], [`scheduler::Request`],
//! [`compute::Request`], [`network::Request`]) serialized as `{"method": ..., "args": ...}` JSON inside a queue
//! [`Message`](metacloud_queue::Message). [`Rpc`] sends them (cast or call) and [`serve`]
//! turns an async function into a queue handler, carrying the request id in a task-local
//! and a tracing span.

pub mod compute;
pub mod conductor;
pub mod network;
/// The plain objects messages carry (the `metacloud-objects` crate).
pub use metacloud_objects as objects;
pub mod scheduler;

mod client;
mod server;

pub use client::Rpc;
pub use server::{current_request_id, new_request_id, serve, with_request_id};

use displaydoc::Display;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Topic names on the queue.
pub mod topics {
    /// The conductor's topic (competing consumers).
    pub const CONDUCTOR: &str = "conductor";
    /// The scheduler's topic (competing consumers).
    pub const SCHEDULER: &str = "scheduler";

    /// The topic of the compute worker on `host`.
    pub fn compute(host: &str) -> String {
        format!("compute.{host}")
    }

    /// The topic of the network worker serving `host`: its own in multi-host mode, the
    /// central worker's (`network`) otherwise.
    pub fn network(host: &str, multi_host: bool) -> String {
        if multi_host {
            format!("network.{host}")
        } else {
            "network".to_string()
        }
    }
}

/// An error a remote handler answered with, or a failure to reach it.
#[derive(Debug, Clone, Display, Error, Serialize, Deserialize, PartialEq)]
pub enum RpcError {
    /// not found: {0}
    NotFound(String),
    /// conflict: {0}
    Conflict(String),
    /// invalid request: {0}
    Invalid(String),
    /// no valid host was found: {0}
    NoValidHost(String),
    /// remote error: {0}
    Remote(String),
    /// queue error: {0}
    Queue(String),
    /// message could not be (de)serialized: {0}
    Codec(String),
}

impl From<metacloud_queue::QueueError> for RpcError {
    fn from(e: metacloud_queue::QueueError) -> Self {
        RpcError::Queue(e.to_string())
    }
}

/// The reply body of a call.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reply {
    Ok(serde_json::Value),
    Err(RpcError),
}

#[cfg(test)]
mod tests;
