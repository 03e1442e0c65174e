//! The API-dialect world: a plugin that declares routes and turns HTTP requests into
//! typed compute operations, which the host serves through [`ApiHost`].

use crate::health::{Health, HealthReport};
use crate::runtime::{Runtime, State, Timed};
use crate::PluginError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wasmtime::component::{HasSelf, Linker};

mod world {
    wasmtime::component::bindgen!({
        world: "api-dialect",
        path: "../../wit/api",
        with: {
            "metacloud:host": crate::scheduler::filter_world::metacloud::host,
        },
    });
}

pub use world::metacloud::api::types::{
    Access, Aggregate, AvailabilityZone, BackupSpec, Caller, Certificate, Fault, Flavor,
    FlavorCreate, HttpRequest, HttpResponse, Hypervisor, Image, InstanceAction, Keypair,
    KeypairCreated, Migration, OpError, QuotaError, QuotaUsage, Route, SchedulerHints, Server,
    ServerCreate, ServerGroup, ServerPage, ServerQuery, Service, ServiceChange,
};
use world::metacloud::api::{compute, signatures, types as api_types};

pub mod identity;
pub mod images;
pub mod metadata;
pub use identity::IdentityHost;
pub use images::ImageHost;
pub use metadata::MetadataHost;

/// The host services one dialect request may reach through its imports.
#[derive(Clone, Default)]
pub struct DialectHosts {
    pub api: Option<Arc<dyn ApiHost>>,
    pub identity: Option<Arc<dyn IdentityHost>>,
    pub images: Option<Arc<dyn ImageHost>>,
    pub metadata: Option<Arc<dyn MetadataHost>>,
}

/// Strings per server in a [`ServerPage`] before its metadata.
pub const PAGE_STRINGS: usize = 14;
/// Numbers per server in a [`ServerPage`].
pub const PAGE_NUMBERS: usize = 10;

/// Packs servers as `server-page` lays them out (see the WIT): one text buffer, its string
/// ends, and a row of numbers per server.
pub fn pack_servers(servers: &[Server]) -> ServerPage {
    let mut text = String::with_capacity(servers.len() * 256);
    let mut ends = Vec::with_capacity(servers.len() * (PAGE_STRINGS + 2));
    let mut numbers = Vec::with_capacity(servers.len() * PAGE_NUMBERS);
    let mut push = |text: &mut String, s: &str| {
        text.push_str(s);
        ends.push(text.len() as u32);
    };
    for s in servers {
        let opt = |o: &Option<String>| o.clone().unwrap_or_default();
        let mut present = 0i64;
        for (bit, set) in [
            (1, s.image_id.is_some()),
            (2, s.host.is_some()),
            (4, s.availability_zone.is_some()),
            (8, s.task_state.is_some()),
            (16, s.key_name.is_some()),
            (32, s.launched_at.is_some()),
            (64, s.terminated_at.is_some()),
            (128, s.fault.is_some()),
        ] {
            if set {
                present |= bit;
            }
        }
        for field in [
            s.id.as_str(),
            &s.name,
            &s.project_id,
            &s.user_id,
            &s.flavor.id,
            &opt(&s.image_id),
            &opt(&s.host),
            &opt(&s.availability_zone),
            &s.vm_state,
            &opt(&s.task_state),
            &opt(&s.key_name),
            &s.access_ipv4,
            &s.access_ipv6,
            s.fault.as_ref().map(|f| f.message.as_str()).unwrap_or(""),
        ] {
            push(&mut text, field);
        }
        for (k, v) in &s.metadata {
            push(&mut text, k);
            push(&mut text, v);
        }
        numbers.extend_from_slice(&[
            s.created_at,
            s.updated_at,
            s.launched_at.unwrap_or(0),
            s.terminated_at.unwrap_or(0),
            s.power_state as i64,
            s.fault.as_ref().map(|f| f.code as i64).unwrap_or(0),
            s.fault.as_ref().map(|f| f.created_at).unwrap_or(0),
            s.metadata.len() as i64,
            present,
            s.locked as i64,
        ]);
    }
    ServerPage {
        count: servers.len() as u32,
        text,
        ends,
        numbers,
    }
}

