//! The network worker: builds this host's desired state from the database, asks the
//! driver plugin for a plan, checks it and applies it. It reconciles when told (the
//! queue: a guest's taps exist, something changed), when the database's change counters
//! move (polled every second), and every `reconcile_interval` to heal drift.

use crate::apply::{Applier, Report};
use crate::check::{check, Policy};
use metacloud_db::Db;
use metacloud_plugins::network::{
    Desired, Direction, Floating, Network, NetworkPlugin, Pool, Port, Rule, SecurityGroup,
};
use metacloud_plugins::Runtime;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, Notify};

/// Why a reconciliation did not apply anything.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("database: {0}")]
    Db(#[from] metacloud_db::DbError),
    #[error("driver {driver}: {reason}")]
    Driver { driver: String, reason: String },
    #[error("driver {driver}'s {refusal}")]
    Refused {
        driver: String,
        refusal: crate::check::Refusal,
    },
}

/// What the worker is configured with.
pub struct Settings {
    pub host: String,
    pub multi_host: bool,
    pub underlay_interface: Option<String>,
    pub underlay_address: Option<String>,
    pub peers: Vec<String>,
    pub reconcile_interval: Duration,
}

/// One host's network worker.
pub struct NetworkWorker {
    pub settings: Settings,
    pub db: Db,
    pub runtime: Runtime,
    pub driver: Arc<NetworkPlugin>,
    pub policy: Policy,
    pub applier: Applier,
    wake: Notify,
    /// One reconciliation at a time; holds the last report.
    last: Mutex<Option<Report>>,
}

fn to_network(n: &metacloud_db::networks::Network) -> Network {
    Network {
        id: n.id.clone(),
        name: n.name.clone(),
        project_id: n.project_id.clone(),
        cidr: n.cidr.clone(),
        gateway: n.gateway.clone(),
        range_start: n.range_start.clone(),
        range_end: n.range_end.clone(),
        dns: n.dns.clone(),
        segment: n.segment.and_then(|s| u32::try_from(s).ok()),
        bridge: n.bridge.clone(),
        uplink: n.uplink.clone(),
        mtu: u32::try_from(n.mtu).unwrap_or(1500),
        dhcp: n.dhcp,
    }
}

fn to_rule(r: &metacloud_db::secgroups::Rule) -> Rule {
    let small = |v: Option<i64>| v.and_then(|v| u16::try_from(v).ok());
    let tiny = |v: Option<i64>| v.and_then(|v| u8::try_from(v).ok());
    Rule {
        direction: if r.direction == "egress" {
            Direction::Egress
        } else {
            Direction::Ingress
        },
        protocol: r.protocol.clone(),
        port_min: small(r.port_min),
        port_max: small(r.port_max),
        icmp_type: tiny(r.icmp_type),
        icmp_code: tiny(r.icmp_code),
        remote_cidr: r.remote_cidr.clone(),
        remote_group: r.remote_group_id.clone(),
    }
}

impl NetworkWorker {
    pub fn new(
        settings: Settings,
        db: Db,
        runtime: Runtime,
        driver: Arc<NetworkPlugin>,
        policy: Policy,
        applier: Applier,
    ) -> Arc<NetworkWorker> {
        Arc::new(NetworkWorker {
            settings,
            db,
            runtime,
            driver,
            policy,
            applier,
            wake: Notify::new(),
            last: Mutex::new(None),
        })
    }

    /// Asks for a reconciliation soon (coalesced).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The last apply's report.
    pub async fn last_report(&self) -> Option<Report> {
        self.last.lock().await.clone()
    }

    /// The ports this worker serves.
    async fn my_ports(&self) -> Result<Vec<metacloud_db::ports::Port>, metacloud_db::DbError> {
        if self.settings.multi_host {
            return self.db.ports_on_host(&self.settings.host).await;
        }
        let mut all = Vec::new();
        for n in self.db.list_networks(None).await? {
            all.extend(self.db.ports_of_network(&n.id).await?);
        }
        Ok(all.into_iter().filter(|p| p.host.is_some()).collect())
    }

