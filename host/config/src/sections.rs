//! One struct per `[section]` of the configuration file.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

type Check = Result<(), (String, String)>;

fn ensure(ok: bool, key: &str, reason: impl Into<String>) -> Check {
    if ok {
        Ok(())
    } else {
        Err((key.to_string(), reason.into()))
    }
}

/// `[service]`: what every process shares.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceConfig {
    /// This process's host name; a compute worker consumes `compute.<host>`.
    pub host: Option<String>,
    /// Data directory (database file, instances, image cache, clouds.yaml).
    pub data_dir: Option<PathBuf>,
    /// Seconds between heartbeats.
    pub report_interval_secs: u64,
    /// A service whose last heartbeat is older than this is `down`.
    pub service_down_time_secs: u64,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            host: None,
            data_dir: None,
            report_interval_secs: 10,
            service_down_time_secs: 60,
        }
    }
}

impl ServiceConfig {
    pub(crate) fn validate(&self) -> Check {
        ensure(
            self.report_interval_secs >= 1,
            "service.report_interval_secs",
            "must be at least 1",
        )?;
        ensure(
            self.service_down_time_secs > self.report_interval_secs,
            "service.service_down_time_secs",
            format!(
                "must be greater than service.report_interval_secs ({})",
                self.report_interval_secs
            ),
        )?;
        if let Some(host) = &self.host {
            ensure(
                !host.is_empty()
                    && host
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
                "service.host",
                "must be letters, digits, '-', '_' or '.'",
            )?;
        }
        Ok(())
    }
}

/// `[database]`: SQLite (default) or PostgreSQL.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` or `postgres://user@host:port/db`; default: SQLite in the data directory.
    pub url: Option<String>,
    pub max_connections: u32,
    pub connect_timeout_secs: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: None,
            max_connections: 10,
            connect_timeout_secs: 5,
        }
    }
}

impl DatabaseConfig {
    pub(crate) fn validate(&self) -> Check {
        if let Some(url) = &self.url {
            ensure(
                url.starts_with("sqlite:")
                    || url.starts_with("postgres://")
                    || url.starts_with("postgresql://"),
                "database.url",
                "must start with sqlite:, postgres:// or postgresql://",
            )?;
        }
        ensure(
            self.max_connections >= 1,
            "database.max_connections",
            "must be at least 1",
        )?;
        ensure(
            self.connect_timeout_secs >= 1,
            "database.connect_timeout_secs",
            "must be at least 1",
        )
    }
}

/// Which queue backend carries messages between services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueBackend {
    /// In-process bus: all services in one process.
    #[default]
    Embedded,
    /// RabbitMQ (AMQP 0-9-1) through lapin.
    Amqp,
}

/// `[queue]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    pub backend: QueueBackend,
    /// AMQP URL, e.g. `amqp://guest:guest@127.0.0.1:5672/%2f`.
    pub url: String,
    /// Prefix of every exchange and queue name, so several clouds can share one broker.
    pub namespace: String,
    /// Deadline of a request/reply call.
    pub call_timeout_secs: u64,
    /// Messages a consumer may hold unacknowledged (and work on concurrently).
    pub prefetch: u16,
    /// Upper bound of the reconnect backoff.
    pub reconnect_max_backoff_secs: u64,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            backend: QueueBackend::Embedded,
            url: "amqp://guest:guest@127.0.0.1:5672/%2f".into(),
            namespace: "metacloud".into(),
            call_timeout_secs: 60,
            prefetch: 64,
            reconnect_max_backoff_secs: 30,
        }
    }
}

impl QueueConfig {
    pub(crate) fn validate(&self) -> Check {
        if self.backend == QueueBackend::Amqp {
            ensure(
                self.url.starts_with("amqp://") || self.url.starts_with("amqps://"),
                "queue.url",
                "must start with amqp:// or amqps://",
            )?;
        }
        ensure(
            !self.namespace.is_empty()
                && self
                    .namespace
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
            "queue.namespace",
            "must be non-empty letters, digits, '-', '_' or '.'",
        )?;
        ensure(
            self.call_timeout_secs >= 1,
            "queue.call_timeout_secs",
            "must be at least 1",
        )?;
        ensure(self.prefetch >= 1, "queue.prefetch", "must be at least 1")
    }
}