/// What the host offers a dialect: the operations of its `compute` and `signatures`
/// imports. Implemented by the API service over the host compute API; called on the
/// thread that runs the plugin (the implementation may block on async work).
pub trait ApiHost: Send + Sync {
    fn create_servers(&self, c: Caller, req: ServerCreate) -> Result<Vec<Server>, OpError>;
    fn list_servers(&self, c: Caller, q: ServerQuery) -> Result<Vec<Server>, OpError>;
    fn get_server(&self, c: Caller, id: String) -> Result<Server, OpError>;
    /// `list_servers`, packed for the crossing ([`pack_servers`]).
    fn list_servers_page(&self, c: Caller, q: ServerQuery) -> Result<ServerPage, OpError> {
        self.list_servers(c, q).map(|s| pack_servers(&s))
    }
    fn update_server(
        &self,
        c: Caller,
        id: String,
        name: Option<String>,
        access_ipv4: Option<String>,
        access_ipv6: Option<String>,
    ) -> Result<Server, OpError>;
    fn delete_server(&self, c: Caller, id: String) -> Result<(), OpError>;
    fn create_image(
        &self,
        c: Caller,
        id: String,
        name: String,
        metadata: Vec<(String, String)>,
        backup: Option<BackupSpec>,
    ) -> Result<String, OpError>;
    fn image_endpoint(&self) -> String;
    fn list_images(&self, c: Caller) -> Result<Vec<Image>, OpError>;
    fn get_image(&self, c: Caller, id: String) -> Result<Image, OpError>;
    fn delete_image(&self, c: Caller, id: String) -> Result<(), OpError>;
    fn set_image_metadata(
        &self,
        c: Caller,
        id: String,
        metadata: Vec<(String, String)>,
        replace: bool,
    ) -> Result<Vec<(String, String)>, OpError>;
    fn delete_image_metadata(&self, c: Caller, id: String, key: String) -> Result<(), OpError>;
    fn rebuild_server(
        &self,
        c: Caller,
        id: String,
        image_ref: String,
        name: Option<String>,
        metadata: Option<Vec<(String, String)>>,
    ) -> Result<Server, OpError>;
    fn server_action(
        &self,
        c: Caller,
        id: String,
        action: String,
        args: Vec<(String, String)>,
    ) -> Result<(), OpError>;
    fn console_output(&self, c: Caller, id: String) -> Result<String, OpError>;
    fn list_flavors(&self, c: Caller) -> Result<Vec<Flavor>, OpError>;
    fn get_flavor(&self, c: Caller, id: String) -> Result<Flavor, OpError>;
    fn create_flavor(&self, c: Caller, f: FlavorCreate) -> Result<Flavor, OpError>;
    fn delete_flavor(&self, c: Caller, id: String) -> Result<(), OpError>;
    fn list_keypairs(&self, c: Caller) -> Result<Vec<Keypair>, OpError>;
    fn get_keypair(&self, c: Caller, name: String) -> Result<Keypair, OpError>;
    fn create_keypair(
        &self,
        c: Caller,
        name: String,
        key_type: String,
        public_key: Option<String>,
    ) -> Result<KeypairCreated, OpError>;
    fn delete_keypair(&self, c: Caller, name: String) -> Result<(), OpError>;
    fn get_quotas(&self, c: Caller, project: String) -> Result<Vec<QuotaUsage>, OpError>;
    fn set_quota(
        &self,
        c: Caller,
        project: String,
        resource: String,
        limit: i64,
    ) -> Result<(), OpError>;
    fn list_availability_zones(&self, c: Caller) -> Result<Vec<AvailabilityZone>, OpError>;
    fn list_services(&self, c: Caller) -> Result<Vec<Service>, OpError>;
    fn update_service(&self, c: Caller, id: i64, change: ServiceChange)
        -> Result<Service, OpError>;
    fn list_migrations(
        &self,
        c: Caller,
        instance_id: Option<String>,
    ) -> Result<Vec<Migration>, OpError>;
    fn list_hypervisors(&self, c: Caller) -> Result<Vec<Hypervisor>, OpError>;
    fn hypervisor_uptime(&self, c: Caller, hostname: String) -> Result<String, OpError>;
    fn set_flavor_extra_specs(
        &self,
        c: Caller,
        id: String,
        specs: Vec<(String, String)>,
    ) -> Result<Vec<(String, String)>, OpError>;
    fn delete_flavor_extra_spec(&self, c: Caller, id: String, key: String) -> Result<(), OpError>;
    fn list_flavor_access(&self, c: Caller, id: String) -> Result<Vec<String>, OpError>;
    fn add_flavor_access(
        &self,
        c: Caller,
        id: String,
        project: String,
    ) -> Result<Vec<String>, OpError>;
    fn remove_flavor_access(
        &self,
        c: Caller,
        id: String,
        project: String,
    ) -> Result<Vec<String>, OpError>;
    fn delete_quotas(&self, c: Caller, project: String) -> Result<(), OpError>;
    fn set_default_quota(&self, c: Caller, resource: String, limit: i64) -> Result<(), OpError>;
    fn default_quotas(&self, c: Caller) -> Result<Vec<QuotaUsage>, OpError>;
    fn list_aggregates(&self, c: Caller) -> Result<Vec<Aggregate>, OpError>;
    fn get_aggregate(&self, c: Caller, id: String) -> Result<Aggregate, OpError>;
    fn create_aggregate(
        &self,
        c: Caller,
        name: String,
        availability_zone: Option<String>,
    ) -> Result<Aggregate, OpError>;
    fn update_aggregate(
        &self,
        c: Caller,
        id: String,
        name: Option<String>,
        availability_zone: Option<String>,
    ) -> Result<Aggregate, OpError>;
    fn delete_aggregate(&self, c: Caller, id: String) -> Result<(), OpError>;
    fn aggregate_add_host(&self, c: Caller, id: String, host: String)
        -> Result<Aggregate, OpError>;
    fn aggregate_remove_host(
        &self,
        c: Caller,
        id: String,
        host: String,
    ) -> Result<Aggregate, OpError>;
    fn set_aggregate_metadata(
        &self,
        c: Caller,
        id: String,
        metadata: Vec<(String, Option<String>)>,
    ) -> Result<Aggregate, OpError>;
    fn set_server_metadata(
        &self,
        c: Caller,
        id: String,
        metadata: Vec<(String, String)>,
        replace: bool,
    ) -> Result<Vec<(String, String)>, OpError>;
    fn delete_server_metadata(&self, c: Caller, id: String, key: String) -> Result<(), OpError>;
    fn create_server_group(
        &self,
        c: Caller,
        name: String,
        policy: String,
        max_server_per_host: Option<u32>,
    ) -> Result<ServerGroup, OpError>;
    fn list_server_groups(
        &self,
        c: Caller,
        all_projects: bool,
    ) -> Result<Vec<ServerGroup>, OpError>;
    fn get_server_group(&self, c: Caller, id: String) -> Result<ServerGroup, OpError>;
    fn delete_server_group(&self, c: Caller, id: String) -> Result<(), OpError>;
    fn list_instance_actions(
        &self,
        c: Caller,
        server_id: String,
    ) -> Result<Vec<InstanceAction>, OpError>;
    /// A new key pair and a certificate for the caller from its project's CA; the private
    /// key sealed (openable into the response).
    fn create_certificate(&self, c: Caller) -> Result<Certificate, OpError>;
    /// The caller's project CA certificate (PEM).
    fn root_certificate(&self, c: Caller) -> Result<String, OpError>;
    fn verify_signature(
        &self,
        access_key: String,
        string_to_sign: String,
        signature: String,
        scope: String,
    ) -> Option<Caller>;
}

