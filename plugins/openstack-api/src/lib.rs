//! The OpenStack Compute API v2.1 as a dialect plugin: routes, request validation,
//! microversion negotiation, and Nova's response and fault shapes. State is reached only
//! through the host's typed `compute` operations.

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "api-dialect",
        path: "../../wit/api",
        generate_all,
    });
}

mod actions;
mod aggregates;
mod certificates;
mod extensions;
mod flavors;
mod groups;
mod hosts;
mod images;
mod metadata;
mod resources;
pub mod time;
pub mod views;

use bindings::exports::metacloud::api::dialect::Guest;
use bindings::metacloud::api::compute;
use bindings::metacloud::api::types::{
    Access, BackupSpec, Caller, HttpRequest, HttpResponse, OpError, Route, SchedulerHints,
    ServerCreate, ServerQuery,
};
use serde_json::{json, Map, Value};

/// Microversions served: 2.1 only, for now (each later one changes behaviour that
/// tempest checks, and is claimed only once implemented).
pub const MIN_VERSION: (u32, u32) = (2, 1);
pub const MAX_VERSION: (u32, u32) = (2, 1);

/// One route: method, path template, who may call it, and its handler.
struct Endpoint {
    method: &'static str,
    path: &'static str,
    access: Access,
    handler: fn(&Request) -> Result<Reply, Fault>,
}

