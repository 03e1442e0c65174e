//! The API-dialect world: a plugin that declares routes and turns HTTP requests into typed
//! operations on the host's `compute`, `signatures`, `identity`, `images` and `metadata`
//! imports. The host's implementations are the generated traits themselves
//! ([`compute::Host`] and the others), handed to a request in [`DialectImports`].

use crate::error::PluginError;
use crate::health::{Health, HealthReport};
use crate::runtime::Runtime;
use crate::state::{Plugin, State};
use crate::world::World;
use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wasmtime::component::{HasData, Linker};

mod world {
    wasmtime::component::bindgen!({
        world: "api-dialect",
        path: "../../wit/api",
        with: {
            "metacloud:host": crate::base::bindings::metacloud::host,
        },
    });
}

pub use world::metacloud::api::types::{
    Access, Aggregate, AvailabilityZone, BackupSpec, Caller, Certificate, Fault, Flavor,
    FlavorCreate, HttpRequest, HttpResponse, Hypervisor, Image, InstanceAction, Keypair,
    KeypairCreated, Migration, OpError, QuotaError, QuotaUsage, Route, SchedulerHints, Server,
    ServerCreate, ServerGroup, ServerPage, ServerQuery, Service, ServiceChange,
};
/// The imports a dialect may call; the host implements each interface's `Host` trait.
pub use world::metacloud::api::{compute, identity, images, metadata, signatures};

/// The host's implementation of each import, for one request.
pub struct DialectImports {
    pub compute: Option<Box<dyn compute::Host + Send>>,
    pub signatures: Option<Box<dyn signatures::Host + Send>>,
    pub identity: Option<Box<dyn identity::Host + Send>>,
    pub images: Option<Box<dyn images::Host + Send>>,
    pub metadata: Option<Box<dyn metadata::Host + Send>>,
}

impl DialectImports {
    /// No imports: a call to any of them fails the request (for tests and benchmarks,
    /// which then give only the ones they need).
    pub fn none() -> DialectImports {
        DialectImports {
            compute: None,
            signatures: None,
            identity: None,
            images: None,
            metadata: None,
        }
    }
}

/// The API-dialect world (`api-dialect`).
pub struct DialectWorld;

/// Generates the [`HasData`] of one import: its getter yields the request's implementation.
macro_rules! imports {
    ($($field:ident: $iface:ident => $data:ident;)*) => {
        $(
            struct $data;
            impl HasData for $data {
                type Data<'a> = &'a mut (dyn $iface::Host + Send);
            }
        )*
        impl World for DialectWorld {
            const NAME: &'static str = "metacloud:api api-dialect";
            const PACKAGES: &'static [&'static str] = &["metacloud:api@1"];
            type Data = DialectImports;

            fn add_to_linker(
                linker: &mut Linker<State<DialectImports>>,
            ) -> wasmtime::Result<()> {
                world::metacloud::api::types::add_to_linker::<_, Types>(linker, |_| Types)?;
                $(
                    $iface::add_to_linker::<_, $data>(linker, |s| {
                        s.import()
                            .$field
                            .as_deref_mut()
                            .expect(concat!("the `", stringify!($field), "` import is not given for this call"))
                    })?;
                )*
                Ok(())
            }
        }
    };
}

imports! {
    compute: compute => ComputeImport;
    signatures: signatures => SignaturesImport;
    identity: identity => IdentityImport;
    images: images => ImagesImport;
    metadata: metadata => MetadataImport;
}

/// The `types` interface has no functions.
struct Types;
impl HasData for Types {
    type Data<'a> = Types;
}
impl world::metacloud::api::types::Host for Types {}

/// A loaded API dialect: compiled, linked, its routes read.
pub struct DialectPlugin {
    pub name: String,
    pub path: PathBuf,
    pub routes: Vec<Route>,
    config: Arc<BTreeMap<String, String>>,
    pre: world::ApiDialectPre<State<DialectImports>>,
    /// The same component with its host imports trapping: for `name`, `routes` and
    /// `render-error`, which must not reach the host.
    bare: world::ApiDialectPre<State<()>>,
    health: Arc<Health>,
}

