//! Nova 2.1's network APIs (nova-network's): os-networks, os-tenant-networks, floating
//! IPs (pools, bulk), fixed IPs, security groups and their rules, a server's security
//! groups, virtual interfaces and interface attachments, and the server actions that
//! change them.

use crate::bindings::metacloud::api::compute;
use crate::bindings::metacloud::api::types::{
    Caller, FloatingIp, Network, NetworkCreate, NetworkRequest, RequestedNetwork, SecurityGroup,
    SecurityGroupRule, SecurityGroupRuleCreate, ServerNetworkInfo, ServerNetworking,
};
use crate::microversion::{since, Change};
use crate::{time, Fault, NovaRequest, Reply, Request};
use serde_json::{json, Map, Value};

fn invalid(field: &str, v: &Value, why: &str) -> Fault {
    Fault::bad_request(format!(
        "Invalid input for field/attribute {field}. Value: {v}. {why}"
    ))
}

fn required(object: &str, field: &str) -> Fault {
    Fault::bad_request(format!(
        "Invalid input for field/attribute {object}. '{field}' is a required property"
    ))
}

fn extra(object: &str, m: &Map<String, Value>, allowed: &[&str]) -> Result<(), Fault> {
    match m.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(Fault::bad_request(format!("Invalid input for field/attribute {object}. Additional properties are not allowed ('{k}' was unexpected)"))),
        None => Ok(()),
    }
}

/// The object under `key` of the body.
fn object(body: &Value, key: &str) -> Result<Map<String, Value>, Fault> {
    match body.get(key) {
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(v) => Err(invalid(key, v, &format!("{v} is not of type 'object'"))),
        None => Err(Fault::bad_request(format!(
            "Invalid input for field/attribute {key}. '{key}' is a required property"
        ))),
    }
}

fn opt_str(m: &Map<String, Value>, field: &str) -> Result<Option<String>, Fault> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(invalid(field, v, &format!("{v} is not of type 'string'"))),
    }
}

fn opt_int(m: &Map<String, Value>, field: &str) -> Result<Option<i64>, Fault> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.is_i64() => Ok(n.as_i64()),
        Some(Value::String(s)) if s.trim().parse::<i64>().is_ok() => Ok(s.trim().parse().ok()),
        Some(v) => Err(invalid(
            field,
            v,
            &format!("{v} is not of type 'integer', 'string'"),
        )),
    }
}

fn opt_bool(m: &Map<String, Value>, field: &str) -> Result<Option<bool>, Fault> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Some(true)),
            "false" | "0" | "no" | "off" => Ok(Some(false)),
            _ => Err(invalid(field, &json!(s), "is not a boolean")),
        },
        Some(v) => Err(invalid(field, v, &format!("{v} is not of type 'boolean'"))),
    }
}

fn is_ipv4(s: &str) -> bool {
    s.parse::<std::net::Ipv4Addr>().is_ok()
}

fn ip_field(m: &Map<String, Value>, field: &str) -> Result<Option<String>, Fault> {
    let v = opt_str(m, field)?;
    if let Some(a) = &v {
        if !is_ipv4(a) {
            return Err(invalid(field, &json!(a), &format!("'{a}' is not a 'ipv4'")));
        }
    }
    Ok(v)
}

fn all_tenants(r: &Request) -> bool {
    r.query("all_tenants")
        .is_some_and(|v| v.is_empty() || metacloud_sdk::dialect::nova_bool(v))
}

fn netmask(cidr: &str) -> (String, String) {
    let Some((addr, prefix)) = cidr.split_once('/') else {
        return (String::new(), String::new());
    };
    let (Ok(a), Ok(p)) = (addr.parse::<std::net::Ipv4Addr>(), prefix.parse::<u32>()) else {
        return (String::new(), String::new());
    };
    let mask = if p == 0 {
        0
    } else {
        u32::MAX << (32 - p.min(32))
    };
    let bcast = u32::from(a) | !mask;
    (
        std::net::Ipv4Addr::from(mask).to_string(),
        std::net::Ipv4Addr::from(bcast).to_string(),
    )
}

// --- server create and views -------------------------------------------------------------

