//! The OpenStack Network API (Neutron v2.0), as a dialect plugin over the host's networking
//! (a network has at most one IPv4 subnet; an external network's subnets are floating
//! ranges). Served: version discovery, the extension list (only what is served), networks
//! and subnets, ports (read; servers' and routers'), routers (gateway, interfaces), floating
//! IPs (allocate from an external network, point at a port, release), security groups with
//! their rules, quotas. Errors are Neutron's `{"NeutronError": {"type", "message",
//! "detail"}}`.

metacloud_sdk::dialect_plugin!(Neutron, "../../wit/api");

mod body;
mod errors;
mod floating;
mod networks;
mod ports;
mod query;
mod quotas;
mod routers;
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
    endpoint!("POST", "/v2.0/networks", Member, networks::create_any),
    endpoint!("GET", "/v2.0/networks/{id}", Reader, networks::show),
    endpoint!("PUT", "/v2.0/networks/{id}", Member, networks::update),
    endpoint!("DELETE", "/v2.0/networks/{id}", Member, networks::delete),
    endpoint!("GET", "/v2.0/subnets", Reader, networks::list_subnets),
    endpoint!("POST", "/v2.0/subnets", Member, networks::create_subnets),
    endpoint!("PUT", "/v2.0/subnets/{id}", Member, networks::update_subnet),
    endpoint!(
        "DELETE",
        "/v2.0/subnets/{id}",
        Member,
        networks::delete_subnet
    ),
    endpoint!("GET", "/v2.0/routers", Reader, routers::list),
    endpoint!("POST", "/v2.0/routers", Member, routers::create),
    endpoint!("GET", "/v2.0/routers/{id}", Reader, routers::show),
    endpoint!("PUT", "/v2.0/routers/{id}", Member, routers::update),
    endpoint!("DELETE", "/v2.0/routers/{id}", Member, routers::delete),
    endpoint!(
        "PUT",
        "/v2.0/routers/{id}/add_router_interface",
        Member,
        routers::add_interface
    ),
    endpoint!(
        "PUT",
        "/v2.0/routers/{id}/remove_router_interface",
        Member,
        routers::remove_interface
    ),
    endpoint!("GET", "/v2.0/ports", Reader, ports::list),
    endpoint!("POST", "/v2.0/ports", Member, ports::create_any),
    endpoint!("GET", "/v2.0/ports/{id}", Reader, ports::show),
    endpoint!("PUT", "/v2.0/ports/{id}", Member, ports::update),
    endpoint!("DELETE", "/v2.0/ports/{id}", Member, ports::delete),
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

/// A stable UUID-shaped id for `name` (two FNV-1a hashes; the same on every call), for
/// objects the host keeps no id for (a router's gateway port).
pub fn stable_id(name: &str) -> String {
    let fnv = |seed: u64| {
        name.bytes().fold(seed, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    let (a, b) = (fnv(0xcbf2_9ce4_8422_2325), fnv(0x8422_2325_cbf2_9ce4));
    format!(
        "{:08x}-{:04x}-8{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

/// Whether the caller holds the `admin` role.
pub fn is_admin(r: &Request) -> bool {
    r.caller
        .as_ref()
        .is_some_and(|c| c.roles.iter().any(|role| role == "admin"))
}

#[cfg(test)]
mod tests {
    use super::stable_id;

    #[test]
    fn stable_ids_are_stable_and_distinct() {
        assert_eq!(stable_id("public"), stable_id("public"));
        assert_ne!(stable_id("public"), stable_id("nova"));
        let id = stable_id("public");
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "8");
        assert!(id.split('-').map(str::len).eq([8, 4, 4, 4, 12]));
    }
}