const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: "GET",
        path: "/",
        access: Access::Public,
        handler: versions,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1",
        access: Access::Public,
        handler: version,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1/",
        access: Access::Public,
        handler: version,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1/flavors",
        access: Access::Reader,
        handler: flavors::list,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1/flavors/detail",
        access: Access::Reader,
        handler: flavors::list_detail,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1/flavors/{flavor_id}",
        access: Access::Reader,
        handler: flavors::show,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1/servers",
        access: Access::Reader,
        handler: list_servers,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1/servers/detail",
        access: Access::Reader,
        handler: list_servers_detail,
    },
    Endpoint {
        method: "POST",
        path: "/v2.1/servers",
        access: Access::Member,
        handler: create_server,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1/servers/{server_id}",
        access: Access::Reader,
        handler: show_server,
    },
    Endpoint {
        method: "PUT",
        path: "/v2.1/servers/{server_id}",
        access: Access::Member,
        handler: update_server,
    },
    Endpoint {
        method: "DELETE",
        path: "/v2.1/servers/{server_id}",
        access: Access::Member,
        handler: delete_server,
    },
    Endpoint {
        method: "POST",
        path: "/v2.1/servers/{server_id}/action",
        access: Access::Member,
        handler: server_action,
    },
    Endpoint {
        method: "POST",
        path: "/v2.1/flavors",
        access: Access::Admin,
        handler: resources::create_flavor,
    },
    Endpoint {
        method: "DELETE",
        path: "/v2.1/flavors/{flavor_id}",
        access: Access::Admin,
        handler: resources::delete_flavor,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1/os-keypairs",
        access: Access::Reader,
        handler: resources::list_keypairs,
    },
    Endpoint {
        method: "POST",
        path: "/v2.1/os-keypairs",
        access: Access::Member,
        handler: resources::create_keypair,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1/os-keypairs/{keypair_name}",
        access: Access::Reader,
        handler: resources::show_keypair,
    },
    Endpoint {
        method: "DELETE",
        path: "/v2.1/os-keypairs/{keypair_name}",
        access: Access::Member,
        handler: resources::delete_keypair,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1/limits",
        access: Access::Reader,
        handler: resources::limits,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1/os-quota-sets/{tenant_id}",
        access: Access::Reader,
        handler: resources::show_quota_set,
    },
    Endpoint {
        method: "PUT",
        path: "/v2.1/os-quota-sets/{tenant_id}",
        access: Access::Admin,
        handler: resources::update_quota_set,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1/os-quota-sets/{tenant_id}/detail",
        access: Access::Reader,
        handler: resources::show_quota_detail,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1/os-quota-sets/{tenant_id}/defaults",
        access: Access::Reader,
        handler: resources::quota_defaults,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1/os-availability-zone",
        access: Access::Reader,
        handler: resources::availability_zones,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1/os-availability-zone/detail",
        access: Access::Admin,
        handler: resources::availability_zones_detail,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1/os-services",
        access: Access::Admin,
        handler: resources::services,
    },
    Endpoint {
        method: "PUT",
        path: "/v2.1/os-services/{action}",
        access: Access::Admin,
        handler: hosts::update_service,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1/os-migrations",
        access: Access::Admin,
        handler: hosts::migrations,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1/os-hypervisors",
        access: Access::Admin,
        handler: resources::hypervisors,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1/os-hypervisors/detail",
        access: Access::Admin,
        handler: resources::hypervisors_detail,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1/servers/{server_id}/metadata",
        access: Access::Reader,
        handler: metadata::list,
    },
    Endpoint {
        method: "POST",
        path: "/v2.1/servers/{server_id}/metadata",
        access: Access::Member,
        handler: metadata::merge,
    },
    Endpoint {
        method: "PUT",
        path: "/v2.1/servers/{server_id}/metadata",
        access: Access::Member,
        handler: metadata::replace,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1/servers/{server_id}/metadata/{key}",
        access: Access::Reader,
        handler: metadata::show,
    },
    Endpoint {
        method: "PUT",
        path: "/v2.1/servers/{server_id}/metadata/{key}",
        access: Access::Member,
        handler: metadata::set,
    },
    Endpoint {
        method: "DELETE",
        path: "/v2.1/servers/{server_id}/metadata/{key}",
        access: Access::Member,
        handler: metadata::delete,
    },
    Endpoint {
        method: "POST",
        path: "/v2.1/os-server-groups",
        access: Access::Member,
        handler: groups::create,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1/os-server-groups",
        access: Access::Reader,
        handler: groups::list,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1/os-server-groups/{group_id}",
        access: Access::Reader,
        handler: groups::show,
    },
    Endpoint {
        method: "DELETE",
        path: "/v2.1/os-server-groups/{group_id}",
        access: Access::Member,
        handler: groups::delete,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1/servers/{server_id}/os-instance-actions",
        access: Access::Reader,
        handler: actions::list,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1/servers/{server_id}/os-instance-actions/{request_id}",
        access: Access::Reader,
        handler: actions::show,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1/extensions",
        access: Access::Reader,
        handler: extensions::list,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1/extensions/{alias}",
        access: Access::Reader,
        handler: extensions::show,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1/flavors/{flavor_id}/os-extra_specs",
        access: Access::Reader,
        handler: flavors::list_extra_specs,
    },
    Endpoint {
        method: "POST",
        path: "/v2.1/flavors/{flavor_id}/os-extra_specs",
        access: Access::Admin,
        handler: flavors::create_extra_specs,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1/flavors/{flavor_id}/os-extra_specs/{key}",
        access: Access::Reader,
        handler: flavors::show_extra_spec,
    },
    Endpoint {
        method: "PUT",
        path: "/v2.1/flavors/{flavor_id}/os-extra_specs/{key}",
        access: Access::Admin,
        handler: flavors::update_extra_spec,
    },
    Endpoint {
        method: "DELETE",
        path: "/v2.1/flavors/{flavor_id}/os-extra_specs/{key}",
        access: Access::Admin,
        handler: flavors::delete_extra_spec,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1/flavors/{flavor_id}/os-flavor-access",
        access: Access::Admin,
        handler: flavors::list_access,
    },
    Endpoint {
        method: "POST",
        path: "/v2.1/flavors/{flavor_id}/action",
        access: Access::Admin,
        handler: flavors::action,
    },
    Endpoint {
        method: "DELETE",
        path: "/v2.1/os-quota-sets/{tenant_id}",
        access: Access::Admin,
        handler: resources::delete_quota_set,
    },
    Endpoint {
        method: "PUT",
        path: "/v2.1/os-quota-class-sets/{class_name}",
        access: Access::Admin,
        handler: resources::update_quota_class,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1/os-quota-class-sets/{class_name}",
        access: Access::Admin,
        handler: resources::show_quota_class,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1/os-hypervisors/statistics",
        access: Access::Admin,
        handler: resources::hypervisor_statistics,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1/os-hypervisors/{hypervisor_id}",
        access: Access::Admin,
        handler: resources::show_hypervisor,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1/os-hypervisors/{hypervisor_id}/uptime",
        access: Access::Admin,
        handler: resources::hypervisor_uptime,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1/os-hypervisors/{hypervisor_id}/search",
        access: Access::Admin,
        handler: resources::search_hypervisors,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1/os-hypervisors/{hypervisor_id}/servers",
        access: Access::Admin,
        handler: resources::hypervisor_servers,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1/os-aggregates",
        access: Access::Admin,
        handler: aggregates::list,
    },
    Endpoint {
        method: "POST",
        path: "/v2.1/os-aggregates",
        access: Access::Admin,
        handler: aggregates::create,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1/os-aggregates/{aggregate_id}",
        access: Access::Admin,
        handler: aggregates::show,
    },
    Endpoint {
        method: "PUT",
        path: "/v2.1/os-aggregates/{aggregate_id}",
        access: Access::Admin,
        handler: aggregates::update,
    },
    Endpoint {
        method: "DELETE",
        path: "/v2.1/os-aggregates/{aggregate_id}",
        access: Access::Admin,
        handler: aggregates::delete,
    },
    Endpoint {
        method: "POST",
        path: "/v2.1/os-aggregates/{aggregate_id}/action",
        access: Access::Admin,
        handler: aggregates::action,
    },
    Endpoint {
        method: "GET",
        path: "/v2",
        access: Access::Public,
        handler: version_v2,
    },
    Endpoint {
        method: "GET",
        path: "/v2/",
        access: Access::Public,
        handler: version_v2,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1/os-hosts",
        access: Access::Admin,
        handler: resources::hosts,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1/images",
        access: Access::Reader,
        handler: images::list,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1/images/detail",
        access: Access::Reader,
        handler: images::list_detail,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1/images/{image_id}",
        access: Access::Reader,
        handler: images::show,
    },
    Endpoint {
        method: "DELETE",
        path: "/v2.1/images/{image_id}",
        access: Access::Member,
        handler: images::delete,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1/images/{image_id}/metadata",
        access: Access::Reader,
        handler: images::list_metadata,
    },
    Endpoint {
        method: "POST",
        path: "/v2.1/images/{image_id}/metadata",
        access: Access::Member,
        handler: images::merge_metadata,
    },
    Endpoint {
        method: "PUT",
        path: "/v2.1/images/{image_id}/metadata",
        access: Access::Member,
        handler: images::replace_metadata,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1/images/{image_id}/metadata/{key}",
        access: Access::Reader,
        handler: images::show_metadata_item,
    },
    Endpoint {
        method: "PUT",
        path: "/v2.1/images/{image_id}/metadata/{key}",
        access: Access::Member,
        handler: images::set_metadata_item,
    },
    Endpoint {
        method: "DELETE",
        path: "/v2.1/images/{image_id}/metadata/{key}",
        access: Access::Member,
        handler: images::delete_metadata_item,
    },
    Endpoint {
        method: "POST",
        path: "/v2.1/os-certificates",
        access: Access::Member,
        handler: certificates::create,
    },
    Endpoint {
        method: "GET",
        path: "/v2.1/os-certificates/{certificate_id}",
        access: Access::Reader,
        handler: certificates::show,
    },
];

