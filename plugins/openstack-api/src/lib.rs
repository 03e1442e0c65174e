//! The OpenStack Compute API v2.1 as a dialect plugin: routes, request validation,
//! microversion negotiation, and Nova's response and fault shapes. State is reached only
//! through the host's typed `compute` operations.

metacloud_sdk::dialect_plugin!(Nova, "../../wit/api");

pub(crate) mod actions;
mod aggregates;
mod certificates;
mod diagnostics;
mod extensions;
mod extra_specs;
mod flavors;
mod groups;
mod hosts;
mod ids;
mod images;
mod metadata;
pub mod microversion;
mod network;
mod paging;
mod queries;
mod resources;
mod tags;
pub mod time;
mod usage;
pub mod views;

use bindings::metacloud::api::compute;
use bindings::metacloud::api::types::{
    BackupSpec, Caller, OpError, RebuildBoot, SchedulerHints, ServerCreate, ServerDetails,
    ServerExtra, ServerFilters, ServerNetworkInfo, ServerQuery,
};
use metacloud_sdk::dialect::{Access, Dialect, Route, Router, JSON};
pub use metacloud_sdk::dialect::{Fault, Reply};
use serde_json::{json, Map, Value};

/// The routes, in the order the host checks them.
const ROUTES: &[Route<Caller>] = &[
    Route::new("GET", "/", Access::Public, versions),
    Route::new("GET", "/v2.1", Access::Public, version),
    Route::new("GET", "/v2.1/", Access::Public, version),
    Route::new("GET", "/v2.1/flavors", Access::Reader, flavors::list),
    Route::new(
        "GET",
        "/v2.1/flavors/detail",
        Access::Reader,
        flavors::list_detail,
    ),
    Route::new(
        "GET",
        "/v2.1/flavors/{flavor_id}",
        Access::Reader,
        flavors::show,
    ),
    Route::new("GET", "/v2.1/servers", Access::Reader, list_servers),
    Route::new(
        "GET",
        "/v2.1/servers/detail",
        Access::Reader,
        list_servers_detail,
    ),
    Route::new("POST", "/v2.1/servers", Access::Member, create_server),
    Route::new(
        "GET",
        "/v2.1/servers/{server_id}",
        Access::Reader,
        show_server,
    ),
    Route::new(
        "PUT",
        "/v2.1/servers/{server_id}",
        Access::Member,
        update_server,
    ),
    Route::new(
        "DELETE",
        "/v2.1/servers/{server_id}",
        Access::Member,
        delete_server,
    ),
    Route::new(
        "POST",
        "/v2.1/servers/{server_id}/action",
        Access::Member,
        server_action,
    ),
    Route::new(
        "POST",
        "/v2.1/flavors",
        Access::Admin,
        resources::create_flavor,
    ),
    Route::new(
        "DELETE",
        "/v2.1/flavors/{flavor_id}",
        Access::Admin,
        resources::delete_flavor,
    ),
    Route::new(
        "PUT",
        "/v2.1/flavors/{flavor_id}",
        Access::Admin,
        flavors::update,
    ),
    Route::new(
        "GET",
        "/v2.1/os-keypairs",
        Access::Reader,
        resources::list_keypairs,
    ),
    Route::new(
        "POST",
        "/v2.1/os-keypairs",
        Access::Member,
        resources::create_keypair,
    ),
    Route::new(
        "GET",
        "/v2.1/os-keypairs/{keypair_name}",
        Access::Reader,
        resources::show_keypair,
    ),
    Route::new(
        "DELETE",
        "/v2.1/os-keypairs/{keypair_name}",
        Access::Member,
        resources::delete_keypair,
    ),
    Route::new("GET", "/v2.1/limits", Access::Reader, resources::limits),
    Route::new(
        "GET",
        "/v2.1/os-quota-sets/{tenant_id}",
        Access::Reader,
        resources::show_quota_set,
    ),
    Route::new(
        "PUT",
        "/v2.1/os-quota-sets/{tenant_id}",
        Access::Admin,
        resources::update_quota_set,
    ),
    Route::new(
        "GET",
        "/v2.1/os-quota-sets/{tenant_id}/detail",
        Access::Reader,
        resources::show_quota_detail,
    ),
    Route::new(
        "GET",
        "/v2.1/os-quota-sets/{tenant_id}/defaults",
        Access::Reader,
        resources::quota_defaults,
    ),
    Route::new(
        "GET",
        "/v2.1/os-availability-zone",
        Access::Reader,
        resources::availability_zones,
    ),
    Route::new(
        "GET",
        "/v2.1/os-availability-zone/detail",
        Access::Admin,
        resources::availability_zones_detail,
    ),
    Route::new(
        "GET",
        "/v2.1/os-services",
        Access::Admin,
        resources::services,
    ),
    Route::new(
        "PUT",
        "/v2.1/os-services/{action}",
        Access::Admin,
        hosts::update_service,
    ),
    Route::new(
        "DELETE",
        "/v2.1/os-services/{action}",
        Access::Admin,
        hosts::delete_service,
    ),
    Route::new(
        "GET",
        "/v2.1/os-migrations",
        Access::Admin,
        hosts::migrations,
    ),
    Route::new(
        "GET",
        "/v2.1/os-hypervisors",
        Access::Admin,
        resources::hypervisors,
    ),
    Route::new(
        "GET",
        "/v2.1/os-hypervisors/detail",
        Access::Admin,
        resources::hypervisors_detail,
    ),
    Route::new(
        "GET",
        "/v2.1/servers/{server_id}/metadata",
        Access::Reader,
        metadata::list,
    ),
    Route::new(
        "POST",
        "/v2.1/servers/{server_id}/metadata",
        Access::Member,
        metadata::merge,
    ),
    Route::new(
        "PUT",
        "/v2.1/servers/{server_id}/metadata",
        Access::Member,
        metadata::replace,
    ),
    Route::new(
        "GET",
        "/v2.1/servers/{server_id}/metadata/{key}",
        Access::Reader,
        metadata::show,
    ),
    Route::new(
        "PUT",
        "/v2.1/servers/{server_id}/metadata/{key}",
        Access::Member,
        metadata::set,
    ),
    Route::new(
        "DELETE",
        "/v2.1/servers/{server_id}/metadata/{key}",
        Access::Member,
        metadata::delete,
    ),
    Route::new(
        "POST",
        "/v2.1/os-server-groups",
        Access::Member,
        groups::create,
    ),
    Route::new(
        "GET",
        "/v2.1/os-server-groups",
        Access::Reader,
        groups::list,
    ),
    Route::new(
        "GET",
        "/v2.1/os-server-groups/{group_id}",
        Access::Reader,
        groups::show,
    ),
    Route::new(
        "DELETE",
        "/v2.1/os-server-groups/{group_id}",
        Access::Member,
        groups::delete,
    ),
    Route::new(
        "GET",
        "/v2.1/servers/{server_id}/os-instance-actions",
        Access::Reader,
        actions::list,
    ),
    Route::new(
        "GET",
        "/v2.1/servers/{server_id}/diagnostics",
        Access::Admin,
        diagnostics::show,
    ),
    Route::new(
        "GET",
        "/v2.1/servers/{server_id}/topology",
        Access::Reader,
        server_topology,
    ),
    Route::new(
        "GET",
        "/v2.1/os-simple-tenant-usage",
        Access::Reader,
        usage::index,
    ),
    Route::new(
        "GET",
        "/v2.1/os-simple-tenant-usage/{tenant_id}",
        Access::Reader,
        usage::show,
    ),
    Route::new(
        "GET",
        "/v2.1/servers/{server_id}/migrations",
        Access::Admin,
        hosts::server_migrations,
    ),
    Route::new(
        "GET",
        "/v2.1/servers/{server_id}/migrations/{migration_id}",
        Access::Admin,
        hosts::server_migration,
    ),
    Route::new(
        "GET",
        "/v2.1/servers/{server_id}/tags",
        Access::Reader,
        tags::index,
    ),
    Route::new(
        "PUT",
        "/v2.1/servers/{server_id}/tags",
        Access::Member,
        tags::replace_all,
    ),
    Route::new(
        "DELETE",
        "/v2.1/servers/{server_id}/tags",
        Access::Member,
        tags::delete_all,
    ),
    Route::new(
        "GET",
        "/v2.1/servers/{server_id}/tags/{tag}",
        Access::Reader,
        tags::show,
    ),
    Route::new(
        "PUT",
        "/v2.1/servers/{server_id}/tags/{tag}",
        Access::Member,
        tags::add,
    ),
    Route::new(
        "DELETE",
        "/v2.1/servers/{server_id}/tags/{tag}",
        Access::Member,
        tags::remove,
    ),
    Route::new(
        "GET",
        "/v2.1/servers/{server_id}/os-instance-actions/{request_id}",
        Access::Reader,
        actions::show,
    ),
    Route::new("GET", "/v2.1/extensions", Access::Reader, extensions::list),
    Route::new(
        "GET",
        "/v2.1/extensions/{alias}",
        Access::Reader,
        extensions::show,
    ),
    Route::new(
        "GET",
        "/v2.1/flavors/{flavor_id}/os-extra_specs",
        Access::Reader,
        flavors::list_extra_specs,
    ),
    Route::new(
        "POST",
        "/v2.1/flavors/{flavor_id}/os-extra_specs",
        Access::Admin,
        flavors::create_extra_specs,
    ),
    Route::new(
        "GET",
        "/v2.1/flavors/{flavor_id}/os-extra_specs/{key}",
        Access::Reader,
        flavors::show_extra_spec,
    ),
    Route::new(
        "PUT",
        "/v2.1/flavors/{flavor_id}/os-extra_specs/{key}",
        Access::Admin,
        flavors::update_extra_spec,
    ),
    Route::new(
        "DELETE",
        "/v2.1/flavors/{flavor_id}/os-extra_specs/{key}",
        Access::Admin,
        flavors::delete_extra_spec,
    ),
    Route::new(
        "GET",
        "/v2.1/flavors/{flavor_id}/os-flavor-access",
        Access::Admin,
        flavors::list_access,
    ),
    Route::new(
        "POST",
        "/v2.1/flavors/{flavor_id}/action",
        Access::Admin,
        flavors::action,
    ),
    Route::new(
        "DELETE",
        "/v2.1/os-quota-sets/{tenant_id}",
        Access::Admin,
        resources::delete_quota_set,
    ),
    Route::new(
        "PUT",
        "/v2.1/os-quota-class-sets/{class_name}",
        Access::Admin,
        resources::update_quota_class,
    ),
    Route::new(
        "GET",
        "/v2.1/os-quota-class-sets/{class_name}",
        Access::Admin,
        resources::show_quota_class,
    ),
    Route::new(
        "GET",
        "/v2.1/os-hypervisors/statistics",
        Access::Admin,
        resources::hypervisor_statistics,
    ),
    Route::new(
        "GET",
        "/v2.1/os-hypervisors/{hypervisor_id}",
        Access::Admin,
        resources::show_hypervisor,
    ),
    Route::new(
        "GET",
        "/v2.1/os-hypervisors/{hypervisor_id}/uptime",
        Access::Admin,
        resources::hypervisor_uptime,
    ),
    Route::new(
        "GET",
        "/v2.1/os-hypervisors/{hypervisor_id}/search",
        Access::Admin,
        resources::search_hypervisors,
    ),
    Route::new(
        "GET",
        "/v2.1/os-hypervisors/{hypervisor_id}/servers",
        Access::Admin,
        resources::hypervisor_servers,
    ),
    Route::new(
        "GET",
        "/v2.1/os-aggregates",
        Access::Admin,
        aggregates::list,
    ),
    Route::new(
        "POST",
        "/v2.1/os-aggregates",
        Access::Admin,
        aggregates::create,
    ),
    Route::new(
        "GET",
        "/v2.1/os-aggregates/{aggregate_id}",
        Access::Admin,
        aggregates::show,
    ),
    Route::new(
        "PUT",
        "/v2.1/os-aggregates/{aggregate_id}",
        Access::Admin,
        aggregates::update,
    ),
    Route::new(
        "DELETE",
        "/v2.1/os-aggregates/{aggregate_id}",
        Access::Admin,
        aggregates::delete,
    ),
    Route::new(
        "POST",
        "/v2.1/os-aggregates/{aggregate_id}/action",
        Access::Admin,
        aggregates::action,
    ),
    Route::new(
        "POST",
        "/v2.1/os-aggregates/{aggregate_id}/images",
        Access::Admin,
        aggregates::cache_images,
    ),
    Route::new("GET", "/v2", Access::Public, version_v2),
    Route::new("GET", "/v2/", Access::Public, version_v2),
    Route::new("GET", "/v2.1/os-hosts", Access::Admin, resources::hosts),
    Route::new("GET", "/v2.1/images", Access::Reader, images::list),
    Route::new(
        "GET",
        "/v2.1/images/detail",
        Access::Reader,
        images::list_detail,
    ),
    Route::new(
        "GET",
        "/v2.1/images/{image_id}",
        Access::Reader,
        images::show,
    ),
    Route::new(
        "DELETE",
        "/v2.1/images/{image_id}",
        Access::Member,
        images::delete,
    ),
    Route::new(
        "GET",
        "/v2.1/images/{image_id}/metadata",
        Access::Reader,
        images::list_metadata,
    ),
    Route::new(
        "POST",
        "/v2.1/images/{image_id}/metadata",
        Access::Member,
        images::merge_metadata,
    ),
    Route::new(
        "PUT",
        "/v2.1/images/{image_id}/metadata",
        Access::Member,
        images::replace_metadata,
    ),
    Route::new(
        "GET",
        "/v2.1/images/{image_id}/metadata/{key}",
        Access::Reader,
        images::show_metadata_item,
    ),
    Route::new(
        "PUT",
        "/v2.1/images/{image_id}/metadata/{key}",
        Access::Member,
        images::set_metadata_item,
    ),
    Route::new(
        "DELETE",
        "/v2.1/images/{image_id}/metadata/{key}",
        Access::Member,
        images::delete_metadata_item,
    ),
    Route::new(
        "POST",
        "/v2.1/os-certificates",
        Access::Member,
        certificates::create,
    ),
    Route::new(
        "GET",
        "/v2.1/os-certificates/{certificate_id}",
        Access::Reader,
        certificates::show,
    ),
    Route::new(
        "GET",
        "/v2.1/os-networks",
        Access::Reader,
        network::list_networks,
    ),
    Route::new(
        "POST",
        "/v2.1/os-networks",
        Access::Admin,
        network::create_network,
    ),
    Route::new(
        "POST",
        "/v2.1/os-networks/add",
        Access::Admin,
        network::add_network,
    ),
    Route::new(
        "GET",
        "/v2.1/os-networks/{network_id}",
        Access::Reader,
        network::show_network,
    ),
    Route::new(
        "DELETE",
        "/v2.1/os-networks/{network_id}",
        Access::Admin,
        network::delete_network,
    ),
    Route::new(
        "POST",
        "/v2.1/os-networks/{network_id}/action",
        Access::Admin,
        network::network_action,
    ),
    Route::new(
        "GET",
        "/v2.1/os-tenant-networks",
        Access::Reader,
        network::list_tenant_networks,
    ),
    Route::new(
        "POST",
        "/v2.1/os-tenant-networks",
        Access::Member,
        network::create_tenant_network,
    ),
    Route::new(
        "GET",
        "/v2.1/os-tenant-networks/{network_id}",
        Access::Reader,
        network::show_tenant_network,
    ),
    Route::new(
        "DELETE",
        "/v2.1/os-tenant-networks/{network_id}",
        Access::Member,
        network::delete_tenant_network,
    ),
    Route::new(
        "GET",
        "/v2.1/os-floating-ip-pools",
        Access::Reader,
        network::list_pools,
    ),
    Route::new(
        "GET",
        "/v2.1/os-floating-ips",
        Access::Reader,
        network::list_floating,
    ),
    Route::new(
        "POST",
        "/v2.1/os-floating-ips",
        Access::Member,
        network::allocate_floating,
    ),
    Route::new(
        "GET",
        "/v2.1/os-floating-ips/{floating_ip_id}",
        Access::Reader,
        network::show_floating,
    ),
    Route::new(
        "DELETE",
        "/v2.1/os-floating-ips/{floating_ip_id}",
        Access::Member,
        network::release_floating,
    ),
    Route::new(
        "GET",
        "/v2.1/os-floating-ips-bulk",
        Access::Admin,
        network::bulk_list,
    ),
    Route::new(
        "POST",
        "/v2.1/os-floating-ips-bulk",
        Access::Admin,
        network::bulk_create,
    ),
    Route::new(
        "PUT",
        "/v2.1/os-floating-ips-bulk/delete",
        Access::Admin,
        network::bulk_delete,
    ),
    Route::new(
        "GET",
        "/v2.1/os-floating-ips-bulk/{host_name}",
        Access::Admin,
        network::bulk_list,
    ),
    Route::new(
        "GET",
        "/v2.1/os-fixed-ips/{fixed_ip}",
        Access::Admin,
        network::show_fixed_ip,
    ),
    Route::new(
        "POST",
        "/v2.1/os-fixed-ips/{fixed_ip}/action",
        Access::Admin,
        network::fixed_ip_action,
    ),
    Route::new(
        "GET",
        "/v2.1/os-security-groups",
        Access::Reader,
        network::list_groups,
    ),
    Route::new(
        "POST",
        "/v2.1/os-security-groups",
        Access::Member,
        network::create_group,
    ),
    Route::new(
        "GET",
        "/v2.1/os-security-groups/{security_group_id}",
        Access::Reader,
        network::show_group,
    ),
    Route::new(
        "PUT",
        "/v2.1/os-security-groups/{security_group_id}",
        Access::Member,
        network::update_group,
    ),
    Route::new(
        "DELETE",
        "/v2.1/os-security-groups/{security_group_id}",
        Access::Member,
        network::delete_group,
    ),
    Route::new(
        "POST",
        "/v2.1/os-security-group-rules",
        Access::Member,
        network::create_rule,
    ),
    Route::new(
        "DELETE",
        "/v2.1/os-security-group-rules/{security_group_rule_id}",
        Access::Member,
        network::delete_rule,
    ),
    Route::new(
        "GET",
        "/v2.1/os-security-group-default-rules",
        Access::Admin,
        network::default_rules,
    ),
    Route::new(
        "POST",
        "/v2.1/os-security-group-default-rules",
        Access::Admin,
        network::default_rules,
    ),
    Route::new(
        "GET",
        "/v2.1/os-security-group-default-rules/{rule_id}",
        Access::Admin,
        network::default_rules,
    ),
    Route::new(
        "DELETE",
        "/v2.1/os-security-group-default-rules/{rule_id}",
        Access::Admin,
        network::default_rules,
    ),
    Route::new(
        "GET",
        "/v2.1/servers/{server_id}/os-security-groups",
        Access::Reader,
        network::server_groups,
    ),
    Route::new(
        "GET",
        "/v2.1/servers/{server_id}/os-virtual-interfaces",
        Access::Reader,
        network::virtual_interfaces,
    ),
    Route::new(
        "GET",
        "/v2.1/servers/{server_id}/os-server-password",
        Access::Reader,
        server_password,
    ),
    Route::new(
        "DELETE",
        "/v2.1/servers/{server_id}/os-server-password",
        Access::Member,
        server_password,
    ),
    Route::new(
        "GET",
        "/v2.1/servers/{server_id}/ips",
        Access::Reader,
        network::ips,
    ),
    Route::new(
        "GET",
        "/v2.1/servers/{server_id}/ips/{network_label}",
        Access::Reader,
        network::ips_of_network,
    ),
    Route::new(
        "GET",
        "/v2.1/servers/{server_id}/os-interface",
        Access::Reader,
        network::list_interfaces,
    ),
    Route::new(
        "GET",
        "/v2.1/servers/{server_id}/os-interface/{port_id}",
        Access::Reader,
        network::show_interface,
    ),
    Route::new(
        "POST",
        "/v2.1/servers/{server_id}/os-interface",
        Access::Member,
        network::attach_interface,
    ),
    Route::new(
        "DELETE",
        "/v2.1/servers/{server_id}/os-interface/{port_id}",
        Access::Member,
        network::detach_interface,
    ),
];

