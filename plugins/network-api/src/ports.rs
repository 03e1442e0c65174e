//! Ports: servers' network interfaces as Neutron shows them (`device_owner`
//! `compute:nova`, the server's security groups by id, `binding:host_id` for admins),
//! unbound ports made here (`device_id` empty until a server create names one), and the
//! routers' interfaces and gateways (`network:router_interface`, `network:router_gateway`,
//! read only). One fixed address a port.

use crate::bindings::metacloud::api::compute;
use crate::bindings::metacloud::api::types::{PortCreate, PortDetail, PortUpdate, Router};
use crate::body::{envelope, object, opt_bool, opt_string, opt_strings};
use crate::errors::{self, from_op};
use crate::query::{listing, single};
use crate::{is_admin, networks, routers, Fault, Reply, Request};
use serde_json::{json, Map, Value};

/// The ports the caller sees (every project's for admins, as Neutron lists them).
pub fn visible(r: &Request) -> Result<Vec<PortDetail>, Fault> {
    compute::list_ports(r.caller()?, is_admin(r)).map_err(from_op)
}

/// The ports among `ids`, and those of `servers`, that the caller sees.
pub fn find(r: &Request, ids: &[String], servers: &[String]) -> Result<Vec<PortDetail>, Fault> {
    compute::find_ports(r.caller()?, is_admin(r), ids, servers).map_err(from_op)
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

pub fn port_view(p: &PortDetail, subnet: Option<&str>, admin: bool) -> Map<String, Value> {
    let bound = !p.port.server_id.is_empty();
    let mut v = json!({
        "id": p.port.id, "name": p.name, "network_id": p.port.network_id,
        "tenant_id": p.project_id, "project_id": p.project_id,
        "mac_address": p.port.mac, "admin_state_up": p.admin_state_up, "status": p.port.state,
        "device_id": p.port.server_id,
        "device_owner": if bound { "compute:nova" } else { "" },
        "fixed_ips": if p.port.address.is_empty() {
            json!([])
        } else {
            json!([{"subnet_id": subnet, "ip_address": p.port.address}])
        },
        "security_groups": p.security_group_ids, "allowed_address_pairs": [],
        "extra_dhcp_opts": [], "port_security_enabled": true, "description": "", "tags": [],
        "revision_number": 0, "binding:vnic_type": "normal",
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
    let nets = networks::visible(r)?;
    let subnet_of = |net: &str| {
        nets.iter()
            .find(|n| n.network.id == net)
            .and_then(|n| n.subnet_id.clone())
    };
    let admin = is_admin(r);
    Ok(ports
        .iter()
        .map(|p| port_view(p, subnet_of(&p.port.network_id).as_deref(), admin))
        .collect())
}

/// Every port the caller sees, servers' and routers', narrowed early by `?device_id=`
/// (what clients ask most) before the groups are looked up.
fn all_views(r: &Request, only: Option<&str>) -> Result<Vec<Map<String, Value>>, Fault> {
    let mut devices: Vec<&str> = r.query_all("device_id").collect();
    if only.is_some() {
        devices.clear();
    }
    let ports = match only {
        Some(id) => find(r, &[id.to_string()], &[])?,
        // `device_id=` (empty) asks for the unbound ports: from the whole list.
        None if !devices.is_empty() && devices.iter().all(|d| !d.is_empty()) => {
            let servers: Vec<String> = devices.iter().map(|d| d.to_string()).collect();
            find(r, &[], &servers)?
        }
        None => visible(r)?,
    };
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

fn port_not_found(id: &str) -> Reply {
    errors::typed(
        404,
        "PortNotFound",
        format!("Port {id} could not be found."),
    )
}

/// The one fixed address a body's `fixed_ips` asks for on `network` (its subnet checked),
/// or none.
fn fixed_ip(r: &Request, m: &Map<String, Value>, network: &str) -> Result<Option<String>, Fault> {
    let Some(list) = m.get("fixed_ips").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let Some(list) = list.as_array() else {
        return Err(Fault::bad_request(
            "Invalid input for fixed_ips. Reason: it is not a list.",
        ));
    };
    if list.len() > 1 {
        return Err(Fault::bad_request(
            "Invalid input for fixed_ips. Reason: a port holds one fixed IP here.",
        ));
    }
    let Some(entry) = list.first() else {
        return Ok(None);
    };
    let Some(entry) = entry.as_object() else {
        return Err(Fault::bad_request(
            "Invalid input for fixed_ips. Reason: each entry is an object.",
        ));
    };
    let subnet = opt_string(entry, "subnet_id")?;
    let address = opt_string(entry, "ip_address")?;
    let net = networks::find(r, network)?;
    let own = net.as_ref().and_then(|n| n.subnet_id.clone());
    if let Some(s) = &subnet {
        if own.as_deref() != Some(s.as_str()) {
            return Err(Fault::bad_request(format!(
                "Invalid input for operation: Failed to create port on network {network}, \
                 because fixed_ips included invalid subnet {s}."
            )));
        }
    }
    if let (Some(a), Some(n)) = (&address, &net) {
        if a.parse::<std::net::Ipv4Addr>().is_err() {
            return Err(Fault::bad_request(format!(
                "Invalid input for ip_address. Reason: '{a}' is not a valid IP address."
            )));
        }
        if !n.network.cidr.is_empty() && !in_cidr(a, &n.network.cidr) {
            return Err(Fault::bad_request(format!(
                "Invalid input for operation: IP address {a} is not a valid IP for the \
                 specified subnet."
            )));
        }
    }
    Ok(address)
}

/// A refusal in Neutron's terms.
fn refused(e: Fault) -> Result<Reply, Fault> {
    let kind = match e.status {
        403 => "PolicyNotAuthorized",
        409 if e.message.contains("MAC address") => "MacAddressInUse",
        409 if e.message.contains("is already in use") || e.message.contains("in use") => {
            "IpAddressAlreadyAllocated"
        }
        409 if e.message.contains("No more fixed IP") => "IpAddressGenerationFailure",
        404 if e.message.starts_with("Security group") => "SecurityGroupNotFound",
        _ => return Err(e),
    };
    Ok(errors::typed(e.status, kind, &e.message))
}

fn shown(r: &Request, status: u16, p: &PortDetail) -> Result<Reply, Fault> {
    let v = views(r, std::slice::from_ref(p))?.pop().unwrap_or_default();
    Ok(if status == 200 {
        single(r, "port", v)
    } else {
        Reply::json(status, &json!({ "port": Value::Object(v) }))
    })
}

pub fn create(r: &Request) -> Result<Reply, Fault> {
    let m = envelope(r, "port")?;
    let network = opt_string(&m, "network_id")?.ok_or_else(|| {
        Fault::bad_request("Failed to parse request. Required attribute 'network_id' not specified")
    })?;
    let Some(net) = networks::find(r, &network)? else {
        return Ok(errors::typed(
            404,
            "NetworkNotFound",
            format!("Network {network} could not be found."),
        ));
    };
    if net.external && !is_admin(r) {
        return Ok(errors::typed(
            403,
            "PolicyNotAuthorized",
            "(rule:create_port) on an external network is disallowed by policy",
        ));
    }
    let owner = networks::owner(r, &m)?;
    let p = PortCreate {
        project_id: Some(owner),
        network_id: network.clone(),
        name: opt_string(&m, "name")?.unwrap_or_default(),
        fixed_ip: fixed_ip(r, &m, &network)?,
        mac: opt_string(&m, "mac_address")?,
        admin_state_up: opt_bool(&m, "admin_state_up")?.unwrap_or(true),
        security_group_ids: opt_strings(&m, "security_groups")?,
    };
    if let Some(id) = opt_string(&m, "device_id")?.filter(|d| !d.is_empty()) {
        return Err(Fault::bad_request(format!(
            "Invalid input for operation: device_id {id}: a port is given to a server by \
             the server create (networks: [{{\"port\": id}}]) here."
        )));
    }
    match compute::create_port(r.caller()?, &p) {
        Ok(port) => shown(r, 201, &port),
        Err(e) => refused(from_op(e)),
    }
}

/// `POST /ports`, one or in bulk.
pub fn create_any(r: &Request) -> Result<Reply, Fault> {
    crate::body::bulk(r, "port", "ports", create, |r, id| {
        let _ = compute::delete_port(r.caller()?, id);
        Ok(())
    })
}

pub fn update(r: &Request) -> Result<Reply, Fault> {
    let id = r.param("id");
    let m = envelope(r, "port")?;
    let Some(current) = find(r, &[id.to_string()], &[])?.pop() else {
        return Ok(port_not_found(id));
    };
    for fixed in ["network_id", "mac_address", "device_id", "device_owner"] {
        if let Some(v) = opt_string(&m, fixed)? {
            let same = match fixed {
                "network_id" => v == current.port.network_id,
                "mac_address" => v.eq_ignore_ascii_case(&current.port.mac),
                "device_id" => v == current.port.server_id,
                _ => true,
            };
            if !same {
                return Err(Fault::bad_request(format!(
                    "Invalid input for operation: {fixed} cannot be changed here."
                )));
            }
        }
    }
    let u = PortUpdate {
        name: opt_string(&m, "name")?,
        admin_state_up: opt_bool(&m, "admin_state_up")?,
        security_group_ids: opt_strings(&m, "security_groups")?,
        fixed_ip: fixed_ip(r, &m, &current.port.network_id)?,
    };
    match compute::update_port(r.caller()?, id, &u) {
        Ok(port) => shown(r, 200, &port),
        Err(e) => refused(from_op(e)),
    }
}

pub fn delete(r: &Request) -> Result<Reply, Fault> {
    let id = r.param("id");
    if find(r, &[id.to_string()], &[])?.is_empty() {
        return Ok(port_not_found(id));
    }
    match compute::delete_port(r.caller()?, id) {
        Ok(()) => Ok(Reply::empty(204)),
        Err(e) => {
            let e = from_op(e);
            if e.status == 409 {
                return Ok(errors::typed(409, "PortInUse", &e.message));
            }
            refused(e)
        }
    }
}
