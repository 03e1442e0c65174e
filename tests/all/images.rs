//! The image API (Glance v2) as clients see it, through the `openstack-image` dialect
//! plugin with image data streamed by the host, on SQLite and on PostgreSQL.

use crate::identity::Api;
use metacloud_db::scratch;
use serde_json::{json, Value};

struct Glance {
    url: String,
    keystone: String,
    http: reqwest::Client,
    _api: Api,
}

async fn start(db_url: &str) -> Glance {
    let api = Api::start(db_url, "images").await;
    Glance {
        url: api.glance(),
        keystone: api.keystone(),
        http: reqwest::Client::new(),
        _api: api,
    }
}

impl Glance {
    async fn token(&self, user: &str, pw: &str, project: &str) -> (String, String) {
        let r = self
            .http
            .post(format!("{}/auth/tokens", self.keystone))
            .json(
                &json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
                "name": user, "domain": {"id": "default"}, "password": pw}}},
                "scope": {"project": {"name": project, "domain": {"id": "default"}}}}}),
            )
            .send()
            .await
            .unwrap();
        let token = r.headers()["x-subject-token"].to_str().unwrap().to_string();
        let body: Value = r.json().await.unwrap();
        (
            token,
            body["token"]["project"]["id"].as_str().unwrap().to_string(),
        )
    }

    async fn req(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.url))
            .header("x-auth-token", token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn names(&self, token: &str, query: &str) -> Vec<String> {
        let (s, b) = self
            .req(
                token,
                reqwest::Method::GET,
                &format!("/v2/images{query}"),
                None,
            )
            .await;
        assert_eq!(s, 200, "{b}");
        b["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap().to_string())
            .collect()
    }
}

async fn on_both<F, Fut>(f: F)
where
    F: Fn(Glance) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    scratch::on_both(|url| {
        let f = &f;
        async move { f(start(&url).await).await }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visibility_members_and_data() {
    use reqwest::Method;
    on_both(|g| async move {
        let (admin, _) = g.token("admin", "admin-pw", "admin").await;
        let (demo, demo_project) = g.token("demo", "demo-pw", "demo").await;
        let create = |token: String, name: &'static str, vis: &'static str| {
            let g = &g;
            async move {
                g.req(&token, Method::POST, "/v2/images",
                    Some(json!({"name": name, "visibility": vis, "disk_format": "raw", "container_format": "bare", "hw_architecture": "x86_64"}))).await
            }
        };
        // Only admins publish.
        assert_eq!(create(demo.clone(), "p", "public").await.0, 403);
        let (s, public) = create(admin.clone(), "pub", "public").await;
        assert_eq!(s, 201, "{public}");
        let (_, private) = create(admin.clone(), "admin-private", "private").await;
        let (_, shared) = create(admin.clone(), "admin-shared", "shared").await;
        let (s, mine) = create(demo.clone(), "demo-private", "private").await;
        assert_eq!((s, mine["status"].as_str(), mine["hw_architecture"].as_str()), (201, Some("queued"), Some("x86_64")));
        // What demo sees: public and its own; not the admin's private or (yet) shared one.
        let mut seen = g.names(&demo, "").await;
        seen.sort();
        assert_eq!(seen, vec!["demo-private", "pub"]);
        // Glance's sorting, and filters on properties.
        assert_eq!(g.names(&demo, "?sort_key=name&sort_dir=asc").await, vec!["demo-private", "pub"]);
        assert_eq!(g.names(&demo, "?sort_key=name&sort_dir=desc").await, vec!["pub", "demo-private"]);
        assert!(g.names(&demo, "?os_distro=none-such").await.is_empty());
        assert_eq!(g.req(&demo, Method::GET, "/v2/images?sort_key=nope", None).await.0, 400);
        let pid = private["id"].as_str().unwrap();
        assert_eq!(g.req(&demo, Method::GET, &format!("/v2/images/{pid}"), None).await.0, 404);
        // No asynchronous tasks here; another project's image has none to show either.
        let (s, tasks) = g.req(&admin, Method::GET, &format!("/v2/images/{pid}/tasks"), None).await;
        assert_eq!((s, tasks["tasks"].as_array().map(Vec::len)), (200, Some(0)));
        assert_eq!(g.req(&demo, Method::GET, &format!("/v2/images/{pid}/tasks"), None).await.0, 404);
        // Sharing: pending until accepted, then listed.
        let sid = shared["id"].as_str().unwrap();
        let (s, m) = g.req(&admin, Method::POST, &format!("/v2/images/{sid}/members"), Some(json!({"member": demo_project}))).await;
        assert_eq!((s, m["status"].as_str()), (200, Some("pending")));
        assert_eq!(g.req(&demo, Method::GET, &format!("/v2/images/{sid}"), None).await.0, 200, "members see pending shares by id");
        assert!(!g.names(&demo, "").await.contains(&"admin-shared".to_string()));
        let (s, _) = g.req(&demo, Method::PUT, &format!("/v2/images/{sid}/members/{demo_project}"), Some(json!({"status": "accepted"}))).await;
        assert_eq!(s, 200);
        assert!(g.names(&demo, "").await.contains(&"admin-shared".to_string()));
        // Data: upload once, download the same bytes with the MD5.
        let mid = mine["id"].as_str().unwrap();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let r = g.http.put(format!("{}/v2/images/{mid}/file", g.url)).header("x-auth-token", &demo)
            .header("content-type", "application/octet-stream").body(data.clone()).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 204);
        let r = g.http.put(format!("{}/v2/images/{mid}/file", g.url)).header("x-auth-token", &demo)
            .body(vec![1u8, 2, 3]).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 409, "data is written once");
        let (_, img) = g.req(&demo, Method::GET, &format!("/v2/images/{mid}"), None).await;
        assert_eq!((img["status"].as_str(), img["size"].as_u64()), (Some("active"), Some(300_000)));
        assert_eq!(img["os_hash_algo"], "sha512");
        let r = g.http.get(format!("{}/v2/images/{mid}/file", g.url)).header("x-auth-token", &demo).send().await.unwrap();
        assert_eq!(r.headers()["content-md5"].to_str().unwrap(), img["checksum"].as_str().unwrap());
        assert_eq!(r.bytes().await.unwrap().to_vec(), data);
        // Another project cannot touch demo's image; the admin's changes only its own.
        let r = g.http.get(format!("{}/v2/images/{mid}/file", g.url)).header("x-auth-token", "bogus").send().await.unwrap();
        assert_eq!(r.status().as_u16(), 401);
        let text = r.text().await.unwrap();
        assert!(text.starts_with("401 Unauthorized"), "the data route's errors are the dialect's: {text}");
        let r = g.http.get(format!("{}/v2/images/{}/file", g.url, uuid::Uuid::new_v4())).header("x-auth-token", &demo).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 404);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
        assert!(r.text().await.unwrap().starts_with("404 Not Found"));
        let (s, _) = g.req(&demo, Method::DELETE, &format!("/v2/images/{}", public["id"].as_str().unwrap()), None).await;
        assert_eq!(s, 403);
        // JSON patch, protection.
        let r = g.http.patch(format!("{}/v2/images/{mid}", g.url)).header("x-auth-token", &demo)
            .header("content-type", "application/openstack-images-v2.1-json-patch")
            .body(json!([{"op": "replace", "path": "/name", "value": "renamed"},
                         {"op": "add", "path": "/protected", "value": true},
                         {"op": "remove", "path": "/hw_architecture"}]).to_string())
            .send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let img: Value = r.json().await.unwrap();
        assert_eq!((img["name"].as_str(), img["protected"].as_bool()), (Some("renamed"), Some(true)));
        assert!(img.get("hw_architecture").is_none());
        assert_eq!(g.req(&demo, Method::DELETE, &format!("/v2/images/{mid}"), None).await.0, 403, "protected");
        let r = g.http.patch(format!("{}/v2/images/{mid}", g.url)).header("x-auth-token", &demo)
            .body(json!([{"op": "replace", "path": "/status", "value": "active"}]).to_string()).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 403, "read-only attribute");
        let r = g.http.patch(format!("{}/v2/images/{mid}", g.url)).header("x-auth-token", &demo)
            .body(json!([{"op": "replace", "path": "/protected", "value": false}]).to_string()).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(g.req(&demo, Method::DELETE, &format!("/v2/images/{mid}"), None).await.0, 204);
        assert_eq!(g.req(&demo, Method::GET, &format!("/v2/images/{mid}"), None).await.0, 404);
        // Bad input is 400.
        let (s, _) = g.req(&demo, Method::POST, "/v2/images", Some(json!({"name": "x", "disk_format": "floppy"}))).await;
        assert_eq!(s, 400);
    })
    .await;
}