/// A request as the handlers see it.
pub type Request = metacloud_sdk::dialect::Request<Caller>;

/// What the compute API reads off a request beyond the SDK's helpers.
pub trait NovaRequest {
    /// Whether the caller holds the `admin` role.
    fn is_admin(&self) -> bool;
    /// The body as JSON; anything else is Nova's 400 "Malformed request body".
    fn body_json(&self) -> Result<Value, Fault>;
    /// The `host` header (`localhost` without one): links are `http://<host>/…`.
    fn host(&self) -> &str;
}

impl NovaRequest for Request {
    fn is_admin(&self) -> bool {
        self.caller
            .as_ref()
            .is_some_and(|c| c.roles.iter().any(|r| r == "admin"))
    }

    fn body_json(&self) -> Result<Value, Fault> {
        serde_json::from_slice(&self.body).map_err(|_| Fault::bad_request("Malformed request body"))
    }

    fn host(&self) -> &str {
        self.header("host").unwrap_or("localhost")
    }
}

/// The compute API, microversions [`microversion::MIN`] to [`microversion::MAX`].
pub struct Nova;

impl Dialect for Nova {
    const NAME: &'static str = "openstack-compute";
    type Caller = Caller;
    const ROUTER: Router<Caller> = Router::new(ROUTES);

