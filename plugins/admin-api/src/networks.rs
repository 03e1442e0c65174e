//! Networks and floating ranges, as `nova-manage network create` and `nova-manage floating
//! create` made them: the same host operations the Nova API's os-networks and
//! os-floating-ips-bulk use.

use crate::bindings::metacloud::api::compute;
use crate::bindings::metacloud::api::types::{FloatingRange, Network, NetworkCreate};
use crate::{rfc3339, Fault, Reply, Request};
use serde::Deserialize;
use serde_json::{json, Value};

fn view(n: &Network, free: Option<i64>) -> Value {
    let mut v = json!({
        "id": n.id,
        "label": n.label,
        "project_id": n.project_id,
        "cidr": n.cidr,
        "gateway": n.gateway,
        "dhcp_start": n.dhcp_start,
        "dhcp_end": n.dhcp_end,
        "dns": n.dns,
        "vlan": n.vlan,
        "bridge": n.bridge,
        "bridge_interface": n.bridge_interface,
        "mtu": n.mtu,
        "enable_dhcp": n.enable_dhcp,
        "driver": n.driver,
        "multi_host": n.multi_host,
        "created_at": rfc3339(n.created_at),
        "updated_at": rfc3339(n.updated_at),
    });
    if let Some(f) = free {
        v["free_addresses"] = json!(f);
    }
    v
}

fn range_view(r: &FloatingRange) -> Value {
    json!({"cidr": r.cidr, "pool": r.pool, "interface": r.interface, "gateway": r.gateway,
           "created_at": rfc3339(r.created_at)})
}

/// A new network (`nova-manage network create`): the CIDR and label, the rest optional.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewNetwork {
    label: String,
    cidr: String,
    gateway: Option<String>,
    dhcp_start: Option<String>,
    dhcp_end: Option<String>,
    #[serde(default)]
    dns: Vec<String>,
    vlan: Option<i64>,
    bridge: Option<String>,
    bridge_interface: Option<String>,
    mtu: Option<i64>,
    enable_dhcp: Option<bool>,
    project_id: Option<String>,
    #[serde(default)]
    multi_host: bool,
    driver: Option<String>,
}

pub fn list(r: &Request) -> Result<Reply, Fault> {
    let nets = compute::list_networks(r.caller()?, true)?;
    let items: Vec<Value> = nets.iter().map(|n| view(n, None)).collect();
    Ok(Reply::json(200, &json!({ "networks": items })))
}

pub fn show(r: &Request) -> Result<Reply, Fault> {
    let c = r.caller()?;
    let id = r.param("network_id");
    let n = compute::get_network(c, id)?;
    let free = compute::network_free_addresses(c, id)?;
    Ok(Reply::json(
        200,
        &json!({ "network": view(&n, Some(free)) }),
    ))
}

pub fn create(r: &Request) -> Result<Reply, Fault> {
    let n: NewNetwork = r.json()?;
    let made = compute::create_network(
        r.caller()?,
        &NetworkCreate {
            label: n.label,
            cidr: n.cidr,
            gateway: n.gateway,
            dhcp_start: n.dhcp_start,
            dhcp_end: n.dhcp_end,
            dns: n.dns,
            vlan: n.vlan,
            bridge: n.bridge,
            bridge_interface: n.bridge_interface,
            mtu: n.mtu,
            enable_dhcp: n.enable_dhcp.unwrap_or(true),
            project_id: n.project_id,
            multi_host: n.multi_host,
            driver: n.driver,
        },
    )?;
    Ok(Reply::json(201, &json!({ "network": view(&made, None) })))
}

pub fn delete(r: &Request) -> Result<Reply, Fault> {
    compute::delete_network(r.caller()?, r.param("network_id"))?;
    Ok(Reply::empty(204))
}

/// A new floating range (`nova-manage floating create`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRange {
    cidr: String,
    pool: Option<String>,
    interface: Option<String>,
    gateway: Option<String>,
}

pub fn list_ranges(r: &Request) -> Result<Reply, Fault> {
    let ranges = compute::list_floating_ranges(r.caller()?)?;
    let items: Vec<Value> = ranges.iter().map(range_view).collect();
    Ok(Reply::json(200, &json!({ "floating_ranges": items })))
}

pub fn create_range(r: &Request) -> Result<Reply, Fault> {
    let n: NewRange = r.json()?;
    let made = compute::create_floating_range(
        r.caller()?,
        n.pool.as_deref(),
        &n.cidr,
        n.interface.as_deref(),
        n.gateway.as_deref(),
    )?;
    Ok(Reply::json(
        201,
        &json!({ "floating_range": range_view(&made) }),
    ))
}

/// `DELETE /floating-ranges/{address}/{prefix}` (the CIDR's slash is a path separator).
pub fn delete_range(r: &Request) -> Result<Reply, Fault> {
    let cidr = format!("{}/{}", r.param("address"), r.param("prefix"));
    compute::delete_floating_range(r.caller()?, &cidr)?;
    Ok(Reply::empty(204))
}