/// `[api]`: the host API listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Address of the native host API (JSON over HTTP).
    pub listen: SocketAddr,
    /// Address of the OpenStack Compute API (Nova's port).
    pub compute_listen: SocketAddr,
    /// Address of the image API (Glance's port).
    pub image_listen: SocketAddr,
    /// Directory of API-dialect plugins (`*.wasm`). Without it, only the native API runs.
    pub plugin_dir: Option<std::path::PathBuf>,
    /// The dialects `compute_listen` serves, by the names they give themselves; their
    /// routes must not overlap.
    pub dialects: Vec<String>,
    /// The dialects `image_listen` serves (image data upload and download stay in the host).
    pub image_dialects: Vec<String>,
    /// Address of the EC2 Query API (Nova's EC2 port).
    pub ec2_listen: SocketAddr,
    /// The dialects `ec2_listen` serves.
    pub ec2_dialects: Vec<String>,
    /// How far an EC2 request's signed timestamp may be from the server's clock (seconds):
    /// older or newer requests are refused, so a captured request cannot be replayed later.
    pub ec2_max_skew_secs: u64,
    /// Address of the instance metadata service (Nova's metadata port). Instances reach it
    /// through a proxy that names them (`X-Instance-ID`, signed with `metadata_secret`).
    pub metadata_listen: SocketAddr,
    /// The dialects `metadata_listen` serves.
    pub metadata_dialects: Vec<String>,
    /// Address of the Network API (Neutron's port; clients add `/v2.0`).
    pub network_listen: SocketAddr,
    /// The dialects `network_listen` serves (`openstack-network`). Empty: no listener and no
    /// `network` entry in the catalog, so clients use Nova's network APIs (os-networks,
    /// os-floating-ips, os-security-groups) instead.
    pub network_dialects: Vec<String>,
    /// The secret metadata proxies sign instance ids with; better set through
    /// `METACLOUD_METADATA_SECRET`. Without one, a random secret is made once and kept in
    /// `<data_dir>/metadata-secret`.
    pub metadata_secret: Option<String>,
    /// Service token of the native API; better set through `METACLOUD_API_TOKEN`.
    /// Without one, a random token is made once and kept in `<data_dir>/api-token`.
    pub token: Option<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: "127.0.0.1:8780".parse().expect("static address"),
            compute_listen: "127.0.0.1:8774".parse().expect("static address"),
            image_listen: "127.0.0.1:9292".parse().expect("static address"),
            plugin_dir: None,
            dialects: vec!["openstack-compute".into(), "metacloud-admin".into()],
            image_dialects: vec!["openstack-image".into()],
            ec2_listen: "127.0.0.1:8773".parse().expect("static address"),
            ec2_dialects: vec!["ec2-query".into()],
            ec2_max_skew_secs: 300,
            metadata_listen: "127.0.0.1:8775".parse().expect("static address"),
            metadata_dialects: vec!["metadata".into()],
            network_listen: "127.0.0.1:9696".parse().expect("static address"),
            network_dialects: vec!["openstack-network".into()],
            metadata_secret: None,
            token: None,
        }
    }
}

impl ApiConfig {
    pub(crate) fn validate(&self) -> Check {
        ensure(
            (1..=3600).contains(&self.ec2_max_skew_secs),
            "api.ec2_max_skew_secs",
            "must be between 1 and 3600",
        )
    }
}

/// `[identity]`: the built-in identity service (a subset of Keystone v3).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityConfig {
    /// Address of the identity API (Keystone's port).
    pub listen: SocketAddr,
    /// The dialects `identity.listen` serves, from `api.plugin_dir`.
    pub dialects: Vec<String>,
    /// How long a token lives.
    pub token_ttl_secs: u64,
    /// The region every catalog endpoint belongs to.
    pub region: String,
    /// Base URL clients reach each service at; default `http://<listen>`. The identity one
    /// gets `/v3` appended, compute `/v2.1`.
    pub public_identity_url: Option<String>,
    pub public_compute_url: Option<String>,
    pub public_image_url: Option<String>,
    /// The Network API's URL in the catalog (default: from `api.network_listen`).
    pub public_network_url: Option<String>,
    /// Bootstrapped at start when missing: the admin user and project, and a demo member.
    pub admin_user: String,
    pub admin_project: String,
    pub demo_user: String,
    pub demo_project: String,
    /// Better set through `METACLOUD_ADMIN_PASSWORD` / `METACLOUD_DEMO_PASSWORD`. Without
    /// them, random passwords are made once and kept in `<data_dir>/bootstrap-passwords`.
    pub admin_password: Option<String>,
    pub demo_password: Option<String>,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            listen: "127.0.0.1:5000".parse().expect("static address"),
            dialects: vec!["openstack-identity".into()],
            token_ttl_secs: 3600,
            region: "RegionOne".into(),
            public_identity_url: None,
            public_compute_url: None,
            public_image_url: None,
            public_network_url: None,
            admin_user: "admin".into(),
            admin_project: "admin".into(),
            demo_user: "demo".into(),
            demo_project: "demo".into(),
            admin_password: None,
            demo_password: None,
        }
    }
}