    /// A Nova fault: `{"<kind>": {"code": N, "message": "..."}}`, the kind by status.
    fn fault(status: u16, message: &str) -> Reply {
        Reply::json(
            status,
            &json!({fault_kind(status): {"code": status, "message": message}}),
        )
    }

    /// The microversion asked for must be served, and the route exist at it.
    fn admit(req: &Request) -> Result<(), Fault> {
        microversion::check_route(req, microversion::negotiate(req)?)?;
        queries::check(req)
    }

    /// Every response names its microversion (the minimum when none was negotiated).
    fn finish(req: Option<&Request>, reply: Reply) -> Reply {
        let v = req
            .and_then(|r| microversion::negotiate(r).ok())
            .unwrap_or(microversion::MIN)
            .to_string();
        reply
            .with_header("openstack-api-version", format!("compute {v}"))
            .with_header("x-openstack-nova-api-version", v)
            .with_header(
                "vary",
                "OpenStack-API-Version, X-OpenStack-Nova-API-Version",
            )
    }
}

/// The kind of Nova fault a status is.
fn fault_kind(status: u16) -> &'static str {
    match status {
        400 => "badRequest",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "itemNotFound",
        405 => "methodNotAllowed",
        409 => "conflictingRequest",
        413 => "overLimit",
        501 => "notImplemented",
        _ => "computeFault",
    }
}

/// The host's operation errors as Nova's faults (what `?` on an import does).
impl From<OpError> for Fault {
    fn from(e: OpError) -> Fault {
        match e {
            OpError::NotFound(m) => Fault::not_found(m),
            OpError::BadRequest(m) => Fault::bad_request(m),
            OpError::Forbidden(m) => Fault::forbidden(m),
            OpError::Conflict(m) => Fault::conflict(m),
            OpError::QuotaExceeded(q) => Fault::forbidden(format!(
                "Quota exceeded for {r}: Requested {}, but already used {} of {} {r}",
                q.requested,
                q.used,
                q.limit,
                r = q.resource
            )),
            OpError::Unavailable(m) => Fault::new(503, m),
            OpError::Internal(m) => Fault::internal(m),
        }
    }
}

// --- versions ----------------------------------------------------------------------------

