//! The queue: the hub between services.
//!
//! Three patterns, as in Nova's oslo.messaging:
//! - **cast**: one message to a topic, taken by one of its consumers, no answer;
//! - **call**: request/reply with a deadline, matched by a correlation id;
//! - **fanout**: one message to every subscriber of an exchange.
//!
//! Two backends with the same semantics: [`embedded::EmbeddedBus`] (in-process, the default)
//! and [`amqp::AmqpBus`] (RabbitMQ through lapin: durable queues, persistent messages,
//! publisher confirms, manual acknowledgement after the handler finished, reconnect).
//! A message is acknowledged only after its handler returned, so a consumer that dies
//! mid-message leaves it to be redelivered.

pub mod amqp;
pub mod embedded;

use async_trait::async_trait;
use displaydoc::Display;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

/// Major version of the message envelope; a receiver refuses other majors.
pub const ENVELOPE_VERSION: u32 = 1;

/// One message on the bus. The body is opaque to the queue (JSON from the rpc layer).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Message {
    /// Envelope version ([`ENVELOPE_VERSION`] when sent by this build).
    pub version: u32,
    /// The request id of the API request that caused this message (`req-<uuid>`).
    pub request_id: String,
    /// Payload.
    pub body: Vec<u8>,
    /// Set on receipt when the broker delivers this message again after a consumer died.
    #[serde(default)]
    pub redelivered: bool,
}

impl Message {
    pub fn new(request_id: impl Into<String>, body: Vec<u8>) -> Message {
        Message {
            version: ENVELOPE_VERSION,
            request_id: request_id.into(),
            body,
            redelivered: false,
        }
    }
}

/// What can go wrong on the bus.
#[derive(Debug, Display, Error)]
pub enum QueueError {
    /// cannot connect to RabbitMQ at {url}: {reason}
    Connect { url: String, reason: String },
    /// call to topic `{topic}` timed out after {seconds} s
    Timeout { topic: String, seconds: u64 },
    /// no consumer on topic `{0}`
    NoConsumer(String),
    /// queue backend error: {0}
    Backend(String),
    /// the bus is closed
    Closed,
}

/// Receives messages of one topic or fanout exchange.
///
/// For a call the returned message is the reply; for a cast or fanout it is dropped.
/// The message is acknowledged after `handle` returns.
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    async fn handle(&self, msg: Message) -> Option<Message>;
}

/// A running consumer; dropping it does not stop it, [`Consumer::stop`] does.
pub struct Consumer {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Consumer {
    pub fn new(stop: tokio::sync::oneshot::Sender<()>) -> Consumer {
        Consumer { stop: Some(stop) }
    }

    /// Stops taking new messages; in-flight handlers finish.
    pub fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The queue as every service sees it.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Sends `msg` to one consumer of `topic`.
    async fn cast(&self, topic: &str, msg: Message) -> Result<(), QueueError>;
    /// Sends `msg` to one consumer of `topic` and waits at most `timeout` for its reply.
    async fn call(
        &self,
        topic: &str,
        msg: Message,
        timeout: Duration,
    ) -> Result<Message, QueueError>;
    /// Sends `msg` to every subscriber of `exchange`.
    async fn fanout(&self, exchange: &str, msg: Message) -> Result<(), QueueError>;
    /// Consumes `topic` (competing consumers: each message goes to one of them).
    async fn serve(&self, topic: &str, handler: Arc<dyn Handler>) -> Result<Consumer, QueueError>;
    /// Subscribes to `exchange`: this subscriber gets a copy of every fanout message.
    async fn subscribe(
        &self,
        exchange: &str,
        handler: Arc<dyn Handler>,
    ) -> Result<Consumer, QueueError>;
    /// Human-readable description for start-up output.
    fn describe(&self) -> String;
}

#[cfg(test)]
mod tests;
