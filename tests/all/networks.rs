//! Nova 2.1's network APIs through the OpenStack dialect over real HTTP: os-networks and
//! os-tenant-networks, ports made at server create (`networks`), `addresses` in the views,
//! floating IPs (pools, bulk, quota, add/removeFloatingIp), fixed IPs, security groups and
//! rules (validation, quota, add/removeSecurityGroup), interfaces; the admin API's networks
//! and floating ranges; deleting a server gives its address back.

use crate::openstack::Cloud;
use metacloud_tests::wait_for;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

impl Cloud {
    async fn post(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        let (s, _, b) = self.call(token, Method::POST, path, Some(body)).await;
        (s, b)
    }

    async fn put(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        let (s, _, b) = self.call(token, Method::PUT, path, Some(body)).await;
        (s, b)
    }

    async fn delete(&self, token: &str, path: &str) -> (u16, Value) {
        let (s, _, b) = self.call(token, Method::DELETE, path, None).await;
        (s, b)
    }

    /// Creates a network as `token` (admin); returns its id.
    pub(crate) async fn network(&self, token: &str, label: &str, cidr: &str) -> String {
        let (s, b) = self
            .post(
                token,
                "/v2.1/os-networks",
                json!({"network": {"label": label, "cidr": cidr, "dns1": "8.8.8.8"}}),
            )
            .await;
        assert_eq!(s, 200, "{b}");
        b["network"]["id"].as_str().unwrap().to_string()
    }

    async fn server(&self, token: &str, server: Value) -> (u16, Value) {
        self.post(token, "/v2.1/servers", json!({ "server": server }))
            .await
    }

    async fn action(&self, token: &str, id: &str, body: Value) -> (u16, Value) {
        self.post(token, &format!("/v2.1/servers/{id}/action"), body)
            .await
    }

    /// How many fixed addresses the servers of every project hold (from their views).
    async fn held(&self, admin: &str) -> usize {
        let (_, l) = self.get(admin, "/v2.1/servers/detail?all_tenants=1").await;
        let held = l["servers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                s["addresses"]
                    .as_object()
                    .map(|m| {
                        m.values()
                            .flat_map(|v| v.as_array().cloned().unwrap_or_default())
                            .filter(|a| a["OS-EXT-IPS:type"] == "fixed")
                            .count()
                    })
                    .unwrap_or(0)
            })
            .sum::<usize>();
        held
    }
}