fn version_doc(base: &str) -> Value {
    json!({
        "id": "v2.1",
        "status": "CURRENT",
        "version": microversion::MAX.to_string(),
        "min_version": microversion::MIN.to_string(),
        "updated": "2013-07-23T11:33:21Z",
        "links": [{"rel": "self", "href": format!("{base}/v2.1/")},
                  {"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}],
    })
}

/// The legacy v2.0 API, listed first as Nova does; it is served by the v2.1 code.
fn version_v20(base: &str) -> Value {
    json!({
        "id": "v2.0",
        "status": "SUPPORTED",
        "version": "",
        "min_version": "",
        "updated": "2011-01-21T11:33:21Z",
        "links": [{"rel": "self", "href": format!("{base}/v2/")}],
    })
}

fn versions(r: &Request) -> Result<Reply, Fault> {
    Ok(Reply::json(
        200,
        &json!({"versions": [version_v20(&r.origin()), version_doc(&r.origin())]}),
    ))
}

fn version_v2(r: &Request) -> Result<Reply, Fault> {
    let mut doc = version_v20(&r.origin());
    doc["media-types"] = json!([{"base": "application/json",
        "type": "application/vnd.openstack.compute+json;version=2"}]);
    Ok(Reply::json(200, &json!({"version": doc})))
}

fn version(r: &Request) -> Result<Reply, Fault> {
    Ok(Reply::json(
        200,
        &json!({"version": version_doc(&r.origin())}),
    ))
}

// --- servers -----------------------------------------------------------------------------

/// Nova's status filter values and the vm_states they stand for.
fn vm_states_for(status: &str) -> Option<&'static [&'static str]> {
    Some(match status.to_ascii_uppercase().as_str() {
        "ACTIVE" | "REBOOT" | "HARD_REBOOT" => &["active"],
        "BUILD" => &["building"],
        "SHUTOFF" => &["stopped"],
        "PAUSED" => &["paused"],
        "SUSPENDED" => &["suspended"],
        "ERROR" => &["error"],
        "DELETED" => &["deleted"],
        _ => return None,
    })
}

fn server_query(r: &Request) -> Result<ServerQuery, Fault> {
    let truthy = |v: Option<&str>| {
        v.is_some_and(|v| {
            !matches!(
                v.to_ascii_lowercase().as_str(),
                "0" | "false" | "off" | "no"
            )
        })
    };
    // Admin-only filters are ignored for others, as Nova does.
    let admin = r.is_admin();
    let all_projects =
        admin && (truthy(r.query("all_tenants")) || r.query("all_tenants") == Some(""));
    let mut vm_states = Vec::new();
    if let Some(s) = r.query("status") {
        match vm_states_for(s) {
            Some(list) => vm_states.extend(list.iter().map(|s| s.to_string())),
            None if microversion::since(r, microversion::Change::StrictStatusFilter) => {
                return Err(Fault::bad_request("Invalid status value"))
            }
            // An unknown status matches nothing (before 2.38).
            None => vm_states.push(format!("unknown:{s}")),
        }
    }
    let limit = match r.query("limit") {
        Some(l) => Some(l.parse::<u32>().map_err(|_| Fault::bad_request(format!("Invalid input for query parameters limit. Value: {l}. '{l}' does not match '^[0-9]*$'")))?),
        None => None,
    };
    let changes_since = match r.query("changes-since") {
        Some(t) => Some(time::parse(t).ok_or_else(|| Fault::bad_request(format!("Invalid input for query parameters changes-since. Value: {t}. '{t}' is not a 'date-time'")))?),
        None => None,
    };
    Ok(ServerQuery {
        all_projects,
        project_id: if admin {
            r.query("project_id")
                .or(r.query("tenant_id"))
                .map(String::from)
        } else {
            None
        },
        name: r.query("name").map(String::from),
        vm_states,
        flavor_id: r.query("flavor").map(String::from),
        image_id: r.query("image").map(String::from),
        host: if admin {
            r.query("host").map(String::from)
        } else {
            None
        },
        changes_since,
        limit,
        marker: r.query("marker").map(String::from),
    })
}

/// Query parameters matched exactly against a server's field, and the host's names for
/// them.
const EXACT_FILTERS: &[(&str, &str)] = &[
    ("user_id", "user-id"),
    ("key_name", "key-name"),
    ("availability_zone", "availability-zone"),
    ("vm_state", "vm-state"),
    ("task_state", "task-state"),
    ("power_state", "power-state"),
];

/// The filters of later microversions on a listing (tags from 2.26, `changes-before`
/// from 2.66, which must not come before `changes-since`).
fn server_filters(r: &Request, q: &ServerQuery) -> Result<ServerFilters, Fault> {
    let changes_before = if microversion::since(r, microversion::Change::ChangesBefore) {
        actions::instant(r, "changes-before")?
    } else {
        None
    };
    if let (Some(after), Some(before)) = (q.changes_since, changes_before) {
        if after > before {
            return Err(Fault::bad_request(
                "The value of changes-since must be less than or equal to changes-before.",
            ));
        }
    }
    let tagged = microversion::since(r, microversion::Change::ServerTags);
    let tags = |name| {
        if tagged {
            tags::filter(r, name)
        } else {
            Vec::new()
        }
    };
    let locked = if microversion::since(r, microversion::Change::LockedReason) {
        match r.query("locked") {
            None => None,
            Some(v) => Some(match v.to_ascii_lowercase().as_str() {
                "true" | "1" | "t" | "on" | "y" | "yes" => true,
                "false" | "0" | "f" | "off" | "n" | "no" => false,
                _ => {
                    return Err(Fault::bad_request(format!(
                        "Unrecognized value '{v}', acceptable values are: '0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'"
                    )))
                }
            }),
        }
    } else {
        None
    };
    // Filters on the server's own fields: admins' at every version, everyone's from 2.83
    // (before, Nova drops a member's silently).
    let exact = if r.is_admin() || microversion::since(r, microversion::Change::MoreFiltersForAll) {
        EXACT_FILTERS
            .iter()
            .filter_map(|(q, field)| r.query(q).map(|v| (field.to_string(), v.to_string())))
            .collect()
    } else {
        Vec::new()
    };
    Ok(ServerFilters {
        exact,
        locked,
        tags: tags("tags"),
        tags_any: tags("tags-any"),
        not_tags: tags("not-tags"),
        not_tags_any: tags("not-tags-any"),
        changes_before,
    })
}

/// A server's `hostname` (2.90): 2 to 63 letters, digits and inner hyphens; from 2.94 a
/// fully qualified name (1 to 255 letters, digits, `-`, `.`, `_`).
fn hostname(r: &Request, m: &Map<String, Value>) -> Result<Option<String>, Fault> {
    if !microversion::since(r, microversion::Change::Hostname) {
        return Ok(None);
    }
    let Some(v) = m.get("hostname") else {
        return Ok(None);
    };
    let fqdn = microversion::since(r, microversion::Change::FqdnHostname);
    let ok = v.as_str().is_some_and(|h| {
        let n = h.chars().count();
        if fqdn {
            (1..=255).contains(&n)
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        } else {
            (2..=63).contains(&n)
                && h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !h.starts_with('-')
                && !h.ends_with('-')
        }
    });
    if !ok {
        return Err(Fault::bad_request(format!(
            "Invalid input for field/attribute hostname. Value: {v}. {v} is not a valid {}",
            if fqdn { "FQDN" } else { "hostname" }
        )));
    }
    Ok(v.as_str().map(String::from))
}

/// A server's `description` (2.19): null or up to 255 printable characters.
fn description(m: &Map<String, Value>) -> Result<Option<Option<String>>, Fault> {
    let Some(v) = m.get("description") else {
        return Ok(None);
    };
    let d = match v {
        Value::Null => return Ok(Some(None)),
        Value::String(d) => d,
        other => {
            return Err(Fault::bad_request(format!(
                "Invalid input for field/attribute description. Value: {other}. {other} is not                  of type 'string', 'null'"
            )))
        }
    };
    if d.chars().count() > 255 {
        return Err(Fault::bad_request(format!(
            "Invalid input for field/attribute description. Value: {d}. '{d}' is too long"
        )));
    }
    if d.chars().any(char::is_control) {
        return Err(Fault::bad_request(format!(
            "Invalid input for field/attribute description. Value: {d}. It must be printable              characters"
        )));
    }
    Ok(Some(Some(d.clone())))
}

/// The keys a request body may carry beyond `base` at the request's version.
fn with_later_keys(r: &Request, base: &[&'static str]) -> Vec<&'static str> {
    let mut keys = base.to_vec();
    if microversion::since(r, microversion::Change::ServerDescription) {
        keys.push("description");
    }
    if microversion::since(r, microversion::Change::Hostname) {
        keys.push("hostname");
    }
    keys
}

/// The keys a create may carry at the request's version.
fn create_keys(r: &Request) -> Vec<&'static str> {
    let mut keys = with_later_keys(r, CREATE_KEYS);
    if microversion::since(r, microversion::Change::TrustedCertificates) {
        keys.push("trusted_image_certificates");
    }
    if microversion::since(r, microversion::Change::TagsAtCreate) {
        keys.push("tags");
    }
    if microversion::since(r, microversion::Change::RequestedDestination) {
        keys.extend(["host", "hypervisor_hostname"]);
    }
    if microversion::since(r, microversion::Change::NoPersonality) {
        keys.retain(|k| *k != "personality");
    }
    keys
}

/// The keys a rebuild may carry at the request's version.
fn rebuild_keys(r: &Request) -> Vec<&'static str> {
    let mut keys = with_later_keys(r, REBUILD_KEYS);
    if microversion::since(r, microversion::Change::TrustedCertificates) {
        keys.push("trusted_image_certificates");
    }
    if microversion::since(r, microversion::Change::KeyNameOnRebuild) {
        keys.push("key_name");
    }
    if microversion::since(r, microversion::Change::NoPersonality) {
        keys.retain(|k| *k != "personality");
        keys.push("user_data");
    }
    keys
}

/// A rebuild's `key_name` or `user_data`: absent, `null` (remove it), or a string
/// (user data: base64, at most 65535 bytes).
fn rebuild_field(m: &Map<String, Value>, field: &str) -> Result<Option<Option<String>>, Fault> {
    match m.get(field) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(v))
            if field != "key_name" || (!v.is_empty() && v.chars().count() <= 255) =>
        {
            if field == "user_data" && (v.len() > 65535 || !is_base64(v)) {
                return Err(Fault::bad_request(format!(
                    "Invalid input for field/attribute user_data. Value: {v}. It must be \
                     base64 of at most 65535 characters"
                )));
            }
            Ok(Some(Some(v.clone())))
        }
        Some(v) => Err(Fault::bad_request(format!(
            "Invalid input for field/attribute {field}. Value: {v}. {v} is not valid"
        ))),
    }
}

