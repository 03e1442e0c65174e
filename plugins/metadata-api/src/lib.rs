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

metacloud_sdk::dialect_plugin!(Metadata, "../../wit/api");

pub mod ec2;
mod handlers;
pub mod ids;
pub mod imds;
pub mod openstack;
pub mod reply;
pub mod tree;
pub mod versions;

pub use bindings::metacloud::api::metadata::InstanceData;
use bindings::metacloud::api::types::{Caller, HttpRequest, HttpResponse};
use metacloud_sdk::dialect::{self as sdk, Access, Dialect, Route, Router};
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

/// What serves a route: the request and the host it asks.
type Handler = fn(&Request, &dyn Host) -> Result<Reply, Error>;

/// Runs `handler` against `host`; its answer and error in the SDK's terms.
fn run(handler: Handler, req: &Request, host: &dyn Host) -> Result<sdk::Reply, sdk::Fault> {
    handler(req, host)
        .map(Reply::into_sdk)
        .map_err(sdk::Fault::from)
}

/// Declares the routes once: [`ROUTES`] (every route public: an instance has no
/// credentials; the host has identified it already), served against the world's imports,
/// and [`HANDLERS`], the same handlers for a host of the caller's choosing ([`dispatch`]).
macro_rules! routes {
    ($(($method:literal, $path:expr, $handler:path)),* $(,)?) => {
        /// The routes, in the order the host checks them.
        const ROUTES: &[Route<Caller>] = &[$(
            Route::new($method, $path, Access::Public, |r| run($handler, r, &Imports))
        ),*];
        /// The handlers of [`ROUTES`], by the same index.
        const HANDLERS: &[Handler] = &[$($handler),*];
    };
}

// The EC2 routes (`{version}`: `latest`, `1.0` or a date) and the OpenStack ones. The
// catch-all `{*rest}` matches one character or more, so each directory is also declared
// with a trailing slash and without. `PUT /latest/api/token` sits beside the
// `/{version}/…` templates: a literal segment beside a parameter, which the host's router
// allows.
routes![
    ("GET", "/", handlers::ec2_versions),
    ("GET", "/{version}", handlers::ec2_root),
    ("GET", "/{version}/", handlers::ec2_root),
    ("GET", "/{version}/meta-data", handlers::ec2_meta_data),
    ("GET", "/{version}/meta-data/", handlers::ec2_meta_data),
    (
        "GET",
        "/{version}/meta-data/{*rest}",
        handlers::ec2_meta_data_at
    ),
    ("GET", "/{version}/user-data", handlers::ec2_user_data),
    ("GET", "/{version}/dynamic", handlers::ec2_dynamic),
    ("GET", "/{version}/dynamic/", handlers::ec2_dynamic),
    (
        "GET",
        "/{version}/dynamic/{*rest}",
        handlers::ec2_dynamic_at
    ),
    ("PUT", "/latest/api/token", handlers::session_token),
    ("GET", "/openstack", handlers::openstack_versions),
    ("GET", "/openstack/", handlers::openstack_versions),
    ("GET", "/openstack/{version}", handlers::openstack_files),
    ("GET", "/openstack/{version}/", handlers::openstack_files),
    (
        "GET",
        "/openstack/{version}/meta_data.json",
        handlers::openstack_meta_data
    ),
    (
        "GET",
        "/openstack/{version}/user_data",
        handlers::openstack_user_data
    ),
    (
        "GET",
        "/openstack/{version}/vendor_data.json",
        handlers::openstack_vendor_data
    ),
    (
        "GET",
        "/openstack/{version}/vendor_data2.json",
        handlers::openstack_vendor_data2
    ),
    (
        "GET",
        "/openstack/{version}/network_data.json",
        handlers::openstack_network_data
    ),
];

/// A request as the handlers see it (its caller is always none).
pub type Request = sdk::Request<Caller>;

/// The metadata service.
pub struct Metadata;

impl Dialect for Metadata {
    const NAME: &'static str = "metadata";
    type Caller = Caller;
    const ROUTER: Router<Caller> = Router::new(ROUTES);
    const UNKNOWN_ROUTE: &'static str = reply::NOT_FOUND;

    /// Plain text, `"<status> <reason>\n\n<message>"`.
    fn fault(status: u16, message: &str) -> sdk::Reply {
        Error::new(status, message).into_sdk()
    }
}

/// Serves one request on route `route` against `host` (the export serves the same
/// routes against the world's imports).
pub fn dispatch(
    route: u32,
    params: Vec<(String, String)>,
    req: HttpRequest,
    host: &dyn Host,
) -> HttpResponse {
    let request = __DialectExport::request(params, None, req);
    let reply = match HANDLERS.get(route as usize) {
        Some(handler) => run(*handler, &request, host),
        None => Err(sdk::Fault::not_found(reply::NOT_FOUND)),
    };
    __DialectExport::response(reply.unwrap_or_else(|f| Metadata::fault(f.status, &f.message)))
}

#[cfg(test)]
mod tests;