fn fixed_of(server: &Value, label: &str) -> Vec<String> {
    server["addresses"][label]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|a| a["OS-EXT-IPS:type"] == "fixed")
        .map(|a| a["addr"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn networks_ports_and_addresses_as_nova_network_served_them() {
    let c = Cloud::start().await;
    let admin = c.token("admin", "admin-pw", "admin").await;
    let demo = c.token("demo", "demo-pw", "demo").await;
    let demo_project = c.project_of(&demo).await;

    // Without networks servers boot as before, with no addresses.
    let (s, b) = c
        .server(&demo, json!({"name": "bare", "flavorRef": "42"}))
        .await;
    assert_eq!(s, 202, "{b}");
    let bare = b["server"]["id"].as_str().unwrap().to_string();
    assert_eq!(b["server"]["security_groups"], json!([{"name": "default"}]));

    // os-networks: admin only for create/delete; a tenant gets 403.
    let (s, b) = c
        .post(
            &demo,
            "/v2.1/os-networks",
            json!({"network": {"label": "nope", "cidr": "10.9.0.0/24"}}),
        )
        .await;
    assert_eq!(
        (s, b["forbidden"]["code"].as_u64()),
        (403, Some(403)),
        "{b}"
    );
    let net = c.network(&admin, "private", "10.0.0.0/24").await;
    let (s, b) = c.get(&admin, &format!("/v2.1/os-networks/{net}")).await;
    assert_eq!(s, 200);
    let n = &b["network"];
    assert_eq!(
        (
            n["label"].as_str(),
            n["cidr"].as_str(),
            n["gateway"].as_str(),
            n["netmask"].as_str(),
            n["broadcast"].as_str(),
            n["dhcp_start"].as_str(),
            n["dns1"].as_str(),
        ),
        (
            Some("private"),
            Some("10.0.0.0/24"),
            Some("10.0.0.1"),
            Some("255.255.255.0"),
            Some("10.0.0.255"),
            Some("10.0.0.2"),
            Some("8.8.8.8")
        ),
        "{b}"
    );
    // A tenant sees the shared network, without the admin fields.
    let (s, b) = c.get(&demo, "/v2.1/os-networks").await;
    assert_eq!(s, 200);
    let list = b["networks"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert!(list[0].get("project_id").is_none(), "{b}");
    let (s, b) = c.delete(&demo, &format!("/v2.1/os-networks/{net}")).await;
    assert_eq!(s, 403, "{b}");
    // Bad creates: overlapping, invalid CIDR, a missing label.
    let (s, b) = c
        .post(
            &admin,
            "/v2.1/os-networks",
            json!({"network": {"label": "again", "cidr": "10.0.0.0/25"}}),
        )
        .await;
    assert_eq!(s, 409, "{b}");
    let (s, b) = c
        .post(
            &admin,
            "/v2.1/os-networks",
            json!({"network": {"label": "bad", "cidr": "10.0.0.5/24"}}),
        )
        .await;
    assert_eq!(
        (s, b["badRequest"]["code"].as_u64()),
        (400, Some(400)),
        "{b}"
    );
    let (s, _) = c
        .post(
            &admin,
            "/v2.1/os-networks",
            json!({"network": {"cidr": "10.7.0.0/24"}}),
        )
        .await;
    assert_eq!(s, 400);

    // Server create: no `networks` → a port on every usable network; given ones; a fixed
    // address; `none`; unknown network and an address outside → 400 and nothing made.
    let (s, b) = c
        .server(&demo, json!({"name": "auto", "flavorRef": "42"}))
        .await;
    assert_eq!(s, 202, "{b}");
    let auto = b["server"]["id"].as_str().unwrap().to_string();
    let (s, b) = c
        .server(
            &demo,
            json!({"name": "pinned", "flavorRef": "42",
                "networks": [{"uuid": net, "fixed_ip": "10.0.0.50"}]}),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let pinned = b["server"]["id"].as_str().unwrap().to_string();
    // No network at all: `none`, which the compute API takes from 2.37.
    let (s, _, b) = c
        .at(
            "2.37",
            &demo,
            reqwest::Method::POST,
            "/v2.1/servers",
            Some(json!({"server": {"name": "isolated", "flavorRef": "42", "networks": "none"}})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let isolated = b["server"]["id"].as_str().unwrap().to_string();
    let (s, b) = c
        .server(
            &demo,
            json!({"name": "lost", "flavorRef": "42",
                "networks": [{"uuid": "no-such-network"}]}),
        )
        .await;
    assert_eq!(
        (s, b["badRequest"]["message"].as_str()),
        (400, Some("Network no-such-network could not be found.")),
        "{b}"
    );
    let (s, b) = c
        .server(
            &demo,
            json!({"name": "lost", "flavorRef": "42",
                "networks": [{"uuid": net, "fixed_ip": "192.168.1.5"}]}),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    let (s, b) = c
        .server(
            &demo,
            json!({"name": "lost", "flavorRef": "42",
                "networks": [{"uuid": net, "fixed_ip": "10.0.0.50"}]}),
        )
        .await;
    assert_eq!(s, 400, "address in use: {b}");
    let (s, b) = c
        .server(
            &demo,
            json!({"name": "lost", "flavorRef": "42", "networks": [{"uuid": net, "fixed_ip": "x"}]}),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    let (_, l) = c.get(&demo, "/v2.1/servers?name=^lost$").await;
    assert_eq!(l["servers"].as_array().unwrap().len(), 0, "{l}");

    // Addresses in show, in the detailed listing and in os-interface/os-virtual-interfaces.
    c.wait_status(&demo, &auto, "ACTIVE").await;
    let (_, b) = c.get(&demo, &format!("/v2.1/servers/{auto}")).await;
    let addrs = &b["server"]["addresses"]["private"];
    assert_eq!(addrs.as_array().map(Vec::len), Some(1), "{b}");
    assert_eq!(addrs[0]["version"], 4);
    assert_eq!(addrs[0]["OS-EXT-IPS:type"], "fixed");
    assert!(addrs[0]["OS-EXT-IPS-MAC:mac_addr"]
        .as_str()
        .unwrap()
        .starts_with("fa:16:3e:"));
    let auto_ip = addrs[0]["addr"].as_str().unwrap().to_string();
    assert!(auto_ip.starts_with("10.0.0."), "{auto_ip}");
    assert_eq!(b["server"]["security_groups"], json!([{"name": "default"}]));
    let (_, d) = c.get(&demo, "/v2.1/servers/detail").await;
    let by_name = |name: &str| {
        d["servers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(fixed_of(&by_name("pinned"), "private"), vec!["10.0.0.50"]);
    assert_eq!(fixed_of(&by_name("auto"), "private"), vec![auto_ip.clone()]);
    assert_eq!(by_name("isolated")["addresses"], json!({}));
    assert_eq!(by_name("bare")["addresses"], json!({}));
    let (s, b) = c
        .get(&demo, &format!("/v2.1/servers/{pinned}/os-interface"))
        .await;
    assert_eq!(s, 200);
    let att = &b["interfaceAttachments"][0];
    assert_eq!(att["net_id"].as_str(), Some(net.as_str()));
    assert_eq!(att["fixed_ips"][0]["ip_address"], "10.0.0.50");
    let port = att["port_id"].as_str().unwrap().to_string();
    let (s, b) = c
        .get(
            &demo,
            &format!("/v2.1/servers/{pinned}/os-interface/{port}"),
        )
        .await;
    assert_eq!(
        (s, b["interfaceAttachment"]["mac_addr"].clone()),
        (200, att["mac_addr"].clone())
    );
    let (s, b) = c
        .get(
            &demo,
            &format!("/v2.1/servers/{pinned}/os-virtual-interfaces"),
        )
        .await;
    assert_eq!(
        (s, b["virtual_interfaces"][0]["id"].as_str()),
        (200, Some(port.as_str()))
    );

    // os-fixed-ips: admin only; shows the instance's host.
    let (s, b) = c.get(&admin, "/v2.1/os-fixed-ips/10.0.0.50").await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["fixed_ip"]["cidr"], "10.0.0.0/24");
    assert_eq!(b["fixed_ip"]["hostname"], "pinned");
    assert_eq!(c.get(&demo, "/v2.1/os-fixed-ips/10.0.0.50").await.0, 403);
    assert_eq!(c.get(&admin, "/v2.1/os-fixed-ips/172.31.0.9").await.0, 404);
    let (s, _) = c
        .post(
            &admin,
            "/v2.1/os-fixed-ips/10.0.0.77/action",
            json!({"reserve": null}),
        )
        .await;
    assert_eq!(s, 202);
    let (s, _) = c
        .server(
            &demo,
            json!({"name": "lost", "flavorRef": "42", "networks": [{"uuid": net, "fixed_ip": "10.0.0.77"}]}),
        )
        .await;
    assert_eq!(s, 400, "a reserved address");
    let (s, _) = c
        .post(
            &admin,
            "/v2.1/os-fixed-ips/10.0.0.77/action",
            json!({"unreserve": null}),
        )
        .await;
    assert_eq!(s, 202);

    // Networks in use are not deleted; deleting a server frees its address.
    let (s, b) = c.delete(&admin, &format!("/v2.1/os-networks/{net}")).await;
    assert_eq!(s, 409, "{b}");
    let before = c.held(&admin).await;
    assert_eq!(before, 2);
    assert_eq!(c.delete_server(&demo, &pinned).await.0, 204);
    assert_eq!(c.held(&admin).await, 1);
    let (s, b) = c
        .server(
            &demo,
            json!({"name": "again", "flavorRef": "42", "networks": [{"uuid": net, "fixed_ip": "10.0.0.50"}]}),
        )
        .await;
    assert_eq!(s, 202, "the freed address is free again: {b}");
    let again = b["server"]["id"].as_str().unwrap().to_string();

    // os-tenant-networks: the caller's project's own; another project does not see it.
    let (s, b) = c
        .post(
            &demo,
            "/v2.1/os-tenant-networks",
            json!({"network": {"label": "mine", "cidr": "10.1.0.0/24"}}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let mine = b["network"]["id"].as_str().unwrap().to_string();
    assert_eq!(b["network"]["label"], "mine");
    let (_, b) = c.get(&demo, "/v2.1/os-tenant-networks").await;
    assert_eq!(b["networks"].as_array().unwrap().len(), 2, "{b}");
    let other = c.user_in_new_project(&admin, "netother", "member").await;
    let (_, b) = c.get(&other, "/v2.1/os-tenant-networks").await;
    assert_eq!(b["networks"].as_array().unwrap().len(), 1, "{b}");
    assert_eq!(
        c.get(&other, &format!("/v2.1/os-tenant-networks/{mine}"))
            .await
            .0,
        404
    );
    let (s, b) = c
        .server(
            &other,
            json!({"name": "thief", "flavorRef": "42", "networks": [{"uuid": mine}]}),
        )
        .await;
    assert_eq!(s, 400, "another project's network: {b}");
    let (s, _) = c
        .delete(&demo, &format!("/v2.1/os-tenant-networks/{mine}"))
        .await;
    assert_eq!(s, 202);
    // Admin: associate a network with the caller's project and back (one with ports of
    // another project cannot be).
    let (s, b) = c
        .post(&admin, "/v2.1/os-networks/add", json!({"id": net}))
        .await;
    assert_eq!(s, 409, "demo's servers are on it: {b}");
    let spare = c.network(&admin, "spare", "10.2.0.0/24").await;
    let (s, b) = c
        .post(&admin, "/v2.1/os-networks/add", json!({"id": spare}))
        .await;
    assert_eq!(s, 202, "{b}");
    let (_, b) = c.get(&admin, &format!("/v2.1/os-networks/{spare}")).await;
    assert_eq!(b["network"]["project_id"], c.project_of(&admin).await);
    let (s, _) = c
        .post(
            &admin,
            &format!("/v2.1/os-networks/{spare}/action"),
            json!({"disassociate_project": null}),
        )
        .await;
    assert_eq!(s, 202);
    let (_, b) = c.get(&admin, &format!("/v2.1/os-networks/{spare}")).await;
    assert_eq!(b["network"]["project_id"], Value::Null);
    let (s, _) = c
        .delete(&admin, &format!("/v2.1/os-networks/{spare}"))
        .await;
    assert_eq!(s, 202);
    let _ = demo_project;

    // Everything gone: the network can go.
    for id in [&bare, &auto, &isolated, &again] {
        assert_eq!(c.delete_server(&demo, id).await.0, 204);
    }
    wait_for("servers gone", Duration::from_secs(30), || async {
        let (_, l) = c.get(&demo, "/v2.1/servers").await;
        l["servers"].as_array().unwrap().is_empty().then_some(())
    })
    .await;
    assert_eq!(c.held(&admin).await, 0);
    let (s, b) = c.delete(&admin, &format!("/v2.1/os-networks/{net}")).await;
    assert_eq!(s, 202, "{b}");
    assert_eq!(
        c.get(&admin, &format!("/v2.1/os-networks/{net}")).await.0,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn floating_ips_pools_bulk_and_quota() {
    let c = Cloud::start().await;
    let admin = c.token("admin", "admin-pw", "admin").await;
    let demo = c.token("demo", "demo-pw", "demo").await;
    let net = c.network(&admin, "private", "10.0.0.0/24").await;

    // Bulk: admin only; a range of a /29 in pool `nova` (6 addresses).
    let (s, _) = c
        .post(
            &demo,
            "/v2.1/os-floating-ips-bulk",
            json!({"floating_ips_bulk_create": {"ip_range": "192.0.2.0/29"}}),
        )
        .await;
    assert_eq!(s, 403);
    let (s, b) = c
        .post(
            &admin,
            "/v2.1/os-floating-ips-bulk",
            json!({"floating_ips_bulk_create": {"ip_range": "192.0.2.0/29", "interface": "br-ex"}}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        b["floating_ips_bulk_create"],
        json!({"ip_range": "192.0.2.0/29", "pool": "nova", "interface": "br-ex"})
    );
    let (s, b) = c
        .post(
            &admin,
            "/v2.1/os-floating-ips-bulk",
            json!({"floating_ips_bulk_create": {"ip_range": "192.0.2.0/28"}}),
        )
        .await;
    assert_eq!(s, 409, "overlap: {b}");
    let (_, b) = c.get(&admin, "/v2.1/os-floating-ips-bulk").await;
    assert_eq!(b["floating_ip_info"].as_array().unwrap().len(), 6, "{b}");
    let (_, b) = c.get(&demo, "/v2.1/os-floating-ip-pools").await;
    assert_eq!(b["floating_ip_pools"], json!([{"name": "nova"}]));

    // Allocate, show, associate with a server, see it in addresses, remove, release.
    let (s, b) = c
        .post(&demo, "/v2.1/os-floating-ips", json!({"pool": "nova"}))
        .await;
    assert_eq!(s, 200, "{b}");
    let fip = b["floating_ip"]["ip"].as_str().unwrap().to_string();
    let fid = b["floating_ip"]["id"].as_str().unwrap().to_string();
    assert_eq!(b["floating_ip"]["instance_id"], Value::Null);
    let (s, b) = c
        .post(&demo, "/v2.1/os-floating-ips", json!({"pool": "nowhere"}))
        .await;
    assert_eq!((s, b["itemNotFound"]["code"].as_u64()), (404, Some(404)));
    let (s, b) = c.get(&demo, &format!("/v2.1/os-floating-ips/{fid}")).await;
    assert_eq!(
        (s, b["floating_ip"]["ip"].as_str()),
        (200, Some(fip.as_str()))
    );
    let other = c.user_in_new_project(&admin, "fipother", "member").await;
    assert_eq!(
        c.get(&other, &format!("/v2.1/os-floating-ips/{fid}"))
            .await
            .0,
        404
    );
    let (s, b) = c
        .server(&demo, json!({"name": "web", "flavorRef": "42"}))
        .await;
    assert_eq!(s, 202, "{b}");
    let web = b["server"]["id"].as_str().unwrap().to_string();
    c.wait_status(&demo, &web, "ACTIVE").await;
    let (s, b) = c
        .action(&demo, &web, json!({"addFloatingIp": {"address": fip}}))
        .await;
    assert_eq!(s, 202, "{b}");
    let (_, b) = c.get(&demo, &format!("/v2.1/servers/{web}")).await;
    let addrs = b["server"]["addresses"]["private"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(addrs.len(), 2, "{b}");
    assert_eq!(addrs[1]["OS-EXT-IPS:type"], "floating");
    assert_eq!(addrs[1]["addr"].as_str(), Some(fip.as_str()));
    let (_, b) = c.get(&demo, &format!("/v2.1/os-floating-ips/{fid}")).await;
    assert_eq!(b["floating_ip"]["instance_id"].as_str(), Some(web.as_str()));
    assert_eq!(b["floating_ip"]["fixed_ip"], addrs[0]["addr"]);
    let (s, _) = c
        .action(
            &demo,
            &web,
            json!({"addFloatingIp": {"address": "198.51.100.1"}}),
        )
        .await;
    assert_eq!(s, 404);
    let (s, b) = c
        .action(
            &demo,
            &web,
            json!({"addFloatingIp": {"address": fip, "fixed_address": "10.0.0.200"}}),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    // Associated already: it moves to the server that asks (as Nova answers with a
    // network service), and back.
    let (s, b) = c
        .server(&demo, json!({"name": "web2", "flavorRef": "42"}))
        .await;
    assert_eq!(s, 202, "{b}");
    let web2 = b["server"]["id"].as_str().unwrap().to_string();
    c.wait_status(&demo, &web2, "ACTIVE").await;
    for to in [&web2, &web] {
        let (s, b) = c
            .action(&demo, to, json!({"addFloatingIp": {"address": fip}}))
            .await;
        assert_eq!(s, 202, "{b}");
        let (_, b) = c.get(&demo, &format!("/v2.1/os-floating-ips/{fid}")).await;
        assert_eq!(b["floating_ip"]["instance_id"].as_str(), Some(to.as_str()));
    }
    assert_eq!(c.delete_server(&demo, &web2).await.0, 204);
    wait_for("web2 gone", Duration::from_secs(30), || async {
        (c.get(&demo, &format!("/v2.1/servers/{web2}")).await.0 == 404).then_some(())
    })
    .await;
    let (_, d) = c.get(&demo, "/v2.1/servers/detail").await;
    assert_eq!(
        d["servers"][0]["addresses"]["private"]
            .as_array()
            .map(Vec::len),
        Some(2),
        "{d}"
    );
    let (s, _) = c
        .action(&demo, &web, json!({"removeFloatingIp": {"address": fip}}))
        .await;
    assert_eq!(s, 202);
    let (s, b) = c
        .action(&demo, &web, json!({"removeFloatingIp": {"address": fip}}))
        .await;
    assert_eq!(
        (s, b["conflictingRequest"]["code"].as_u64()),
        (409, Some(409)),
        "{b}"
    );
    let (_, b) = c.get(&demo, &format!("/v2.1/servers/{web}")).await;
    assert_eq!(
        b["server"]["addresses"]["private"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let (s, _) = c
        .delete(&demo, &format!("/v2.1/os-floating-ips/{fid}"))
        .await;
    assert_eq!(s, 202);
    assert_eq!(
        c.delete(&demo, &format!("/v2.1/os-floating-ips/{fid}"))
            .await
            .0,
        404
    );

    // Quota: floating_ips 2 for demo → the third is Nova's 403.
    let demo_project = c.project_of(&demo).await;
    let (s, b) = c
        .put(
            &admin,
            &format!("/v2.1/os-quota-sets/{demo_project}"),
            json!({"quota_set": {"floating_ips": 2}}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    for _ in 0..2 {
        let (s, b) = c.post(&demo, "/v2.1/os-floating-ips", json!({})).await;
        assert_eq!(s, 200, "{b}");
    }
    let (s, b) = c.post(&demo, "/v2.1/os-floating-ips", json!({})).await;
    assert_eq!(
        (s, b["forbidden"]["code"].as_u64()),
        (403, Some(403)),
        "{b}"
    );
    let (_, b) = c.get(&demo, "/v2.1/os-floating-ips").await;
    assert_eq!(b["floating_ips"].as_array().unwrap().len(), 2);
    // The pool runs dry: 404 as Nova.
    for _ in 0..4 {
        assert_eq!(
            c.post(&other, "/v2.1/os-floating-ips", json!({})).await.0,
            200
        );
    }
    let (s, b) = c.post(&other, "/v2.1/os-floating-ips", json!({})).await;
    assert_eq!(s, 404, "{b}");
    // A range with addresses held is not deleted.
    let (s, _) = c
        .put(
            &admin,
            "/v2.1/os-floating-ips-bulk/delete",
            json!({"ip_range": "192.0.2.0/29"}),
        )
        .await;
    assert_eq!(s, 409);
    let (_, mine) = c.get(&demo, "/v2.1/os-floating-ips").await;
    for f in mine["floating_ips"].as_array().unwrap() {
        let id = f["id"].as_str().unwrap();
        assert_eq!(
            c.delete(&demo, &format!("/v2.1/os-floating-ips/{id}"))
                .await
                .0,
            202
        );
    }
    let (_, theirs) = c.get(&other, "/v2.1/os-floating-ips").await;
    for f in theirs["floating_ips"].as_array().unwrap() {
        let id = f["id"].as_str().unwrap();
        assert_eq!(
            c.delete(&other, &format!("/v2.1/os-floating-ips/{id}"))
                .await
                .0,
            202
        );
    }
    let (s, b) = c
        .put(
            &admin,
            "/v2.1/os-floating-ips-bulk/delete",
            json!({"ip_range": "192.0.2.0/29"}),
        )
        .await;
    assert_eq!(
        (s, b["floating_ips_bulk_delete"].as_str()),
        (200, Some("192.0.2.0/29"))
    );
    assert_eq!(c.delete_server(&demo, &web).await.0, 204);
    let _ = net;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn security_groups_rules_and_server_membership() {
    let c = Cloud::start().await;
    let admin = c.token("admin", "admin-pw", "admin").await;
    let demo = c.token("demo", "demo-pw", "demo").await;

    // The project's default group exists on first use, with its rule from itself.
    let (s, b) = c.get(&demo, "/v2.1/os-security-groups").await;
    assert_eq!(s, 200);
    let groups = b["security_groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{b}");
    assert_eq!(groups[0]["name"], "default");
    assert_eq!(groups[0]["rules"][0]["group"]["name"], "default");
    let default_id = groups[0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        c.delete(&demo, &format!("/v2.1/os-security-groups/{default_id}"))
            .await
            .0,
        400
    );

    // Create, validation, duplicates.
    let (s, b) = c
        .post(
            &demo,
            "/v2.1/os-security-groups",
            json!({"security_group": {"name": "web", "description": "web servers"}}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let web = b["security_group"]["id"].as_str().unwrap().to_string();
    assert_eq!(b["security_group"]["rules"], json!([]));
    for bad in [
        json!({"security_group": {"name": "x"}}),
        json!({"security_group": {"name": "", "description": "d"}}),
        json!({"security_group": {"name": "web", "description": "again"}}),
        json!({"security_group": {"name": "x", "description": "d", "colour": 1}}),
    ] {
        let (s, b) = c.post(&demo, "/v2.1/os-security-groups", bad.clone()).await;
        assert_eq!(
            (s, b["badRequest"]["code"].as_u64()),
            (400, Some(400)),
            "{bad} → {b}"
        );
    }
    let (s, b) = c
        .get(&demo, &format!("/v2.1/os-security-groups/{web}"))
        .await;
    assert_eq!(
        (s, b["security_group"]["name"].as_str()),
        (200, Some("web"))
    );
    let other = c.user_in_new_project(&admin, "sgother", "member").await;
    assert_eq!(
        c.get(&other, &format!("/v2.1/os-security-groups/{web}"))
            .await
            .0,
        404
    );

    // Update: a new name and description; another group's name is 400.
    let (s, b) = c
        .put(
            &demo,
            &format!("/v2.1/os-security-groups/{web}"),
            json!({"security_group": {"name": "www", "description": "renamed"}}),
        )
        .await;
    assert_eq!(
        (
            s,
            b["security_group"]["name"].as_str(),
            b["security_group"]["description"].as_str()
        ),
        (200, Some("www"), Some("renamed")),
        "{b}"
    );
    let (s, b) = c
        .put(
            &demo,
            &format!("/v2.1/os-security-groups/{web}"),
            json!({"security_group": {"name": "default", "description": "d"}}),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    let (s, _) = c
        .put(
            &demo,
            &format!("/v2.1/os-security-groups/{web}"),
            json!({"security_group": {"name": "web", "description": "web servers"}}),
        )
        .await;
    assert_eq!(s, 200);

    // Rules: tcp/22 from anywhere, icmp any, from a group; bad ones are 400s.
    let rule = |body: Value| {
        let mut m = json!({"parent_group_id": web});
        m.as_object_mut()
            .unwrap()
            .extend(body.as_object().unwrap().clone());
        json!({ "security_group_rule": m })
    };
    let (s, b) = c
        .post(
            &demo,
            "/v2.1/os-security-group-rules",
            rule(
                json!({"ip_protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "0.0.0.0/0"}),
            ),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let r = &b["security_group_rule"];
    assert_eq!(
        (
            r["ip_protocol"].as_str(),
            r["from_port"].as_i64(),
            r["to_port"].as_i64(),
            r["ip_range"]["cidr"].as_str()
        ),
        (Some("tcp"), Some(22), Some(22), Some("0.0.0.0/0")),
        "{b}"
    );
    let ssh_rule = r["id"].as_str().unwrap().to_string();
    let (s, b) = c
        .post(
            &demo,
            "/v2.1/os-security-group-rules",
            rule(json!({"ip_protocol": "icmp", "from_port": -1, "to_port": -1, "cidr": "10.0.0.0/8"})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = c
        .post(
            &demo,
            "/v2.1/os-security-group-rules",
            rule(json!({"ip_protocol": "tcp", "from_port": 80, "to_port": 80, "group_id": default_id})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["security_group_rule"]["group"]["name"], "default");
    for bad in [
        json!({"ip_protocol": "gre", "from_port": 1, "to_port": 2}),
        json!({"ip_protocol": "tcp", "from_port": 0, "to_port": 70000}),
        json!({"ip_protocol": "tcp", "from_port": 90, "to_port": 80}),
        json!({"ip_protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "not-a-cidr"}),
        json!({"ip_protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "0.0.0.0/0"}),
    ] {
        let (s, b) = c
            .post(&demo, "/v2.1/os-security-group-rules", rule(bad.clone()))
            .await;
        assert_eq!(
            (s, b["badRequest"]["code"].as_u64()),
            (400, Some(400)),
            "{bad} → {b}"
        );
    }
    let (s, _) = c
        .post(
            &demo,
            "/v2.1/os-security-group-rules",
            json!({"security_group_rule": {"parent_group_id": "00000000-0000-4000-8000-000000000000", "ip_protocol": "tcp", "from_port": 1, "to_port": 2}}),
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = c
        .post(
            &demo,
            "/v2.1/os-security-group-rules",
            json!({"security_group_rule": {"parent_group_id": "no-such-group", "ip_protocol": "tcp", "from_port": 1, "to_port": 2}}),
        )
        .await;
    assert_eq!(s, 400, "not a UUID");
    let (_, b) = c
        .get(&demo, &format!("/v2.1/os-security-groups/{web}"))
        .await;
    assert_eq!(
        b["security_group"]["rules"].as_array().unwrap().len(),
        3,
        "{b}"
    );
    let (s, _) = c
        .delete(&demo, &format!("/v2.1/os-security-group-rules/{ssh_rule}"))
        .await;
    assert_eq!(s, 202);
    assert_eq!(
        c.delete(&demo, &format!("/v2.1/os-security-group-rules/{ssh_rule}"))
            .await
            .0,
        404
    );

    // Quotas: security_group_rules 3 per group, security_groups 2.
    let demo_project = c.project_of(&demo).await;
    let (s, b) = c
        .put(
            &admin,
            &format!("/v2.1/os-quota-sets/{demo_project}"),
            json!({"quota_set": {"security_group_rules": 3, "security_groups": 2}}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, _) = c
        .post(
            &demo,
            "/v2.1/os-security-group-rules",
            rule(json!({"ip_protocol": "udp", "from_port": 53, "to_port": 53})),
        )
        .await;
    assert_eq!(s, 200);
    let (s, b) = c
        .post(
            &demo,
            "/v2.1/os-security-group-rules",
            rule(json!({"ip_protocol": "udp", "from_port": 123, "to_port": 123})),
        )
        .await;
    assert_eq!(
        (s, b["forbidden"]["code"].as_u64()),
        (403, Some(403)),
        "{b}"
    );
    let (s, _) = c
        .post(
            &demo,
            "/v2.1/os-security-groups",
            json!({"security_group": {"name": "db", "description": "d"}}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, b) = c
        .post(
            &demo,
            "/v2.1/os-security-groups",
            json!({"security_group": {"name": "cache", "description": "d"}}),
        )
        .await;
    assert_eq!(
        (s, b["forbidden"]["code"].as_u64()),
        (403, Some(403)),
        "{b}"
    );

    // Servers: created in `web`, an unknown group is 400; add and remove groups.
    let (s, b) = c
        .server(
            &demo,
            json!({"name": "lost", "flavorRef": "42", "security_groups": [{"name": "nope"}]}),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    let (s, b) = c
        .server(
            &demo,
            json!({"name": "app", "flavorRef": "42", "security_groups": [{"name": "web"}]}),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    assert_eq!(b["server"]["security_groups"], json!([{"name": "web"}]));
    let app = b["server"]["id"].as_str().unwrap().to_string();
    let (s, b) = c
        .get(&demo, &format!("/v2.1/servers/{app}/os-security-groups"))
        .await;
    assert_eq!(s, 200);
    assert_eq!(b["security_groups"][0]["name"], "web");
    let (s, _) = c
        .action(
            &demo,
            &app,
            json!({"addSecurityGroup": {"name": "default"}}),
        )
        .await;
    assert_eq!(s, 202);
    let (s, _) = c
        .action(
            &demo,
            &app,
            json!({"addSecurityGroup": {"name": "default"}}),
        )
        .await;
    assert_eq!(s, 400, "already in it");
    let (s, _) = c
        .action(&demo, &app, json!({"addSecurityGroup": {"name": "nope"}}))
        .await;
    assert_eq!(s, 404);
    let (_, b) = c.get(&demo, &format!("/v2.1/servers/{app}")).await;
    assert_eq!(
        b["server"]["security_groups"],
        json!([{"name": "default"}, {"name": "web"}])
    );
    let (_, d) = c.get(&demo, "/v2.1/servers/detail").await;
    assert_eq!(
        d["servers"][0]["security_groups"],
        json!([{"name": "default"}, {"name": "web"}])
    );
    // A group with members is not deleted.
    assert_eq!(
        c.delete(&demo, &format!("/v2.1/os-security-groups/{web}"))
            .await
            .0,
        400
    );
    let (s, _) = c
        .action(&demo, &app, json!({"removeSecurityGroup": {"name": "web"}}))
        .await;
    assert_eq!(s, 202);
    let (s, _) = c
        .action(&demo, &app, json!({"removeSecurityGroup": {"name": "web"}}))
        .await;
    assert_eq!(s, 400, "not in it");
    assert_eq!(
        c.delete(&demo, &format!("/v2.1/os-security-groups/{web}"))
            .await
            .0,
        202
    );
    // Default rules have no store: Nova's 501 when its network API had none.
    assert_eq!(
        c.get(&admin, "/v2.1/os-security-group-default-rules")
            .await
            .0,
        501
    );
    assert_eq!(c.delete_server(&demo, &app).await.0, 204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_admin_api_makes_networks_and_floating_ranges_and_counts_free_addresses() {
    let c = Cloud::start().await;
    let admin = c.token("admin", "admin-pw", "admin").await;
    let demo = c.token("demo", "demo-pw", "demo").await;
    let a = |method: Method, path: &str, body: Option<Value>| {
        let path = format!("/admin/v1{path}");
        let (c, admin) = (&c, &admin);
        async move { c.call(admin, method, &path, body).await }
    };
    let (s, _, b) = a(
        Method::POST,
        "/networks",
        Some(json!({"label": "ops", "cidr": "10.20.0.0/29", "dns": ["1.1.1.1"], "mtu": 1400})),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let net = b["network"]["id"].as_str().unwrap().to_string();
    assert_eq!(b["network"]["driver"], "flat-dhcp");
    assert_eq!(b["network"]["mtu"], 1400);
    let (s, _, b) = a(
        Method::POST,
        "/networks",
        Some(json!({"label": "x", "cidr": "10.20.0.0/29", "colour": 1})),
    )
    .await;
    assert_eq!((s, b["error"]["code"].as_u64()), (400, Some(400)), "{b}");
    // A tenant is refused by the host (the admin role).
    let (s, _, _) = c.call(&demo, Method::GET, "/admin/v1/networks", None).await;
    assert_eq!(s, 403);
    let free = |b: &Value| b["network"]["free_addresses"].as_i64().unwrap();
    let (_, _, b) = a(Method::GET, &format!("/networks/{net}"), None).await;
    // A /29: 6 host addresses, the gateway reserved.
    assert_eq!(free(&b), 5, "{b}");
    let (s, b) = c
        .server(
            &demo,
            json!({"name": "n", "flavorRef": "42", "min_count": 2}),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let (_, _, b) = a(Method::GET, &format!("/networks/{net}"), None).await;
    assert_eq!(free(&b), 3);
    // More than the network holds: the create fails whole, nothing is left behind.
    let (s, b) = c
        .server(
            &demo,
            json!({"name": "many", "flavorRef": "42", "min_count": 4}),
        )
        .await;
    assert_eq!(
        (s, b["conflictingRequest"]["code"].as_u64()),
        (409, Some(409)),
        "{b}"
    );
    let (_, _, b) = a(Method::GET, &format!("/networks/{net}"), None).await;
    assert_eq!(free(&b), 3, "rolled back: {b}");
    let (_, l) = c.get(&demo, "/v2.1/servers?name=^many").await;
    assert_eq!(l["servers"].as_array().unwrap().len(), 0, "{l}");
    let (_, l) = c.get(&demo, "/v2.1/servers").await;
    for s in l["servers"].as_array().unwrap() {
        assert_eq!(
            c.delete_server(&demo, s["id"].as_str().unwrap()).await.0,
            204
        );
    }
    let (_, _, b) = a(Method::GET, &format!("/networks/{net}"), None).await;
    assert_eq!(free(&b), 5, "deleting servers frees their addresses");

    // Floating ranges.
    let (s, _, b) = a(
        Method::POST,
        "/floating-ranges",
        Some(json!({"cidr": "203.0.113.0/28", "pool": "public", "interface": "br-ex"})),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["floating_range"]["pool"], "public");
    let (_, _, b) = a(Method::GET, "/floating-ranges", None).await;
    assert_eq!(b["floating_ranges"].as_array().unwrap().len(), 1);
    let (_, b) = c.get(&demo, "/v2.1/os-floating-ip-pools").await;
    assert_eq!(b["floating_ip_pools"], json!([{"name": "public"}]));
    let (s, _, _) = a(Method::DELETE, "/floating-ranges/203.0.113.0/28", None).await;
    assert_eq!(s, 204);
    let (s, _, _) = a(Method::DELETE, &format!("/networks/{net}"), None).await;
    assert_eq!(s, 204);
    let (s, _, b) = a(Method::GET, &format!("/networks/{net}"), None).await;
    assert_eq!((s, b["error"]["code"].as_u64()), (404, Some(404)));
}

/// The allocation path on PostgreSQL: ports for a batch, addresses in the listing, freed on
/// delete.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ports_are_allocated_and_freed_on_postgresql() {
    let url = metacloud_db::scratch::create_postgres_database()
        .await
        .expect("scratch PostgreSQL database");
    let mut config = crate::openstack::config();
    config.database.url = Some(url.clone());
    let c = Cloud::start_with(config).await;
    let admin = c.token("admin", "admin-pw", "admin").await;
    let demo = c.token("demo", "demo-pw", "demo").await;
    let net = c.network(&admin, "pg", "10.30.0.0/24").await;
    let (s, b) = c
        .server(
            &demo,
            json!({"name": "pg", "flavorRef": "42", "min_count": 5,
            "networks": [{"uuid": net}]}),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let (_, d) = c.get(&demo, "/v2.1/servers/detail").await;
    let mut addrs: Vec<String> = d["servers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| fixed_of(s, "pg"))
        .collect();
    addrs.sort();
    addrs.dedup();
    assert_eq!(addrs.len(), 5, "distinct addresses: {d}");
    assert_eq!(c.held(&admin).await, 5);
    for s in d["servers"].as_array().unwrap() {
        assert_eq!(
            c.delete_server(&demo, s["id"].as_str().unwrap()).await.0,
            204
        );
    }
    assert_eq!(c.held(&admin).await, 0);
    let (s, b) = c.delete(&admin, &format!("/v2.1/os-networks/{net}")).await;
    assert_eq!(s, 202, "{b}");
    drop(c);
    metacloud_db::scratch::drop_postgres_database(&url).await;
}

/// Issue 14, Done-when 3, through the API with the network worker running: 200 concurrent
/// boots on a /24 get 200 distinct addresses, each in the network's DHCP hosts; the
/// network's last addresses go, then the next boot fails with a clear fault and leaves
/// nothing; after the deletes every address is free and the hosts file is empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_boots_on_a_slash_24_and_every_address_back_after() {
    let mut cfg = crate::openstack::config();
    let state = cfg.data_dir().join("network");
    cfg.network.driver = "flat-dhcp".into();
    cfg.network.plugin_dir = Some(crate::plugins::dist().join("network"));
    cfg.network.state_dir = Some(state.clone());
    cfg.network.networks = vec![metacloud_config::DeclaredNetwork {
        name: "private".into(),
        cidr: "10.92.0.0/24".into(),
        dns: vec![],
        segment: None,
    }];
    cfg.scheduler.max_instances_per_host = 1000;
    cfg.scheduler.max_io_ops_per_host = 1000;
    cfg.compute.override_vcpus = Some(10_000);
    cfg.compute.override_memory_mb = Some(10_000_000);
    cfg.compute.override_disk_gb = Some(100_000);
    cfg.validate().unwrap();
    let _cleanup = metacloud_tests::NetworkStateGuard(state.clone());
    let c = std::sync::Arc::new(Cloud::start_with(cfg).await);
    let admin = c.token("admin", "admin-pw", "admin").await;
    let demo = c.token("demo", "demo-pw", "demo").await;
    let project = c.project_of(&demo).await;
    let (s, b) = c
        .put(
            &admin,
            &format!("/v2.1/os-quota-sets/{project}"),
            json!({"quota_set": {"instances": 1000, "cores": 10000, "ram": 10000000}}),
        )
        .await;
    assert_eq!(s, 200, "{b}");

    // 200 boots at once, each its own request.
    let posts: Vec<_> = (0..200)
        .map(|i| {
            let (c, demo) = (c.clone(), demo.clone());
            tokio::spawn(async move {
                c.server(&demo, json!({"name": format!("vm{i}"), "flavorRef": "42"}))
                    .await
            })
        })
        .collect();
    let mut ids = Vec::new();
    for p in posts {
        let (s, b) = p.await.unwrap();
        assert_eq!(s, 202, "{b}");
        ids.push(b["server"]["id"].as_str().unwrap().to_string());
    }
    let (_, l) = c.get(&demo, "/v2.1/servers/detail?limit=1000").await;
    let mut addresses: Vec<String> = l["servers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| fixed_of(s, "private"))
        .collect();
    assert_eq!(addresses.len(), 200);
    addresses.sort();
    addresses.dedup();
    assert_eq!(addresses.len(), 200, "an address given twice");

    // The worker has every placed port in its network's DHCP hosts.
    let hosts_file = |state: &std::path::Path| -> Vec<String> {
        let dhcp = state.join("dhcp");
        std::fs::read_dir(&dhcp)
            .into_iter()
            .flatten()
            .flatten()
            .flat_map(|d| {
                std::fs::read_to_string(d.path().join("hosts"))
                    .unwrap_or_default()
                    .lines()
                    .map(String::from)
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let st = state.clone();
    wait_for("200 DHCP hosts", Duration::from_secs(60), || {
        let st = st.clone();
        async move { (hosts_file(&st).len() == 200).then_some(()) }
    })
    .await;

    // 53 more fill the /24 (253 usable: the gateway is the 254th); the next boot fails.
    let (s, b) = c
        .server(
            &demo,
            json!({"name": "fill", "flavorRef": "42", "min_count": 53}),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let (s, b) = c
        .server(&demo, json!({"name": "one-too-many", "flavorRef": "42"}))
        .await;
    assert_eq!(s, 409, "{b}");
    let fault = b.to_string();
    assert!(
        fault.contains("private") || fault.contains("10.92.0.0/24"),
        "{fault}"
    );
    let (_, l) = c.get(&demo, "/v2.1/servers?name=one-too-many").await;
    assert_eq!(
        l["servers"].as_array().unwrap().len(),
        0,
        "the failed boot left a server"
    );

    // Delete everything: every address back, the hosts file empty.
    let (_, l) = c.get(&demo, "/v2.1/servers?limit=1000").await;
    let all: Vec<String> = l["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(all.len(), 253);
    for id in &all {
        let (s, b) = c.delete(&demo, &format!("/v2.1/servers/{id}")).await;
        assert_eq!(s, 204, "{b}");
    }
    let (_, _, nets) = c
        .call(&admin, Method::GET, "/admin/v1/networks", None)
        .await;
    let net = nets["networks"][0]["id"].as_str().unwrap().to_string();
    wait_for("every address free", Duration::from_secs(60), || {
        let (c, admin, net) = (c.clone(), admin.clone(), net.clone());
        async move {
            let (_, _, b) = c
                .call(
                    &admin,
                    Method::GET,
                    &format!("/admin/v1/networks/{net}"),
                    None,
                )
                .await;
            (b["network"]["free_addresses"].as_i64() == Some(253)).then_some(())
        }
    })
    .await;
    let st = state.clone();
    wait_for("an empty DHCP hosts file", Duration::from_secs(30), || {
        let st = st.clone();
        async move { hosts_file(&st).is_empty().then_some(()) }
    })
    .await;
}

/// `[network] auto_assign_floating_ip`: a new server's port gets a floating address of the
/// default pool (shown in `addresses` and `os-floating-ips`); deleting the server gives it
/// back to the pool and out of the project's usage. An empty pool does not fail a boot.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn auto_assigned_floating_addresses_come_with_a_server_and_go_with_it() {
    let mut config = crate::openstack::config();
    config.network.auto_assign_floating_ip = true;
    config.network.default_floating_pool = "public".into();
    let c = Cloud::start_with(config).await;
    let admin = c.token("admin", "admin-pw", "admin").await;
    let demo = c.token("demo", "demo-pw", "demo").await;
    c.network(&admin, "private", "10.0.0.0/24").await;
    let (s, b) = c
        .post(
            &admin,
            "/v2.1/os-floating-ips-bulk",
            // A /30: two addresses.
            json!({"floating_ips_bulk_create": {"ip_range": "192.0.2.4/30", "interface": "br-ex"}}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["floating_ips_bulk_create"]["pool"], "public", "{b}");

    let mut servers = Vec::new();
    for name in ["a", "b", "c"] {
        let (s, b) = c
            .server(&demo, json!({"name": name, "flavorRef": "42"}))
            .await;
        assert_eq!(s, 202, "{b}");
        let id = b["server"]["id"].as_str().unwrap().to_string();
        c.wait_status(&demo, &id, "ACTIVE").await;
        servers.push(id);
    }
    let floating_of = |b: &Value| -> Vec<String> {
        b["server"]["addresses"]["private"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter(|a| a["OS-EXT-IPS:type"] == "floating")
            .map(|a| a["addr"].as_str().unwrap().to_string())
            .collect()
    };
    let mut given = Vec::new();
    for id in &servers[..2] {
        let (_, b) = c.get(&demo, &format!("/v2.1/servers/{id}")).await;
        let f = floating_of(&b);
        assert_eq!(f.len(), 1, "{b}");
        given.push(f[0].clone());
    }
    given.sort();
    assert_eq!(given, ["192.0.2.5", "192.0.2.6"]);
    // The pool ran dry: the third server boots with its fixed address only.
    let (_, b) = c.get(&demo, &format!("/v2.1/servers/{}", servers[2])).await;
    assert!(floating_of(&b).is_empty(), "{b}");
    assert_eq!(fixed_of(&b["server"], "private").len(), 1, "{b}");
    let (_, b) = c.get(&demo, "/v2.1/os-floating-ips").await;
    assert_eq!(b["floating_ips"].as_array().unwrap().len(), 2, "{b}");
    let detail = format!("/v2.1/os-quota-sets/{}/detail", c.project_of(&demo).await);
    let (_, b) = c.get(&demo, &detail).await;
    let usage = |b: &Value| b["quota_set"]["floating_ips"]["in_use"].as_i64();
    assert_eq!(usage(&b), Some(2), "{b}");
    let (_, b) = c.get(&demo, "/v2.1/limits").await;
    assert_eq!(b["limits"]["absolute"]["totalFloatingIpsUsed"], 2, "{b}");

    // The first server goes: its address is free again and the third server's next
    // allocation can have it.
    let (s, _) = c.delete_server(&demo, &servers[0]).await;
    assert_eq!(s, 204);
    let c2 = &c;
    let demo2 = &demo;
    wait_for(
        "the address back in its pool",
        Duration::from_secs(10),
        || async move {
            let (_, b) = c2.get(demo2, "/v2.1/os-floating-ips").await;
            (b["floating_ips"].as_array().unwrap().len() == 1).then_some(())
        },
    )
    .await;
    let (_, b) = c.get(&admin, "/v2.1/os-floating-ips-bulk").await;
    let free: Vec<&Value> = b["floating_ip_info"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["project_id"].is_null())
        .collect();
    assert_eq!(free.len(), 1, "{b}");
    let (_, b) = c.get(&demo, &detail).await;
    assert_eq!(usage(&b), Some(1), "{b}");
    let (s, b) = c.post(&demo, "/v2.1/os-floating-ips", json!({})).await;
    assert_eq!(s, 200, "the default pool is `public`: {b}");
    assert_eq!(b["floating_ip"]["pool"], "public");
}