    /// This host's desired state, from the database.
    pub async fn desired(&self) -> Result<Desired, metacloud_db::DbError> {
        let db_ports = self.my_ports().await?;
        let used: BTreeSet<&str> = db_ports.iter().map(|p| p.network_id.as_str()).collect();
        let networks: Vec<Network> = self
            .db
            .list_networks(None)
            .await?
            .iter()
            .filter(|n| !self.settings.multi_host || used.contains(n.id.as_str()))
            .map(to_network)
            .collect();
        let mut ports = Vec::new();
        let mut group_ids = BTreeSet::new();
        for p in &db_ports {
            // An unbound port (made through the Network API) has no host either.
            let Some(instance) = &p.instance_id else {
                continue;
            };
            // DHCP hands out the short name (the first label of a chosen FQDN).
            let hostname = match self.db.get_instance(instance).await {
                Ok(i) => i
                    .hostname()
                    .split('.')
                    .next()
                    .unwrap_or_default()
                    .to_string(),
                Err(_) => continue,
            };
            let groups: Vec<String> = self
                .db
                .groups_of_instance(instance)
                .await?
                .into_iter()
                .map(|g| g.id)
                .collect();
            group_ids.extend(groups.iter().cloned());
            ports.push(Port {
                id: p.id.clone(),
                network_id: p.network_id.clone(),
                instance_id: instance.clone(),
                project_id: p.project_id.clone(),
                hostname,
                mac: p.mac.clone(),
                address: p.address.clone(),
                device: p.device.clone(),
                security_groups: groups,
            });
        }
        let ids: Vec<String> = group_ids.into_iter().collect();
        let groups = self
            .db
            .groups_with_members(&ids)
            .await?
            .into_iter()
            .map(|g| SecurityGroup {
                id: g.group.id.clone(),
                project_id: g.group.project_id.clone(),
                rules: g.rules.iter().map(to_rule).collect(),
                members: g.member_addresses,
            })
            .collect();
        let port_ids: Vec<String> = ports.iter().map(|p| p.id.clone()).collect();
        let floatings = self
            .db
            .floating_of_ports(&port_ids)
            .await?
            .into_iter()
            .filter_map(|f| {
                Some(Floating {
                    address: f.address,
                    pool: f.pool,
                    port_id: f.port_id?,
                })
            })
            .collect();
        let pools = self
            .db
            .list_floating_ranges()
            .await?
            .into_iter()
            .map(|r| Pool {
                name: r.pool,
                cidr: r.cidr,
                interface: r.interface,
                gateway: r.gateway,
            })
            .collect();
        Ok(Desired {
            host: self.settings.host.clone(),
            underlay_address: self.settings.underlay_address.clone(),
            underlay_interface: self.settings.underlay_interface.clone(),
            peers: self.settings.peers.clone(),
            networks,
            ports,
            groups,
            floatings,
            pools,
        })
    }

    /// The routers' gateways of `desired`'s networks whose pool is in `desired`.
    async fn gateways(
        &self,
        desired: &Desired,
    ) -> Result<Vec<crate::check::RouterGateway>, metacloud_db::DbError> {
        let mut out = Vec::new();
        for r in self.db.list_routers(None).await? {
            let (Some(ext), Some(address)) = (&r.external_network_id, &r.gateway_address) else {
                continue;
            };
            let Some(pool) = self.db.get_network(ext).await?.pool else {
                continue;
            };
            if !desired.pools.iter().any(|p| p.name == pool) {
                continue;
            }
            for i in &r.interfaces {
                if desired.networks.iter().any(|n| n.id == i.network_id) {
                    out.push(crate::check::RouterGateway {
                        network_id: i.network_id.clone(),
                        pool: pool.clone(),
                        address: address.clone(),
                    });
                }
            }
        }
        Ok(out)
    }

    /// Desired state → plan → check → apply, once.
    pub async fn reconcile(&self) -> Result<Report, ReconcileError> {
        let mut last = self.last.lock().await;
        let desired = self.desired().await?;
        let driver = self.driver.clone();
        let runtime = self.runtime.clone();
        let asked = desired.clone();
        let plan = tokio::task::spawn_blocking(move || driver.plan(&runtime, &asked))
            .await
            .map_err(|e| ReconcileError::Driver {
                driver: self.driver.name.clone(),
                reason: e.to_string(),
            })?
            .map_err(|e| ReconcileError::Driver {
                driver: self.driver.name.clone(),
                reason: e.to_string(),
            })?;
        let gateways = self.gateways(&desired).await?;
        let mut checked = check(&self.policy, desired, plan).map_err(|refusal| {
            tracing::error!(driver = %self.driver.name, %refusal, "network plan refused; nothing of it applied");
            ReconcileError::Refused {
                driver: self.driver.name.clone(),
                refusal,
            }
        })?;
        checked.gateways = gateways;
        let report = self.applier.apply(&checked).await;
        if report.errors.is_empty() {
            tracing::debug!(
                attached = report.attached.len(),
                waiting = report.waiting.len(),
                "network applied"
            );
        } else {
            tracing::warn!(errors = ?report.errors, "network applied with errors");
        }
        *last = Some(report.clone());
        Ok(report)
    }

    async fn fingerprint(&self) -> Option<i64> {
        self.db.network_generations_total().await.ok()
    }

    /// Reconciles now, on every wake, when the database changes, and periodically; ends
    /// within a second once every other handle on the worker is gone (its service stopped),
    /// so that nothing is re-made after whoever stopped it cleaned up.
    pub fn spawn(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let worker = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut seen = None;
            let mut woken = true;
            let mut last_full = tokio::time::Instant::now();
            loop {
                let Some(me) = worker.upgrade() else {
                    tracing::debug!("network worker stopped: reconciliation ends");
                    return;
                };
                let now = me.fingerprint().await;
                let due = last_full.elapsed() >= me.settings.reconcile_interval;
                if woken || now != seen || due {
                    if let Err(e) = me.reconcile().await {
                        tracing::error!(error = %e, "network reconciliation failed");
                    }
                    seen = now;
                    last_full = tokio::time::Instant::now();
                }
                woken = tokio::time::timeout(Duration::from_secs(1), me.wake.notified())
                    .await
                    .is_ok();
            }
        })
    }
}