impl IdentityConfig {
    pub(crate) fn validate(&self) -> Check {
        ensure(
            (60..=7 * 86_400).contains(&self.token_ttl_secs),
            "identity.token_ttl_secs",
            "must be between 60 and 604800 (7 days)",
        )?;
        for (key, v) in [
            ("identity.admin_user", &self.admin_user),
            ("identity.admin_project", &self.admin_project),
            ("identity.demo_user", &self.demo_user),
            ("identity.demo_project", &self.demo_project),
            ("identity.region", &self.region),
        ] {
            ensure(!v.trim().is_empty(), key, "must not be empty")?;
        }
        for (key, v) in [
            ("identity.public_identity_url", &self.public_identity_url),
            ("identity.public_compute_url", &self.public_compute_url),
            ("identity.public_image_url", &self.public_image_url),
            ("identity.public_network_url", &self.public_network_url),
        ] {
            if let Some(url) = v {
                ensure(
                    url.starts_with("http://") || url.starts_with("https://"),
                    key,
                    "must be an http:// or https:// URL",
                )?;
            }
        }
        Ok(())
    }
}

/// `[conductor]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConductorConfig {
    /// Tries per instance (first placement plus reschedules) before `ERROR`.
    pub max_attempts: u32,
    /// An instance still building on a host that is down this long is rescheduled or failed.
    pub build_timeout_secs: u64,
    /// Seconds between the conductor's checks for stuck builds.
    pub periodic_interval_secs: u64,
}

impl Default for ConductorConfig {
    fn default() -> Self {
        ConductorConfig {
            max_attempts: 3,
            build_timeout_secs: 600,
            periodic_interval_secs: 10,
        }
    }
}

impl ConductorConfig {
    pub(crate) fn validate(&self) -> Check {
        ensure(
            (1..=100).contains(&self.max_attempts),
            "conductor.max_attempts",
            "must be between 1 and 100",
        )?;
        ensure(
            self.periodic_interval_secs >= 1,
            "conductor.periodic_interval_secs",
            "must be at least 1",
        )
    }
}

/// Filters the native scheduler knows (Nova's names).
pub const NATIVE_FILTERS: &[&str] = &[
    "ComputeFilter",
    "AvailabilityZoneFilter",
    "VCPUFilter",
    "RamFilter",
    "DiskFilter",
    "ComputeCapabilitiesFilter",
    "ImagePropertiesFilter",
    "SameHostFilter",
    "DifferentHostFilter",
    "NumInstancesFilter",
    "IoOpsFilter",
    "ServerGroupAffinityFilter",
    "ServerGroupAntiAffinityFilter",
    "AggregateInstanceExtraSpecsFilter",
    "AggregateMultiTenancyIsolation",
];

/// Weighers the native scheduler knows (Nova's names).
pub const NATIVE_WEIGHERS: &[&str] = &[
    "RAMWeigher",
    "CPUWeigher",
    "DiskWeigher",
    "NumInstancesWeigher",
    "BuildFailureWeigher",
    "IoOpsWeigher",
    "ServerGroupSoftAffinityWeigher",
    "ServerGroupSoftAntiAffinityWeigher",
];

/// One weigher and its multiplier.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WeigherConfig {
    pub name: String,
    pub multiplier: f64,
}

/// Where the scheduler's filters and weighers come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SchedulerDriver {
    /// Nova's filters and weighers compiled into the host (the benchmark baseline).
    #[default]
    Native,
    /// WebAssembly plugins from `plugin_dir`, named by the names they give themselves.
    Wasm,
}