impl State {
    fn api_host(&self) -> Result<Timed<dyn ApiHost>, OpError> {
        let host = self
            .api
            .clone()
            .ok_or_else(|| OpError::Unavailable("no compute API in this context".into()))?;
        Ok(self.host_clock.timed(host))
    }
}

impl api_types::Host for State {}

impl compute::Host for State {
    fn create_servers(&mut self, c: Caller, req: ServerCreate) -> Result<Vec<Server>, OpError> {
        self.api_host()?.create_servers(c, req)
    }
    fn list_servers(&mut self, c: Caller, q: ServerQuery) -> Result<Vec<Server>, OpError> {
        self.api_host()?.list_servers(c, q)
    }
    fn get_server(&mut self, c: Caller, id: String) -> Result<Server, OpError> {
        self.api_host()?.get_server(c, id)
    }
    fn list_servers_page(&mut self, c: Caller, q: ServerQuery) -> Result<ServerPage, OpError> {
        self.api_host()?.list_servers_page(c, q)
    }
    fn update_server(
        &mut self,
        c: Caller,
        id: String,
        name: Option<String>,
        access_ipv4: Option<String>,
        access_ipv6: Option<String>,
    ) -> Result<Server, OpError> {
        self.api_host()?
            .update_server(c, id, name, access_ipv4, access_ipv6)
    }
    fn delete_server(&mut self, c: Caller, id: String) -> Result<(), OpError> {
        self.api_host()?.delete_server(c, id)
    }
    fn create_image(
        &mut self,
        c: Caller,
        id: String,
        name: String,
        metadata: Vec<(String, String)>,
        backup: Option<BackupSpec>,
    ) -> Result<String, OpError> {
        self.api_host()?.create_image(c, id, name, metadata, backup)
    }
    fn list_images(&mut self, c: Caller) -> Result<Vec<Image>, OpError> {
        self.api_host()?.list_images(c)
    }
    fn get_image(&mut self, c: Caller, id: String) -> Result<Image, OpError> {
        self.api_host()?.get_image(c, id)
    }
    fn delete_image(&mut self, c: Caller, id: String) -> Result<(), OpError> {
        self.api_host()?.delete_image(c, id)
    }
    fn set_image_metadata(
        &mut self,
        c: Caller,
        id: String,
        metadata: Vec<(String, String)>,
        replace: bool,
    ) -> Result<Vec<(String, String)>, OpError> {
        self.api_host()?
            .set_image_metadata(c, id, metadata, replace)
    }
    fn delete_image_metadata(&mut self, c: Caller, id: String, key: String) -> Result<(), OpError> {
        self.api_host()?.delete_image_metadata(c, id, key)
    }
    fn image_endpoint(&mut self) -> String {
        self.api_host()
            .map(|h| h.image_endpoint())
            .unwrap_or_default()
    }
    fn rebuild_server(
        &mut self,
        c: Caller,
        id: String,
        image_ref: String,
        name: Option<String>,
        metadata: Option<Vec<(String, String)>>,
    ) -> Result<Server, OpError> {
        self.api_host()?
            .rebuild_server(c, id, image_ref, name, metadata)
    }
    fn server_action(
        &mut self,
        c: Caller,
        id: String,
        action: String,
        args: Vec<(String, String)>,
    ) -> Result<(), OpError> {
        self.api_host()?.server_action(c, id, action, args)
    }
    fn console_output(&mut self, c: Caller, id: String) -> Result<String, OpError> {
        self.api_host()?.console_output(c, id)
    }
    fn list_flavors(&mut self, c: Caller) -> Result<Vec<Flavor>, OpError> {
        self.api_host()?.list_flavors(c)
    }
    fn get_flavor(&mut self, c: Caller, id: String) -> Result<Flavor, OpError> {
        self.api_host()?.get_flavor(c, id)
    }
    fn create_flavor(&mut self, c: Caller, f: FlavorCreate) -> Result<Flavor, OpError> {
        self.api_host()?.create_flavor(c, f)
    }
    fn delete_flavor(&mut self, c: Caller, id: String) -> Result<(), OpError> {
        self.api_host()?.delete_flavor(c, id)
    }
    fn list_keypairs(&mut self, c: Caller) -> Result<Vec<Keypair>, OpError> {
        self.api_host()?.list_keypairs(c)
    }
    fn get_keypair(&mut self, c: Caller, name: String) -> Result<Keypair, OpError> {
        self.api_host()?.get_keypair(c, name)
    }
    fn create_keypair(
        &mut self,
        c: Caller,
        name: String,
        key_type: String,
        public_key: Option<String>,
    ) -> Result<KeypairCreated, OpError> {
        self.api_host()?
            .create_keypair(c, name, key_type, public_key)
    }
    fn delete_keypair(&mut self, c: Caller, name: String) -> Result<(), OpError> {
        self.api_host()?.delete_keypair(c, name)
    }
    fn get_quotas(&mut self, c: Caller, project: String) -> Result<Vec<QuotaUsage>, OpError> {
        self.api_host()?.get_quotas(c, project)
    }
    fn set_quota(
        &mut self,
        c: Caller,
        project: String,
        resource: String,
        limit: i64,
    ) -> Result<(), OpError> {
        self.api_host()?.set_quota(c, project, resource, limit)
    }
    fn list_availability_zones(&mut self, c: Caller) -> Result<Vec<AvailabilityZone>, OpError> {
        self.api_host()?.list_availability_zones(c)
    }
    fn list_services(&mut self, c: Caller) -> Result<Vec<Service>, OpError> {
        self.api_host()?.list_services(c)
    }
    fn update_service(
        &mut self,
        c: Caller,
        id: i64,
        change: ServiceChange,
    ) -> Result<Service, OpError> {
        self.api_host()?.update_service(c, id, change)
    }
    fn list_migrations(
        &mut self,
        c: Caller,
        instance_id: Option<String>,
    ) -> Result<Vec<Migration>, OpError> {
        self.api_host()?.list_migrations(c, instance_id)
    }
    fn list_hypervisors(&mut self, c: Caller) -> Result<Vec<Hypervisor>, OpError> {
        self.api_host()?.list_hypervisors(c)
    }
    fn hypervisor_uptime(&mut self, c: Caller, hostname: String) -> Result<String, OpError> {
        self.api_host()?.hypervisor_uptime(c, hostname)
    }
    fn set_flavor_extra_specs(
        &mut self,
        c: Caller,
        id: String,
        specs: Vec<(String, String)>,
    ) -> Result<Vec<(String, String)>, OpError> {
        self.api_host()?.set_flavor_extra_specs(c, id, specs)
    }
    fn delete_flavor_extra_spec(
        &mut self,
        c: Caller,
        id: String,
        key: String,
    ) -> Result<(), OpError> {
        self.api_host()?.delete_flavor_extra_spec(c, id, key)
    }
    fn list_flavor_access(&mut self, c: Caller, id: String) -> Result<Vec<String>, OpError> {
        self.api_host()?.list_flavor_access(c, id)
    }
    fn add_flavor_access(
        &mut self,
        c: Caller,
        id: String,
        project: String,
    ) -> Result<Vec<String>, OpError> {
        self.api_host()?.add_flavor_access(c, id, project)
    }
    fn remove_flavor_access(
        &mut self,
        c: Caller,
        id: String,
        project: String,
    ) -> Result<Vec<String>, OpError> {
        self.api_host()?.remove_flavor_access(c, id, project)
    }
    fn delete_quotas(&mut self, c: Caller, project: String) -> Result<(), OpError> {
        self.api_host()?.delete_quotas(c, project)
    }
    fn set_default_quota(
        &mut self,
        c: Caller,
        resource: String,
        limit: i64,
    ) -> Result<(), OpError> {
        self.api_host()?.set_default_quota(c, resource, limit)
    }
    fn default_quotas(&mut self, c: Caller) -> Result<Vec<QuotaUsage>, OpError> {
        self.api_host()?.default_quotas(c)
    }
    fn list_aggregates(&mut self, c: Caller) -> Result<Vec<Aggregate>, OpError> {
        self.api_host()?.list_aggregates(c)
    }
    fn get_aggregate(&mut self, c: Caller, id: String) -> Result<Aggregate, OpError> {
        self.api_host()?.get_aggregate(c, id)
    }
    fn create_aggregate(
        &mut self,
        c: Caller,
        name: String,
        availability_zone: Option<String>,
    ) -> Result<Aggregate, OpError> {
        self.api_host()?
            .create_aggregate(c, name, availability_zone)
    }
    fn update_aggregate(
        &mut self,
        c: Caller,
        id: String,
        name: Option<String>,
        availability_zone: Option<String>,
    ) -> Result<Aggregate, OpError> {
        self.api_host()?
            .update_aggregate(c, id, name, availability_zone)
    }
    fn delete_aggregate(&mut self, c: Caller, id: String) -> Result<(), OpError> {
        self.api_host()?.delete_aggregate(c, id)
    }
    fn aggregate_add_host(
        &mut self,
        c: Caller,
        id: String,
        host: String,
    ) -> Result<Aggregate, OpError> {
        self.api_host()?.aggregate_add_host(c, id, host)
    }
    fn aggregate_remove_host(
        &mut self,
        c: Caller,
        id: String,
        host: String,
    ) -> Result<Aggregate, OpError> {
        self.api_host()?.aggregate_remove_host(c, id, host)
    }
    fn set_aggregate_metadata(
        &mut self,
        c: Caller,
        id: String,
        metadata: Vec<(String, Option<String>)>,
    ) -> Result<Aggregate, OpError> {
        self.api_host()?.set_aggregate_metadata(c, id, metadata)
    }
    fn set_server_metadata(
        &mut self,
        c: Caller,
        id: String,
        metadata: Vec<(String, String)>,
        replace: bool,
    ) -> Result<Vec<(String, String)>, OpError> {
        self.api_host()?
            .set_server_metadata(c, id, metadata, replace)
    }
    fn delete_server_metadata(
        &mut self,
        c: Caller,
        id: String,
        key: String,
    ) -> Result<(), OpError> {
        self.api_host()?.delete_server_metadata(c, id, key)
    }
    fn create_server_group(
        &mut self,
        c: Caller,
        name: String,
        policy: String,
        max_server_per_host: Option<u32>,
    ) -> Result<ServerGroup, OpError> {
        self.api_host()?
            .create_server_group(c, name, policy, max_server_per_host)
    }
    fn list_server_groups(
        &mut self,
        c: Caller,
        all_projects: bool,
    ) -> Result<Vec<ServerGroup>, OpError> {
        self.api_host()?.list_server_groups(c, all_projects)
    }
    fn get_server_group(&mut self, c: Caller, id: String) -> Result<ServerGroup, OpError> {
        self.api_host()?.get_server_group(c, id)
    }
    fn delete_server_group(&mut self, c: Caller, id: String) -> Result<(), OpError> {
        self.api_host()?.delete_server_group(c, id)
    }
    fn list_instance_actions(
        &mut self,
        c: Caller,
        server_id: String,
    ) -> Result<Vec<InstanceAction>, OpError> {
        self.api_host()?.list_instance_actions(c, server_id)
    }
    fn create_certificate(&mut self, c: Caller) -> Result<Certificate, OpError> {
        self.api_host()?.create_certificate(c)
    }
    fn root_certificate(&mut self, c: Caller) -> Result<String, OpError> {
        self.api_host()?.root_certificate(c)
    }
}

