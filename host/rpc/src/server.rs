use crate::{Reply, RpcError};
use async_trait::async_trait;
use metacloud_queue::{Handler, Message, ENVELOPE_VERSION};
use serde::{de::DeserializeOwned, Serialize};
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use tracing::Instrument;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// A fresh request id in Nova's form, `req-<uuid>`.
pub use metacloud_objects::new_request_id;

/// The request id of the work this task does, or a fresh one outside any request.
pub fn current_request_id() -> String {
    REQUEST_ID
        .try_with(|id| id.clone())
        .unwrap_or_else(|_| new_request_id())
}

/// Runs `fut` with `request_id` as the current request id.
pub async fn with_request_id<F: Future>(request_id: String, fut: F) -> F::Output {
    REQUEST_ID.scope(request_id, fut).await
}

struct FnHandler<Req, F> {
    service: &'static str,
    f: F,
    _req: PhantomData<fn(Req)>,
}

#[async_trait]
impl<Req, F, Fut, T> Handler for FnHandler<Req, F>
where
    Req: DeserializeOwned + Send + 'static,
    F: Fn(Req, bool) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, RpcError>> + Send + 'static,
    T: Serialize + Send + 'static,
{
    async fn handle(&self, msg: Message) -> Option<Message> {
        let request_id = msg.request_id.clone();
        let span = tracing::info_span!("rpc", service = self.service, request_id = %request_id);
        let result = async {
            if msg.version != ENVELOPE_VERSION {
                return Err(RpcError::Invalid(format!(
                    "message version {} not served (this service speaks {ENVELOPE_VERSION})",
                    msg.version
                )));
            }
            let req: Req = serde_json::from_slice(&msg.body)
                .map_err(|e| RpcError::Invalid(format!("undecodable request: {e}")))?;
            let out = with_request_id(request_id.clone(), (self.f)(req, msg.redelivered)).await?;
            serde_json::to_value(out).map_err(|e| RpcError::Codec(e.to_string()))
        }
        .instrument(span.clone())
        .await;
        if let Err(e) = &result {
            span.in_scope(|| tracing::warn!(error = %e, "request failed"));
        }
        let reply = match result {
            Ok(v) => Reply::Ok(v),
            Err(e) => Reply::Err(e),
        };
        let body = serde_json::to_vec(&reply)
            .unwrap_or_else(|e| format!("{{\"err\":{{\"Codec\":\"{e}\"}}}}").into_bytes());
        Some(Message::new(request_id, body))
    }
}

/// Turns `f(request, redelivered)` into a queue handler for one service's request enum.
pub fn serve<Req, F, Fut, T>(service: &'static str, f: F) -> Arc<dyn Handler>
where
    Req: DeserializeOwned + Send + 'static,
    F: Fn(Req, bool) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, RpcError>> + Send + 'static,
    T: Serialize + Send + 'static,
{
    Arc::new(FnHandler {
        service,
        f,
        _req: PhantomData,
    })
}
