//! `GET /v2.1/servers/detail` with 100 servers through the OpenStack dialect plugin:
//! latency (one client) and requests per second (8 concurrent clients), plus the plugin's
//! own share (instantiate, lower 100 server records, shape JSON, lift the response) measured
//! on canned input.
//!
//! `scripts/build-plugins.sh && cargo bench -p metacloud-benches --bench api`

use metacloud::Role;
use metacloud_api::{Context, CreateRequest};
use metacloud_benches::{dist, embedded_config};
use metacloud_config::Config;
use metacloud_plugins::api::*;
use metacloud_plugins::{PluginLimits, Runtime};
use metacloud_rpc::objects::VmState;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn config() -> Config {
    let mut c = embedded_config("api");
    c.compute.override_memory_mb = Some(262_144);
    c.compute.override_vcpus = Some(256);
    c
}

fn stats(mut v: Vec<Duration>) -> (f64, f64, usize) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    (ms(v[v.len() / 2]), ms(v[v.len() * 99 / 100]), v.len())
}

/// A host that answers `list-servers` with the same 100 servers, from memory.
/// (also packed once, so the measure is the plugin's, not the host's packing).
#[derive(Clone)]
struct Canned(Arc<(Vec<Server>, ServerPage)>);

fn unavailable<T>() -> Result<T, OpError> {
    Err(OpError::Unavailable("canned".into()))
}

