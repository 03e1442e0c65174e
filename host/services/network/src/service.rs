//! Starting the network worker from the configuration: the driver plugin, the policy, the
//! applier, the reconcile loop and the queue topic it serves.

use crate::apply::{Applier, ProxyTemplate};
use crate::check::Policy;
use crate::worker::{NetworkWorker, Settings};
use metacloud_config::Config;
use metacloud_db::Db;
use metacloud_plugins::network::NetworkPlugin;
use metacloud_plugins::{PluginLimits, Runtime};
use metacloud_queue::Consumer;
use metacloud_rpc::network::{PortSpec, Request};
use metacloud_rpc::{serve, topics, Rpc, RpcError};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Why the network worker could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("network.driver {driver:?}: no plugin in {dir} names itself so ({seen})")]
    NoDriver {
        driver: String,
        dir: String,
        seen: String,
    },
    #[error("network.driver: {0}")]
    Plugin(#[from] metacloud_plugins::PluginError),
    #[error("network worker: {0}")]
    Queue(String),
    #[error("network.networks: {0}")]
    Declared(String),
}

/// Where the metadata proxies forward, and the secret they sign with.
pub struct MetadataUpstream {
    pub address: SocketAddr,
    pub secret: Arc<str>,
}

/// The driver's settings as the plugin's `config` sees them (flattened strings).
fn driver_settings(config: &Config) -> BTreeMap<String, String> {
    config
        .network
        .driver_config
        .iter()
        .map(|(k, v)| {
            let s = match v {
                toml::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), s)
        })
        .collect()
}

/// Finds the driver named `name` in `dir` (`<name>.wasm` first, then every component).
pub fn load_driver(
    rt: &Runtime,
    dir: &Path,
    name: &str,
    settings: BTreeMap<String, String>,
) -> Result<NetworkPlugin, StartError> {
    let first = dir.join(format!("{name}.wasm"));
    let mut seen = Vec::new();
    let mut candidates = vec![first.clone()];
    if let Ok(entries) = std::fs::read_dir(dir) {
        let mut rest: Vec<_> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "wasm") && *p != first)
            .collect();
        rest.sort();
        candidates.extend(rest);
    }
    for path in candidates.iter().filter(|p| p.exists()) {
        match NetworkPlugin::load(rt, path, settings.clone()) {
            Ok(p) if p.name == name => return Ok(p),
            Ok(p) => seen.push(p.name),
            Err(e) => seen.push(format!("{}: {e}", path.display())),
        }
    }
    Err(StartError::NoDriver {
        driver: name.into(),
        dir: dir.display().to_string(),
        seen: if seen.is_empty() {
            "none".into()
        } else {
            seen.join(", ")
        },
    })
}

/// Starts the network worker of this host: loads the driver, reconciles, and serves
/// `network` (or `network.<host>` in multi-host mode).
pub async fn start(
    config: &Config,
    db: Db,
    rpc: Rpc,
    metadata: MetadataUpstream,
) -> Result<(Arc<NetworkWorker>, Consumer), StartError> {
    let n = &config.network;
    let runtime = Runtime::new(
        PluginLimits {
            memory_bytes: (config.plugins.memory_limit_mb << 20) as usize,
            deadline: Duration::from_millis(config.plugins.call_timeout_ms),
        },
        config.plugins.cache_dir.clone(),
    )?;
    let dir = n.plugin_dir.clone().unwrap_or_default();
    let driver = load_driver(&runtime, &dir, &n.driver, driver_settings(config))?;
    let policy = Policy {
        allowed_interfaces: n.allowed_interfaces.iter().cloned().collect(),
        ..Policy::default()
    };
    let state_dir = n
        .state_dir
        .clone()
        .unwrap_or_else(|| config.data_dir().join("network"));
    let applier = Applier::new(
        &policy.namespace_prefix,
        state_dir,
        n.metadata_proxy_port,
        Some(ProxyTemplate {
            db: db.clone(),
            upstream: metadata.address,
            secret: metadata.secret,
        }),
    );
    declare_networks(config, &db).await?;
    let host = config.host();
    let worker = NetworkWorker::new(
        Settings {
            host: host.clone(),
            multi_host: n.multi_host,
            underlay_interface: n.underlay_interface.clone(),
            underlay_address: n.underlay_address.map(|a| a.to_string()),
            peers: n.peers.iter().map(|a| a.to_string()).collect(),
            reconcile_interval: Duration::from_secs(n.reconcile_interval_secs),
        },
        db,
        runtime,
        Arc::new(driver),
        policy,
        applier,
    );
    tracing::info!(driver = %worker.driver.name, "network worker starting");
    worker.spawn();
    let me = worker.clone();
    let handler = serve("network", move |req: Request, _redelivered| {
        let me = me.clone();
        async move { me.handle(req).await }
    });
    let consumer = rpc
        .bus()
        .serve(&topics::network(&host, n.multi_host), handler)
        .await
        .map_err(|e| StartError::Queue(e.to_string()))?;
    Ok((worker, consumer))
}

/// Makes the configuration's networks that do not exist yet (by name).
async fn declare_networks(config: &Config, db: &Db) -> Result<(), StartError> {
    let have = db
        .list_networks(None)
        .await
        .map_err(|e| StartError::Declared(e.to_string()))?;
    for n in &config.network.networks {
        if have.iter().any(|h| h.name == n.name) {
            continue;
        }
        let made = db
            .create_network(&metacloud_db::networks::NewNetwork {
                name: n.name.clone(),
                project_id: None,
                cidr: n.cidr.clone(),
                dns: n.dns.clone(),
                segment: n.segment,
                dhcp: true,
                driver: config.network.driver.clone(),
                ..Default::default()
            })
            .await
            .map_err(|e| StartError::Declared(format!("{}: {e}", n.name)))?;
        tracing::info!(network = %made.name, cidr = %made.cidr, id = %made.id, "network made from the configuration");
    }
    Ok(())
}

impl NetworkWorker {
    /// One request from the queue.
    pub async fn handle(&self, req: Request) -> Result<serde_json::Value, RpcError> {
        match req {
            Request::Ports { uuid, host } => {
                let ports = self
                    .db
                    .set_port_host(&uuid, Some(&host))
                    .await
                    .map_err(|e| RpcError::Remote(e.to_string()))?;
                // The loop applies it (DHCP entry, filters) while the guest is defined;
                // many boots at once share one reconciliation.
                self.wake();
                let specs: Vec<PortSpec> = ports
                    .into_iter()
                    .map(|p| PortSpec {
                        id: p.id,
                        mac: p.mac,
                        device: p.device,
                        address: p.address,
                    })
                    .collect();
                serde_json::to_value(specs).map_err(|e| RpcError::Codec(e.to_string()))
            }
            Request::Plugged { uuid } => {
                tracing::debug!(instance = %uuid, "guest plugged");
                self.wake();
                Ok(serde_json::Value::Null)
            }
            Request::Refresh { reason } => {
                tracing::debug!(%reason, "network refresh asked");
                self.wake();
                Ok(serde_json::Value::Null)
            }
        }
    }
}
