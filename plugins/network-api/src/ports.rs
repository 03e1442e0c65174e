//! Ports (read): a server's network interfaces, as Neutron shows them (`device_owner`
//! `compute:nova`, the server's security groups by id, `binding:host_id` for admins), and
//! the routers' interfaces and gateways (`network:router_interface`,
//! `network:router_gateway`).

use crate::bindings::metacloud::api::compute;
use crate::bindings::metacloud::api::types::{PortDetail, Router};
use crate::body::object;
use crate::errors::{self, from_op};
use crate::query::{listing, single};
use crate::{is_admin, networks, routers, Fault, Reply, Request};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The ports the caller sees (every project's for admins, as Neutron lists them).
pub fn visible(r: &Request) -> Result<Vec<PortDetail>, Fault> {
    compute::list_ports(r.caller()?, is_admin(r)).map_err(from_op)
}

/// Security group ids of the ports' servers, by server id (names resolved among the groups
/// the caller sees).
fn groups_of(r: &Request, ports: &[PortDetail]) -> Result<BTreeMap<String, Vec<String>>, Fault> {
    let c = r.caller()?;
    let mut servers: Vec<String> = ports.iter().map(|p| p.port.server_id.clone()).collect();
    servers.sort();
    servers.dedup();
    if servers.is_empty() {
        return Ok(BTreeMap::new());
    }
    let infos = compute::servers_network_info(c, &servers).map_err(from_op)?;
    let groups = compute::list_security_groups(c, is_admin(r)).map_err(from_op)?;
    let mut out = BTreeMap::new();
    for info in infos {
        let project = ports
            .iter()
            .find(|p| p.port.server_id == info.server_id)
            .map(|p| p.project_id.as_str())
            .unwrap_or_default();
        let ids = info
            .security_groups
            .iter()
            .filter_map(|name| {
                groups
                    .iter()
                    .find(|g| &g.name == name && g.project_id == project)
                    .map(|g| g.id.clone())
            })
            .collect();
        out.insert(info.server_id, ids);
    }
    Ok(out)
}

/// Whether IPv4 `addr` is inside `cidr`.
pub fn in_cidr(addr: &str, cidr: &str) -> bool {
    let parse = |s: &str| s.trim().parse::<std::net::Ipv4Addr>().ok().map(u32::from);
    let Some((net, len)) = cidr.split_once('/') else {
        return false;
    };
    match (parse(addr), parse(net), len.parse::<u32>()) {
        (Some(a), Some(n), Ok(l)) if l <= 32 => {
            let mask = if l == 0 { 0 } else { u32::MAX << (32 - l) };
            a & mask == n & mask
        }
        _ => false,
    }
}

/// A MAC for a port the host keeps no MAC for (a router's), stable from its id.
fn router_mac(port: &str) -> String {
    let hex: String = port
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(6)
        .collect();
    format!("fa:16:3e:{}:{}:{}", &hex[0..2], &hex[2..4], &hex[4..6])
}

/// The ports of the routers the caller sees: one per interface, one for the gateway.
fn router_ports(
    r: &Request,
    routers: &[Router],
    admin: bool,
) -> Result<Vec<Map<String, Value>>, Fault> {
    let subnets = networks::subnets(r)?;
    let mut out = Vec::new();
    let port = |id: &str, x: &Router, net: &str, owner: &str, fixed: Value| {
        let mut v = json!({
            "id": id, "name": "", "network_id": net,
            "tenant_id": if owner == "network:router_gateway" { "" } else { &x.project_id },
            "project_id": if owner == "network:router_gateway" { "" } else { &x.project_id },
            "mac_address": router_mac(id), "admin_state_up": true, "status": "ACTIVE",
            "device_id": x.id, "device_owner": owner, "fixed_ips": fixed,
            "security_groups": [], "allowed_address_pairs": [], "extra_dhcp_opts": [],
            "port_security_enabled": false, "description": "", "tags": [],
            "revision_number": 0, "binding:vnic_type": "normal",
        });
        if admin {
            v["binding:host_id"] = json!("");
            v["binding:vif_type"] = json!("unbound");
        }
        object(v)
    };
    for x in routers {
        for i in &x.interfaces {
            let fixed = json!([{"subnet_id": i.subnet_id, "ip_address": i.address}]);
            out.push(port(
                &i.port_id,
                x,
                &i.network_id,
                "network:router_interface",
                fixed,
            ));
        }
        if let (Some(net), Some(addr)) = (&x.external_network_id, &x.gateway_address) {
            let subnet = subnets
                .iter()
                .find(|s| &s.network_id == net && in_cidr(addr, &s.cidr))
                .map(|s| s.id.clone());
            let fixed = json!([{"subnet_id": subnet, "ip_address": addr}]);
            let id = routers::gateway_port_id(&x.id);
            out.push(port(&id, x, net, "network:router_gateway", fixed));
        }
    }
    Ok(out)
}

pub fn port_view(
    p: &PortDetail,
    groups: &[String],
    subnet: Option<&str>,
    admin: bool,
) -> Map<String, Value> {
    let mut v = json!({
        "id": p.port.id, "name": "", "network_id": p.port.network_id,
        "tenant_id": p.project_id, "project_id": p.project_id,
        "mac_address": p.port.mac, "admin_state_up": true, "status": p.port.state,
        "device_id": p.port.server_id, "device_owner": "compute:nova",
        "fixed_ips": [{"subnet_id": subnet, "ip_address": p.port.address}],
        "security_groups": groups, "allowed_address_pairs": [], "extra_dhcp_opts": [],
        "port_security_enabled": true, "description": "", "tags": [], "revision_number": 0,
        "binding:vnic_type": "normal",
    });
    if admin {
        v["binding:host_id"] = json!(p.host.clone().unwrap_or_default());
        v["binding:vif_type"] = json!(if p.host.is_some() { "tap" } else { "unbound" });
    }
    object(v)
}

fn views(r: &Request, ports: &[PortDetail]) -> Result<Vec<Map<String, Value>>, Fault> {
    if ports.is_empty() {
        return Ok(Vec::new());
    }
    let groups = groups_of(r, ports)?;
    let nets = networks::visible(r)?;
    let subnet_of = |net: &str| {
        nets.iter()
            .find(|n| n.network.id == net)
            .and_then(|n| n.subnet_id.clone())
    };
    let admin = is_admin(r);
    Ok(ports
        .iter()
        .map(|p| {
            let g = groups.get(&p.port.server_id).cloned().unwrap_or_default();
            port_view(p, &g, subnet_of(&p.port.network_id).as_deref(), admin)
        })
        .collect())
}

/// Every port the caller sees, servers' and routers', narrowed early by `?device_id=`
/// (what clients ask most) before the groups are looked up.
fn all_views(r: &Request, only: Option<&str>) -> Result<Vec<Map<String, Value>>, Fault> {
    let mut ports = visible(r)?;
    let mut devices: Vec<&str> = r.query_all("device_id").collect();
    if let Some(id) = only {
        devices.clear();
        ports.retain(|p| p.port.id == id);
    }
    if !devices.is_empty() {
        ports.retain(|p| devices.contains(&p.port.server_id.as_str()));
    }
    let mut out = views(r, &ports)?;
    let mut rs = routers::visible(r)?;
    if !devices.is_empty() {
        rs.retain(|x| devices.contains(&x.id.as_str()));
    }
    let mut extra = router_ports(r, &rs, is_admin(r))?;
    if let Some(id) = only {
        extra.retain(|v| v.get("id").and_then(Value::as_str) == Some(id));
    }
    out.extend(extra);
    Ok(out)
}

pub fn list(r: &Request) -> Result<Reply, Fault> {
    listing(r, "ports", all_views(r, None)?)
}

pub fn show(r: &Request) -> Result<Reply, Fault> {
    let id = r.param("id");
    Ok(match all_views(r, Some(id))?.pop() {
        Some(v) => single(r, "port", v),
        None => errors::typed(
            404,
            "PortNotFound",
            format!("Port {id} could not be found."),
        ),
    })
}