impl compute::Host for Canned {
    fn create_servers(&mut self, _: Caller, _: ServerCreate) -> Result<Vec<Server>, OpError> {
        unavailable()
    }
    fn list_servers(&mut self, _: Caller, _: ServerQuery) -> Result<Vec<Server>, OpError> {
        Ok(self.0 .0.clone())
    }
    fn list_servers_page(&mut self, _: Caller, _: ServerQuery) -> Result<ServerPage, OpError> {
        Ok(self.0 .1.clone())
    }
    fn get_server(&mut self, _: Caller, _: String) -> Result<Server, OpError> {
        unavailable()
    }
    fn update_server(
        &mut self,
        _: Caller,
        _: String,
        _: Option<String>,
        _: Option<String>,
        _: Option<String>,
    ) -> Result<Server, OpError> {
        unavailable()
    }
    fn delete_server(&mut self, _: Caller, _: String) -> Result<(), OpError> {
        unavailable()
    }
    fn server_action(
        &mut self,
        _: Caller,
        _: String,
        _: String,
        _: Vec<(String, String)>,
    ) -> Result<(), OpError> {
        unavailable()
    }
    fn console_output(&mut self, _: Caller, _: String) -> Result<String, OpError> {
        unavailable()
    }
    fn list_flavors(&mut self, _: Caller) -> Result<Vec<Flavor>, OpError> {
        unavailable()
    }
    fn get_flavor(&mut self, _: Caller, _: String) -> Result<Flavor, OpError> {
        unavailable()
    }
    fn create_flavor(&mut self, _: Caller, _: FlavorCreate) -> Result<Flavor, OpError> {
        unavailable()
    }
    fn delete_flavor(&mut self, _: Caller, _: String) -> Result<(), OpError> {
        unavailable()
    }
    fn list_keypairs(&mut self, _: Caller) -> Result<Vec<Keypair>, OpError> {
        unavailable()
    }
    fn get_keypair(&mut self, _: Caller, _: String) -> Result<Keypair, OpError> {
        unavailable()
    }
    fn create_keypair(
        &mut self,
        _: Caller,
        _: String,
        _: String,
        _: Option<String>,
    ) -> Result<KeypairCreated, OpError> {
        unavailable()
    }
    fn delete_keypair(&mut self, _: Caller, _: String) -> Result<(), OpError> {
        unavailable()
    }
    fn get_quotas(&mut self, _: Caller, _: String) -> Result<Vec<QuotaUsage>, OpError> {
        unavailable()
    }
    fn set_quota(&mut self, _: Caller, _: String, _: String, _: i64) -> Result<(), OpError> {
        unavailable()
    }
    fn list_availability_zones(&mut self, _: Caller) -> Result<Vec<AvailabilityZone>, OpError> {
        unavailable()
    }
    fn list_services(&mut self, _: Caller) -> Result<Vec<Service>, OpError> {
        unavailable()
    }
    fn update_service(&mut self, _: Caller, _: i64, _: ServiceChange) -> Result<Service, OpError> {
        unavailable()
    }
    fn list_migrations(&mut self, _: Caller, _: Option<String>) -> Result<Vec<Migration>, OpError> {
        unavailable()
    }
    fn list_hypervisors(&mut self, _: Caller) -> Result<Vec<Hypervisor>, OpError> {
        unavailable()
    }
    fn hypervisor_uptime(&mut self, _: Caller, _: String) -> Result<String, OpError> {
        unavailable()
    }
    fn create_image(
        &mut self,
        _: Caller,
        _: String,
        _: String,
        _: Vec<(String, String)>,
        _: Option<BackupSpec>,
    ) -> Result<String, OpError> {
        unavailable()
    }
    fn image_endpoint(&mut self) -> String {
        String::new()
    }
    fn list_images(&mut self, _: Caller) -> Result<Vec<Image>, OpError> {
        unavailable()
    }
    fn get_image(&mut self, _: Caller, _: String) -> Result<Image, OpError> {
        unavailable()
    }
    fn delete_image(&mut self, _: Caller, _: String) -> Result<(), OpError> {
        unavailable()
    }
    fn set_image_metadata(
        &mut self,
        _: Caller,
        _: String,
        _: Vec<(String, String)>,
        _: bool,
    ) -> Result<Vec<(String, String)>, OpError> {
        unavailable()
    }
    fn delete_image_metadata(&mut self, _: Caller, _: String, _: String) -> Result<(), OpError> {
        unavailable()
    }
    fn rebuild_server(
        &mut self,
        _: Caller,
        _: String,
        _: String,
        _: Option<String>,
        _: Option<Vec<(String, String)>>,
    ) -> Result<Server, OpError> {
        unavailable()
    }
    fn set_flavor_extra_specs(
        &mut self,
        _: Caller,
        _: String,
        _: Vec<(String, String)>,
    ) -> Result<Vec<(String, String)>, OpError> {
        unavailable()
    }
    fn delete_flavor_extra_spec(&mut self, _: Caller, _: String, _: String) -> Result<(), OpError> {
        unavailable()
    }
    fn list_flavor_access(&mut self, _: Caller, _: String) -> Result<Vec<String>, OpError> {
        unavailable()
    }
    fn add_flavor_access(
        &mut self,
        _: Caller,
        _: String,
        _: String,
    ) -> Result<Vec<String>, OpError> {
        unavailable()
    }
    fn remove_flavor_access(
        &mut self,
        _: Caller,
        _: String,
        _: String,
    ) -> Result<Vec<String>, OpError> {
        unavailable()
    }
    fn delete_quotas(&mut self, _: Caller, _: String) -> Result<(), OpError> {
        unavailable()
    }
    fn set_default_quota(&mut self, _: Caller, _: String, _: i64) -> Result<(), OpError> {
        unavailable()
    }
    fn default_quotas(&mut self, _: Caller) -> Result<Vec<QuotaUsage>, OpError> {
        unavailable()
    }
    fn list_aggregates(&mut self, _: Caller) -> Result<Vec<Aggregate>, OpError> {
        unavailable()
    }
    fn get_aggregate(&mut self, _: Caller, _: String) -> Result<Aggregate, OpError> {
        unavailable()
    }
    fn cache_aggregate_images(
        &mut self,
        _: Caller,
        _: String,
        _: Vec<String>,
    ) -> Result<(), OpError> {
        unavailable()
    }
    fn create_aggregate(
        &mut self,
        _: Caller,
        _: String,
        _: Option<String>,
    ) -> Result<Aggregate, OpError> {
        unavailable()
    }
    fn update_aggregate(
        &mut self,
        _: Caller,
        _: String,
        _: Option<String>,
        _: Option<String>,
    ) -> Result<Aggregate, OpError> {
        unavailable()
    }
    fn delete_aggregate(&mut self, _: Caller, _: String) -> Result<(), OpError> {
        unavailable()
    }
    fn aggregate_add_host(
        &mut self,
        _: Caller,
        _: String,
        _: String,
    ) -> Result<Aggregate, OpError> {
        unavailable()
    }
    fn aggregate_remove_host(
        &mut self,
        _: Caller,
        _: String,
        _: String,
    ) -> Result<Aggregate, OpError> {
        unavailable()
    }
    fn set_aggregate_metadata(
        &mut self,
        _: Caller,
        _: String,
        _: Vec<(String, Option<String>)>,
    ) -> Result<Aggregate, OpError> {
        unavailable()
    }
    fn set_server_metadata(
        &mut self,
        _: Caller,
        _: String,
        _: Vec<(String, String)>,
        _: bool,
    ) -> Result<Vec<(String, String)>, OpError> {
        unavailable()
    }
    fn delete_server_metadata(&mut self, _: Caller, _: String, _: String) -> Result<(), OpError> {
        unavailable()
    }
    fn create_server_group(
        &mut self,
        _: Caller,
        _: String,
        _: String,
        _: Option<u32>,
    ) -> Result<ServerGroup, OpError> {
        unavailable()
    }
    fn list_server_groups(&mut self, _: Caller, _: bool) -> Result<Vec<ServerGroup>, OpError> {
        unavailable()
    }
    fn get_server_group(&mut self, _: Caller, _: String) -> Result<ServerGroup, OpError> {
        unavailable()
    }
    fn delete_server_group(&mut self, _: Caller, _: String) -> Result<(), OpError> {
        unavailable()
    }
    fn list_instance_actions(
        &mut self,
        _: Caller,
        _: String,
    ) -> Result<Vec<InstanceAction>, OpError> {
        unavailable()
    }
    fn create_certificate(&mut self, _: Caller) -> Result<Certificate, OpError> {
        unavailable()
    }
    fn root_certificate(&mut self, _: Caller) -> Result<String, OpError> {
        unavailable()
    }
    // Networking (api@1.1.0): the listing asks for its page's addresses; none here.
    fn create_servers_networked(
        &mut self,
        _: Caller,
        _: ServerCreate,
        _: compute::ServerNetworking,
        _: compute::ServerDetails,
    ) -> Result<Vec<Server>, OpError> {
        unavailable()
    }
    fn servers_network_info(
        &mut self,
        _: Caller,
        _: Vec<String>,
    ) -> Result<Vec<compute::ServerNetworkInfo>, OpError> {
        Ok(Vec::new())
    }
    fn list_networks(&mut self, _: Caller, _: bool) -> Result<Vec<compute::Network>, OpError> {
        unavailable()
    }
    fn get_network(&mut self, _: Caller, _: String) -> Result<compute::Network, OpError> {
        unavailable()
    }
    fn create_network(
        &mut self,
        _: Caller,
        _: compute::NetworkCreate,
    ) -> Result<compute::Network, OpError> {
        unavailable()
    }
    fn delete_network(&mut self, _: Caller, _: String) -> Result<(), OpError> {
        unavailable()
    }
    fn network_action(
        &mut self,
        _: Caller,
        _: String,
        _: String,
        _: Option<String>,
    ) -> Result<compute::Network, OpError> {
        unavailable()
    }
    fn network_free_addresses(&mut self, _: Caller, _: String) -> Result<i64, OpError> {
        unavailable()
    }
    fn list_floating_pools(&mut self, _: Caller) -> Result<Vec<String>, OpError> {
        unavailable()
    }
    fn list_floating_ips(&mut self, _: Caller) -> Result<Vec<compute::FloatingIp>, OpError> {
        unavailable()
    }
    fn get_floating_ip(&mut self, _: Caller, _: String) -> Result<compute::FloatingIp, OpError> {
        unavailable()
    }
    fn allocate_floating_ip(
        &mut self,
        _: Caller,
        _: Option<String>,
    ) -> Result<compute::FloatingIp, OpError> {
        unavailable()
    }
    fn release_floating_ip(&mut self, _: Caller, _: String) -> Result<(), OpError> {
        unavailable()
    }
    fn associate_floating_ip(
        &mut self,
        _: Caller,
        _: String,
        _: String,
        _: Option<String>,
    ) -> Result<compute::FloatingIp, OpError> {
        unavailable()
    }
    fn disassociate_floating_ip(&mut self, _: Caller, _: String, _: String) -> Result<(), OpError> {
        unavailable()
    }
    fn list_all_floating_ips(&mut self, _: Caller) -> Result<Vec<compute::FloatingIp>, OpError> {
        unavailable()
    }
    fn list_floating_ranges(&mut self, _: Caller) -> Result<Vec<compute::FloatingRange>, OpError> {
        unavailable()
    }
    fn create_floating_range(
        &mut self,
        _: Caller,
        _: Option<String>,
        _: String,
        _: Option<String>,
        _: Option<String>,
    ) -> Result<compute::FloatingRange, OpError> {
        unavailable()
    }
    fn delete_floating_range(&mut self, _: Caller, _: String) -> Result<(), OpError> {
        unavailable()
    }
    fn get_fixed_ip(&mut self, _: Caller, _: String) -> Result<compute::FixedIp, OpError> {
        unavailable()
    }
    fn reserve_fixed_ip(&mut self, _: Caller, _: String, _: bool) -> Result<(), OpError> {
        unavailable()
    }
    fn list_security_groups(
        &mut self,
        _: Caller,
        _: bool,
    ) -> Result<Vec<compute::SecurityGroup>, OpError> {
        unavailable()
    }
    fn get_security_group(
        &mut self,
        _: Caller,
        _: String,
    ) -> Result<compute::SecurityGroup, OpError> {
        unavailable()
    }
    fn create_security_group(
        &mut self,
        _: Caller,
        _: String,
        _: String,
    ) -> Result<compute::SecurityGroup, OpError> {
        unavailable()
    }
    fn update_security_group(
        &mut self,
        _: Caller,
        _: String,
        _: String,
        _: String,
    ) -> Result<compute::SecurityGroup, OpError> {
        unavailable()
    }
    fn delete_security_group(&mut self, _: Caller, _: String) -> Result<(), OpError> {
        unavailable()
    }
    fn create_security_group_rule(
        &mut self,
        _: Caller,
        _: compute::SecurityGroupRuleCreate,
    ) -> Result<compute::SecurityGroupRule, OpError> {
        unavailable()
    }
    fn create_security_group_rule_directed(
        &mut self,
        _: Caller,
        _: String,
        _: compute::SecurityGroupRuleCreate,
    ) -> Result<compute::SecurityGroupRule, OpError> {
        unavailable()
    }
    fn delete_security_group_rule(&mut self, _: Caller, _: String) -> Result<(), OpError> {
        unavailable()
    }
    fn server_security_groups(
        &mut self,
        _: Caller,
        _: String,
    ) -> Result<Vec<compute::SecurityGroup>, OpError> {
        unavailable()
    }
    fn add_server_security_group(
        &mut self,
        _: Caller,
        _: String,
        _: String,
    ) -> Result<(), OpError> {
        unavailable()
    }
    fn remove_server_security_group(
        &mut self,
        _: Caller,
        _: String,
        _: String,
    ) -> Result<(), OpError> {
        unavailable()
    }
    fn server_ports(&mut self, _: Caller, _: String) -> Result<Vec<compute::Port>, OpError> {
        unavailable()
    }
    fn attach_interface(
        &mut self,
        _: Caller,
        _: String,
        _: compute::InterfaceAttach,
    ) -> Result<compute::Port, OpError> {
        unavailable()
    }
    fn detach_interface(&mut self, _: Caller, _: String, _: String) -> Result<(), OpError> {
        unavailable()
    }
    fn list_keypairs_of(
        &mut self,
        _: Caller,
        _: Option<String>,
    ) -> Result<Vec<compute::Keypair>, OpError> {
        unavailable()
    }
    fn get_keypair_of(
        &mut self,
        _: Caller,
        _: Option<String>,
        _: String,
    ) -> Result<compute::Keypair, OpError> {
        unavailable()
    }
    fn create_keypair_for(
        &mut self,
        _: Caller,
        _: Option<String>,
        _: String,
        _: String,
        _: Option<String>,
    ) -> Result<compute::KeypairCreated, OpError> {
        unavailable()
    }
    fn delete_keypair_of(
        &mut self,
        _: Caller,
        _: Option<String>,
        _: String,
    ) -> Result<(), OpError> {
        unavailable()
    }
    fn servers_extra(
        &mut self,
        _: Caller,
        _: Vec<String>,
    ) -> Result<Vec<compute::ServerExtra>, OpError> {
        unavailable()
    }
    fn list_servers_page_filtered(
        &mut self,
        c: Caller,
        q: ServerQuery,
        _: compute::ServerFilters,
    ) -> Result<ServerPage, OpError> {
        self.list_servers_page(c, q)
    }
    fn describe_server(
        &mut self,
        _: Caller,
        _: String,
        _: Option<String>,
    ) -> Result<Server, OpError> {
        unavailable()
    }
    fn set_server_hostname(&mut self, _: Caller, _: String, _: String) -> Result<Server, OpError> {
        unavailable()
    }
    fn server_tags(&mut self, _: Caller, _: String) -> Result<Vec<String>, OpError> {
        unavailable()
    }
    fn set_server_tags(
        &mut self,
        _: Caller,
        _: String,
        _: Vec<String>,
    ) -> Result<Vec<String>, OpError> {
        unavailable()
    }
    fn add_server_tag(&mut self, _: Caller, _: String, _: String) -> Result<bool, OpError> {
        unavailable()
    }
    fn remove_server_tag(&mut self, _: Caller, _: String, _: String) -> Result<(), OpError> {
        unavailable()
    }
    fn rebuild_server_with(
        &mut self,
        _: Caller,
        _: String,
        _: String,
        _: Option<String>,
        _: Option<Vec<(String, String)>>,
        _: compute::RebuildBoot,
    ) -> Result<Server, OpError> {
        unavailable()
    }
    fn set_flavor_description(
        &mut self,
        _: Caller,
        _: String,
        _: Option<String>,
    ) -> Result<(), OpError> {
        unavailable()
    }
    fn flavor_descriptions(&mut self, _: Caller) -> Result<Vec<(String, String)>, OpError> {
        unavailable()
    }
    fn delete_service(&mut self, _: Caller, _: i64) -> Result<(), OpError> {
        unavailable()
    }
    fn get_server_diagnostics(
        &mut self,
        _: Caller,
        _: String,
    ) -> Result<compute::ServerDiagnostics, OpError> {
        unavailable()
    }
    fn server_usages(
        &mut self,
        _: Caller,
        _: Option<String>,
        _: Option<i64>,
        _: Option<i64>,
    ) -> Result<compute::UsageReport, OpError> {
        unavailable()
    }
    fn list_instance_actions_of_any(
        &mut self,
        _: Caller,
        _: String,
    ) -> Result<Vec<InstanceAction>, OpError> {
        unavailable()
    }
    fn list_ports(&mut self, _: Caller, _: bool) -> Result<Vec<compute::PortDetail>, OpError> {
        unavailable()
    }
    fn add_router_interface_port(
        &mut self,
        _: Caller,
        _: String,
        _: String,
    ) -> Result<compute::RouterInterface, OpError> {
        unavailable()
    }
    fn set_floating_ip_port(
        &mut self,
        _: Caller,
        _: String,
        _: Option<String>,
    ) -> Result<compute::FloatingIp, OpError> {
        unavailable()
    }
    fn find_ports(
        &mut self,
        _: Caller,
        _: bool,
        _: Vec<String>,
        _: Vec<String>,
    ) -> Result<Vec<compute::PortDetail>, OpError> {
        unavailable()
    }
    fn create_port(
        &mut self,
        _: Caller,
        _: compute::PortCreate,
    ) -> Result<compute::PortDetail, OpError> {
        unavailable()
    }
    fn update_port(
        &mut self,
        _: Caller,
        _: String,
        _: compute::PortUpdate,
    ) -> Result<compute::PortDetail, OpError> {
        unavailable()
    }
    fn delete_port(&mut self, _: Caller, _: String) -> Result<(), OpError> {
        unavailable()
    }
    fn list_network_records(
        &mut self,
        _: Caller,
        _: bool,
    ) -> Result<Vec<compute::NetworkRecord>, OpError> {
        unavailable()
    }
    fn create_network_record(
        &mut self,
        _: Caller,
        _: compute::NetworkSpec,
    ) -> Result<compute::NetworkRecord, OpError> {
        unavailable()
    }
    fn update_network_record(
        &mut self,
        _: Caller,
        _: String,
        _: Option<String>,
        _: Option<bool>,
    ) -> Result<compute::NetworkRecord, OpError> {
        unavailable()
    }
    fn delete_network_record(&mut self, _: Caller, _: String) -> Result<(), OpError> {
        unavailable()
    }
    fn list_subnets(&mut self, _: Caller, _: bool) -> Result<Vec<compute::Subnet>, OpError> {
        unavailable()
    }
    fn create_subnet(
        &mut self,
        _: Caller,
        _: compute::SubnetCreate,
    ) -> Result<compute::Subnet, OpError> {
        unavailable()
    }
    fn update_subnet(
        &mut self,
        _: Caller,
        _: String,
        _: Option<String>,
        _: Option<Vec<String>>,
    ) -> Result<compute::Subnet, OpError> {
        unavailable()
    }
    fn delete_subnet(&mut self, _: Caller, _: String) -> Result<(), OpError> {
        unavailable()
    }
    fn list_routers(&mut self, _: Caller, _: bool) -> Result<Vec<compute::Router>, OpError> {
        unavailable()
    }
    fn create_router(
        &mut self,
        _: Caller,
        _: Option<String>,
        _: String,
        _: bool,
        _: Option<String>,
    ) -> Result<compute::Router, OpError> {
        unavailable()
    }
    fn update_router(
        &mut self,
        _: Caller,
        _: String,
        _: Option<String>,
        _: Option<bool>,
        _: Option<Option<String>>,
    ) -> Result<compute::Router, OpError> {
        unavailable()
    }
    fn delete_router(&mut self, _: Caller, _: String) -> Result<(), OpError> {
        unavailable()
    }
    fn add_router_interface(
        &mut self,
        _: Caller,
        _: String,
        _: String,
    ) -> Result<compute::RouterInterface, OpError> {
        unavailable()
    }
    fn remove_router_interface(
        &mut self,
        _: Caller,
        _: String,
        _: Option<String>,
        _: Option<String>,
    ) -> Result<compute::RouterInterface, OpError> {
        unavailable()
    }
}

