//! The image API as Glance v2 clients expect it (openstacksdk, python-openstackclient), as
//! a dialect plugin: version discovery, images (JSON-patch updates), their members, their
//! (always empty) task lists and the schemas. Image data never crosses into the plugin:
//! the host serves `PUT`/`GET /v2/images/{id}/file` itself and only asks `render-error`
//! for their errors. Every error is Glance's plain text: the status line, a blank line,
//! the explanation.

metacloud_sdk::dialect_plugin!(Glance, "../../wit/api");

mod images;
mod list;
mod members;
mod patch;
mod views;

use bindings::metacloud::api::types::{Caller, OpError};
use metacloud_sdk::dialect::{Access, Dialect, Route, Router};
pub use metacloud_sdk::dialect::{Fault, Reply};
use std::collections::BTreeMap;

macro_rules! endpoint {
    ($method:literal, $path:literal, $access:ident, $handler:path) => {
        Route::new($method, $path, Access::$access, $handler)
    };
}

/// The routes, in the order the host checks them. The image data routes
/// (`/v2/images/{id}/file`) are the host's.
const ROUTES: &[Route<Caller>] = &[
    endpoint!("GET", "/", Public, views::versions),
    endpoint!("GET", "/versions", Public, views::versions_ok),
    endpoint!("GET", "/v2", Public, views::versions_ok),
    endpoint!("GET", "/v2/", Public, views::versions_ok),
    endpoint!("GET", "/v2/images", Reader, images::list),
    endpoint!("POST", "/v2/images", Reader, images::create),
    endpoint!("GET", "/v2/images/{id}", Reader, images::show),
    endpoint!("PATCH", "/v2/images/{id}", Reader, images::update),
    endpoint!("DELETE", "/v2/images/{id}", Reader, images::delete),
    endpoint!("GET", "/v2/images/{id}/tasks", Reader, images::tasks),
    endpoint!("GET", "/v2/images/{id}/members", Reader, members::list),
    endpoint!("POST", "/v2/images/{id}/members", Reader, members::add),
    endpoint!(
        "GET",
        "/v2/images/{id}/members/{member}",
        Reader,
        members::show
    ),
    endpoint!(
        "PUT",
        "/v2/images/{id}/members/{member}",
        Reader,
        members::set
    ),
    endpoint!(
        "DELETE",
        "/v2/images/{id}/members/{member}",
        Reader,
        members::remove
    ),
    endpoint!("GET", "/v2/schemas/image", Reader, views::schema_image),
    endpoint!("GET", "/v2/schemas/images", Reader, views::schema_images),
];

/// A request as the handlers see it.
pub type Request = metacloud_sdk::dialect::Request<Caller>;

/// What the image API reads off a request beyond the SDK's helpers.
pub trait GlanceRequest {
    /// The query string as a map; a repeated key keeps its last value.
    fn query_map(&self) -> BTreeMap<String, String>;
}

impl GlanceRequest for Request {
    fn query_map(&self) -> BTreeMap<String, String> {
        self.query.iter().cloned().collect()
    }
}

/// The image API (Glance v2).
pub struct Glance;

impl Dialect for Glance {
    const NAME: &'static str = "openstack-image";
    type Caller = Caller;
    const ROUTER: Router<Caller> = Router::new(ROUTES);
    const UNKNOWN_ROUTE: &'static str = "The resource could not be found.";

    /// Glance's plain text: `"{status} {reason}\n\n{message}\n\n   "`.
    fn fault(status: u16, message: &str) -> Reply {
        let status = sent_status(status);
        let text = glance_text(status, message);
        Reply::bytes(status, "text/plain; charset=UTF-8", text.into_bytes())
    }
}

/// What Glance says to a request without (valid) credentials, whatever the reason.
const UNAUTHORIZED: &str = "401 Unauthorized\n\nThis server could not verify that you are authorized to access the document you requested.\n\n   ";

/// The status actually sent: one HTTP can carry (500 otherwise).
fn sent_status(status: u16) -> u16 {
    if (100..=999).contains(&status) {
        status
    } else {
        500
    }
}

/// Glance's plain-text error body (a fixed one for 401).
fn glance_text(status: u16, message: &str) -> String {
    if status == 401 {
        return UNAUTHORIZED.to_string();
    }
    format!("{status} {}\n\n{message}\n\n   ", reason(status))
}

/// The host's operation errors as Glance's statuses.
impl From<OpError> for Fault {
    fn from(e: OpError) -> Fault {
        match e {
            OpError::BadRequest(m) => Fault::new(400, m),
            OpError::Forbidden(m) => Fault::new(403, m),
            OpError::NotFound(m) => Fault::new(404, m),
            OpError::Conflict(m) => Fault::new(409, m),
            OpError::QuotaExceeded(q) => Fault::new(
                413,
                format!(
                    "Quota exceeded for {}: requested {}, used {} of {}",
                    q.resource, q.requested, q.used, q.limit
                ),
            ),
            OpError::Unavailable(m) => Fault::new(503, m),
            OpError::Internal(m) => Fault::new(500, m),
        }
    }
}

