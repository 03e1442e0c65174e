//! The gateway's listeners, from one table: each [`DialectList`] is a listener with its
//! address key and the config key naming its dialects. [`bind`] opens them all (the
//! addresses actually bound go back into the config, for the catalog), [`serve`] starts
//! each one's hot-swappable dialects.

use crate::service::{Backends, DialectService};
use displaydoc::Display;
use metacloud_config::Config;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

/// Which listener's dialects: each has its own list in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialectList {
    /// `api.dialects`, served on `api.compute_listen`.
    Compute,
    /// `identity.dialects`, served on `identity.listen`.
    Identity,
    /// `api.image_dialects`, served on `api.image_listen`.
    Image,
    /// `api.ec2_dialects`, served on `api.ec2_listen`.
    Ec2,
    /// `api.metadata_dialects`, served on `api.metadata_listen`.
    Metadata,
}

impl DialectList {
    /// The config key that names the dialects.
    pub fn key(self) -> &'static str {
        match self {
            DialectList::Compute => "api.dialects",
            DialectList::Identity => "identity.dialects",
            DialectList::Image => "api.image_dialects",
            DialectList::Ec2 => "api.ec2_dialects",
            DialectList::Metadata => "api.metadata_dialects",
        }
    }

    /// Every listener, in the order they start (identity first: the catalog names the
    /// others).
    pub const ALL: [DialectList; 5] = [
        DialectList::Identity,
        DialectList::Image,
        DialectList::Compute,
        DialectList::Ec2,
        DialectList::Metadata,
    ];

    /// The listener's name in logs.
    pub fn name(self) -> &'static str {
        match self {
            DialectList::Compute => "compute",
            DialectList::Identity => "identity",
            DialectList::Image => "image",
            DialectList::Ec2 => "ec2",
            DialectList::Metadata => "metadata",
        }
    }

    /// The config key of the listener's address.
    pub fn listen_key(self) -> &'static str {
        match self {
            DialectList::Compute => "api.compute_listen",
            DialectList::Identity => "identity.listen",
            DialectList::Image => "api.image_listen",
            DialectList::Ec2 => "api.ec2_listen",
            DialectList::Metadata => "api.metadata_listen",
        }
    }

    /// The listener's address in `config`.
    pub fn listen(self, config: &Config) -> SocketAddr {
        match self {
            DialectList::Compute => config.api.compute_listen,
            DialectList::Identity => config.identity.listen,
            DialectList::Image => config.api.image_listen,
            DialectList::Ec2 => config.api.ec2_listen,
            DialectList::Metadata => config.api.metadata_listen,
        }
    }

    /// Sets the listener's address in `config` (to the one actually bound).
    fn set_listen(self, config: &mut Config, addr: SocketAddr) {
        match self {
            DialectList::Compute => config.api.compute_listen = addr,
            DialectList::Identity => config.identity.listen = addr,
            DialectList::Image => config.api.image_listen = addr,
            DialectList::Ec2 => config.api.ec2_listen = addr,
            DialectList::Metadata => config.api.metadata_listen = addr,
        }
    }

    /// Whether the listener runs only when its dialect list names some (EC2, metadata).
    pub fn optional(self) -> bool {
        matches!(self, DialectList::Ec2 | DialectList::Metadata)
    }

    /// The dialect names `config` lists for this listener.
    pub fn names(self, config: &Config) -> &[String] {
        match self {
            DialectList::Compute => &config.api.dialects,
            DialectList::Identity => &config.identity.dialects,
            DialectList::Image => &config.api.image_dialects,
            DialectList::Ec2 => &config.api.ec2_dialects,
            DialectList::Metadata => &config.api.metadata_dialects,
        }
    }
}

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
