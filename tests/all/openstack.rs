//! The OpenStack Compute API as clients see it: Keystone tokens, the WASM dialect's
//! routes, Nova's shapes and faults, policy, project isolation and quota under load.

use metacloud::Role;
use metacloud_config::Config;
use metacloud_tests::{scratch_dir, wait_for};
use serde_json::{json, Value};
use std::time::Duration;

/// What the test cloud's metadata proxies sign instance ids with.
pub(crate) const METADATA_SECRET: &str = "metadata-test-secret";

pub(crate) struct Cloud {
    pub running: metacloud::Running,
    pub keystone: String,
    pub nova: String,
    pub glance: String,
    pub http: reqwest::Client,
}

pub(crate) fn config() -> Config {
    let dir = scratch_dir("openstack");
    let mut c = Config::default();
    c.service.data_dir = Some(dir.clone());
    c.service.host = Some(format!(
        "os-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    ));
    c.database.url = Some(format!("sqlite://{}/metacloud.db", dir.display()));
    c.compute.instances_path = Some(dir.join("instances"));
    c.compute.image_cache_path = Some(dir.join("image-cache"));
    c.api.listen = "127.0.0.1:0".parse().unwrap();
    c.api.compute_listen = "127.0.0.1:0".parse().unwrap();
    c.api.plugin_dir = Some(crate::plugins::dist().join("api"));
    c.plugins.cache_dir = Some(dir.join("plugin-cache"));
    c.identity.listen = "127.0.0.1:0".parse().unwrap();
    c.api.image_listen = "127.0.0.1:0".parse().unwrap();
    c.api.ec2_listen = "127.0.0.1:0".parse().unwrap();
    c.api.metadata_listen = "127.0.0.1:0".parse().unwrap();
    c.api.network_listen = "127.0.0.1:0".parse().unwrap();
    c.api.metadata_secret = Some(METADATA_SECRET.into());
    c.identity.admin_password = Some("admin-pw".into());
    c.identity.demo_password = Some("demo-pw".into());
    c.validate().unwrap();
    c
}

impl Cloud {
    pub(crate) async fn start() -> Cloud {
        Cloud::start_with(config()).await
    }

    /// A cloud on `config` (made from [`config`]).
    pub(crate) async fn start_with(config: Config) -> Cloud {
        let running = metacloud::start(&config, &Role::ALL)
            .await
            .expect("start all");
        Cloud {
            keystone: format!("http://{}/v3", running.identity_addr.unwrap()),
            nova: format!(
                "http://{}",
                running.compute_addr.expect("compute API listening")
            ),
            glance: format!(
                "http://{}",
                running.image_addr.expect("image API listening")
            ),
            running,
            http: reqwest::Client::new(),
        }
    }

    pub(crate) async fn token(&self, user: &str, pw: &str, project: &str) -> String {
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
        assert_eq!(r.status().as_u16(), 201, "login {user}");
        r.headers()["x-subject-token"].to_str().unwrap().to_string()
    }

    /// A new user in a new project with `role`; returns its token.
    pub(crate) async fn user_in_new_project(&self, admin: &str, name: &str, role: &str) -> String {
        let call = |method: reqwest::Method, path: String, body: Option<Value>| {
            let mut req = self
                .http
                .request(method, format!("{}{path}", self.keystone))
                .header("x-auth-token", admin);
            if let Some(b) = body {
                req = req.json(&b);
            }
            async move {
                let r = req.send().await.unwrap();
                r.json::<Value>().await.unwrap_or(Value::Null)
            }
        };
        let p = call(
            reqwest::Method::POST,
            "/projects".into(),
            Some(json!({"project": {"name": name}})),
        )
        .await;
        let pid = p["project"]["id"].as_str().unwrap().to_string();
        let u = call(
            reqwest::Method::POST,
            "/users".into(),
            Some(json!({"user": {"name": name, "password": "pw"}})),
        )
        .await;
        let uid = u["user"]["id"].as_str().unwrap().to_string();
        let roles = call(reqwest::Method::GET, format!("/roles?name={role}"), None).await;
        let rid = roles["roles"][0]["id"].as_str().unwrap().to_string();
        call(
            reqwest::Method::PUT,
            format!("/projects/{pid}/users/{uid}/roles/{rid}"),
            None,
        )
        .await;
        self.token(name, "pw", name).await
    }

    pub(crate) async fn call(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.nova))
            .header("x-auth-token", token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        (status, headers, r.json().await.unwrap_or(Value::Null))
    }

    /// `DELETE /v2.1/servers/{id}`: the status and body.
    pub(crate) async fn delete_server(&self, token: &str, id: &str) -> (u16, Value) {
        let path = format!("/v2.1/servers/{id}");
        let (s, _, b) = self.call(token, reqwest::Method::DELETE, &path, None).await;
        (s, b)
    }

    pub(crate) async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        let (s, _, b) = self.call(token, reqwest::Method::GET, path, None).await;
        (s, b)
    }

    async fn boot(&self, token: &str, name: &str, count: u32) -> (u16, Value) {
        let (s, _, b) = self
            .call(token, reqwest::Method::POST, "/v2.1/servers",
                Some(json!({"server": {"name": name, "flavorRef": "42", "min_count": count, "max_count": count}})))
            .await;
        (s, b)
    }

    /// Uploads a small raw image as the token's project; returns its id.
    pub(crate) async fn upload_image(&self, token: &str) -> String {
        self.upload_raw_image(token, "img", vec![0u8; 4096]).await
    }

    /// Uploads `data` as a raw image named `name` as the token's project; returns its id.
    pub(crate) async fn upload_raw_image(&self, token: &str, name: &str, data: Vec<u8>) -> String {
        let r = self
            .http
            .post(format!("{}/v2/images", self.glance))
            .header("x-auth-token", token)
            .json(&json!({"name": name, "disk_format": "raw", "container_format": "bare"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
        let id = r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let r = self
            .http
            .put(format!("{}/v2/images/{id}/file", self.glance))
            .header("x-auth-token", token)
            .header("content-type", "application/octet-stream")
            .body(data)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 204);
        id
    }

    /// The project a token is scoped to.
    pub(crate) async fn project_of(&self, token: &str) -> String {
        let r = self
            .http
            .get(format!("{}/auth/tokens", self.keystone))
            .header("x-auth-token", token)
            .header("x-subject-token", token)
            .send()
            .await
            .unwrap();
        r.json::<Value>().await.unwrap()["token"]["project"]["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub(crate) async fn status(&self, token: &str, id: &str) -> String {
        let (_, b) = self.get(token, &format!("/v2.1/servers/{id}")).await;
        b["server"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub(crate) async fn wait_status(&self, token: &str, id: &str, want: &str) {
        wait_for(&format!("{id} {want}"), Duration::from_secs(30), || async {
            (self.status(token, id).await == want).then_some(())
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn servers_through_the_dialect_as_nova_shapes_them() {
    let c = Cloud::start().await;
    let demo = c.token("demo", "demo-pw", "demo").await;

    // Version discovery needs no token.
    let r = c.http.get(format!("{}/", c.nova)).send().await.unwrap();
    let v: Value = r.json().await.unwrap();
    // Nova lists the legacy v2.0 first, then v2.1 with its microversion range.
    assert_eq!(v["versions"][0]["id"], "v2.0");
    assert_eq!(v["versions"][1]["id"], "v2.1");
    assert_eq!(v["versions"][1]["min_version"], "2.1");

    let (s, flavors) = c.get(&demo, "/v2.1/flavors/detail").await;
    assert_eq!(s, 200);
    let nano = flavors["flavors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "m1.nano")
        .unwrap();
    assert_eq!(
        (
            nano["id"].as_str(),
            nano["ram"].as_u64(),
            nano["vcpus"].as_u64()
        ),
        (Some("42"), Some(64), Some(1))
    );

    // Create: 202, Location, one server in the reply, all of them ACTIVE soon.
    let (s, headers, body) = c
        .call(&demo, reqwest::Method::POST, "/v2.1/servers",
            Some(json!({"server": {"name": "web", "flavorRef": "42", "min_count": 2, "metadata": {"role": "web"}}})))
        .await;
    assert_eq!(s, 202, "{body}");
    let id = body["server"]["id"].as_str().unwrap().to_string();
    assert!(headers["location"]
        .to_str()
        .unwrap()
        .ends_with(&format!("/v2.1/servers/{id}")));
    assert!(headers.contains_key("x-openstack-request-id"));
    assert_eq!(headers["openstack-api-version"], "compute 2.1");
    c.wait_status(&demo, &id, "ACTIVE").await;
    let (_, list) = c.get(&demo, "/v2.1/servers/detail").await;
    let servers = list["servers"].as_array().unwrap();
    assert_eq!(servers.len(), 2);
    assert!(servers
        .iter()
        .all(|s| s["metadata"]["role"] == "web" && s["flavor"]["id"] == "42"));
    assert!(
        servers
            .iter()
            .all(|s| s.get("OS-EXT-SRV-ATTR:host").is_none()),
        "host is for admins"
    );
    // Paging: newest first, a next link, then the rest.
    let (_, page) = c.get(&demo, "/v2.1/servers?limit=1").await;
    assert_eq!(page["servers"].as_array().unwrap().len(), 1);
    let next = page["servers_links"][0]["href"].as_str().unwrap();
    let marker = next.split("marker=").nth(1).unwrap();
    let (_, rest) = c
        .get(&demo, &format!("/v2.1/servers?limit=1&marker={marker}"))
        .await;
    assert_ne!(rest["servers"][0]["id"], page["servers"][0]["id"]);
    let (_, by_name) = c.get(&demo, "/v2.1/servers?name=^web-1$").await;
    assert_eq!(by_name["servers"].as_array().unwrap().len(), 1);
    // A key pair the caller does not have: Nova's 400, nothing created.
    let (s, _, b) = c
        .call(&demo, reqwest::Method::POST, "/v2.1/servers",
            Some(json!({"server": {"name": "keyless", "flavorRef": "42", "key_name": "no-such-key"}})))
        .await;
    assert_eq!(
        (s, b["badRequest"]["message"].as_str()),
        (400, Some("Invalid key_name provided.")),
        "{b}"
    );
    let (_, none) = c.get(&demo, "/v2.1/servers?name=^keyless$").await;
    assert_eq!(none["servers"].as_array().unwrap().len(), 0);

    // Actions: stop → SHUTOFF, start → ACTIVE; rename.
    let action_path = format!("/v2.1/servers/{id}/action");
    let action = |body: Value| c.call(&demo, reqwest::Method::POST, &action_path, Some(body));
    assert_eq!(action(json!({"os-stop": null})).await.0, 202);
    c.wait_status(&demo, &id, "SHUTOFF").await;
    assert_eq!(action(json!({"os-start": null})).await.0, 202);
    c.wait_status(&demo, &id, "ACTIVE").await;
    let (s, _, b) = action(json!({"reboot": {"type": "sideways"}})).await;
    assert_eq!((s, b["badRequest"]["code"].as_u64()), (400, Some(400)));
    let (s, _, b) = c
        .call(
            &demo,
            reqwest::Method::PUT,
            &format!("/v2.1/servers/{id}"),
            Some(json!({"server": {"name": "renamed"}})),
        )
        .await;
    assert_eq!((s, b["server"]["name"].as_str()), (200, Some("renamed")));

    // Faults in Nova's shapes.
    let (s, b) = c.get(&demo, "/v2.1/servers/no-such-server").await;
    assert_eq!(s, 404);
    assert_eq!(b["itemNotFound"]["code"], 404);
    let bad_requests = [
        json!({"server": {"flavorRef": "42"}}),
        json!({"server": {"name": "x", "flavorRef": "42", "colour": "red"}}),
        json!({"server": {"name": "x", "flavorRef": "no-such-flavor"}}),
        json!({"server": {"name": "x", "flavorRef": "42", "min_count": "many"}}),
        json!({"server": {"name": 7, "flavorRef": "42"}}),
        json!({"nope": {}}),
    ];
    for body in bad_requests {
        let (s, _, b) = c
            .call(
                &demo,
                reqwest::Method::POST,
                "/v2.1/servers",
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            (s, b["badRequest"]["code"].as_u64()),
            (400, Some(400)),
            "{body} → {b}"
        );
    }
    let r = c
        .http
        .post(format!("{}/v2.1/servers", c.nova))
        .header("x-auth-token", &demo)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let r = c
        .http
        .get(format!("{}/v2.1/servers", c.nova))
        .header("x-auth-token", &demo)
        .header("openstack-api-version", "compute 2.99")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 406);
    let r = c
        .http
        .get(format!("{}/v2.1/servers", c.nova))
        .header("x-auth-token", &demo)
        .header("openstack-api-version", "compute latest")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["openstack-api-version"], "compute 2.91");
    let (s, b) = c.get("not-a-token", "/v2.1/servers").await;
    assert_eq!((s, b["unauthorized"]["code"].as_u64()), (401, Some(401)));
    let r = c
        .http
        .get(format!("{}/v2.1/servers", c.nova))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401, "no token");
    let (s, b) = c.get(&demo, "/v2.1/no-such-thing").await;
    assert_eq!((s, b["itemNotFound"]["code"].as_u64()), (404, Some(404)));

    // Delete: 204, then gone.
    for s in servers {
        let sid = s["id"].as_str().unwrap();
        let (st, _) = c.delete_server(&demo, sid).await;
        assert_eq!(st, 204);
    }
    wait_for("all deleted", Duration::from_secs(30), || async {
        let (_, l) = c.get(&demo, "/v2.1/servers").await;
        l["servers"].as_array().unwrap().is_empty().then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn projects_are_isolated_and_readers_read_only() {
    let c = Cloud::start().await;
    let admin = c.token("admin", "admin-pw", "admin").await;
    let demo = c.token("demo", "demo-pw", "demo").await;
    let other = c.user_in_new_project(&admin, "other", "member").await;
    let reader = c.user_in_new_project(&admin, "watcher", "reader").await;

    let (s, b) = c.boot(&demo, "mine", 1).await;
    assert_eq!(s, 202, "{b}");
    let id = b["server"]["id"].as_str().unwrap().to_string();
    // Another project: not found, not listed, cannot act on it.
    assert_eq!(c.get(&other, &format!("/v2.1/servers/{id}")).await.0, 404);
    let (_, l) = c.get(&other, "/v2.1/servers").await;
    assert!(l["servers"].as_array().unwrap().is_empty());
    let (s, _) = c.delete_server(&other, &id).await;
    assert_eq!(s, 404);
    let (s, _, _) = c
        .call(
            &other,
            reqwest::Method::POST,
            &format!("/v2.1/servers/{id}/action"),
            Some(json!({"os-stop": null})),
        )
        .await;
    assert_eq!(s, 404);
    // A reader reads, and changes nothing.
    assert_eq!(c.get(&reader, "/v2.1/servers").await.0, 200);
    let (s, b) = c.boot(&reader, "nope", 1).await;
    assert_eq!(
        (s, b["forbidden"]["code"].as_u64()),
        (403, Some(403)),
        "{b}"
    );
    // The admin sees it with all_tenants, and the host it runs on.
    let (_, l) = c.get(&admin, "/v2.1/servers/detail?all_tenants=1").await;
    let found = l["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id.as_str())
        .cloned()
        .unwrap();
    assert!(
        found["OS-EXT-SRV-ATTR:host"].is_string() || found["OS-EXT-STS:vm_state"] == "building"
    );
    let (_, l) = c.get(&admin, "/v2.1/servers").await;
    assert!(
        l["servers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["id"] != id.as_str()),
        "without all_tenants, only the admin's own"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_concurrent_creates_against_a_quota_of_ten() {
    let c = Cloud::start().await;
    let demo = c.token("demo", "demo-pw", "demo").await;
    // Nova's default instances quota is 10; cores (20) and RAM fit 10 m1.nano.
    let mut tasks = Vec::new();
    for n in 0..30 {
        let (http, nova, token) = (c.http.clone(), c.nova.clone(), demo.clone());
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(format!("{nova}/v2.1/servers"))
                .header("x-auth-token", token)
                .json(&json!({"server": {"name": format!("q{n}"), "flavorRef": "42"}}))
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }));
    }
    let (mut ok, mut refused) = (0, 0);
    for t in tasks {
        let (s, b) = t.await.unwrap();
        match s {
            202 => ok += 1,
            403 => {
                let m = b["forbidden"]["message"].as_str().unwrap_or_default();
                assert!(m.starts_with("Quota exceeded for instances"), "{b}");
                refused += 1;
            }
            other => panic!("unexpected {other}: {b}"),
        }
    }
    assert_eq!((ok, refused), (10, 20));
    let (_, l) = c.get(&demo, "/v2.1/servers").await;
    let ids: Vec<String> = l["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 10);
    for id in &ids {
        let (s, _) = c.delete_server(&demo, id).await;
        assert_eq!(s, 204);
    }
    wait_for("usage back to 0", Duration::from_secs(30), || async {
        let (_, l) = c.get(&demo, "/v2.1/servers").await;
        l["servers"].as_array().unwrap().is_empty().then_some(())
    })
    .await;
    // Room for ten again.
    let (s, b) = c.boot(&demo, "again", 10).await;
    assert_eq!(s, 202, "{b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn server_metadata_and_server_groups() {
    use reqwest::Method;
    let c = Cloud::start().await;
    let demo = c.token("demo", "demo-pw", "demo").await;
    let admin = c.token("admin", "admin-pw", "admin").await;
    let other = c.user_in_new_project(&admin, "other", "member").await;

    // Server groups at 2.1: policies as a list; anti-affinity spreads (one host here, so a
    // second member has nowhere to go).
    let (s, _, b) = c
        .call(
            &demo,
            Method::POST,
            "/v2.1/os-server-groups",
            Some(json!({"server_group": {"name": "g", "policies": ["anti-affinity"]}})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["server_group"]["policies"], json!(["anti-affinity"]));
    let gid = b["server_group"]["id"].as_str().unwrap().to_string();
    let (s, _, _) = c
        .call(
            &demo,
            Method::POST,
            "/v2.1/os-server-groups",
            Some(json!({"server_group": {"name": "g", "policies": ["sideways"]}})),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(
        c.get(&other, &format!("/v2.1/os-server-groups/{gid}"))
            .await
            .0,
        404
    );
    let boot = |name: &str| {
        let body = json!({"server": {"name": name, "flavorRef": "42"}, "os:scheduler_hints": {"group": gid}});
        c.call(&demo, Method::POST, "/v2.1/servers", Some(body))
    };
    let (s, _, first) = boot("a1").await;
    assert_eq!(s, 202, "{first}");
    let first = first["server"]["id"].as_str().unwrap().to_string();
    c.wait_status(&demo, &first, "ACTIVE").await;
    let (_, _, second) = boot("a2").await;
    let second = second["server"]["id"].as_str().unwrap().to_string();
    c.wait_status(&demo, &second, "ERROR").await;
    let (_, g) = c.get(&demo, &format!("/v2.1/os-server-groups/{gid}")).await;
    assert_eq!(g["server_group"]["members"].as_array().unwrap().len(), 2);
    let (_, l) = c.get(&demo, "/v2.1/os-server-groups").await;
    assert_eq!(l["server_groups"].as_array().unwrap().len(), 1);

    // Metadata: merge, replace, one key, delete.
    let path = format!("/v2.1/servers/{first}/metadata");
    let (s, _, b) = c
        .call(
            &demo,
            Method::POST,
            &path,
            Some(json!({"metadata": {"a": "1", "b": "2"}})),
        )
        .await;
    assert_eq!((s, b["metadata"]["b"].as_str()), (200, Some("2")), "{b}");
    let (s, _, b) = c
        .call(
            &demo,
            Method::PUT,
            &path,
            Some(json!({"metadata": {"c": "3"}})),
        )
        .await;
    assert_eq!((s, b["metadata"].as_object().unwrap().len()), (200, 1));
    let (s, _, b) = c
        .call(
            &demo,
            Method::PUT,
            &format!("{path}/d"),
            Some(json!({"meta": {"d": "4"}})),
        )
        .await;
    assert_eq!((s, b["meta"]["d"].as_str()), (200, Some("4")));
    let (s, _, _) = c
        .call(
            &demo,
            Method::PUT,
            &format!("{path}/d"),
            Some(json!({"meta": {"e": "4"}})),
        )
        .await;
    assert_eq!(s, 400, "body and URI mismatch");
    let (s, b) = c.get(&demo, &format!("{path}/c")).await;
    assert_eq!((s, b["meta"]["c"].as_str()), (200, Some("3")));
    assert_eq!(
        c.call(&demo, Method::DELETE, &format!("{path}/c"), None)
            .await
            .0,
        204
    );
    let (s, b) = c.get(&demo, &format!("{path}/c")).await;
    assert_eq!((s, b["itemNotFound"]["code"].as_u64()), (404, Some(404)));
    let (_, b) = c.get(&demo, &path).await;
    assert_eq!(b["metadata"], json!({"d": "4"}));
    assert_eq!(
        c.get(&other, &path).await.0,
        404,
        "another project's server"
    );
    let (s, _, _) = c
        .call(
            &demo,
            Method::POST,
            &path,
            Some(json!({"metadata": {"x": 5}})),
        )
        .await;
    assert_eq!(s, 400, "values are strings");

    // Instance actions: create, then the stop asked here, newest first.
    let stop = c
        .call(
            &demo,
            Method::POST,
            &format!("/v2.1/servers/{first}/action"),
            Some(json!({"os-stop": null})),
        )
        .await;
    assert_eq!(stop.0, 202);
    c.wait_status(&demo, &first, "SHUTOFF").await;
    let (s, b) = c
        .get(&demo, &format!("/v2.1/servers/{first}/os-instance-actions"))
        .await;
    assert_eq!(s, 200, "{b}");
    let names: Vec<&str> = b["instanceActions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["action"].as_str())
        .collect();
    assert_eq!(names, vec!["stop", "create"]);
    let rid = b["instanceActions"][0]["request_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, one) = c
        .get(
            &demo,
            &format!("/v2.1/servers/{first}/os-instance-actions/{rid}"),
        )
        .await;
    assert_eq!(
        (s, one["instanceAction"]["action"].as_str()),
        (200, Some("stop"))
    );
    assert_eq!(
        c.get(
            &demo,
            &format!("/v2.1/servers/{first}/os-instance-actions/req-nope")
        )
        .await
        .0,
        404
    );
    assert_eq!(
        c.get(
            &other,
            &format!("/v2.1/servers/{first}/os-instance-actions")
        )
        .await
        .0,
        404
    );

    assert_eq!(
        c.call(
            &demo,
            Method::DELETE,
            &format!("/v2.1/os-server-groups/{gid}"),
            None
        )
        .await
        .0,
        204
    );
    assert_eq!(
        c.get(&demo, &format!("/v2.1/os-server-groups/{gid}"))
            .await
            .0,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pause_suspend_lock_and_rebuild() {
    use reqwest::Method;
    let c = Cloud::start().await;
    let demo = c.token("demo", "demo-pw", "demo").await;
    let admin = c.token("admin", "admin-pw", "admin").await;
    let (s, b) = c.boot(&demo, "life", 1).await;
    assert_eq!(s, 202, "{b}");
    let id = b["server"]["id"].as_str().unwrap().to_string();
    c.wait_status(&demo, &id, "ACTIVE").await;
    let path = format!("/v2.1/servers/{id}/action");
    macro_rules! action {
        ($token:expr, $body:expr) => {
            c.call($token, Method::POST, &path, Some($body))
        };
    }

    // pause/unpause and suspend/resume: each lands in its state, libvirt agreeing
    // (OS-EXT-STS:power_state 3 = paused; 4 = shut off with a saved image).
    for (act, state, power) in [
        ("pause", "PAUSED", 3),
        ("unpause", "ACTIVE", 1),
        ("suspend", "SUSPENDED", 4),
        ("resume", "ACTIVE", 1),
    ] {
        let (s, _, b) = action!(&demo, json!({act: null})).await;
        assert_eq!(s, 202, "{act}: {b}");
        c.wait_status(&demo, &id, state).await;
        let (_, v) = c.get(&demo, &format!("/v2.1/servers/{id}")).await;
        assert_eq!(v["server"]["OS-EXT-STS:power_state"], json!(power), "{act}");
    }
    // An action from the wrong state is Nova's 409.
    let (s, _, b) = action!(&demo, json!({"unpause": null})).await;
    assert_eq!(s, 409, "{b}");
    assert!(b["conflictingRequest"]["message"].is_string(), "{b}");
    let (s, _, b) = action!(&demo, json!({"pause": {"x": 1}})).await;
    assert_eq!(s, 400, "{b}");

    // The simulated console log says what happened to the guest.
    let (s, _, b) = action!(&demo, json!({"os-getConsoleOutput": {"length": 5}})).await;
    assert_eq!(s, 200);
    assert!(b["output"].as_str().unwrap().contains("started"), "{b}");

    // Locked by its owner: changes are refused (409) until unlocked; admins may act.
    assert_eq!(action!(&demo, json!({"lock": null})).await.0, 202);
    let (s, _, b) = action!(&demo, json!({"os-stop": null})).await;
    assert_eq!(s, 409, "{b}");
    assert!(b["conflictingRequest"]["message"]
        .as_str()
        .unwrap()
        .contains("locked"));
    let (s, _, _) = c
        .call(&demo, Method::DELETE, &format!("/v2.1/servers/{id}"), None)
        .await;
    assert_eq!(s, 409, "a locked server is not deleted");
    assert_eq!(action!(&demo, json!({"unlock": null})).await.0, 202);
    // Locked by an admin of another project: its owner cannot unlock it.
    assert_eq!(action!(&admin, json!({"lock": null})).await.0, 202);
    assert_eq!(action!(&demo, json!({"unlock": null})).await.0, 403);
    assert_eq!(action!(&admin, json!({"unlock": null})).await.0, 202);

    // Rebuild from a stopped state: new name, status REBUILD, then SHUTOFF again.
    assert_eq!(action!(&demo, json!({"os-stop": null})).await.0, 202);
    c.wait_status(&demo, &id, "SHUTOFF").await;
    let (s, _, b) = action!(&demo, json!({"rebuild": {"imageRef": "nope"}})).await;
    assert_eq!(s, 400, "unknown image: {b}");
    let (s, _, b) = action!(&demo, json!({"rebuild": {"name": "x"}})).await;
    assert_eq!(s, 400, "imageRef is required: {b}");
    let image = c.upload_image(&demo).await;
    let (s, _, b) = action!(
        &demo,
        json!({"rebuild": {"imageRef": image, "name": "reborn", "metadata": {"k": "v"}}})
    )
    .await;
    assert_eq!(s, 202, "{b}");
    assert_eq!(b["server"]["name"], "reborn");
    assert!(b["server"]["adminPass"].is_string());
    assert!(
        b["server"].get("OS-EXT-STS:vm_state").is_none(),
        "2.1 rebuild view"
    );
    c.wait_status(&demo, &id, "SHUTOFF").await;
    let (_, v) = c.get(&demo, &format!("/v2.1/servers/{id}")).await;
    assert_eq!(v["server"]["image"]["id"], json!(image));
    assert_eq!(v["server"]["metadata"], json!({"k": "v"}));
    let (_, a) = c
        .get(&demo, &format!("/v2.1/servers/{id}/os-instance-actions"))
        .await;
    let names: Vec<&str> = a["instanceActions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x["action"].as_str())
        .collect();
    for want in ["pause", "suspend", "lock", "unlock", "rebuild"] {
        assert!(names.contains(&want), "{want} in {names:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flavors_aggregates_quotas_and_hypervisors_for_admins() {
    use reqwest::Method;
    let c = Cloud::start().await;
    let demo = c.token("demo", "demo-pw", "demo").await;
    let admin = c.token("admin", "admin-pw", "admin").await;

    // A private flavor: invisible to demo until its project is given access.
    let (s, _, f) = c
        .call(
            &admin,
            Method::POST,
            "/v2.1/flavors",
            Some(
                json!({"flavor": {"name": "priv", "ram": 64, "vcpus": 1, "disk": 1, "id": "priv1",
                "os-flavor-access:is_public": "False"}}),
            ),
        )
        .await;
    assert_eq!(s, 200, "{f}");
    assert_eq!(f["flavor"]["os-flavor-access:is_public"], json!(false));
    assert_eq!(c.get(&demo, "/v2.1/flavors/priv1").await.0, 404);
    let (_, l) = c.get(&admin, "/v2.1/flavors").await;
    assert!(
        !l.to_string().contains("priv1"),
        "admins list public ones by default"
    );
    let (_, l) = c.get(&admin, "/v2.1/flavors?is_public=None").await;
    assert!(l.to_string().contains("priv1"));
    let (s, _, b) = c
        .call(
            &demo,
            Method::POST,
            "/v2.1/servers",
            Some(json!({"server": {"name": "p", "flavorRef": "priv1"}})),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    let demo_project = c.project_of(&demo).await;
    let add = json!({"addTenantAccess": {"tenant": demo_project}});
    let (s, _, b) = c
        .call(
            &admin,
            Method::POST,
            "/v2.1/flavors/priv1/action",
            Some(add.clone()),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["flavor_access"][0]["tenant_id"], json!(demo_project));
    let (s, _, _) = c
        .call(
            &admin,
            Method::POST,
            "/v2.1/flavors/priv1/action",
            Some(add),
        )
        .await;
    assert_eq!(s, 409, "duplicate access");
    assert_eq!(c.get(&demo, "/v2.1/flavors/priv1").await.0, 200);
    let (s, _, _) = c
        .call(
            &demo,
            Method::POST,
            "/v2.1/flavors/priv1/action",
            Some(json!({"removeTenantAccess": {"tenant": demo_project}})),
        )
        .await;
    assert_eq!(s, 403, "members do not manage access");

    // Extra specs: admins set and unset, everybody reads.
    let (s, _, b) = c
        .call(
            &admin,
            Method::POST,
            "/v2.1/flavors/42/os-extra_specs",
            Some(json!({"extra_specs": {"hw:cpu_policy": "shared", "n": 2}})),
        )
        .await;
    assert_eq!((s, &b["extra_specs"]["n"]), (200, &json!("2")), "{b}");
    let (s, b) = c
        .get(&demo, "/v2.1/flavors/42/os-extra_specs/hw:cpu_policy")
        .await;
    assert_eq!((s, &b["hw:cpu_policy"]), (200, &json!("shared")));
    let (s, _, _) = c
        .call(
            &demo,
            Method::PUT,
            "/v2.1/flavors/42/os-extra_specs/n",
            Some(json!({"n": "3"})),
        )
        .await;
    assert_eq!(s, 403);
    let (s, _, _) = c
        .call(
            &admin,
            Method::PUT,
            "/v2.1/flavors/42/os-extra_specs/n",
            Some(json!({"m": "3"})),
        )
        .await;
    assert_eq!(s, 400, "body and URI mismatch");
    let (s, _, _) = c
        .call(
            &admin,
            Method::DELETE,
            "/v2.1/flavors/42/os-extra_specs/n",
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        c.get(&demo, "/v2.1/flavors/42/os-extra_specs/n").await.0,
        404
    );

    // Aggregates: admin only; an AZ aggregate with this host shows up as a zone.
    assert_eq!(c.get(&demo, "/v2.1/os-aggregates").await.0, 403);
    let (s, _, a) = c
        .call(
            &admin,
            Method::POST,
            "/v2.1/os-aggregates",
            Some(json!({"aggregate": {"name": "rack1", "availability_zone": "az1"}})),
        )
        .await;
    assert_eq!(s, 200, "{a}");
    let aid = a["aggregate"]["id"].as_i64().unwrap();
    let (s, _, _) = c
        .call(
            &admin,
            Method::POST,
            "/v2.1/os-aggregates",
            Some(json!({"aggregate": {"name": "rack1"}})),
        )
        .await;
    assert_eq!(s, 409, "duplicate name");
    let (_, h) = c.get(&admin, "/v2.1/os-hypervisors").await;
    let host = h["hypervisors"][0]["hypervisor_hostname"]
        .as_str()
        .unwrap()
        .to_string();
    let agg_action = format!("/v2.1/os-aggregates/{aid}/action");
    macro_rules! act {
        ($body:expr) => {
            c.call(&admin, Method::POST, &agg_action, Some($body))
        };
    }
    let (s, _, b) = act!(json!({"add_host": {"host": host}})).await;
    assert_eq!((s, &b["aggregate"]["hosts"]), (200, &json!([host])), "{b}");
    assert_eq!(
        act!(json!({"add_host": {"host": "no-such-host"}})).await.0,
        404
    );
    let (s, _, b) = act!(json!({"set_metadata": {"metadata": {"ssd": "true"}}})).await;
    assert_eq!(
        (s, &b["aggregate"]["metadata"]["ssd"]),
        (200, &json!("true"))
    );
    let (_, z) = c.get(&demo, "/v2.1/os-availability-zone").await;
    assert!(z.to_string().contains("az1"), "{z}");
    let (s, _, _) = c
        .call(
            &admin,
            Method::DELETE,
            &format!("/v2.1/os-aggregates/{aid}"),
            None,
        )
        .await;
    assert_eq!(s, 409, "hosts left");
    assert_eq!(act!(json!({"remove_host": {"host": host}})).await.0, 200);
    let (s, _, b) = c
        .call(
            &admin,
            Method::PUT,
            &format!("/v2.1/os-aggregates/{aid}"),
            Some(json!({"aggregate": {"name": "rack2"}})),
        )
        .await;
    assert_eq!((s, &b["aggregate"]["name"]), (200, &json!("rack2")));
    let (s, _, _) = c
        .call(
            &admin,
            Method::DELETE,
            &format!("/v2.1/os-aggregates/{aid}"),
            None,
        )
        .await;
    assert_eq!(s, 200);

    // Quotas: update (reply without id), legacy names recorded, delete back to defaults.
    let q = format!("/v2.1/os-quota-sets/{demo_project}");
    let (s, _, b) = c
        .call(
            &admin,
            Method::PUT,
            &q,
            Some(json!({"quota_set": {"ram": 1024, "floating_ips": 3, "key_pairs": 7}})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert!(b["quota_set"].get("id").is_none());
    assert_eq!(
        (
            b["quota_set"]["ram"].as_i64(),
            b["quota_set"]["key_pairs"].as_i64()
        ),
        (Some(1024), Some(7))
    );
    let (s, _, _) = c
        .call(
            &admin,
            Method::PUT,
            &q,
            Some(json!({"quota_set": {"bogus": 1}})),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(c.call(&admin, Method::DELETE, &q, None).await.0, 202);
    let (_, d) = c.get(&admin, &format!("{q}/defaults")).await;
    let (_, now) = c.get(&admin, &q).await;
    assert_eq!(now["quota_set"]["ram"], d["quota_set"]["ram"]);
    assert_eq!(now["quota_set"]["key_pairs"], json!(100));
    // New defaults (the `default` quota class) apply to projects without their own.
    let (s, _, b) = c
        .call(
            &admin,
            Method::PUT,
            "/v2.1/os-quota-class-sets/default",
            Some(json!({"quota_class_set": {"ram": 4096}})),
        )
        .await;
    assert_eq!(
        (s, &b["quota_class_set"]["ram"]),
        (200, &json!(4096)),
        "{b}"
    );
    let (_, now) = c.get(&demo, &q).await;
    assert_eq!(now["quota_set"]["ram"], json!(4096));
    let (s, _, _) = c
        .call(
            &demo,
            Method::PUT,
            "/v2.1/os-quota-class-sets/default",
            Some(json!({"quota_class_set": {"ram": 1}})),
        )
        .await;
    assert_eq!(s, 403);

    // Hypervisors: show, statistics, search; services under their Nova names.
    let (s, b) = c.get(&admin, "/v2.1/os-hypervisors/1").await;
    assert_eq!(
        (s, b["hypervisor"]["hypervisor_hostname"].as_str()),
        (200, Some(host.as_str()))
    );
    let (_, st) = c.get(&admin, "/v2.1/os-hypervisors/statistics").await;
    assert_eq!(st["hypervisor_statistics"]["count"], json!(1));
    assert_eq!(
        c.get(&admin, "/v2.1/os-hypervisors/zzz-none/search")
            .await
            .0,
        404
    );
    assert_eq!(c.get(&demo, "/v2.1/os-hypervisors/statistics").await.0, 403);
    let (_, sv) = c.get(&admin, "/v2.1/os-services?binary=nova-compute").await;
    assert_eq!(sv["services"][0]["binary"], json!("nova-compute"));
    let (_, v) = c.get(&demo, "/").await;
    assert_eq!(v["versions"][0]["id"], json!("v2.0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn resize_confirm_revert_and_access_addresses() {
    use reqwest::Method;
    let c = Cloud::start().await;
    let demo = c.token("demo", "demo-pw", "demo").await;
    let admin = c.token("admin", "admin-pw", "admin").await;
    let (s, _, b) = c
        .call(
            &demo,
            Method::POST,
            "/v2.1/servers",
            Some(json!({"server": {"name": "rs", "flavorRef": "42", "accessIPv4": "192.0.2.7"}})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let id = b["server"]["id"].as_str().unwrap().to_string();
    c.wait_status(&demo, &id, "ACTIVE").await;
    let server_path = format!("/v2.1/servers/{id}");
    let show = || c.get(&demo, &server_path);
    let (_, v) = show().await;
    assert_eq!(v["server"]["accessIPv4"], json!("192.0.2.7"));
    // Access addresses: set, checked by family, cleared with "".
    let put = |body: Value| c.call(&demo, Method::PUT, &server_path, Some(body));
    let (s, _, b) = put(json!({"server": {"accessIPv6": "2001:db8::7"}})).await;
    assert_eq!(
        (s, &b["server"]["accessIPv6"]),
        (200, &json!("2001:db8::7")),
        "{b}"
    );
    assert_eq!(
        put(json!({"server": {"accessIPv4": "2001:db8::7"}}))
            .await
            .0,
        400
    );
    let (_, _, b) = put(json!({"server": {"accessIPv4": ""}})).await;
    assert_eq!(b["server"]["accessIPv4"], json!(""));

    let usage = || async {
        let (_, l) = c.get(&demo, "/v2.1/limits").await;
        let a = &l["limits"]["absolute"];
        (
            a["totalCoresUsed"].as_i64().unwrap(),
            a["totalRAMUsed"].as_i64().unwrap(),
        )
    };
    let host_vcpus = || async {
        let (_, h) = c.get(&admin, "/v2.1/os-hypervisors/detail").await;
        h["hypervisors"][0]["vcpus_used"].as_i64().unwrap()
    };
    let before = usage().await;
    let vcpus_before = host_vcpus().await;
    let path = format!("/v2.1/servers/{id}/action");
    macro_rules! action {
        ($body:expr) => {
            c.call(&demo, Method::POST, &path, Some($body))
        };
    }
    // The same flavor is refused; an unknown one too.
    assert_eq!(action!(json!({"resize": {"flavorRef": "42"}})).await.0, 400);
    assert_eq!(
        action!(json!({"resize": {"flavorRef": "nope"}})).await.0,
        400
    );
    assert_eq!(action!(json!({"confirmResize": null})).await.0, 409);

    // Up to m1.micro (84: 1 vCPU, 128 MB from 64): VERIFY_RESIZE holds both claims, then confirm.
    let (s, _, b) = action!(json!({"resize": {"flavorRef": "84"}})).await;
    assert_eq!(s, 202, "{b}");
    c.wait_status(&demo, &id, "VERIFY_RESIZE").await;
    let (_, v) = show().await;
    assert_eq!(v["server"]["flavor"]["id"], json!("84"));
    assert_eq!(host_vcpus().await, vcpus_before + 1, "both flavors claimed");
    let during = usage().await;
    assert_eq!(during.1, before.1 + 64, "quota holds the larger flavor");
    assert_eq!(action!(json!({"confirmResize": null})).await.0, 204);
    c.wait_status(&demo, &id, "ACTIVE").await;
    assert_eq!(host_vcpus().await, vcpus_before, "old claim freed");
    assert_eq!(usage().await, during);

    // Down again and revert: the flavor comes back, the new claim goes.
    let (s, _, _) = action!(json!({"resize": {"flavorRef": "42"}})).await;
    assert_eq!(s, 202);
    c.wait_status(&demo, &id, "VERIFY_RESIZE").await;
    let (s, _, b) = action!(json!({"revertResize": null})).await;
    assert_eq!(s, 202, "{b}");
    c.wait_status(&demo, &id, "ACTIVE").await;
    let (_, v) = show().await;
    assert_eq!(v["server"]["flavor"]["id"], json!("84"));
    assert_eq!(host_vcpus().await, vcpus_before);
    assert_eq!(usage().await, during);

    // A resize left unconfirmed is freed with the server.
    let (s, _, _) = action!(json!({"resize": {"flavorRef": "42"}})).await;
    assert_eq!(s, 202);
    c.wait_status(&demo, &id, "VERIFY_RESIZE").await;
    let (s, _, _) = c
        .call(&demo, Method::DELETE, &format!("/v2.1/servers/{id}"), None)
        .await;
    assert_eq!(s, 204);
    wait_for("server gone", Duration::from_secs(30), || async {
        (c.get(&demo, &format!("/v2.1/servers/{id}")).await.0 == 404).then_some(())
    })
    .await;
    assert_eq!(usage().await, (before.0 - 1, before.1 - 64));
    // Deleted servers are listed only with `changes-since`, as DELETED.
    let (_, l) = c.get(&demo, "/v2.1/servers/detail").await;
    assert!(!l.to_string().contains(&id));
    let (s, l) = c
        .get(
            &demo,
            "/v2.1/servers/detail?changes-since=2000-01-01T00:00:00Z",
        )
        .await;
    assert_eq!(s, 200, "{l}");
    let gone = l["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == json!(id))
        .expect("deleted server listed with changes-since");
    assert_eq!(gone["status"], json!("DELETED"));
    assert_eq!(host_vcpus().await, vcpus_before - 1);

    // Hypervisor uptime comes from the compute host itself.
    let (s, b) = c.get(&admin, "/v2.1/os-hypervisors/1/uptime").await;
    assert_eq!(s, 200, "{b}");
    assert!(
        b["hypervisor"]["uptime"]
            .as_str()
            .unwrap()
            .contains("load average"),
        "{b}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn snapshots_and_backups_become_images() {
    use reqwest::Method;
    let c = Cloud::start().await;
    let demo = c.token("demo", "demo-pw", "demo").await;
    let image = c.upload_image(&demo).await;
    let (s, _, b) = c
        .call(
            &demo,
            Method::POST,
            "/v2.1/servers",
            Some(json!({"server": {"name": "snap", "flavorRef": "42", "imageRef": image}})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let id = b["server"]["id"].as_str().unwrap().to_string();
    c.wait_status(&demo, &id, "ACTIVE").await;
    let path = format!("/v2.1/servers/{id}/action");
    let glance = |token: &str, p: String| {
        c.http
            .get(format!("{}{p}", c.glance))
            .header("x-auth-token", token.to_string())
            .send()
    };
    let image_of = |headers: &reqwest::header::HeaderMap| {
        let loc = headers["location"].to_str().unwrap().to_string();
        assert!(loc.starts_with(&c.glance), "{loc}");
        loc.rsplit('/').next().unwrap().to_string()
    };
    let wait_active = |img: String| {
        let demo = demo.clone();
        async move {
            wait_for(
                &format!("image {img} active"),
                Duration::from_secs(30),
                || async {
                    let v: Value = glance(&demo, format!("/v2/images/{img}"))
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    (v["status"] == "active").then_some(v)
                },
            )
            .await
        }
    };

    // createImage: 202 with the image's URL; the image holds the server's disk.
    let (s, _, b) = c
        .call(
            &demo,
            Method::POST,
            &path,
            Some(json!({"createImage": {"metadata": {"k": "v"}}})),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    let (s, h, b) = c
        .call(
            &demo,
            Method::POST,
            &path,
            Some(json!({"createImage": {"name": "snap-1", "metadata": {"k": "v"}}})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let snap = image_of(&h);
    let v = wait_active(snap.clone()).await;
    assert_eq!(v["instance_uuid"], json!(id));
    assert_eq!(v["image_type"], json!("snapshot"));
    assert_eq!(v["k"], json!("v"));
    assert_eq!(v["visibility"], json!("private"));
    let data = glance(&demo, format!("/v2/images/{snap}/file"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(data.len(), 4096, "a simulated disk is its base image");
    c.wait_status(&demo, &id, "ACTIVE").await;
    // The snapshot boots.
    let (s, _, b) = c
        .call(
            &demo,
            Method::POST,
            "/v2.1/servers",
            Some(json!({"server": {"name": "from-snap", "flavorRef": "42", "imageRef": snap}})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    c.wait_status(&demo, b["server"]["id"].as_str().unwrap(), "ACTIVE")
        .await;

    // The image proxy shows the snapshot as Nova does, with the server it came from.
    let (s, v) = c.get(&demo, &format!("/v2.1/images/{snap}")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["image"]["status"], json!("ACTIVE"));
    assert_eq!(v["image"]["server"]["id"], json!(id));
    assert_eq!(v["image"]["metadata"]["k"], json!("v"));
    let (_, l) = c
        .get(&demo, &format!("/v2.1/images/detail?server={id}"))
        .await;
    assert_eq!(l["images"].as_array().unwrap().len(), 1, "{l}");
    let meta = format!("/v2.1/images/{snap}/metadata");
    let (s, _, b) = c
        .call(
            &demo,
            Method::POST,
            &meta,
            Some(json!({"metadata": {"os_distro": "debian"}})),
        )
        .await;
    assert_eq!(
        (s, &b["metadata"]["os_distro"]),
        (200, &json!("debian")),
        "{b}"
    );
    let (s, _, _) = c
        .call(&demo, Method::DELETE, &format!("{meta}/os_distro"), None)
        .await;
    assert_eq!(s, 204);
    assert_eq!(c.get(&demo, &format!("{meta}/os_distro")).await.0, 404);
    let other = c
        .user_in_new_project(
            &c.token("admin", "admin-pw", "admin").await,
            "imgs",
            "member",
        )
        .await;
    assert_eq!(
        c.get(&other, &format!("/v2.1/images/{snap}")).await.0,
        404,
        "private to its project"
    );

    // createBackup with rotation 1: the second backup replaces the first.
    let backup =
        |n: &str| json!({"createBackup": {"name": n, "backup_type": "daily", "rotation": 1}});
    let (s, h, b) = c.call(&demo, Method::POST, &path, Some(backup("b1"))).await;
    assert_eq!(s, 202, "{b}");
    let b1 = image_of(&h);
    wait_active(b1.clone()).await;
    c.wait_status(&demo, &id, "ACTIVE").await;
    let (s, h, _) = c.call(&demo, Method::POST, &path, Some(backup("b2"))).await;
    assert_eq!(s, 202);
    let b2 = image_of(&h);
    wait_active(b2.clone()).await;
    wait_for(
        "first backup rotated out",
        Duration::from_secs(30),
        || async {
            (glance(&demo, format!("/v2/images/{b1}"))
                .await
                .unwrap()
                .status()
                .as_u16()
                == 404)
                .then_some(())
        },
    )
    .await;
    let (s, _, _) = c
        .call(
            &demo,
            Method::POST,
            &path,
            Some(json!({"createBackup": {"name": "x", "backup_type": "daily"}})),
        )
        .await;
    assert_eq!(s, 400, "rotation is required");
    // Deleting through the proxy removes it from the image service.
    let (s, _, _) = c
        .call(&demo, Method::DELETE, &format!("/v2.1/images/{b2}"), None)
        .await;
    assert_eq!(s, 204);
    assert_eq!(c.get(&demo, &format!("/v2.1/images/{b2}")).await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn server_subresources_and_states_as_nova_shows_them() {
    let c = Cloud::start().await;
    let demo = c.token("demo", "demo-pw", "demo").await;
    let (s, b) = c.boot(&demo, "sub", 1).await;
    assert_eq!(s, 202, "{b}");
    let id = b["server"]["id"].as_str().unwrap().to_string();
    c.wait_status(&demo, &id, "ACTIVE").await;
    let post = |path: String, body: Value| {
        let (c, demo) = (&c, &demo);
        async move {
            let (s, _, b) = c.call(demo, reqwest::Method::POST, &path, Some(body)).await;
            (s, b)
        }
    };
    // `ips`: addresses by network (none here: no network in this cloud).
    let (s, b) = c.get(&demo, &format!("/v2.1/servers/{id}/ips")).await;
    assert_eq!((s, b["addresses"].is_object()), (200, true), "{b}");
    assert_eq!(
        c.get(&demo, &format!("/v2.1/servers/{id}/ips/nowhere"))
            .await
            .0,
        404
    );
    assert_eq!(c.get(&demo, "/v2.1/servers/no-such/ips").await.0, 404);
    // The server password: empty, cleared; 404 for no server.
    let (s, b) = c
        .get(&demo, &format!("/v2.1/servers/{id}/os-server-password"))
        .await;
    assert_eq!((s, b["password"].as_str()), (200, Some("")), "{b}");
    let (s, _, _) = c
        .call(
            &demo,
            reqwest::Method::DELETE,
            &format!("/v2.1/servers/{id}/os-server-password"),
            None,
        )
        .await;
    assert_eq!(s, 204);
    assert_eq!(
        c.get(&demo, "/v2.1/servers/no-such/os-server-password")
            .await
            .0,
        404
    );
    // No soft delete: forceDelete and restore are Nova's conflict, 404 for no server.
    for action in ["forceDelete", "restore"] {
        let (s, b) = post(
            format!("/v2.1/servers/{id}/action"),
            json!({ action: null }),
        )
        .await;
        assert_eq!(s, 409, "{action}: {b}");
        let (s, _) = post(
            "/v2.1/servers/no-such/action".into(),
            json!({ action: null }),
        )
        .await;
        assert_eq!(s, 404, "{action}");
    }
    // `progress` only while a server may progress.
    let (_, b) = c.get(&demo, &format!("/v2.1/servers/{id}")).await;
    assert_eq!(b["server"]["progress"], 0, "{b}");
    let (s, _) = post(
        format!("/v2.1/servers/{id}/action"),
        json!({"os-stop": null}),
    )
    .await;
    assert_eq!(s, 202);
    c.wait_status(&demo, &id, "SHUTOFF").await;
    let (_, b) = c.get(&demo, &format!("/v2.1/servers/{id}")).await;
    assert!(b["server"].get("progress").is_none(), "{b}");
    let (_, d) = c.get(&demo, "/v2.1/servers/detail").await;
    assert!(d["servers"][0].get("progress").is_none(), "{d}");
    // An update answers the basic view (no extension attributes).
    let (s, _, b) = c
        .call(
            &demo,
            reqwest::Method::PUT,
            &format!("/v2.1/servers/{id}"),
            Some(json!({"server": {"name": "renamed"}})),
        )
        .await;
    assert_eq!(
        (s, b["server"]["name"].as_str()),
        (200, Some("renamed")),
        "{b}"
    );
    assert!(b["server"].get("OS-EXT-STS:vm_state").is_none(), "{b}");
}
