//! The identity API as Keystone v3 clients expect it (keystoneauth, openstacksdk,
//! python-openstackclient), as a dialect plugin: JSON shapes, status codes and
//! `X-Subject-Token`.
//!
//! The plugin never sees a password, a token or a secret key: the host hands it sealed
//! references (`sealed:<nonce>:<n>`) in their place and opens the ones the `identity`
//! imports return when they appear in the response. State and authorization (admin-only,
//! self-or-admin) are the imports' business; this crate parses, validates and shapes.
//! Every error is `{"error": {"code": N, "message": "...", "title": "..."}}`, and a 401
//! carries `WWW-Authenticate: Keystone`.

metacloud_sdk::dialect_plugin!(Keystone, "../../wit/api");

mod catalog;
mod domains;
mod ec2;
mod input;
mod projects;
mod roles;
mod tokens;
mod users;
mod versions;

use bindings::metacloud::api::identity::{self, IdentityError};
use bindings::metacloud::api::types::Caller;
use metacloud_sdk::dialect::{error_title, Access, Dialect, Route, Router};
pub use metacloud_sdk::dialect::{Fault, Reply};
use serde_json::{json, Value};

/// The one domain there is: Keystone's default domain.
pub const DEFAULT_DOMAIN: &str = "default";
/// Its name.
pub const DEFAULT_DOMAIN_NAME: &str = "Default";
/// The message of a 401 for missing or bad credentials.
pub const AUTH_REQUIRED: &str = "The request you have made requires authentication.";

/// One route: method, path template and its handler. Every route is public: the host
/// still establishes the caller from `X-Auth-Token` when there is one, and handlers that
/// need it ask `Request::caller`.
macro_rules! route {
    ($method:literal, $path:expr, $handler:path) => {
        Route::new($method, $path, Access::Public, $handler)
    };
}

const PROJECT: &str = "/v3/projects/{project_id}";
const GRANT: &str = "/v3/projects/{project_id}/users/{user_id}/roles/{role_id}";
const USER: &str = "/v3/users/{user_id}";
const EC2S: &str = "/v3/users/{user_id}/credentials/OS-EC2";
const EC2: &str = "/v3/users/{user_id}/credentials/OS-EC2/{access}";
const GRANTS: &str = "/v3/projects/{project_id}/users/{user_id}/roles";
const TOKENS: &str = "/v3/auth/tokens";

/// The routes, in the order the host checks them.
const ROUTES: &[Route<Caller>] = &[
    route!("GET", "/", versions::list),
    route!("GET", "/v3", versions::show),
    route!("GET", "/v3/", versions::show),
    route!("POST", TOKENS, tokens::issue),
    route!("GET", TOKENS, tokens::check),
    route!("HEAD", TOKENS, tokens::check),
    route!("DELETE", TOKENS, tokens::revoke),
    route!("GET", "/v3/auth/catalog", tokens::catalog),
    route!("GET", "/v3/auth/projects", tokens::projects),
    route!("GET", "/v3/domains", domains::list),
    route!("GET", "/v3/domains/{domain_id}", domains::show),
    route!("GET", "/v3/projects", projects::list),
    route!("POST", "/v3/projects", projects::create),
    route!("GET", PROJECT, projects::show),
    route!("PATCH", PROJECT, projects::update),
    route!("DELETE", PROJECT, projects::delete),
    route!("GET", GRANTS, roles::list_grants),
    route!("PUT", GRANT, roles::grant),
    route!("HEAD", GRANT, roles::check_grant),
    route!("GET", GRANT, roles::check_grant),
    route!("DELETE", GRANT, roles::revoke),
    route!("GET", "/v3/users", users::list),
    route!("POST", "/v3/users", users::create),
    route!("GET", USER, users::show),
    route!("PATCH", USER, users::update),
    route!("DELETE", USER, users::delete),
    route!("GET", "/v3/users/{user_id}/projects", users::projects),
    route!("GET", EC2S, ec2::list),
    route!("POST", EC2S, ec2::create),
    route!("GET", EC2, ec2::show),
    route!("DELETE", EC2, ec2::delete),
    route!("GET", "/v3/roles", roles::list),
    route!("POST", "/v3/roles", roles::create),
    route!("GET", "/v3/roles/{role_id}", roles::show),
    route!("GET", "/v3/role_assignments", roles::assignments),
    route!("GET", "/v3/services", catalog::services),
    route!("GET", "/v3/endpoints", catalog::endpoints),
    route!("GET", "/v3/regions", catalog::regions),
];