/// A create's `host` or `hypervisor_hostname` (2.74): 1 to 255 characters without
/// spaces.
fn destination(server: &Map<String, Value>, field: &str) -> Result<Option<String>, Fault> {
    match server.get(field) {
        None => Ok(None),
        Some(Value::String(s))
            if !s.is_empty() && s.chars().count() <= 255 && !s.contains(char::is_whitespace) =>
        {
            Ok(Some(s.clone()))
        }
        Some(v) => Err(Fault::bad_request(format!(
            "Invalid input for field/attribute {field}. Value: {v}. {v} is not a valid host name"
        ))),
    }
}

/// A create's `block_device_mapping_v2`: a list of objects, whose `volume_type` is taken
/// from 2.67 on. (No volume service backs them: the server boots from its image.)
fn block_devices(r: &Request, server: &Map<String, Value>) -> Result<(), Fault> {
    let Some(list) = server.get("block_device_mapping_v2") else {
        return Ok(());
    };
    let Value::Array(list) = list else {
        return Err(Fault::bad_request(format!(
            "Invalid input for field/attribute block_device_mapping_v2. Value: {list}. {list} is not of type 'array'"
        )));
    };
    let typed = microversion::since(r, microversion::Change::BdmVolumeType);
    for item in list {
        let Value::Object(m) = item else {
            return Err(Fault::bad_request(format!(
                "Invalid input for field/attribute block_device_mapping_v2. Value: {item}. {item} is not of type 'object'"
            )));
        };
        if m.contains_key("volume_type") && !typed {
            return Err(Fault::bad_request(
                "Invalid input for field/attribute block_device_mapping_v2. Additional properties are not allowed ('volume_type' was unexpected)",
            ));
        }
    }
    Ok(())
}

/// `trusted_image_certificates` (2.63): taken only as `null` or an empty list, since
/// image signatures are not verified here — Nova's answer with verification off.
fn no_certificates(m: &Map<String, Value>) -> Result<(), Fault> {
    match m.get("trusted_image_certificates") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Array(a)) if a.is_empty() => Ok(()),
        Some(Value::Array(_)) => Err(Fault::bad_request(
            "Image certificate validation is not enabled.",
        )),
        Some(v) => Err(Fault::bad_request(format!(
            "Invalid input for field/attribute trusted_image_certificates. Value: {v}. {v} is not of type 'array', 'null'"
        ))),
    }
}

/// Whether `s` is standard base64 (padded).
fn is_base64(s: &str) -> bool {
    let s = s.trim_end_matches('=');
    s.len() % 4 != 1
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// The `next` link of a full page.
fn next_link(
    r: &Request,
    detail: bool,
    limit: Option<u32>,
    count: usize,
    last: Option<&str>,
) -> Option<Value> {
    let (limit, last) = (limit?, last?);
    if limit == 0 || (count as u32) < limit {
        return None;
    }
    let path = if detail { "servers/detail" } else { "servers" };
    Some(json!([{"rel": "next",
        "href": format!("{}/v2.1/{path}?limit={limit}&marker={last}", r.origin())}]))
}

fn listing(r: &Request, detail: bool) -> Result<Reply, Fault> {
    let q = server_query(r)?;
    // Every address here is IPv4: an `ip6` filter matches no server. Non-admins' is
    // ignored before 2.5, as Nova ignores filters they may not use.
    if r.query("ip6").is_some()
        && (r.is_admin() || microversion::since(r, microversion::Change::Ip6FilterForAll))
    {
        return Ok(Reply::json(200, &json!({"servers": []})));
    }
    let limit = q.limit;
    let more = server_filters(r, &q)?;
    let filtered = !(more.tags.is_empty()
        && more.tags_any.is_empty()
        && more.not_tags.is_empty()
        && more.not_tags_any.is_empty()
        && more.changes_before.is_none()
        && more.locked.is_none()
        && more.exact.is_empty());
    if detail || filtered {
        // The hot path: the page crosses packed and is serialised straight from borrowed
        // rows, with no per-field copies and no intermediate JSON tree.
        let page = if filtered {
            compute::list_servers_page_filtered(r.caller()?, &q, &more)?
        } else {
            compute::list_servers_page(r.caller()?, &q)?
        };
        let rows = views::unpack(&page).map_err(|e| Fault::internal(e.to_string()))?;
        if !detail {
            let links = next_link(r, false, limit, rows.len(), rows.last().map(|s| s.id));
            let items: Vec<Value> = rows
                .iter()
                .map(|s| json!({"id": s.id, "name": s.name, "links": views::links(r, "servers", s.id)}))
                .collect();
            let mut body = json!({ "servers": items });
            if let Some(l) = links {
                body["servers_links"] = l;
            }
            return Ok(Reply::json(200, &body));
        }
        let links = next_link(r, true, limit, rows.len(), rows.last().map(|s| s.id));
        // Addresses and groups of the whole page in one call.
        let ids: Vec<String> = rows.iter().map(|s| s.id.to_string()).collect();
        let infos = network::infos(r.caller()?, &ids)?;
        let by_id: std::collections::HashMap<&str, &ServerNetworkInfo> =
            infos.iter().map(|i| (i.server_id.as_str(), i)).collect();
        let extras = extras(r, &ids)?;
        let extra_of: std::collections::HashMap<&str, &ServerExtra> =
            extras.iter().map(|e| (e.id.as_str(), e)).collect();
        // About 1.5 kB a server: sized once instead of grown by doubling.
        let mut raw = Vec::with_capacity(rows.len() * 1600 + 256);
        raw.extend_from_slice(b"{\"servers\":[");
        for (i, s) in rows.iter().enumerate() {
            if i > 0 {
                raw.push(b',');
            }
            views::ServerView::new(r, s)
                .with_network(by_id.get(s.id).copied())
                .with_extra(r, extra_of.get(s.id).copied())
                .write_json(&mut raw);
        }
        raw.push(b']');
        if let Some(l) = links {
            raw.extend_from_slice(b",\"servers_links\":");
            raw.extend_from_slice(l.to_string().as_bytes());
        }
        raw.push(b'}');
        return Ok(Reply::bytes(200, JSON, raw));
    }
    let servers = compute::list_servers(r.caller()?, &q)?;
    let links = next_link(
        r,
        false,
        limit,
        servers.len(),
        servers.last().map(|s| s.id.as_str()),
    );
    let items: Vec<Value> = servers.iter().map(|s| views::server_brief(r, s)).collect();
    let mut body = json!({"servers": items});
    if let Some(l) = links {
        body["servers_links"] = l;
    }
    Ok(Reply::json(200, &body))
}

fn list_servers(r: &Request) -> Result<Reply, Fault> {
    listing(r, false)
}

fn list_servers_detail(r: &Request) -> Result<Reply, Fault> {
    listing(r, true)
}

fn show_server(r: &Request) -> Result<Reply, Fault> {
    let c = r.caller()?;
    let s = compute::get_server(c, r.param("server_id"))?;
    let ids = std::slice::from_ref(&s.id);
    let net = network::infos(c, ids)?;
    let extra = extras(r, ids)?;
    Ok(Reply::json(
        200,
        &json!({"server": views::server_show(r, &s, net.first(), extra.first())}),
    ))
}

/// What later microversions add to the servers `ids`, fetched only when the request's
/// version and role show any of it.
fn extras(r: &Request, ids: &[String]) -> Result<Vec<ServerExtra>, Fault> {
    if ids.is_empty() || !views::Later::wanted(r) {
        return Ok(Vec::new());
    }
    Ok(compute::servers_extra(r.caller()?, ids)?)
}

/// Keys the 2.1 schema allows in `server` of a create request.
const CREATE_KEYS: &[&str] = &[
    "name",
    "imageRef",
    "flavorRef",
    "min_count",
    "max_count",
    "availability_zone",
    "key_name",
    "user_data",
    "metadata",
    "networks",
    "security_groups",
    "adminPass",
    "accessIPv4",
    "accessIPv6",
    "config_drive",
    "OS-DCF:diskConfig",
    "block_device_mapping",
    "block_device_mapping_v2",
    "return_reservation_id",
    "personality",
];

fn string_or_int(v: &Value, field: &str) -> Result<String, Fault> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(Fault::bad_request(format!("Invalid input for field/attribute {field}. Value: {v}. {v} is not of type 'string', 'integer'"))),
    }
}

