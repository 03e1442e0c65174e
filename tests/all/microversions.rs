//! Compute API microversions over real HTTP (issue 16): each change appears exactly from
//! its version on. Tempest's own schemas for every announced version are walked by
//! `tests/conformance/microversions.sh` (in the test command).

use crate::openstack::Cloud;
use reqwest::Method;
use serde_json::{json, Value};

impl Cloud {
    /// A call at microversion `v` (the standard header): status, version header, body.
    async fn at(
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
    assert_eq!(doc["versions"][1]["version"], "2.9", "{doc}");

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
