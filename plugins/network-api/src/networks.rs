//! Networks and their subnets (read). A network here is one IPv4 range: its Neutron view
//! is a network with one subnet of the same id.

use crate::bindings::metacloud::api::compute;
use crate::bindings::metacloud::api::types::Network;
use crate::body::object;
use crate::errors::{self, from_op};
use crate::floating;
use crate::query::{listing, single};
use crate::{is_admin, Fault, Reply, Request};
use serde_json::{json, Map, Value};

/// Seconds since the epoch (the host's milliseconds) as Neutron's `2026-12-05T02:46:07Z`.
pub fn timestamp(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A network as Neutron shows it; `admin` adds the provider attributes.
pub fn network_view(n: &Network, admin: bool) -> Map<String, Value> {
    let project = n.project_id.clone().unwrap_or_default();
    let mut v = json!({
        "id": n.id, "name": n.label, "tenant_id": project, "project_id": project,
        "status": "ACTIVE", "admin_state_up": true, "shared": n.project_id.is_none(),
        "router:external": false, "subnets": [n.id], "mtu": n.mtu,
        "description": "", "tags": [], "revision_number": 0,
        "port_security_enabled": true, "availability_zone_hints": [],
        "availability_zones": ["nova"], "ipv4_address_scope": null,
        "ipv6_address_scope": null, "l2_adjacency": true, "is_default": false,
        "created_at": timestamp(n.created_at), "updated_at": timestamp(n.updated_at),
    });
    if admin {
        v["provider:network_type"] = json!(if n.vlan.is_some() { "vxlan" } else { "flat" });
        v["provider:physical_network"] = json!(n.bridge_interface);
        v["provider:segmentation_id"] = json!(n.vlan);
    }
    object(v)
}

/// A network's one subnet as Neutron shows it.
pub fn subnet_view(n: &Network) -> Map<String, Value> {
    let project = n.project_id.clone().unwrap_or_default();
    object(json!({
        "id": n.id, "name": n.label, "network_id": n.id,
        "tenant_id": project, "project_id": project,
        "cidr": n.cidr, "ip_version": 4, "gateway_ip": n.gateway,
        "enable_dhcp": n.enable_dhcp,
        "allocation_pools": [{"start": n.dhcp_start, "end": n.dhcp_end}],
        "dns_nameservers": n.dns, "host_routes": [], "ipv6_ra_mode": null,
        "ipv6_address_mode": null, "subnetpool_id": null, "description": "",
        "tags": [], "service_types": [], "revision_number": 0,
        "created_at": timestamp(n.created_at), "updated_at": timestamp(n.updated_at),
    }))
}

/// The networks the caller sees: its project's and the shared ones (every one for admins,
/// as Neutron lists them).
fn visible(r: &Request) -> Result<Vec<Network>, Fault> {
    compute::list_networks(r.caller()?, is_admin(r)).map_err(from_op)
}

fn find(r: &Request, id: &str) -> Result<Option<Network>, Fault> {
    Ok(visible(r)?.into_iter().find(|n| n.id == id))
}

pub fn list(r: &Request) -> Result<Reply, Fault> {
    let admin = is_admin(r);
    let mut items: Vec<Map<String, Value>> =
        visible(r)?.iter().map(|n| network_view(n, admin)).collect();
    items.extend(
        floating::pools(r)?
            .iter()
            .map(|(id, name)| floating::external_network(id, name)),
    );
    listing(r, "networks", items)
}

pub fn show(r: &Request) -> Result<Reply, Fault> {
    let id = r.param("id");
    if let Some((id, name)) = floating::pools(r)?.into_iter().find(|(p, _)| p == id) {
        return Ok(single(r, "network", floating::external_network(&id, &name)));
    }
    Ok(match find(r, id)? {
        Some(n) => single(r, "network", network_view(&n, is_admin(r))),
        None => errors::typed(
            404,
            "NetworkNotFound",
            format!("Network {id} could not be found."),
        ),
    })
}

pub fn list_subnets(r: &Request) -> Result<Reply, Fault> {
    let items = visible(r)?.iter().map(subnet_view).collect();
    listing(r, "subnets", items)
}

pub fn show_subnet(r: &Request) -> Result<Reply, Fault> {
    let id = r.param("id");
    Ok(match find(r, id)? {
        Some(n) => single(r, "subnet", subnet_view(&n)),
        None => errors::typed(
            404,
            "SubnetNotFound",
            format!("Subnet {id} could not be found."),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::timestamp;

    #[test]
    fn timestamps_are_utc_seconds() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(timestamp(1_796_438_767_000), "2026-12-05T02:46:07Z");
        assert_eq!(timestamp(951_782_400_000), "2000-02-29T00:00:00Z");
    }
}
