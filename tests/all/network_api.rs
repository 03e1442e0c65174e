//! The Network API (Neutron v2.0) dialect over real HTTP, as far as it is built (issue 15):
//! the catalog's `network` entry, version discovery, extensions, networks and subnets
//! (read), security groups and rules; Neutron's error body; projects kept apart; readers
//! read only.

use crate::openstack::{config, Cloud};
use metacloud_tests::wait_for;
use reqwest::Method;
use serde_json::{json, Value};

struct Neutron {
    http: reqwest::Client,
    base: String,
}

impl Neutron {
    async fn call(
        &self,
        token: &str,
        method: Method,
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

    async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        self.call(token, Method::GET, path, None).await
    }

    async fn post(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        self.call(token, Method::POST, path, Some(body)).await
    }
}

/// `{"NeutronError": {"type": kind, …}}` with `status`.
fn neutron_error(got: &(u16, Value), status: u16, kind: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["NeutronError"]["type"], kind, "{}", got.1);
    assert!(got.1["NeutronError"]["message"].is_string(), "{}", got.1);
}

fn ids(v: &Value, collection: &str) -> Vec<String> {
    v[collection]
        .as_array()
        .unwrap_or_else(|| panic!("no {collection} in {v}"))
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_network_api_serves_networks_subnets_and_security_groups_as_neutron() {
    let (cloud, n, [admin, demo, other, reader]) = network_cloud().await;
    let addr = cloud.running.network_addr.expect("the Network API");
    // The catalog names it; discovery and extensions.
    let r = cloud
        .http
        .get(format!("{}/auth/catalog", cloud.keystone))
        .header("x-auth-token", &demo)
        .send()
        .await
        .unwrap();
    let catalog: Value = r.json().await.unwrap();
    let network = catalog["catalog"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["type"] == "network")
        .unwrap_or_else(|| panic!("no network service: {catalog}"));
    assert_eq!(network["endpoints"][0]["url"], format!("http://{addr}"));
    let (s, b) = n.get(&demo, "/").await;
    assert_eq!((s, b["versions"][0]["id"].as_str()), (200, Some("v2.0")));
    let (s, b) = n.get(&demo, "/v2.0/extensions").await;
    assert_eq!(s, 200);
    let aliases: Vec<&str> = b["extensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["alias"].as_str().unwrap())
        .collect();
    assert!(aliases.contains(&"security-group"), "{b}");
    assert!(aliases.contains(&"router"), "{b}");
    assert!(!aliases.contains(&"dvr"), "only what is served: {b}");
    neutron_error(
        &n.get(&demo, "/v2.0/extensions/dvr").await,
        404,
        "ExtensionNotFound",
    );
    neutron_error(
        &n.get(&demo, "/v2.0/nothing-here").await,
        404,
        "HTTPNotFound",
    );
    let (s, b) = n.get("not-a-token", "/v2.0/networks").await;
    assert_eq!(s, 401, "{b}");

    // Networks: a shared one and the demo project's; another project sees only the shared.
    let demo_project = cloud.project_of(&demo).await;
    let mut made = Vec::new();
    for (label, cidr, project) in [
        ("shared-net", "10.60.0.0/24", None),
        ("demo-net", "10.61.0.0/24", Some(demo_project.clone())),
    ] {
        let (s, _, b) = cloud
            .call(
                &admin,
                Method::POST,
                "/v2.1/os-networks",
                Some(
                    json!({"network": {"label": label, "cidr": cidr, "project_id": project,
                    "dns1": "192.0.2.53"}}),
                ),
            )
            .await;
        assert_eq!(s, 200, "{b}");
        made.push(b["network"]["id"].as_str().unwrap().to_string());
    }
    let (shared, private) = (made[0].clone(), made[1].clone());
    let (s, b) = n.get(&demo, "/v2.0/networks").await;
    assert_eq!(s, 200);
    let mut want = vec![shared.clone(), private.clone()];
    want.sort();
    assert_eq!(ids(&b, "networks"), want);
    let (_, b) = n.get(&other, "/v2.0/networks").await;
    assert_eq!(ids(&b, "networks"), vec![shared.clone()]);
    neutron_error(
        &n.get(&other, &format!("/v2.0/networks/{private}")).await,
        404,
        "NetworkNotFound",
    );
    let (s, b) = n.get(&demo, &format!("/v2.0/networks/{private}")).await;
    assert_eq!(s, 200, "{b}");
    let net = &b["network"];
    assert_eq!(
        (
            net["name"].as_str(),
            net["shared"].as_bool(),
            net["project_id"].as_str()
        ),
        (Some("demo-net"), Some(false), Some(demo_project.as_str()))
    );
    let (_, b) = n
        .get(&demo, &format!("/v2.0/subnets?network_id={private}"))
        .await;
    let private_subnet = ids(&b, "subnets");
    assert_eq!(private_subnet.len(), 1, "{b}");
    assert_ne!(private_subnet[0], private, "a subnet has its own id");
    assert_eq!(net["subnets"], json!(private_subnet));
    assert!(
        net.get("provider:network_type").is_none(),
        "admin-only: {net}"
    );
    let (_, b) = n.get(&admin, &format!("/v2.0/networks/{private}")).await;
    assert_eq!(b["network"]["provider:network_type"], "flat");
    // openstacksdk's lookup by name, and fields.
    let (_, b) = n
        .get(
            &demo,
            "/v2.0/networks?name=shared-net&fields=id&fields=shared",
        )
        .await;
    assert_eq!(b["networks"], json!([{"id": shared, "shared": true}]));
    let (_, b) = n
        .get(&demo, &format!("/v2.0/subnets?network_id={private}"))
        .await;
    let subnet = &b["subnets"][0];
    assert_eq!(
        (
            subnet["cidr"].as_str(),
            subnet["gateway_ip"].as_str(),
            subnet["ip_version"].as_i64()
        ),
        (Some("10.61.0.0/24"), Some("10.61.0.1"), Some(4)),
        "{b}"
    );
    assert_eq!(subnet["dns_nameservers"], json!(["192.0.2.53"]));
    assert_eq!(subnet["allocation_pools"][0]["start"], "10.61.0.2");
    neutron_error(
        &n.get(&other, &format!("/v2.0/subnets/{}", private_subnet[0]))
            .await,
        404,
        "SubnetNotFound",
    );

    // Ports: a server's, by device_id; floating pools as external networks.
    let (s, _, b) = cloud
        .call(
            &admin,
            Method::POST,
            "/v2.1/os-floating-ips-bulk",
            Some(
                json!({"floating_ips_bulk_create": {"ip_range": "192.0.2.8/29", "pool": "public",
                "interface": "br-ex"}}),
            ),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, _, b) = cloud
        .call(
            &demo,
            Method::POST,
            "/v2.1/servers",
            Some(json!({"server": {"name": "vm", "flavorRef": "42",
                "networks": [{"uuid": private}]}})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let vm = b["server"]["id"].as_str().unwrap().to_string();
    cloud.wait_status(&demo, &vm, "ACTIVE").await;
    let (s, b) = n.get(&demo, &format!("/v2.0/ports?device_id={vm}")).await;
    assert_eq!(s, 200, "{b}");
    let ports = b["ports"].as_array().unwrap().clone();
    assert_eq!(ports.len(), 1, "{b}");
    let port = ports[0]["id"].as_str().unwrap().to_string();
    let fixed = ports[0]["fixed_ips"][0]["ip_address"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(fixed.starts_with("10.61.0."), "{b}");
    assert_eq!(
        (
            ports[0]["network_id"].as_str(),
            ports[0]["device_owner"].as_str(),
            ports[0]["status"].as_str()
        ),
        // No network worker in this cloud: nothing plugs the port anywhere.
        (Some(private.as_str()), Some("compute:nova"), Some("DOWN"))
    );
    assert_eq!(
        ports[0]["security_groups"].as_array().unwrap().len(),
        1,
        "the default group: {b}"
    );
    assert!(ports[0].get("binding:host_id").is_none(), "admin-only: {b}");
    let (_, b) = n.get(&admin, &format!("/v2.0/ports/{port}")).await;
    assert_eq!(
        (
            b["port"]["binding:host_id"].as_str(),
            b["port"]["binding:vif_type"].as_str()
        ),
        (Some(""), Some("unbound")),
        "{b}"
    );
    let (_, b) = n.get(&other, "/v2.0/ports").await;
    assert!(b["ports"].as_array().unwrap().is_empty(), "{b}");
    neutron_error(
        &n.get(&other, &format!("/v2.0/ports/{port}")).await,
        404,
        "PortNotFound",
    );
    let (_, b) = n.get(&other, "/v2.0/networks?router:external=true").await;
    let external = b["networks"].as_array().unwrap().clone();
    assert_eq!(external.len(), 1, "{b}");
    assert_eq!(external[0]["name"], "public");
    let public = external[0]["id"].as_str().unwrap().to_string();

    // Floating IPs: allocated from the external network, pointed at the port and back.
    neutron_error(
        &n.post(
            &demo,
            "/v2.0/floatingips",
            json!({"floatingip": {"floating_network_id": private}}),
        )
        .await,
        400,
        "HTTPBadRequest",
    );
    neutron_error(
        &n.post(
            &reader,
            "/v2.0/floatingips",
            json!({"floatingip": {"floating_network_id": public}}),
        )
        .await,
        403,
        "HTTPForbidden",
    );
    let (s, b) = n
        .post(
            &demo,
            "/v2.0/floatingips",
            json!({"floatingip": {"floating_network_id": public}}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let fip = b["floatingip"]["floating_ip_address"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(b["floatingip"]["id"], fip.as_str());
    assert_eq!(
        (
            b["floatingip"]["port_id"].clone(),
            b["floatingip"]["status"].as_str()
        ),
        (Value::Null, Some("DOWN"))
    );
    let (s, b) = n
        .call(
            &demo,
            Method::PUT,
            &format!("/v2.0/floatingips/{fip}"),
            Some(json!({"floatingip": {"port_id": port}})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        (
            b["floatingip"]["port_id"].as_str(),
            b["floatingip"]["fixed_ip_address"].as_str()
        ),
        (Some(port.as_str()), Some(fixed.as_str()))
    );
    let (_, b) = cloud.get(&demo, &format!("/v2.1/servers/{vm}")).await;
    let shown: Vec<&Value> = b["server"]["addresses"]["demo-net"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["OS-EXT-IPS:type"] == "floating")
        .collect();
    assert_eq!(shown.len(), 1, "{b}");
    assert_eq!(shown[0]["addr"], fip.as_str());
    let (_, b) = n
        .get(&demo, &format!("/v2.0/floatingips?port_id={port}"))
        .await;
    assert_eq!(ids(&b, "floatingips"), vec![fip.clone()]);
    neutron_error(
        &n.get(&other, &format!("/v2.0/floatingips/{fip}")).await,
        404,
        "FloatingIPNotFound",
    );
    neutron_error(
        &n.call(
            &demo,
            Method::PUT,
            &format!("/v2.0/floatingips/{fip}"),
            Some(json!({"floatingip": {"port_id": "no-such-port"}})),
        )
        .await,
        404,
        "PortNotFound",
    );
    // The refused request changed nothing: still pointed at the port.
    let (_, b) = n.get(&demo, &format!("/v2.0/floatingips/{fip}")).await;
    assert_eq!(b["floatingip"]["port_id"], port.as_str(), "{b}");
    let (s, b) = n
        .call(
            &demo,
            Method::PUT,
            &format!("/v2.0/floatingips/{fip}"),
            Some(json!({"floatingip": {"port_id": null}})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["floatingip"]["fixed_ip_address"], Value::Null, "{b}");
    let (s, _) = n
        .call(
            &demo,
            Method::DELETE,
            &format!("/v2.0/floatingips/{fip}"),
            None,
        )
        .await;
    assert_eq!(s, 204);
    neutron_error(
        &n.get(&demo, &format!("/v2.0/floatingips/{fip}")).await,
        404,
        "FloatingIPNotFound",
    );

    // Quotas: the caller's own, admins set and reset them.
    let (s, b) = n.get(&demo, &format!("/v2.0/quotas/{demo_project}")).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        (
            b["quota"]["floatingip"].as_i64(),
            b["quota"]["security_group_rule"].as_i64(),
            b["quota"]["network"].as_i64()
        ),
        (Some(10), Some(20), Some(-1)),
        "{b}"
    );
    let other_project = cloud.project_of(&other).await;
    neutron_error(
        &n.get(&demo, &format!("/v2.0/quotas/{other_project}")).await,
        403,
        "HTTPForbidden",
    );
    neutron_error(
        &n.call(
            &demo,
            Method::PUT,
            &format!("/v2.0/quotas/{demo_project}"),
            Some(json!({"quota": {"floatingip": 50}})),
        )
        .await,
        403,
        "HTTPForbidden",
    );
    let (s, b) = n
        .call(
            &admin,
            Method::PUT,
            &format!("/v2.0/quotas/{demo_project}"),
            Some(json!({"quota": {"floatingip": 1}})),
        )
        .await;
    assert_eq!(
        (s, b["quota"]["floatingip"].as_i64()),
        (200, Some(1)),
        "{b}"
    );
    let (s, b) = n
        .call(
            &admin,
            Method::PUT,
            &format!("/v2.0/quotas/{demo_project}"),
            Some(json!({"quota": {"router": 5}})),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    let (s, b) = n
        .post(
            &demo,
            "/v2.0/floatingips",
            json!({"floatingip": {"floating_network_id": public}}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let held = b["floatingip"]["id"].as_str().unwrap().to_string();
    neutron_error(
        &n.post(
            &demo,
            "/v2.0/floatingips",
            json!({"floatingip": {"floating_network_id": public}}),
        )
        .await,
        409,
        "OverQuota",
    );
    let (_, b) = n
        .get(&demo, &format!("/v2.0/quotas/{demo_project}/details"))
        .await;
    assert_eq!(
        b["quota"]["floatingip"],
        json!({"limit": 1, "used": 1, "reserved": 0}),
        "{b}"
    );
    assert_eq!(b["quota"]["port"]["used"], 1, "{b}");
    let (s, _) = n
        .call(
            &admin,
            Method::DELETE,
            &format!("/v2.0/quotas/{demo_project}"),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (_, b) = n.get(&demo, &format!("/v2.0/quotas/{demo_project}")).await;
    assert_eq!(b["quota"]["floatingip"], 10, "{b}");
    let (s, _) = n
        .call(
            &demo,
            Method::DELETE,
            &format!("/v2.0/floatingips/{held}"),
            None,
        )
        .await;
    assert_eq!(s, 204);

    // Security groups and rules.
    let (s, b) = n
        .post(
            &demo,
            "/v2.0/security-groups",
            json!({"security_group": {"name": "web", "description": "w"}}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let web = b["security_group"]["id"].as_str().unwrap().to_string();
    assert_eq!(b["security_group"]["project_id"], demo_project.as_str());
    neutron_error(
        &n.post(
            &reader,
            "/v2.0/security-groups",
            json!({"security_group": {"name": "r"}}),
        )
        .await,
        403,
        "HTTPForbidden",
    );
    neutron_error(
        &n.post(
            &demo,
            "/v2.0/security-groups",
            json!({"security_group": {"name": "default"}}),
        )
        .await,
        409,
        "SecurityGroupDefaultAlreadyExists",
    );
    let (s, b) = n
        .call(&demo, Method::POST, "/v2.0/security-groups", None)
        .await;
    assert_eq!(s, 400, "no body: {b}");
    assert!(b["NeutronError"].is_object(), "{b}");
    let (s, b) = n
        .post(
            &demo,
            "/v2.0/security-groups",
            json!({"security_group": "web"}),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    neutron_error(
        &n.get(&other, &format!("/v2.0/security-groups/{web}")).await,
        404,
        "SecurityGroupNotFound",
    );
    let (s, b) = n
        .call(
            &demo,
            Method::PUT,
            &format!("/v2.0/security-groups/{web}"),
            Some(json!({"security_group": {"description": "web servers"}})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        (
            b["security_group"]["name"].as_str(),
            b["security_group"]["description"].as_str()
        ),
        (Some("web"), Some("web servers"))
    );
    let rule = json!({"security_group_rule": {"security_group_id": web, "direction": "ingress",
        "ethertype": "IPv4", "protocol": "tcp", "port_range_min": 80, "port_range_max": 80,
        "remote_ip_prefix": "0.0.0.0/0"}});
    let (s, b) = n
        .post(&demo, "/v2.0/security-group-rules", rule.clone())
        .await;
    assert_eq!(s, 201, "{b}");
    let r80 = b["security_group_rule"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        (
            b["security_group_rule"]["port_range_min"].as_i64(),
            b["security_group_rule"]["direction"].as_str()
        ),
        (Some(80), Some("ingress"))
    );
    let dup = n
        .post(&demo, "/v2.0/security-group-rules", rule.clone())
        .await;
    assert_eq!(dup.0, 409, "{}", dup.1);
    neutron_error(
        &n.post(&other, "/v2.0/security-group-rules", rule).await,
        404,
        "SecurityGroupNotFound",
    );
    let (s, b) = n
        .post(
            &demo,
            "/v2.0/security-group-rules",
            json!({"security_group_rule": {
            "security_group_id": web, "direction": "egress", "protocol": "udp",
            "port_range_min": 53, "port_range_max": 53, "remote_ip_prefix": "192.0.2.0/24"}}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["security_group_rule"]["direction"], "egress");
    let (_, b) = n
        .get(
            &demo,
            &format!("/v2.0/security-group-rules?security_group_id={web}&direction=ingress"),
        )
        .await;
    assert_eq!(ids(&b, "security_group_rules"), vec![r80.clone()]);
    let (_, b) = n.get(&demo, &format!("/v2.0/security-groups/{web}")).await;
    assert!(
        b["security_group"]["security_group_rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == r80.as_str()),
        "{b}"
    );
    neutron_error(
        &n.call(
            &reader,
            Method::DELETE,
            &format!("/v2.0/security-group-rules/{r80}"),
            None,
        )
        .await,
        403,
        "HTTPForbidden",
    );
    let (s, _) = n
        .call(
            &demo,
            Method::DELETE,
            &format!("/v2.0/security-group-rules/{r80}"),
            None,
        )
        .await;
    assert_eq!(s, 204);
    neutron_error(
        &n.call(
            &demo,
            Method::DELETE,
            &format!("/v2.0/security-group-rules/{r80}"),
            None,
        )
        .await,
        404,
        "SecurityGroupRuleNotFound",
    );
    let (s, _) = n
        .call(
            &demo,
            Method::DELETE,
            &format!("/v2.0/security-groups/{web}"),
            None,
        )
        .await;
    assert_eq!(s, 204);
    neutron_error(
        &n.get(&demo, &format!("/v2.0/security-groups/{web}")).await,
        404,
        "SecurityGroupNotFound",
    );
}

/// A started cloud with the Network API, and the tokens of an admin, the demo member,
/// a member of another project and a reader of a third.
async fn network_cloud() -> (Cloud, Neutron, [String; 4]) {
    network_cloud_with(config()).await
}

/// [`network_cloud`] on `c` (made from [`config`]).
async fn network_cloud_with(mut c: metacloud_config::Config) -> (Cloud, Neutron, [String; 4]) {
    c.api.network_listen = "127.0.0.1:0".parse().unwrap();
    c.api.network_dialects = vec!["openstack-network".into()];
    let cloud = Cloud::start_with(c).await;
    let addr = cloud.running.network_addr.expect("the Network API");
    let n = Neutron {
        http: reqwest::Client::new(),
        base: format!("http://{addr}"),
    };
    let admin = cloud.token("admin", "admin-pw", "admin").await;
    let demo = cloud.token("demo", "demo-pw", "demo").await;
    let other = cloud
        .user_in_new_project(&admin, "apiother", "member")
        .await;
    let reader = cloud
        .user_in_new_project(&admin, "apireader", "reader")
        .await;
    (cloud, n, [admin, demo, other, reader])
}

impl Neutron {
    async fn put(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        self.call(token, Method::PUT, path, Some(body)).await
    }

    async fn delete(&self, token: &str, path: &str) -> (u16, Value) {
        self.call(token, Method::DELETE, path, None).await
    }

    /// Posts `body` and returns the new object's id (asserting 201).
    async fn make(&self, token: &str, collection: &str, key: &str, body: Value) -> String {
        let (s, b) = self.post(token, &format!("/v2.0/{collection}"), body).await;
        assert_eq!(s, 201, "{collection}: {b}");
        b[key]["id"].as_str().unwrap().to_string()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn networks_subnets_and_routers_made_through_the_network_api_stay_their_projects() {
    let (cloud, n, [admin, demo, other, reader]) = network_cloud().await;
    let demo_project = cloud.project_of(&demo).await;

    // External networks are the admins'; every project sees them.
    neutron_error(
        &n.post(
            &demo,
            "/v2.0/networks",
            json!({"network": {"name": "x", "router:external": true}}),
        )
        .await,
        403,
        "PolicyNotAuthorized",
    );
    neutron_error(
        &n.post(
            &demo,
            "/v2.0/networks",
            json!({"network": {"name": "x", "shared": true}}),
        )
        .await,
        403,
        "PolicyNotAuthorized",
    );
    let ext = n
        .make(
            &admin,
            "networks",
            "network",
            json!({"network": {"name": "ext", "router:external": true}}),
        )
        .await;
    let ext_subnet = n
        .make(
            &admin,
            "subnets",
            "subnet",
            json!({"subnet": {"network_id": ext, "cidr": "198.51.100.0/24", "ip_version": 4,
                "enable_dhcp": false, "name": "ext-sub",
                "allocation_pools": [{"start": "198.51.100.10", "end": "198.51.100.20"}]}}),
        )
        .await;
    for token in [&demo, &other, &reader] {
        let (_, b) = n.get(token, &format!("/v2.0/networks/{ext}")).await;
        assert_eq!(b["network"]["router:external"], true, "{b}");
        assert_eq!(b["network"]["subnets"], json!([ext_subnet]), "{b}");
    }
    let (_, b) = n.get(&demo, &format!("/v2.0/subnets/{ext_subnet}")).await;
    assert_eq!(
        b["subnet"]["allocation_pools"],
        json!([{"start": "198.51.100.10", "end": "198.51.100.20"}]),
        "{b}"
    );
    neutron_error(
        &n.post(
            &demo,
            "/v2.0/subnets",
            json!({"subnet": {"network_id": ext, "cidr": "198.51.101.0/24"}}),
        )
        .await,
        403,
        "PolicyNotAuthorized",
    );

    // A member's network and subnet.
    let mine = n
        .make(
            &demo,
            "networks",
            "network",
            json!({"network": {"name": "mine"}}),
        )
        .await;
    let (_, b) = n.get(&demo, &format!("/v2.0/networks/{mine}")).await;
    assert_eq!(
        (
            b["network"]["project_id"].as_str(),
            b["network"]["shared"].as_bool(),
            b["network"]["subnets"].clone()
        ),
        (Some(demo_project.as_str()), Some(false), json!([])),
        "{b}"
    );
    let (s, b) = n
        .post(
            &demo,
            "/v2.0/subnets",
            json!({"subnet": {"network_id": mine, "cidr": "10.70.0.0/24", "ip_version": 4,
                "dns_nameservers": ["10.70.0.1"], "name": "mine-sub"}}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let sub = b["subnet"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        (
            b["subnet"]["gateway_ip"].as_str(),
            b["subnet"]["dns_nameservers"].clone(),
            b["subnet"]["enable_dhcp"].as_bool()
        ),
        (Some("10.70.0.1"), json!(["10.70.0.1"]), Some(true))
    );

    // Malformed or impossible bodies: Neutron's 400 (or 409), never a 500.
    for body in [
        json!({"subnet": {"network_id": mine, "cidr": "10.70.0.0/33"}}),
        json!({"subnet": {"network_id": mine, "cidr": "not-a-cidr"}}),
        json!({"subnet": {"network_id": mine}}),
        json!({"subnet": {"cidr": "10.71.0.0/24"}}),
        json!({"subnet": {"network_id": mine, "cidr": "10.71.0.0/24", "ip_version": 5}}),
        json!({"subnet": {"network_id": mine, "cidr": "10.71.0.0/24", "enable_dhcp": "maybe"}}),
        json!({"subnet": {"network_id": mine, "cidr": "10.71.0.0/24", "allocation_pools": 7}}),
        json!({"subnet": []}),
    ] {
        let got = n.post(&demo, "/v2.0/subnets", body.clone()).await;
        assert_eq!(got.0, 400, "{body} → {}", got.1);
        assert!(got.1["NeutronError"]["message"].is_string(), "{}", got.1);
    }
    for body in [
        json!({"network": {"name": 5}}),
        json!({"network": {"name": "m", "mtu": "big"}}),
        json!({"network": {"name": "m", "router:external": "perhaps"}}),
        json!({"networks": {}}),
    ] {
        let got = n.post(&demo, "/v2.0/networks", body.clone()).await;
        assert_eq!(got.0, 400, "{body} → {}", got.1);
    }
    let (s, b) = n.call(&demo, Method::POST, "/v2.0/routers", None).await;
    assert_eq!(s, 400, "{b}");
    let again = n
        .post(
            &demo,
            "/v2.0/subnets",
            json!({"subnet": {"network_id": mine, "cidr": "10.71.0.0/24"}}),
        )
        .await;
    assert_eq!(again.0, 409, "one subnet per network: {}", again.1);
    let overlap = n
        .post(
            &admin,
            "/v2.0/subnets",
            json!({"subnet": {"network_id": ext, "cidr": "10.70.0.0/25"}}),
        )
        .await;
    neutron_error(&overlap, 400, "InvalidInput");

    // Another project sees none of it and changes none of it; a reader changes nothing.
    for path in [
        format!("/v2.0/networks/{mine}"),
        format!("/v2.0/subnets/{sub}"),
    ] {
        let got = n.get(&other, &path).await;
        assert_eq!(got.0, 404, "{path}: {}", got.1);
        let got = n
            .put(
                &other,
                &path,
                json!({"network": {"name": "x"}, "subnet": {"name": "x"}}),
            )
            .await;
        assert_eq!(got.0, 404, "{path}: {}", got.1);
        let got = n.delete(&other, &path).await;
        assert_eq!(got.0, 404, "{path}: {}", got.1);
    }
    // An external network's subnets are not listed to members (shown by id, as above).
    let (_, b) = n.get(&other, "/v2.0/subnets").await;
    assert!(ids(&b, "subnets").is_empty(), "{b}");
    neutron_error(
        &n.post(
            &other,
            "/v2.0/subnets",
            json!({"subnet": {"network_id": mine, "cidr": "10.72.0.0/24"}}),
        )
        .await,
        404,
        "NetworkNotFound",
    );
    let (s, _, b) = cloud
        .call(
            &other,
            Method::POST,
            "/v2.1/servers",
            Some(json!({"server": {"name": "x", "flavorRef": "42", "networks": [{"uuid": mine}]}})),
        )
        .await;
    assert_eq!(s, 400, "another project's network: {b}");
    for (path, body) in [
        ("/v2.0/networks", json!({"network": {"name": "r"}})),
        ("/v2.0/routers", json!({"router": {"name": "r"}})),
    ] {
        neutron_error(&n.post(&reader, path, body).await, 403, "HTTPForbidden");
    }

    // A router: its gateway from the external network's pool, an interface on the subnet.
    neutron_error(
        &n.post(
            &demo,
            "/v2.0/routers",
            json!({"router": {"name": "r", "external_gateway_info": {"network_id": mine}}}),
        )
        .await,
        400,
        "HTTPBadRequest",
    );
    let (s, b) = n
        .post(
            &demo,
            "/v2.0/routers",
            json!({"router": {"name": "r", "external_gateway_info": {"network_id": ext}}}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let router = b["router"]["id"].as_str().unwrap().to_string();
    let gw = &b["router"]["external_gateway_info"];
    assert_eq!(gw["network_id"], ext.as_str(), "{b}");
    assert_eq!(
        gw["external_fixed_ips"][0]["subnet_id"],
        ext_subnet.as_str(),
        "{b}"
    );
    let gw_ip = gw["external_fixed_ips"][0]["ip_address"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        gw_ip.starts_with("198.51.100.") && gw_ip != "198.51.100.1",
        "{b}"
    );
    let (s, b) = n
        .put(
            &demo,
            &format!("/v2.0/routers/{router}/add_router_interface"),
            json!({"subnet_id": sub}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let iface = b["port_id"].as_str().unwrap().to_string();
    assert_eq!(b["subnet_id"], sub.as_str());
    let (_, b) = n
        .get(&demo, &format!("/v2.0/ports?device_id={router}"))
        .await;
    let mut owners: Vec<(String, String)> = b["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["device_owner"].as_str().unwrap().to_string(),
                p["fixed_ips"][0]["ip_address"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    owners.sort();
    assert_eq!(
        owners,
        vec![
            ("network:router_gateway".to_string(), gw_ip.clone()),
            (
                "network:router_interface".to_string(),
                "10.70.0.1".to_string()
            ),
        ],
        "{b}"
    );
    let (_, b) = n.get(&demo, &format!("/v2.0/ports/{iface}")).await;
    assert_eq!(b["port"]["network_id"], mine.as_str(), "{b}");
    neutron_error(
        &n.get(&other, &format!("/v2.0/routers/{router}")).await,
        404,
        "RouterNotFound",
    );
    neutron_error(
        &n.put(
            &other,
            &format!("/v2.0/routers/{router}/add_router_interface"),
            json!({"subnet_id": sub}),
        )
        .await,
        404,
        "RouterNotFound",
    );
    let theirs = n
        .make(
            &other,
            "routers",
            "router",
            json!({"router": {"name": "theirs"}}),
        )
        .await;
    neutron_error(
        &n.put(
            &other,
            &format!("/v2.0/routers/{theirs}/add_router_interface"),
            json!({"subnet_id": sub}),
        )
        .await,
        404,
        "SubnetNotFound",
    );
    let (_, b) = n.get(&other, "/v2.0/routers").await;
    assert_eq!(ids(&b, "routers"), vec![theirs.clone()]);

    // In use: the subnet and the router refuse to go; the network too.
    let (s, b) = n.delete(&demo, &format!("/v2.0/subnets/{sub}")).await;
    assert_eq!(s, 409, "{b}");
    neutron_error(
        &n.delete(&demo, &format!("/v2.0/routers/{router}")).await,
        409,
        "RouterInUse",
    );
    let (s, b) = n.delete(&demo, &format!("/v2.0/networks/{mine}")).await;
    assert_eq!(s, 409, "{b}");

    // A floating address from the pool is not the router's.
    let (s, b) = n
        .post(
            &demo,
            "/v2.0/floatingips",
            json!({"floatingip": {"floating_network_id": ext}}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let fip = b["floatingip"]["floating_ip_address"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(fip, gw_ip);
    assert_eq!(b["floatingip"]["floating_network_id"], ext.as_str());
    let (s, b) = n.delete(&admin, &format!("/v2.0/networks/{ext}")).await;
    assert_eq!(s, 409, "an address of it is held: {b}");

    // Taken apart in order, nothing is left.
    let (s, b) = n
        .put(
            &demo,
            &format!("/v2.0/routers/{router}/remove_router_interface"),
            json!({"subnet_id": sub}),
        )
        .await;
    assert_eq!(
        (s, b["port_id"].as_str()),
        (200, Some(iface.as_str())),
        "{b}"
    );
    let (s, b) = n
        .put(
            &demo,
            &format!("/v2.0/routers/{router}"),
            json!({"router": {"external_gateway_info": {}}}),
        )
        .await;
    assert_eq!(
        (s, b["router"]["external_gateway_info"].clone()),
        (200, Value::Null),
        "{b}"
    );
    for (token, path) in [
        (&demo, format!("/v2.0/routers/{router}")),
        (&other, format!("/v2.0/routers/{theirs}")),
        (&demo, format!("/v2.0/floatingips/{fip}")),
        (&demo, format!("/v2.0/subnets/{sub}")),
        (&demo, format!("/v2.0/networks/{mine}")),
        (&admin, format!("/v2.0/networks/{ext}")),
    ] {
        let (s, b) = n.delete(token, &path).await;
        assert_eq!(s, 204, "{path}: {b}");
    }
    let (_, b) = n.get(&admin, "/v2.0/networks").await;
    assert!(!ids(&b, "networks").contains(&ext), "{b}");
    let (_, b) = n.get(&admin, "/v2.0/subnets").await;
    assert!(b["subnets"].as_array().unwrap().is_empty(), "{b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ports_made_through_the_network_api_go_to_a_server_and_outlive_it() {
    let (cloud, n, [admin, demo, other, reader]) = network_cloud().await;
    let net = n
        .make(
            &demo,
            "networks",
            "network",
            json!({"network": {"name": "pnet"}}),
        )
        .await;
    let subnet = n
        .make(
            &demo,
            "subnets",
            "subnet",
            json!({"subnet": {"network_id": net, "cidr": "10.70.0.0/24", "ip_version": 4}}),
        )
        .await;
    let web = n
        .make(
            &demo,
            "security-groups",
            "security_group",
            json!({"security_group": {"name": "pweb"}}),
        )
        .await;

    // An unbound port with the address asked for, and the project's default group.
    let (s, b) = n
        .post(
            &demo,
            "/v2.0/ports",
            json!({"port": {"network_id": net, "name": "p1",
                "fixed_ips": [{"subnet_id": subnet, "ip_address": "10.70.0.50"}]}}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let port = b["port"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        (
            b["port"]["name"].as_str(),
            b["port"]["device_id"].as_str(),
            b["port"]["device_owner"].as_str(),
            b["port"]["status"].as_str(),
            b["port"]["fixed_ips"].clone(),
        ),
        (
            Some("p1"),
            Some(""),
            Some(""),
            Some("DOWN"),
            json!([{"subnet_id": subnet, "ip_address": "10.70.0.50"}])
        ),
        "{b}"
    );
    assert_eq!(b["port"]["security_groups"].as_array().unwrap().len(), 1);
    let mac = b["port"]["mac_address"].as_str().unwrap().to_string();
    assert!(mac.starts_with("fa:16:3e:"), "{b}");
    // The same address again, an address outside the subnet, another network's subnet.
    neutron_error(
        &n.post(
            &demo,
            "/v2.0/ports",
            json!({"port": {"network_id": net, "fixed_ips": [{"ip_address": "10.70.0.50"}]}}),
        )
        .await,
        409,
        "IpAddressAlreadyAllocated",
    );
    neutron_error(
        &n.post(
            &demo,
            "/v2.0/ports",
            json!({"port": {"network_id": net, "fixed_ips": [{"ip_address": "10.71.0.5"}]}}),
        )
        .await,
        400,
        "HTTPBadRequest",
    );
    // Malformed bodies: Neutron's 400, never a 500.
    for body in [
        json!({"port": {"name": "no network"}}),
        json!({"port": {"network_id": net, "fixed_ips": "10.70.0.9"}}),
        json!({"port": {"network_id": net, "admin_state_up": "maybe"}}),
        json!({"port": {"network_id": net, "security_groups": "pweb"}}),
        json!({"port": "not an object"}),
    ] {
        neutron_error(
            &n.post(&demo, "/v2.0/ports", body.clone()).await,
            400,
            "HTTPBadRequest",
        );
    }
    // A MAC is chosen by the admins or the network's owner, not on a shared network.
    let shared = n
        .make(
            &admin,
            "networks",
            "network",
            json!({"network": {"name": "pshared", "shared": true}}),
        )
        .await;
    neutron_error(
        &n.post(
            &demo,
            "/v2.0/ports",
            json!({"port": {"network_id": shared, "mac_address": "fa:16:3e:00:00:01"}}),
        )
        .await,
        403,
        "PolicyNotAuthorized",
    );
    let (s, b) = n
        .post(
            &demo,
            "/v2.0/ports",
            json!({"port": {"network_id": net, "mac_address": "fa:16:3e:00:00:02"}}),
        )
        .await;
    assert_eq!(
        (s, b["port"]["mac_address"].as_str()),
        (201, Some("fa:16:3e:00:00:02")),
        "{b}"
    );
    let mac_port = b["port"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        n.delete(&demo, &format!("/v2.0/ports/{mac_port}")).await.0,
        204
    );

    // A network without a subnet takes ports without an address; no server boots on one.
    let bare = n
        .make(
            &demo,
            "networks",
            "network",
            json!({"network": {"name": "bare"}}),
        )
        .await;
    let (s, b) = n
        .post(&demo, "/v2.0/ports", json!({"port": {"network_id": bare}}))
        .await;
    assert_eq!((s, b["port"]["fixed_ips"].clone()), (201, json!([])), "{b}");
    let bare_port = b["port"]["id"].as_str().unwrap().to_string();
    let (s, _, b) = cloud
        .call(
            &demo,
            Method::POST,
            "/v2.1/servers",
            Some(json!({"server": {"name": "nope", "flavorRef": "42",
                "networks": [{"port": bare_port}]}})),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(
        n.delete(&demo, &format!("/v2.0/ports/{bare_port}")).await.0,
        204
    );

    // Filters: by network, by address, by name.
    for q in [
        format!("network_id={net}"),
        "fixed_ips=ip_address%3D10.70.0.50".to_string(),
        "name=p1".to_string(),
    ] {
        let (_, b) = n.get(&demo, &format!("/v2.0/ports?{q}")).await;
        assert_eq!(ids(&b, "ports"), vec![port.clone()], "{q}: {b}");
    }

    // Changes: name, groups; the network and MAC stay.
    let (s, b) = n
        .put(
            &demo,
            &format!("/v2.0/ports/{port}"),
            json!({"port": {"name": "p1b", "security_groups": [web]}}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        (
            b["port"]["name"].as_str(),
            b["port"]["security_groups"].clone()
        ),
        (Some("p1b"), json!([web])),
        "{b}"
    );
    neutron_error(
        &n.put(
            &demo,
            &format!("/v2.0/ports/{port}"),
            json!({"port": {"network_id": "elsewhere"}}),
        )
        .await,
        400,
        "HTTPBadRequest",
    );

    // Other projects neither see nor change it; a reader changes nothing.
    for (method, body) in [
        (Method::GET, None),
        (Method::PUT, Some(json!({"port": {"name": "x"}}))),
        (Method::DELETE, None),
    ] {
        let got = n
            .call(&other, method.clone(), &format!("/v2.0/ports/{port}"), body)
            .await;
        neutron_error(&got, 404, "PortNotFound");
    }
    neutron_error(
        &n.post(&other, "/v2.0/ports", json!({"port": {"network_id": net}}))
            .await,
        404,
        "NetworkNotFound",
    );
    neutron_error(
        &n.post(&reader, "/v2.0/ports", json!({"port": {"network_id": net}}))
            .await,
        403,
        "HTTPForbidden",
    );

    // A server takes the port: its address, its groups; the port shows the server.
    let (s, _, b) = cloud
        .call(
            &demo,
            Method::POST,
            "/v2.1/servers",
            Some(json!({"server": {"name": "pvm", "flavorRef": "42",
                "networks": [{"port": port}]}})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let vm = b["server"]["id"].as_str().unwrap().to_string();
    cloud.wait_status(&demo, &vm, "ACTIVE").await;
    let (_, b) = cloud.get(&demo, &format!("/v2.1/servers/{vm}")).await;
    assert_eq!(
        b["server"]["addresses"]["pnet"][0]["addr"], "10.70.0.50",
        "{b}"
    );
    assert_eq!(
        b["server"]["addresses"]["pnet"][0]["OS-EXT-IPS-MAC:mac_addr"], mac,
        "{b}"
    );
    assert_eq!(
        b["server"]["security_groups"],
        json!([{"name": "pweb"}]),
        "{b}"
    );
    let (_, b) = n.get(&demo, &format!("/v2.0/ports?device_id={vm}")).await;
    assert_eq!(ids(&b, "ports"), vec![port.clone()], "{b}");
    assert_eq!(b["ports"][0]["device_owner"], "compute:nova", "{b}");
    // It serves one server; a plugged port is not deleted through the Network API.
    let (s, _, b) = cloud
        .call(
            &demo,
            Method::POST,
            "/v2.1/servers",
            Some(json!({"server": {"name": "pvm2", "flavorRef": "42",
                "networks": [{"port": port}]}})),
        )
        .await;
    assert_eq!(s, 409, "{b}");
    let (s, _, b) = cloud
        .call(
            &other,
            Method::POST,
            "/v2.1/servers",
            Some(json!({"server": {"name": "pvm3", "flavorRef": "42",
                "networks": [{"port": port}]}})),
        )
        .await;
    assert_eq!(s, 404, "another project's port: {b}");
    neutron_error(
        &n.delete(&demo, &format!("/v2.0/ports/{port}")).await,
        409,
        "PortInUse",
    );

    // The server goes; the port stays, unbound, with its address and groups.
    let (s, b) = cloud.delete_server(&demo, &vm).await;
    assert_eq!(s, 204, "{b}");
    wait_for(
        "the server gone",
        std::time::Duration::from_secs(30),
        || async {
            (cloud.get(&demo, &format!("/v2.1/servers/{vm}")).await.0 == 404).then_some(())
        },
    )
    .await;
    let (s, b) = n.get(&demo, &format!("/v2.0/ports/{port}")).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        (
            b["port"]["device_id"].as_str(),
            b["port"]["fixed_ips"][0]["ip_address"].as_str(),
            b["port"]["security_groups"].clone()
        ),
        (Some(""), Some("10.70.0.50"), json!([web])),
        "{b}"
    );

    // Bulk create is all or nothing; then everything is deleted.
    let (s, b) = n
        .post(
            &demo,
            "/v2.0/ports",
            json!({"ports": [{"network_id": net, "name": "b1"},
                {"network_id": net, "name": "b2", "security_groups": []}]}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let bulk = ids(&b, "ports");
    assert_eq!(b["ports"][1]["security_groups"], json!([]), "{b}");
    let (s, b) = n
        .post(
            &demo,
            "/v2.0/ports",
            json!({"ports": [{"network_id": net, "name": "c1"},
                {"network_id": net, "fixed_ips": [{"ip_address": "10.70.0.50"}]}]}),
        )
        .await;
    assert_eq!(s, 409, "{b}");
    let (_, b) = n.get(&demo, "/v2.0/ports?name=c1").await;
    assert!(ids(&b, "ports").is_empty(), "rolled back: {b}");
    for p in bulk.iter().chain([&port]) {
        let (s, b) = n.delete(&demo, &format!("/v2.0/ports/{p}")).await;
        assert_eq!(s, 204, "{b}");
    }
    neutron_error(
        &n.get(&demo, &format!("/v2.0/ports/{port}")).await,
        404,
        "PortNotFound",
    );
    // Its address is free again; admins may choose a MAC.
    let (s, b) = n
        .post(
            &admin,
            "/v2.0/ports",
            json!({"port": {"network_id": net, "mac_address": "fa:16:3e:00:00:01",
                "project_id": cloud.project_of(&demo).await,
                "fixed_ips": [{"ip_address": "10.70.0.50"}]}}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["port"]["mac_address"], "fa:16:3e:00:00:01", "{b}");
    neutron_error(
        &n.post(
            &admin,
            "/v2.0/ports",
            json!({"port": {"network_id": net, "mac_address": "fa:16:3e:00:00:01",
                "project_id": cloud.project_of(&demo).await}}),
        )
        .await,
        409,
        "MacAddressInUse",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn floating_ips_follow_ports_and_requests_are_checked_as_neutron_checks_them() {
    let (_cloud, n, [admin, demo, _other, _reader]) = network_cloud().await;
    // Bulk networks and subnets.
    let (s, b) = n
        .post(
            &demo,
            "/v2.0/networks",
            json!({"networks": [{"name": "bulk-a"}, {"name": "bulk-b"}]}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let nets = ids(&b, "networks");
    let (s, b) = n
        .post(
            &demo,
            "/v2.0/subnets",
            json!({"subnets": [
                {"network_id": nets[0], "cidr": "10.93.0.0/24", "ip_version": 4},
                {"network_id": nets[1], "cidr": "10.93.1.0/24", "ip_version": 4}]}),
        )
        .await;
    assert_eq!((s, ids(&b, "subnets").len()), (201, 2), "{b}");
    // Another network's range is refused in the words scripts look for.
    let third = n
        .make(
            &demo,
            "networks",
            "network",
            json!({"network": {"name": "bulk-c"}}),
        )
        .await;
    let (s, b) = n
        .post(
            &demo,
            "/v2.0/subnets",
            json!({"subnet": {"network_id": third, "cidr": "10.93.0.0/25"}}),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    assert!(
        b["NeutronError"]["message"]
            .as_str()
            .unwrap()
            .contains("overlaps with another subnet"),
        "{b}"
    );

    // An external network: members see it, not its subnets; no floating IP from a
    // private network.
    let ext = n
        .make(
            &admin,
            "networks",
            "network",
            json!({"network": {"name": "fext", "router:external": true}}),
        )
        .await;
    n.make(
        &admin,
        "subnets",
        "subnet",
        json!({"subnet": {"network_id": ext, "cidr": "198.51.100.0/28", "enable_dhcp": false}}),
    )
    .await;
    let (_, b) = n.get(&demo, "/v2.0/subnets").await;
    assert!(
        b["subnets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["network_id"] != ext),
        "{b}"
    );
    neutron_error(
        &n.post(
            &demo,
            "/v2.0/floatingips",
            json!({"floatingip": {"floating_network_id": nets[0]}}),
        )
        .await,
        400,
        "HTTPBadRequest",
    );

    // Nova's API takes the external network's id as the pool, as clients send it.
    let (s, _, b) = _cloud
        .call(
            &demo,
            Method::POST,
            "/v2.1/os-floating-ips",
            Some(json!({"pool": ext})),
        )
        .await;
    assert_eq!(
        (s, b["floating_ip"]["pool"].as_str()),
        (200, Some("fext")),
        "{b}"
    );
    let nova_fip = b["floating_ip"]["id"].as_str().unwrap().to_string();
    let (s, _, _) = _cloud
        .call(
            &demo,
            Method::DELETE,
            &format!("/v2.1/os-floating-ips/{nova_fip}"),
            None,
        )
        .await;
    assert_eq!(s, 202);

    // A floating IP on an unbound port, moved to another, then the port deleted.
    let port = |name: &str| {
        let (n, demo, net) = (&n, &demo, nets[0].clone());
        let name = name.to_string();
        async move {
            n.make(
                demo,
                "ports",
                "port",
                json!({"port": {"network_id": net, "name": name}}),
            )
            .await
        }
    };
    let (p1, p2) = (port("f1").await, port("f2").await);
    // A router joins that network (by an unbound port, which becomes its interface) to
    // the external one: floating IPs of ports there name it.
    let router = n
        .make(
            &demo,
            "routers",
            "router",
            json!({"router": {"name": "fr", "external_gateway_info": {"network_id": ext}}}),
        )
        .await;
    let p3 = port("f3").await;
    let (s, b) = n
        .put(
            &demo,
            &format!("/v2.0/routers/{router}/add_router_interface"),
            json!({"port_id": p3}),
        )
        .await;
    assert_eq!((s, b["port_id"].clone()), (200, json!(p3)), "{b}");
    let (_, b) = n.get(&demo, &format!("/v2.0/ports/{p3}")).await;
    assert_eq!(
        (
            b["port"]["device_id"].as_str(),
            b["port"]["device_owner"].as_str()
        ),
        (Some(router.as_str()), Some("network:router_interface")),
        "{b}"
    );
    let (s, b) = n
        .post(
            &demo,
            "/v2.0/floatingips",
            json!({"floatingip": {"floating_network_id": ext, "port_id": p1}}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let fip = b["floatingip"]["id"].as_str().unwrap().to_string();
    assert_eq!(b["floatingip"]["port_id"], json!(p1), "{b}");
    assert_eq!(b["floatingip"]["router_id"], json!(router), "{b}");
    assert!(b["floatingip"]["fixed_ip_address"]
        .as_str()
        .unwrap()
        .starts_with("10.93.0."));
    let (s, b) = n
        .put(
            &demo,
            &format!("/v2.0/floatingips/{fip}"),
            json!({"floatingip": {"port_id": p2}}),
        )
        .await;
    assert_eq!(
        (s, b["floatingip"]["port_id"].clone()),
        (200, json!(p2)),
        "{b}"
    );
    assert_eq!(n.delete(&demo, &format!("/v2.0/ports/{p2}")).await.0, 204);
    let (_, b) = n.get(&demo, &format!("/v2.0/floatingips/{fip}")).await;
    assert_eq!(b["floatingip"]["port_id"], Value::Null, "{b}");
    assert_eq!(n.delete(&demo, &format!("/v2.0/ports/{p1}")).await.0, 204);
    let (s, b) = n
        .put(
            &demo,
            &format!("/v2.0/routers/{router}/remove_router_interface"),
            json!({"port_id": p3}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    neutron_error(
        &n.get(&demo, &format!("/v2.0/ports/{p3}")).await,
        404,
        "PortNotFound",
    );

    // Security group details: protocol numbers, port bounds, the reserved name.
    let g = n
        .make(
            &demo,
            "security-groups",
            "security_group",
            json!({"security_group": {"name": "sgx"}}),
        )
        .await;
    let (s, b) = n
        .post(
            &demo,
            "/v2.0/security-group-rules",
            json!({"security_group_rule": {"security_group_id": g, "direction": "ingress",
                "protocol": 17, "port_range_min": 53, "port_range_max": 53}}),
        )
        .await;
    assert_eq!(
        (s, b["security_group_rule"]["protocol"].as_str()),
        (201, Some("udp")),
        "{b}"
    );
    let (s, b) = n
        .post(
            &demo,
            "/v2.0/security-group-rules",
            json!({"security_group_rule": {"security_group_id": g, "direction": "ingress",
                "protocol": "tcp", "port_range_min": -16, "port_range_max": 80}}),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    assert!(b["NeutronError"]["message"]
        .as_str()
        .unwrap()
        .contains("Invalid value for port -16"));
    for (min, max, said) in [
        (json!(1), json!(256), "Invalid value for ICMP code"),
        (json!(300), json!(1), "Invalid value for ICMP type"),
        (
            Value::Null,
            json!(6),
            "ICMP type (port-range-min) is missing",
        ),
    ] {
        let (s, b) = n
            .post(
                &demo,
                "/v2.0/security-group-rules",
                json!({"security_group_rule": {"security_group_id": g, "direction": "ingress",
                    "protocol": "icmp", "port_range_min": min, "port_range_max": max}}),
            )
            .await;
        assert_eq!(s, 400, "{b}");
        assert!(
            b["NeutronError"]["message"]
                .as_str()
                .unwrap()
                .contains(said),
            "{b}"
        );
    }
    neutron_error(
        &n.put(
            &demo,
            &format!("/v2.0/security-groups/{g}"),
            json!({"security_group": {"name": "default"}}),
        )
        .await,
        409,
        "SecurityGroupNameReserved",
    );
}

/// A Nova fault: `{kind: {"code": status, "message": …}}`, whose message contains `says`.
fn nova_fault(got: &(u16, Value), status: u16, kind: &str, says: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1[kind]["code"], status, "{}", got.1);
    let message = got.1[kind]["message"].as_str().unwrap_or_default();
    assert!(message.contains(says), "{says:?} not in {}", got.1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn interfaces_are_checked_a_failed_plug_changes_nothing_and_detach_releases_ports() {
    interface_attach_and_detach(config()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn interfaces_attach_and_detach_on_postgresql() {
    let url = metacloud_db::scratch::create_postgres_database()
        .await
        .expect("scratch PostgreSQL database");
    let mut c = config();
    c.database.url = Some(url.clone());
    interface_attach_and_detach(c).await;
    metacloud_db::scratch::drop_postgres_database(&url).await;
}

/// `os-interface` attach and detach through the OpenStack dialect, on a cloud whose
/// compute host has no network worker (simulated guests have no port NICs to plug): every
/// check Nova makes answers as Nova does, a plug the host refuses puts the port and the
/// server's groups back as they were, and detach deletes a port the server's create made
/// and unbinds one made through the Network API.
async fn interface_attach_and_detach(c: metacloud_config::Config) {
    let (cloud, n, [_admin, demo, other, reader]) = network_cloud_with(c).await;
    let make_net = |name: &'static str, cidr: &'static str| {
        let (n, demo) = (&n, demo.clone());
        async move {
            let net = n
                .make(
                    &demo,
                    "networks",
                    "network",
                    json!({"network": {"name": name}}),
                )
                .await;
            n.make(
                &demo,
                "subnets",
                "subnet",
                json!({"subnet": {"network_id": net, "cidr": cidr, "ip_version": 4}}),
            )
            .await;
            net
        }
    };
    let net_a = make_net("ifa", "10.71.0.0/24").await;
    let net_b = make_net("ifb", "10.72.0.0/24").await;
    let web = n
        .make(
            &demo,
            "security-groups",
            "security_group",
            json!({"security_group": {"name": "ifweb"}}),
        )
        .await;
    let free = n
        .make(
            &demo,
            "ports",
            "port",
            json!({"port": {"network_id": net_a, "security_groups": [web]}}),
        )
        .await;
    let nova = |token: &str, method: Method, path: String, body: Option<Value>| {
        let (cloud, token) = (&cloud, token.to_string());
        async move {
            let (s, _, b) = cloud.call(&token, method, &path, body).await;
            (s, b)
        }
    };
    let (s, b) = nova(
        &demo,
        Method::POST,
        "/v2.1/servers".into(),
        Some(json!({"server": {"name": "ifvm", "flavorRef": "42", "networks": [{"uuid": net_a}]}})),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    let vm = b["server"]["id"].as_str().unwrap().to_string();
    cloud.wait_status(&demo, &vm, "ACTIVE").await;
    let interfaces = format!("/v2.1/servers/{vm}/os-interface");
    let (s, b) = cloud.get(&demo, &interfaces).await;
    assert_eq!(s, 200, "{b}");
    let made = b["interfaceAttachments"][0]["port_id"]
        .as_str()
        .unwrap()
        .to_string();
    let attach =
        |token: &str, body: Value| nova(token, Method::POST, interfaces.clone(), Some(body));

    // Malformed requests: 400 with Nova's messages, before anything is looked up.
    let unknown = "0a2b4c6d-8e0f-4a1b-9c2d-3e4f5a6b7c8d";
    for (body, says) in [
        (
            json!({"interfaceAttachment": {"port_id": free, "net_id": net_b}}),
            "Must not input both",
        ),
        (
            json!({"interfaceAttachment": {"port_id": "x"}}),
            "is not a 'uuid'",
        ),
        (
            json!({"interfaceAttachment": {"net_id": net_b, "fixed_ips": []}}),
            "too short",
        ),
        (
            json!({"interfaceAttachment": {"net_id": net_b, "fixed_ips": [{"ip_address": "a.b"}]}}),
            "ip_address",
        ),
        (
            json!({"interfaceAttachment": {"fixed_ips": [{"ip_address": "10.72.0.9"}]}}),
            "Must input network_id",
        ),
        (
            json!({"interfaceAttachment": {"net_id": net_b, "tag": "t"}}),
            "'tag' was unexpected",
        ),
        (json!({"interface": {}}), "'interface' was unexpected"),
        (
            json!({"interfaceAttachment": []}),
            "is not of type 'object'",
        ),
        (json!({}), "Multiple possible networks"),
    ] {
        nova_fault(&attach(&demo, body.clone()).await, 400, "badRequest", says);
    }
    // Unknown or other projects' things: 404; a port another server has: 409.
    let elsewhere = n
        .make(
            &other,
            "networks",
            "network",
            json!({"network": {"name": "ifo"}}),
        )
        .await;
    n.make(
        &other,
        "subnets",
        "subnet",
        json!({"subnet": {"network_id": elsewhere, "cidr": "10.73.0.0/24", "ip_version": 4}}),
    )
    .await;
    let others = n
        .make(
            &other,
            "ports",
            "port",
            json!({"port": {"network_id": elsewhere}}),
        )
        .await;
    for body in [
        json!({"interfaceAttachment": {"net_id": unknown}}),
        json!({"interfaceAttachment": {"net_id": elsewhere}}),
        json!({"interfaceAttachment": {"port_id": unknown}}),
        json!({"interfaceAttachment": {"port_id": others}}),
    ] {
        nova_fault(&attach(&demo, body).await, 404, "itemNotFound", "");
    }
    nova_fault(
        &attach(&other, json!({"interfaceAttachment": {"port_id": others}})).await,
        404,
        "itemNotFound",
        "",
    );
    nova_fault(
        &attach(&demo, json!({"interfaceAttachment": {"port_id": made}})).await,
        409,
        "conflictingRequest",
        "still in use",
    );
    nova_fault(
        &attach(&reader, json!({"interfaceAttachment": {"net_id": net_b}})).await,
        403,
        "forbidden",
        "",
    );

    // The host cannot plug (no network worker here): 400, and the port, its groups and
    // the server's groups are as they were; a port made on a network is gone again with
    // its address.
    let groups_of = |id: String| {
        let cloud = &cloud;
        let demo = demo.clone();
        async move {
            let (_, g) = cloud
                .get(&demo, &format!("/v2.1/servers/{id}/os-security-groups"))
                .await;
            let mut names: Vec<String> = g["security_groups"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| g["name"].as_str().unwrap().to_string())
                .collect();
            names.sort();
            names
        }
    };
    let before = groups_of(vm.clone()).await;
    nova_fault(
        &attach(&demo, json!({"interfaceAttachment": {"port_id": free}})).await,
        400,
        "badRequest",
        "no network worker",
    );
    let (_, p) = n.get(&demo, &format!("/v2.0/ports/{free}")).await;
    assert_eq!(
        (
            p["port"]["device_id"].as_str(),
            p["port"]["status"].as_str(),
            p["port"]["security_groups"].clone()
        ),
        (Some(""), Some("DOWN"), json!([web])),
        "{p}"
    );
    assert_eq!(groups_of(vm.clone()).await, before);
    nova_fault(
        &attach(
            &demo,
            json!({"interfaceAttachment": {"net_id": net_b,
                "fixed_ips": [{"ip_address": "10.72.0.9"}]}}),
        )
        .await,
        400,
        "badRequest",
        "no network worker",
    );
    let (_, l) = n
        .get(&demo, &format!("/v2.0/ports?network_id={net_b}"))
        .await;
    assert_eq!(ids(&l, "ports"), Vec::<String>::new(), "{l}");
    let (s, p) = n
        .post(
            &demo,
            "/v2.0/ports",
            json!({"port": {"network_id": net_b, "fixed_ips": [{"ip_address": "10.72.0.9"}]}}),
        )
        .await;
    assert_eq!(s, 201, "10.72.0.9 is free again: {p}");
    let again = p["port"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        n.delete(&demo, &format!("/v2.0/ports/{again}")).await.0,
        204
    );
    let (_, b2) = cloud.get(&demo, &interfaces).await;
    assert_eq!(ids_of_attachments(&b2), vec![made.clone()], "{b2}");

    // Detach: only the server's own ports, by its project's members.
    let detach =
        |token: &str, port: &str| nova(token, Method::DELETE, format!("{interfaces}/{port}"), None);
    nova_fault(
        &detach(&demo, &free).await,
        404,
        "itemNotFound",
        "attached to instance",
    );
    nova_fault(&detach(&reader, &made).await, 403, "forbidden", "");
    nova_fault(&detach(&other, &made).await, 404, "itemNotFound", "");
    // A port the create made is deleted, its address freed.
    let (s, b2) = detach(&demo, &made).await;
    assert_eq!(s, 202, "{b2}");
    let (_, b2) = cloud.get(&demo, &interfaces).await;
    assert_eq!(b2["interfaceAttachments"], json!([]), "{b2}");
    assert_eq!(n.get(&demo, &format!("/v2.0/ports/{made}")).await.0, 404);
    let (_, v) = cloud.get(&demo, &format!("/v2.1/servers/{vm}")).await;
    assert_eq!(v["server"]["addresses"], json!({}), "{v}");
    let (_, acts) = cloud
        .get(&demo, &format!("/v2.1/servers/{vm}/os-instance-actions"))
        .await;
    assert!(
        acts["instanceActions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["action"] == "detach_interface"),
        "{acts}"
    );

    // A port made through the Network API is unbound and kept, with its address.
    let (s, b2) = nova(
        &demo,
        Method::POST,
        "/v2.1/servers".into(),
        Some(json!({"server": {"name": "ifvm2", "flavorRef": "42",
            "networks": [{"port": free}]}})),
    )
    .await;
    assert_eq!(s, 202, "{b2}");
    let vm2 = b2["server"]["id"].as_str().unwrap().to_string();
    cloud.wait_status(&demo, &vm2, "ACTIVE").await;
    let (_, p) = n.get(&demo, &format!("/v2.0/ports/{free}")).await;
    let address = p["port"]["fixed_ips"][0]["ip_address"].clone();
    assert_eq!(p["port"]["device_id"].as_str(), Some(vm2.as_str()), "{p}");
    // Not while paused: the guest could not let the device go.
    let (s, b2) = nova(
        &demo,
        Method::POST,
        format!("/v2.1/servers/{vm2}/action"),
        Some(json!({"pause": null})),
    )
    .await;
    assert_eq!(s, 202, "{b2}");
    cloud.wait_status(&demo, &vm2, "PAUSED").await;
    let unplug2 = format!("/v2.1/servers/{vm2}/os-interface/{free}");
    nova_fault(
        &nova(&demo, Method::DELETE, unplug2.clone(), None).await,
        409,
        "conflictingRequest",
        "vm_state paused",
    );
    let (s, b2) = nova(
        &demo,
        Method::POST,
        format!("/v2.1/servers/{vm2}/action"),
        Some(json!({"unpause": null})),
    )
    .await;
    assert_eq!(s, 202, "{b2}");
    cloud.wait_status(&demo, &vm2, "ACTIVE").await;
    let (s, b2) = nova(&demo, Method::DELETE, unplug2, None).await;
    assert_eq!(s, 202, "{b2}");
    let (_, p) = n.get(&demo, &format!("/v2.0/ports/{free}")).await;
    assert_eq!(
        (
            p["port"]["device_id"].as_str(),
            p["port"]["fixed_ips"][0]["ip_address"].clone()
        ),
        (Some(""), address),
        "{p}"
    );
    for id in [&vm, &vm2] {
        assert_eq!(cloud.delete_server(&demo, id).await.0, 204);
    }
}

fn ids_of_attachments(v: &Value) -> Vec<String> {
    v["interfaceAttachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["port_id"].as_str().unwrap().to_string())
        .collect()
}