fn count(v: Option<&Value>, field: &str) -> Result<Option<u32>, Fault> {
    let Some(v) = v else { return Ok(None) };
    let bad = || {
        Fault::bad_request(format!("Invalid input for field/attribute {field}. Value: {v}. {v} is not of type 'integer', 'string'"))
    };
    let n = match v {
        Value::Number(n) => n.as_u64().ok_or_else(bad)?,
        Value::String(s) => s.parse::<u64>().map_err(|_| bad())?,
        _ => return Err(bad()),
    };
    if n < 1 {
        return Err(Fault::bad_request(format!("Invalid input for field/attribute {field}. Value: {n}. {n} is less than the minimum of 1")));
    }
    Ok(Some(n.min(u32::MAX as u64) as u32))
}

pub(crate) fn string_map(v: Option<&Value>, field: &str) -> Result<Vec<(String, String)>, Fault> {
    match v {
        None => Ok(Vec::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) if !k.is_empty() && k.len() <= 255 && s.len() <= 255 => Ok((k.clone(), s.clone())),
                _ => Err(Fault::bad_request(format!("Invalid input for field/attribute {field}. Value: {k}: {v}. Metadata keys and values must be strings of at most 255 characters"))),
            })
            .collect(),
        Some(other) => Err(Fault::bad_request(format!("Invalid input for field/attribute {field}. Value: {other}. {other} is not of type 'object'"))),
    }
}

fn opt_string(m: &Map<String, Value>, field: &str) -> Result<Option<String>, Fault> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(Fault::bad_request(format!(
            "Invalid input for field/attribute {field}. Value: {v}. {v} is not of type 'string'"
        ))),
    }
}

fn string_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    }
}

fn create_server(r: &Request) -> Result<Reply, Fault> {
    let body = r.body_json()?;
    let server = body
        .get("server")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            Fault::bad_request(
                "Invalid input for field/attribute server. 'server' is a required property",
            )
        })?;
    let keys = create_keys(r);
    if let Some(k) = server.keys().find(|k| !keys.contains(&k.as_str())) {
        return Err(Fault::bad_request(format!("Invalid input for field/attribute server. Additional properties are not allowed ('{k}' was unexpected)")));
    }
    no_certificates(server)?;
    block_devices(r, server)?;
    let details = ServerDetails {
        description: description(server)?.flatten(),
        tags: match server.get("tags") {
            Some(t) => tags::list("tags", t)?,
            None => Vec::new(),
        },
        host: destination(server, "host")?,
        hypervisor_hostname: destination(server, "hypervisor_hostname")?,
        hostname: hostname(r, server)?,
    };
    let name = opt_string(server, "name")?.ok_or_else(|| {
        Fault::bad_request(
            "Invalid input for field/attribute server. 'name' is a required property",
        )
    })?;
    if name.trim().is_empty() || name.chars().count() > 255 {
        return Err(Fault::bad_request(format!("Invalid input for field/attribute name. Value: {name}. It must be 1 to 255 characters, not only spaces")));
    }
    let flavor_ref = server
        .get("flavorRef")
        .ok_or_else(|| {
            Fault::bad_request(
                "Invalid input for field/attribute server. 'flavorRef' is a required property",
            )
        })
        .and_then(|v| string_or_int(v, "flavorRef"))?;
    // A flavorRef may be a URL ending in the id.
    let flavor_ref = flavor_ref
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let image_ref = opt_string(server, "imageRef")?
        .map(|i| i.rsplit('/').next().unwrap_or_default().to_string())
        .filter(|i| !i.is_empty());
    let min = count(server.get("min_count"), "min_count")?;
    let max = count(server.get("max_count"), "max_count")?;
    let min_count = min.unwrap_or(1);
    let max_count = max.unwrap_or(min_count);
    if max_count < min_count {
        return Err(Fault::bad_request(format!(
            "min_count must be <= max_count: {min_count} > {max_count}"
        )));
    }
    let hints = body
        .get("os:scheduler_hints")
        .or_else(|| body.get("OS-SCH-HNT:scheduler_hints"));
    let req = ServerCreate {
        name,
        flavor_ref,
        image_ref,
        min_count,
        max_count,
        availability_zone: opt_string(server, "availability_zone")?,
        key_name: opt_string(server, "key_name")?,
        user_data: opt_string(server, "user_data")?,
        metadata: string_map(server.get("metadata"), "metadata")?,
        hints: SchedulerHints {
            group: hints
                .and_then(|h| h.get("group"))
                .and_then(Value::as_str)
                .map(String::from),
            same_host: string_list(hints.and_then(|h| h.get("same_host"))),
            different_host: string_list(hints.and_then(|h| h.get("different_host"))),
        },
        access_ipv4: opt_string(server, "accessIPv4")?,
        access_ipv6: opt_string(server, "accessIPv6")?,
    };
    let networking = network::create_networking(r, server)?;
    let groups: Vec<Value> = if networking.security_groups.is_empty() {
        vec![json!({"name": "default"})]
    } else {
        networking
            .security_groups
            .iter()
            .map(|n| json!({"name": n}))
            .collect()
    };
    // A given password is echoed as Nova does (the guest reads its own from the metadata
    // service's keys; nothing injects passwords here).
    let admin_pass = opt_string(server, "adminPass")?;
    let created = compute::create_servers_networked(r.caller()?, &req, &networking, &details)?;
    let first = created
        .first()
        .ok_or_else(|| Fault::new(500, "no server was created"))?;
    if server.get("return_reservation_id").and_then(Value::as_bool) == Some(true) {
        return Ok(Reply::json(
            202,
            &json!({"reservation_id": first.reservation_id}),
        ));
    }
    let links = views::links(r, "servers", &first.id);
    let location = links[0]["href"].as_str().unwrap_or_default().to_string();
    let mut reply = Reply::json(
        202,
        &json!({"server": {
            "id": first.id,
            "links": links,
            "OS-DCF:diskConfig": "MANUAL",
            "security_groups": groups,
            "adminPass": admin_pass.unwrap_or_else(|| views::admin_pass(&first.id)),
        }}),
    );
    reply.headers.push(("location".into(), location));
    Ok(reply)
}

fn update_server(r: &Request) -> Result<Reply, Fault> {
    let body = r.body_json()?;
    let server = body
        .get("server")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            Fault::bad_request(
                "Invalid input for field/attribute server. 'server' is a required property",
            )
        })?;
    let keys = with_later_keys(
        r,
        &["name", "accessIPv4", "accessIPv6", "OS-DCF:diskConfig"],
    );
    if let Some(k) = server.keys().find(|k| !keys.contains(&k.as_str())) {
        return Err(Fault::bad_request(format!("Invalid input for field/attribute server. Additional properties are not allowed ('{k}' was unexpected)")));
    }
    let c = r.caller()?;
    let id = r.param("server_id");
    let name = opt_string(server, "name")?;
    if let Some(name) = &name {
        if name.trim().is_empty() || name.chars().count() > 255 {
            return Err(Fault::bad_request(format!("Invalid input for field/attribute name. Value: {name}. It must be 1 to 255 characters, not only spaces")));
        }
    }
    let description = description(server)?;
    let chosen = hostname(r, server)?;
    let mut s = compute::update_server(
        c,
        id,
        name.as_deref(),
        opt_string(server, "accessIPv4")?.as_deref(),
        opt_string(server, "accessIPv6")?.as_deref(),
    )?;
    if let Some(d) = description {
        s = compute::describe_server(c, id, d.as_deref())?;
    }
    if let Some(h) = &chosen {
        s = compute::set_server_hostname(c, id, h)?;
    }
    Ok(Reply::json(
        200,
        &json!({ "server": basic_view(r, c, &s)? }),
    ))
}

/// The server document Nova answers an update and a rebuild with (see
/// [`views::server_basic`]).
fn basic_view(
    r: &Request,
    c: &Caller,
    s: &bindings::metacloud::api::types::Server,
) -> Result<Value, Fault> {
    let ids = std::slice::from_ref(&s.id);
    let net = network::infos(c, ids)?;
    let extra = extras(r, ids)?;
    Ok(views::server_basic(r, s, net.first(), extra.first()))
}

/// `GET /servers/{id}/topology` (2.78): the guest's NUMA nodes. No guest here is given a
/// NUMA topology (flavors' `hw:numa_*` are not applied), so there are none, as Nova
/// answers for such a server.
fn server_topology(r: &Request) -> Result<Reply, Fault> {
    compute::get_server(r.caller()?, r.param("server_id"))?;
    Ok(Reply::json(200, &json!({"nodes": [], "pagesize_kb": null})))
}

/// `os-server-password`: the encrypted password a guest posted to the metadata service.
/// Guests here post none (the metadata service keeps no password store), so it is empty,
/// and clearing it succeeds; both for a server the caller sees (404 otherwise).
fn server_password(r: &Request) -> Result<Reply, Fault> {
    compute::get_server(r.caller()?, r.param("server_id"))?;
    Ok(if r.method == "DELETE" {
        Reply::empty(204)
    } else {
        Reply::json(200, &json!({"password": ""}))
    })
}

