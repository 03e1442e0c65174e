//! The route table against the host's router rules, and whole requests through a router
//! built the way the host builds it (matchit 0.8, one router per method and one over all
//! paths; HEAD falls back on GET; parameters percent-decoded), including crawls the way
//! cloud-init's EC2 and OpenStack readers walk the trees.

use super::*;
use crate::bindings::exports::metacloud::api::dialect::Guest;
use crate::ec2::tests::{bare, full, KEY, UUID};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};

const TOKEN: &str = "sealed:0123:0";

/// The exported interface, as the host calls it.
type Plugin = __DialectExport;

/// A host with (or without) a calling instance; `TOKEN` is its one live session.
struct FakeHost {
    instance: Option<InstanceData>,
    region: &'static str,
}

impl Host for FakeHost {
    fn current_instance(&self) -> Option<InstanceData> {
        self.instance.clone()
    }
    fn issue_session_token(&self, ttl_seconds: u32) -> Option<String> {
        (self.instance.is_some() && (1..=imds::MAX_TTL).contains(&ttl_seconds))
            .then(|| TOKEN.to_string())
    }
    fn check_session_token(&self, token: &str) -> bool {
        self.instance.is_some() && token == TOKEN
    }
    fn region(&self) -> String {
        self.region.to_string()
    }
}

fn host(instance: Option<InstanceData>) -> FakeHost {
    FakeHost {
        instance,
        region: "RegionTwo",
    }
}

// ---- the route table ------------------------------------------------------------------