/// `[scheduler]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerConfig {
    pub driver: SchedulerDriver,
    /// Directory of plugin components (`*.wasm`) for the `wasm` driver.
    pub plugin_dir: Option<PathBuf>,
    /// Per-plugin settings, by plugin name: `[scheduler.plugin_config.NumInstancesFilter]`.
    pub plugin_config:
        std::collections::BTreeMap<String, std::collections::BTreeMap<String, toml::Value>>,
    /// Filters in the order they run.
    pub filters: Vec<String>,
    pub weighers: Vec<WeigherConfig>,
    /// Pick randomly among the best N hosts (Nova's `host_subset_size`).
    pub host_subset_size: usize,
    /// Hosts with more instances are filtered out by `NumInstancesFilter`.
    pub max_instances_per_host: u32,
    /// Hosts with more instances building (I/O ops) are filtered out by `IoOpsFilter`.
    pub max_io_ops_per_host: u32,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        let w = |name: &str, multiplier: f64| WeigherConfig {
            name: name.into(),
            multiplier,
        };
        SchedulerConfig {
            filters: [
                "ComputeFilter",
                "AvailabilityZoneFilter",
                "VCPUFilter",
                "RamFilter",
                "DiskFilter",
                "ComputeCapabilitiesFilter",
                "ImagePropertiesFilter",
                "ServerGroupAntiAffinityFilter",
                "ServerGroupAffinityFilter",
            ]
            .map(String::from)
            .to_vec(),
            weighers: vec![
                w("RAMWeigher", 1.0),
                w("CPUWeigher", 1.0),
                w("DiskWeigher", 1.0),
                w("NumInstancesWeigher", 0.0),
                w("IoOpsWeigher", -1.0),
                w("ServerGroupSoftAffinityWeigher", 1.0),
                w("ServerGroupSoftAntiAffinityWeigher", 1.0),
                w("BuildFailureWeigher", 1_000_000.0),
            ],
            host_subset_size: 1,
            max_instances_per_host: 50,
            max_io_ops_per_host: 8,
            driver: SchedulerDriver::Native,
            plugin_dir: None,
            plugin_config: Default::default(),
        }
    }
}

impl SchedulerConfig {
    pub(crate) fn validate(&self) -> Check {
        if self.driver == SchedulerDriver::Wasm {
            ensure(
                self.plugin_dir.is_some(),
                "scheduler.plugin_dir",
                "must be set when scheduler.driver = \"wasm\"",
            )?;
        }
        let native = self.driver == SchedulerDriver::Native;
        for (i, f) in self.filters.iter().enumerate() {
            ensure(
                !native || NATIVE_FILTERS.contains(&f.as_str()),
                &format!("scheduler.filters[{i}]"),
                format!("unknown filter {f:?}; known: {}", NATIVE_FILTERS.join(", ")),
            )?;
        }
        for (i, w) in self.weighers.iter().enumerate() {
            ensure(
                !native || NATIVE_WEIGHERS.contains(&w.name.as_str()),
                &format!("scheduler.weighers[{i}]"),
                format!(
                    "unknown weigher {:?}; known: {}",
                    w.name,
                    NATIVE_WEIGHERS.join(", ")
                ),
            )?;
            ensure(
                w.multiplier.is_finite(),
                &format!("scheduler.weighers[{i}]"),
                "multiplier must be a finite number",
            )?;
        }
        ensure(
            self.host_subset_size >= 1,
            "scheduler.host_subset_size",
            "must be at least 1",
        )
    }
}

/// Which libvirt domain type real guests use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VirtType {
    /// KVM only where a probe guest really runs under it, else TCG.
    #[default]
    Auto,
    Kvm,
    Qemu,
}

/// `[compute]`: the compute worker and its hypervisor.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ComputeConfig {
    /// libvirt connection URI: `test:///default` (simulated) or `qemu:///system`.
    pub libvirt_uri: String,
    pub virt_type: VirtType,
    /// Availability zone of this host.
    pub availability_zone: String,
    /// Per-instance directories (overlay disk, console log).
    pub instances_path: Option<PathBuf>,
    /// Downloaded base images.
    pub image_cache_path: Option<PathBuf>,
    pub cpu_allocation_ratio: f64,
    pub ram_allocation_ratio: f64,
    pub disk_allocation_ratio: f64,
    pub reserved_host_memory_mb: u64,
    pub reserved_host_disk_gb: u64,
    /// Seconds between power-state syncs with the hypervisor.
    pub power_sync_interval_secs: u64,
    /// Seconds a graceful (ACPI) stop may take before the domain is destroyed.
    pub shutdown_timeout_secs: u64,
    /// Seconds a new guest has to write its first console output; one that does not (or
    /// that crashes or is paused on an error before) is stopped and its instance put in
    /// ERROR with a fault that says why. 0 turns the watch off (images that keep their
    /// serial console silent).
    pub boot_timeout_secs: u64,
    /// Where guests' VNC and SPICE consoles listen (the console proxies connect here).
    pub graphics_listen: std::net::IpAddr,
    /// The power sync destroys `instance-*` domains the database does not know, once seen
    /// on two passes in a row (otherwise it only logs them).
    pub destroy_unknown_domains: bool,
    /// Override the resources libvirt reports (for simulated fleets).
    pub override_vcpus: Option<u64>,
    pub override_memory_mb: Option<u64>,
    pub override_disk_gb: Option<u64>,
    /// Fault injection for tests and benchmarks: wait this long before spawning each guest.
    pub debug_spawn_delay_ms: u64,
}

