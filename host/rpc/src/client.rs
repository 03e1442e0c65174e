use crate::{server::current_request_id, Reply, RpcError};
use metacloud_queue::{Bus, Message};
use serde::{de::DeserializeOwned, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// Sends typed requests over the bus, carrying the current request id.
#[derive(Clone)]
pub struct Rpc {
    bus: Arc<dyn Bus>,
    call_timeout: Duration,
}

impl Rpc {
    pub fn new(bus: Arc<dyn Bus>, call_timeout: Duration) -> Rpc {
        Rpc { bus, call_timeout }
    }

    /// The bus underneath.
    pub fn bus(&self) -> &Arc<dyn Bus> {
        &self.bus
    }

    fn encode<R: Serialize>(req: &R) -> Result<Message, RpcError> {
        let body = serde_json::to_vec(req).map_err(|e| RpcError::Codec(e.to_string()))?;
        Ok(Message::new(current_request_id(), body))
    }

    /// Fire and forget to one consumer of `topic`.
    pub async fn cast<R: Serialize>(&self, topic: &str, req: &R) -> Result<(), RpcError> {
        let msg = Self::encode(req)?;
        Ok(self.bus.cast(topic, msg).await?)
    }

    /// Fire and forget to every subscriber of `exchange`.
    pub async fn fanout<R: Serialize>(&self, exchange: &str, req: &R) -> Result<(), RpcError> {
        let msg = Self::encode(req)?;
        Ok(self.bus.fanout(exchange, msg).await?)
    }

    /// Request/reply with its own deadline (long operations such as snapshots).
    pub async fn call_within<R: Serialize, T: DeserializeOwned>(
        &self,
        topic: &str,
        req: &R,
        timeout: Duration,
    ) -> Result<T, RpcError> {
        Rpc {
            bus: self.bus.clone(),
            call_timeout: timeout,
        }
        .call(topic, req)
        .await
    }

    /// Request/reply with the configured deadline.
    pub async fn call<R: Serialize, T: DeserializeOwned>(
        &self,
        topic: &str,
        req: &R,
    ) -> Result<T, RpcError> {
        let msg = Self::encode(req)?;
        let reply = self.bus.call(topic, msg, self.call_timeout).await?;
        match serde_json::from_slice::<Reply>(&reply.body) {
            Ok(Reply::Ok(value)) => {
                serde_json::from_value(value).map_err(|e| RpcError::Codec(e.to_string()))
            }
            Ok(Reply::Err(e)) => Err(e),
            Err(e) => Err(RpcError::Codec(e.to_string())),
        }
    }
}