/// A create's `networks` and `security_groups`, checked as Nova's schema does.
pub fn create_networking(
    r: &Request,
    server: &Map<String, Value>,
) -> Result<ServerNetworking, Fault> {
    let v237 = since(r, Change::NetworksRequired);
    // Device tags on the networks asked for: 2.32 to 2.36, and again from 2.42.
    let tagged = (since(r, Change::NetworkTags) && !v237) || since(r, Change::DeviceTagsAgain);
    let networks = match server.get("networks") {
        None if v237 => {
            return Err(Fault::bad_request(
                "Invalid input for field/attribute server. 'networks' is a required property",
            ))
        }
        None => NetworkRequest::Default,
        Some(Value::String(s)) if v237 && s == "auto" => NetworkRequest::Auto,
        Some(Value::String(s)) if v237 && s == "none" => NetworkRequest::None,
        Some(Value::Array(list)) => {
            let mut out = Vec::new();
            for n in list {
                let m = n.as_object().ok_or_else(|| {
                    invalid("networks", n, &format!("{n} is not of type 'object'"))
                })?;
                let keys: &[&str] = if tagged {
                    &["uuid", "fixed_ip", "port", "tag"]
                } else {
                    &["uuid", "fixed_ip", "port"]
                };
                extra("networks", m, keys)?;
                let tag = device_tag(m)?;
                let fixed = opt_str(m, "fixed_ip")?;
                if let Some(f) = &fixed {
                    if f.parse::<std::net::IpAddr>().is_err() {
                        return Err(invalid(
                            "fixed_ip",
                            &json!(f),
                            &format!("'{f}' is not a 'ip-address'"),
                        ));
                    }
                }
                let port = opt_str(m, "port")?;
                let uuid = opt_str(m, "uuid")?;
                if uuid.is_none() && port.is_none() {
                    return Err(Fault::bad_request(
                        "Bad networks format: network uuid is not in proper format",
                    ));
                }
                out.push(RequestedNetwork {
                    network_id: uuid,
                    fixed_ip: fixed,
                    port_id: port,
                    tag,
                });
            }
            NetworkRequest::Given(out)
        }
        Some(v) => {
            return Err(invalid(
                "networks",
                v,
                &format!("{v} is not of type 'array'"),
            ))
        }
    };
    let mut groups = Vec::new();
    match server.get("security_groups") {
        None => {}
        Some(Value::Array(list)) => {
            for g in list {
                let name = g
                    .get("name")
                    .and_then(Value::as_str)
                    .filter(|n| !n.trim().is_empty())
                    .ok_or_else(|| {
                        invalid("security_groups", g, "'name' is a required property")
                    })?;
                if !groups.iter().any(|x: &String| x == name) {
                    groups.push(name.to_string());
                }
            }
        }
        Some(v) => {
            return Err(invalid(
                "security_groups",
                v,
                &format!("{v} is not of type 'array'"),
            ))
        }
    }
    Ok(ServerNetworking {
        networks,
        security_groups: groups,
    })
}

/// Nova's `addresses`: by network label, fixed then floating, in port order.
pub fn addresses(info: Option<&ServerNetworkInfo>) -> Value {
    let mut out = Map::new();
    if let Some(i) = info {
        for a in &i.addresses {
            let entry = out
                .entry(a.network.clone())
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(list) = entry {
                list.push(json!({
                    "version": a.version,
                    "addr": a.addr,
                    "OS-EXT-IPS:type": a.kind,
                    "OS-EXT-IPS-MAC:mac_addr": a.mac,
                }));
            }
        }
    }
    Value::Object(out)
}

/// The server's groups as `[{"name": …}]` (`default` when unknown).
pub fn group_names(info: Option<&ServerNetworkInfo>) -> Value {
    match info {
        Some(i) => Value::Array(
            i.security_groups
                .iter()
                .map(|n| json!({"name": n}))
                .collect(),
        ),
        None => json!([{"name": "default"}]),
    }
}

/// The networking of servers, by id (one import call).
pub fn infos(c: &Caller, ids: &[String]) -> Result<Vec<ServerNetworkInfo>, Fault> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(compute::servers_network_info(c, ids)?)
}

// --- os-networks ---------------------------------------------------------------------

fn network_view(r: &Request, n: &Network) -> Value {
    let (mask, broadcast) = netmask(&n.cidr);
    let mut v = json!({
        "id": n.id,
        "label": n.label,
        "cidr": n.cidr,
        "netmask": mask,
        "gateway": n.gateway,
        "broadcast": broadcast,
        "dns1": n.dns.first(),
        "dns2": n.dns.get(1),
        "cidr_v6": null,
        "gateway_v6": null,
        "netmask_v6": null,
    });
    if r.is_admin() {
        let extra = json!({
            "created_at": time::format(n.created_at),
            "updated_at": time::format(n.updated_at),
            "deleted_at": null,
            "deleted": false,
            "injected": false,
            "bridge": n.bridge,
            "vlan": n.vlan,
            "vpn_public_address": null,
            "vpn_public_port": null,
            "vpn_private_address": null,
            "dhcp_start": n.dhcp_start,
            "project_id": n.project_id,
            "host": n.host,
            "bridge_interface": n.bridge_interface,
            "multi_host": n.multi_host,
            "priority": null,
            "rxtx_base": null,
            "mtu": n.mtu,
            "dhcp_server": n.gateway,
            "enable_dhcp": n.enable_dhcp,
            "share_address": false,
        });
        if let (Some(a), Value::Object(b)) = (v.as_object_mut(), extra) {
            a.extend(b);
        }
    }
    v
}

pub fn list_networks(r: &Request) -> Result<Reply, Fault> {
    // nova-network: admins see every network, others their project's and the shared ones.
    let nets = compute::list_networks(r.caller()?, r.is_admin())?;
    let list: Vec<Value> = nets.iter().map(|n| network_view(r, n)).collect();
    Ok(Reply::json(200, &json!({"networks": list})))
}