impl Default for ComputeConfig {
    fn default() -> Self {
        ComputeConfig {
            libvirt_uri: "test:///default".into(),
            virt_type: VirtType::Auto,
            availability_zone: "nova".into(),
            instances_path: None,
            image_cache_path: None,
            cpu_allocation_ratio: 4.0,
            ram_allocation_ratio: 1.0,
            disk_allocation_ratio: 1.0,
            reserved_host_memory_mb: 512,
            reserved_host_disk_gb: 0,
            power_sync_interval_secs: 10,
            shutdown_timeout_secs: 60,
            boot_timeout_secs: 120,
            graphics_listen: std::net::Ipv4Addr::LOCALHOST.into(),
            destroy_unknown_domains: false,
            override_vcpus: None,
            override_memory_mb: None,
            override_disk_gb: None,
            debug_spawn_delay_ms: 0,
        }
    }
}

impl ComputeConfig {
    pub(crate) fn validate(&self) -> Check {
        ensure(
            self.libvirt_uri.contains(":///") || self.libvirt_uri.contains("://"),
            "compute.libvirt_uri",
            "must be a libvirt URI such as test:///default or qemu:///system",
        )?;
        for (key, ratio) in [
            ("compute.cpu_allocation_ratio", self.cpu_allocation_ratio),
            ("compute.ram_allocation_ratio", self.ram_allocation_ratio),
            ("compute.disk_allocation_ratio", self.disk_allocation_ratio),
        ] {
            ensure(
                ratio.is_finite() && ratio > 0.0,
                key,
                "must be a number greater than 0",
            )?;
        }
        ensure(
            self.power_sync_interval_secs >= 1,
            "compute.power_sync_interval_secs",
            "must be at least 1",
        )?;
        ensure(
            self.boot_timeout_secs <= 3600,
            "compute.boot_timeout_secs",
            "must be at most 3600 (0 turns the boot watch off)",
        )?;
        ensure(
            !self.availability_zone.is_empty(),
            "compute.availability_zone",
            "must not be empty",
        )
    }
}

/// `[plugins]`: limits every plugin call runs under, and the compilation cache.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginsConfig {
    /// Linear memory one plugin instance may use.
    pub memory_limit_mb: u64,
    /// Deadline of one plugin call.
    pub call_timeout_ms: u64,
    /// Compiled components are kept here (default: `<data_dir>/plugin-cache`).
    pub cache_dir: Option<PathBuf>,
}

impl Default for PluginsConfig {
    fn default() -> Self {
        PluginsConfig {
            memory_limit_mb: 64,
            call_timeout_ms: 500,
            cache_dir: None,
        }
    }
}

impl PluginsConfig {
    pub(crate) fn validate(&self) -> Check {
        ensure(
            (1..=4096).contains(&self.memory_limit_mb),
            "plugins.memory_limit_mb",
            "must be between 1 and 4096",
        )?;
        ensure(
            (1..=60_000).contains(&self.call_timeout_ms),
            "plugins.call_timeout_ms",
            "must be between 1 and 60000",
        )
    }
}