/// A request as the handlers see it.
pub struct Request {
    pub caller: Option<Caller>,
    pub params: Vec<(String, String)>,
    pub http: HttpRequest,
    pub version: (u32, u32),
    /// `http://host:port`, for links.
    pub base: String,
}

impl Request {
    fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }
    fn query(&self, name: &str) -> Option<&str> {
        self.http
            .query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    fn caller(&self) -> Result<Caller, Fault> {
        self.caller.clone().ok_or_else(|| {
            Fault::new(
                401,
                "unauthorized",
                "The request you have made requires authentication.",
            )
        })
    }
    fn is_admin(&self) -> bool {
        self.caller
            .as_ref()
            .is_some_and(|c| c.roles.iter().any(|r| r == "admin"))
    }
    fn json(&self) -> Result<Value, Fault> {
        serde_json::from_slice(&self.http.body)
            .map_err(|_| Fault::bad_request("Malformed request body"))
    }
}

impl Request {
    /// A non-negative integer query parameter (`limit`, `minRam`, …).
    fn query_u64(&self, name: &str) -> Result<Option<u64>, Fault> {
        match self.query(name) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| Fault::bad_request(format!("Invalid {name} filter [{v}]"))),
        }
    }

    /// Nova's `marker` and `limit` applied to a filtered, ordered listing.
    fn page<T>(&self, mut all: Vec<T>, id: impl Fn(&T) -> &str) -> Result<Vec<T>, Fault> {
        if let Some(marker) = self.query("marker") {
            let at = all
                .iter()
                .position(|x| id(x) == marker)
                .ok_or_else(|| Fault::bad_request(format!("marker [{marker}] not found")))?;
            all.drain(..=at);
        }
        if let Some(limit) = self.query_u64("limit")? {
            all.truncate(limit as usize);
        }
        Ok(all)
    }
}