pub fn show_network(r: &Request) -> Result<Reply, Fault> {
    let n = compute::get_network(r.caller()?, r.param("network_id")).map_err(network_missing)?;
    Ok(Reply::json(200, &json!({"network": network_view(r, &n)})))
}

fn network_missing(e: crate::bindings::metacloud::api::types::OpError) -> Fault {
    match e {
        crate::bindings::metacloud::api::types::OpError::NotFound(_) => {
            Fault::not_found("Network could not be found")
        }
        e => e.into(),
    }
}

const NETWORK_KEYS: &[&str] = &[
    "label",
    "ipam",
    "cidr",
    "cidr_v6",
    "project_id",
    "multi_host",
    "gateway",
    "gateway_v6",
    "bridge",
    "bridge_interface",
    "dns1",
    "dns2",
    "dhcp_server",
    "fixed_cidr",
    "allowed_start",
    "allowed_end",
    "enable_dhcp",
    "share_address",
    "mtu",
    "vlan",
    "vlan_start",
    "vpn_start",
    "dhcp_start",
    "dhcp_end",
    "driver",
    "priority",
    "rxtx_base",
    "num_networks",
    "network_size",
];

/// A create's network, Nova's keys (`allowed_start`/`allowed_end` or `dhcp_start`/`dhcp_end`
/// bound the range handed out).
pub fn network_create(
    m: &Map<String, Value>,
    project: Option<String>,
) -> Result<NetworkCreate, Fault> {
    extra("network", m, NETWORK_KEYS)?;
    let label = opt_str(m, "label")?.ok_or_else(|| required("network", "label"))?;
    if label.trim().is_empty() || label.chars().count() > 255 {
        return Err(invalid(
            "label",
            &json!(label),
            "It must be 1 to 255 characters",
        ));
    }
    let cidr = opt_str(m, "cidr")?.ok_or_else(|| required("network", "cidr"))?;
    let mut dns = Vec::new();
    for k in ["dns1", "dns2"] {
        if let Some(d) = ip_field(m, k)? {
            dns.push(d);
        }
    }
    let vlan = match opt_int(m, "vlan")? {
        Some(v) => Some(v),
        None => opt_int(m, "vlan_start")?,
    };
    Ok(NetworkCreate {
        label,
        cidr,
        gateway: ip_field(m, "gateway")?,
        dhcp_start: match ip_field(m, "allowed_start")? {
            Some(s) => Some(s),
            None => ip_field(m, "dhcp_start")?,
        },
        dhcp_end: match ip_field(m, "allowed_end")? {
            Some(s) => Some(s),
            None => ip_field(m, "dhcp_end")?,
        },
        dns,
        vlan,
        bridge: opt_str(m, "bridge")?,
        bridge_interface: opt_str(m, "bridge_interface")?,
        mtu: opt_int(m, "mtu")?,
        enable_dhcp: opt_bool(m, "enable_dhcp")?.unwrap_or(true),
        project_id: match project {
            Some(p) => Some(p),
            None => opt_str(m, "project_id")?,
        },
        multi_host: opt_bool(m, "multi_host")?.unwrap_or(false),
        driver: opt_str(m, "driver")?,
    })
}

pub fn create_network(r: &Request) -> Result<Reply, Fault> {
    let body = r.body_json()?;
    let m = object(&body, "network")?;
    let n = compute::create_network(r.caller()?, &network_create(&m, None)?)?;
    Ok(Reply::json(200, &json!({"network": network_view(r, &n)})))
}

pub fn delete_network(r: &Request) -> Result<Reply, Fault> {
    compute::delete_network(r.caller()?, r.param("network_id")).map_err(network_missing)?;
    Ok(Reply::empty(202))
}

/// `POST /os-networks/add` `{"id": …}`: the network goes to the caller's project.
pub fn add_network(r: &Request) -> Result<Reply, Fault> {
    let body = r.body_json()?;
    let id = match body.get("id") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(Fault::bad_request("Missing network in body")),
    };
    let c = r.caller()?;
    compute::network_action(c, &id, "associate", Some(&c.project_id)).map_err(network_missing)?;
    Ok(Reply::empty(202))
}

pub fn network_action(r: &Request) -> Result<Reply, Fault> {
    let body = r.body_json()?;
    let obj = body
        .as_object()
        .filter(|o| o.len() == 1)
        .ok_or_else(|| Fault::bad_request("Malformed request body: one action expected"))?;
    let (action, args) = obj.iter().next().expect("one entry");
    let c = r.caller()?;
    let id = r.param("network_id");
    let (what, project) = match action.as_str() {
        "disassociate" => ("disassociate", None),
        "disassociate_project" => ("disassociate-project", None),
        "disassociate_host" => ("disassociate-host", None),
        // Networks are not bound to hosts here: associating one to a host changes nothing.
        "associate_host" => ("disassociate-host", None),
        "associate" => (
            "associate",
            args.get("project_id")
                .or(args.get("project"))
                .and_then(Value::as_str)
                .map(String::from),
        ),
        other => {
            return Err(Fault::bad_request(format!(
                "There is no such action: {other}"
            )))
        }
    };
    compute::network_action(c, id, what, project.as_deref()).map_err(network_missing)?;
    Ok(Reply::empty(202))
}

