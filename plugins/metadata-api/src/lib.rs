//! The instance metadata service as a dialect plugin: the EC2-style tree
//! (`/{version}/meta-data/…`, `user-data`, `dynamic/instance-identity/document`, IMDSv2
//! session tokens) and the OpenStack-style one (`/openstack/{version}/meta_data.json`, …),
//! shaped as Nova serves them and as cloud-init's `DataSourceEc2` and
//! `DataSourceOpenStack` crawl them.
//!
//! The host identifies the calling instance before `handle` (a metadata proxy's signed
//! `X-Instance-ID`); the plugin only asks `metadata::current-instance`. Without one, every
//! route but the version listings answers 404 and says nothing more. Session tokens are
//! the host's: it issues them as sealed references it opens in the response, and seals the
//! token header of a request before the plugin checks it through the host. Errors are
//! plain text, `"<status> <reason>\n\n<message>"`.

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "api-dialect",
        path: "../../wit/api",
        generate_all,
    });
}

pub mod ec2;
mod handlers;
pub mod ids;
pub mod imds;
pub mod openstack;
pub mod reply;
pub mod tree;
pub mod versions;

use bindings::exports::metacloud::api::dialect::Guest;
pub use bindings::metacloud::api::metadata::InstanceData;
use bindings::metacloud::api::types::{Access, Caller, HttpRequest, HttpResponse, Route};
use reply::{Error, Reply};

/// What the handlers ask of the host: the `metadata` imports and the region.
pub trait Host {
    fn current_instance(&self) -> Option<InstanceData>;
    fn issue_session_token(&self, ttl_seconds: u32) -> Option<String>;
    fn check_session_token(&self, token: &str) -> bool;
    /// The catalog's region (empty when it names none).
    fn region(&self) -> String;
}

/// The host through the world's imports.
struct Imports;

impl Host for Imports {
    fn current_instance(&self) -> Option<InstanceData> {
        bindings::metacloud::api::metadata::current_instance()
    }
    fn issue_session_token(&self, ttl_seconds: u32) -> Option<String> {
        bindings::metacloud::api::metadata::issue_session_token(ttl_seconds)
    }
    fn check_session_token(&self, token: &str) -> bool {
        bindings::metacloud::api::metadata::check_session_token(token)
    }
    fn region(&self) -> String {
        bindings::metacloud::api::identity::get_catalog().region
    }
}

/// One route: method, path template and its handler. Every route is public: an instance
/// has no credentials; the host has identified it already.
struct Endpoint {
    method: &'static str,
    path: &'static str,
    handler: fn(&Request, &dyn Host) -> Result<Reply, Error>,
}

macro_rules! route {
    ($method:literal, $path:expr, $handler:path) => {
        Endpoint {
            method: $method,
            path: $path,
            handler: $handler,
        }
    };
}

/// The EC2 routes (`{version}`: `latest`, `1.0` or a date) and the OpenStack ones. The
/// catch-all `{*rest}` matches one character or more, so each directory is also
/// declared with a trailing slash and without. `PUT /latest/api/token` sits beside the
/// `/{version}/…` templates: a literal segment beside a parameter, which the host's
/// router allows.
const ENDPOINTS: &[Endpoint] = &[
    route!("GET", "/", handlers::ec2_versions),
    route!("GET", "/{version}", handlers::ec2_root),
    route!("GET", "/{version}/", handlers::ec2_root),
    route!("GET", "/{version}/meta-data", handlers::ec2_meta_data),
    route!("GET", "/{version}/meta-data/", handlers::ec2_meta_data),
    route!(
        "GET",
        "/{version}/meta-data/{*rest}",
        handlers::ec2_meta_data_at
    ),
    route!("GET", "/{version}/user-data", handlers::ec2_user_data),
    route!("GET", "/{version}/dynamic", handlers::ec2_dynamic),
    route!("GET", "/{version}/dynamic/", handlers::ec2_dynamic),
    route!(
        "GET",
        "/{version}/dynamic/{*rest}",
        handlers::ec2_dynamic_at
    ),
    route!("PUT", "/latest/api/token", handlers::session_token),
    route!("GET", "/openstack", handlers::openstack_versions),
    route!("GET", "/openstack/", handlers::openstack_versions),
    route!("GET", "/openstack/{version}", handlers::openstack_files),
    route!("GET", "/openstack/{version}/", handlers::openstack_files),
    route!(
        "GET",
        "/openstack/{version}/meta_data.json",
        handlers::openstack_meta_data
    ),
    route!(
        "GET",
        "/openstack/{version}/user_data",
        handlers::openstack_user_data
    ),
    route!(
        "GET",
        "/openstack/{version}/vendor_data.json",
        handlers::openstack_vendor_data
    ),
    route!(
        "GET",
        "/openstack/{version}/vendor_data2.json",
        handlers::openstack_vendor_data2
    ),
    route!(
        "GET",
        "/openstack/{version}/network_data.json",
        handlers::openstack_network_data
    ),
];

/// A request as the handlers see it.
pub struct Request {
    pub params: Vec<(String, String)>,
    pub http: HttpRequest,
}

impl Request {
    /// A path parameter (empty when absent).
    fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }

    /// Every value of header `name`.
    fn headers(&self, name: &str) -> Vec<&str> {
        self.http
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Serves one request on route `route` against `host`.
pub fn dispatch(
    route: u32,
    params: Vec<(String, String)>,
    req: HttpRequest,
    host: &dyn Host,
) -> HttpResponse {
    let Some(endpoint) = ENDPOINTS.get(route as usize) else {
        return Error::not_found().response();
    };
    let request = Request { params, http: req };
    match (endpoint.handler)(&request, host) {
        Ok(r) => r.response(),
        Err(e) => e.response(),
    }
}

struct Plugin;

impl Guest for Plugin {
    fn name() -> String {
        "metadata".into()
    }

    fn routes() -> Vec<Route> {
        ENDPOINTS
            .iter()
            .map(|e| Route {
                method: e.method.into(),
                path: e.path.into(),
                access: Access::Public,
            })
            .collect()
    }

    fn handle(
        route: u32,
        params: Vec<(String, String)>,
        _c: Option<Caller>,
        req: HttpRequest,
    ) -> HttpResponse {
        dispatch(route, params, req, &Imports)
    }

    fn render_error(status: u16, message: String) -> HttpResponse {
        Error::new(status, message).response()
    }
}

// Exported from the WebAssembly build only (a native build is for unit tests).
#[cfg(target_arch = "wasm32")]
bindings::export!(Plugin with_types_in bindings);

#[cfg(test)]
mod tests;