/// A successful reply.
pub struct Reply {
    status: u16,
    body: Option<Value>,
    /// A body already serialised (large listings skip the `Value` tree).
    raw: Option<Vec<u8>>,
    headers: Vec<(String, String)>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
            raw: None,
            headers: Vec::new(),
        }
    }
    fn empty(status: u16) -> Reply {
        Reply {
            status,
            body: None,
            raw: None,
            headers: Vec::new(),
        }
    }
}

/// A Nova fault: `{"<kind>": {"code": N, "message": "..."}}`.
#[derive(Debug)]
pub struct Fault {
    status: u16,
    kind: &'static str,
    message: String,
}

impl Fault {
    fn new(status: u16, kind: &'static str, message: impl Into<String>) -> Fault {
        Fault {
            status,
            kind,
            message: message.into(),
        }
    }
    fn bad_request(message: impl Into<String>) -> Fault {
        Fault::new(400, "badRequest", message)
    }
    fn not_found(message: impl Into<String>) -> Fault {
        Fault::new(404, "itemNotFound", message)
    }
    fn body(&self) -> Value {
        json!({self.kind: {"code": self.status, "message": self.message}})
    }
}

impl From<OpError> for Fault {
    fn from(e: OpError) -> Fault {
        match e {
            OpError::NotFound(m) => Fault::not_found(m),
            OpError::BadRequest(m) => Fault::bad_request(m),
            OpError::Forbidden(m) => Fault::new(403, "forbidden", m),
            OpError::Conflict(m) => Fault::new(409, "conflictingRequest", m),
            OpError::QuotaExceeded(q) => Fault::new(
                403,
                "forbidden",
                format!(
                    "Quota exceeded for {r}: Requested {}, but already used {} of {} {r}",
                    q.requested,
                    q.used,
                    q.limit,
                    r = q.resource
                ),
            ),
            OpError::Unavailable(m) => Fault::new(503, "computeFault", m),
            OpError::Internal(m) => Fault::new(500, "computeFault", m),
        }
    }
}

