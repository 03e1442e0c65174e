//! Starting services: the roles of the `metacloud` binary, also used in-process by tests
//! and benchmarks.
//!
//! Each role connects only what it needs: the API and the conductor a database pool, the
//! compute worker its hypervisor, everyone the queue. The same code runs all-in-one on
//! embedded defaults (SQLite, in-process bus, `test:///default`) and split over machines
//! (PostgreSQL, RabbitMQ, `qemu:///system`); only the configuration differs.

use metacloud_api::ComputeApi;
use metacloud_compute::ComputeWorker;
use metacloud_conductor::Conductor;
use metacloud_config::{Config, QueueBackend, VirtType};
use metacloud_db::quotas::DefaultLimits;
use metacloud_db::Db;
use metacloud_gateway::listeners::{self, DialectList, ListenError};
use metacloud_gateway::native::{self as http, AppState};
use metacloud_queue::amqp::AmqpBus;
use metacloud_queue::embedded::EmbeddedBus;
use metacloud_queue::{Bus, Consumer};
use metacloud_rpc::{conductor, topics, Rpc};
use metacloud_scheduler::Scheduler;
use metacloud_virt::libvirt::{LibvirtDriver, LibvirtOptions};
use metacloud_virt::Driver;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

/// A role of the binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Api,
    Scheduler,
    Conductor,
    Compute,
    /// The network worker (runs only when `network.driver` names a driver).
    Network,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Api,
        Role::Conductor,
        Role::Scheduler,
        Role::Network,
        Role::Compute,
    ];

    pub fn binary(self) -> &'static str {
        match self {
            Role::Api => "metacloud-api",
            Role::Scheduler => "metacloud-scheduler",
            Role::Conductor => "metacloud-conductor",
            Role::Compute => "metacloud-compute",
            Role::Network => "metacloud-network",
        }
    }
}

/// Why a service could not start; the message is one line naming the cause.
#[derive(Debug, Error)]
pub enum StartError {
    #[error("{0}")]
    Database(metacloud_db::DbError),
    #[error("{0}")]
    Queue(metacloud_queue::QueueError),
    #[error("{0}")]
    Hypervisor(metacloud_virt::VirtError),
    #[error("cannot listen on {addr} ({key}): {reason}")]
    Listen {
        addr: SocketAddr,
        key: &'static str,
        reason: String,
    },
    #[error("cannot keep a secret in {path}: {reason}")]
    Token { path: String, reason: String },
    #[error("{role} failed to start: {reason}")]
    Service { role: &'static str, reason: String },
}

/// Running services of this process.
pub struct Running {
    pub consumers: Vec<Consumer>,
    pub api: Option<ComputeApi>,
    pub api_addr: Option<SocketAddr>,
    pub api_token: Option<String>,
    pub identity: Option<metacloud_identity::Identity>,
    pub identity_addr: Option<SocketAddr>,
    /// The OpenStack Compute API, when a dialect plugin serves it.
    pub compute_addr: Option<SocketAddr>,
    /// The API dialects served on `compute_addr` (reloadable).
    pub dialects: Option<Arc<metacloud_gateway::DialectService>>,
    /// Where the EC2 Query API listens.
    pub ec2_addr: Option<SocketAddr>,
    /// Where the metadata service listens.
    pub metadata_addr: Option<SocketAddr>,
    /// Where the Network API listens (when `api.network_dialects` names one).
    pub network_addr: Option<SocketAddr>,
    /// The dialects of every listener (identity, image, compute, EC2), for SIGHUP.
    pub all_dialects: Vec<Arc<metacloud_gateway::DialectService>>,
    pub image_addr: Option<SocketAddr>,
    pub computes: Vec<Arc<ComputeWorker>>,
    /// The network worker, when `network.driver` is set.
    pub network: Option<Arc<metacloud_network::worker::NetworkWorker>>,
    pub scheduler: Option<Arc<Scheduler>>,
    pub bus: Arc<dyn Bus>,
    pub db: Option<Db>,
    /// One line per service: where it listens.
    pub listening: Vec<(String, String)>,
}

impl Running {
    /// Stops taking messages; in-flight work finishes.
    pub fn stop(self) {
        for c in self.consumers {
            c.stop();
        }
    }
}

/// Connects the queue named in config.
pub async fn connect_queue(config: &Config) -> Result<Arc<dyn Bus>, StartError> {
    let q = &config.queue;
    Ok(match q.backend {
        QueueBackend::Embedded => Arc::new(EmbeddedBus::new(q.prefetch as usize)),
        QueueBackend::Amqp => Arc::new(
            AmqpBus::connect(
                &q.url,
                &q.namespace,
                q.prefetch,
                Duration::from_secs(q.reconnect_max_backoff_secs),
            )
            .await
            .map_err(StartError::Queue)?,
        ),
    })
}

/// Connects the database and brings its schema up to date.
pub async fn connect_db(config: &Config) -> Result<Db, StartError> {
    let db = Db::connect(
        config.database_url(),
        config.database.max_connections,
        Duration::from_secs(config.database.connect_timeout_secs),
    )
    .await
    .map_err(StartError::Database)?;
    db.migrate().await.map_err(StartError::Database)?;
    Ok(db)
}

/// Opens the hypervisor named in config.
pub fn open_driver(config: &Config) -> Result<Arc<dyn Driver>, StartError> {
    let c = &config.compute;
    let domain_type = if c.libvirt_uri.starts_with("test:") {
        "test"
    } else {
        match c.virt_type {
            VirtType::Kvm => "kvm",
            VirtType::Qemu => "qemu",
            VirtType::Auto => "auto",
        }
    };
    let driver = LibvirtDriver::open(
        &c.libvirt_uri,
        LibvirtOptions {
            instances_path: c.instances_path.clone().unwrap_or_default(),
            image_cache_path: c.image_cache_path.clone().unwrap_or_default(),
            domain_type: domain_type.to_string(),
            owner: config.host(),
            graphics_listen: c.graphics_listen.to_string(),
            override_vcpus: c.override_vcpus,
            override_memory_mb: c.override_memory_mb,
            override_disk_gb: c.override_disk_gb,
        },
    )
    .map_err(StartError::Hypervisor)?;
    Ok(Arc::new(driver))
}

fn api_token(config: &Config) -> Result<String, StartError> {
    kept_secret(config, config.api.token.as_deref(), "api-token")
}

/// `given`, else the secret kept in `<data_dir>/<file>`, made (random, mode 0600) the
/// first time.
fn kept_secret(config: &Config, given: Option<&str>, file: &str) -> Result<String, StartError> {
    if let Some(secret) = given {
        return Ok(secret.to_string());
    }
    let path = config.data_dir().join(file);
    let err = |e: std::io::Error| StartError::Token {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    match std::fs::read_to_string(&path) {
        Ok(t) if !t.trim().is_empty() => return Ok(t.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e)),
    }
    std::fs::create_dir_all(config.data_dir()).map_err(err)?;
    let token = uuid::Uuid::new_v4().simple().to_string();
    let tmp = path.with_extension("tmp");
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(err)?;
        f.write_all(token.as_bytes()).map_err(err)?;
    }
    std::fs::rename(&tmp, &path).map_err(err)?;
    Ok(token)
}