// --- os-tenant-networks ------------------------------------------------------------------

fn tenant_view(n: &Network) -> Value {
    json!({"id": n.id, "label": n.label, "cidr": n.cidr})
}

pub fn list_tenant_networks(r: &Request) -> Result<Reply, Fault> {
    let nets = compute::list_networks(r.caller()?, false)?;
    let list: Vec<Value> = nets.iter().map(tenant_view).collect();
    Ok(Reply::json(200, &json!({"networks": list})))
}

pub fn show_tenant_network(r: &Request) -> Result<Reply, Fault> {
    let c = r.caller()?;
    let n = compute::get_network(c, r.param("network_id")).map_err(network_missing)?;
    if n.project_id.as_deref().is_some_and(|p| p != c.project_id) {
        return Err(Fault::not_found("Network could not be found"));
    }
    Ok(Reply::json(200, &json!({"network": tenant_view(&n)})))
}

pub fn create_tenant_network(r: &Request) -> Result<Reply, Fault> {
    let body = r.body_json()?;
    let m = object(&body, "network")?;
    let c = r.caller()?;
    let n = compute::create_network(c, &network_create(&m, Some(c.project_id.clone()))?)?;
    Ok(Reply::json(200, &json!({"network": tenant_view(&n)})))
}

pub fn delete_tenant_network(r: &Request) -> Result<Reply, Fault> {
    compute::delete_network(r.caller()?, r.param("network_id")).map_err(network_missing)?;
    Ok(Reply::empty(202))
}

// --- floating IPs ------------------------------------------------------------------------

fn floating_view(f: &FloatingIp) -> Value {
    json!({
        "id": f.address,
        "ip": f.address,
        "pool": f.pool,
        "fixed_ip": f.fixed_address,
        "instance_id": f.instance_id,
    })
}

pub fn list_pools(r: &Request) -> Result<Reply, Fault> {
    let pools = compute::list_floating_pools(r.caller()?)?;
    let list: Vec<Value> = pools.iter().map(|p| json!({"name": p})).collect();
    Ok(Reply::json(200, &json!({"floating_ip_pools": list})))
}

pub fn list_floating(r: &Request) -> Result<Reply, Fault> {
    let list = compute::list_floating_ips(r.caller()?)?;
    let items: Vec<Value> = list.iter().map(floating_view).collect();
    Ok(Reply::json(200, &json!({"floating_ips": items})))
}

fn floating_missing(
    id: &str,
) -> impl Fn(crate::bindings::metacloud::api::types::OpError) -> Fault + '_ {
    move |e| match e {
        crate::bindings::metacloud::api::types::OpError::NotFound(_) => {
            Fault::not_found(format!("Floating IP not found for ID {id}"))
        }
        e => e.into(),
    }
}

pub fn show_floating(r: &Request) -> Result<Reply, Fault> {
    let id = r.param("floating_ip_id");
    let f = compute::get_floating_ip(r.caller()?, id).map_err(floating_missing(id))?;
    Ok(Reply::json(200, &json!({"floating_ip": floating_view(&f)})))
}

pub fn allocate_floating(r: &Request) -> Result<Reply, Fault> {
    let pool = if r.body.is_empty() {
        None
    } else {
        let body = r.body_json()?;
        match body.get("pool") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(v) => return Err(invalid("pool", v, &format!("{v} is not of type 'string'"))),
        }
    };
    let f = compute::allocate_floating_ip(r.caller()?, pool.as_deref())?;
    Ok(Reply::json(200, &json!({"floating_ip": floating_view(&f)})))
}

pub fn release_floating(r: &Request) -> Result<Reply, Fault> {
    let id = r.param("floating_ip_id");
    compute::release_floating_ip(r.caller()?, id).map_err(floating_missing(id))?;
    Ok(Reply::empty(202))
}

// --- os-floating-ips-bulk ----------------------------------------------------------------

fn bulk_view(f: &FloatingIp) -> Value {
    json!({
        "address": f.address,
        "instance_uuid": f.instance_id,
        "interface": f.interface,
        "pool": f.pool,
        "project_id": f.project_id,
        "fixed_ip": f.fixed_address,
    })
}

pub fn bulk_list(r: &Request) -> Result<Reply, Fault> {
    let host = r
        .params
        .iter()
        .find(|(k, _)| k == "host_name")
        .map(|(_, v)| v.as_str());
    let all = compute::list_all_floating_ips(r.caller()?)?;
    let items: Vec<Value> = all
        .iter()
        .filter(|f| host.is_none_or(|h| f.host.as_deref() == Some(h)))
        .map(bulk_view)
        .collect();
    Ok(Reply::json(200, &json!({"floating_ip_info": items})))
}