fn parse_version(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.trim().split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

fn fmt_version(v: (u32, u32)) -> String {
    format!("{}.{}", v.0, v.1)
}

/// The microversion asked for: `OpenStack-API-Version: compute X.Y` (or the legacy
/// `X-OpenStack-Nova-API-Version`), `latest` meaning the maximum, none the minimum.
fn negotiate(req: &HttpRequest) -> Result<(u32, u32), Fault> {
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let asked = header("openstack-api-version")
        .and_then(|v| {
            v.split(',')
                .map(str::trim)
                .find_map(|part| part.strip_prefix("compute ").map(|s| s.trim().to_string()))
        })
        .or_else(|| header("x-openstack-nova-api-version"));
    let Some(asked) = asked else {
        return Ok(MIN_VERSION);
    };
    if asked.eq_ignore_ascii_case("latest") {
        return Ok(MAX_VERSION);
    }
    let v = parse_version(&asked).ok_or_else(|| {
        Fault::bad_request(format!(
            "API Version String {asked} is of invalid format. Must be of format MajorNum.MinorNum."
        ))
    })?;
    if v < MIN_VERSION || v > MAX_VERSION {
        return Err(Fault::new(
            406,
            "computeFault",
            format!(
                "Version {} is not supported by the API. Minimum is {} and maximum is {}.",
                fmt_version(v),
                fmt_version(MIN_VERSION),
                fmt_version(MAX_VERSION)
            ),
        ));
    }
    Ok(v)
}

fn respond_raw(
    status: u16,
    body: Vec<u8>,
    mut headers: Vec<(String, String)>,
    version: (u32, u32),
) -> HttpResponse {
    let v = fmt_version(version);
    headers.push(("openstack-api-version".into(), format!("compute {v}")));
    headers.push(("x-openstack-nova-api-version".into(), v));
    headers.push((
        "vary".into(),
        "OpenStack-API-Version, X-OpenStack-Nova-API-Version".into(),
    ));
    headers.push(("content-type".into(), "application/json".into()));
    HttpResponse {
        status,
        headers,
        body,
    }
}

fn respond(
    status: u16,
    body: Option<Value>,
    mut headers: Vec<(String, String)>,
    version: (u32, u32),
) -> HttpResponse {
    let v = fmt_version(version);
    headers.push(("openstack-api-version".into(), format!("compute {v}")));
    headers.push(("x-openstack-nova-api-version".into(), v));
    headers.push((
        "vary".into(),
        "OpenStack-API-Version, X-OpenStack-Nova-API-Version".into(),
    ));
    let body = match body {
        Some(b) => {
            headers.push(("content-type".into(), "application/json".into()));
            serde_json::to_vec(&b).unwrap_or_default()
        }
        None => Vec::new(),
    };
    HttpResponse {
        status,
        headers,
        body,
    }
}

struct Plugin;

impl Guest for Plugin {
    fn name() -> String {
        "openstack-compute".into()
    }

    fn routes() -> Vec<Route> {
        ENDPOINTS
            .iter()
            .map(|e| Route {
                method: e.method.into(),
                path: e.path.into(),
                access: e.access,
            })
            .collect()
    }

    fn render_error(status: u16, message: String) -> HttpResponse {
        let kind = match status {
            400 => "badRequest",
            401 => "unauthorized",
            403 => "forbidden",
            404 => "itemNotFound",
            405 => "methodNotAllowed",
            409 => "conflictingRequest",
            413 => "overLimit",
            _ => "computeFault",
        };
        let f = Fault::new(status, kind, message);
        respond(status, Some(f.body()), Vec::new(), MIN_VERSION)
    }

    fn handle(
        route: u32,
        params: Vec<(String, String)>,
        c: Option<Caller>,
        req: HttpRequest,
    ) -> HttpResponse {
        let version = match negotiate(&req) {
            Ok(v) => v,
            Err(f) => return respond(f.status, Some(f.body()), Vec::new(), MIN_VERSION),
        };
        let Some(endpoint) = ENDPOINTS.get(route as usize) else {
            let f = Fault::not_found("Unknown route");
            return respond(f.status, Some(f.body()), Vec::new(), version);
        };
        let host = req
            .headers
            .iter()
            .find(|(k, _)| k == "host")
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| "localhost".into());
        let request = Request {
            caller: c,
            params,
            http: req,
            version,
            base: format!("http://{host}"),
        };
        match (endpoint.handler)(&request) {
            Ok(Reply {
                status,
                raw: Some(raw),
                headers,
                ..
            }) => respond_raw(status, raw, headers, version),
            Ok(r) => respond(r.status, r.body, r.headers, version),
            Err(f) => respond(f.status, Some(f.body()), Vec::new(), version),
        }
    }
}

// Exported from the WebAssembly build only (a native build is for tests and benches).
#[cfg(target_arch = "wasm32")]
bindings::export!(Plugin with_types_in bindings);

// --- versions ----------------------------------------------------------------------------

