//! The Network API (Neutron v2.0) dialect over real HTTP, as far as it is built (issue 15):
//! the catalog's `network` entry, version discovery, extensions, networks and subnets
//! (read), security groups and rules; Neutron's error body; projects kept apart; readers
//! read only.

use crate::openstack::{config, Cloud};
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
    let mut c = config();
    c.api.network_listen = "127.0.0.1:0".parse().unwrap();
    c.api.network_dialects = vec!["openstack-network".into()];
    let cloud = Cloud::start_with(c).await;
    let addr = cloud
        .running
        .network_addr
        .expect("the Network API listening");
    let n = Neutron {
        http: reqwest::Client::new(),
        base: format!("http://{addr}"),
    };
    let admin = cloud.token("admin", "admin-pw", "admin").await;
    let demo = cloud.token("demo", "demo-pw", "demo").await;
    let other = cloud
        .user_in_new_project(&admin, "netother", "member")
        .await;
    let reader = cloud
        .user_in_new_project(&admin, "netreader", "reader")
        .await;

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
    assert!(
        !aliases.contains(&"router"),
        "routers are not served yet: {b}"
    );
    neutron_error(
        &n.get(&demo, "/v2.0/extensions/router").await,
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
    assert_eq!(net["subnets"], json!([private]));
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
        &n.get(&other, &format!("/v2.0/subnets/{private}")).await,
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
        404,
        "ExternalNetworkNotFound",
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
