//! Networks and subnets. A network here has at most one IPv4 subnet (its addresses); an
//! external network's subnets are its floating ranges. Members make their project's own;
//! external and shared networks are the admins'.

use crate::bindings::metacloud::api::compute;
use crate::bindings::metacloud::api::types::{NetworkRecord, NetworkSpec, Subnet, SubnetCreate};
use crate::body::{envelope, object, opt_bool, opt_int, opt_string, opt_strings};
use crate::errors::{self, from_op};
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

/// A network as Neutron shows it, with the ids of its subnets; `admin` adds the provider
/// attributes.
pub fn network_view(n: &NetworkRecord, subnets: &[Subnet], admin: bool) -> Map<String, Value> {
    let net = &n.network;
    let project = net.project_id.clone().unwrap_or_default();
    let ids: Vec<&str> = subnets
        .iter()
        .filter(|s| s.network_id == net.id)
        .map(|s| s.id.as_str())
        .collect();
    let mut v = json!({
        "id": net.id, "name": net.label, "tenant_id": project, "project_id": project,
        "status": "ACTIVE", "admin_state_up": true,
        "shared": net.project_id.is_none() && !n.external,
        "router:external": n.external, "subnets": ids, "mtu": net.mtu,
        "description": "", "tags": [], "revision_number": 0,
        "port_security_enabled": true, "availability_zone_hints": [],
        "availability_zones": ["nova"], "ipv4_address_scope": null,
        "ipv6_address_scope": null, "l2_adjacency": true, "is_default": false,
        "created_at": timestamp(net.created_at), "updated_at": timestamp(net.updated_at),
    });
    if admin {
        let kind = match (n.external, net.vlan) {
            (true, _) | (false, None) => "flat",
            (false, Some(_)) => "vxlan",
        };
        v["provider:network_type"] = json!(kind);
        v["provider:physical_network"] = json!(net.bridge_interface);
        v["provider:segmentation_id"] = json!(net.vlan);
    }
    object(v)
}

/// A subnet as Neutron shows it.
pub fn subnet_view(s: &Subnet) -> Map<String, Value> {
    let project = s.project_id.clone().unwrap_or_default();
    object(json!({
        "id": s.id, "name": s.name, "network_id": s.network_id,
        "tenant_id": project, "project_id": project,
        "cidr": s.cidr, "ip_version": 4, "gateway_ip": s.gateway,
        "enable_dhcp": s.enable_dhcp,
        "allocation_pools": [{"start": s.allocation_start, "end": s.allocation_end}],
        "dns_nameservers": s.dns, "host_routes": [], "ipv6_ra_mode": null,
        "ipv6_address_mode": null, "subnetpool_id": null, "description": "",
        "tags": [], "service_types": [], "revision_number": 0,
        "created_at": timestamp(s.created_at), "updated_at": timestamp(s.updated_at),
    }))
}

/// The networks the caller sees: its project's, the shared and the external ones (every
/// one for admins, as Neutron lists them).
pub fn visible(r: &Request) -> Result<Vec<NetworkRecord>, Fault> {
    compute::list_network_records(r.caller()?, is_admin(r)).map_err(from_op)
}

/// The subnets of the networks the caller sees.
pub fn subnets(r: &Request) -> Result<Vec<Subnet>, Fault> {
    compute::list_subnets(r.caller()?, is_admin(r)).map_err(from_op)
}

pub fn find(r: &Request, id: &str) -> Result<Option<NetworkRecord>, Fault> {
    Ok(visible(r)?.into_iter().find(|n| n.network.id == id))
}

fn network_not_found(id: &str) -> Reply {
    errors::typed(
        404,
        "NetworkNotFound",
        format!("Network {id} could not be found."),
    )
}

fn subnet_not_found(id: &str) -> Reply {
    errors::typed(
        404,
        "SubnetNotFound",
        format!("Subnet {id} could not be found."),
    )
}

/// A refusal of the host as Neutron's error, with Neutron's type for what it recognises.
fn refused(e: Fault, in_use: &str) -> Result<Reply, Fault> {
    match e.status {
        409 if e.message.contains("in use") || e.message.contains("Unable to complete") => {
            Ok(errors::typed(409, in_use, &e.message))
        }
        403 => Ok(errors::typed(403, "PolicyNotAuthorized", &e.message)),
        _ => Err(e),
    }
}

fn shown_network(r: &Request, status: u16, n: &NetworkRecord) -> Result<Reply, Fault> {
    let v = network_view(n, &subnets(r)?, is_admin(r));
    Ok(if status == 200 {
        single(r, "network", v)
    } else {
        Reply::json(status, &json!({ "network": Value::Object(v) }))
    })
}