impl DialectPlugin {
    /// Loads `path` as an API dialect and asks it for its name and routes.
    pub fn load(
        rt: &Runtime,
        path: &Path,
        config: BTreeMap<String, String>,
    ) -> Result<DialectPlugin, PluginError> {
        let shown = path.display().to_string();
        let wrong = |e: wasmtime::Error| PluginError::WrongWorld {
            path: shown.clone(),
            world: DialectWorld::NAME.into(),
            reason: PluginError::first_line(&e),
        };
        let (component, pre) = rt.prepare::<DialectWorld>(path)?;
        let pre = world::ApiDialectPre::new(pre).map_err(wrong)?;
        let bare = world::ApiDialectPre::new(rt.prepare_bare::<DialectWorld>(&component)?)
            .map_err(wrong)?;
        let mut plugin = DialectPlugin {
            name: shown.clone(),
            path: path.to_path_buf(),
            routes: Vec::new(),
            config: Arc::new(config),
            pre,
            bare,
            health: Arc::default(),
        };
        let mut store = rt.store(plugin.identity(), ());
        let instance = plugin
            .bare
            .instantiate(&mut store)
            .map_err(|e| rt.classify(&store, "instantiate", e))?;
        let d = instance.metacloud_api_dialect();
        rt.arm(&mut store);
        plugin.name = d
            .call_name(&mut store)
            .map_err(|e| rt.classify(&store, "name", e))?;
        rt.arm(&mut store);
        plugin.routes = d
            .call_routes(&mut store)
            .map_err(|e| rt.classify(&store, "routes", e))?;
        Ok(plugin)
    }

    fn identity(&self) -> Plugin {
        Plugin {
            name: self.name.clone(),
            config: self.config.clone(),
            health: self.health.clone(),
        }
    }

    /// Serves one request in a fresh instance (pooling allocator: microseconds) under the
    /// memory cap and deadline, with `imports` as the host's side of its imports.
    pub fn handle(
        &self,
        rt: &Runtime,
        imports: DialectImports,
        route: u32,
        params: Vec<(String, String)>,
        caller: Option<Caller>,
        req: HttpRequest,
    ) -> Result<HttpResponse, PluginError> {
        let mut store = rt.store(self.identity(), imports);
        let call = AssertUnwindSafe(|| {
            let instance = self
                .pre
                .instantiate(&mut store)
                .map_err(|e| rt.classify(&store, "instantiate", e))?;
            rt.arm(&mut store);
            instance
                .metacloud_api_dialect()
                .call_handle(&mut store, route, &params, caller.as_ref(), &req)
                .map_err(|e| rt.classify(&store, "handle", e))
        });
        // An import the host did not give for this call fails only the call.
        let result = std::panic::catch_unwind(call).unwrap_or_else(|panic| {
            let reason = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a host import panicked".into());
            Err(PluginError::Trap {
                plugin: self.name.clone(),
                call: "handle".into(),
                reason,
            })
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
        let mut store = rt.store(self.identity(), ());
        let result = self
            .bare
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

/// Packs servers as `server-page` lays them out (the layout: the `metacloud-page` crate).
pub fn pack_servers(servers: &[Server]) -> ServerPage {
    let page = metacloud_page::pack(servers.iter().map(row));
    ServerPage {
        count: page.count,
        text: page.text,
        ends: page.ends,
        numbers: page.numbers,
    }
}

fn row(s: &Server) -> metacloud_page::ServerRow<'_> {
    metacloud_page::ServerRow {
        id: &s.id,
        name: &s.name,
        project_id: &s.project_id,
        user_id: &s.user_id,
        flavor_id: &s.flavor.id,
        image_id: s.image_id.as_deref(),
        host: s.host.as_deref(),
        availability_zone: s.availability_zone.as_deref(),
        vm_state: &s.vm_state,
        task_state: s.task_state.as_deref(),
        key_name: s.key_name.as_deref(),
        access_ipv4: &s.access_ipv4,
        access_ipv6: &s.access_ipv6,
        metadata: s
            .metadata
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect(),
        created_at: s.created_at,
        updated_at: s.updated_at,
        launched_at: s.launched_at,
        terminated_at: s.terminated_at,
        power_state: s.power_state,
        fault: s
            .fault
            .as_ref()
            .map(|f| (f.code, f.message.as_str(), f.created_at)),
        locked: s.locked,
    }
}