pub fn bulk_create(r: &Request) -> Result<Reply, Fault> {
    let body = r.body_json()?;
    let m = object(&body, "floating_ips_bulk_create")?;
    extra(
        "floating_ips_bulk_create",
        &m,
        &["ip_range", "pool", "interface"],
    )?;
    let range =
        opt_str(&m, "ip_range")?.ok_or_else(|| required("floating_ips_bulk_create", "ip_range"))?;
    let pool = opt_str(&m, "pool")?;
    let interface = opt_str(&m, "interface")?;
    let made = compute::create_floating_range(
        r.caller()?,
        pool.as_deref(),
        &range,
        interface.as_deref(),
        None,
    )?;
    Ok(Reply::json(
        200,
        &json!({"floating_ips_bulk_create": {"ip_range": range, "pool": made.pool,
            "interface": made.interface}}),
    ))
}

pub fn bulk_delete(r: &Request) -> Result<Reply, Fault> {
    let body = r.body_json()?;
    let range = body
        .get("ip_range")
        .and_then(Value::as_str)
        .ok_or_else(|| required("floating_ips_bulk_delete", "ip_range"))?;
    compute::delete_floating_range(r.caller()?, range)?;
    Ok(Reply::json(
        200,
        &json!({"floating_ips_bulk_delete": range}),
    ))
}

// --- os-fixed-ips ------------------------------------------------------------------------

pub fn show_fixed_ip(r: &Request) -> Result<Reply, Fault> {
    let f = compute::get_fixed_ip(r.caller()?, r.param("fixed_ip"))?;
    let mut v = json!({"address": f.address, "cidr": f.cidr,
        "hostname": f.instance_name, "host": f.host});
    if crate::microversion::since(r, crate::microversion::Change::FixedIpReserved) {
        v["reserved"] = json!(f.reserved);
    }
    Ok(Reply::json(200, &json!({ "fixed_ip": v })))
}

pub fn fixed_ip_action(r: &Request) -> Result<Reply, Fault> {
    let body = r.body_json()?;
    let reserved = if body.get("reserve").is_some() {
        true
    } else if body.get("unreserve").is_some() {
        false
    } else {
        return Err(Fault::bad_request(
            "Invalid input for field/attribute fixed_ip action. reserve or unreserve expected",
        ));
    };
    compute::reserve_fixed_ip(r.caller()?, r.param("fixed_ip"), reserved)?;
    Ok(Reply::empty(202))
}

// --- security groups ---------------------------------------------------------------------

fn rule_view(g: &SecurityGroup, rule: &SecurityGroupRule) -> Value {
    let icmp = rule.protocol.as_deref() == Some("icmp");
    let (from, to) = if icmp {
        (
            Some(rule.icmp_type.unwrap_or(-1)),
            Some(rule.icmp_code.unwrap_or(-1)),
        )
    } else {
        (rule.port_min, rule.port_max)
    };
    let (range, group) = match &rule.remote_group_id {
        Some(_) => (
            json!({}),
            json!({"name": rule.remote_group_name, "tenant_id": g.project_id}),
        ),
        None => (
            json!({"cidr": rule.remote_cidr.clone().unwrap_or_else(|| "0.0.0.0/0".into())}),
            json!({}),
        ),
    };
    json!({
        "id": rule.id,
        "parent_group_id": rule.group_id,
        "ip_protocol": rule.protocol,
        "from_port": from,
        "to_port": to,
        "ip_range": range,
        "group": group,
    })
}

/// Nova's view: ingress rules only (nova-network had no others).
fn group_view(g: &SecurityGroup) -> Value {
    let rules: Vec<Value> = g
        .rules
        .iter()
        .filter(|x| x.direction == "ingress")
        .map(|x| rule_view(g, x))
        .collect();
    json!({
        "id": g.id,
        "name": g.name,
        "description": g.description,
        "tenant_id": g.project_id,
        "rules": rules,
    })
}

fn group_missing(
    id: &str,
) -> impl Fn(crate::bindings::metacloud::api::types::OpError) -> Fault + '_ {
    move |e| match e {
        crate::bindings::metacloud::api::types::OpError::NotFound(_) => {
            Fault::not_found(format!("Security group {id} not found."))
        }
        e => e.into(),
    }
}

pub fn list_groups(r: &Request) -> Result<Reply, Fault> {
    let list = compute::list_security_groups(r.caller()?, all_tenants(r))?;
    let items: Vec<Value> = list.iter().map(group_view).collect();
    Ok(Reply::json(200, &json!({"security_groups": items})))
}

pub fn show_group(r: &Request) -> Result<Reply, Fault> {
    let id = r.param("security_group_id");
    let g = compute::get_security_group(r.caller()?, id).map_err(group_missing(id))?;
    Ok(Reply::json(200, &json!({"security_group": group_view(&g)})))
}