/// The canonical reason phrase of a status, as the old host's `http` crate spelled it
/// (empty for a status without one).
fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        102 => "Processing",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        208 => "Already Reported",
        226 => "IM Used",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Payload Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        418 => "I'm a teapot",
        421 => "Misdirected Request",
        422 => "Unprocessable Entity",
        423 => "Locked",
        424 => "Failed Dependency",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        506 => "Variant Also Negotiates",
        507 => "Insufficient Storage",
        508 => "Loop Detected",
        510 => "Not Extended",
        511 => "Network Authentication Required",
        _ => "",
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::bindings::exports::metacloud::api::dialect::Guest;
    use crate::bindings::metacloud::api::types::{HttpRequest, HttpResponse, QuotaError};
    use serde_json::Value;

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

    /// A reply as the host receives it.
    fn response(r: Reply) -> HttpResponse {
        Plugin::response(r)
    }

    /// A fault as the host receives it.
    fn fault_response(f: Fault) -> HttpResponse {
        response(Glance::fault(f.status, &f.message))
    }

    /// The WIT request a [`Request`] came from.
    fn http(r: Request) -> HttpRequest {
        HttpRequest {
            method: r.method,
            path: r.path,
            query: r.query,
            headers: r.headers,
            body: r.body,
        }
    }

    /// A request on no route in particular, for the pure parts.
    pub fn request(
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: &str,
        c: Option<Caller>,
    ) -> Request {
        let pairs = |v: &[(&str, &str)]| {
            v.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        Request {
            method: "GET".into(),
            path: "/v2/images".into(),
            params: vec![("id".into(), "img-1".into())],
            query: pairs(query),
            headers: pairs(headers),
            body: body.as_bytes().to_vec(),
            caller: c,
        }
    }

    fn body_text(r: &HttpResponse) -> &str {
        std::str::from_utf8(&r.body).unwrap()
    }

    fn content_type(r: &HttpResponse) -> Option<&str> {
        r.headers
            .iter()
            .find(|(k, _)| k == "content-type")
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn errors_are_glance_plain_text() {
        let r = fault_response(Fault::not_found("No image found with ID x"));
        assert_eq!(r.status, 404);
        assert_eq!(
            body_text(&r),
            "404 Not Found\n\nNo image found with ID x\n\n   "
        );
        assert_eq!(content_type(&r), Some("text/plain; charset=UTF-8"));
        let r = fault_response(Fault::conflict("Property x does not exist."));
        assert_eq!(
            body_text(&r),
            "409 Conflict\n\nProperty x does not exist.\n\n   "
        );
    }

    #[test]
    fn render_error_uses_the_same_format_and_the_fixed_401() {
        let r = Plugin::render_error(
            401,
            "The request you have made requires authentication.".into(),
        );
        assert_eq!((r.status, body_text(&r)), (401, UNAUTHORIZED));
        assert_eq!(content_type(&r), Some("text/plain; charset=UTF-8"));
        let r = Plugin::render_error(
            405,
            "The method PUT is not allowed for this resource.".into(),
        );
        assert_eq!(
            body_text(&r),
            "405 Method Not Allowed\n\nThe method PUT is not allowed for this resource.\n\n   "
        );
        let r = Plugin::render_error(413, "too big".into());
        assert_eq!(body_text(&r), "413 Payload Too Large\n\ntoo big\n\n   ");
        let r = Plugin::render_error(599, "odd".into());
        assert_eq!((r.status, body_text(&r)), (599, "599 \n\nodd\n\n   "));
        let r = Plugin::render_error(42, "nonsense".into());
        assert_eq!(
            (r.status, body_text(&r)),
            (500, "500 Internal Server Error\n\nnonsense\n\n   ")
        );
    }

    #[test]
    fn op_errors_map_to_glance_statuses() {
        let cases = [
            (OpError::BadRequest("b".into()), 400),
            (OpError::Forbidden("f".into()), 403),
            (OpError::NotFound("n".into()), 404),
            (OpError::Conflict("c".into()), 409),
            (OpError::Unavailable("u".into()), 503),
            (OpError::Internal("i".into()), 500),
        ];
        for (e, status) in cases {
            let e = Fault::from(e);
            assert_eq!(e.status, status);
            assert_eq!(e.message.len(), 1, "the message is passed through");
        }
        let e = Fault::from(OpError::QuotaExceeded(QuotaError {
            resource: "images".into(),
            requested: 1,
            used: 5,
            limit: 5,
        }));
        assert_eq!(e.status, 413);
        assert_eq!(
            e.message,
            "Quota exceeded for images: requested 1, used 5 of 5"
        );
    }

    #[test]
    fn route_table_has_no_duplicates_and_no_data_routes() {
        let mut seen = std::collections::HashSet::new();
        for e in ROUTES {
            assert!(seen.insert((e.method, e.path)), "{} {}", e.method, e.path);
            assert!(!e.path.ends_with("/file"), "{}", e.path);
            let discovery = ["/", "/versions", "/v2", "/v2/"].contains(&e.path);
            let want = if discovery {
                Access::Public
            } else {
                Access::Reader
            };
            assert_eq!(e.access, want, "{} {}", e.method, e.path);
        }
        let routes = Plugin::routes();
        assert_eq!(routes.len(), ROUTES.len());
        assert_eq!(Plugin::name(), "openstack-image");
    }

    fn caller() -> Caller {
        Caller {
            user_id: "u1".into(),
            user_name: "demo".into(),
            project_id: "p1".into(),
            project_name: "demo".into(),
            roles: vec!["reader".into()],
            request_id: "req-1".into(),
        }
    }

    fn route_of(method: &str, path: &str) -> u32 {
        ROUTES
            .iter()
            .position(|e| e.method == method && e.path == path)
            .unwrap() as u32
    }

    #[test]
    fn malformed_bodies_are_plain_400s_before_any_import() {
        for (method, path, body) in [
            ("POST", "/v2/images", "{"),
            ("POST", "/v2/images", "[1]"),
            ("POST", "/v2/images", r#"{"status": "active"}"#),
            ("PATCH", "/v2/images/{id}", "{"),
            ("PATCH", "/v2/images/{id}", r#"{"op": "add"}"#),
            ("POST", "/v2/images/{id}/members", "nope"),
            ("POST", "/v2/images/{id}/members", r#"{"member": 1}"#),
            (
                "PUT",
                "/v2/images/{id}/members/{member}",
                r#"{"state": "accepted"}"#,
            ),
        ] {
            let req = http(request(&[], &[], body, None));
            let r = dispatch(route_of(method, path), Vec::new(), Some(caller()), req);
            let want = if body.contains("status") { 403 } else { 400 };
            assert_eq!(r.status, want, "{method} {path} {body}");
            let text = body_text(&r);
            assert!(text.starts_with(&format!("{want} ")), "{text}");
            assert!(text.ends_with("\n\n   "), "{text}");
            assert_eq!(content_type(&r), Some("text/plain; charset=UTF-8"));
        }
    }

    #[test]
    fn templates_name_each_parameter_position_alike() {
        // The host's router refuses one position spelled with two names.
        let mut names = std::collections::HashMap::new();
        for e in ROUTES {
            for (i, seg) in e.path.split('/').enumerate() {
                if seg.starts_with('{') {
                    let prefix = e.path.split('/').take(i).collect::<Vec<_>>().join("/");
                    let first = names.entry(prefix).or_insert(seg);
                    assert_eq!(*first, seg, "{}", e.path);
                }
            }
        }
        // The host's own data routes use `{id}` too.
        assert_eq!(names.get("/v2/images"), Some(&"{id}"));
    }

    #[test]
    fn discovery_answers_without_a_caller() {
        let req = http(request(&[], &[("host", "h:9292")], "", None));
        let r = dispatch(route_of("GET", "/"), Vec::new(), None, req.clone());
        assert_eq!(r.status, 300);
        assert_eq!(content_type(&r), Some("application/json"));
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["versions"][0]["links"][0]["href"], "http://h:9292/v2/");
        for path in ["/versions", "/v2", "/v2/"] {
            let r = dispatch(route_of("GET", path), Vec::new(), None, req.clone());
            assert_eq!(r.status, 200, "{path}");
        }
    }

    #[test]
    fn an_unknown_route_index_is_a_plain_404() {
        let r = dispatch(999, Vec::new(), None, http(request(&[], &[], "", None)));
        assert_eq!(r.status, 404);
        assert!(body_text(&r).starts_with("404 Not Found\n\n"));
    }

    #[test]
    fn reader_routes_without_a_caller_are_401() {
        let at = ROUTES
            .iter()
            .position(|e| e.method == "GET" && e.path == "/v2/images/{id}")
            .unwrap();
        let r = dispatch(
            at as u32,
            Vec::new(),
            None,
            http(request(&[], &[], "", None)),
        );
        assert_eq!((r.status, body_text(&r)), (401, UNAUTHORIZED));
    }

    #[test]
    fn replies_carry_json_and_extra_headers() {
        let r = response(
            Reply::json(201, &serde_json::json!({"a": 1})).with_header("location", "/v2/images/x"),
        );
        assert_eq!(r.status, 201);
        assert_eq!(content_type(&r), Some("application/json"));
        assert!(r
            .headers
            .contains(&("location".to_string(), "/v2/images/x".to_string())));
        assert_eq!(r.body, br#"{"a":1}"#);
        let r = response(Reply::empty(204));
        assert_eq!((r.status, r.body.len(), r.headers.len()), (204, 0, 0));
    }

    #[test]
    fn query_keeps_the_last_value_of_a_repeated_key() {
        let r = request(&[("name", "a"), ("name", "b")], &[], "", None);
        assert_eq!(r.query_map().get("name").map(String::as_str), Some("b"));
    }
}