fn canned_servers() -> Vec<Server> {
    (0..100)
        .map(|i| Server {
            id: format!("00000000-0000-4000-8000-{i:012}"),
            name: format!("bench-{i}"),
            project_id: "0123456789abcdef0123456789abcdef".into(),
            user_id: "fedcba9876543210fedcba9876543210".into(),
            flavor: Flavor {
                id: "42".into(),
                name: "m1.nano".into(),
                vcpus: 1,
                ram_mb: 64,
                disk_gb: 0,
                ephemeral_gb: 0,
                swap_mb: 0,
                is_public: true,
                extra_specs: vec![],
            },
            image_id: Some("7d9e7e3c-7a4a-4d2a-9c4f-1a2b3c4d5e6f".into()),
            host: Some("compute-1".into()),
            availability_zone: Some("nova".into()),
            vm_state: "active".into(),
            task_state: None,
            power_state: 1,
            key_name: Some("key".into()),
            metadata: vec![("role".into(), "web".into())],
            reservation_id: "r-00000001".into(),
            created_at: 1_764_000_000_000,
            updated_at: 1_764_000_001_000,
            launched_at: Some(1_764_000_001_000),
            terminated_at: None,
            fault: None,
            locked: false,
            access_ipv4: String::new(),
            access_ipv6: String::new(),
        })
        .collect()
}