/// A request as the handlers see it.
pub type Request = metacloud_sdk::dialect::Request<Caller>;

/// What the identity API reads off a request beyond the SDK's helpers.
pub trait KeystoneRequest {
    /// The body as JSON (`Content-Type: application/json` required), or a 400 that says
    /// why not.
    fn body_json(&self) -> Result<Value, Fault>;
}

impl KeystoneRequest for Request {
    fn body_json(&self) -> Result<Value, Fault> {
        input::parse_json(&self.headers, &self.body)
    }
}

/// The identity API (Keystone v3).
pub struct Keystone;

impl Dialect for Keystone {
    const NAME: &'static str = "openstack-identity";
    type Caller = Caller;
    const ROUTER: Router<Caller> = Router::new(ROUTES);

    /// `{"error": {"code": N, "message": "...", "title": "..."}}`; a 401 asks for
    /// `WWW-Authenticate: Keystone`.
    fn fault(status: u16, message: &str) -> Reply {
        let reply = Reply::json(status, &error_body(status, message));
        if status == 401 {
            return reply.with_header("www-authenticate", "Keystone");
        }
        reply
    }
}

/// The last value of query parameter `name`.
pub fn query_value<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A 403 worded as Keystone words them.
pub fn not_authorized(action: &str) -> Fault {
    Fault::forbidden(format!(
        "You are not authorized to perform the requested action: {action}."
    ))
}

/// Keystone's error document.
pub fn error_body(status: u16, message: &str) -> Value {
    json!({"error": {"code": status, "message": message, "title": error_title(status)}})
}

impl From<IdentityError> for Fault {
    /// The host words its errors in full; the status is the case's.
    fn from(e: IdentityError) -> Fault {
        match e {
            IdentityError::Unauthorized(m) => Fault::new(401, m),
            IdentityError::Forbidden(m) => Fault::new(403, m),
            IdentityError::NotFound(m) => Fault::new(404, m),
            IdentityError::Conflict(m) => Fault::new(409, m),
            IdentityError::BadRequest(m) => Fault::new(400, m),
            IdentityError::Internal(m) => Fault::new(500, m),
        }
    }
}

/// Whether the caller holds the admin role (implied roles are included by the host).
fn is_admin(c: &Caller) -> bool {
    c.roles.iter().any(|r| r == "admin")
}

/// The base URL of links: the identity API's, from the catalog.
fn base() -> String {
    base_of(&identity::get_catalog())
}

fn base_of(cat: &identity::Catalog) -> String {
    if cat.identity_url.is_empty() {
        "/v3".to_string()
    } else {
        cat.identity_url.clone()
    }
}

/// Milliseconds since the epoch as Keystone prints times (`2026-12-01T13:15:57.123000Z`).
pub fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

/// A listing: `{key: items, "links": {...}}`.
pub fn collection(base: &str, path: &str, key: &str, items: Vec<Value>) -> Value {
    json!({key: items, "links": {"self": format!("{base}/{path}"), "previous": null, "next": null}})
}