/// Sends this service's heartbeat to the conductor every `report_interval`.
pub fn spawn_heartbeat(rpc: Rpc, binary: &'static str, host: String, interval: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let req = conductor::Request::ServiceReport {
                binary: binary.into(),
                host: host.clone(),
                node: None,
            };
            if let Err(e) = rpc.cast(topics::CONDUCTOR, &req).await {
                tracing::warn!(error = %e, "heartbeat failed");
            }
        }
    });
}

/// Binds a listener; the error names the config key.
async fn bind(
    addr: SocketAddr,
    key: &'static str,
) -> Result<(tokio::net::TcpListener, SocketAddr), StartError> {
    let fail = |e: std::io::Error| StartError::Listen {
        addr,
        key,
        reason: e.to_string(),
    };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(fail)?;
    let bound = listener.local_addr().map_err(fail)?;
    Ok((listener, bound))
}

/// The network worker: its driver plugin, the reconcile loop, metadata proxies forwarding
/// to this process's metadata listener (or `api.metadata_listen`).
async fn start_network(
    config: &Config,
    db: &Db,
    rpc: &Rpc,
    running: &mut Running,
) -> Result<(), StartError> {
    let mut upstream = running.metadata_addr.unwrap_or(config.api.metadata_listen);
    if upstream.ip().is_unspecified() {
        upstream.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let secret = kept_secret(
        config,
        config.api.metadata_secret.as_deref(),
        "metadata-secret",
    )?;
    let metadata = metacloud_network::service::MetadataUpstream {
        address: upstream,
        secret: secret.into(),
    };
    let (worker, consumer) =
        metacloud_network::service::start(config, db.clone(), rpc.clone(), metadata)
            .await
            .map_err(|e| StartError::Service {
                role: "network",
                reason: e.to_string(),
            })?;
    running.consumers.push(consumer);
    running.listening.push((
        "network".into(),
        format!(
            "driver `{}`, queue topic `{}`",
            worker.driver.name,
            topics::network(&config.host(), config.network.multi_host)
        ),
    ));
    running.network = Some(worker);
    Ok(())
}

/// The identity service beside the API: bootstrap (accounts, `clouds.yaml`), then every
/// listener of the gateway's table (identity, image, compute, and EC2 and metadata when
/// they have dialects), each serving its WASM dialects from `api.plugin_dir` (without one,
/// only the native API runs). The catalog names the addresses actually bound.
async fn start_identity(config: &Config, db: &Db, running: &mut Running) -> Result<(), StartError> {
    let fail = |e: metacloud_identity::IdentityError| StartError::Service {
        role: "identity",
        reason: e.to_string(),
    };
    if config.api.plugin_dir.is_none() {
        tracing::warn!(
            "api.plugin_dir is not set: no identity, image or compute API (only the native API)"
        );
        return Ok(());
    };
    let Some(api) = running.api.clone() else {
        return Ok(());
    };
    let mut config = config.clone();
    let bound = listeners::bind(&mut config).await.map_err(listen_error)?;
    let identity = metacloud_identity::Identity::new(db.clone(), &config)
        .await
        .map_err(fail)?;
    let boot = metacloud_identity::bootstrap::bootstrap(&identity, &config)
        .await
        .map_err(fail)?;
    let images = metacloud_image::Images::new(db.clone(), config.data_dir().join("images"));
    let runtime = plugin_runtime(&config)?;
    let backends = metacloud_gateway::Backends {
        identity: identity.clone(),
        api,
        images: images.clone(),
        // Where computes upload snapshots: the image endpoint of the catalog.
        image_url: config
            .identity
            .public_image_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", config.api.image_listen)),
        ec2_max_skew: Duration::from_secs(config.api.ec2_max_skew_secs),
        metadata_secret: kept_secret(
            &config,
            config.api.metadata_secret.as_deref(),
            "metadata-secret",
        )?
        .into(),
    };
    let watch = Duration::from_secs(1);
    let serving =
        listeners::serve(bound, &config, &runtime, &backends, watch).map_err(listen_error)?;
    for s in serving {
        let (list, addr) = (s.list, s.addr);
        let dialects = list.names(&config).join(", ");
        let shown = match list {
            DialectList::Identity => format!(
                "http://{addr}/v3 (clients: export OS_CLIENT_CONFIG_FILE={}; openstack --os-cloud metacloud …)",
                boot.clouds_yaml.display()
            ),
            DialectList::Image => format!(
                "http://{addr} (image API, store {})",
                images.store().display()
            ),
            DialectList::Compute => format!("http://{addr}/v2.1 (WASM dialects: {dialects})"),
            DialectList::Ec2 => format!(
                "http://{addr}/ (WASM dialects: {dialects}; credentials: openstack ec2 credentials create)"
            ),
            DialectList::Metadata => format!(
                "http://{addr}/ (WASM dialects: {dialects}; instances named by a proxy signing with api.metadata_secret)"
            ),
            DialectList::Network => {
                format!("http://{addr}/v2.0 (Network API; WASM dialects: {dialects})")
            }
        };
        running.listening.push((list.name().into(), shown));
        match list {
            DialectList::Identity => running.identity_addr = Some(addr),
            DialectList::Image => running.image_addr = Some(addr),
            DialectList::Compute => {
                running.compute_addr = Some(addr);
                running.dialects = Some(s.service.clone());
            }
            DialectList::Ec2 => running.ec2_addr = Some(addr),
            DialectList::Metadata => running.metadata_addr = Some(addr),
            DialectList::Network => running.network_addr = Some(addr),
        }
        running.all_dialects.push(s.service);
    }
    running.identity = Some(identity);
    Ok(())
}

fn listen_error(e: ListenError) -> StartError {
    match e {
        ListenError::Bind { addr, key, reason } => StartError::Listen { addr, key, reason },
        ListenError::Dialects { reason, .. } => StartError::Service {
            role: "api",
            reason,
        },
    }
}

fn plugin_runtime(config: &Config) -> Result<metacloud_plugins::Runtime, StartError> {
    metacloud_plugins::Runtime::new(
        metacloud_plugins::PluginLimits {
            memory_bytes: (config.plugins.memory_limit_mb << 20) as usize,
            deadline: Duration::from_millis(config.plugins.call_timeout_ms),
        },
        config.plugins.cache_dir.clone(),
    )
    .map_err(|e| StartError::Service {
        role: "api",
        reason: e.to_string(),
    })
}

/// Starts `roles` in this process with one queue connection and one database pool.
pub async fn start(config: &Config, roles: &[Role]) -> Result<Running, StartError> {
    let bus = connect_queue(config).await?;
    start_on(config, roles, bus).await
}

/// Starts `roles` on an existing bus (several simulated hosts in one process share one).
pub async fn start_on(
    config: &Config,
    roles: &[Role],
    bus: Arc<dyn Bus>,
) -> Result<Running, StartError> {
    let rpc = Rpc::new(
        bus.clone(),
        Duration::from_secs(config.queue.call_timeout_secs),
    );
    let host = config.host();
    let network = roles.contains(&Role::Network) && config.network.enabled();
    let needs_db = roles.contains(&Role::Api) || roles.contains(&Role::Conductor) || network;
    let db = if needs_db {
        Some(connect_db(config).await?)
    } else {
        None
    };
    let driver = if roles.contains(&Role::Compute) {
        Some(open_driver(config)?)
    } else {
        None
    };
    let mut running = Running {
        consumers: vec![],
        api: None,
        api_addr: None,
        api_token: None,
        identity: None,
        identity_addr: None,
        compute_addr: None,
        dialects: None,
        all_dialects: vec![],
        ec2_addr: None,
        metadata_addr: None,
        network_addr: None,
        image_addr: None,
        computes: vec![],
        network: None,
        scheduler: None,
        bus: bus.clone(),
        db: db.clone(),
        listening: vec![],
    };
    let service_err = |role: &'static str| {
        move |e: anyhow::Error| StartError::Service {
            role,
            reason: e.to_string(),
        }
    };
    let interval = Duration::from_secs(config.service.report_interval_secs);
    // The conductor first: everyone else reports to it.
    if let (true, Some(db)) = (roles.contains(&Role::Conductor), &db) {
        let conductor = Conductor::new(config, db.clone(), rpc.clone());
        running
            .consumers
            .push(conductor.start().await.map_err(service_err("conductor"))?);
        spawn_heartbeat(
            rpc.clone(),
            Role::Conductor.binary(),
            host.clone(),
            interval,
        );
        running.listening.push((
            "conductor".into(),
            format!("queue topic `{}`", topics::CONDUCTOR),
        ));
    }
    if roles.contains(&Role::Scheduler) {
        let scheduler = Scheduler::new(config).map_err(|e| StartError::Service {
            role: "scheduler",
            reason: e.to_string(),
        })?;
        running.consumers.extend(
            scheduler
                .start(&rpc)
                .await
                .map_err(service_err("scheduler"))?,
        );
        if config.scheduler.driver == metacloud_config::SchedulerDriver::Wasm {
            scheduler.spawn_watch(Duration::from_secs(1));
        }
        spawn_heartbeat(
            rpc.clone(),
            Role::Scheduler.binary(),
            host.clone(),
            interval,
        );
        running.listening.push((
            "scheduler".into(),
            format!(
                "queue topic `{}` ({})",
                topics::SCHEDULER,
                scheduler.describe()
            ),
        ));
        running.scheduler = Some(scheduler);
    }
    if let (true, Some(db)) = (roles.contains(&Role::Api), &db) {
        let token = api_token(config)?;
        let limits = DefaultLimits::default();
        let api = ComputeApi::new(
            db.clone(),
            rpc.clone(),
            limits,
            config.service.service_down_time_secs as i64 * 1000,
        )
        .with_floating(
            &config.network.default_floating_pool,
            config.network.auto_assign_floating_ip,
        );
        let (listener, addr) = bind(config.api.listen, "api.listen").await?;
        let app = http::router(AppState {
            api: api.clone(),
            token: Arc::new(token.clone()),
        });
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "API server stopped");
            }
        });
        spawn_heartbeat(rpc.clone(), Role::Api.binary(), host.clone(), interval);
        running
            .listening
            .push(("api".into(), format!("http://{addr}")));
        running.api = Some(api);
        running.api_addr = Some(addr);
        running.api_token = Some(token);
        start_identity(config, db, &mut running).await?;
    }
    if let (true, Some(db)) = (network, &db) {
        start_network(config, db, &rpc, &mut running).await?;
    } else if roles.contains(&Role::Network) && roles.len() == 1 {
        tracing::warn!("network.driver is not set: no network worker runs");
    }
    if let Some(driver) = driver {
        let description = driver.describe();
        let worker = ComputeWorker::new(config, host.clone(), rpc.clone(), driver);
        running
            .consumers
            .push(worker.start().await.map_err(service_err("compute"))?);
        running.listening.push((
            "compute".into(),
            format!(
                "host `{host}` on {description}, queue topic `{}`",
                topics::compute(&host)
            ),
        ));
        running.computes.push(worker);
    }
    Ok(running)
}
