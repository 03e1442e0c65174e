//! The admin API dialect beside the OpenStack one on the same listener: operators' work on
//! services and hosts (maintenance, forced down, evacuation to another host and the old
//! guest's clean-up when the source returns), flavors, quotas and aggregates; its own
//! error format; and the OpenStack side of the same operations (os-services, evacuate,
//! os-migrations).

use metacloud::Role;
use metacloud_api::Context;
use metacloud_config::Config;
use metacloud_tests::{scratch_dir, wait_for};
use serde_json::{json, Value};
use std::time::Duration;

struct Cloud {
    running: metacloud::Running,
    /// A second compute host in the same process (same database and bus).
    second: metacloud::Running,
    keystone: String,
    base: String,
    glance: String,
    http: reqwest::Client,
}

fn config(dir: &std::path::Path, host: &str) -> Config {
    // Each simulated host its own libvirt test driver: `test:///default` is one state per
    // process, which two hosts in one process would share; a node file is private to its
    // connection.
    let node = dir.join(host).join("node.xml");
    std::fs::create_dir_all(node.parent().unwrap()).unwrap();
    std::fs::write(&node, "<node></node>").unwrap();
    let mut c = Config::default();
    c.compute.libvirt_uri = format!("test://{}", node.display());
    c.service.data_dir = Some(dir.to_path_buf());
    c.service.host = Some(host.to_string());
    c.service.report_interval_secs = 1;
    c.database.url = Some(format!("sqlite://{}/metacloud.db", dir.display()));
    c.compute.instances_path = Some(dir.join(host).join("instances"));
    c.compute.image_cache_path = Some(dir.join(host).join("image-cache"));
    c.compute.power_sync_interval_secs = 1;
    c.api.listen = "127.0.0.1:0".parse().unwrap();
    c.api.compute_listen = "127.0.0.1:0".parse().unwrap();
    c.api.plugin_dir = Some(crate::plugins::dist().join("api"));
    c.plugins.cache_dir = Some(dir.join("plugin-cache"));
    c.identity.listen = "127.0.0.1:0".parse().unwrap();
    c.api.image_listen = "127.0.0.1:0".parse().unwrap();
    c.api.ec2_listen = "127.0.0.1:0".parse().unwrap();
    c.api.metadata_listen = "127.0.0.1:0".parse().unwrap();
    c.api.network_listen = "127.0.0.1:0".parse().unwrap();
    c.identity.admin_password = Some("admin-pw".into());
    c.identity.demo_password = Some("demo-pw".into());
    c.validate().unwrap();
    c
}

impl Cloud {
    async fn start() -> Cloud {
        let dir = scratch_dir("admin");
        let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let running = metacloud::start(&config(&dir, &format!("a-{tag}")), &Role::ALL)
            .await
            .expect("start all");
        let second = metacloud::start_on(
            &config(&dir, &format!("b-{tag}")),
            &[Role::Compute],
            running.bus.clone(),
        )
        .await
        .expect("second compute");
        Cloud {
            keystone: format!("http://{}/v3", running.identity_addr.unwrap()),
            base: format!(
                "http://{}",
                running.compute_addr.expect("dialects listening")
            ),
            glance: format!("http://{}", running.image_addr.expect("image API")),
            running,
            second,
            http: reqwest::Client::new(),
        }
    }

    fn host_a(&self) -> String {
        self.running.computes[0].host().to_string()
    }

    fn host_b(&self) -> String {
        self.second.computes[0].host().to_string()
    }