impl signatures::Host for State {
    fn verify_signature(
        &mut self,
        access_key: String,
        string_to_sign: String,
        signature: String,
        scope: String,
    ) -> Option<Caller> {
        self.host_clock.timed(self.api.clone()?).verify_signature(
            access_key,
            string_to_sign,
            signature,
            scope,
        )
    }
}

fn linker(rt: &Runtime) -> Result<Linker<State>, PluginError> {
    let mut linker = Linker::<State>::new(rt.engine());
    let err = |e: wasmtime::Error| PluginError::Runtime(e.to_string());
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(err)?;
    world::ApiDialect::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s).map_err(err)?;
    Ok(linker)
}

/// A loaded API dialect: compiled, linked, its routes read.
pub struct DialectPlugin {
    pub name: String,
    pub path: PathBuf,
    pub routes: Vec<Route>,
    config: Arc<BTreeMap<String, String>>,
    pre: world::ApiDialectPre<State>,
    health: Arc<Health>,
}

impl DialectPlugin {
    /// Loads `path` as an API dialect and asks it for its name and routes.
    pub fn load(
        rt: &Runtime,
        path: &Path,
        config: BTreeMap<String, String>,
    ) -> Result<DialectPlugin, PluginError> {
        let component = rt.load(path)?;
        let shown = path.display().to_string();
        let wrong = |e: wasmtime::Error| PluginError::WrongWorld {
            path: shown.clone(),
            world: "metacloud:api api-dialect".into(),
            reason: format!("{e:#}")
                .lines()
                .next()
                .unwrap_or_default()
                .to_string(),
        };
        let pre = linker(rt)?.instantiate_pre(&component).map_err(wrong)?;
        let pre = world::ApiDialectPre::new(pre).map_err(wrong)?;
        let config = Arc::new(config);
        let mut store = rt.store(&shown, config.clone(), Arc::default());
        let instance = pre
            .instantiate(&mut store)
            .map_err(|e| rt.classify(&store, "instantiate", e))?;
        let d = instance.metacloud_api_dialect();
        rt.arm(&mut store);
        let name = d
            .call_name(&mut store)
            .map_err(|e| rt.classify(&store, "name", e))?;
        rt.arm(&mut store);
        let routes = d
            .call_routes(&mut store)
            .map_err(|e| rt.classify(&store, "routes", e))?;
        Ok(DialectPlugin {
            name,
            path: path.to_path_buf(),
            routes,
            config,
            pre,
            health: Arc::default(),
        })
    }

