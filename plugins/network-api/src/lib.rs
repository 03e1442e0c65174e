//! The OpenStack Network API (Neutron v2.0), as a dialect plugin over the host's networking
//! (nova-network's model: a network has one IPv4 subnet, its security groups and floating
//! addresses are the project's). Served so far: version discovery, the extension list (only
//! what is served), networks and their subnets (read; floating pools shown as external
//! networks), ports (read), floating IPs (allocate from an external network, point at a
//! port, release) and security groups with their rules. Errors are Neutron's
//! `{"NeutronError": {"type", "message", "detail"}}`.
//!
//! A network's one subnet has the network's id: the two are the same object here.

metacloud_sdk::dialect_plugin!(Neutron, "../../wit/api");

mod body;
mod errors;
mod floating;
mod networks;
mod ports;
mod query;
mod quotas;
mod security_groups;
mod versions;

use bindings::metacloud::api::types::Caller;
use metacloud_sdk::dialect::{Access, Dialect, Route, Router};
pub use metacloud_sdk::dialect::{Fault, Reply};

macro_rules! endpoint {
    ($method:literal, $path:literal, $access:ident, $handler:path) => {
        Route::new($method, $path, Access::$access, $handler)
    };
}

/// The routes, in the order the host checks them.
const ROUTES: &[Route<Caller>] = &[
    endpoint!("GET", "/", Public, versions::versions),
    endpoint!("GET", "/v2.0", Reader, versions::resources),
    endpoint!("GET", "/v2.0/", Reader, versions::resources),
    endpoint!("GET", "/v2.0/extensions", Reader, versions::extensions),
    endpoint!(
        "GET",
        "/v2.0/extensions/{alias}",
        Reader,
        versions::extension
    ),
    endpoint!("GET", "/v2.0/networks", Reader, networks::list),
    endpoint!("GET", "/v2.0/networks/{id}", Reader, networks::show),
    endpoint!("GET", "/v2.0/subnets", Reader, networks::list_subnets),
    endpoint!("GET", "/v2.0/ports", Reader, ports::list),
    endpoint!("GET", "/v2.0/ports/{id}", Reader, ports::show),
    endpoint!("GET", "/v2.0/floatingips", Reader, floating::list),
    endpoint!("POST", "/v2.0/floatingips", Member, floating::create),
    endpoint!("GET", "/v2.0/floatingips/{id}", Reader, floating::show),
    endpoint!("PUT", "/v2.0/floatingips/{id}", Member, floating::update),
    endpoint!("DELETE", "/v2.0/floatingips/{id}", Member, floating::delete),
    endpoint!("GET", "/v2.0/subnets/{id}", Reader, networks::show_subnet),
    endpoint!("GET", "/v2.0/quotas/{project_id}", Reader, quotas::show),
    endpoint!(
        "GET",
        "/v2.0/quotas/{project_id}/details",
        Reader,
        quotas::details
    ),
    endpoint!("PUT", "/v2.0/quotas/{project_id}", Admin, quotas::update),
    endpoint!("DELETE", "/v2.0/quotas/{project_id}", Admin, quotas::reset),
    endpoint!(
        "GET",
        "/v2.0/security-groups",
        Reader,
        security_groups::list
    ),
    endpoint!(
        "POST",
        "/v2.0/security-groups",
        Member,
        security_groups::create
    ),
    endpoint!(
        "GET",
        "/v2.0/security-groups/{id}",
        Reader,
        security_groups::show
    ),
    endpoint!(
        "PUT",
        "/v2.0/security-groups/{id}",
        Member,
        security_groups::update
    ),
    endpoint!(
        "DELETE",
        "/v2.0/security-groups/{id}",
        Member,
        security_groups::delete
    ),
    endpoint!(
        "GET",
        "/v2.0/security-group-rules",
        Reader,
        security_groups::list_rules
    ),
    endpoint!(
        "POST",
        "/v2.0/security-group-rules",
        Member,
        security_groups::create_rule
    ),
    endpoint!(
        "GET",
        "/v2.0/security-group-rules/{id}",
        Reader,
        security_groups::show_rule
    ),
    endpoint!(
        "DELETE",
        "/v2.0/security-group-rules/{id}",
        Member,
        security_groups::delete_rule
    ),
];

/// A request as the handlers see it.
pub type Request = metacloud_sdk::dialect::Request<Caller>;

/// The Network API (Neutron v2.0).
pub struct Neutron;

impl Dialect for Neutron {
    const NAME: &'static str = "openstack-network";
    type Caller = Caller;
    const ROUTER: Router<Caller> = Router::new(ROUTES);
    const UNKNOWN_ROUTE: &'static str = "The resource could not be found.";

    fn fault(status: u16, message: &str) -> Reply {
        errors::reply(status, errors::kind_of(status, message), message)
    }
}

/// Whether the caller holds the `admin` role.
pub fn is_admin(r: &Request) -> bool {
    r.caller
        .as_ref()
        .is_some_and(|c| c.roles.iter().any(|role| role == "admin"))
}