    async fn token(&self, user: &str, pw: &str, project: &str) -> String {
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

    async fn call(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("x-auth-token", token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn raw(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: &str,
    ) -> (u16, Value) {
        let r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("x-auth-token", token)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        self.call(token, reqwest::Method::GET, path, None).await
    }

    async fn server(&self, token: &str, id: &str) -> Value {
        self.get(token, &format!("/v2.1/servers/{id}")).await.1["server"].clone()
    }

    async fn wait_server(&self, token: &str, id: &str, what: &str, ok: impl Fn(&Value) -> bool) {
        wait_for(what, Duration::from_secs(30), || async {
            ok(&self.server(token, id).await).then_some(())
        })
        .await;
    }

    async fn domains(&self, host: &str) -> Vec<String> {
        let api = self.running.api.as_ref().unwrap();
        api.host_domains(&Context::admin("admin"), host)
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.uuid)
            .collect()
    }

    /// Waits until the admin API shows both compute hosts up.
    async fn wait_both_up(&self, admin: &str) {
        wait_for("both computes up", Duration::from_secs(20), || async {
            let (_, b) = self.get(admin, "/admin/v1/hosts").await;
            let up = b["hosts"]
                .as_array()?
                .iter()
                .filter(|h| h["up"] == true)
                .count();
            (up == 2).then_some(())
        })
        .await;
    }

    /// The status of the server's latest migration record, as the admin API lists it.
    async fn migration_status(&self, admin: &str, id: &str) -> Value {
        let (_, m) = self
            .get(admin, &format!("/admin/v1/migrations?server_id={id}"))
            .await;
        m["migrations"][0]["status"].clone()
    }

    /// The admin API's view of the compute service of `host`.
    async fn service_of(&self, admin: &str, host: &str) -> Value {
        let (s, b) = self
            .get(
                admin,
                &format!("/admin/v1/services?binary=metacloud-compute&host={host}"),
            )
            .await;
        assert_eq!(s, 200, "{b}");
        b["services"][0].clone()
    }
}

fn admin_error(body: &Value, code: u16) {
    assert_eq!(body["error"]["code"], json!(code), "{body}");
    assert!(body["error"]["title"].is_string(), "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_admin_dialect_beside_nova_speaks_its_own_format_to_admins_only() {
    let cloud = Cloud::start().await;
    let admin = cloud.token("admin", "admin-pw", "admin").await;
    let demo = cloud.token("demo", "demo-pw", "demo").await;
    use reqwest::Method as M;

    // Discovery is public; everything else is for admins, in the admin API's format.
    let r = cloud
        .http
        .get(format!("{}/admin", cloud.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["versions"][0]["id"], "v1");
    let (s, b) = cloud.get(&demo, "/admin/v1/services").await;
    assert_eq!(s, 403);
    admin_error(&b, 403);
    let r = cloud
        .http
        .get(format!("{}/admin/v1/hosts", cloud.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    admin_error(&r.json().await.unwrap(), 401);
    // A path nobody serves answers in the format of the dialect it is nearest to.
    let (s, b) = cloud.get(&admin, "/admin/v1/nothing-here").await;
    assert_eq!(s, 404);
    admin_error(&b, 404);
    let (s, b) = cloud.get(&admin, "/v2.1/nothing-here").await;
    assert_eq!(s, 404);
    assert_eq!(b["itemNotFound"]["code"], 404, "{b}");
    // A known path with another method: 405 in the owner's format.
    let (s, b) = cloud.call(&admin, M::DELETE, "/admin/v1/hosts", None).await;
    assert_eq!(s, 405);
    admin_error(&b, 405);

    // Strict bodies: malformed, wrong type, unknown field, nothing to change.
    let a = cloud.host_a();
    let svc = cloud.service_of(&admin, &a).await;
    let id = svc["id"].as_i64().unwrap();
    let path = format!("/admin/v1/services/{id}");
    for bad in [
        "{",
        r#"{"disabled": "yes"}"#,
        r#"{"disabled": true, "colour": "red"}"#,
        "{}",
        "[]",
    ] {
        let (s, b) = cloud.raw(&admin, M::PATCH, &path, bad).await;
        assert_eq!(s, 400, "{bad}: {b}");
        admin_error(&b, 400);
    }
    let (s, b) = cloud
        .raw(
            &admin,
            M::PATCH,
            &path,
            r#"{"disabled": true, "colour": "red"}"#,
        )
        .await;
    assert!(
        b["error"]["message"].as_str().unwrap().contains("colour"),
        "{s} {b}"
    );
    // Nothing changed by the refused bodies.
    assert_eq!(cloud.service_of(&admin, &a).await["disabled"], false);
    let (s, _) = cloud
        .call(
            &admin,
            M::PATCH,
            "/admin/v1/services/999999",
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(s, 404);

    // Flavors: create a private one, extra specs, access, delete.
    let (s, f) = cloud
        .call(&admin, M::POST, "/admin/v1/flavors",
            Some(json!({"id": "adm-1", "name": "adm.small", "vcpus": 2, "ram_mb": 256, "disk_gb": 1, "is_public": false})))
        .await;
    assert_eq!(s, 201, "{f}");
    assert_eq!(f["flavor"]["is_public"], false);
    let (s, b) = cloud
        .call(
            &admin,
            M::POST,
            "/admin/v1/flavors",
            Some(json!({"name": "x", "vcpus": 1, "ram_mb": 1, "disk_gb": 0, "gpus": 1})),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    let (s, b) = cloud
        .call(
            &admin,
            M::PATCH,
            "/admin/v1/flavors/adm-1/extra-specs",
            Some(json!({"hw:cpu_policy": "dedicated"})),
        )
        .await;
    assert_eq!(
        (s, &b["extra_specs"]),
        (200, &json!({"hw:cpu_policy": "dedicated"}))
    );
    let (s, b) = cloud
        .call(
            &admin,
            M::PUT,
            "/admin/v1/flavors/adm-1/access/demo-project-x",
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["projects"], json!(["demo-project-x"]));
    let (_, b) = cloud.get(&admin, "/admin/v1/flavors/adm-1").await;
    assert_eq!(b["flavor"]["extra_specs"]["hw:cpu_policy"], "dedicated");
    let (s, _) = cloud
        .call(
            &admin,
            M::DELETE,
            "/admin/v1/flavors/adm-1/extra-specs/hw:cpu_policy",
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (s, _) = cloud
        .call(&admin, M::DELETE, "/admin/v1/flavors/adm-1", None)
        .await;
    assert_eq!(s, 204);
    let (s, b) = cloud.get(&admin, "/admin/v1/flavors/adm-1").await;
    assert_eq!(s, 404);
    admin_error(&b, 404);

    // Quotas: a bad resource changes nothing, even beside a good one; then set and reset.
    let demo_project = {
        let r = cloud
            .http
            .get(format!("{}/auth/tokens", cloud.keystone))
            .header("x-auth-token", &demo)
            .header("x-subject-token", &demo)
            .send()
            .await
            .unwrap();
        r.json::<Value>().await.unwrap()["token"]["project"]["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let qpath = format!("/admin/v1/quotas/{demo_project}");
    let (s, b) = cloud
        .call(
            &admin,
            M::PATCH,
            &qpath,
            Some(json!({"instances": 3, "unicorns": 1})),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    let (_, b) = cloud.get(&admin, &qpath).await;
    assert_ne!(b["quota"]["resources"]["instances"]["limit"], 3, "{b}");
    let (s, b) = cloud
        .call(
            &admin,
            M::PATCH,
            &qpath,
            Some(json!({"instances": 3, "cores": -1})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        b["quota"]["resources"]["instances"],
        json!({"limit": 3, "in_use": 0})
    );
    assert_eq!(b["quota"]["resources"]["cores"]["limit"], -1);
    let (_, nova) = cloud
        .get(&demo, &format!("/v2.1/os-quota-sets/{demo_project}"))
        .await;
    assert_eq!(
        nova["quota_set"]["instances"], 3,
        "the same limits through Nova's API"
    );
    let (s, _) = cloud.call(&admin, M::DELETE, &qpath, None).await;
    assert_eq!(s, 204);
    let (_, d) = cloud.get(&admin, "/admin/v1/quotas/defaults").await;
    let (_, b) = cloud.get(&admin, &qpath).await;
    assert_eq!(
        b["quota"]["resources"]["instances"]["limit"],
        d["defaults"]["instances"]
    );

    // Aggregates: create, host in and out, metadata set and removed, delete.
    let (s, ag) = cloud
        .call(
            &admin,
            M::POST,
            "/admin/v1/aggregates",
            Some(json!({"name": "rack-1", "availability_zone": "az-r1"})),
        )
        .await;
    assert_eq!(s, 201, "{ag}");
    let agid = ag["aggregate"]["id"].as_i64().unwrap();
    let (s, b) = cloud
        .call(
            &admin,
            M::PUT,
            &format!("/admin/v1/aggregates/{agid}/hosts/{a}"),
            None,
        )
        .await;
    assert_eq!((s, &b["aggregate"]["hosts"]), (200, &json!([a])), "{b}");
    let (_, b) = cloud
        .call(
            &admin,
            M::PATCH,
            &format!("/admin/v1/aggregates/{agid}/metadata"),
            Some(json!({"ssd": "true"})),
        )
        .await;
    assert_eq!(b["aggregate"]["metadata"]["ssd"], "true", "{b}");
    let (_, b) = cloud
        .call(
            &admin,
            M::PATCH,
            &format!("/admin/v1/aggregates/{agid}/metadata"),
            Some(json!({"ssd": null})),
        )
        .await;
    assert!(b["aggregate"]["metadata"].get("ssd").is_none(), "{b}");
    let (s, b) = cloud
        .call(
            &admin,
            M::PATCH,
            &format!("/admin/v1/aggregates/{agid}"),
            Some(json!({"name": "rack-2"})),
        )
        .await;
    assert_eq!((s, b["aggregate"]["name"].as_str()), (200, Some("rack-2")));
    let (s, _) = cloud
        .call(
            &admin,
            M::DELETE,
            &format!("/admin/v1/aggregates/{agid}/hosts/{a}"),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = cloud
        .call(
            &admin,
            M::DELETE,
            &format!("/admin/v1/aggregates/{agid}"),
            None,
        )
        .await;
    assert_eq!(s, 204);

    // Hypervisors and hosts: both computes, with their usage.
    let (s, b) = cloud.get(&admin, "/admin/v1/hosts").await;
    assert_eq!(s, 200);
    let hosts: Vec<&str> = b["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["host"].as_str().unwrap())
        .collect();
    assert!(
        hosts.contains(&a.as_str()) && hosts.contains(&cloud.host_b().as_str()),
        "{b}"
    );
    let (s, b) = cloud
        .get(&admin, &format!("/admin/v1/hypervisors/{a}"))
        .await;
    assert_eq!(s, 200, "{b}");
    assert!(b["hypervisor"]["vcpus"].as_u64().unwrap() > 0);
    assert!(
        b["hypervisor"]["uptime"]
            .as_str()
            .unwrap()
            .contains("load average"),
        "{b}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn maintenance_forced_down_and_evacuation_to_another_host() {
    let cloud = Cloud::start().await;
    let admin = cloud.token("admin", "admin-pw", "admin").await;
    let demo = cloud.token("demo", "demo-pw", "demo").await;
    let (a, b_host) = (cloud.host_a(), cloud.host_b());
    use reqwest::Method as M;
    cloud.wait_both_up(&admin).await;

    // Host A in maintenance: new servers go to B only.
    let (s, h) = cloud
        .call(
            &admin,
            M::PUT,
            &format!("/admin/v1/hosts/{a}/maintenance"),
            Some(json!({"enabled": true, "reason": "firmware"})),
        )
        .await;
    assert_eq!(s, 200, "{h}");
    assert_eq!(h["host"]["schedulable"], false);
    assert_eq!(h["host"]["disabled_reason"], "firmware");
    // Through Nova's API the same service shows disabled, with the reason.
    let (_, svcs) = cloud
        .get(
            &admin,
            &format!("/v2.1/os-services?host={a}&binary=nova-compute"),
        )
        .await;
    assert_eq!(svcs["services"][0]["status"], "disabled", "{svcs}");
    assert_eq!(svcs["services"][0]["disabled_reason"], "firmware");
    let (s, created) = cloud
        .call(
            &demo,
            M::POST,
            "/v2.1/servers",
            Some(json!({"server": {"name": "evac", "flavorRef": "42"}})),
        )
        .await;
    assert_eq!(s, 202, "{created}");
    let id = created["server"]["id"].as_str().unwrap().to_string();
    cloud
        .wait_server(&demo, &id, "server ACTIVE", |v| v["status"] == "ACTIVE")
        .await;
    let on = cloud.server(&admin, &id).await;
    assert_eq!(on["OS-EXT-SRV-ATTR:host"], b_host.as_str(), "{on}");
    assert!(cloud.domains(&b_host).await.contains(&id));
    // Maintenance shows what is still on the host; off again, A takes servers.
    let (_, h) = cloud
        .get(&admin, &format!("/admin/v1/hosts/{b_host}"))
        .await;
    assert_eq!(h["host"]["servers"][0]["id"], id.as_str(), "{h}");
    let (s, h) = cloud
        .call(
            &admin,
            M::PUT,
            &format!("/admin/v1/hosts/{a}/maintenance"),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!((s, &h["host"]["schedulable"]), (200, &json!(true)), "{h}");

    // Evacuation needs the source down, and admins.
    let (s, b) = cloud
        .call(
            &admin,
            M::POST,
            &format!("/admin/v1/servers/{id}/evacuate"),
            None,
        )
        .await;
    assert_eq!(s, 409, "{b}");
    admin_error(&b, 409);
    let (s, b) = cloud
        .call(
            &demo,
            M::POST,
            &format!("/v2.1/servers/{id}/action"),
            Some(json!({"evacuate": {"onSharedStorage": false}})),
        )
        .await;
    assert_eq!(s, 403, "{b}");

    // B fenced: forced down through the admin API (its process still runs, as a host that
    // lost its network would).
    let svc = cloud.service_of(&admin, &b_host).await;
    let (s, b) = cloud
        .call(
            &admin,
            M::PATCH,
            &format!("/admin/v1/services/{}", svc["id"]),
            Some(json!({"forced_down": true})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        (&b["service"]["forced_down"], &b["service"]["up"]),
        (&json!(true), &json!(false))
    );
    // Nova's 2.1 evacuate: a bad body is Nova's 400; a good one rebuilds the server on A.
    let (s, b) = cloud
        .call(
            &admin,
            M::POST,
            &format!("/v2.1/servers/{id}/action"),
            Some(json!({"evacuate": {"host": a}})),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["badRequest"]["code"], 400);
    let (s, b) = cloud
        .call(
            &admin,
            M::POST,
            &format!("/v2.1/servers/{id}/action"),
            Some(json!({"evacuate": {"onSharedStorage": false}})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert!(b["adminPass"].is_string());
    cloud
        .wait_server(&admin, &id, "server ACTIVE on A", |v| {
            v["status"] == "ACTIVE" && v["OS-EXT-SRV-ATTR:host"] == a.as_str()
        })
        .await;
    assert!(cloud.domains(&a).await.contains(&id), "the guest runs on A");
    // The claim moved with it: B holds nothing, A holds the flavor.
    let (_, hv) = cloud
        .get(&admin, &format!("/admin/v1/hypervisors/{b_host}"))
        .await;
    assert_eq!(hv["hypervisor"]["vcpus_used"], 0, "{hv}");
    let (_, hv) = cloud
        .get(&admin, &format!("/admin/v1/hypervisors/{a}"))
        .await;
    assert!(
        hv["hypervisor"]["vcpus_used"].as_u64().unwrap() >= 1,
        "{hv}"
    );
    // Both APIs list the evacuation; once B's compute sees it (its next sync), B's old guest
    // is destroyed and the record completed.
    wait_for(
        "old guest on B destroyed",
        Duration::from_secs(30),
        || async { (!cloud.domains(&b_host).await.contains(&id)).then_some(()) },
    )
    .await;
    wait_for("evacuation completed", Duration::from_secs(30), || async {
        (cloud.migration_status(&admin, &id).await == "completed").then_some(())
    })
    .await;
    let (s, m) = cloud
        .get(&admin, &format!("/v2.1/os-migrations?instance_uuid={id}"))
        .await;
    assert_eq!(s, 200, "{m}");
    let m = &m["migrations"][0];
    assert_eq!(
        (m["source_compute"].as_str(), m["dest_compute"].as_str()),
        (Some(b_host.as_str()), Some(a.as_str()))
    );
    let (s, _) = cloud.get(&demo, "/v2.1/os-migrations").await;
    assert_eq!(s, 403);

    // A host-wide evacuation of a host that is up is refused; B back up again.
    let (s, b) = cloud
        .call(
            &admin,
            M::POST,
            &format!("/admin/v1/hosts/{a}/evacuate"),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 409, "{b}");
    let (s, _) = cloud
        .call(
            &admin,
            M::PATCH,
            &format!("/admin/v1/services/{}", svc["id"]),
            Some(json!({"forced_down": false})),
        )
        .await;
    assert_eq!(s, 200);
    wait_for("B up again", Duration::from_secs(20), || async {
        (cloud.service_of(&admin, &b_host).await["up"] == true).then_some(())
    })
    .await;
    // Nova's os-services switches of 2.1.
    let (s, b) = cloud
        .call(
            &admin,
            M::PUT,
            "/v2.1/os-services/disable-log-reason",
            Some(json!({"host": b_host, "binary": "nova-compute", "disabled_reason": "disk"})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        b["service"],
        json!({"host": b_host, "binary": "nova-compute", "status": "disabled", "disabled_reason": "disk"})
    );
    let (s, b) = cloud
        .call(
            &admin,
            M::PUT,
            "/v2.1/os-services/enable",
            Some(json!({"host": b_host, "binary": "nova-compute"})),
        )
        .await;
    assert_eq!(
        (s, &b["service"]["status"]),
        (200, &json!("enabled")),
        "{b}"
    );
    let (s, _) = cloud
        .call(
            &demo,
            M::PUT,
            "/v2.1/os-services/disable",
            Some(json!({"host": b_host, "binary": "nova-compute"})),
        )
        .await;
    assert_eq!(s, 403);
    let (s, b) = cloud
        .call(
            &admin,
            M::PUT,
            "/v2.1/os-services/disable",
            Some(json!({"host": "nowhere", "binary": "nova-compute"})),
        )
        .await;
    assert_eq!(s, 404, "{b}");
    cloud.second.stop();
    cloud.running.stop();
}

/// A scratch directory with a plugin directory holding the named files of `plugins/dist`
/// (`api/openstack-api.wasm`, …), and a config serving dialects from it.
fn dialect_dir(name: &str, files: &[&str]) -> (std::path::PathBuf, std::path::PathBuf, Config) {
    let dir = scratch_dir(name);
    let plugins = dir.join("dialects");
    std::fs::create_dir_all(&plugins).unwrap();
    let dist = crate::plugins::dist();
    // Every cloud needs its identity, image, EC2, metadata and network dialects (their own
    // listeners).
    for f in files.iter().chain(&[
        "api/identity-api.wasm",
        "api/image-api.wasm",
        "api/ec2-api.wasm",
        "api/metadata-api.wasm",
        "api/network-api.wasm",
    ]) {
        let to = std::path::Path::new(f).file_name().unwrap();
        std::fs::copy(dist.join(f), plugins.join(to)).unwrap();
    }
    let host = format!(
        "{}-{}",
        &name[..1],
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let mut c = config(&dir, &host);
    c.api.plugin_dir = Some(plugins.clone());
    (dir, plugins, c)
}

/// Plain GETs without credentials against `base`: status and body text.
fn getter(
    base: String,
) -> impl Fn(&str) -> std::pin::Pin<Box<dyn std::future::Future<Output = (u16, String)> + Send>> {
    let http = reqwest::Client::new();
    move |path: &str| {
        let (http, url) = (http.clone(), format!("{base}{path}"));
        Box::pin(async move {
            let r = http.get(url).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.text().await.unwrap())
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_misbehaving_dialect_fails_only_its_own_requests() {
    let (_dir, _plugins, mut c) = dialect_dir(
        "hostile-dialect",
        &[
            "api/openstack-api.wasm",
            "api/admin-api.wasm",
            "hostile/hostile-dialect.wasm",
        ],
    );
    c.api.dialects = vec![
        "openstack-compute".into(),
        "metacloud-admin".into(),
        "hostile-dialect".into(),
    ];
    c.plugins.call_timeout_ms = 300;
    c.plugins.memory_limit_mb = 32;
    let running = metacloud::start(&c, &Role::ALL).await.expect("start");
    let get = getter(format!("http://{}", running.compute_addr.unwrap()));
    assert_eq!(get("/hostile/ok").await, (200, "still here".to_string()));
    // Each way of misbehaving fails its request with a 500 (rendered by the dialect, which
    // still can), and the next request is served as if nothing happened.
    for bad in ["loop", "alloc", "trap", "panic"] {
        let (status, body) = get(&format!("/hostile/{bad}")).await;
        assert_eq!(status, 500, "{bad}: {body}");
        assert!(body.starts_with("hostile refusal 500"), "{bad}: {body}");
        assert_eq!(get("/hostile/ok").await.0, 200, "after {bad}");
        let (status, body) = get("/v2.1").await;
        assert_eq!(status, 200, "the OpenStack dialect after {bad}: {body}");
        assert_eq!(
            get("/admin/v1").await.0,
            200,
            "the admin dialect after {bad}"
        );
    }
    // A refusal the dialect cannot even render (its render-error loops): the host answers
    // in plain JSON, within the deadline.
    let t = std::time::Instant::now();
    let (status, body) = get("/hostile/nothing-here").await;
    assert_eq!(status, 404, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["code"], 404, "{v}");
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(get("/hostile/ok").await.0, 200);
    running.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dialect_never_holds_a_secret_nor_acts_as_another_caller() {
    let (_dir, _plugins, mut c) = dialect_dir(
        "sealed-dialect",
        &[
            "api/openstack-api.wasm",
            "api/admin-api.wasm",
            "hostile/hostile-dialect.wasm",
        ],
    );
    c.api.dialects = vec![
        "openstack-compute".into(),
        "metacloud-admin".into(),
        "hostile-dialect".into(),
    ];
    let running = metacloud::start(&c, &Role::ALL).await.expect("start");
    let http = reqwest::Client::new();
    let keystone = format!("http://{}/v3", running.identity_addr.unwrap());
    let login = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": "admin-pw"}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}});
    let r = http
        .post(format!("{keystone}/auth/tokens"))
        .json(&login)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let token = r.headers()["x-subject-token"].to_str().unwrap().to_string();
    assert!(!token.starts_with("sealed:"), "{token}");
    // What the plugin is given, echoed back: the token and the password arrive sealed, and
    // a sealed reference the plugin puts in its response is not opened on the way out.
    let base = format!("http://{}", running.compute_addr.unwrap());
    let body = json!({"user": {"name": "x", "password": "hunter2"}, "token": {"id": "tok-in-body"},
        "credential": {"secret": "s3cr3t"}});
    let r = http
        .post(format!("{base}/hostile/echo"))
        .header("x-auth-token", &token)
        .header("x-subject-token", &token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let echoed = r.text().await.unwrap();
    for secret in [token.as_str(), "hunter2", "tok-in-body", "s3cr3t"] {
        assert!(
            !echoed.contains(secret),
            "{secret} reached the plugin: {echoed}"
        );
    }
    assert_eq!(echoed.matches("sealed:").count(), 5, "{echoed}");
    assert!(
        echoed.contains(r#""name":"x""#),
        "the rest of the body is intact: {echoed}"
    );
    // A caller the plugin makes up (an admin) is refused by identity and compute alike
    // (flavor management and the zones' host names included, which once read its roles),
    // with or without a real caller behind the request.
    for auth in [Some(token.as_str()), None] {
        let mut req = http.get(format!("{base}/hostile/forge"));
        if let Some(t) = auth {
            req = req.header("x-auth-token", t);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let text = r.text().await.unwrap();
        assert_eq!(
            text, "identity: refused\ncompute: refused\nflavor: refused\nzones: refused\n",
            "{auth:?}"
        );
    }
    running.stop();
}

#[tokio::test]
async fn dialects_that_claim_the_same_routes_are_refused_at_start() {
    let (_dir, _plugins, mut c) = dialect_dir("overlap-dialects", &["api/openstack-api.wasm"]);
    c.api.dialects = vec!["openstack-compute".into(), "metacloud-admin".into()];
    // A named dialect that is not there: the error says which and where.
    let e = metacloud::start(&c, &Role::ALL)
        .await
        .err()
        .expect("refused");
    let msg = e.to_string();
    assert!(
        msg.contains("metacloud-admin") && msg.contains("api.dialects"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cold_migration_moves_the_disk_and_waits_for_confirm_or_revert() {
    let cloud = Cloud::start().await;
    let admin = cloud.token("admin", "admin-pw", "admin").await;
    let demo = cloud.token("demo", "demo-pw", "demo").await;
    use reqwest::Method as M;
    cloud.wait_both_up(&admin).await;
    // A public image to boot from.
    let r = cloud
        .http
        .post(format!("{}/v2/images", cloud.glance))
        .header("x-auth-token", &admin)
        .json(&json!({"name": "base", "disk_format": "raw", "container_format": "bare", "visibility": "public"}))
        .send()
        .await
        .unwrap();
    let image = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = cloud
        .http
        .put(format!("{}/v2/images/{image}/file", cloud.glance))
        .header("x-auth-token", &admin)
        .header("content-type", "application/octet-stream")
        .body(vec![7u8; 8192])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let (s, created) = cloud
        .call(
            &demo,
            M::POST,
            "/v2.1/servers",
            Some(json!({"server": {"name": "mover", "flavorRef": "42", "imageRef": image}})),
        )
        .await;
    assert_eq!(s, 202, "{created}");
    let id = created["server"]["id"].as_str().unwrap().to_string();
    cloud
        .wait_server(&demo, &id, "ACTIVE", |v| v["status"] == "ACTIVE")
        .await;
    let first = cloud.server(&admin, &id).await["OS-EXT-SRV-ATTR:host"]
        .as_str()
        .unwrap()
        .to_string();
    let other = if first == cloud.host_a() {
        cloud.host_b()
    } else {
        cloud.host_a()
    };
    let used = |host: String| {
        let cloud = &cloud;
        let admin = admin.clone();
        async move {
            let (_, hv) = cloud
                .get(&admin, &format!("/admin/v1/hypervisors/{host}"))
                .await;
            hv["hypervisor"]["memory_mb_used"].as_u64().unwrap()
        }
    };
    let (base_first, base_other) = (used(first.clone()).await, used(other.clone()).await);

    // Members may not migrate; a body is refused at 2.1.
    let action = format!("/v2.1/servers/{id}/action");
    let (s, _) = cloud
        .call(&demo, M::POST, &action, Some(json!({"migrate": null})))
        .await;
    assert_eq!(s, 403);
    let (s, b) = cloud
        .call(
            &admin,
            M::POST,
            &action,
            Some(json!({"migrate": {"host": other}})),
        )
        .await;
    assert_eq!(s, 400, "{b}");

    // Nova's migrate: the scheduler picks the other host; VERIFY_RESIZE there, the source
    // keeping its claim and its powered-off guest.
    let (s, b) = cloud
        .call(&admin, M::POST, &action, Some(json!({"migrate": null})))
        .await;
    assert_eq!(s, 202, "{b}");
    cloud
        .wait_server(&admin, &id, "VERIFY_RESIZE on the other host", |v| {
            v["status"] == "VERIFY_RESIZE" && v["OS-EXT-SRV-ATTR:host"] == other.as_str()
        })
        .await;
    assert!(
        cloud.domains(&other).await.contains(&id),
        "the guest runs on the destination"
    );
    assert!(
        cloud.domains(&first).await.contains(&id),
        "the source keeps its guest until confirmed"
    );
    assert_eq!(used(first.clone()).await, base_first);
    assert_eq!(used(other.clone()).await, base_other + 64);
    let (_, m) = cloud
        .get(&admin, &format!("/v2.1/os-migrations?instance_uuid={id}"))
        .await;
    assert_eq!(m["migrations"][0]["status"], "migrating", "{m}");
    // 2.80: who asked for it, and filters by both.
    let at = |v: &'static str, query: String| {
        let (http, admin) = (cloud.http.clone(), admin.clone());
        let url = format!(
            "{}/v2.1/os-migrations?instance_uuid={id}{query}",
            cloud.base
        );
        async move {
            http.get(url)
                .header("x-auth-token", admin)
                .header("openstack-api-version", format!("compute {v}"))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let old = at("2.79", String::new()).await;
    assert!(old["migrations"][0].get("user_id").is_none(), "{old}");
    let new = at("2.80", String::new()).await;
    let asker = new["migrations"][0]["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    let project = new["migrations"][0]["project_id"]
        .as_str()
        .unwrap()
        .to_string();
    let mine = at("2.80", format!("&user_id={asker}&project_id={project}")).await;
    assert_eq!(mine["migrations"].as_array().unwrap().len(), 1, "{mine}");
    let others = at("2.80", "&project_id=nobody".to_string()).await;
    assert_eq!(others["migrations"], json!([]), "{others}");
    let transfer_images = || async {
        let r = cloud
            .http
            .get(format!("{}/v2/images", cloud.glance))
            .header("x-auth-token", &admin)
            .send()
            .await
            .unwrap();
        let all: Value = r.json().await.unwrap();
        all["images"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| {
                i["name"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("migration of")
            })
            .count()
    };
    assert_eq!(transfer_images().await, 1, "the disk travelled as an image");

    // Confirmed through the admin API: the source's guest and claim go, the image too.
    let (s, b) = cloud
        .call(
            &admin,
            M::POST,
            &format!("/admin/v1/servers/{id}/migration/confirm"),
            None,
        )
        .await;
    assert_eq!(s, 204, "{b}");
    cloud
        .wait_server(&admin, &id, "ACTIVE after confirm", |v| {
            v["status"] == "ACTIVE"
        })
        .await;
    wait_for(
        "source guest destroyed",
        Duration::from_secs(30),
        || async { (!cloud.domains(&first).await.contains(&id)).then_some(()) },
    )
    .await;
    assert!(
        cloud.domains(&other).await.contains(&id),
        "the guest on the destination stays"
    );
    assert_eq!(used(first.clone()).await, base_first - 64);
    assert_eq!(transfer_images().await, 0, "the transfer image is deleted");
    assert_eq!(cloud.migration_status(&admin, &id).await, "confirmed");

    // Back to the first host through the admin API, then reverted through Nova's: the
    // server stays where it was, the destination's guest and claim go.
    let (s, b) = cloud
        .call(
            &admin,
            M::POST,
            &format!("/admin/v1/servers/{id}/migrate"),
            Some(json!({"host": first})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    cloud
        .wait_server(&admin, &id, "VERIFY_RESIZE on the first host", |v| {
            v["status"] == "VERIFY_RESIZE" && v["OS-EXT-SRV-ATTR:host"] == first.as_str()
        })
        .await;
    let (s, b) = cloud
        .call(&demo, M::POST, &action, Some(json!({"revertResize": null})))
        .await;
    assert_eq!(s, 202, "{b}");
    cloud
        .wait_server(&admin, &id, "ACTIVE back on the other host", |v| {
            v["status"] == "ACTIVE" && v["OS-EXT-SRV-ATTR:host"] == other.as_str()
        })
        .await;
    wait_for(
        "destination guest destroyed",
        Duration::from_secs(30),
        || async { (!cloud.domains(&first).await.contains(&id)).then_some(()) },
    )
    .await;
    assert!(cloud.domains(&other).await.contains(&id));
    assert_eq!(used(first.clone()).await, base_first - 64);
    assert_eq!(used(other.clone()).await, base_other + 64);
    assert_eq!(transfer_images().await, 0);
    assert_eq!(cloud.migration_status(&admin, &id).await, "reverted");
    // A migration to the host it is on is refused.
    let (s, b) = cloud
        .call(
            &admin,
            M::POST,
            &format!("/admin/v1/servers/{id}/migrate"),
            Some(json!({"host": other})),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    admin_error(&b, 400);

    // Deleted while waiting for confirm: both guests, both claims and the image go.
    let (s, _) = cloud
        .call(&admin, M::POST, &action, Some(json!({"migrate": null})))
        .await;
    assert_eq!(s, 202);
    cloud
        .wait_server(&admin, &id, "VERIFY_RESIZE again", |v| {
            v["status"] == "VERIFY_RESIZE"
        })
        .await;
    assert_eq!(transfer_images().await, 1);
    let (s, _) = cloud
        .call(&demo, M::DELETE, &format!("/v2.1/servers/{id}"), None)
        .await;
    assert_eq!(s, 204);
    wait_for("both guests gone", Duration::from_secs(30), || async {
        let a = cloud.domains(&first).await.contains(&id);
        let b = cloud.domains(&other).await.contains(&id);
        (!a && !b).then_some(())
    })
    .await;
    wait_for("both claims freed", Duration::from_secs(30), || async {
        (used(first.clone()).await == base_first - 64 && used(other.clone()).await == base_other)
            .then_some(())
    })
    .await;
    assert_eq!(transfer_images().await, 0);

    // A migration that fails at the source (a simulated guest without a disk has nothing
    // to upload) is undone: still ACTIVE where it was, the destination's claim freed, the
    // transfer image deleted, the record in `error`, the reason in a fault.
    let (s, created) = cloud
        .call(
            &demo,
            M::POST,
            "/v2.1/servers",
            Some(json!({"server": {"name": "diskless", "flavorRef": "42"}})),
        )
        .await;
    assert_eq!(s, 202, "{created}");
    let id = created["server"]["id"].as_str().unwrap().to_string();
    cloud
        .wait_server(&demo, &id, "ACTIVE", |v| v["status"] == "ACTIVE")
        .await;
    let home = cloud.server(&admin, &id).await["OS-EXT-SRV-ATTR:host"]
        .as_str()
        .unwrap()
        .to_string();
    let away = if home == first {
        other.clone()
    } else {
        first.clone()
    };
    let before = used(away.clone()).await;
    let (s, _) = cloud
        .call(
            &admin,
            M::POST,
            &format!("/v2.1/servers/{id}/action"),
            Some(json!({"migrate": null})),
        )
        .await;
    assert_eq!(s, 202);
    wait_for("migration undone", Duration::from_secs(30), || async {
        (cloud.migration_status(&admin, &id).await == "error").then_some(())
    })
    .await;
    cloud
        .wait_server(&admin, &id, "ACTIVE at home", |v| {
            v["status"] == "ACTIVE" && v["OS-EXT-SRV-ATTR:host"] == home.as_str()
        })
        .await;
    assert_eq!(used(away.clone()).await, before);
    let fault = cloud
        .running
        .db
        .as_ref()
        .unwrap()
        .latest_fault(&id)
        .await
        .unwrap()
        .unwrap();
    assert!(fault.message.contains("migration failed"), "{fault:?}");
    wait_for(
        "transfer image deleted",
        Duration::from_secs(30),
        || async { (transfer_images().await == 0).then_some(()) },
    )
    .await;
    assert!(cloud.domains(&home).await.contains(&id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dialects_are_swapped_without_a_restart() {
    let (dir, plugins, mut c) = dialect_dir(
        "swap-dialects",
        &["api/openstack-api.wasm", "api/admin-api.wasm"],
    );
    let dist = crate::plugins::dist();
    // The operator's file: what a reload reads again.
    let file = dir.join("metacloud.toml");
    let write_config = |dialects: &[&str]| {
        let list: Vec<String> = dialects.iter().map(|d| format!("\"{d}\"")).collect();
        std::fs::write(
            &file,
            format!(
                "[api]\nplugin_dir = \"{}\"\ndialects = [{}]\n",
                plugins.display(),
                list.join(", ")
            ),
        )
        .unwrap();
    };
    write_config(&["openstack-compute", "metacloud-admin"]);
    c.source = file.display().to_string();
    c.plugins.call_timeout_ms = 1000;
    let running = metacloud::start(&c, &Role::ALL).await.expect("start");
    let get = getter(format!("http://{}", running.compute_addr.unwrap()));
    assert_eq!(get("/hostile/ok").await.0, 404);
    assert_eq!(get("/admin/v1").await.0, 200);

    // Dropping a plugin in and naming it in the file: served within the watch's period.
    std::fs::copy(
        dist.join("hostile/hostile-dialect.wasm"),
        plugins.join("hostile.wasm"),
    )
    .unwrap();
    write_config(&["openstack-compute", "metacloud-admin", "hostile-dialect"]);
    wait_for(
        "the new dialect served",
        Duration::from_secs(20),
        || async { (get("/hostile/ok").await.0 == 200).then_some(()) },
    )
    .await;
    assert_eq!(get("/v2.1").await.0, 200);

    // Taken out again while one of its requests is under way: that request finishes on
    // the dialect it started with; the next one finds it gone.
    let in_flight = tokio::spawn(get("/hostile/loop"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    write_config(&["openstack-compute", "metacloud-admin"]);
    let svc = running.dialects.clone().unwrap();
    let names = tokio::task::spawn_blocking({
        let svc = svc.clone();
        move || svc.reload()
    })
    .await
    .unwrap()
    .expect("reload");
    assert_eq!(names, ["openstack-compute", "metacloud-admin"]);
    assert_eq!(get("/hostile/ok").await.0, 404);
    let (status, body) = in_flight.await.unwrap();
    assert_eq!(status, 500, "{body}");
    assert!(body.starts_with("hostile refusal"), "{body}");

    // A broken plugin or a bad file changes nothing: the dialects in place keep serving.
    std::fs::write(plugins.join("admin-api.wasm"), b"not a component").unwrap();
    let svc2 = svc.clone();
    let e = tokio::task::spawn_blocking(move || svc2.reload())
        .await
        .unwrap()
        .unwrap_err();
    assert!(e.contains("metacloud-admin"), "{e}");
    std::fs::write(&file, "[api]\ndialects = 7\n").unwrap();
    let svc2 = svc.clone();
    let e = tokio::task::spawn_blocking(move || svc2.reload())
        .await
        .unwrap()
        .unwrap_err();
    assert!(e.contains("metacloud.toml") && e.contains("line 2"), "{e}");
    let (status, body) = get("/admin/v1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(get("/v2.1").await.0, 200);
    running.stop();
}