fn delete_server(r: &Request) -> Result<Reply, Fault> {
    compute::delete_server(r.caller()?, r.param("server_id"))?;
    Ok(Reply::empty(204))
}

/// `createImage` / `createBackup`: 202 with the new image's URL in `Location` (2.1).
fn create_image(
    r: &Request,
    c: &Caller,
    id: &str,
    action: &str,
    args: &Value,
) -> Result<Reply, Fault> {
    let m = args.as_object().ok_or_else(|| {
        Fault::bad_request(format!(
            "Invalid input for field/attribute {action}. Value: {args}. {args} is not of type 'object'"
        ))
    })?;
    let allowed: &[&str] = if action == "createBackup" {
        &["name", "backup_type", "rotation", "metadata"]
    } else {
        &["name", "metadata"]
    };
    if let Some(k) = m.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(Fault::bad_request(format!("Invalid input for field/attribute {action}. Additional properties are not allowed ('{k}' was unexpected)")));
    }
    let required = |field: &str| {
        Fault::bad_request(format!(
            "Invalid input for field/attribute {action}. '{field}' is a required property"
        ))
    };
    let name = opt_string(m, "name")?.ok_or_else(|| required("name"))?;
    if name.trim().is_empty() || name.chars().count() > 255 {
        return Err(Fault::bad_request(format!("Invalid input for field/attribute name. Value: {name}. It must be 1 to 255 characters, not only spaces")));
    }
    let metadata = string_map(m.get("metadata"), "metadata")?;
    let backup = if action == "createBackup" {
        let kind = opt_string(m, "backup_type")?.ok_or_else(|| required("backup_type"))?;
        let rotation = m.get("rotation").ok_or_else(|| required("rotation"))?;
        let rotation = match rotation {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.parse::<u64>().ok(),
            _ => None,
        }
        .ok_or_else(|| {
            Fault::bad_request(format!(
                "Invalid input for field/attribute rotation. Value: {rotation}. It must be an integer >= 0"
            ))
        })?;
        Some(BackupSpec {
            kind,
            rotation: rotation.min(u32::MAX as u64) as u32,
        })
    } else {
        None
    };
    let image = compute::create_image(c, id, &name, &metadata, backup.as_ref())?;
    if microversion::since(r, microversion::Change::ImageIdInBody) {
        return Ok(Reply::json(202, &json!({ "image_id": image })));
    }
    let mut reply = Reply::empty(202);
    let location = format!(
        "{}/v2/images/{image}",
        compute::image_endpoint().trim_end_matches('/')
    );
    reply.headers.push(("location".into(), location));
    Ok(reply)
}

/// Keys the 2.1 schema allows in `rebuild`.
const REBUILD_KEYS: &[&str] = &[
    "imageRef",
    "name",
    "adminPass",
    "metadata",
    "preserve_ephemeral",
    "OS-DCF:diskConfig",
    "accessIPv4",
    "accessIPv6",
    "personality",
];

fn rebuild(r: &Request, c: &Caller, id: &str, args: &Value) -> Result<Reply, Fault> {
    let args = args.as_object().ok_or_else(|| {
        Fault::bad_request(format!(
            "Invalid input for field/attribute rebuild. Value: {args}. {args} is not of type 'object'"
        ))
    })?;
    let keys = rebuild_keys(r);
    if let Some(k) = args.keys().find(|k| !keys.contains(&k.as_str())) {
        return Err(Fault::bad_request(format!("Invalid input for field/attribute rebuild. Additional properties are not allowed ('{k}' was unexpected)")));
    }
    let image = opt_string(args, "imageRef")?.ok_or_else(|| {
        Fault::bad_request(
            "Invalid input for field/attribute rebuild. 'imageRef' is a required property",
        )
    })?;
    let image = image.rsplit('/').next().unwrap_or_default().to_string();
    let name = opt_string(args, "name")?;
    if let Some(n) = &name {
        if n.trim().is_empty() || n.chars().count() > 255 {
            return Err(Fault::bad_request(format!("Invalid input for field/attribute name. Value: {n}. It must be 1 to 255 characters, not only spaces")));
        }
    }
    let metadata = match args.get("metadata") {
        None => None,
        m => Some(string_map(m, "metadata")?),
    };
    let admin_pass = opt_string(args, "adminPass")?;
    let description = description(args)?;
    let chosen = hostname(r, args)?;
    no_certificates(args)?;
    let boot = RebuildBoot {
        key_name: rebuild_field(args, "key_name")?,
        user_data: rebuild_field(args, "user_data")?,
    };
    let mut s = if boot.key_name.is_some() || boot.user_data.is_some() {
        compute::rebuild_server_with(c, id, &image, name.as_deref(), metadata.as_deref(), &boot)?
    } else {
        compute::rebuild_server(c, id, &image, name.as_deref(), metadata.as_deref())?
    };
    if let Some(d) = description {
        s = compute::describe_server(c, id, d.as_deref())?;
    }
    if let Some(h) = &chosen {
        s = compute::set_server_hostname(c, id, h)?;
    }
    let mut view = basic_view(r, c, &s)?;
    if let Some(m) = view.as_object_mut() {
        // Shown as `user_data` below (Nova's `show_user_data=False` for a rebuild).
        m.remove("OS-EXT-SRV-ATTR:user_data");
    }
    if microversion::since(r, microversion::Change::KeyNameOnRebuild) {
        view["key_name"] = json!(s.key_name);
    }
    if microversion::since(r, microversion::Change::NoPersonality) {
        let extra = extras(r, std::slice::from_ref(&s.id))?;
        view["user_data"] = json!(extra.first().and_then(|e| e.user_data.as_deref()));
    }
    view["adminPass"] = json!(admin_pass.unwrap_or_else(|| views::admin_pass(&s.id)));
    Ok(Reply::json(202, &json!({"server": view})))
}

/// `lock`'s body from 2.73: `null`, `{}` or `{"locked_reason": "…"}` (at most 255
/// characters).
fn lock_reason(args: &Value) -> Result<Vec<(String, String)>, Fault> {
    let m = match args {
        Value::Null => return Ok(Vec::new()),
        Value::Object(m) => m,
        other => {
            return Err(Fault::bad_request(format!(
                "Invalid input for field/attribute lock. Value: {other}. {other} is not of type 'object', 'null'"
            )))
        }
    };
    if let Some(k) = m.keys().find(|k| *k != "locked_reason") {
        return Err(Fault::bad_request(format!(
            "Invalid input for field/attribute lock. Additional properties are not allowed ('{k}' was unexpected)"
        )));
    }
    match m.get("locked_reason") {
        None => Ok(Vec::new()),
        Some(Value::String(s)) if s.chars().count() <= 255 => {
            Ok(vec![("locked_reason".into(), s.clone())])
        }
        Some(v) => Err(Fault::bad_request(format!(
            "Invalid input for field/attribute locked_reason. Value: {v}. {v} is not a string of at most 255 characters"
        ))),
    }
}

/// Actions whose body is `null` or `{}` in 2.1.
fn no_args(action: &str, args: &Value) -> Result<(), Fault> {
    match args {
        Value::Null => Ok(()),
        Value::Object(m) if m.is_empty() => Ok(()),
        Value::Object(m) => Err(Fault::bad_request(format!(
            "Invalid input for field/attribute {action}. Additional properties are not allowed ('{}' was unexpected)",
            m.keys().next().map(String::as_str).unwrap_or_default()
        ))),
        other => Err(Fault::bad_request(format!(
            "Invalid input for field/attribute {action}. Value: {other}. {other} is not of type 'object', 'null'"
        ))),
    }
}