/// `[network]`: the network worker and its driver plugin.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkConfig {
    /// The driver plugin (`flat`, `flat-dhcp`, `vlan`, or a third party's), by the name it
    /// gives itself, from `plugin_dir`. Empty: no network worker runs and guests get a
    /// user-mode NIC only (addresses are still allocated and shown).
    pub driver: String,
    /// Directory of network driver components (`*.wasm`).
    pub plugin_dir: Option<PathBuf>,
    /// The driver's own settings (`lease_seconds`, `domain`, …).
    pub driver_config: std::collections::BTreeMap<String, toml::Value>,
    /// A network worker on every compute host (nova-network's `multi_host`); otherwise one
    /// worker serves every network.
    pub multi_host: bool,
    /// Interfaces of the host's own namespace that plans may use: operators' bridges (flat
    /// networks, floating pools, uplinks) and the underlay. Nothing else is ever touched.
    pub allowed_interfaces: Vec<String>,
    /// The underlay interface and this host's address on it, for VXLAN segments between
    /// hosts; `peers` are the other network hosts' underlay addresses.
    pub underlay_interface: Option<String>,
    pub underlay_address: Option<std::net::Ipv4Addr>,
    pub peers: Vec<std::net::Ipv4Addr>,
    /// Where the worker keeps its DHCP files and pid files (default `<data_dir>/network`).
    pub state_dir: Option<PathBuf>,
    /// The port the metadata proxy listens on inside each network's namespace (guests'
    /// requests to 169.254.169.254:80 are redirected there).
    pub metadata_proxy_port: u16,
    /// Seconds between full reconciliations (changes are applied as they happen; this
    /// heals drift).
    pub reconcile_interval_secs: u64,
    /// Networks the worker makes at start when no network has their name (shared by every
    /// project), so that a first guest gets an address without an operator step:
    /// `[[network.networks]] name = "private", cidr = "10.0.0.0/24"`.
    pub networks: Vec<DeclaredNetwork>,
    /// nova-network's `auto_assign_floating_ip`: every new port also gets a floating
    /// address from `default_floating_pool`, given back to the pool with the port.
    pub auto_assign_floating_ip: bool,
    /// The pool of floating addresses used when a request names none (Nova's
    /// `default_floating_pool`).
    pub default_floating_pool: String,
}

/// A network declared in the configuration.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DeclaredNetwork {
    pub name: String,
    pub cidr: String,
    #[serde(default)]
    pub dns: Vec<String>,
    /// The segment (VXLAN VNI) for the `vlan` driver.
    #[serde(default)]
    pub segment: Option<i64>,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            driver: String::new(),
            plugin_dir: None,
            driver_config: Default::default(),
            multi_host: false,
            allowed_interfaces: Vec::new(),
            underlay_interface: None,
            underlay_address: None,
            peers: Vec::new(),
            state_dir: None,
            metadata_proxy_port: 8775,
            reconcile_interval_secs: 60,
            networks: Vec::new(),
            auto_assign_floating_ip: false,
            default_floating_pool: "nova".into(),
        }
    }
}

impl NetworkConfig {
    /// Whether a network worker runs (a driver is named).
    pub fn enabled(&self) -> bool {
        !self.driver.is_empty()
    }

    pub(crate) fn validate(&self) -> Check {
        ensure(
            !self.enabled() || self.plugin_dir.is_some(),
            "network.plugin_dir",
            "must name the directory of network driver plugins when network.driver is set",
        )?;
        ensure(
            self.underlay_interface.is_some() == self.underlay_address.is_some(),
            "network.underlay_address",
            "network.underlay_interface and network.underlay_address go together",
        )?;
        for name in self
            .allowed_interfaces
            .iter()
            .chain(self.underlay_interface.iter())
        {
            ensure(
                !name.is_empty()
                    && name.len() <= 15
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
                "network.allowed_interfaces",
                format!("{name:?} is not an interface name"),
            )?;
        }
        if let Some(u) = &self.underlay_interface {
            ensure(
                self.allowed_interfaces.contains(u),
                "network.underlay_interface",
                format!("{u} must also be in network.allowed_interfaces"),
            )?;
        }
        ensure(
            self.metadata_proxy_port != 0,
            "network.metadata_proxy_port",
            "must not be 0",
        )?;
        for n in &self.networks {
            ensure(
                !n.name.is_empty() && n.cidr.contains('/'),
                "network.networks",
                format!("{:?} needs a name and a CIDR such as 10.0.0.0/24", n.name),
            )?;
        }
        ensure(
            !self.default_floating_pool.trim().is_empty(),
            "network.default_floating_pool",
            "must name a pool of floating addresses",
        )?;
        ensure(
            (1..=86_400).contains(&self.reconcile_interval_secs),
            "network.reconcile_interval_secs",
            "must be between 1 and 86400",
        )
    }
}
