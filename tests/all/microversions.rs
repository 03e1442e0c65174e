//! Compute API microversions over real HTTP (issue 16): each change appears exactly from
//! its version on. Tempest's own schemas for every announced version are walked by
//! `tests/conformance/microversions.sh` (in the test command).

use crate::openstack::Cloud;
use reqwest::Method;
use serde_json::{json, Value};

impl Cloud {
    /// A call at microversion `v` (the standard header): status, version header, body.
    pub(crate) async fn at(
        &self,
        v: &str,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, String, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.nova))
            .header("x-auth-token", token)
            .header("openstack-api-version", format!("compute {v}"));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let echoed = r
            .headers()
            .get("openstack-api-version")
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default()
            .to_string();
        (status, echoed, r.json().await.unwrap_or(Value::Null))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keypairs_carry_their_type_from_2_2_and_x509_pairs_are_made_and_imported() {
    let c = Cloud::start().await;
    let demo = c.token("demo", "demo-pw", "demo").await;
    let (_, doc) = c.get(&demo, "/").await;
    assert_eq!(doc["versions"][1]["version"], "2.91", "{doc}");

    // 2.1: 200 without `type`, which it does not take; delete 202.
    let (s, v, b) = c
        .at(
            "2.1",
            &demo,
            Method::POST,
            "/v2.1/os-keypairs",
            Some(json!({"keypair": {"name": "k21"}})),
        )
        .await;
    assert_eq!((s, v.as_str()), (200, "compute 2.1"), "{b}");
    assert!(b["keypair"].get("type").is_none(), "{b}");
    let (s, _, b) = c
        .at(
            "2.1",
            &demo,
            Method::POST,
            "/v2.1/os-keypairs",
            Some(json!({"keypair": {"name": "k21b", "type": "ssh"}})),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    let (s, _, _) = c
        .at("2.1", &demo, Method::DELETE, "/v2.1/os-keypairs/k21", None)
        .await;
    assert_eq!(s, 202);

    // 2.2: 201 with `type` (ssh by default), in list and show too; delete 204.
    let (s, v, b) = c
        .at(
            "2.2",
            &demo,
            Method::POST,
            "/v2.1/os-keypairs",
            Some(json!({"keypair": {"name": "k22"}})),
        )
        .await;
    assert_eq!(
        (s, v.as_str(), b["keypair"]["type"].as_str()),
        (201, "compute 2.2", Some("ssh")),
        "{b}"
    );
    let (_, _, l) = c
        .at("2.2", &demo, Method::GET, "/v2.1/os-keypairs", None)
        .await;
    assert_eq!(l["keypairs"][0]["keypair"]["type"], "ssh", "{l}");
    let (_, _, l) = c
        .at("2.1", &demo, Method::GET, "/v2.1/os-keypairs", None)
        .await;
    assert!(l["keypairs"][0]["keypair"].get("type").is_none(), "{l}");
    let (_, _, k) = c
        .at("2.2", &demo, Method::GET, "/v2.1/os-keypairs/k22", None)
        .await;
    assert_eq!(k["keypair"]["type"], "ssh", "{k}");

    // An X.509 pair: a certificate and its private key, made here; imported again under
    // another name, the same certificate has the same SHA-1 fingerprint.
    let (s, _, x) = c
        .at(
            "2.2",
            &demo,
            Method::POST,
            "/v2.1/os-keypairs",
            Some(json!({"keypair": {"name": "x1", "type": "x509"}})),
        )
        .await;
    assert_eq!(
        (s, x["keypair"]["type"].as_str()),
        (201, Some("x509")),
        "{x}"
    );
    let cert = x["keypair"]["public_key"].as_str().unwrap().to_string();
    assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"), "{x}");
    assert!(x["keypair"]["private_key"]
        .as_str()
        .unwrap()
        .contains("PRIVATE KEY"));
    let (s, _, y) = c
        .at(
            "2.2",
            &demo,
            Method::POST,
            "/v2.1/os-keypairs",
            Some(json!({"keypair": {"name": "x2", "type": "x509", "public_key": cert}})),
        )
        .await;
    assert_eq!(s, 201, "{y}");
    assert_eq!(y["keypair"]["fingerprint"], x["keypair"]["fingerprint"]);
    assert!(y["keypair"].get("private_key").is_none(), "{y}");
    for (body, why) in [
        (
            json!({"keypair": {"name": "x3", "type": "rsa"}}),
            "an unknown type",
        ),
        (
            json!({"keypair": {"name": "x3", "type": "x509", "public_key": "nope"}}),
            "not a certificate",
        ),
    ] {
        let (s, _, b) = c
            .at("2.2", &demo, Method::POST, "/v2.1/os-keypairs", Some(body))
            .await;
        assert_eq!(
            (s, b["badRequest"]["code"].as_u64()),
            (400, Some(400)),
            "{why}: {b}"
        );
    }
    for name in ["k22", "x1", "x2"] {
        let (s, _, _) = c
            .at(
                "2.2",
                &demo,
                Method::DELETE,
                &format!("/v2.1/os-keypairs/{name}"),
                None,
            )
            .await;
        assert_eq!(s, 204, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admins_see_the_extended_server_attributes_from_2_3() {
    let c = Cloud::start().await;
    let admin = c.token("admin", "admin-pw", "admin").await;
    let demo = c.token("demo", "demo-pw", "demo").await;
    let (s, _, b) = c
        .at(
            "2.3",
            &demo,
            Method::POST,
            "/v2.1/servers",
            Some(
                json!({"server": {"name": "ext", "flavorRef": "42", "min_count": 2,
                "user_data": "IyEvYmluL3NoCmVjaG8gaGk="}}),
            ),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let (_, _, list) = c
        .at(
            "2.3",
            &admin,
            Method::GET,
            "/v2.1/servers/detail?all_tenants=1",
            None,
        )
        .await;
    let mine: Vec<&Value> = list["servers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["name"].as_str().unwrap_or_default().starts_with("ext"))
        .collect();
    assert_eq!(mine.len(), 2, "{list}");
    let mut indexes: Vec<u64> = mine
        .iter()
        .map(|s| {
            s["OS-EXT-SRV-ATTR:launch_index"]
                .as_u64()
                .expect("launch_index")
        })
        .collect();
    indexes.sort();
    assert_eq!(indexes, vec![0, 1]);
    for s in &mine {
        assert_eq!(
            s["OS-EXT-SRV-ATTR:reservation_id"],
            mine[0]["OS-EXT-SRV-ATTR:reservation_id"]
        );
        assert!(
            s["OS-EXT-SRV-ATTR:reservation_id"]
                .as_str()
                .unwrap()
                .starts_with("r-"),
            "{s}"
        );
        assert_eq!(s["OS-EXT-SRV-ATTR:user_data"], "IyEvYmluL3NoCmVjaG8gaGk=");
        assert_eq!(s["OS-EXT-SRV-ATTR:root_device_name"], "/dev/vda");
        assert_eq!(
            (
                s["OS-EXT-SRV-ATTR:kernel_id"].as_str(),
                s["OS-EXT-SRV-ATTR:ramdisk_id"].as_str()
            ),
            (Some(""), Some(""))
        );
        assert!(
            s["OS-EXT-SRV-ATTR:hostname"]
                .as_str()
                .unwrap()
                .starts_with("ext"),
            "{s}"
        );
    }
    // Show agrees with the listing; 2.2 and non-admins see none of it.
    let id = mine[0]["id"].as_str().unwrap().to_string();
    let (_, _, one) = c
        .at(
            "2.3",
            &admin,
            Method::GET,
            &format!("/v2.1/servers/{id}"),
            None,
        )
        .await;
    for k in [
        "OS-EXT-SRV-ATTR:launch_index",
        "OS-EXT-SRV-ATTR:user_data",
        "OS-EXT-SRV-ATTR:hostname",
    ] {
        assert_eq!(one["server"][k], mine[0][k], "{k}");
    }
    for (token, v) in [(&admin, "2.2"), (&demo, "2.3")] {
        let (_, _, one) = c
            .at(v, token, Method::GET, &format!("/v2.1/servers/{id}"), None)
            .await;
        let (_, _, list) = c
            .at(v, token, Method::GET, "/v2.1/servers/detail", None)
            .await;
        for s in std::iter::once(&one["server"]).chain(list["servers"].as_array().unwrap()) {
            assert!(
                s.as_object()
                    .unwrap()
                    .keys()
                    .all(|k| !k.ends_with("launch_index") && !k.ends_with("user_data")),
                "{v}: {s}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fixed_ips_ip6_filters_public_flavor_access_and_locked_change_at_their_versions() {
    let c = Cloud::start().await;
    let admin = c.token("admin", "admin-pw", "admin").await;
    let demo = c.token("demo", "demo-pw", "demo").await;

    // 2.4: os-fixed-ips shows `reserved`.
    let (s, _, n) = c
        .at(
            "2.4",
            &admin,
            Method::POST,
            "/v2.1/os-networks",
            Some(json!({"network": {"label": "mv", "cidr": "10.44.0.0/24"}})),
        )
        .await;
    assert_eq!(s, 200, "{n}");
    for (v, shown) in [("2.3", false), ("2.4", true)] {
        let (s, _, f) = c
            .at(v, &admin, Method::GET, "/v2.1/os-fixed-ips/10.44.0.9", None)
            .await;
        assert_eq!(s, 200, "{f}");
        assert_eq!(f["fixed_ip"].get("reserved").is_some(), shown, "{v}: {f}");
    }

    // 2.5: `ip6` filters for everyone (no server has an IPv6 address); ignored for
    // non-admins before.
    let (s, _, b) = c
        .at(
            "2.5",
            &demo,
            Method::POST,
            "/v2.1/servers",
            Some(json!({"server": {"name": "mv5", "flavorRef": "42"}})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let id = b["server"]["id"].as_str().unwrap().to_string();
    for (v, token, seen) in [("2.4", &demo, 1), ("2.5", &demo, 0), ("2.1", &admin, 0)] {
        let (_, _, l) = c
            .at(v, token, Method::GET, "/v2.1/servers?ip6=fe80::1", None)
            .await;
        assert_eq!(l["servers"].as_array().unwrap().len(), seen, "{v}: {l}");
    }

    // 2.7: adding a project to a public flavor's access list is a 409 (kept before).
    for (v, want) in [("2.6", 200), ("2.7", 409)] {
        let (s, _, b) = c
            .at(
                v,
                &admin,
                Method::POST,
                "/v2.1/flavors/42/action",
                Some(json!({"addTenantAccess": {"tenant": format!("p{v}")}})),
            )
            .await;
        assert_eq!(s, want, "{v}: {b}");
    }

    // 2.9: `locked` in show, detail, update and rebuild.
    c.wait_status(&demo, &id, "ACTIVE").await;
    let show = format!("/v2.1/servers/{id}");
    let (_, _, b) = c.at("2.8", &demo, Method::GET, &show, None).await;
    assert!(b["server"].get("locked").is_none(), "{b}");
    let (_, _, b) = c.at("2.9", &demo, Method::GET, &show, None).await;
    assert_eq!(b["server"]["locked"], false, "{b}");
    let action = format!("/v2.1/servers/{id}/action");
    let (s, _, _) = c
        .at(
            "2.9",
            &demo,
            Method::POST,
            &action,
            Some(json!({"lock": null})),
        )
        .await;
    assert_eq!(s, 202);
    let (_, _, l) = c
        .at("2.9", &demo, Method::GET, "/v2.1/servers/detail", None)
        .await;
    assert_eq!(l["servers"][0]["locked"], true, "{l}");
    let (_, _, l) = c
        .at("2.8", &demo, Method::GET, "/v2.1/servers/detail", None)
        .await;
    assert!(l["servers"][0].get("locked").is_none(), "{l}");
    let (s, _, u) = c
        .at(
            "2.9",
            &admin,
            Method::PUT,
            &show,
            Some(json!({"server": {"name": "mv5b"}})),
        )
        .await;
    assert_eq!(
        (s, u["server"]["locked"].as_bool()),
        (200, Some(true)),
        "{u}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keypairs_of_other_users_services_forced_down_interfaces_groups_and_evacuate_at_2_10_to_2_15(
) {
    let c = Cloud::start().await;
    let admin = c.token("admin", "admin-pw", "admin").await;
    let demo = c.token("demo", "demo-pw", "demo").await;
    let keypairs = "/v2.1/os-keypairs";

    // 2.10: admins name another user's keypairs; others may not.
    let (s, _, own) = c
        .at(
            "2.10",
            &demo,
            Method::POST,
            keypairs,
            Some(json!({"keypair": {"name": "mine"}})),
        )
        .await;
    assert_eq!(s, 201, "{own}");
    let demo_user = own["keypair"]["user_id"].as_str().unwrap().to_string();
    let (s, _, made) = c
        .at(
            "2.10",
            &admin,
            Method::POST,
            keypairs,
            Some(json!({"keypair": {"name": "given", "user_id": demo_user}})),
        )
        .await;
    assert_eq!(
        (s, made["keypair"]["user_id"].as_str()),
        (201, Some(demo_user.as_str())),
        "{made}"
    );
    let names = |l: &Value| -> Vec<String> {
        let mut n: Vec<String> = l["keypairs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["keypair"]["name"].as_str().unwrap().to_string())
            .collect();
        n.sort();
        n
    };
    let (_, _, l) = c.at("2.10", &demo, Method::GET, keypairs, None).await;
    assert_eq!(names(&l), vec!["given", "mine"], "{l}");
    let of_demo = format!("{keypairs}?user_id={demo_user}");
    let (_, _, l) = c.at("2.10", &admin, Method::GET, &of_demo, None).await;
    assert_eq!(names(&l), vec!["given", "mine"], "{l}");
    // Before 2.10 the parameter is ignored: the admin's own (none).
    let (_, _, l) = c.at("2.9", &admin, Method::GET, &of_demo, None).await;
    assert_eq!(names(&l), Vec::<String>::new(), "{l}");
    let admin_user = {
        let (_, _, k) = c
            .at(
                "2.10",
                &admin,
                Method::POST,
                keypairs,
                Some(json!({"keypair": {"name": "adm"}})),
            )
            .await;
        k["keypair"]["user_id"].as_str().unwrap().to_string()
    };
    let (s, _, b) = c
        .at(
            "2.10",
            &demo,
            Method::GET,
            &format!("{keypairs}?user_id={admin_user}"),
            None,
        )
        .await;
    assert_eq!(s, 403, "{b}");
    let (s, _, _) = c
        .at(
            "2.10",
            &admin,
            Method::DELETE,
            &format!("{keypairs}/given?user_id={demo_user}"),
            None,
        )
        .await;
    assert_eq!(s, 204);

    // 2.11: `forced_down` shown and set.
    let (_, _, l) = c
        .at("2.11", &admin, Method::GET, "/v2.1/os-services", None)
        .await;
    let compute = l["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["binary"] == "nova-compute")
        .cloned()
        .expect("a compute service");
    assert_eq!(compute["forced_down"], false, "{l}");
    let (_, _, l) = c
        .at("2.10", &admin, Method::GET, "/v2.1/os-services", None)
        .await;
    assert!(l["services"][0].get("forced_down").is_none(), "{l}");
    let force = |v: &'static str, down: bool| {
        let (c, admin, host) = (&c, admin.clone(), compute["host"].clone());
        async move {
            c.at(
                v,
                &admin,
                Method::PUT,
                "/v2.1/os-services/force-down",
                Some(json!({"host": host, "binary": "nova-compute", "forced_down": down})),
            )
            .await
        }
    };
    assert_eq!(force("2.10", true).await.0, 404);
    let (s, _, b) = force("2.11", true).await;
    assert_eq!(
        (s, b["service"]["forced_down"].as_bool()),
        (200, Some(true)),
        "{b}"
    );
    let (s, _, b) = force("2.11", false).await;
    assert_eq!(
        (s, b["service"]["forced_down"].as_bool()),
        (200, Some(false)),
        "{b}"
    );

    // 2.12: an interface's `net_id`.
    let (s, _, n) = c
        .at(
            "2.12",
            &admin,
            Method::POST,
            "/v2.1/os-networks",
            Some(json!({"network": {"label": "mv12", "cidr": "10.45.0.0/24"}})),
        )
        .await;
    assert_eq!(s, 200, "{n}");
    let net = n["network"]["id"].as_str().unwrap().to_string();
    let (s, _, b) = c
        .at(
            "2.12",
            &demo,
            Method::POST,
            "/v2.1/servers",
            Some(
                json!({"server": {"name": "mv12", "flavorRef": "42", "networks": [{"uuid": net}]}}),
            ),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let vifs = format!(
        "/v2.1/servers/{}/os-virtual-interfaces",
        b["server"]["id"].as_str().unwrap()
    );
    let (_, _, v) = c.at("2.12", &demo, Method::GET, &vifs, None).await;
    assert_eq!(
        v["virtual_interfaces"][0]["net_id"].as_str(),
        Some(net.as_str()),
        "{v}"
    );
    let (_, _, v) = c.at("2.11", &demo, Method::GET, &vifs, None).await;
    assert!(v["virtual_interfaces"][0].get("net_id").is_none(), "{v}");

    // 2.13: groups show their owners; 2.15: the soft policies.
    let group = |v: &'static str, policy: &'static str| {
        let (c, demo) = (&c, demo.clone());
        async move {
            c.at(
                v,
                &demo,
                Method::POST,
                "/v2.1/os-server-groups",
                Some(json!({"server_group": {"name": format!("g{v}"), "policies": [policy]}})),
            )
            .await
        }
    };
    let (_, _, g) = group("2.12", "affinity").await;
    assert!(g["server_group"].get("project_id").is_none(), "{g}");
    let (_, _, g) = group("2.13", "affinity").await;
    assert_eq!(
        g["server_group"]["user_id"].as_str(),
        Some(demo_user.as_str()),
        "{g}"
    );
    assert!(g["server_group"]["project_id"].is_string(), "{g}");
    assert_eq!(group("2.14", "soft-affinity").await.0, 400);
    let (s, _, g) = group("2.15", "soft-anti-affinity").await;
    assert_eq!(
        (s, g["server_group"]["policies"][0].as_str()),
        (200, Some("soft-anti-affinity")),
        "{g}"
    );

    // 2.14: evacuate takes no `onSharedStorage` (checked before anything else).
    let evacuate = format!(
        "/v2.1/servers/{}/action",
        b["server"]["id"].as_str().unwrap()
    );
    let (s, _, e) = c
        .at(
            "2.14",
            &admin,
            Method::POST,
            &evacuate,
            Some(json!({"evacuate": {"onSharedStorage": false}})),
        )
        .await;
    assert_eq!(s, 400, "{e}");
    let (s, _, e) = c
        .at(
            "2.13",
            &admin,
            Method::POST,
            &evacuate,
            Some(json!({"evacuate": {}})),
        )
        .await;
    assert_eq!(s, 400, "onSharedStorage is required before 2.14: {e}");
}

/// A server made at `v` by `token` (ACTIVE), its id.
async fn active_server(c: &Cloud, v: &str, token: &str, server: Value) -> String {
    let (s, _, b) = c
        .at(
            v,
            token,
            Method::POST,
            "/v2.1/servers",
            Some(json!({ "server": server })),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let id = b["server"]["id"].as_str().unwrap().to_string();
    c.wait_status(token, &id, "ACTIVE").await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn host_status_descriptions_tags_and_crash_dumps_at_2_16_to_2_26() {
    let c = Cloud::start().await;
    let admin = c.token("admin", "admin-pw", "admin").await;
    let demo = c.token("demo", "demo-pw", "demo").await;

    // 2.19: a description at create; refused before.
    let (s, _, e) = c
        .at(
            "2.18",
            &demo,
            Method::POST,
            "/v2.1/servers",
            Some(json!({"server": {"name": "d", "flavorRef": "42", "description": "x"}})),
        )
        .await;
    assert_eq!(s, 400, "{e}");
    let id = active_server(
        &c,
        "2.19",
        &demo,
        json!({"name": "d", "flavorRef": "42", "description": "the first"}),
    )
    .await;
    let server = format!("/v2.1/servers/{id}");
    let (_, _, b) = c.at("2.19", &demo, Method::GET, &server, None).await;
    assert_eq!(b["server"]["description"], "the first", "{b}");
    let (_, _, b) = c.at("2.18", &demo, Method::GET, &server, None).await;
    assert!(b["server"].get("description").is_none(), "{b}");
    let long = "x".repeat(256);
    for bad in [json!(long), json!(5), json!("tab\there")] {
        let (s, _, e) = c
            .at(
                "2.19",
                &demo,
                Method::PUT,
                &server,
                Some(json!({"server": {"description": bad}})),
            )
            .await;
        assert_eq!(s, 400, "{bad}: {e}");
    }
    let (s, _, b) = c
        .at(
            "2.19",
            &demo,
            Method::PUT,
            &server,
            Some(json!({"server": {"description": null}})),
        )
        .await;
    assert_eq!((s, &b["server"]["description"]), (200, &Value::Null), "{b}");

    // 2.16: admins see the host's state; others never.
    let (_, _, b) = c.at("2.16", &admin, Method::GET, &server, None).await;
    assert_eq!(b["server"]["host_status"], "UP", "{b}");
    let (_, _, b) = c.at("2.15", &admin, Method::GET, &server, None).await;
    assert!(b["server"].get("host_status").is_none(), "{b}");
    let (_, _, b) = c.at("2.16", &demo, Method::GET, &server, None).await;
    assert!(b["server"].get("host_status").is_none(), "{b}");
    let (_, _, l) = c
        .at(
            "2.16",
            &admin,
            Method::GET,
            "/v2.1/servers/detail?all_tenants=1",
            None,
        )
        .await;
    assert!(
        l["servers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["host_status"] == "UP"),
        "{l}"
    );

    // 2.17: trigger_crash_dump, an NMI to a running guest (libvirt's test driver takes
    // and drops it), recorded; not while stopped; no such action before.
    let action = format!("{server}/action");
    let crash = json!({"trigger_crash_dump": null});
    let (s, _, e) = c
        .at("2.16", &demo, Method::POST, &action, Some(crash.clone()))
        .await;
    assert_eq!(s, 400, "{e}");
    let (s, _, e) = c
        .at(
            "2.17",
            &demo,
            Method::POST,
            &action,
            Some(json!({"trigger_crash_dump": {}})),
        )
        .await;
    assert_eq!(s, 400, "its body is null: {e}");
    let (s, _, e) = c
        .at("2.17", &demo, Method::POST, &action, Some(crash.clone()))
        .await;
    assert_eq!(s, 202, "{e}");
    let (_, _, a) = c
        .at(
            "2.17",
            &demo,
            Method::GET,
            &format!("{server}/os-instance-actions"),
            None,
        )
        .await;
    assert_eq!(
        a["instanceActions"][0]["action"], "trigger_crash_dump",
        "{a}"
    );
    let (s, _, _) = c
        .at(
            "2.17",
            &demo,
            Method::POST,
            &action,
            Some(json!({"os-stop": null})),
        )
        .await;
    assert_eq!(s, 202);
    c.wait_status(&demo, &id, "SHUTOFF").await;
    let (s, _, e) = c
        .at("2.17", &demo, Method::POST, &action, Some(crash.clone()))
        .await;
    assert_eq!(s, 409, "{e}");
    let (s, _, _) = c
        .at(
            "2.17",
            &demo,
            Method::POST,
            &action,
            Some(json!({"os-start": null})),
        )
        .await;
    assert_eq!(s, 202);
    c.wait_status(&demo, &id, "ACTIVE").await;

    // 2.26: tags; the routes are 404 before.
    let tags = format!("{server}/tags");
    let (s, _, _) = c.at("2.25", &demo, Method::GET, &tags, None).await;
    assert_eq!(s, 404);
    let (s, _, b) = c
        .at(
            "2.26",
            &demo,
            Method::PUT,
            &tags,
            Some(json!({"tags": ["b", "a", "a"]})),
        )
        .await;
    assert_eq!((s, &b["tags"]), (200, &json!(["a", "b"])), "{b}");
    for bad in ["x,y", &"t".repeat(61)] {
        let (s, _, e) = c
            .at(
                "2.26",
                &demo,
                Method::PUT,
                &tags,
                Some(json!({ "tags": [bad] })),
            )
            .await;
        assert_eq!(s, 400, "{bad}: {e}");
    }
    let (s, _, _) = c
        .at("2.26", &demo, Method::PUT, &format!("{tags}/c"), None)
        .await;
    assert_eq!(s, 201);
    let (s, _, _) = c
        .at("2.26", &demo, Method::PUT, &format!("{tags}/c"), None)
        .await;
    assert_eq!(s, 204, "an existing tag");
    let (s, _, _) = c
        .at("2.26", &demo, Method::GET, &format!("{tags}/zz"), None)
        .await;
    assert_eq!(s, 404);
    let (s, _, _) = c
        .at("2.26", &demo, Method::DELETE, &format!("{tags}/a"), None)
        .await;
    assert_eq!(s, 204);
    let (s, _, _) = c
        .at("2.26", &demo, Method::DELETE, &format!("{tags}/a"), None)
        .await;
    assert_eq!(s, 404, "a removed tag");
    let (_, _, b) = c.at("2.26", &demo, Method::GET, &server, None).await;
    assert_eq!(b["server"]["tags"], json!(["b", "c"]), "{b}");
    let (_, _, b) = c.at("2.25", &demo, Method::GET, &server, None).await;
    assert!(b["server"].get("tags").is_none(), "{b}");
    // 50 at most.
    let many: Vec<String> = (0..51).map(|i| format!("t{i}")).collect();
    let (s, _, e) = c
        .at(
            "2.26",
            &demo,
            Method::PUT,
            &tags,
            Some(json!({ "tags": many })),
        )
        .await;
    assert_eq!(s, 400, "{e}");
    let other = active_server(&c, "2.26", &demo, json!({"name": "o", "flavorRef": "42"})).await;
    let listed = |q: &'static str| {
        let (c, demo) = (&c, demo.clone());
        async move {
            let (s, _, l) = c
                .at(
                    "2.26",
                    &demo,
                    Method::GET,
                    &format!("/v2.1/servers?{q}"),
                    None,
                )
                .await;
            assert_eq!(s, 200, "{l}");
            let mut ids: Vec<String> = l["servers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["id"].as_str().unwrap().to_string())
                .collect();
            ids.sort();
            ids
        }
    };
    let mut both = vec![id.clone(), other.clone()];
    both.sort();
    assert_eq!(listed("tags=b,c").await, vec![id.clone()]);
    assert_eq!(listed("tags=b,zz").await, Vec::<String>::new());
    assert_eq!(listed("tags-any=zz,c").await, vec![id.clone()]);
    assert_eq!(listed("not-tags=b,c").await, vec![other.clone()]);
    assert_eq!(listed("not-tags=b,zz").await, both);
    assert_eq!(listed("not-tags-any=zz,c").await, vec![other.clone()]);
    let (s, _, _) = c.at("2.26", &demo, Method::DELETE, &tags, None).await;
    assert_eq!(s, 204);
    let (_, _, b) = c.at("2.26", &demo, Method::GET, &tags, None).await;
    assert_eq!(b["tags"], json!([]), "{b}");

    // 2.21: a deleted server's actions.
    let (s, _, _) = c.at("2.21", &demo, Method::DELETE, &server, None).await;
    assert_eq!(s, 204);
    let gone_deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (s, _, _) = c.at("2.21", &demo, Method::GET, &server, None).await;
        if s == 404 {
            break;
        }
        assert!(
            std::time::Instant::now() < gone_deadline,
            "server not deleted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let actions = format!("{server}/os-instance-actions");
    let (s, _, _) = c.at("2.20", &demo, Method::GET, &actions, None).await;
    assert_eq!(s, 404);
    let (s, _, a) = c.at("2.21", &demo, Method::GET, &actions, None).await;
    assert_eq!(
        (s, a["instanceActions"][0]["action"].as_str()),
        (200, Some("delete")),
        "{a}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migrations_hypervisors_keypairs_proxies_quotas_and_networks_at_2_23_to_2_39() {
    let c = Cloud::start().await;
    let admin = c.token("admin", "admin-pw", "admin").await;
    let demo = c.token("demo", "demo-pw", "demo").await;

    // 2.23: a server's migrations in progress (admins); none here.
    let id = active_server(&c, "2.23", &demo, json!({"name": "m", "flavorRef": "42"})).await;
    let migrations = format!("/v2.1/servers/{id}/migrations");
    let (s, _, _) = c.at("2.22", &admin, Method::GET, &migrations, None).await;
    assert_eq!(s, 404);
    let (s, _, b) = c.at("2.23", &admin, Method::GET, &migrations, None).await;
    assert_eq!((s, &b["migrations"]), (200, &json!([])), "{b}");
    let (s, _, _) = c.at("2.23", &demo, Method::GET, &migrations, None).await;
    assert_eq!(s, 403);

    // 2.28: cpu_info an object; a string of JSON before.
    let (_, _, h) = c
        .at(
            "2.27",
            &admin,
            Method::GET,
            "/v2.1/os-hypervisors/detail",
            None,
        )
        .await;
    let text = h["hypervisors"][0]["cpu_info"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, _, h) = c
        .at(
            "2.28",
            &admin,
            Method::GET,
            "/v2.1/os-hypervisors/detail",
            None,
        )
        .await;
    assert!(h["hypervisors"][0]["cpu_info"].is_object(), "{h}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        h["hypervisors"][0]["cpu_info"]
    );

    // 2.33: hypervisors page; an unknown marker is a 400.
    let (_, _, h) = c
        .at(
            "2.33",
            &admin,
            Method::GET,
            "/v2.1/os-hypervisors?limit=1",
            None,
        )
        .await;
    assert_eq!(h["hypervisors"].as_array().unwrap().len(), 1, "{h}");
    assert!(h["hypervisors_links"][0]["href"].is_string(), "{h}");
    let (s, _, _) = c
        .at(
            "2.33",
            &admin,
            Method::GET,
            "/v2.1/os-hypervisors?marker=999999",
            None,
        )
        .await;
    assert_eq!(s, 400);

    // 2.35: keypairs page by name.
    for name in ["k1", "k2", "k3"] {
        let (s, _, _) = c
            .at(
                "2.35",
                &demo,
                Method::POST,
                "/v2.1/os-keypairs",
                Some(json!({"keypair": {"name": name}})),
            )
            .await;
        assert_eq!(s, 201);
    }
    let (_, _, k) = c
        .at(
            "2.35",
            &demo,
            Method::GET,
            "/v2.1/os-keypairs?limit=2&marker=k1",
            None,
        )
        .await;
    let names: Vec<&str> = k["keypairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["keypair"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["k2", "k3"], "{k}");
    assert!(k["keypairs_links"][0]["href"]
        .as_str()
        .unwrap()
        .contains("marker=k3"));
    let (_, _, k) = c
        .at(
            "2.34",
            &demo,
            Method::GET,
            "/v2.1/os-keypairs?limit=1",
            None,
        )
        .await;
    assert_eq!(
        k["keypairs"].as_array().unwrap().len(),
        3,
        "not paged before 2.35"
    );

    // 2.36: the proxies are gone, and the network quotas and limits with them.
    for path in [
        "/v2.1/images",
        "/v2.1/os-floating-ips",
        "/v2.1/os-security-groups",
    ] {
        let (s, _, _) = c.at("2.35", &demo, Method::GET, path, None).await;
        assert_eq!(s, 200, "{path} at 2.35");
        let (s, _, _) = c.at("2.36", &demo, Method::GET, path, None).await;
        assert_eq!(s, 404, "{path} at 2.36");
    }
    let project = c.project_of(&demo).await;
    let quotas = format!("/v2.1/os-quota-sets/{project}");
    let (_, _, q) = c.at("2.35", &demo, Method::GET, &quotas, None).await;
    assert!(q["quota_set"]["floating_ips"].is_i64(), "{q}");
    let (_, _, q) = c.at("2.36", &demo, Method::GET, &quotas, None).await;
    assert!(q["quota_set"].get("floating_ips").is_none(), "{q}");
    assert!(q["quota_set"]["instances"].is_i64(), "{q}");
    let (s, _, _) = c
        .at(
            "2.36",
            &admin,
            Method::PUT,
            &quotas,
            Some(json!({"quota_set": {"security_groups": 5}})),
        )
        .await;
    assert_eq!(s, 400);
    let (_, _, l) = c.at("2.36", &demo, Method::GET, "/v2.1/limits", None).await;
    let absolute = &l["limits"]["absolute"];
    assert!(absolute.get("maxSecurityGroups").is_none(), "{l}");
    assert!(absolute["maxImageMeta"].is_i64(), "{l}");
    let (_, _, l) = c.at("2.39", &demo, Method::GET, "/v2.1/limits", None).await;
    assert!(l["limits"]["absolute"].get("maxImageMeta").is_none(), "{l}");

    // 2.37: `networks` is required, `none` and `auto` taken; a string before is a 400.
    let create = |v: &'static str, server: Value| {
        let (c, demo) = (&c, demo.clone());
        async move {
            c.at(
                v,
                &demo,
                Method::POST,
                "/v2.1/servers",
                Some(json!({ "server": server })),
            )
            .await
        }
    };
    let (s, _, e) = create("2.37", json!({"name": "n", "flavorRef": "42"})).await;
    assert_eq!(s, 400, "{e}");
    let (s, _, e) = create(
        "2.36",
        json!({"name": "n", "flavorRef": "42", "networks": "none"}),
    )
    .await;
    assert_eq!(s, 400, "{e}");
    for choice in ["none", "auto"] {
        let (s, _, b) = create(
            "2.37",
            json!({"name": "n", "flavorRef": "42", "networks": choice}),
        )
        .await;
        assert_eq!(s, 202, "{choice}: {b}");
    }

    // 2.38: an unknown status filter is a 400.
    let (s, _, _) = c
        .at(
            "2.37",
            &demo,
            Method::GET,
            "/v2.1/servers?status=NOPE",
            None,
        )
        .await;
    assert_eq!(s, 200);
    let (s, _, _) = c
        .at(
            "2.38",
            &demo,
            Method::GET,
            "/v2.1/servers?status=NOPE",
            None,
        )
        .await;
    assert_eq!(s, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn usage_aggregates_hosts_network_actions_images_flavors_and_diagnostics_at_2_40_to_2_48() {
    let c = Cloud::start().await;
    let admin = c.token("admin", "admin-pw", "admin").await;
    let demo = c.token("demo", "demo-pw", "demo").await;
    let project = c.project_of(&demo).await;
    let id = active_server(
        &c,
        "2.47",
        &demo,
        json!({"name": "u", "flavorRef": "42", "networks": "none"}),
    )
    .await;

    // os-simple-tenant-usage: every project's for admins, one's own for members.
    let period = "start=2000-01-01T00:00:00&end=2100-01-01T00:00:00";
    let (s, _, u) = c
        .at(
            "2.1",
            &admin,
            Method::GET,
            &format!("/v2.1/os-simple-tenant-usage?detailed=1&{period}"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{u}");
    let mine = u["tenant_usages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tenant_id"] == project.as_str())
        .unwrap_or_else(|| panic!("no usage of {project}: {u}"));
    let server = mine["server_usages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["instance_id"] == id.as_str())
        .unwrap_or_else(|| panic!("no usage of {id}: {mine}"));
    assert_eq!(
        (&server["state"], &server["flavor"], &server["ended_at"]),
        (&json!("active"), &json!("m1.nano"), &Value::Null),
        "{server}"
    );
    assert!(server["hours"].as_f64().unwrap() >= 0.0, "{server}");
    assert!(mine["total_hours"].as_f64().unwrap() >= server["hours"].as_f64().unwrap());
    let (s, _, _) = c
        .at(
            "2.1",
            &demo,
            Method::GET,
            &format!("/v2.1/os-simple-tenant-usage?{period}"),
            None,
        )
        .await;
    assert_eq!(s, 403, "every project's usage is an admin's");
    let (s, _, own) = c
        .at(
            "2.1",
            &demo,
            Method::GET,
            &format!("/v2.1/os-simple-tenant-usage/{project}?{period}"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{own}");
    assert!(
        !own["tenant_usage"]["server_usages"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{own}"
    );
    let (s, _, _) = c
        .at(
            "2.1",
            &demo,
            Method::GET,
            "/v2.1/os-simple-tenant-usage/another?start=2000-01-01",
            None,
        )
        .await;
    assert_eq!(s, 403);
    for bad in ["start=2100-01-01&end=2000-01-01", "start=yesterday"] {
        let (s, _, e) = c
            .at(
                "2.1",
                &admin,
                Method::GET,
                &format!("/v2.1/os-simple-tenant-usage?{bad}"),
                None,
            )
            .await;
        assert_eq!(s, 400, "{bad}: {e}");
    }
    // Nothing ran in a period long past: an empty usage.
    let (_, _, none) = c
        .at(
            "2.1",
            &demo,
            Method::GET,
            &format!("/v2.1/os-simple-tenant-usage/{project}?start=2000-01-01&end=2000-01-02"),
            None,
        )
        .await;
    assert_eq!(none["tenant_usage"], json!({}), "{none}");
    // 2.40: paged by server.
    let paged = format!("/v2.1/os-simple-tenant-usage/{project}?limit=1&{period}");
    let (_, _, p) = c.at("2.40", &demo, Method::GET, &paged, None).await;
    assert_eq!(
        p["tenant_usage"]["server_usages"].as_array().unwrap().len(),
        1,
        "{p}"
    );
    assert!(p["tenant_usage_links"][0]["href"].is_string(), "{p}");
    let (_, _, p) = c.at("2.39", &demo, Method::GET, &paged, None).await;
    assert!(p.get("tenant_usage_links").is_none(), "{p}");

    // 2.41: aggregates show their uuid.
    let (_, _, a) = c
        .at(
            "2.41",
            &admin,
            Method::POST,
            "/v2.1/os-aggregates",
            Some(json!({"aggregate": {"name": "mv41"}})),
        )
        .await;
    assert!(a["aggregate"]["uuid"].is_string(), "{a}");
    let agg = format!("/v2.1/os-aggregates/{}", a["aggregate"]["id"]);
    let (_, _, a) = c.at("2.40", &admin, Method::GET, &agg, None).await;
    assert!(a["aggregate"].get("uuid").is_none(), "{a}");

    // 2.43: os-hosts is gone; 2.44: the network actions and virtual interfaces.
    let (s, _, _) = c
        .at("2.42", &admin, Method::GET, "/v2.1/os-hosts", None)
        .await;
    assert_eq!(s, 200);
    let (s, _, _) = c
        .at("2.43", &admin, Method::GET, "/v2.1/os-hosts", None)
        .await;
    assert_eq!(s, 404);
    let server = format!("/v2.1/servers/{id}");
    let (s, _, _) = c
        .at(
            "2.44",
            &demo,
            Method::GET,
            &format!("{server}/os-virtual-interfaces"),
            None,
        )
        .await;
    assert_eq!(s, 404);
    let (s, _, _) = c
        .at(
            "2.44",
            &demo,
            Method::POST,
            &format!("{server}/action"),
            Some(json!({"addFloatingIp": {"address": "198.51.100.9"}})),
        )
        .await;
    assert_eq!(s, 404);

    // 2.45: createImage answers the image id, not a Location.
    let (s, h, b) = {
        let r = c
            .http
            .post(format!("{}{server}/action", c.nova))
            .header("x-auth-token", &demo)
            .header("openstack-api-version", "compute 2.45")
            .json(&json!({"createImage": {"name": "mv45"}}))
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        let h = r.headers().get("location").is_some();
        (s, h, r.json::<Value>().await.unwrap_or(Value::Null))
    };
    assert_eq!((s, h), (202, false), "{b}");
    assert!(b["image_id"].is_string(), "{b}");

    // 2.47: the flavor is embedded, in show and update alike.
    let (_, _, v) = c.at("2.47", &demo, Method::GET, &server, None).await;
    let f = &v["server"]["flavor"];
    assert_eq!(
        (&f["original_name"], &f["vcpus"], f.get("id")),
        (&json!("m1.nano"), &json!(1), None),
        "{v}"
    );
    assert!(f["extra_specs"].is_object(), "{f}");
    let (_, _, v) = c
        .at(
            "2.47",
            &demo,
            Method::PUT,
            &server,
            Some(json!({"server": {"name": "u2"}})),
        )
        .await;
    assert_eq!(v["server"]["flavor"]["original_name"], "m1.nano", "{v}");
    let (_, _, v) = c.at("2.46", &demo, Method::GET, &server, None).await;
    assert_eq!(v["server"]["flavor"]["id"], "42", "{v}");

    // Diagnostics (admins): libvirt's own keys, then (2.48) Nova's standard document.
    let diagnostics = format!("{server}/diagnostics");
    let (s, _, _) = c.at("2.48", &demo, Method::GET, &diagnostics, None).await;
    assert_eq!(s, 403);
    let (s, _, d) = c.at("2.47", &admin, Method::GET, &diagnostics, None).await;
    assert_eq!(s, 200, "{d}");
    assert!(
        d["cpu0_time"].is_u64() && d["memory"] == json!(64 * 1024),
        "{d}"
    );
    let (s, _, d) = c.at("2.48", &admin, Method::GET, &diagnostics, None).await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(
        (
            &d["state"],
            &d["driver"],
            &d["num_cpus"],
            &d["memory_details"]["maximum"]
        ),
        (&json!("running"), &json!("libvirt"), &json!(1), &json!(64)),
        "{d}"
    );
    assert!(d["uptime"].is_u64(), "{d}");
    // A stopped server has none to give.
    let (s, _, _) = c
        .at(
            "2.48",
            &demo,
            Method::POST,
            &format!("{server}/action"),
            Some(json!({"os-stop": null})),
        )
        .await;
    assert_eq!(s, 202);
    c.wait_status(&demo, &id, "SHUTOFF").await;
    let (s, _, e) = c.at("2.48", &admin, Method::GET, &diagnostics, None).await;
    assert_eq!(s, 409, "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn attach_tags_quota_classes_events_create_tags_and_uuid_ids_at_2_49_to_2_53() {
    let c = Cloud::start().await;
    let admin = c.token("admin", "admin-pw", "admin").await;
    let demo = c.token("demo", "demo-pw", "demo").await;

    // 2.52: tags at create (checked as the tags API checks them); refused before.
    let (s, _, e) = c
        .at(
            "2.51",
            &demo,
            Method::POST,
            "/v2.1/servers",
            Some(json!({"server": {"name": "t", "flavorRef": "42", "networks": "none", "tags": ["a"]}})),
        )
        .await;
    assert_eq!(s, 400, "{e}");
    let (s, _, e) = c
        .at(
            "2.52",
            &demo,
            Method::POST,
            "/v2.1/servers",
            Some(json!({"server": {"name": "t", "flavorRef": "42", "networks": "none", "tags": ["a,b"]}})),
        )
        .await;
    assert_eq!(s, 400, "{e}");
    let id = active_server(
        &c,
        "2.52",
        &demo,
        json!({"name": "t", "flavorRef": "42", "networks": "none", "tags": ["x", "y"]}),
    )
    .await;
    let server = format!("/v2.1/servers/{id}");
    let (_, _, v) = c.at("2.52", &demo, Method::GET, &server, None).await;
    assert_eq!(v["server"]["tags"], json!(["x", "y"]), "{v}");

    // 2.49: an interface attach takes a device tag (the simulated host then refuses
    // the plug itself: 400 either way, but for another reason).
    let attach = format!("{server}/os-interface");
    let (s, _, e) = c
        .at(
            "2.48",
            &demo,
            Method::POST,
            &attach,
            Some(json!({"interfaceAttachment": {"tag": "nic1"}})),
        )
        .await;
    assert_eq!(s, 400);
    assert!(e.to_string().contains("tag"), "{e}");
    let (_, _, e) = c
        .at(
            "2.49",
            &demo,
            Method::POST,
            &attach,
            Some(json!({"interfaceAttachment": {"tag": "nic1"}})),
        )
        .await;
    assert!(!e.to_string().contains("'tag' was unexpected"), "{e}");

    // 2.50: quota classes show the group quotas and drop the network ones.
    let class = "/v2.1/os-quota-class-sets/default";
    let (_, _, q) = c.at("2.49", &admin, Method::GET, class, None).await;
    assert!(q["quota_class_set"]["floating_ips"].is_i64(), "{q}");
    let (_, _, q) = c.at("2.50", &admin, Method::GET, class, None).await;
    let set = &q["quota_class_set"];
    assert!(
        set.get("floating_ips").is_none() && set["server_groups"].is_i64(),
        "{q}"
    );
    let (s, _, _) = c
        .at(
            "2.50",
            &admin,
            Method::PUT,
            class,
            Some(json!({"quota_class_set": {"security_groups": 3}})),
        )
        .await;
    assert_eq!(s, 400);

    // 2.51: members see an action's events.
    let (_, _, a) = c
        .at(
            "2.51",
            &demo,
            Method::GET,
            &format!("{server}/os-instance-actions"),
            None,
        )
        .await;
    let request = a["instanceActions"][0]["request_id"]
        .as_str()
        .unwrap()
        .to_string();
    let one = format!("{server}/os-instance-actions/{request}");
    let (_, _, a) = c.at("2.50", &demo, Method::GET, &one, None).await;
    assert!(a["instanceAction"].get("events").is_none(), "{a}");
    let (_, _, a) = c.at("2.51", &demo, Method::GET, &one, None).await;
    assert!(a["instanceAction"]["events"].is_array(), "{a}");

    // 2.53: services and hypervisors by UUID.
    let (_, _, l) = c
        .at("2.53", &admin, Method::GET, "/v2.1/os-services", None)
        .await;
    let compute = l["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["binary"] == "nova-compute")
        .unwrap()
        .clone();
    let sid = compute["id"].as_str().unwrap().to_string();
    assert_eq!(sid.len(), 36, "{compute}");
    let (_, _, l2) = c
        .at("2.52", &admin, Method::GET, "/v2.1/os-services", None)
        .await;
    assert!(l2["services"][0]["id"].is_i64(), "{l2}");
    let service = format!("/v2.1/os-services/{sid}");
    let (s, _, v) = c
        .at(
            "2.53",
            &admin,
            Method::PUT,
            &service,
            Some(json!({"status": "disabled", "disabled_reason": "maintenance"})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (
            &v["service"]["id"],
            &v["service"]["status"],
            &v["service"]["disabled_reason"]
        ),
        (&json!(sid), &json!("disabled"), &json!("maintenance")),
        "{v}"
    );
    for (body, what) in [
        (
            json!({"status": "enabled", "disabled_reason": "x"}),
            "a reason to enable",
        ),
        (json!({}), "nothing to change"),
        (json!({"status": "off"}), "an unknown status"),
    ] {
        let (s, _, e) = c
            .at("2.53", &admin, Method::PUT, &service, Some(body))
            .await;
        assert_eq!(s, 400, "{what}: {e}");
    }
    let (s, _, _) = c
        .at(
            "2.53",
            &admin,
            Method::PUT,
            &service,
            Some(json!({"status": "enabled", "forced_down": false})),
        )
        .await;
    assert_eq!(s, 200);
    // The 2.1 actions are gone (their names are no UUIDs); unknown UUIDs are 404s.
    let (s, _, _) = c
        .at(
            "2.53",
            &admin,
            Method::PUT,
            "/v2.1/os-services/disable",
            Some(json!({"host": "h", "binary": "nova-compute"})),
        )
        .await;
    assert_eq!(s, 400);
    let unknown = "/v2.1/os-services/00000000-0000-8000-8000-000000000000";
    let (s, _, _) = c.at("2.53", &admin, Method::DELETE, unknown, None).await;
    assert_eq!(s, 404);
    // A compute service hosting servers stays.
    let (s, _, e) = c.at("2.53", &admin, Method::DELETE, &service, None).await;
    assert_eq!(s, 409, "{e}");

    let (_, _, h) = c
        .at(
            "2.53",
            &admin,
            Method::GET,
            "/v2.1/os-hypervisors/detail?with_servers=true",
            None,
        )
        .await;
    let hyp = &h["hypervisors"][0];
    let hid = hyp["id"].as_str().unwrap().to_string();
    assert_eq!(hyp["service"]["id"], json!(sid), "{h}");
    assert!(
        hyp["servers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["uuid"] == id.as_str()),
        "{h}"
    );
    let (s, _, one) = c
        .at(
            "2.53",
            &admin,
            Method::GET,
            &format!("/v2.1/os-hypervisors/{hid}"),
            None,
        )
        .await;
    assert_eq!((s, &one["hypervisor"]["id"]), (200, &json!(hid)), "{one}");
    let (s, _, _) = c
        .at("2.53", &admin, Method::GET, "/v2.1/os-hypervisors/1", None)
        .await;
    assert_eq!(s, 400, "an id that is no UUID");
    let host = hyp["hypervisor_hostname"].as_str().unwrap().to_string();
    let (s, _, p) = c
        .at(
            "2.53",
            &admin,
            Method::GET,
            &format!("/v2.1/os-hypervisors?hypervisor_hostname_pattern={host}"),
            None,
        )
        .await;
    assert_eq!(
        (s, p["hypervisors"].as_array().unwrap().len()),
        (200, 1),
        "{p}"
    );
    let (s, _, _) = c
        .at(
            "2.53",
            &admin,
            Method::GET,
            "/v2.1/os-hypervisors?hypervisor_hostname_pattern=nowhere",
            None,
        )
        .await;
    assert_eq!(s, 404);
    let (s, _, _) = c
        .at(
            "2.53",
            &admin,
            Method::GET,
            &format!("/v2.1/os-hypervisors/{host}/search"),
            None,
        )
        .await;
    assert_eq!(s, 404, "search is gone");
    let (s, _, _) = c
        .at(
            "2.52",
            &admin,
            Method::GET,
            &format!("/v2.1/os-hypervisors/{host}/search"),
            None,
        )
        .await;
    assert_eq!(s, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rebuild_boot_data_flavor_descriptions_migrate_host_and_no_personality_at_2_54_to_2_57() {
    let c = Cloud::start().await;
    let admin = c.token("admin", "admin-pw", "admin").await;
    let demo = c.token("demo", "demo-pw", "demo").await;
    let project = c.project_of(&demo).await;
    let (s, _, _) = c
        .at(
            "2.57",
            &demo,
            Method::POST,
            "/v2.1/os-keypairs",
            Some(json!({"keypair": {"name": "k54"}})),
        )
        .await;
    assert_eq!(s, 201);
    let id = active_server(
        &c,
        "2.57",
        &demo,
        json!({"name": "r", "flavorRef": "42", "networks": "none"}),
    )
    .await;
    let server = format!("/v2.1/servers/{id}");
    let action = format!("{server}/action");
    let image = c.upload_image(&demo).await;
    let rebuild = |v: &'static str, args: Value| {
        let (c, demo, action) = (&c, demo.clone(), action.clone());
        async move {
            c.at(
                v,
                &demo,
                Method::POST,
                &action,
                Some(json!({ "rebuild": args })),
            )
            .await
        }
    };

    // 2.54: key_name on rebuild (refused before; an unknown key is a 400).
    let (s, _, e) = rebuild("2.53", json!({"imageRef": image, "key_name": "k54"})).await;
    assert_eq!(s, 400, "{e}");
    let (s, _, e) = rebuild("2.54", json!({"imageRef": image, "key_name": "nokey"})).await;
    assert_eq!(s, 400, "{e}");
    let (s, _, b) = rebuild("2.54", json!({"imageRef": image, "key_name": "k54"})).await;
    assert_eq!((s, &b["server"]["key_name"]), (202, &json!("k54")), "{b}");
    c.wait_status(&demo, &id, "ACTIVE").await;

    // 2.57: user data on rebuild (base64), shown in its answer; personality is gone.
    let (s, _, e) = rebuild(
        "2.57",
        json!({"imageRef": image, "user_data": "not base64!"}),
    )
    .await;
    assert_eq!(s, 400, "{e}");
    let (s, _, e) = rebuild(
        "2.57",
        json!({"imageRef": image, "personality": [{"path": "/f", "contents": "eA=="}]}),
    )
    .await;
    assert_eq!(s, 400, "{e}");
    let (s, _, b) = rebuild(
        "2.57",
        json!({"imageRef": image, "user_data": "IyEvYmluL3NoCg==", "key_name": null}),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    assert_eq!(
        (&b["server"]["user_data"], &b["server"]["key_name"]),
        (&json!("IyEvYmluL3NoCg=="), &Value::Null),
        "{b}"
    );
    c.wait_status(&demo, &id, "ACTIVE").await;
    let (_, _, v) = c.at("2.57", &admin, Method::GET, &server, None).await;
    assert_eq!(
        v["server"]["OS-EXT-SRV-ATTR:user_data"], "IyEvYmluL3NoCg==",
        "{v}"
    );
    let (_, _, l) = c.at("2.57", &demo, Method::GET, "/v2.1/limits", None).await;
    assert!(
        l["limits"]["absolute"].get("maxPersonality").is_none(),
        "{l}"
    );
    let (_, _, q) = c
        .at(
            "2.57",
            &demo,
            Method::GET,
            &format!("/v2.1/os-quota-sets/{project}"),
            None,
        )
        .await;
    assert!(q["quota_set"].get("injected_files").is_none(), "{q}");
    let (_, _, q) = c
        .at(
            "2.56",
            &demo,
            Method::GET,
            &format!("/v2.1/os-quota-sets/{project}"),
            None,
        )
        .await;
    assert!(q["quota_set"]["injected_files"].is_i64(), "{q}");

    // 2.55: flavor descriptions, set at create and by PUT (404 before).
    let (s, _, e) = c
        .at(
            "2.54",
            &admin,
            Method::POST,
            "/v2.1/flavors",
            Some(json!({"flavor": {"name": "d54", "ram": 64, "vcpus": 1, "disk": 0, "description": "x"}})),
        )
        .await;
    assert_eq!(s, 400, "{e}");
    let (s, _, f) = c
        .at(
            "2.55",
            &admin,
            Method::POST,
            "/v2.1/flavors",
            Some(json!({"flavor": {"name": "d55", "ram": 64, "vcpus": 1, "disk": 0, "description": "small"}})),
        )
        .await;
    assert_eq!(
        (s, &f["flavor"]["description"]),
        (200, &json!("small")),
        "{f}"
    );
    let fid = f["flavor"]["id"].as_str().unwrap().to_string();
    let flavor = format!("/v2.1/flavors/{fid}");
    let change = json!({"flavor": {"description": "smaller"}});
    let (s, _, _) = c
        .at("2.54", &admin, Method::PUT, &flavor, Some(change.clone()))
        .await;
    assert_eq!(s, 404);
    let (s, _, _) = c
        .at("2.55", &demo, Method::PUT, &flavor, Some(change.clone()))
        .await;
    assert_eq!(s, 403);
    let (s, _, f) = c
        .at("2.55", &admin, Method::PUT, &flavor, Some(change))
        .await;
    assert_eq!(
        (s, &f["flavor"]["description"]),
        (200, &json!("smaller")),
        "{f}"
    );
    let (_, _, l) = c
        .at("2.55", &demo, Method::GET, "/v2.1/flavors", None)
        .await;
    let listed: Vec<&Value> = l["flavors"].as_array().unwrap().iter().collect();
    assert!(listed.iter().all(|f| f.get("description").is_some()), "{l}");
    assert!(
        listed
            .iter()
            .any(|f| f["id"] == fid.as_str() && f["description"] == "smaller"),
        "{l}"
    );
    let (_, _, l) = c
        .at("2.54", &demo, Method::GET, "/v2.1/flavors/detail", None)
        .await;
    assert!(l["flavors"][0].get("description").is_none(), "{l}");

    // 2.56: migrate may name its host (checked; a host that is not one is refused).
    let (s, _, e) = c
        .at(
            "2.55",
            &admin,
            Method::POST,
            &action,
            Some(json!({"migrate": {"host": "elsewhere"}})),
        )
        .await;
    assert_eq!(s, 400, "{e}");
    let (s, _, e) = c
        .at(
            "2.56",
            &admin,
            Method::POST,
            &action,
            Some(json!({"migrate": {"host": 5}})),
        )
        .await;
    assert_eq!(s, 400, "{e}");
    let (s, _, e) = c
        .at(
            "2.56",
            &admin,
            Method::POST,
            &action,
            Some(json!({"migrate": {"host": "no-such-host"}})),
        )
        .await;
    assert!(s == 400 || s == 404 || s == 409, "an unknown host: {s} {e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn action_and_migration_paging_extra_specs_certificates_and_group_rules_at_2_58_to_2_64() {
    let c = Cloud::start().await;
    let admin = c.token("admin", "admin-pw", "admin").await;
    let demo = c.token("demo", "demo-pw", "demo").await;
    let id = active_server(
        &c,
        "2.64",
        &demo,
        json!({"name": "p", "flavorRef": "42", "networks": "none"}),
    )
    .await;
    let server = format!("/v2.1/servers/{id}");
    for action in [json!({"lock": null}), json!({"unlock": null})] {
        let (s, _, _) = c
            .at(
                "2.64",
                &demo,
                Method::POST,
                &format!("{server}/action"),
                Some(action),
            )
            .await;
        assert_eq!(s, 202);
    }

    // 2.58: actions page newest first with `updated_at` and a `next` link.
    let actions = format!("{server}/os-instance-actions");
    let (_, _, a) = c
        .at(
            "2.58",
            &demo,
            Method::GET,
            &format!("{actions}?limit=2"),
            None,
        )
        .await;
    let page = a["instanceActions"].as_array().unwrap();
    assert_eq!(
        page.iter()
            .map(|x| x["action"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["unlock", "lock"],
        "{a}"
    );
    assert!(page[0]["updated_at"].is_string(), "{a}");
    let next = a["links"][0]["href"].as_str().unwrap().to_string();
    assert!(next.contains("marker="), "{a}");
    let marker = page[1]["request_id"].as_str().unwrap();
    let (_, _, rest) = c
        .at(
            "2.58",
            &demo,
            Method::GET,
            &format!("{actions}?marker={marker}"),
            None,
        )
        .await;
    assert_eq!(rest["instanceActions"][0]["action"], "create", "{rest}");
    let (s, _, _) = c
        .at(
            "2.58",
            &demo,
            Method::GET,
            &format!("{actions}?marker=nope"),
            None,
        )
        .await;
    assert_eq!(s, 400);
    let (_, _, none) = c
        .at(
            "2.58",
            &demo,
            Method::GET,
            &format!("{actions}?changes-since=2100-01-01T00:00:00Z"),
            None,
        )
        .await;
    assert_eq!(none["instanceActions"], json!([]), "{none}");
    let (_, _, old) = c
        .at(
            "2.57",
            &demo,
            Method::GET,
            &format!("{actions}?limit=1"),
            None,
        )
        .await;
    assert_eq!(
        old["instanceActions"].as_array().unwrap().len(),
        3,
        "not paged before 2.58"
    );

    // 2.59: migrations page (none here, but the marker is checked).
    let (s, _, m) = c
        .at(
            "2.59",
            &admin,
            Method::GET,
            "/v2.1/os-migrations?limit=5",
            None,
        )
        .await;
    assert_eq!(s, 200, "{m}");
    let (s, _, _) = c
        .at(
            "2.59",
            &admin,
            Method::GET,
            "/v2.1/os-migrations?marker=nope",
            None,
        )
        .await;
    assert_eq!(s, 400);

    // 2.61: flavors show their extra specs.
    let (_, _, f) = c
        .at("2.61", &demo, Method::GET, "/v2.1/flavors/42", None)
        .await;
    assert!(f["flavor"]["extra_specs"].is_object(), "{f}");
    let (_, _, f) = c
        .at("2.60", &demo, Method::GET, "/v2.1/flavors/42", None)
        .await;
    assert!(f["flavor"].get("extra_specs").is_none(), "{f}");

    // 2.63: trusted certificates shown as null; giving some is refused (no verification).
    let (_, _, v) = c.at("2.63", &demo, Method::GET, &server, None).await;
    assert_eq!(
        v["server"]["trusted_image_certificates"],
        Value::Null,
        "{v}"
    );
    assert!(v["server"]
        .as_object()
        .unwrap()
        .contains_key("trusted_image_certificates"));
    let (s, _, e) = c
        .at(
            "2.63",
            &demo,
            Method::POST,
            "/v2.1/servers",
            Some(
                json!({"server": {"name": "c", "flavorRef": "42", "networks": "none",
                "trusted_image_certificates": ["abc"]}}),
            ),
        )
        .await;
    assert_eq!(s, 400, "{e}");

    // 2.64: one policy and its rules.
    let groups = "/v2.1/os-server-groups";
    let (s, _, g) = c
        .at(
            "2.64",
            &demo,
            Method::POST,
            groups,
            Some(
                json!({"server_group": {"name": "g", "policy": "anti-affinity",
                "rules": {"max_server_per_host": 2}}}),
            ),
        )
        .await;
    assert_eq!(s, 200, "{g}");
    assert_eq!(
        (&g["server_group"]["policy"], &g["server_group"]["rules"]),
        (&json!("anti-affinity"), &json!({"max_server_per_host": 2})),
        "{g}"
    );
    assert!(g["server_group"].get("policies").is_none(), "{g}");
    for bad in [
        json!({"server_group": {"name": "g", "policy": "affinity", "rules": {"max_server_per_host": 2}}}),
        json!({"server_group": {"name": "g", "policies": ["affinity"]}}),
        json!({"server_group": {"name": "g", "policy": "anti-affinity", "rules": {"max_server_per_host": 0}}}),
    ] {
        let (s, _, e) = c.at("2.64", &demo, Method::POST, groups, Some(bad)).await;
        assert_eq!(s, 400, "{e}");
    }
    let (_, _, g) = c
        .at(
            "2.63",
            &demo,
            Method::GET,
            &format!("{groups}/{}", g["server_group"]["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(
        g["server_group"]["policies"],
        json!(["anti-affinity"]),
        "{g}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn changes_before_bounds_servers_actions_and_migrations_from_2_66() {
    let c = Cloud::start().await;
    let admin = c.token("admin", "admin-pw", "admin").await;
    let demo = c.token("demo", "demo-pw", "demo").await;
    let id = active_server(
        &c,
        "2.66",
        &demo,
        json!({"name": "b", "flavorRef": "42", "networks": "none"}),
    )
    .await;
    let ids = |l: &Value| -> Vec<String> {
        l["servers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    };
    let past = "2000-01-01T00:00:00Z";
    let future = "2100-01-01T00:00:00Z";
    let (_, _, l) = c
        .at(
            "2.66",
            &demo,
            Method::GET,
            &format!("/v2.1/servers?changes-before={future}"),
            None,
        )
        .await;
    assert_eq!(ids(&l), vec![id.clone()], "{l}");
    let (_, _, l) = c
        .at(
            "2.66",
            &demo,
            Method::GET,
            &format!("/v2.1/servers/detail?changes-before={past}"),
            None,
        )
        .await;
    assert!(ids(&l).is_empty(), "{l}");
    // Ignored before 2.66.
    let (_, _, l) = c
        .at(
            "2.65",
            &demo,
            Method::GET,
            &format!("/v2.1/servers?changes-before={past}"),
            None,
        )
        .await;
    assert_eq!(ids(&l), vec![id.clone()], "{l}");
    // Since after before: 400, on every listing that takes both.
    let both = format!("changes-since={future}&changes-before={past}");
    for path in [
        format!("/v2.1/servers?{both}"),
        format!("/v2.1/servers/{id}/os-instance-actions?{both}"),
    ] {
        let (s, _, e) = c.at("2.66", &demo, Method::GET, &path, None).await;
        assert_eq!(s, 400, "{path}: {e}");
    }
    let (s, _, _) = c
        .at(
            "2.66",
            &admin,
            Method::GET,
            &format!("/v2.1/os-migrations?{both}"),
            None,
        )
        .await;
    assert_eq!(s, 400);
    // A deleted server is listed within the bounds, as with changes-since.
    let (s, _, _) = c
        .at(
            "2.66",
            &demo,
            Method::DELETE,
            &format!("/v2.1/servers/{id}"),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (_, _, l) = c
            .at(
                "2.66",
                &demo,
                Method::GET,
                &format!("/v2.1/servers/detail?changes-before={future}"),
                None,
            )
            .await;
        if l["servers"][0]["status"] == "DELETED" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{l}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (_, _, a) = c
        .at(
            "2.66",
            &demo,
            Method::GET,
            &format!("/v2.1/servers/{id}/os-instance-actions?changes-before={past}"),
            None,
        )
        .await;
    assert_eq!(a["instanceActions"], json!([]), "{a}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn volume_types_forced_evacuate_device_tags_groups_locks_destinations_and_cleanups_at_2_67_to_2_75(
) {
    let c = Cloud::start().await;
    let admin = c.token("admin", "admin-pw", "admin").await;
    let demo = c.token("demo", "demo-pw", "demo").await;

    // 2.67: a block device mapping may name a volume type (refused before).
    let bdm = json!({"name": "v", "flavorRef": "42", "networks": "none",
        "block_device_mapping_v2": [{"boot_index": 0, "uuid": "x", "source_type": "image",
            "destination_type": "local", "volume_type": "fast"}]});
    let (s, _, e) = c
        .at(
            "2.66",
            &demo,
            Method::POST,
            "/v2.1/servers",
            Some(json!({ "server": bdm })),
        )
        .await;
    assert_eq!(s, 400, "{e}");
    assert!(e.to_string().contains("volume_type"), "{e}");
    let (s, _, e) = c
        .at(
            "2.67",
            &demo,
            Method::POST,
            "/v2.1/servers",
            Some(json!({ "server": bdm })),
        )
        .await;
    assert!(!e.to_string().contains("volume_type"), "{s} {e}");

    // 2.70: the device tag a create gave a port is kept and shown on its attachment.
    let net = c.network(&admin, "tagged", "10.70.0.0/24").await;
    let id = active_server(
        &c,
        "2.70",
        &demo,
        json!({"name": "t", "flavorRef": "42", "networks": [{"uuid": net, "tag": "nic1"}]}),
    )
    .await;
    let server = format!("/v2.1/servers/{id}");
    let interfaces = format!("{server}/os-interface");
    let (_, _, l) = c.at("2.70", &demo, Method::GET, &interfaces, None).await;
    assert_eq!(l["interfaceAttachments"][0]["tag"], "nic1", "{l}");
    let port = l["interfaceAttachments"][0]["port_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, _, p) = c
        .at(
            "2.70",
            &demo,
            Method::GET,
            &format!("{interfaces}/{port}"),
            None,
        )
        .await;
    assert_eq!(p["interfaceAttachment"]["tag"], "nic1", "{p}");
    let (_, _, l) = c.at("2.69", &demo, Method::GET, &interfaces, None).await;
    assert!(l["interfaceAttachments"][0].get("tag").is_none(), "{l}");

    // 2.68: evacuate takes no `force`.
    let evacuate = format!("{server}/action");
    let forced = json!({"evacuate": {"host": "elsewhere", "force": true}});
    let (_, _, e) = c
        .at(
            "2.67",
            &admin,
            Method::POST,
            &evacuate,
            Some(forced.clone()),
        )
        .await;
    assert!(!e.to_string().contains("'force' was unexpected"), "{e}");
    let (s, _, e) = c
        .at("2.68", &admin, Method::POST, &evacuate, Some(forced))
        .await;
    assert_eq!(s, 400, "{e}");
    assert!(e.to_string().contains("'force' was unexpected"), "{e}");

    // 2.71: show, update and rebuild list the server's groups; the listing does not.
    let (s, _, g) = c
        .at(
            "2.71",
            &demo,
            Method::POST,
            "/v2.1/os-server-groups",
            Some(json!({"server_group": {"name": "g", "policy": "anti-affinity"}})),
        )
        .await;
    assert_eq!(s, 200, "{g}");
    let group = g["server_group"]["id"].as_str().unwrap().to_string();
    let (s, _, b) = c
        .at(
            "2.71",
            &demo,
            Method::POST,
            "/v2.1/servers",
            Some(
                json!({"server": {"name": "m", "flavorRef": "42", "networks": "none"},
                        "os:scheduler_hints": {"group": group}}),
            ),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let member = b["server"]["id"].as_str().unwrap().to_string();
    c.wait_status(&demo, &member, "ACTIVE").await;
    let member_path = format!("/v2.1/servers/{member}");
    let (_, _, v) = c.at("2.71", &demo, Method::GET, &member_path, None).await;
    assert_eq!(v["server"]["server_groups"], json!([group]), "{v}");
    let (_, _, v) = c.at("2.71", &demo, Method::GET, &server, None).await;
    assert_eq!(v["server"]["server_groups"], json!([]), "{v}");
    let (_, _, v) = c.at("2.70", &demo, Method::GET, &member_path, None).await;
    assert!(v["server"].get("server_groups").is_none(), "{v}");
    let (_, _, l) = c
        .at("2.71", &demo, Method::GET, "/v2.1/servers/detail", None)
        .await;
    assert!(l["servers"][0].get("server_groups").is_none(), "{l}");
    let rename = json!({"server": {"name": "m2"}});
    let (s, _, u) = c
        .at(
            "2.71",
            &demo,
            Method::PUT,
            &member_path,
            Some(rename.clone()),
        )
        .await;
    assert_eq!(
        (s, &u["server"]["server_groups"]),
        (200, &json!([group])),
        "{u}"
    );

    // 2.73: a lock's reason, shown until unlocked; `locked` filters listings.
    let action = format!("{member_path}/action");
    let why = json!({"lock": {"locked_reason": "audit"}});
    let (s, _, e) = c
        .at("2.72", &demo, Method::POST, &action, Some(why.clone()))
        .await;
    assert_eq!(s, 400, "{e}");
    let (s, _, e) = c.at("2.73", &demo, Method::POST, &action, Some(why)).await;
    assert_eq!(s, 202, "{e}");
    let (_, _, v) = c.at("2.73", &demo, Method::GET, &member_path, None).await;
    assert_eq!(
        (&v["server"]["locked"], &v["server"]["locked_reason"]),
        (&json!(true), &json!("audit")),
        "{v}"
    );
    let (_, _, v) = c.at("2.72", &demo, Method::GET, &member_path, None).await;
    assert!(v["server"].get("locked_reason").is_none(), "{v}");
    let (_, _, v) = c.at("2.73", &demo, Method::GET, &server, None).await;
    assert_eq!(v["server"]["locked_reason"], Value::Null, "{v}");
    let names = |l: &Value| -> Vec<String> {
        l["servers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, _, l) = c
        .at(
            "2.73",
            &demo,
            Method::GET,
            "/v2.1/servers?locked=true",
            None,
        )
        .await;
    assert_eq!(names(&l), vec!["m2"], "{l}");
    let (_, _, l) = c
        .at(
            "2.73",
            &demo,
            Method::GET,
            "/v2.1/servers/detail?locked=0",
            None,
        )
        .await;
    assert!(
        !names(&l).contains(&"m2".to_string()) && names(&l).contains(&"t".to_string()),
        "{l}"
    );
    let (s, _, _) = c
        .at(
            "2.73",
            &demo,
            Method::GET,
            "/v2.1/servers?locked=maybe",
            None,
        )
        .await;
    assert_eq!(s, 400);
    let (s, _, _) = c
        .at(
            "2.73",
            &demo,
            Method::POST,
            &action,
            Some(json!({"unlock": null})),
        )
        .await;
    assert_eq!(s, 202);
    let (_, _, v) = c.at("2.73", &demo, Method::GET, &member_path, None).await;
    assert_eq!(v["server"]["locked_reason"], Value::Null, "{v}");

    // 2.74: admins name the host to build on (an unknown one is a 400, members' a 403).
    let (_, _, h) = c
        .at(
            "2.74",
            &admin,
            Method::GET,
            "/v2.1/os-hypervisors/detail",
            None,
        )
        .await;
    let host = h["hypervisors"][0]["hypervisor_hostname"]
        .as_str()
        .unwrap()
        .to_string();
    let placed = json!({"name": "p", "flavorRef": "42", "networks": "none", "host": host,
        "hypervisor_hostname": host});
    let (s, _, e) = c
        .at(
            "2.73",
            &admin,
            Method::POST,
            "/v2.1/servers",
            Some(json!({ "server": placed })),
        )
        .await;
    assert_eq!(s, 400, "{e}");
    let (s, _, e) = c
        .at(
            "2.74",
            &demo,
            Method::POST,
            "/v2.1/servers",
            Some(json!({ "server": placed })),
        )
        .await;
    assert_eq!(s, 403, "{e}");
    let nowhere = json!({"name": "p", "flavorRef": "42", "networks": "none", "host": "nowhere"});
    let (s, _, e) = c
        .at(
            "2.74",
            &admin,
            Method::POST,
            "/v2.1/servers",
            Some(json!({ "server": nowhere })),
        )
        .await;
    assert_eq!(s, 400, "{e}");
    let placed_id = active_server(&c, "2.74", &admin, placed).await;
    let (_, _, v) = c
        .at(
            "2.74",
            &admin,
            Method::GET,
            &format!("/v2.1/servers/{placed_id}"),
            None,
        )
        .await;
    assert_eq!(v["server"]["OS-EXT-SRV-ATTR:host"], json!(host), "{v}");

    // 2.75: unknown query parameters are refused; update answers the whole server;
    // flavors without swap show 0; hypervisors asked for servers always show them.
    for path in [
        "/v2.1/servers?bogus=1",
        "/v2.1/flavors/detail?bogus=1",
        "/v2.1/limits?x=1",
    ] {
        let (s, _, _) = c.at("2.74", &demo, Method::GET, path, None).await;
        assert_eq!(s, 200, "{path}");
        let (s, _, e) = c.at("2.75", &demo, Method::GET, path, None).await;
        assert_eq!(s, 400, "{path}: {e}");
    }
    let (_, _, u) = c
        .at(
            "2.74",
            &demo,
            Method::PUT,
            &member_path,
            Some(rename.clone()),
        )
        .await;
    assert!(u["server"].get("OS-EXT-STS:vm_state").is_none(), "{u}");
    let (_, _, u) = c
        .at("2.75", &demo, Method::PUT, &member_path, Some(rename))
        .await;
    let (_, _, shown) = c.at("2.75", &demo, Method::GET, &member_path, None).await;
    let mut updated = u["server"].clone();
    let mut shown = shown["server"].clone();
    for v in [&mut updated, &mut shown] {
        v.as_object_mut().unwrap().remove("updated");
    }
    assert_eq!(updated, shown);
    let (_, _, f) = c
        .at("2.74", &demo, Method::GET, "/v2.1/flavors/42", None)
        .await;
    assert_eq!(f["flavor"]["swap"], "", "{f}");
    let (_, _, f) = c
        .at("2.75", &demo, Method::GET, "/v2.1/flavors/42", None)
        .await;
    assert_eq!(f["flavor"]["swap"], 0, "{f}");
    let (_, _, h) = c
        .at(
            "2.75",
            &admin,
            Method::GET,
            "/v2.1/os-hypervisors/detail?with_servers=true",
            None,
        )
        .await;
    assert!(h["hypervisors"][0]["servers"].is_array(), "{h}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn topology_image_pre_caching_and_members_filters_at_2_78_to_2_83() {
    let config = crate::openstack::config();
    let cache = config.compute.image_cache_path.clone().unwrap();
    let c = Cloud::start_with(config).await;
    let admin = c.token("admin", "admin-pw", "admin").await;
    let demo = c.token("demo", "demo-pw", "demo").await;
    let id = active_server(
        &c,
        "2.78",
        &demo,
        json!({"name": "topo", "flavorRef": "42", "networks": "none"}),
    )
    .await;

    // 2.78: a server's NUMA topology (none is given to guests here).
    let topology = format!("/v2.1/servers/{id}/topology");
    let (s, _, _) = c.at("2.77", &demo, Method::GET, &topology, None).await;
    assert_eq!(s, 404);
    let (s, _, t) = c.at("2.78", &demo, Method::GET, &topology, None).await;
    assert_eq!((s, t), (200, json!({"nodes": [], "pagesize_kb": null})));
    let (s, _, _) = c
        .at(
            "2.78",
            &demo,
            Method::GET,
            "/v2.1/servers/nope/topology",
            None,
        )
        .await;
    assert_eq!(s, 404);

    // 2.81: every host of an aggregate fetches the images into its cache.
    let image = c.upload_image(&admin).await;
    let (_, _, h) = c
        .at(
            "2.81",
            &admin,
            Method::GET,
            "/v2.1/os-hypervisors/detail",
            None,
        )
        .await;
    let host = h["hypervisors"][0]["hypervisor_hostname"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, _, a) = c
        .at(
            "2.81",
            &admin,
            Method::POST,
            "/v2.1/os-aggregates",
            Some(json!({"aggregate": {"name": "cached"}})),
        )
        .await;
    assert_eq!(s, 200, "{a}");
    let agg = a["aggregate"]["id"].to_string();
    let (s, _, a) = c
        .at(
            "2.81",
            &admin,
            Method::POST,
            &format!("/v2.1/os-aggregates/{agg}/action"),
            Some(json!({"add_host": {"host": host}})),
        )
        .await;
    assert_eq!(s, 200, "{a}");
    let images = format!("/v2.1/os-aggregates/{agg}/images");
    let cache_of = |ids: Value| Some(json!({ "cache": ids }));
    let (s, _, _) = c
        .at(
            "2.80",
            &admin,
            Method::POST,
            &images,
            cache_of(json!([{"id": image}])),
        )
        .await;
    assert_eq!(s, 404);
    for (body, status) in [
        (cache_of(json!([])), 400),
        (cache_of(json!([{"id": image}, {"id": image}])), 400),
        (cache_of(json!([{"id": "not-a-uuid"}])), 400),
        (
            cache_of(json!([{"id": "00000000-0000-4000-8000-000000000000"}])),
            400,
        ),
    ] {
        let (s, _, e) = c.at("2.81", &admin, Method::POST, &images, body).await;
        assert_eq!(s, status, "{e}");
    }
    let (s, _, e) = c
        .at(
            "2.81",
            &demo,
            Method::POST,
            &images,
            cache_of(json!([{"id": image}])),
        )
        .await;
    assert_eq!(s, 403, "{e}");
    let (s, _, e) = c
        .at(
            "2.81",
            &admin,
            Method::POST,
            "/v2.1/os-aggregates/99999/images",
            cache_of(json!([{"id": image}])),
        )
        .await;
    assert_eq!(s, 404, "{e}");
    assert!(!cache.join(&image).exists());
    let (s, _, e) = c
        .at(
            "2.81",
            &admin,
            Method::POST,
            &images,
            cache_of(json!([{"id": image}])),
        )
        .await;
    assert_eq!(s, 202, "{e}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !cache.join(&image).is_file() {
        assert!(std::time::Instant::now() < deadline, "{image} never cached");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // 2.83: members filter by the server's own fields too (ignored before, as Nova).
    let names = |l: &Value| -> Vec<String> {
        l["servers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect()
    };
    for (query, want) in [
        ("vm_state=active", vec!["topo"]),
        ("vm_state=stopped", vec![]),
        ("power_state=1", vec!["topo"]),
        ("availability_zone=elsewhere", vec![]),
        ("availability_zone=nova", vec!["topo"]),
        ("key_name=none-such", vec![]),
    ] {
        let path = format!("/v2.1/servers?{query}");
        let (_, _, l) = c.at("2.83", &demo, Method::GET, &path, None).await;
        assert_eq!(names(&l), want, "{query}: {l}");
        let (_, _, l) = c.at("2.82", &demo, Method::GET, &path, None).await;
        assert_eq!(names(&l), vec!["topo"], "ignored before 2.83: {query}: {l}");
    }
    // Admins filter at every version.
    let (_, _, l) = c
        .at(
            "2.1",
            &admin,
            Method::GET,
            "/v2.1/servers?all_tenants=1&vm_state=stopped",
            None,
        )
        .await;
    assert_eq!(names(&l), Vec::<String>::new(), "{l}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn extra_spec_validation_and_hypervisor_uptime_at_2_86_to_2_88() {
    let c = Cloud::start().await;
    let admin = c.token("admin", "admin-pw", "admin").await;

    // 2.86: specs in Nova's namespaces are checked; others pass.
    let specs = "/v2.1/flavors/42/os-extra_specs";
    let bad = json!({"extra_specs": {"hw:cpu_policy": "sharred"}});
    let (s, _, e) = c
        .at("2.85", &admin, Method::POST, specs, Some(bad.clone()))
        .await;
    assert_eq!(s, 200, "{e}");
    for body in [
        bad,
        json!({"extra_specs": {"hw:no_such_spec": "1"}}),
        json!({"extra_specs": {"hw:numa_nodes": "0"}}),
    ] {
        let (s, _, e) = c.at("2.86", &admin, Method::POST, specs, Some(body)).await;
        assert_eq!(s, 400, "{e}");
        assert!(
            e["badRequest"]["message"]
                .as_str()
                .unwrap()
                .starts_with("Validation failed;"),
            "{e}"
        );
    }
    let good = json!({"extra_specs": {"hw:cpu_policy": "dedicated", "custom:thing": "x"}});
    let (s, _, e) = c.at("2.86", &admin, Method::POST, specs, Some(good)).await;
    assert_eq!(s, 200, "{e}");
    let (s, _, e) = c
        .at(
            "2.86",
            &admin,
            Method::PUT,
            &format!("{specs}/hw:watchdog_action"),
            Some(json!({"hw:watchdog_action": "explode"})),
        )
        .await;
    assert_eq!(s, 400, "{e}");

    // 2.88: hypervisors show uptime instead of their figures; statistics and uptime go.
    let (_, _, d) = c
        .at(
            "2.87",
            &admin,
            Method::GET,
            "/v2.1/os-hypervisors/detail",
            None,
        )
        .await;
    let old = &d["hypervisors"][0];
    assert!(old["vcpus"].is_u64() && old.get("uptime").is_none(), "{d}");
    let id = old["id"].as_str().unwrap().to_string();
    let (_, _, d) = c
        .at(
            "2.88",
            &admin,
            Method::GET,
            "/v2.1/os-hypervisors/detail",
            None,
        )
        .await;
    let (_, _, one) = c
        .at(
            "2.88",
            &admin,
            Method::GET,
            &format!("/v2.1/os-hypervisors/{id}"),
            None,
        )
        .await;
    for h in [&d["hypervisors"][0], &one["hypervisor"]] {
        assert!(
            h.get("vcpus").is_none() && h.get("cpu_info").is_none(),
            "{h}"
        );
        assert!(
            h["uptime"]
                .as_str()
                .is_some_and(|u| u.contains("load average")),
            "{h}"
        );
    }
    for path in [
        "/v2.1/os-hypervisors/statistics".to_string(),
        format!("/v2.1/os-hypervisors/{id}/uptime"),
    ] {
        let (s, _, _) = c.at("2.87", &admin, Method::GET, &path, None).await;
        assert_eq!(s, 200, "{path}");
        let (s, _, _) = c.at("2.88", &admin, Method::GET, &path, None).await;
        assert_eq!(s, 404, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostnames_at_2_90_and_generated_keypairs_until_announced_otherwise() {
    let c = Cloud::start().await;
    let demo = c.token("demo", "demo-pw", "demo").await;

    // 2.90: a create names the guest's hostname, which every reader sees.
    let named = json!({"name": "Web Server", "flavorRef": "42", "networks": "none",
        "hostname": "web-1"});
    let (s, _, e) = c
        .at(
            "2.89",
            &demo,
            Method::POST,
            "/v2.1/servers",
            Some(json!({ "server": named })),
        )
        .await;
    assert_eq!(s, 400, "{e}");
    for bad in ["-web", "w", "web.example.com", "web_1"] {
        let body = json!({"server": {"name": "x", "flavorRef": "42", "networks": "none",
            "hostname": bad}});
        let (s, _, e) = c
            .at("2.90", &demo, Method::POST, "/v2.1/servers", Some(body))
            .await;
        assert_eq!(s, 400, "{bad}: {e}");
    }
    let two = json!({"server": {"name": "x", "flavorRef": "42", "networks": "none",
        "hostname": "twin", "min_count": 2}});
    let (s, _, e) = c
        .at("2.90", &demo, Method::POST, "/v2.1/servers", Some(two))
        .await;
    assert_eq!(s, 400, "{e}");
    let id = active_server(&c, "2.90", &demo, named).await;
    let server = format!("/v2.1/servers/{id}");
    let (_, _, v) = c.at("2.90", &demo, Method::GET, &server, None).await;
    assert_eq!(v["server"]["OS-EXT-SRV-ATTR:hostname"], "web-1", "{v}");
    let (_, _, v) = c.at("2.89", &demo, Method::GET, &server, None).await;
    assert!(v["server"].get("OS-EXT-SRV-ATTR:hostname").is_none(), "{v}");
    let (_, _, l) = c
        .at("2.90", &demo, Method::GET, "/v2.1/servers/detail", None)
        .await;
    assert_eq!(l["servers"][0]["OS-EXT-SRV-ATTR:hostname"], "web-1", "{l}");
    // Update and rebuild change it; 2.94 takes a fully qualified name.
    let (s, _, u) = c
        .at(
            "2.90",
            &demo,
            Method::PUT,
            &server,
            Some(json!({"server": {"hostname": "web-2"}})),
        )
        .await;
    assert_eq!(
        (s, &u["server"]["OS-EXT-SRV-ATTR:hostname"]),
        (200, &json!("web-2")),
        "{u}"
    );
    // A fully qualified name is 2.94's (not announced: see `microversion::PENDING`).
    let fqdn = json!({"server": {"hostname": "web-3.example.com"}});
    let (s, _, _) = c.at("2.91", &demo, Method::PUT, &server, Some(fqdn)).await;
    assert_eq!(s, 400);
    let (s, _, b) = c
        .at(
            "2.91",
            &demo,
            Method::POST,
            &format!("{server}/action"),
            Some(json!({"rebuild": {"imageRef": "", "hostname": "web-4"}})),
        )
        .await;
    // No image to rebuild from here: refused, and the hostname is untouched.
    assert_eq!(s, 400, "{b}");
    let (_, _, v) = c.at("2.91", &demo, Method::GET, &server, None).await;
    assert_eq!(v["server"]["OS-EXT-SRV-ATTR:hostname"], "web-2", "{v}");

    // Up to 2.91 the cloud still makes key pairs, and names hold no `@` or `.`.
    let (s, _, k) = c
        .at(
            "2.91",
            &demo,
            Method::POST,
            "/v2.1/os-keypairs",
            Some(json!({"keypair": {"name": "made"}})),
        )
        .await;
    assert_eq!(s, 201, "{k}");
    assert!(k["keypair"]["private_key"].is_string(), "{k}");
    let public = k["keypair"]["public_key"].as_str().unwrap().to_string();
    let dotted = json!({"keypair": {"name": "me@host.example", "public_key": public}});
    let (s, _, e) = c
        .at(
            "2.91",
            &demo,
            Method::POST,
            "/v2.1/os-keypairs",
            Some(dotted),
        )
        .await;
    assert_eq!(s, 400, "{e}");
}