pub fn list(r: &Request) -> Result<Reply, Fault> {
    let admin = is_admin(r);
    let subnets = subnets(r)?;
    let items = visible(r)?
        .iter()
        .map(|n| network_view(n, &subnets, admin))
        .collect();
    listing(r, "networks", items)
}

pub fn show(r: &Request) -> Result<Reply, Fault> {
    let id = r.param("id");
    match find(r, id)? {
        Some(n) => shown_network(r, 200, &n),
        None => Ok(network_not_found(id)),
    }
}

/// The project a new resource is for: `project_id` (or `tenant_id`) of the body, else the
/// caller's.
pub fn owner(r: &Request, m: &Map<String, Value>) -> Result<String, Fault> {
    let given = match opt_string(m, "project_id")? {
        Some(p) => Some(p),
        None => opt_string(m, "tenant_id")?,
    };
    Ok(given.unwrap_or_else(|| {
        r.caller
            .as_ref()
            .map(|c| c.project_id.clone())
            .unwrap_or_default()
    }))
}

pub fn create(r: &Request) -> Result<Reply, Fault> {
    let m = envelope(r, "network")?;
    let external = opt_bool(&m, "router:external")?.unwrap_or(false);
    let shared = opt_bool(&m, "shared")?.unwrap_or(false);
    match opt_string(&m, "provider:network_type")?.as_deref() {
        None | Some("flat") | Some("vxlan") | Some("local") => {}
        Some(other) => {
            return Err(Fault::bad_request(format!(
                "Invalid input for operation: network type {other} is not served here (flat, vxlan, local)."
            )))
        }
    }
    let spec = NetworkSpec {
        name: opt_string(&m, "name")?.unwrap_or_default(),
        project_id: if shared { None } else { Some(owner(r, &m)?) },
        external,
        mtu: opt_int(&m, "mtu")?,
        physical_network: opt_string(&m, "provider:physical_network")?,
    };
    match compute::create_network_record(r.caller()?, &spec) {
        Ok(n) => shown_network(r, 201, &n),
        Err(e) => refused(from_op(e), "NetworkInUse"),
    }
}

pub fn update(r: &Request) -> Result<Reply, Fault> {
    let id = r.param("id");
    let m = envelope(r, "network")?;
    if find(r, id)?.is_none() {
        return Ok(network_not_found(id));
    }
    if m.contains_key("router:external") {
        return Err(Fault::bad_request(
            "Invalid input for operation: router:external cannot be changed here; make a new network.",
        ));
    }
    let name = opt_string(&m, "name")?;
    let shared = opt_bool(&m, "shared")?;
    match compute::update_network_record(r.caller()?, id, name.as_deref(), shared) {
        Ok(n) => shown_network(r, 200, &n),
        Err(e) => refused(from_op(e), "InvalidSharedSetting"),
    }
}

pub fn delete(r: &Request) -> Result<Reply, Fault> {
    let id = r.param("id");
    if find(r, id)?.is_none() {
        return Ok(network_not_found(id));
    }
    match compute::delete_network_record(r.caller()?, id) {
        Ok(()) => Ok(Reply::empty(204)),
        Err(e) => refused(from_op(e), "NetworkInUse"),
    }
}

pub fn list_subnets(r: &Request) -> Result<Reply, Fault> {
    let mut all = subnets(r)?;
    // As Neutron lists them: an external network's subnets are its owner's and the
    // admins' to see (members allocate floating IPs from the network, not a subnet).
    if !is_admin(r) {
        let external: Vec<String> = visible(r)?
            .into_iter()
            .filter(|n| n.external)
            .map(|n| n.network.id)
            .collect();
        all.retain(|s| !external.contains(&s.network_id));
    }
    let items = all.iter().map(subnet_view).collect();
    listing(r, "subnets", items)
}

fn find_subnet(r: &Request, id: &str) -> Result<Option<Subnet>, Fault> {
    Ok(subnets(r)?.into_iter().find(|s| s.id == id))
}

fn shown_subnet(r: &Request, status: u16, s: &Subnet) -> Reply {
    let v = subnet_view(s);
    if status == 200 {
        single(r, "subnet", v)
    } else {
        Reply::json(status, &json!({ "subnet": Value::Object(v) }))
    }
}

pub fn show_subnet(r: &Request) -> Result<Reply, Fault> {
    let id = r.param("id");
    Ok(match find_subnet(r, id)? {
        Some(s) => shown_subnet(r, 200, &s),
        None => subnet_not_found(id),
    })
}