    /// Serves one request in a fresh instance (pooling allocator: microseconds) under the
    /// memory cap and deadline.
    pub fn handle(
        &self,
        rt: &Runtime,
        hosts: DialectHosts,
        route: u32,
        params: Vec<(String, String)>,
        caller: Option<Caller>,
        req: HttpRequest,
    ) -> Result<HttpResponse, PluginError> {
        let mut store = rt.store(&self.name, self.config.clone(), Arc::default());
        let state = store.data_mut();
        state.api = hosts.api;
        state.identity = hosts.identity;
        state.images = hosts.images;
        state.metadata = hosts.metadata;
        let result = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| rt.classify(&store, "instantiate", e))
            .and_then(|instance| {
                rt.arm(&mut store);
                instance
                    .metacloud_api_dialect()
                    .call_handle(&mut store, route, &params, caller.as_ref(), &req)
                    .map_err(|e| rt.classify(&store, "handle", e))
            });
        self.health.record(result.is_ok());
        result
    }

    /// A refusal decided by the host, in the dialect's error format.
    pub fn render_error(
        &self,
        rt: &Runtime,
        status: u16,
        message: &str,
    ) -> Result<HttpResponse, PluginError> {
        let mut store = rt.store(&self.name, self.config.clone(), Arc::default());
        let result = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| rt.classify(&store, "instantiate", e))
            .and_then(|instance| {
                rt.arm(&mut store);
                instance
                    .metacloud_api_dialect()
                    .call_render_error(&mut store, status, message)
                    .map_err(|e| rt.classify(&store, "render-error", e))
            });
        self.health.record(result.is_ok());
        result
    }

    pub fn health(&self) -> HealthReport {
        self.health.report()
    }
}