/// The default domain as a reference in tokens and assignments.
fn domain_ref() -> Value {
    json!({"id": DEFAULT_DOMAIN, "name": DEFAULT_DOMAIN_NAME})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::exports::metacloud::api::dialect::Guest;
    use crate::bindings::metacloud::api::types::{HttpRequest, HttpResponse};
    use std::collections::HashSet;

    /// The exported interface, as the host calls it.
    type Plugin = __DialectExport;

    /// `handle`, as the host calls it.
    fn dispatch(
        route: u32,
        params: Vec<(String, String)>,
        c: Option<Caller>,
        req: HttpRequest,
    ) -> HttpResponse {
        Plugin::handle(route, params, c, req)
    }

    /// A fault as the host receives it.
    fn response(f: Fault) -> HttpResponse {
        Plugin::response(Keystone::fault(f.status, &f.message))
    }

    fn header<'a>(r: &'a HttpResponse, name: &str) -> Option<&'a str> {
        r.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn body_of(r: &HttpResponse) -> Value {
        serde_json::from_slice(&r.body).expect("a JSON body")
    }

    #[test]
    fn routes_are_unique_and_versioned() {
        let mut seen = HashSet::new();
        for e in ROUTES {
            assert!(seen.insert((e.method, e.path)), "{} {}", e.method, e.path);
            assert!(e.path == "/" || e.path.starts_with("/v3"), "{}", e.path);
        }
    }

    #[test]
    fn the_routes_of_keystone_v3_as_served_before() {
        let expected = [
            ("GET", "/"),
            ("GET", "/v3"),
            ("GET", "/v3/"),
            ("POST", "/v3/auth/tokens"),
            ("GET", "/v3/auth/tokens"),
            ("HEAD", "/v3/auth/tokens"),
            ("DELETE", "/v3/auth/tokens"),
            ("GET", "/v3/auth/catalog"),
            ("GET", "/v3/auth/projects"),
            ("GET", "/v3/domains"),
            ("GET", "/v3/domains/{domain_id}"),
            ("GET", "/v3/projects"),
            ("POST", "/v3/projects"),
            ("GET", "/v3/projects/{project_id}"),
            ("PATCH", "/v3/projects/{project_id}"),
            ("DELETE", "/v3/projects/{project_id}"),
            ("GET", "/v3/projects/{project_id}/users/{user_id}/roles"),
            (
                "PUT",
                "/v3/projects/{project_id}/users/{user_id}/roles/{role_id}",
            ),
            (
                "HEAD",
                "/v3/projects/{project_id}/users/{user_id}/roles/{role_id}",
            ),
            (
                "GET",
                "/v3/projects/{project_id}/users/{user_id}/roles/{role_id}",
            ),
            (
                "DELETE",
                "/v3/projects/{project_id}/users/{user_id}/roles/{role_id}",
            ),
            ("GET", "/v3/users"),
            ("POST", "/v3/users"),
            ("GET", "/v3/users/{user_id}"),
            ("PATCH", "/v3/users/{user_id}"),
            ("DELETE", "/v3/users/{user_id}"),
            ("GET", "/v3/users/{user_id}/projects"),
            ("GET", "/v3/users/{user_id}/credentials/OS-EC2"),
            ("POST", "/v3/users/{user_id}/credentials/OS-EC2"),
            ("GET", "/v3/users/{user_id}/credentials/OS-EC2/{access}"),
            ("DELETE", "/v3/users/{user_id}/credentials/OS-EC2/{access}"),
            ("GET", "/v3/roles"),
            ("POST", "/v3/roles"),
            ("GET", "/v3/roles/{role_id}"),
            ("GET", "/v3/role_assignments"),
            ("GET", "/v3/services"),
            ("GET", "/v3/endpoints"),
            ("GET", "/v3/regions"),
        ];
        let served: Vec<(&str, &str)> = ROUTES.iter().map(|e| (e.method, e.path)).collect();
        assert_eq!(served, expected);
    }

    #[test]
    fn one_path_shape_is_spelled_one_way() {
        // The host refuses a dialect that spells one path shape with different
        // parameter names.
        let mut shapes: std::collections::HashMap<String, &str> = Default::default();
        for e in ROUTES {
            let shape: Vec<&str> = e
                .path
                .split('/')
                .map(|s| if s.starts_with('{') { "{}" } else { s })
                .collect();
            let prior = shapes.entry(shape.join("/")).or_insert(e.path);
            assert_eq!(*prior, e.path);
        }
    }

    #[test]
    fn unauthorized_errors_ask_for_keystone() {
        let r = response(Fault::unauthorized(AUTH_REQUIRED));
        assert_eq!(r.status, 401);
        assert_eq!(header(&r, "www-authenticate"), Some("Keystone"));
        assert_eq!(header(&r, "content-type"), Some("application/json"));
        assert_eq!(
            body_of(&r),
            json!({"error": {"code": 401, "message": AUTH_REQUIRED, "title": "Unauthorized"}})
        );
        let r = response(Fault::not_found("Could not find role: x."));
        assert_eq!(header(&r, "www-authenticate"), None);
        assert_eq!(body_of(&r)["error"]["title"], "Not Found");
    }

    #[test]
    fn identity_errors_keep_the_hosts_message() {
        let cases = [
            (IdentityError::Unauthorized("u".into()), 401, "Unauthorized"),
            (IdentityError::Forbidden("f".into()), 403, "Forbidden"),
            (IdentityError::NotFound("n".into()), 404, "Not Found"),
            (IdentityError::Conflict("c".into()), 409, "Conflict"),
            (IdentityError::BadRequest("b".into()), 400, "Bad Request"),
            (
                IdentityError::Internal("i".into()),
                500,
                "Internal Server Error",
            ),
        ];
        for (e, status, title) in cases {
            let message = match &e {
                IdentityError::Unauthorized(m)
                | IdentityError::Forbidden(m)
                | IdentityError::NotFound(m)
                | IdentityError::Conflict(m)
                | IdentityError::BadRequest(m)
                | IdentityError::Internal(m) => m.clone(),
            };
            let e = Fault::from(e);
            assert_eq!(
                error_body(e.status, &e.message),
                json!({"error": {"code": status, "message": message, "title": title}})
            );
        }
    }

    #[test]
    fn own_refusals_are_worded_as_keystone() {
        assert_eq!(
            crate::not_authorized("a catalog needs a project-scoped token").message,
            "You are not authorized to perform the requested action: \
             a catalog needs a project-scoped token."
        );
    }

    #[test]
    fn rendered_refusals_use_the_error_format() {
        let r = Plugin::render_error(405, "The method PUT is not allowed.".into());
        assert_eq!(r.status, 405);
        assert_eq!(body_of(&r)["error"]["title"], "Method Not Allowed");
        let r = Plugin::render_error(401, AUTH_REQUIRED.into());
        assert_eq!(header(&r, "www-authenticate"), Some("Keystone"));
    }

    #[test]
    fn every_route_is_public_and_named() {
        assert_eq!(Plugin::name(), "openstack-identity");
        let routes = Plugin::routes();
        assert_eq!(routes.len(), ROUTES.len());
        assert!(routes
            .iter()
            .all(|r| r.access == crate::bindings::metacloud::api::types::Access::Public));
    }

    fn request() -> HttpRequest {
        HttpRequest {
            method: "GET".into(),
            path: "/v3/domains".into(),
            query: Vec::new(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    #[test]
    fn routes_that_need_a_caller_answer_401_without_one() {
        let needs_caller = |e: &Route<Caller>| {
            let discovery = matches!(e.path, "/" | "/v3" | "/v3/");
            let login = e.method == "POST" && e.path == TOKENS;
            !(discovery || login)
        };
        for (i, e) in ROUTES.iter().enumerate() {
            if needs_caller(e) {
                let r = dispatch(i as u32, Vec::new(), None, request());
                assert_eq!(r.status, 401, "{} {}", e.method, e.path);
                assert_eq!(header(&r, "www-authenticate"), Some("Keystone"));
                assert_eq!(body_of(&r)["error"]["message"], AUTH_REQUIRED);
            }
        }
    }

    fn route_index(method: &str, path: &str) -> u32 {
        ROUTES
            .iter()
            .position(|e| e.method == method && e.path == path)
            .expect("a declared route") as u32
    }

    fn with_body(method: &str, content_type: Option<&str>, body: &str) -> HttpRequest {
        HttpRequest {
            method: method.into(),
            path: String::new(),
            query: Vec::new(),
            headers: content_type
                .map(|t| vec![("content-type".to_string(), t.to_string())])
                .unwrap_or_default(),
            body: body.as_bytes().to_vec(),
        }
    }

    fn admin() -> Caller {
        Caller {
            user_id: "u-admin".into(),
            user_name: "admin".into(),
            project_id: "p-admin".into(),
            project_name: "admin".into(),
            roles: vec!["admin".into(), "member".into(), "reader".into()],
            request_id: "req-1".into(),
        }
    }

    #[test]
    fn bad_logins_are_refused_before_the_host_is_asked() {
        let login = route_index("POST", TOKENS);
        let cases = [
            (Some("application/json"), "{", 400),
            (None, "{}", 400),
            (Some("application/json"), "{}", 400),
            (
                Some("application/json"),
                r#"{"auth": {"identity": {"methods": ["totp"]}}}"#,
                401,
            ),
            (
                Some("application/json"),
                r#"{"auth": {"identity": {"methods": ["password"],
                    "password": {"user": {"id": "u1"}}}}}"#,
                401,
            ),
        ];
        for (content_type, body, status) in cases {
            let r = dispatch(
                login,
                Vec::new(),
                None,
                with_body("POST", content_type, body),
            );
            assert_eq!(r.status, status, "{body}");
            assert_eq!(body_of(&r)["error"]["code"], status, "{body}");
            assert_eq!(
                header(&r, "www-authenticate").is_some(),
                status == 401,
                "{body}"
            );
        }
    }

    #[test]
    fn malformed_bodies_are_400s_on_every_route_that_reads_one() {
        let routes = [
            ("POST", "/v3/projects"),
            ("PATCH", PROJECT),
            ("POST", "/v3/users"),
            ("PATCH", USER),
            ("POST", "/v3/roles"),
            ("POST", EC2S),
        ];
        let bodies = [
            (Some("application/json"), "not json"),
            (Some("application/json"), ""),
            (Some("text/plain"), "{}"),
            (
                Some("application/json"),
                r#"{"project": {"name": 3}, "user": [], "role": 1,
                "tenant_id": false}"#,
            ),
        ];
        for (method, path) in routes {
            for (content_type, body) in bodies {
                let r = dispatch(
                    route_index(method, path),
                    vec![
                        ("project_id".into(), "p1".into()),
                        ("user_id".into(), "u1".into()),
                    ],
                    Some(admin()),
                    with_body(method, content_type, body),
                );
                assert_eq!(r.status, 400, "{method} {path} {body}");
                assert_eq!(body_of(&r)["error"]["title"], "Bad Request");
            }
        }
    }

    #[test]
    fn an_unknown_route_is_a_404() {
        let r = dispatch(999, Vec::new(), None, request());
        assert_eq!(r.status, 404);
    }

    #[test]
    fn times_have_microseconds() {
        assert_eq!(iso(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(iso(1_764_594_957_123), "2025-12-01T13:15:57.123000Z");
    }

    #[test]
    fn the_last_query_value_wins() {
        let q = vec![
            ("name".to_string(), "a".to_string()),
            ("name".to_string(), "b".to_string()),
        ];
        assert_eq!(query_value(&q, "name"), Some("b"));
        assert_eq!(query_value(&q, "other"), None);
    }

    #[test]
    fn collections_link_to_themselves() {
        assert_eq!(
            collection("http://k/v3", "roles", "roles", vec![json!(1)]),
            json!({"roles": [1], "links": {"self": "http://k/v3/roles", "previous": null, "next": null}})
        );
    }
}