/// As the host's `route_shape`: parameter names erased.
fn shape(path: &str) -> String {
    path.split('/')
        .map(|s| if s.starts_with('{') { "{}" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn no_route_is_declared_twice() {
    let mut seen = HashSet::new();
    for e in ROUTES {
        assert!(seen.insert((e.method, e.path)), "{} {}", e.method, e.path);
    }
}

#[test]
fn one_path_shape_is_spelled_one_way() {
    // The host refuses a dialect that spells one path shape with different parameter
    // names (routes.rs, `check_routes`).
    let mut shapes: HashMap<String, &str> = HashMap::new();
    for e in ROUTES {
        let prior = shapes.entry(shape(e.path)).or_insert(e.path);
        assert_eq!(*prior, e.path);
    }
}

#[test]
fn catch_alls_end_their_templates_and_have_a_slash_form_beside_them() {
    for e in ROUTES {
        if let Some(at) = e.path.find("{*") {
            assert!(
                e.path.ends_with('}') && !e.path[at..].contains('/'),
                "{}",
                e.path
            );
            let dir = &e.path[..at];
            assert!(
                ROUTES.iter().any(|o| o.method == e.method && o.path == dir),
                "{dir}"
            );
            let bare_dir = dir.trim_end_matches('/');
            assert!(
                ROUTES
                    .iter()
                    .any(|o| o.method == e.method && o.path == bare_dir),
                "{bare_dir}"
            );
        }
    }
}

#[test]
fn the_routes_served() {
    let expected = [
        ("GET", "/"),
        ("GET", "/{version}"),
        ("GET", "/{version}/"),
        ("GET", "/{version}/meta-data"),
        ("GET", "/{version}/meta-data/"),
        ("GET", "/{version}/meta-data/{*rest}"),
        ("GET", "/{version}/user-data"),
        ("GET", "/{version}/dynamic"),
        ("GET", "/{version}/dynamic/"),
        ("GET", "/{version}/dynamic/{*rest}"),
        ("PUT", "/latest/api/token"),
        ("GET", "/openstack"),
        ("GET", "/openstack/"),
        ("GET", "/openstack/{version}"),
        ("GET", "/openstack/{version}/"),
        ("GET", "/openstack/{version}/meta_data.json"),
        ("GET", "/openstack/{version}/user_data"),
        ("GET", "/openstack/{version}/vendor_data.json"),
        ("GET", "/openstack/{version}/vendor_data2.json"),
        ("GET", "/openstack/{version}/network_data.json"),
    ];
    let served: Vec<(&str, &str)> = ROUTES.iter().map(|e| (e.method, e.path)).collect();
    assert_eq!(served, expected);
}

#[test]
fn every_route_is_public_and_the_dialect_is_named_metadata() {
    assert_eq!(Plugin::name(), "metadata");
    let routes = Plugin::routes();
    assert_eq!(routes.len(), ROUTES.len());
    assert!(routes
        .iter()
        .all(|r| r.access == crate::bindings::metacloud::api::types::Access::Public));
}

#[test]
fn refusals_are_plain_text() {
    let r = Plugin::render_error(405, "The method POST is not allowed.".into());
    assert_eq!(r.status, 405);
    assert_eq!(
        header(&r, "content-type"),
        Some("text/plain; charset=UTF-8")
    );
    assert_eq!(
        body(&r),
        "405 Method Not Allowed\n\nThe method POST is not allowed."
    );
    let r = Plugin::render_error(404, "nothing here".into());
    assert_eq!(body(&r), "404 Not Found\n\nnothing here");
}

#[test]
fn an_unknown_route_index_is_a_404() {
    let r = dispatch(99, vec![], request("GET", "/", &[]), &host(Some(full())));
    assert_eq!(r.status, 404);
}

// ---- a router as the host builds it ---------------------------------------------------

/// The host's `DialectSet` for this one dialect.
struct Router {
    by_method: HashMap<String, matchit::Router<u32>>,
    by_path: matchit::Router<()>,
}

enum Found {
    Route(u32, Vec<(String, String)>),
    OtherMethod,
    Nothing,
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Router {
    fn new() -> Router {
        let mut by_method: HashMap<String, matchit::Router<u32>> = HashMap::new();
        let mut by_path = matchit::Router::new();
        for r in Plugin::routes() {
            let i = ROUTES
                .iter()
                .position(|e| e.path == r.path && e.method == r.method);
            by_method
                .entry(r.method.to_ascii_uppercase())
                .or_default()
                .insert(r.path.as_str(), i.unwrap() as u32)
                .unwrap_or_else(|e| panic!("{} {}: {e}", r.method, r.path));
            match by_path.insert(r.path.as_str(), ()) {
                Ok(()) | Err(matchit::InsertError::Conflict { .. }) => {}
                Err(e) => panic!("{}: {e}", r.path),
            }
        }
        Router { by_method, by_path }
    }

    fn find(&self, method: &str, path: &str) -> Found {
        let lookup = |m: &str| {
            let hit = self.by_method.get(m)?.at(path).ok()?;
            let params = hit
                .params
                .iter()
                .map(|(k, v)| (k.to_string(), percent_decode(v)))
                .collect();
            Some(Found::Route(*hit.value, params))
        };
        if let Some(found) = lookup(method).or_else(|| {
            if method == "HEAD" {
                lookup("GET")
            } else {
                None
            }
        }) {
            return found;
        }
        match self.by_path.at(path) {
            Ok(_) => Found::OtherMethod,
            Err(_) => Found::Nothing,
        }
    }

    /// One whole request, refusals rendered by the dialect as the host has it do.
    fn serve(
        &self,
        host: &FakeHost,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> HttpResponse {
        match self.find(method, path) {
            Found::Route(i, params) => dispatch(i, params, request(method, path, headers), host),
            Found::OtherMethod => {
                Plugin::render_error(405, format!("The method {method} is not allowed."))
            }
            Found::Nothing => Plugin::render_error(404, "The resource could not be found.".into()),
        }
    }
}

fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> HttpRequest {
    HttpRequest {
        method: method.into(),
        path: path.into(),
        query: vec![],
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: vec![],
    }
}

fn header<'a>(r: &'a HttpResponse, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn body(r: &HttpResponse) -> String {
    String::from_utf8(r.body.clone()).expect("a UTF-8 body")
}

fn route_of(
    router: &Router,
    method: &str,
    path: &str,
) -> Option<(&'static str, Vec<(String, String)>)> {
    match router.find(method, path) {
        Found::Route(i, params) => Some((ROUTES[i as usize].path, params)),
        _ => None,
    }
}

#[test]
fn the_hosts_router_takes_the_table() {
    Router::new();
}

/// Method, path, the template it finds, the parameters it gets.
type Case = (
    &'static str,
    &'static str,
    &'static str,
    Vec<(String, String)>,
);

#[test]
fn urls_find_their_routes() {
    let r = Router::new();
    let p = |k: &str, v: &str| (k.to_string(), v.to_string());
    let cases: Vec<Case> = vec![
        ("GET", "/", "/", vec![]),
        ("GET", "/latest", "/{version}", vec![p("version", "latest")]),
        (
            "GET",
            "/2009-04-04/",
            "/{version}/",
            vec![p("version", "2009-04-04")],
        ),
        (
            "GET",
            "/latest/meta-data",
            "/{version}/meta-data",
            vec![p("version", "latest")],
        ),
        (
            "GET",
            "/latest/meta-data/",
            "/{version}/meta-data/",
            vec![p("version", "latest")],
        ),
        (
            "GET",
            "/2021-03-23/meta-data/instance-id",
            "/{version}/meta-data/{*rest}",
            vec![p("version", "2021-03-23"), p("rest", "instance-id")],
        ),
        (
            "GET",
            "/2021-03-23/meta-data/public-keys/0/openssh-key",
            "/{version}/meta-data/{*rest}",
            vec![
                p("version", "2021-03-23"),
                p("rest", "public-keys/0/openssh-key"),
            ],
        ),
        (
            "GET",
            "/latest/meta-data/placement/",
            "/{version}/meta-data/{*rest}",
            vec![p("version", "latest"), p("rest", "placement/")],
        ),
        (
            "GET",
            "/latest/user-data",
            "/{version}/user-data",
            vec![p("version", "latest")],
        ),
        (
            "GET",
            "/latest/dynamic",
            "/{version}/dynamic",
            vec![p("version", "latest")],
        ),
        (
            "GET",
            "/latest/dynamic/instance-identity",
            "/{version}/dynamic/{*rest}",
            vec![p("version", "latest"), p("rest", "instance-identity")],
        ),
        ("PUT", "/latest/api/token", "/latest/api/token", vec![]),
        ("GET", "/openstack", "/openstack", vec![]),
        ("GET", "/openstack/", "/openstack/", vec![]),
        (
            "GET",
            "/openstack/latest",
            "/openstack/{version}",
            vec![p("version", "latest")],
        ),
        (
            "GET",
            "/openstack/2018-08-27/meta_data.json",
            "/openstack/{version}/meta_data.json",
            vec![p("version", "2018-08-27")],
        ),
        (
            "GET",
            "/openstack/latest/vendor_data2.json",
            "/openstack/{version}/vendor_data2.json",
            vec![p("version", "latest")],
        ),
        (
            "HEAD",
            "/latest/meta-data/",
            "/{version}/meta-data/",
            vec![p("version", "latest")],
        ),
        (
            "GET",
            "/latest/meta-data/%2e%2e/user-data",
            "/{version}/meta-data/{*rest}",
            vec![p("version", "latest"), p("rest", "../user-data")],
        ),
    ];
    for (method, path, template, params) in cases {
        assert_eq!(
            route_of(&r, method, path),
            Some((template, params)),
            "{method} {path}"
        );
    }
    // Not this dialect's: the host answers 404 or 405 through `render-error`.
    assert!(matches!(
        r.find("GET", "/latest/api/token"),
        Found::OtherMethod
    ));
    assert!(matches!(
        r.find("POST", "/latest/meta-data/"),
        Found::OtherMethod
    ));
    assert!(matches!(
        r.find("PUT", "/latest/api/token/x"),
        Found::Nothing
    ));
    assert!(matches!(r.find("GET", "/latest/other"), Found::Nothing));
}

// ---- requests -------------------------------------------------------------------------

#[test]
fn without_a_calling_instance_only_the_version_listings_answer() {
    let r = Router::new();
    let nobody = host(None);
    for e in ROUTES {
        let path = e
            .path
            .replace("{version}", "latest")
            .replace("{*rest}", "instance-id");
        let headers: &[(&str, &str)] = if e.method == "PUT" {
            &[(imds::TTL_HEADER, "21600")]
        } else {
            &[]
        };
        let resp = r.serve(&nobody, e.method, &path, headers);
        let listing = matches!(e.path, "/" | "/openstack" | "/openstack/");
        if listing {
            assert_eq!(resp.status, 200, "{path}");
        } else {
            assert_eq!(resp.status, 404, "{} {path}", e.method);
            assert_eq!(
                body(&resp),
                "404 Not Found\n\nThe resource could not be found."
            );
            assert_eq!(
                header(&resp, "content-type"),
                Some("text/plain; charset=UTF-8")
            );
        }
    }
    // Not even a bad TTL or an odd version tells an unknown caller more.
    let resp = r.serve(&nobody, "PUT", "/latest/api/token", &[]);
    assert_eq!(resp.status, 404);
    let resp = r.serve(&nobody, "GET", "/nonsense/meta-data/", &[]);
    assert_eq!(resp.status, 404);
}

#[test]
fn the_version_listings() {
    let r = Router::new();
    let resp = r.serve(&host(None), "GET", "/", &[]);
    assert_eq!(body(&resp), versions::ec2_listing());
    assert_eq!(
        header(&resp, "content-type"),
        Some("text/plain; charset=UTF-8")
    );
    for p in ["/openstack", "/openstack/"] {
        let resp = r.serve(&host(Some(full())), "GET", p, &[]);
        assert_eq!(body(&resp), versions::openstack_listing());
    }
}

#[test]
fn ec2_requests() {
    let r = Router::new();
    let h = host(Some(full()));
    let get = |path: &str| r.serve(&h, "GET", path, &[]);
    assert_eq!(body(&get("/latest")), "meta-data/\nuser-data\ndynamic/");
    assert_eq!(
        body(&get("/2009-04-04/")),
        "meta-data/\nuser-data\ndynamic/"
    );
    assert_eq!(
        body(&get("/1.0/meta-data/instance-id")),
        "i-3f2504e04f8911d39"
    );
    assert!(body(&get("/latest/meta-data")).starts_with("ami-id\n"));
    assert_eq!(
        body(&get("/latest/meta-data/placement")),
        "availability-zone"
    );
    assert_eq!(
        body(&get("/2021-03-23/meta-data/public-keys/0/openssh-key")),
        format!("{KEY}\n")
    );
    let ud = get("/latest/user-data");
    assert_eq!(
        header(&ud, "content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(ud.body, b"#cloud-config\nhostname: x\n");
    let doc = get("/latest/dynamic/instance-identity/document");
    assert_eq!(header(&doc, "content-type"), Some("application/json"));
    let doc: Value = serde_json::from_slice(&doc.body).unwrap();
    assert_eq!(doc["region"], "RegionTwo");
    assert_eq!(body(&get("/latest/dynamic")), "instance-identity/");
    // HEAD is served as GET.
    assert_eq!(
        r.serve(&h, "HEAD", "/latest/meta-data/hostname", &[])
            .status,
        200
    );
    // The region falls back when the catalog names none.
    let h = FakeHost {
        instance: Some(full()),
        region: "",
    };
    let doc = r.serve(&h, "GET", "/latest/dynamic/instance-identity/document", &[]);
    let doc: Value = serde_json::from_slice(&doc.body).unwrap();
    assert_eq!(doc["region"], "RegionOne");
}

#[test]
fn no_user_data_is_a_404() {
    let r = Router::new();
    let h = host(Some(bare()));
    assert_eq!(r.serve(&h, "GET", "/latest/user-data", &[]).status, 404);
    assert_eq!(
        r.serve(&h, "GET", "/openstack/latest/user_data", &[])
            .status,
        404
    );
    assert_eq!(
        body(&r.serve(&h, "GET", "/latest/", &[])),
        "meta-data/\ndynamic/"
    );
}

#[test]
fn hostile_paths_are_404s() {
    let r = Router::new();
    let h = host(Some(full()));
    let long = format!("/latest/meta-data/{}", "x/".repeat(5000));
    let long_version = format!("/{}/meta-data/", "9".repeat(5000));
    for path in [
        "/latest/meta-data/../user-data",
        "/latest/meta-data/%2e%2e/user-data",
        "/latest/meta-data/%2F",
        "/latest/meta-data//",
        "/latest/meta-data//instance-id",
        "/latest/meta-data/instance-id%00",
        "/latest/meta-data/%ff%fe",
        "/latest/meta-data/public-keys/1/openssh-key",
        "/latest/meta-data/public-keys/0/openssh-key/more",
        "/latest/meta-data/iam/security-credentials/admin",
        "/latest/dynamic/instance-identity/pkcs7",
        "/latest/dynamic//",
        "/..",
        "/../meta-data/",
        "/%2e%2e/meta-data/",
        "/LATEST/meta-data/",
        "/2009-13-01/meta-data/",
        "/2009-04-04x/meta-data/",
        "/v1/meta-data/",
        "/openstack/2009-04-04/meta_data.json",
        "/openstack/../meta_data.json",
        "/openstack/latest/password",
        "/openstack/latest/meta_data.json/",
        &long,
        &long_version,
    ] {
        let resp = r.serve(&h, "GET", path, &[]);
        assert_eq!(resp.status, 404, "{path}");
        assert!(body(&resp).starts_with("404 Not Found\n\n"), "{path}");
    }
    // Percent-encoded but valid is still valid (the host decodes parameters).
    assert_eq!(
        r.serve(&h, "GET", "/%6catest/meta-data/hostname", &[])
            .status,
        200
    );
    assert_eq!(
        r.serve(&h, "GET", "/latest/meta-data/host%6eame", &[])
            .status,
        200
    );
}

#[test]
fn imds_v2_sessions() {
    let r = Router::new();
    let h = host(Some(full()));
    let put = |ttl: Option<&str>| {
        let headers: Vec<(&str, &str)> = ttl.map(|t| (imds::TTL_HEADER, t)).into_iter().collect();
        r.serve(&h, "PUT", "/latest/api/token", &headers)
    };
    let ok = put(Some("21600"));
    assert_eq!(ok.status, 200);
    assert_eq!(body(&ok), TOKEN);
    assert_eq!(header(&ok, imds::TTL_HEADER), Some("21600"));
    for bad in [None, Some("0"), Some("21601"), Some("abc"), Some("")] {
        let resp = put(bad);
        assert_eq!(resp.status, 400, "{bad:?}");
        assert!(body(&resp).starts_with("400 Bad Request\n\n"));
    }
    // A live token, no token (IMDSv1), a dead token.
    let get = |token: Option<&str>| {
        let headers: Vec<(&str, &str)> =
            token.map(|t| (imds::TOKEN_HEADER, t)).into_iter().collect();
        r.serve(&h, "GET", "/latest/meta-data/instance-id", &headers)
    };
    assert_eq!(get(Some(TOKEN)).status, 200);
    assert_eq!(get(None).status, 200);
    let dead = get(Some("sealed:0123:7"));
    assert_eq!(dead.status, 401);
    assert!(body(&dead).starts_with("401 Unauthorized\n\n"));
    // Every EC2-style GET checks it, the version listing included; OpenStack ones don't.
    let stale = [(imds::TOKEN_HEADER, "stale")];
    for path in [
        "/",
        "/latest/",
        "/latest/user-data",
        "/latest/dynamic/instance-identity/document",
    ] {
        assert_eq!(r.serve(&h, "GET", path, &stale).status, 401, "{path}");
    }
    assert_eq!(
        r.serve(&h, "GET", "/openstack/latest/meta_data.json", &stale)
            .status,
        200
    );
}

// ---- crawls as cloud-init does them ---------------------------------------------------

/// cloud-init's `url_helper.combine_url`.
fn combine(base: &str, add: &str) -> String {
    if base.ends_with('/') {
        format!("{base}{add}")
    } else {
        format!("{base}/{add}")
    }
}

/// cloud-init's `MetadataLeafDecoder`.
fn decode_leaf(blob: &[u8]) -> Value {
    if blob.is_empty() {
        return json!("");
    }
    let Ok(text) = std::str::from_utf8(blob) else {
        return json!(null);
    };
    let t = text.trim();
    if t.starts_with('{') && t.ends_with('}') {
        if let Ok(v) = serde_json::from_str(t) {
            return v;
        }
    }
    if text.contains('\n') {
        json!(text.lines().collect::<Vec<_>>())
    } else {
        json!(text)
    }
}

/// cloud-init's `MetadataMaterializer`: every read must succeed.
fn materialize(get: &dyn Fn(&str) -> HttpResponse, url: &str) -> Value {
    let resp = get(url);
    assert_eq!(resp.status, 200, "{url}");
    let listing = body(&resp);
    let mut children = Vec::new();
    let mut leaves = Vec::new();
    for field in listing.lines() {
        let field = field.trim();
        let name = field.trim_end_matches('/');
        if field.is_empty() || name.is_empty() || name == "security-credentials" {
            continue;
        }
        if field.ends_with('/') {
            children.push(name.to_string());
        } else {
            let (mut key, mut resource) = (name.to_string(), name.to_string());
            if let Some((ident, sub)) = field.split_once('=') {
                if ident.parse::<i64>().is_ok() {
                    resource = format!("{ident}/openssh-key");
                    key = sub.to_string();
                }
            }
            leaves.push((key, resource));
        }
    }
    let mut out = serde_json::Map::new();
    for c in children {
        let mut child = combine(url, &c);
        if !child.ends_with('/') {
            child.push('/');
        }
        out.insert(c, materialize(get, &child));
    }
    for (key, resource) in leaves {
        let resp = get(&combine(url, &resource));
        assert_eq!(resp.status, 200, "{url} {resource}");
        out.entry(key).or_insert(decode_leaf(&resp.body));
    }
    Value::Object(out)
}

#[test]
fn cloud_init_ec2_crawl() {
    let r = Router::new();
    for imdsv2 in [false, true] {
        for instance in [full(), bare()] {
            let h = host(Some(instance.clone()));
            let mut token_headers: Vec<(&str, &str)> = vec![];
            if imdsv2 {
                let resp = r.serve(
                    &h,
                    "PUT",
                    "/latest/api/token",
                    &[(imds::TTL_HEADER, "21600")],
                );
                assert_eq!(resp.status, 200);
                assert_eq!(body(&resp), TOKEN);
                token_headers.push((imds::TOKEN_HEADER, TOKEN));
            } else {
                // wait_for_metadata_service: the minimum version's instance-id.
                assert_eq!(
                    r.serve(&h, "GET", "/2009-04-04/meta-data/instance-id", &[])
                        .status,
                    200
                );
            }
            let get = |path: &str| r.serve(&h, "GET", path, &token_headers);
            // get_metadata_api_version: the first extended version answering.
            assert_eq!(get("/2021-03-23/meta-data/instance-id").status, 200);
            let user_data = get("/2021-03-23/user-data");
            let md = materialize(&get, "/2021-03-23/meta-data/");
            assert_eq!(md["instance-id"], "i-3f2504e04f8911d39");
            assert_eq!(md["local-hostname"], "web-1");
            assert_eq!(md["placement"]["availability-zone"], "az-east");
            assert_eq!(
                md["block-device-mapping"],
                json!({"ami": "vda", "root": "/dev/vda"})
            );
            assert_eq!(md["ami-launch-index"], instance.launch_index.to_string());
            if instance.key_name.is_some() {
                assert_eq!(user_data.status, 200);
                assert_eq!(md["public-keys"], json!({"mykey": [KEY]}));
                assert_eq!(md["local-ipv4"], "10.0.0.5");
            } else {
                assert_eq!(user_data.status, 404);
                assert!(md.get("public-keys").is_none());
                assert!(md.get("local-ipv4").is_none());
            }
            if imdsv2 {
                // The identity tree, read without a trailing slash.
                let identity = materialize(&get, "/2021-03-23/dynamic/instance-identity");
                assert_eq!(identity["document"]["instanceId"], "i-3f2504e04f8911d39");
                assert_eq!(identity["document"]["availabilityZone"], "az-east");
            }
        }
    }
}

#[test]
fn cloud_init_openstack_crawl() {
    let r = Router::new();
    for instance in [full(), bare()] {
        let h = host(Some(instance.clone()));
        let get = |path: &str| r.serve(&h, "GET", path, &[]);
        // wait_for_metadata_service and _fetch_available_versions.
        let versions = get("/openstack");
        assert_eq!(versions.status, 200);
        let newest = body(&versions)
            .lines()
            .rfind(|v| *v != "latest")
            .unwrap()
            .to_string();
        assert_eq!(newest, "2018-08-27");
        for version in [newest.as_str(), "latest"] {
            let base = format!("/openstack/{version}");
            let md = get(&format!("{base}/meta_data.json"));
            assert_eq!(md.status, 200);
            let md: Value = serde_json::from_slice(&md.body).unwrap();
            assert_eq!(md["uuid"], UUID);
            assert_eq!(md["hostname"], "web-1");
            assert_eq!(md["availability_zone"], "az-east");
            // Optional files: present ones must be JSON; absent ones 404.
            for f in ["vendor_data.json", "vendor_data2.json"] {
                let resp = get(&format!("{base}/{f}"));
                assert_eq!(resp.status, 200, "{f}");
                assert_eq!(
                    serde_json::from_slice::<Value>(&resp.body).unwrap(),
                    json!({})
                );
            }
            // network_data.json: `{}` is falsy to cloud-init (no `convert_net_json`).
            let nd = get(&format!("{base}/network_data.json"));
            assert_eq!(nd.status, 200);
            assert_eq!(
                serde_json::from_slice::<Value>(&nd.body).unwrap(),
                json!({})
            );
            let ud = get(&format!("{base}/user_data"));
            if instance.user_data.is_some() {
                assert_eq!(ud.status, 200);
                assert_eq!(md["public_keys"], json!({"mykey": KEY}));
            } else {
                assert_eq!(ud.status, 404);
                assert!(md.get("public_keys").is_none());
            }
            // The listing names only what is served.
            for name in body(&get(&format!("{base}/"))).lines() {
                assert_eq!(get(&format!("{base}/{name}")).status, 200, "{name}");
            }
        }
        // _read_ec2_metadata, redirected to the same service.
        let ec2 = materialize(&get, "/latest/meta-data/");
        assert_eq!(ec2["block-device-mapping"]["root"], "/dev/vda");
    }
}
