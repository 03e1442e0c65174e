//! The gateway's listeners, from one table ([`DialectList`]): [`bind`] opens them all (the
//! addresses actually bound go back into the config, for the catalog), [`serve`] starts
//! each one's hot-swappable dialects.

use crate::service::{Backends, DialectService};
pub use crate::table::DialectList;
use displaydoc::Display;
use metacloud_config::Config;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

/// A listener that could not start.
#[derive(Debug, Display, Error)]
pub enum ListenError {
    /// cannot listen on {addr} ({key}): {reason}
    Bind {
        addr: SocketAddr,
        key: &'static str,
        reason: String,
    },
    /// the {listener} listener cannot serve its dialects: {reason}
    Dialects {
        listener: &'static str,
        reason: String,
    },
}

/// A listener's socket, bound.
pub struct Bound {
    pub list: DialectList,
    pub addr: SocketAddr,
    listener: tokio::net::TcpListener,
}

/// A listener serving.
pub struct Serving {
    pub list: DialectList,
    pub addr: SocketAddr,
    pub service: Arc<DialectService>,
}

/// Binds every listener of the table that `config` runs, and writes the addresses bound
/// (port 0 made real) back into `config`.
pub async fn bind(config: &mut Config) -> Result<Vec<Bound>, ListenError> {
    let mut bound = Vec::new();
    for list in DialectList::ALL {
        if list.optional() && list.names(config).is_empty() {
            continue;
        }
        let want = list.listen(config);
        let fail = |e: std::io::Error| ListenError::Bind {
            addr: want,
            key: list.listen_key(),
            reason: e.to_string(),
        };
        let listener = tokio::net::TcpListener::bind(want).await.map_err(fail)?;
        let addr = listener.local_addr().map_err(fail)?;
        list.set_listen(config, addr);
        bound.push(Bound {
            list,
            addr,
            listener,
        });
    }
    Ok(bound)
}

/// Serves each bound listener's dialects (reloaded when the config file or the plugin
/// directory changes, checked every `watch`), until the process ends.
pub fn serve(
    bound: Vec<Bound>,
    config: &Config,
    runtime: &metacloud_plugins::Runtime,
    backends: &Backends,
    watch: Duration,
) -> Result<Vec<Serving>, ListenError> {
    let mut serving = Vec::new();
    for b in bound {
        let service =
            DialectService::from_config(config, b.list, runtime.clone(), backends.clone())
                .map_err(|reason| ListenError::Dialects {
                    listener: b.list.name(),
                    reason,
                })?;
        service.spawn_watch(watch);
        let app = match b.list {
            // Image data is streamed by the host beside the image dialects.
            DialectList::Image => crate::image_data::router(service.clone()),
            _ => crate::dispatch::router(service.clone()),
        };
        let name = b.list.name();
        tokio::spawn(async move {
            if let Err(e) = axum::serve(b.listener, app).await {
                tracing::error!(error = %e, listener = name, "API listener stopped");
            }
        });
        serving.push(Serving {
            list: b.list,
            addr: b.addr,
            service,
        });
    }
    Ok(serving)
}
