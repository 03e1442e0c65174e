//! The metadata proxy of one network: guests' requests to 169.254.169.254:80 are
//! redirected (nftables) to this listener inside the network's namespace. It names the
//! instance by the request's source address on that network (as nova-network did) and
//! forwards the request to the metadata listener with `X-Instance-ID`, `X-Tenant-ID` and
//! `X-Instance-ID-Signature` (hex HMAC-SHA256 of the id under the shared secret), which
//! the metadata service checks. A source that is no port of the network gets 404.

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use metacloud_db::Db;
use sha2::Sha256;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// What a proxy needs to name and forward.
#[derive(Clone)]
pub struct Proxy {
    pub network: String,
    pub db: Db,
    /// The metadata listener (`api.metadata_listen`).
    pub upstream: SocketAddr,
    pub secret: Arc<str>,
    pub client: reqwest::Client,
}

/// A proxy serving in a namespace; dropping it stops it.
pub struct Running {
    pub address: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The signature the metadata service expects for `instance`.
pub fn sign(secret: &str, instance: &str) -> String {
    let mut m =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    m.update(instance.as_bytes());
    hex::encode(m.finalize().into_bytes())
}

impl Proxy {
    /// Listens on `address` inside `namespace` and serves until dropped.
    pub fn start(self, namespace: &str, address: SocketAddr) -> std::io::Result<Running> {
        let std_listener = crate::netns::in_namespace(namespace, move || {
            let l = std::net::TcpListener::bind(address)?;
            l.set_nonblocking(true)?;
            Ok::<_, std::io::Error>(l)
        })
        .map_err(|e| std::io::Error::other(e.to_string()))??;
        let listener = tokio::net::TcpListener::from_std(std_listener)?;
        let network = self.network.clone();
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(Arc::new(self));
        let task = tokio::spawn(async move {
            let served = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await;
            if let Err(e) = served {
                tracing::warn!(%network, error = %e, "metadata proxy stopped");
            }
        });
        Ok(Running { address, task })
    }

    async fn instance_at(&self, address: Ipv4Addr) -> Option<(String, String)> {
        let ports = self.db.ports_of_network(&self.network).await.ok()?;
        let addr = address.to_string();
        ports
            .into_iter()
            .find(|p| p.address == addr)
            .and_then(|p| Some((p.instance_id?, p.project_id)))
    }
}

async fn forward(
    State(proxy): State<Arc<Proxy>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let std::net::IpAddr::V4(source) = peer.ip() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Some((instance, project)) = proxy.instance_at(source).await else {
        tracing::info!(network = %proxy.network, %source, "metadata request from no port of the network");
        return (StatusCode::NOT_FOUND, "no instance at this address\n").into_response();
    };
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let url = format!("http://{}{}", proxy.upstream, path);
    let method = req.method().clone();
    let mut headers = req.headers().clone();
    headers.remove(axum::http::header::HOST);
    for h in [
        "x-instance-id",
        "x-tenant-id",
        "x-instance-id-signature",
        "x-forwarded-for",
    ] {
        headers.remove(h);
    }
    let set = |v: &str| HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static(""));
    headers.insert("x-forwarded-for", set(&source.to_string()));
    headers.insert("x-instance-id", set(&instance));
    headers.insert("x-tenant-id", set(&project));
    headers.insert(
        "x-instance-id-signature",
        set(&sign(&proxy.secret, &instance)),
    );
    let body = match axum::body::to_bytes(req.into_body(), 1 << 20).await {
        Ok(b) => b,
        Err(_) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
    };
    let sent = proxy
        .client
        .request(method, url)
        .headers(headers)
        .body(body)
        .timeout(Duration::from_secs(30))
        .send()
        .await;
    match sent {
        Ok(r) => {
            let status = r.status();
            let headers = r.headers().clone();
            let bytes = r.bytes().await.unwrap_or_default();
            let mut out = Response::new(Body::from(bytes));
            *out.status_mut() = status;
            for (k, v) in headers.iter() {
                if k != axum::http::header::TRANSFER_ENCODING
                    && k != axum::http::header::CONTENT_LENGTH
                {
                    out.headers_mut().insert(k, v.clone());
                }
            }
            out
        }
        Err(e) => {
            tracing::warn!(network = %proxy.network, %instance, error = %e, "metadata service unreachable");
            (StatusCode::BAD_GATEWAY, "metadata service unreachable\n").into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn signatures_are_hex_hmac_sha256() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            super::sign("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