/// The one allocation pool a subnet may have here, as (start, end).
fn allocation_pool(m: &Map<String, Value>) -> Result<(Option<String>, Option<String>), Fault> {
    let pools = match m.get("allocation_pools") {
        None | Some(Value::Null) => return Ok((None, None)),
        Some(Value::Array(a)) => a,
        Some(_) => {
            return Err(Fault::bad_request(
                "Invalid input for allocation_pools. Reason: not a list of pools.",
            ))
        }
    };
    match pools.as_slice() {
        [] => Ok((None, None)),
        [Value::Object(p)] => Ok((opt_string(p, "start")?, opt_string(p, "end")?)),
        [_] => Err(Fault::bad_request(
            "Invalid input for allocation_pools. Reason: a pool is an object with start and end.",
        )),
        _ => Err(Fault::bad_request(
            "Invalid input for allocation_pools. Reason: one allocation pool per subnet is served here.",
        )),
    }
}

pub fn create_subnet(r: &Request) -> Result<Reply, Fault> {
    let m = envelope(r, "subnet")?;
    let network = opt_string(&m, "network_id")?.ok_or_else(|| {
        Fault::bad_request("Failed to parse request. Required attribute 'network_id' not specified")
    })?;
    match opt_int(&m, "ip_version")? {
        None | Some(4) => {}
        Some(6) => {
            return Err(Fault::bad_request(
                "Invalid input for operation: IPv6 subnets are not served here.",
            ))
        }
        Some(v) => {
            return Err(Fault::bad_request(format!(
                "Invalid input for ip_version. Reason: {v} is not in [4, 6]."
            )))
        }
    }
    let cidr = opt_string(&m, "cidr")?.ok_or_else(|| {
        Fault::bad_request(
            "Bad subnets request: a cidr must be specified in the absence of a subnet pool.",
        )
    })?;
    if find(r, &network)?.is_none() {
        return Ok(network_not_found(&network));
    }
    let (start, end) = allocation_pool(&m)?;
    let s = SubnetCreate {
        network_id: network,
        name: opt_string(&m, "name")?.unwrap_or_default(),
        cidr,
        gateway: opt_string(&m, "gateway_ip")?,
        allocation_start: start,
        allocation_end: end,
        dns: opt_strings(&m, "dns_nameservers")?.unwrap_or_default(),
        enable_dhcp: opt_bool(&m, "enable_dhcp")?.unwrap_or(true),
    };
    let (cidr, network) = (s.cidr.clone(), s.network_id.clone());
    match compute::create_subnet(r.caller()?, &s) {
        Ok(s) => Ok(shown_subnet(r, 201, &s)),
        Err(e) => {
            let f = from_op(e);
            // tempest (and scripts like it) look for this text to try the next CIDR.
            if f.status == 409 && f.message.contains("overlaps") {
                let message = format!(
                    "Invalid input for operation: Requested subnet with cidr: {cidr} for \
                     network: {network} overlaps with another subnet ({}).",
                    f.message
                );
                return Ok(errors::typed(400, "InvalidInput", message));
            }
            refused(f, "SubnetInUse")
        }
    }
}

pub fn update_subnet(r: &Request) -> Result<Reply, Fault> {
    let id = r.param("id");
    let m = envelope(r, "subnet")?;
    if find_subnet(r, id)?.is_none() {
        return Ok(subnet_not_found(id));
    }
    for fixed in [
        "cidr",
        "network_id",
        "ip_version",
        "allocation_pools",
        "gateway_ip",
    ] {
        if m.contains_key(fixed) {
            return Err(Fault::bad_request(format!(
                "Invalid input for operation: {fixed} cannot be changed here."
            )));
        }
    }
    let name = opt_string(&m, "name")?;
    let dns = opt_strings(&m, "dns_nameservers")?;
    match compute::update_subnet(r.caller()?, id, name.as_deref(), dns.as_deref()) {
        Ok(s) => Ok(shown_subnet(r, 200, &s)),
        Err(e) => refused(from_op(e), "SubnetInUse"),
    }
}

pub fn delete_subnet(r: &Request) -> Result<Reply, Fault> {
    let id = r.param("id");
    if find_subnet(r, id)?.is_none() {
        return Ok(subnet_not_found(id));
    }
    match compute::delete_subnet(r.caller()?, id) {
        Ok(()) => Ok(Reply::empty(204)),
        Err(e) => refused(from_op(e), "SubnetInUse"),
    }
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

/// `POST /networks`, one or in bulk.
pub fn create_any(r: &Request) -> Result<Reply, Fault> {
    crate::body::bulk(r, "network", "networks", create, |r, id| {
        let _ = compute::delete_network_record(r.caller()?, id);
        Ok(())
    })
}

/// `POST /subnets`, one or in bulk.
pub fn create_subnets(r: &Request) -> Result<Reply, Fault> {
    crate::body::bulk(r, "subnet", "subnets", create_subnet, |r, id| {
        let _ = compute::delete_subnet(r.caller()?, id);
        Ok(())
    })
}