fn name_and_description(m: &Map<String, Value>) -> Result<(String, String), Fault> {
    extra("security_group", m, &["name", "description"])?;
    let name = opt_str(m, "name")?.ok_or_else(|| required("security_group", "name"))?;
    let description =
        opt_str(m, "description")?.ok_or_else(|| required("security_group", "description"))?;
    for (field, v) in [("name", &name), ("description", &description)] {
        if v.trim().is_empty() || v.chars().count() > 255 {
            return Err(Fault::bad_request(format!(
                "Security group {field} should not be empty and at most 255 characters"
            )));
        }
    }
    Ok((name, description))
}

pub fn create_group(r: &Request) -> Result<Reply, Fault> {
    let body = r.body_json()?;
    let m = object(&body, "security_group")?;
    let (name, description) = name_and_description(&m)?;
    let g = compute::create_security_group(r.caller()?, &name, &description)?;
    Ok(Reply::json(200, &json!({"security_group": group_view(&g)})))
}

/// `PUT /os-security-groups/{id}`: a new name and description (both required, as Nova).
pub fn update_group(r: &Request) -> Result<Reply, Fault> {
    let id = r.param("security_group_id");
    let body = r.body_json()?;
    let m = object(&body, "security_group")?;
    let (name, description) = name_and_description(&m)?;
    let g = compute::update_security_group(r.caller()?, id, &name, &description)
        .map_err(group_missing(id))?;
    Ok(Reply::json(200, &json!({"security_group": group_view(&g)})))
}

pub fn delete_group(r: &Request) -> Result<Reply, Fault> {
    let id = r.param("security_group_id");
    compute::delete_security_group(r.caller()?, id).map_err(group_missing(id))?;
    Ok(Reply::empty(202))
}

pub fn create_rule(r: &Request) -> Result<Reply, Fault> {
    let body = r.body_json()?;
    let m = object(&body, "security_group_rule")?;
    extra(
        "security_group_rule",
        &m,
        &[
            "group_id",
            "parent_group_id",
            "to_port",
            "from_port",
            "ip_protocol",
            "cidr",
        ],
    )?;
    let parent = match m.get("parent_group_id") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(v) => return Err(invalid("parent_group_id", v, "is not a group id")),
        None => return Err(required("security_group_rule", "parent_group_id")),
    };
    // Group ids are UUIDs (Nova's check with a network service).
    if !is_uuid(&parent) {
        return Err(Fault::bad_request(format!(
            "Invalid input for field/attribute parent_group_id. Value: {parent}. Security group id should be uuid"
        )));
    }
    let protocol = opt_str(&m, "ip_protocol")?.map(|p| p.to_ascii_lowercase());
    let from = opt_int(&m, "from_port")?;
    let to = opt_int(&m, "to_port")?;
    let cidr = opt_str(&m, "cidr")?;
    let group = match m.get("group_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(v) => return Err(invalid("group_id", v, "is not a group id")),
    };
    // Nova's checks (security_group_base.validate_... ): protocol and port range.
    match protocol.as_deref() {
        None if from.is_some() || to.is_some() => {
            return Err(Fault::bad_request("Invalid IP protocol None."))
        }
        None => {}
        Some("tcp") | Some("udp") => {
            let (Some(f), Some(t)) = (from, to) else {
                return Err(Fault::bad_request(format!(
                    "Invalid port range {}:{}. Valid TCP/UDP ports are between 1 and 65535.",
                    from.map(|v| v.to_string()).unwrap_or_default(),
                    to.map(|v| v.to_string()).unwrap_or_default()
                )));
            };
            if !(1..=65535).contains(&f) || !(1..=65535).contains(&t) || f > t {
                return Err(Fault::bad_request(format!(
                    "Invalid port range {f}:{t}. Valid TCP ports should be between 1-65535"
                )));
            }
        }
        Some("icmp") => {
            for (what, v) in [("type", from), ("code", to)] {
                if let Some(v) = v {
                    if !(-1..=255).contains(&v) {
                        return Err(Fault::bad_request(format!(
                            "Invalid port range {}:{}. ICMP {what} {v} is not between -1 and 255.",
                            from.unwrap_or(-1),
                            to.unwrap_or(-1)
                        )));
                    }
                }
            }
        }
        Some(p) => return Err(Fault::bad_request(format!("Invalid IP protocol {p}."))),
    }
    if let Some(c) = &cidr {
        let ok = c
            .split_once('/')
            .is_some_and(|(a, p)| is_ipv4(a) && p.parse::<u8>().is_ok_and(|p| p <= 32));
        if !ok {
            return Err(Fault::bad_request(format!(
                "Bad prefix for network in cidr {c}"
            )));
        }
    }
    let req = SecurityGroupRuleCreate {
        parent_group_id: parent.clone(),
        protocol,
        from_port: from,
        to_port: to,
        cidr,
        group_id: group,
    };
    let c = r.caller()?;
    let rule = compute::create_security_group_rule(c, &req).map_err(group_missing(&parent))?;
    // The view names the parent group's project.
    let g = SecurityGroup {
        id: parent.clone(),
        project_id: c.project_id.clone(),
        name: String::new(),
        description: String::new(),
        rules: vec![],
    };
    Ok(Reply::json(
        200,
        &json!({"security_group_rule": rule_view(&g, &rule)}),
    ))
}

