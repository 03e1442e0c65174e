//! The Metacloud admin API as a dialect plugin: what an operator runs the cloud with —
//! services and hosts (maintenance, forced down, evacuation), hypervisors, flavors, quotas
//! and aggregates — under `/admin/v1`, for the `admin` role only. JSON in, JSON out;
//! request bodies are strict (an unknown field is a 400), and every error is
//! `{"error": {"code": N, "title": "...", "message": "..."}}`.

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "api-dialect",
        path: "../../wit/api",
        generate_all,
    });
}

mod aggregates;
mod flavors;
mod hosts;
mod quotas;

use bindings::exports::metacloud::api::dialect::Guest;
use bindings::metacloud::api::types::{Access, Caller, HttpRequest, HttpResponse, OpError, Route};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

/// Where the API lives on its listener.
pub const BASE: &str = "/admin/v1";

/// One route: method, path template, who may call it, and its handler.
struct Endpoint {
    method: &'static str,
    path: &'static str,
    access: Access,
    handler: fn(&Request) -> Result<Reply, Error>,
}

macro_rules! admin {
    ($method:literal, $path:literal, $handler:path) => {
        Endpoint {
            method: $method,
            path: concat!("/admin/v1", $path),
            access: Access::Admin,
            handler: $handler,
        }
    };
}

const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: "GET",
        path: "/admin",
        access: Access::Public,
        handler: versions,
    },
    Endpoint {
        method: "GET",
        path: "/admin/v1",
        access: Access::Public,
        handler: version,
    },
    admin!("GET", "/services", hosts::list_services),
    admin!("PATCH", "/services/{service_id}", hosts::update_service),
    admin!("GET", "/hosts", hosts::list_hosts),
    admin!("GET", "/hosts/{host}", hosts::show_host),
    admin!("PUT", "/hosts/{host}/maintenance", hosts::maintenance),
    admin!("POST", "/hosts/{host}/evacuate", hosts::evacuate_host),
    admin!("GET", "/hypervisors", hosts::list_hypervisors),
    admin!("GET", "/hypervisors/{host}", hosts::show_hypervisor),
    admin!(
        "POST",
        "/servers/{server_id}/evacuate",
        hosts::evacuate_server
    ),
    admin!(
        "POST",
        "/servers/{server_id}/migrate",
        hosts::migrate_server
    ),
    admin!(
        "POST",
        "/servers/{server_id}/migration/confirm",
        hosts::confirm_migration
    ),
    admin!(
        "POST",
        "/servers/{server_id}/migration/revert",
        hosts::revert_migration
    ),
    admin!("GET", "/migrations", hosts::migrations),
    admin!("GET", "/flavors", flavors::list),
    admin!("POST", "/flavors", flavors::create),
    admin!("GET", "/flavors/{flavor_id}", flavors::show),
    admin!("DELETE", "/flavors/{flavor_id}", flavors::delete),
    admin!(
        "PATCH",
        "/flavors/{flavor_id}/extra-specs",
        flavors::set_extra_specs
    ),
    admin!(
        "DELETE",
        "/flavors/{flavor_id}/extra-specs/{key}",
        flavors::delete_extra_spec
    ),
    admin!("GET", "/flavors/{flavor_id}/access", flavors::list_access),
    admin!(
        "PUT",
        "/flavors/{flavor_id}/access/{project_id}",
        flavors::add_access
    ),
    admin!(
        "DELETE",
        "/flavors/{flavor_id}/access/{project_id}",
        flavors::remove_access
    ),
    admin!("GET", "/quotas/defaults", quotas::show_defaults),
    admin!("PATCH", "/quotas/defaults", quotas::update_defaults),
    admin!("GET", "/quotas/{project_id}", quotas::show),
    admin!("PATCH", "/quotas/{project_id}", quotas::update),
    admin!("DELETE", "/quotas/{project_id}", quotas::reset),
    admin!("GET", "/aggregates", aggregates::list),
    admin!("POST", "/aggregates", aggregates::create),
    admin!("GET", "/aggregates/{aggregate_id}", aggregates::show),
    admin!("PATCH", "/aggregates/{aggregate_id}", aggregates::update),
    admin!("DELETE", "/aggregates/{aggregate_id}", aggregates::delete),
    admin!(
        "PUT",
        "/aggregates/{aggregate_id}/hosts/{host}",
        aggregates::add_host
    ),
    admin!(
        "DELETE",
        "/aggregates/{aggregate_id}/hosts/{host}",
        aggregates::remove_host
    ),
    admin!(
        "PATCH",
        "/aggregates/{aggregate_id}/metadata",
        aggregates::set_metadata
    ),
];

/// A request as the handlers see it.
pub struct Request {
    pub caller: Option<Caller>,
    pub params: Vec<(String, String)>,
    pub http: HttpRequest,
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

    fn caller(&self) -> Result<&Caller, Error> {
        self.caller
            .as_ref()
            .ok_or_else(|| Error::new(401, "The request you have made requires authentication."))
    }

    /// The body as `T`: malformed JSON, a wrong type, a missing or an unknown field are
    /// each a 400 that says which.
    fn body<T: DeserializeOwned>(&self) -> Result<T, Error> {
        if self.http.body.is_empty() {
            return Err(Error::bad_request("A JSON request body is required."));
        }
        serde_json::from_slice(&self.http.body)
            .map_err(|e| Error::bad_request(format!("Invalid request body: {e}")))
    }
}

/// A successful reply: a status and a JSON body (none for 204).
pub struct Reply {
    status: u16,
    body: Option<Value>,
}

impl Reply {
    fn ok(body: Value) -> Reply {
        Reply {
            status: 200,
            body: Some(body),
        }
    }
    fn with_status(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
        }
    }
    fn no_content() -> Reply {
        Reply {
            status: 204,
            body: None,
        }
    }
}

