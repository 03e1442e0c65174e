//! Ports (read): a server's network interfaces, as Neutron shows them (`device_owner`
//! `compute:nova`, the server's security groups by id, `binding:host_id` for admins).

use crate::bindings::metacloud::api::compute;
use crate::bindings::metacloud::api::types::PortDetail;
use crate::body::object;
use crate::errors::{self, from_op};
use crate::query::{listing, single};
use crate::{is_admin, Fault, Reply, Request};
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

pub fn port_view(p: &PortDetail, groups: &[String], admin: bool) -> Map<String, Value> {
    let mut v = json!({
        "id": p.port.id, "name": "", "network_id": p.port.network_id,
        "tenant_id": p.project_id, "project_id": p.project_id,
        "mac_address": p.port.mac, "admin_state_up": true, "status": p.port.state,
        "device_id": p.port.server_id, "device_owner": "compute:nova",
        "fixed_ips": [{"subnet_id": p.port.network_id, "ip_address": p.port.address}],
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
    let groups = groups_of(r, ports)?;
    let admin = is_admin(r);
    Ok(ports
        .iter()
        .map(|p| {
            let g = groups.get(&p.port.server_id).cloned().unwrap_or_default();
            port_view(p, &g, admin)
        })
        .collect())
}

pub fn list(r: &Request) -> Result<Reply, Fault> {
    let mut ports = visible(r)?;
    // `?device_id=` (what clients ask most) before the groups are looked up.
    let devices: Vec<&str> = r.query_all("device_id").collect();
    if !devices.is_empty() {
        ports.retain(|p| devices.contains(&p.port.server_id.as_str()));
    }
    listing(r, "ports", views(r, &ports)?)
}

pub fn show(r: &Request) -> Result<Reply, Fault> {
    let id = r.param("id");
    let ports: Vec<PortDetail> = visible(r)?
        .into_iter()
        .filter(|p| p.port.id == id)
        .collect();
    Ok(match views(r, &ports)?.pop() {
        Some(v) => single(r, "port", v),
        None => errors::typed(
            404,
            "PortNotFound",
            format!("Port {id} could not be found."),
        ),
    })
}