pub fn delete_rule(r: &Request) -> Result<Reply, Fault> {
    compute::delete_security_group_rule(r.caller()?, r.param("security_group_rule_id"))?;
    Ok(Reply::empty(202))
}

pub fn server_groups(r: &Request) -> Result<Reply, Fault> {
    let list = compute::server_security_groups(r.caller()?, r.param("server_id"))?;
    let items: Vec<Value> = list.iter().map(group_view).collect();
    Ok(Reply::json(200, &json!({"security_groups": items})))
}

/// os-security-group-default-rules: there is no store for them; Nova answered so when its
/// network API did not support them.
pub fn default_rules(_r: &Request) -> Result<Reply, Fault> {
    Err(Fault::new(
        501,
        "Network driver does not support this function.",
    ))
}

// --- ips ---------------------------------------------------------------------------------

/// The server's addresses by network, as Nova's `ips` resource shows them (`version`,
/// `addr`); 404 for a server the caller does not see.
fn ips_of(r: &Request) -> Result<Map<String, Value>, Fault> {
    let id = r.param("server_id");
    let info = compute::servers_network_info(r.caller()?, &[id.to_string()])?;
    let Some(info) = info.into_iter().find(|i| i.server_id == id) else {
        return Err(Fault::not_found(format!(
            "Instance {id} could not be found."
        )));
    };
    let mut out = Map::new();
    for a in &info.addresses {
        let entry = out
            .entry(a.network.clone())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = entry {
            list.push(json!({"version": a.version, "addr": a.addr}));
        }
    }
    Ok(out)
}

pub fn ips(r: &Request) -> Result<Reply, Fault> {
    Ok(Reply::json(200, &json!({"addresses": ips_of(r)?})))
}

pub fn ips_of_network(r: &Request) -> Result<Reply, Fault> {
    let label = r.param("network_label");
    match ips_of(r)?.remove(label) {
        Some(list) => Ok(Reply::json(200, &json!({ label: list }))),
        None => Err(Fault::not_found(format!(
            "Network {label} could not be found."
        ))),
    }
}

// --- interfaces --------------------------------------------------------------------------

pub fn virtual_interfaces(r: &Request) -> Result<Reply, Fault> {
    let ports = compute::server_ports(r.caller()?, r.param("server_id"))?;
    let items: Vec<Value> = ports
        .iter()
        .map(|p| {
            let mut v = json!({"id": p.id, "mac_address": p.mac});
            if crate::microversion::since(r, crate::microversion::Change::InterfaceNetId) {
                v["net_id"] = json!(p.network_id);
            }
            v
        })
        .collect();
    Ok(Reply::json(200, &json!({"virtual_interfaces": items})))
}

/// A device `tag` (checked as Nova checks it; kept on the port and shown from 2.70).
fn device_tag(m: &Map<String, Value>) -> Result<Option<String>, Fault> {
    match m.get("tag") {
        None => Ok(None),
        Some(t) => {
            let t = t.as_str().unwrap_or_default();
            crate::tags::check("tag", t)?;
            Ok(Some(t.to_string()))
        }
    }
}

fn attachment(r: &Request, p: &crate::bindings::metacloud::api::types::Port) -> Value {
    let mut v = json!({
        "port_state": p.state,
        "fixed_ips": [{"subnet_id": p.network_id, "ip_address": p.address}],
        "net_id": p.network_id,
        "port_id": p.id,
        "mac_addr": p.mac,
    });
    if since(r, Change::InterfaceTags) {
        v["tag"] = json!(p.tag);
    }
    v
}

pub fn list_interfaces(r: &Request) -> Result<Reply, Fault> {
    let ports = compute::server_ports(r.caller()?, r.param("server_id"))?;
    let items: Vec<Value> = ports.iter().map(|p| attachment(r, p)).collect();
    Ok(Reply::json(200, &json!({"interfaceAttachments": items})))
}

pub fn show_interface(r: &Request) -> Result<Reply, Fault> {
    let ports = compute::server_ports(r.caller()?, r.param("server_id"))?;
    let id = r.param("port_id");
    let p = ports
        .iter()
        .find(|p| p.id == id)
        .ok_or_else(|| Fault::not_found(format!("Port {id} is not attached")))?;
    Ok(Reply::json(
        200,
        &json!({"interfaceAttachment": attachment(r, p)}),
    ))
}