fn server_action(r: &Request) -> Result<Reply, Fault> {
    let body = r.body_json()?;
    let obj = body
        .as_object()
        .filter(|o| o.len() == 1)
        .ok_or_else(|| Fault::bad_request("Malformed request body: one action expected"))?;
    let (action, args) = obj.iter().next().expect("one entry");
    let c = r.caller()?;
    let id = r.param("server_id");
    let gone = microversion::since(r, microversion::Change::NetworkActionsGone)
        && matches!(
            action.as_str(),
            "addFixedIp" | "removeFixedIp" | "addFloatingIp" | "removeFloatingIp"
        );
    if gone {
        return Err(Fault::not_found("The resource could not be found."));
    }
    if let Some(reply) = network::server_action(c, id, action, args) {
        return reply;
    }
    match action.as_str() {
        "os-start" => compute::server_action(c, id, "start", &[])?,
        "trigger_crash_dump" if microversion::since(r, microversion::Change::TriggerCrashDump) => {
            if !args.is_null() {
                return Err(Fault::bad_request(format!(
                    "Invalid input for field/attribute trigger_crash_dump. Value: {args}. \
                     {args} is not of type 'null'"
                )));
            }
            compute::server_action(c, id, "trigger-crash-dump", &[])?
        }
        "rebuild" => return rebuild(r, c, id, args),
        "createImage" | "createBackup" => return create_image(r, c, id, action, args),
        "evacuate" => return hosts::evacuate(r, c, id, args),
        "migrate" => {
            // 2.1: no arguments (`{"migrate": null}`); the scheduler picks the host. From
            // 2.56 an admin may name it: `{"migrate": {"host": …}}`.
            let mut host = Vec::new();
            match args {
                Value::Null => {}
                Value::Object(m) if m.is_empty() => {}
                Value::Object(m)
                    if microversion::since(r, microversion::Change::MigrateToHost) =>
                {
                    if let Some(k) = m.keys().find(|k| k.as_str() != "host") {
                        return Err(Fault::bad_request(format!("Invalid input for field/attribute migrate. Additional properties are not allowed ('{k}' was unexpected)")));
                    }
                    match m.get("host") {
                        None | Some(Value::Null) => {}
                        Some(Value::String(h)) if !h.is_empty() && h.len() <= 255 => {
                            host.push(("host".to_string(), h.clone()))
                        }
                        Some(v) => {
                            return Err(Fault::bad_request(format!(
                                "Invalid input for field/attribute host. Value: {v}. {v} is not a valid host name"
                            )))
                        }
                    }
                }
                _ => {
                    return Err(Fault::bad_request(format!(
                        "Invalid input for field/attribute migrate. Value: {args}. {args} is not of type 'null'"
                    )))
                }
            }
            compute::server_action(c, id, "migrate", &host)?
        }
        "resize" => {
            let m = args.as_object().ok_or_else(|| {
                Fault::bad_request(format!(
                    "Invalid input for field/attribute resize. Value: {args}. {args} is not of type 'object'"
                ))
            })?;
            if let Some(k) = m
                .keys()
                .find(|k| !["flavorRef", "OS-DCF:diskConfig"].contains(&k.as_str()))
            {
                return Err(Fault::bad_request(format!("Invalid input for field/attribute resize. Additional properties are not allowed ('{k}' was unexpected)")));
            }
            let flavor = m
                .get("flavorRef")
                .ok_or_else(|| {
                    Fault::bad_request(
                        "Invalid input for field/attribute resize. 'flavorRef' is a required property",
                    )
                })
                .and_then(|v| string_or_int(v, "flavorRef"))?;
            let flavor = flavor.rsplit('/').next().unwrap_or_default().to_string();
            compute::server_action(c, id, "resize", &[("flavor".into(), flavor)])?
        }
        "confirmResize" => {
            no_args(action, args)?;
            compute::server_action(c, id, "confirm-resize", &[])?;
            return Ok(Reply::empty(204));
        }
        "revertResize" => {
            no_args(action, args)?;
            compute::server_action(c, id, "revert-resize", &[])?
        }
        "lock" if microversion::since(r, microversion::Change::LockedReason) => {
            compute::server_action(c, id, "lock", &lock_reason(args)?)?
        }
        "pause" | "unpause" | "suspend" | "resume" | "lock" | "unlock" => {
            no_args(action, args)?;
            compute::server_action(c, id, action, &[])?
        }
        "os-stop" => compute::server_action(c, id, "stop", &[])?,
        "os-resetState" => {
            let state = match args.get("state") {
                Some(Value::String(s)) => s.clone(),
                _ => {
                    return Err(Fault::bad_request(
                        "Invalid input for field/attribute os-resetState. 'state' is a required property",
                    ))
                }
            };
            compute::server_action(c, id, "reset-state", &[("state".into(), state)])?
        }
        // Soft delete is not kept here (Nova's reclaim_instance_interval = 0): no server is
        // ever SOFT_DELETED, so both are Nova's conflict for an existing server.
        "forceDelete" | "restore" => {
            no_args(action, args)?;
            let s = compute::get_server(c, id)?;
            return Err(Fault::new(
                409,
                format!(
                    "Cannot '{action}' instance {id} while it is in vm_state {}",
                    s.vm_state
                ),
            ));
        }
        "injectNetworkInfo" => {
            no_args(action, args)?;
            compute::server_action(c, id, "inject-network-info", &[])?
        }
        "reboot" => {
            let kind = args.get("type").and_then(Value::as_str).ok_or_else(|| {
                Fault::bad_request(
                    "Invalid input for field/attribute reboot. 'type' is a required property",
                )
            })?;
            let kind = kind.to_ascii_uppercase();
            if kind != "SOFT" && kind != "HARD" {
                return Err(Fault::bad_request(format!("Invalid input for field/attribute type. Value: {kind}. '{kind}' is not one of ['HARD', 'Hard', 'hard', 'SOFT', 'Soft', 'soft']")));
            }
            compute::server_action(c, id, "reboot", &[("type".into(), kind)])?
        }
        "os-getConsoleOutput" => {
            let output = compute::console_output(c, id)?;
            let length = match args.get("length") {
                None | Some(Value::Null) => None,
                Some(v) => Some(count(Some(v), "length")? as Option<u32>).flatten(),
            };
            let text = match length {
                Some(n) => {
                    let lines: Vec<&str> = output.lines().collect();
                    let start = lines.len().saturating_sub(n as usize);
                    lines[start..].join("\n")
                }
                None => output,
            };
            return Ok(Reply::json(200, &json!({"output": text})));
        }
        other => {
            return Err(Fault::bad_request(format!(
                "There is no such action: {other}"
            )))
        }
    }
    Ok(Reply::empty(202))
}

#[cfg(test)]
mod tests {
    use super::*;
    use metacloud_sdk::dialect::{refuse, serve};

    fn header_names(reply: &Reply) -> Vec<String> {
        reply
            .clone()
            .into_parts()
            .1
            .into_iter()
            .map(|(k, _)| k)
            .collect()
    }

    #[test]
    fn refusals_are_nova_faults_with_the_minimum_version() {
        let reply = refuse::<Nova>(413, "Request is too large.");
        assert_eq!(
            reply.json_body(),
            json!({"overLimit": {"code": 413, "message": "Request is too large."}})
        );
        assert_eq!(reply.header("openstack-api-version"), Some("compute 2.1"));
        assert_eq!(
            header_names(&reply),
            [
                "openstack-api-version",
                "x-openstack-nova-api-version",
                "vary",
                "content-type"
            ]
        );
    }

    #[test]
    fn an_unserved_microversion_is_a_406_before_any_handler() {
        let (index, params) = Nova::ROUTER.resolve("GET", "/v2.1/servers").unwrap();
        let mut r = Request::new("GET", "/v2.1/servers")
            .with_header("openstack-api-version", "compute 2.105");
        r.params = params;
        let reply = serve::<Nova>(index, &r);
        assert_eq!(reply.status, 406);
        assert_eq!(reply.json_body()["computeFault"]["code"], 406);
        let reply = serve::<Nova>(index, &r.with_header("x", "y"));
        assert_eq!(reply.header("x-openstack-nova-api-version"), Some("2.1"));
    }

    #[test]
    fn a_route_without_a_caller_is_a_401_and_discovery_links_to_the_host() {
        let (index, _) = Nova::ROUTER.resolve("GET", "/v2.1/servers").unwrap();
        let reply = serve::<Nova>(index, &Request::new("GET", "/v2.1/servers"));
        assert_eq!(reply.status, 401);
        assert_eq!(
            reply.json_body()["unauthorized"]["message"],
            metacloud_sdk::dialect::NEEDS_AUTHENTICATION
        );
        let (index, _) = Nova::ROUTER.resolve("GET", "/v2.1").unwrap();
        let r = Request::new("GET", "/v2.1").with_header("host", "api:8774");
        let reply = serve::<Nova>(index, &r);
        assert_eq!(reply.status, 200);
        assert!(reply
            .json_body()
            .to_string()
            .contains("http://api:8774/v2.1"));
    }

    #[test]
    fn certificates_other_than_root_are_not_implemented() {
        let (index, params) = Nova::ROUTER
            .resolve("GET", "/v2.1/os-certificates/x")
            .unwrap();
        let mut r = Request::new("GET", "/v2.1/os-certificates/x");
        r.params = params;
        let reply = serve::<Nova>(index, &r);
        assert_eq!(reply.status, 501);
        assert_eq!(reply.json_body()["notImplemented"]["code"], 501);
    }
}