/// The dialect measured: `METACLOUD_BENCH_DIALECT` (a build to compare), else the shipped one.
fn dialect_file() -> std::path::PathBuf {
    std::env::var_os("METACLOUD_BENCH_DIALECT")
        .map(Into::into)
        .unwrap_or_else(|| dist().join("api/openstack-api.wasm"))
}

fn plugin_share(servers: Vec<Server>) -> (f64, f64, usize) {
    // Compiled once and cached, so that a profiler sees the calls, not the compiler.
    let cache = std::env::temp_dir().join("mc-bench-plugin-cache");
    let rt = Runtime::new(PluginLimits::default(), Some(cache)).expect("runtime");
    let plugin = DialectPlugin::load(&rt, &dialect_file(), Default::default())
        .expect("openstack-api plugin (run scripts/build-plugins.sh)");
    let route = plugin
        .routes
        .iter()
        .position(|r| r.method == "GET" && r.path == "/v2.1/servers/detail")
        .expect("route") as u32;
    let page = pack_servers(&servers);
    let host = Canned(Arc::new((servers, page)));
    let caller = Caller {
        user_id: "u".into(),
        user_name: "demo".into(),
        project_id: "p".into(),
        project_name: "demo".into(),
        roles: vec!["member".into(), "reader".into()],
        request_id: "req-bench".into(),
    };
    let req = HttpRequest {
        method: "GET".into(),
        path: "/v2.1/servers/detail".into(),
        query: vec![],
        headers: vec![("host".into(), "127.0.0.1:8774".into())],
        body: vec![],
    };
    let mut samples = Vec::new();
    let start = Instant::now();
    while samples.len() < 100 || start.elapsed() < Duration::from_secs(3) {
        let t = Instant::now();
        let resp = plugin
            .handle(
                &rt,
                DialectImports {
                    compute: Some(Box::new(host.clone())),
                    ..DialectImports::none()
                },
                route,
                vec![],
                Some(caller.clone()),
                req.clone(),
            )
            .expect("handle");
        assert_eq!(resp.status, 200);
        samples.push(t.elapsed());
    }
    stats(samples)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::var_os("METACLOUD_BENCH_PLUGIN_ONLY").is_some() {
        // Only the plugin's share, e.g. to compare builds of the dialect.
        let (p50, p99, n) = plugin_share(canned_servers());
        let (e50, _, _) = plugin_share(Vec::new());
        println!(
            "{}: 100 servers median {p50:.3} ms, p99 {p99:.3} ms ({n} calls); no servers median {e50:.3} ms",
            dialect_file().display()
        );
        return;
    }
    let config = config();
    let running = metacloud::start(&config, &Role::ALL).await.expect("start");
    let api = running.api.clone().unwrap();
    let http = reqwest::Client::new();
    let keystone = format!("http://{}/v3", running.identity_addr.unwrap());
    let r = http
        .post(format!("{keystone}/auth/tokens"))
        .json(&serde_json::json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "demo", "domain": {"id": "default"}, "password": "demo-pw"}}},
            "scope": {"project": {"name": "demo", "domain": {"id": "default"}}}}}))
        .send()
        .await
        .unwrap();
    let token = r.headers()["x-subject-token"].to_str().unwrap().to_string();
    let body: serde_json::Value = r.json().await.unwrap();
    let project = body["token"]["project"]["id"].as_str().unwrap().to_string();
    let user = body["token"]["user"]["id"].as_str().unwrap().to_string();
    let admin = Context::admin(&project);
    for res in ["instances", "cores", "ram"] {
        api.set_quota(&admin, &project, res, -1).await.unwrap();
    }
    let ctx = Context {
        request_id: "req-bench".into(),
        project_id: project.clone(),
        user_id: user,
        roles: vec!["member".into(), "reader".into()],
    };
    api.create(
        &ctx,
        CreateRequest {
            name: "bench".into(),
            flavor: "m1.nano".into(),
            min_count: Some(100),
            max_count: Some(100),
            ..Default::default()
        },
    )
    .await
    .expect("create 100");
    loop {
        let all = api.list(&ctx, false).await.unwrap();
        if all.len() == 100
            && all
                .iter()
                .all(|i| i.vm_state == VmState::Active && i.task_state.is_none())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let url = format!(
        "http://{}/v2.1/servers/detail",
        running.compute_addr.unwrap()
    );
    let get = |http: reqwest::Client, url: String, token: String| async move {
        let r = http
            .get(&url)
            .header("x-auth-token", &token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let b = r.bytes().await.unwrap();
        assert!(b.len() > 100 * 500, "100 servers in the body");
    };
    for _ in 0..20 {
        get(http.clone(), url.clone(), token.clone()).await;
    }
    let mut samples = Vec::new();
    let start = Instant::now();
    while samples.len() < 50 || start.elapsed() < Duration::from_secs(5) {
        let t = Instant::now();
        get(http.clone(), url.clone(), token.clone()).await;
        samples.push(t.elapsed());
    }
    let (p50, p99, n) = stats(samples);
    println!("GET /v2.1/servers/detail (100 servers), one client: median {p50:.2} ms, p99 {p99:.2} ms ({n} requests)");
    let clients = 8;
    let window = Duration::from_secs(5);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (http, url, token) = (http.clone(), url.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while start.elapsed() < window {
                get(http.clone(), url.clone(), token.clone()).await;
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{clients} concurrent clients: {:.0} requests/s ({total} in {secs:.1} s)",
        total as f64 / secs
    );
    let (pp50, pp99, pn) = tokio::task::spawn_blocking(|| plugin_share(canned_servers()))
        .await
        .unwrap();
    println!("the dialect plugin alone on canned input (instantiate, cross the packed page of 100 servers, shape JSON, lift): median {pp50:.3} ms, p99 {pp99:.3} ms ({pn} calls) = {:.0}% of the request", pp50 / p50 * 100.0);
    // The same call with no servers: what crossing into a fresh plugin instance costs by
    // itself (instantiate, one packed page, lift the reply), whatever the page holds.
    let (e50, e99, en) = tokio::task::spawn_blocking(|| plugin_share(Vec::new()))
        .await
        .unwrap();
    println!("the same with no servers (the fixed cost of the boundary): median {e50:.3} ms, p99 {e99:.3} ms ({en} calls) = {:.0}% of the request", e50 / p50 * 100.0);
    ten_thousand(&api, &ctx, &http, running.compute_addr.unwrap(), &token).await;
}

/// A page of 100 out of 10,000 servers in one project: the list is filtered, ordered and
/// paged by the database (the 9,900 more are rows made directly, waiting to be scheduled;
/// listing does not care).
async fn ten_thousand(
    api: &metacloud_api::ComputeApi,
    ctx: &Context,
    http: &reqwest::Client,
    addr: std::net::SocketAddr,
    token: &str,
) {
    let flavor = api.db().get_flavor("1").await.expect("m1.tiny");
    let unlimited = metacloud_db::quotas::DefaultLimits(
        ["instances", "cores", "ram"]
            .iter()
            .map(|r| (r.to_string(), -1))
            .collect(),
    );
    for batch in 0..99 {
        let new = metacloud_db::instances::NewInstances::plain(
            &format!("many-{batch}"),
            100,
            &ctx.project_id,
            &ctx.user_id,
            flavor.clone(),
        );
        api.db()
            .create_instances(&new, &unlimited)
            .await
            .expect("9,900 more rows");
    }
    let total = api.list(ctx, false).await.unwrap().len();
    assert_eq!(total, 10_000);
    let all = api.list(ctx, false).await.unwrap();
    // A marker half-way down the newest-first list.
    let mut order: Vec<_> = all.iter().map(|i| (i.created_at, i.uuid.clone())).collect();
    order.sort_by(|a, b| b.cmp(a));
    let marker = order[5_000].1.clone();
    for (what, path) in [
        (
            "GET /v2.1/servers?limit=100",
            "/v2.1/servers?limit=100".to_string(),
        ),
        (
            "GET /v2.1/servers/detail?limit=100",
            "/v2.1/servers/detail?limit=100".to_string(),
        ),
        (
            "GET /v2.1/servers/detail?limit=100&marker=<the 5,000th>",
            format!("/v2.1/servers/detail?limit=100&marker={marker}"),
        ),
    ] {
        let url = format!("http://{addr}{path}");
        let once = || async {
            let r = http
                .get(&url)
                .header("x-auth-token", token)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 200);
            let body: serde_json::Value = r.json().await.unwrap();
            assert_eq!(body["servers"].as_array().map(|a| a.len()), Some(100));
        };
        for _ in 0..10 {
            once().await;
        }
        let mut samples = Vec::new();
        let start = Instant::now();
        while samples.len() < 50 || start.elapsed() < Duration::from_secs(3) {
            let t = Instant::now();
            once().await;
            samples.push(t.elapsed());
        }
        let (p50, p99, n) = stats(samples);
        println!("{what}, 10,000 servers in the project: median {p50:.2} ms, p99 {p99:.2} ms ({n} requests)");
    }
}