/// `POST /servers/{id}/os-interface`: plugs a port, or a new port on a network, into the
/// server (Nova's 2.1 schema; a device `tag` from 2.49, kept on the port).
pub fn attach_interface(r: &Request) -> Result<Reply, Fault> {
    let body = if r.body.is_empty() {
        json!({})
    } else {
        r.body_json()?
    };
    let Value::Object(top) = &body else {
        return Err(invalid(
            "body",
            &body,
            &format!("{body} is not of type 'object'"),
        ));
    };
    extra("body", top, &["interfaceAttachment"])?;
    let m = match top.get("interfaceAttachment") {
        None => Map::new(),
        Some(_) => object(&body, "interfaceAttachment")?,
    };
    let keys: &[&str] = if since(r, Change::TaggedAttach) {
        &["net_id", "port_id", "fixed_ips", "tag"]
    } else {
        &["net_id", "port_id", "fixed_ips"]
    };
    extra("interfaceAttachment", &m, keys)?;
    let tag = device_tag(&m)?;
    let uuid_field = |field: &str| -> Result<Option<String>, Fault> {
        match opt_str(&m, field)? {
            Some(id) if !is_uuid(&id) => Err(invalid(
                field,
                &json!(id),
                &format!("'{id}' is not a 'uuid'"),
            )),
            id => Ok(id),
        }
    };
    let req = compute::InterfaceAttach {
        port_id: uuid_field("port_id")?,
        net_id: uuid_field("net_id")?,
        fixed_ip: attach_fixed_ip(&m)?,
        tag,
    };
    let port = compute::attach_interface(r.caller()?, r.param("server_id"), &req)?;
    Ok(Reply::json(
        200,
        &json!({"interfaceAttachment": attachment(r, &port)}),
    ))
}

/// The one address of an attach's `fixed_ips` (`[{"ip_address": ...}]`, one item).
fn attach_fixed_ip(m: &Map<String, Value>) -> Result<Option<String>, Fault> {
    let Some(v) = m.get("fixed_ips") else {
        return Ok(None);
    };
    let Value::Array(items) = v else {
        return Err(invalid(
            "fixed_ips",
            v,
            &format!("{v} is not of type 'array'"),
        ));
    };
    let [item] = items.as_slice() else {
        let why = if items.is_empty() {
            "[] is too short"
        } else {
            "is too long"
        };
        return Err(invalid("fixed_ips", v, why));
    };
    let Value::Object(ip) = item else {
        return Err(invalid(
            "fixed_ips",
            v,
            &format!("{item} is not of type 'object'"),
        ));
    };
    extra("fixed_ips", ip, &["ip_address"])?;
    match ip.get("ip_address") {
        Some(Value::String(a)) if a.parse::<std::net::IpAddr>().is_ok() => Ok(Some(a.clone())),
        Some(a) => Err(invalid(
            "ip_address",
            a,
            &format!("{a} is not valid under any of the given schemas"),
        )),
        None => Err(required("fixed_ips", "ip_address")),
    }
}

/// `DELETE /servers/{id}/os-interface/{port_id}`.
pub fn detach_interface(r: &Request) -> Result<Reply, Fault> {
    compute::detach_interface(r.caller()?, r.param("server_id"), r.param("port_id"))?;
    Ok(Reply::empty(202))
}

// --- server actions ----------------------------------------------------------------------

/// `addFloatingIp`, `removeFloatingIp`, `addSecurityGroup`, `removeSecurityGroup`; none
/// when `action` is another.
pub fn server_action(
    c: &Caller,
    id: &str,
    action: &str,
    args: &Value,
) -> Option<Result<Reply, Fault>> {
    let run = || -> Result<Reply, Fault> {
        let m = args
            .as_object()
            .ok_or_else(|| invalid(action, args, &format!("{args} is not of type 'object'")))?;
        match action {
            "addFloatingIp" => {
                extra(action, m, &["address", "fixed_address"])?;
                let address = opt_str(m, "address")?.ok_or_else(|| required(action, "address"))?;
                let fixed = opt_str(m, "fixed_address")?;
                compute::associate_floating_ip(c, id, &address, fixed.as_deref()).map_err(|e| {
                    match e {
                        crate::bindings::metacloud::api::types::OpError::NotFound(m)
                            if m.starts_with("Floating IP") =>
                        {
                            Fault::not_found(format!("floating IP not found: {address}"))
                        }
                        e => e.into(),
                    }
                })?;
            }
            "removeFloatingIp" => {
                extra(action, m, &["address"])?;
                let address = opt_str(m, "address")?.ok_or_else(|| required(action, "address"))?;
                compute::disassociate_floating_ip(c, id, &address)?;
            }
            "addSecurityGroup" | "removeSecurityGroup" => {
                let name = opt_str(m, "name")?
                    .filter(|n| !n.trim().is_empty())
                    .ok_or_else(|| Fault::bad_request("Missing parameter dict"))?;
                if action == "addSecurityGroup" {
                    compute::add_server_security_group(c, id, &name)?;
                } else {
                    compute::remove_server_security_group(c, id, &name)?;
                }
            }
            _ => unreachable!("checked by the caller"),
        }
        Ok(Reply::empty(202))
    };
    matches!(
        action,
        "addFloatingIp" | "removeFloatingIp" | "addSecurityGroup" | "removeSecurityGroup"
    )
    .then(run)
}

/// Whether `s` is a UUID in its hyphenated form.
fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}