fn version_doc(base: &str) -> Value {
    json!({
        "id": "v2.1",
        "status": "CURRENT",
        "version": fmt_version(MAX_VERSION),
        "min_version": fmt_version(MIN_VERSION),
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
        json!({"versions": [version_v20(&r.base), version_doc(&r.base)]}),
    ))
}

fn version_v2(r: &Request) -> Result<Reply, Fault> {
    let mut doc = version_v20(&r.base);
    doc["media-types"] = json!([{"base": "application/json",
        "type": "application/vnd.openstack.compute+json;version=2"}]);
    Ok(Reply::json(200, json!({"version": doc})))
}

fn version(r: &Request) -> Result<Reply, Fault> {
    Ok(Reply::json(200, json!({"version": version_doc(&r.base)})))
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
            // An unknown status matches nothing.
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
        "href": format!("{}/v2.1/{path}?limit={limit}&marker={last}", r.base)}]))
}

fn listing(r: &Request, detail: bool) -> Result<Reply, Fault> {
    let q = server_query(r)?;
    let limit = q.limit;
    if detail {
        // The hot path: the page crosses packed and is serialised straight from borrowed
        // rows, with no per-field copies and no intermediate JSON tree.
        let page = compute::list_servers_page(&r.caller()?, &q)?;
        let rows = views::unpack(&page).map_err(|e| Fault::new(500, "computeFault", e))?;
        let links = next_link(r, true, limit, rows.len(), rows.last().map(|s| s.id));
        // About 1.5 kB a server: sized once instead of grown by doubling.
        let mut raw = Vec::with_capacity(rows.len() * 1600 + 256);
        raw.extend_from_slice(b"{\"servers\":[");
        for (i, s) in rows.iter().enumerate() {
            if i > 0 {
                raw.push(b',');
            }
            views::ServerView::new(r, s).write_json(&mut raw);
        }
        raw.push(b']');
        if let Some(l) = links {
            raw.extend_from_slice(b",\"servers_links\":");
            raw.extend_from_slice(l.to_string().as_bytes());
        }
        raw.push(b'}');
        return Ok(Reply {
            status: 200,
            body: None,
            raw: Some(raw),
            headers: Vec::new(),
        });
    }
    let servers = compute::list_servers(&r.caller()?, &q)?;
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
    Ok(Reply::json(200, body))
}

fn list_servers(r: &Request) -> Result<Reply, Fault> {
    listing(r, false)
}

fn list_servers_detail(r: &Request) -> Result<Reply, Fault> {
    listing(r, true)
}

fn show_server(r: &Request) -> Result<Reply, Fault> {
    let s = compute::get_server(&r.caller()?, r.param("server_id"))?;
    Ok(Reply::json(200, json!({"server": views::server(r, &s)})))
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
    let body = r.json()?;
    let server = body
        .get("server")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            Fault::bad_request(
                "Invalid input for field/attribute server. 'server' is a required property",
            )
        })?;
    if let Some(k) = server.keys().find(|k| !CREATE_KEYS.contains(&k.as_str())) {
        return Err(Fault::bad_request(format!("Invalid input for field/attribute server. Additional properties are not allowed ('{k}' was unexpected)")));
    }
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
    let created = compute::create_servers(&r.caller()?, &req)?;
    let first = created
        .first()
        .ok_or_else(|| Fault::new(500, "computeFault", "no server was created"))?;
    if server.get("return_reservation_id").and_then(Value::as_bool) == Some(true) {
        return Ok(Reply::json(
            202,
            json!({"reservation_id": first.reservation_id}),
        ));
    }
    let links = views::links(r, "servers", &first.id);
    let location = links[0]["href"].as_str().unwrap_or_default().to_string();
    let mut reply = Reply::json(
        202,
        json!({"server": {
            "id": first.id,
            "links": links,
            "OS-DCF:diskConfig": "MANUAL",
            "security_groups": [{"name": "default"}],
            "adminPass": views::admin_pass(&first.id),
        }}),
    );
    reply.headers.push(("location".into(), location));
    Ok(reply)
}

