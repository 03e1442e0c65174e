//! Floating IPs, and the floating pools shown as external networks (`router:external`),
//! which is where Neutron clients allocate them from. A floating IP's id is its address
//! (as in Nova's API here): `floatingips/203.0.113.5`.

use crate::bindings::metacloud::api::compute;
use crate::bindings::metacloud::api::types::{FloatingIp, OpError, PortDetail};
use crate::body::{envelope, object, opt_string};
use crate::errors::{self, from_op};
use crate::query::{listing, single};
use crate::{is_admin, ports, Fault, Reply, Request};
use serde_json::{json, Map, Value};

/// A stable UUID-shaped id for pool `name` (two FNV-1a hashes; the same on every call).
pub fn pool_id(name: &str) -> String {
    let fnv = |seed: u64| {
        name.bytes().fold(seed, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    let (a, b) = (fnv(0xcbf2_9ce4_8422_2325), fnv(0x8422_2325_cbf2_9ce4));
    format!(
        "{:08x}-{:04x}-8{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

/// The pools, as `(id, name)`.
pub fn pools(r: &Request) -> Result<Vec<(String, String)>, Fault> {
    Ok(compute::list_floating_pools(r.caller()?)
        .map_err(from_op)?
        .into_iter()
        .map(|p| (pool_id(&p), p))
        .collect())
}

/// A pool as an external network (every project sees it).
pub fn external_network(id: &str, name: &str) -> Map<String, Value> {
    object(json!({
        "id": id, "name": name, "tenant_id": "", "project_id": "", "status": "ACTIVE",
        "admin_state_up": true, "shared": false, "router:external": true, "subnets": [],
        "mtu": 1500, "description": "floating addresses of pool ".to_string() + name,
        "tags": [], "revision_number": 0, "port_security_enabled": true,
        "availability_zone_hints": [], "availability_zones": ["nova"],
        "ipv4_address_scope": null, "ipv6_address_scope": null, "l2_adjacency": true,
        "is_default": false,
    }))
}

fn view(f: &FloatingIp, port: Option<&PortDetail>) -> Map<String, Value> {
    let project = f.project_id.clone().unwrap_or_default();
    object(json!({
        "id": f.address, "floating_ip_address": f.address,
        "floating_network_id": pool_id(&f.pool), "router_id": null,
        "port_id": port.map(|p| p.port.id.clone()), "fixed_ip_address": f.fixed_address,
        "status": if f.fixed_address.is_some() { "ACTIVE" } else { "DOWN" },
        "tenant_id": project, "project_id": project, "description": "", "tags": [],
        "revision_number": 0, "port_details": null, "dns_domain": "", "dns_name": "",
    }))
}

/// The port a floating address points at, among `ports`.
fn port_of<'a>(f: &FloatingIp, ports: &'a [PortDetail]) -> Option<&'a PortDetail> {
    let (server, fixed) = (f.instance_id.as_deref()?, f.fixed_address.as_deref()?);
    ports
        .iter()
        .find(|p| p.port.server_id == server && p.port.address == fixed)
}

fn visible(r: &Request) -> Result<Vec<FloatingIp>, Fault> {
    let c = r.caller()?;
    if is_admin(r) {
        Ok(compute::list_all_floating_ips(c)
            .map_err(from_op)?
            .into_iter()
            .filter(|f| f.project_id.is_some())
            .collect())
    } else {
        compute::list_floating_ips(c).map_err(from_op)
    }
}

fn not_found(id: &str) -> Reply {
    errors::typed(
        404,
        "FloatingIPNotFound",
        format!("Floating IP {id} could not be found"),
    )
}

pub fn list(r: &Request) -> Result<Reply, Fault> {
    let ports = ports::visible(r)?;
    let items = visible(r)?
        .iter()
        .map(|f| view(f, port_of(f, &ports)))
        .collect();
    listing(r, "floatingips", items)
}

fn one(r: &Request, id: &str) -> Result<Option<FloatingIp>, Fault> {
    Ok(visible(r)?.into_iter().find(|f| f.address == id))
}

fn shown(r: &Request, status: u16, f: &FloatingIp) -> Result<Reply, Fault> {
    let ports = ports::visible(r)?;
    let v = view(f, port_of(f, &ports));
    Ok(if status == 200 {
        single(r, "floatingip", v)
    } else {
        Reply::json(status, &json!({ "floatingip": Value::Object(v) }))
    })
}

pub fn show(r: &Request) -> Result<Reply, Fault> {
    let id = r.param("id");
    match one(r, id)? {
        Some(f) => shown(r, 200, &f),
        None => Ok(not_found(id)),
    }
}

/// Points `address` at port `port_id` (one of the caller's), or at nothing. An unknown
/// port is refused before anything changes.
fn point(r: &Request, f: &FloatingIp, port_id: Option<&str>) -> Result<Option<Reply>, Fault> {
    let c = r.caller()?;
    let ports = ports::visible(r)?;
    let target = match port_id {
        None => None,
        Some(id) => match ports.iter().find(|p| p.port.id == id) {
            Some(p) => Some(p),
            None => {
                return Ok(Some(errors::typed(
                    404,
                    "PortNotFound",
                    format!("Port {id} could not be found."),
                )))
            }
        },
    };
    if let Some(current) = port_of(f, &ports) {
        if Some(current.port.id.as_str()) == port_id {
            return Ok(None);
        }
        compute::disassociate_floating_ip(c, &current.port.server_id, &f.address)
            .map_err(from_op)?;
    }
    if let Some(port) = target {
        compute::associate_floating_ip(
            c,
            &port.port.server_id,
            &f.address,
            Some(&port.port.address),
        )
        .map_err(from_op)?;
    }
    Ok(None)
}

pub fn create(r: &Request) -> Result<Reply, Fault> {
    let m = envelope(r, "floatingip")?;
    let network = opt_string(&m, "floating_network_id")?.ok_or_else(|| {
        Fault::bad_request(
            "Failed to parse request. Required attribute 'floating_network_id' not specified",
        )
    })?;
    if opt_string(&m, "floating_ip_address")?.is_some() {
        return Err(Fault::bad_request(
            "Invalid input for operation: a given floating_ip_address is not served here; the pool gives the next free one.",
        ));
    }
    let Some((_, pool)) = pools(r)?.into_iter().find(|(id, _)| *id == network) else {
        return Ok(errors::typed(
            404,
            "ExternalNetworkNotFound",
            format!("External network {network} could not be found."),
        ));
    };
    let f = match compute::allocate_floating_ip(r.caller()?, Some(&pool)) {
        Ok(f) => f,
        // The host answers a quota refusal as Nova does (403): Neutron's is a 409.
        Err(OpError::Forbidden(m)) if m.contains("over quota") => {
            return Ok(errors::typed(
                409,
                "OverQuota",
                "Quota exceeded for resources: ['floatingip'].",
            ))
        }
        Err(OpError::NotFound(m)) => {
            return Ok(errors::typed(
                409,
                "IpAddressGenerationFailure",
                format!("No more IP addresses available on network {network}. ({m})"),
            ))
        }
        Err(e) => return Err(from_op(e)),
    };
    if let Some(port) = opt_string(&m, "port_id")? {
        if let Some(refused) = point(r, &f, Some(&port))? {
            let _ = compute::release_floating_ip(r.caller()?, &f.address);
            return Ok(refused);
        }
    }
    let f = one(r, &f.address)?.unwrap_or(f);
    shown(r, 201, &f)
}

pub fn update(r: &Request) -> Result<Reply, Fault> {
    let id = r.param("id");
    let m = envelope(r, "floatingip")?;
    let Some(f) = one(r, id)? else {
        return Ok(not_found(id));
    };
    if m.contains_key("port_id") {
        if let Some(refused) = point(r, &f, opt_string(&m, "port_id")?.as_deref())? {
            return Ok(refused);
        }
    }
    let f = one(r, id)?.unwrap_or(f);
    shown(r, 200, &f)
}

pub fn delete(r: &Request) -> Result<Reply, Fault> {
    let id = r.param("id");
    if one(r, id)?.is_none() {
        return Ok(not_found(id));
    }
    compute::release_floating_ip(r.caller()?, id).map_err(from_op)?;
    Ok(Reply::empty(204))
}

#[cfg(test)]
mod tests {
    use super::pool_id;

    #[test]
    fn pool_ids_are_stable_and_distinct() {
        assert_eq!(pool_id("public"), pool_id("public"));
        assert_ne!(pool_id("public"), pool_id("nova"));
        let id = pool_id("public");
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "8");
        assert!(id.split('-').map(str::len).eq([8, 4, 4, 4, 12]));
    }
}