/// An error reply.
#[derive(Debug, PartialEq)]
pub struct Error {
    pub status: u16,
    pub message: String,
}

impl Error {
    fn new(status: u16, message: impl Into<String>) -> Error {
        Error {
            status,
            message: message.into(),
        }
    }
    fn bad_request(message: impl Into<String>) -> Error {
        Error::new(400, message)
    }
    fn not_found(message: impl Into<String>) -> Error {
        Error::new(404, message)
    }

    fn title(&self) -> &'static str {
        match self.status {
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            409 => "Conflict",
            413 => "Request Entity Too Large",
            503 => "Service Unavailable",
            _ => "Internal Server Error",
        }
    }

    fn body(&self) -> Value {
        json!({"error": {"code": self.status, "title": self.title(), "message": self.message}})
    }
}

impl From<OpError> for Error {
    fn from(e: OpError) -> Error {
        match e {
            OpError::NotFound(m) => Error::new(404, m),
            OpError::Conflict(m) => Error::new(409, m),
            OpError::Forbidden(m) => Error::new(403, format!("Policy does not allow {m}.")),
            OpError::BadRequest(m) => Error::new(400, m),
            OpError::QuotaExceeded(q) => Error::new(
                403,
                format!(
                    "Quota exceeded for {}: requested {}, used {} of {}",
                    q.resource, q.requested, q.used, q.limit
                ),
            ),
            OpError::Unavailable(m) => Error::new(503, m),
            OpError::Internal(m) => Error::new(500, m),
        }
    }
}

/// Milliseconds since the epoch as RFC 3339 (`2026-12-01T13:15:57.123Z`).
pub fn rfc3339(ms: i64) -> Value {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        None => Value::Null,
    }
}

fn respond(status: u16, body: Option<Value>) -> HttpResponse {
    let (headers, body) = match body {
        Some(b) => (
            vec![("content-type".to_string(), "application/json".to_string())],
            serde_json::to_vec(&b).unwrap_or_default(),
        ),
        None => (Vec::new(), Vec::new()),
    };
    HttpResponse {
        status,
        headers,
        body,
    }
}

fn version_doc() -> Value {
    json!({"id": "v1", "status": "CURRENT", "updated": "2026-12-01T00:00:00Z",
           "links": [{"rel": "self", "href": format!("{BASE}/")}]})
}

fn versions(_: &Request) -> Result<Reply, Error> {
    Ok(Reply::ok(json!({"versions": [version_doc()]})))
}

fn version(_: &Request) -> Result<Reply, Error> {
    Ok(Reply::ok(json!({"version": version_doc()})))
}

/// Serves one request: the handler's reply, or its error in the API's format.
pub fn dispatch(
    route: u32,
    params: Vec<(String, String)>,
    c: Option<Caller>,
    req: HttpRequest,
) -> HttpResponse {
    let Some(endpoint) = ENDPOINTS.get(route as usize) else {
        let e = Error::not_found("Unknown route");
        return respond(e.status, Some(e.body()));
    };
    let request = Request {
        caller: c,
        params,
        http: req,
    };
    match (endpoint.handler)(&request) {
        Ok(r) => respond(r.status, r.body),
        Err(e) => respond(e.status, Some(e.body())),
    }
}

struct Plugin;

impl Guest for Plugin {
    fn name() -> String {
        "metacloud-admin".into()
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
        let e = Error::new(status, message);
        respond(status, Some(e.body()))
    }

    fn handle(
        route: u32,
        params: Vec<(String, String)>,
        c: Option<Caller>,
        req: HttpRequest,
    ) -> HttpResponse {
        dispatch(route, params, c, req)
    }
}

// Exported from the WebAssembly build only (a native build is for unit tests).
#[cfg(target_arch = "wasm32")]
bindings::export!(Plugin with_types_in bindings);

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: &str) -> Request {
        Request {
            caller: None,
            params: Vec::new(),
            http: HttpRequest {
                method: "PATCH".into(),
                path: "/admin/v1/services/1".into(),
                query: Vec::new(),
                headers: Vec::new(),
                body: body.as_bytes().to_vec(),
            },
        }
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        disabled: Option<bool>,
    }

    #[test]
    fn bodies_are_strict() {
        assert!(request(r#"{"disabled": true}"#).body::<Body>().is_ok());
        for bad in [
            "",
            "{",
            r#"{"disabled": "yes"}"#,
            r#"{"disabled": true, "x": 1}"#,
            "[]",
        ] {
            let e = request(bad).body::<Body>().unwrap_err();
            assert_eq!(e.status, 400, "{bad}");
        }
        let e = request(r#"{"disabled": true, "colour": 1}"#)
            .body::<Body>()
            .unwrap_err();
        assert!(e.message.contains("colour"), "{}", e.message);
    }

    #[test]
    fn errors_have_code_title_and_message() {
        let e = Error::from(OpError::Conflict("busy".into()));
        assert_eq!(
            e.body(),
            json!({"error": {"code": 409, "title": "Conflict", "message": "busy"}})
        );
    }

    #[test]
    fn every_route_but_discovery_is_for_admins_under_the_base() {
        for e in ENDPOINTS {
            assert!(e.path.starts_with("/admin"), "{}", e.path);
            if e.access != Access::Public {
                assert!(e.path.starts_with(BASE), "{}", e.path);
                assert_eq!(e.access, Access::Admin, "{}", e.path);
            }
        }
    }

    #[test]
    fn times_are_rfc3339() {
        assert_eq!(rfc3339(0), json!("1970-01-01T00:00:00.000Z"));
        assert_eq!(
            rfc3339(1_764_594_957_123),
            json!("2025-12-01T13:15:57.123Z")
        );
    }
}