fn update_server(r: &Request) -> Result<Reply, Fault> {
    let body = r.json()?;
    let server = body
        .get("server")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            Fault::bad_request(
                "Invalid input for field/attribute server. 'server' is a required property",
            )
        })?;
    const KEYS: &[&str] = &["name", "accessIPv4", "accessIPv6", "OS-DCF:diskConfig"];
    if let Some(k) = server.keys().find(|k| !KEYS.contains(&k.as_str())) {
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
    let s = compute::update_server(
        &c,
        id,
        name.as_deref(),
        opt_string(server, "accessIPv4")?.as_deref(),
        opt_string(server, "accessIPv6")?.as_deref(),
    )?;
    Ok(Reply::json(200, json!({"server": views::server(r, &s)})))
}

fn delete_server(r: &Request) -> Result<Reply, Fault> {
    compute::delete_server(&r.caller()?, r.param("server_id"))?;
    Ok(Reply::empty(204))
}

/// `createImage` / `createBackup`: 202 with the new image's URL in `Location` (2.1).
fn create_image(c: &Caller, id: &str, action: &str, args: &Value) -> Result<Reply, Fault> {
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
    if let Some(k) = args.keys().find(|k| !REBUILD_KEYS.contains(&k.as_str())) {
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
    let s = compute::rebuild_server(c, id, &image, name.as_deref(), metadata.as_deref())?;
    let mut view = views::server(r, &s);
    // 2.1 shows a rebuilt server without the extension attributes.
    if let Some(m) = view.as_object_mut() {
        m.retain(|k, _| {
            !(k.starts_with("OS-EXT-")
                || k.starts_with("OS-SRV-USG:")
                || k.starts_with("os-extended-volumes")
                || matches!(k.as_str(), "config_drive" | "key_name" | "security_groups"))
        });
    }
    view["adminPass"] = json!(admin_pass.unwrap_or_else(|| views::admin_pass(&s.id)));
    Ok(Reply::json(202, json!({"server": view})))
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
    let body = r.json()?;
    let obj = body
        .as_object()
        .filter(|o| o.len() == 1)
        .ok_or_else(|| Fault::bad_request("Malformed request body: one action expected"))?;
    let (action, args) = obj.iter().next().expect("one entry");
    let c = r.caller()?;
    let id = r.param("server_id");
    match action.as_str() {
        "os-start" => compute::server_action(&c, id, "start", &[])?,
        "rebuild" => return rebuild(r, &c, id, args),
        "createImage" | "createBackup" => return create_image(&c, id, action, args),
        "evacuate" => return hosts::evacuate(&c, id, args),
        "migrate" => {
            // 2.1: no arguments (`{"migrate": null}`); the scheduler picks the host.
            if !args.is_null() && args.as_object().is_none_or(|m| !m.is_empty()) {
                return Err(Fault::bad_request(format!(
                    "Invalid input for field/attribute migrate. Value: {args}. {args} is not of type 'null'"
                )));
            }
            compute::server_action(&c, id, "migrate", &[])?
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
            compute::server_action(&c, id, "resize", &[("flavor".into(), flavor)])?
        }
        "confirmResize" => {
            no_args(action, args)?;
            compute::server_action(&c, id, "confirm-resize", &[])?;
            return Ok(Reply::empty(204));
        }
        "revertResize" => {
            no_args(action, args)?;
            compute::server_action(&c, id, "revert-resize", &[])?
        }
        "pause" | "unpause" | "suspend" | "resume" | "lock" | "unlock" => {
            no_args(action, args)?;
            compute::server_action(&c, id, action, &[])?
        }
        "os-stop" => compute::server_action(&c, id, "stop", &[])?,
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
            compute::server_action(&c, id, "reboot", &[("type".into(), kind)])?
        }
        "os-getConsoleOutput" => {
            let output = compute::console_output(&c, id)?;
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
            return Ok(Reply::json(200, json!({"output": text})));
        }
        other => {
            return Err(Fault::bad_request(format!(
                "There is no such action: {other}"
            )))
        }
    }
    Ok(Reply::empty(202))
}
