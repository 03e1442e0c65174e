//! Floating IPs, and the floating pools shown as external networks (`router:external`),
//! which is where Neutron clients allocate them from. A floating IP's id is its address
//! (as in Nova's API here): `floatingips/203.0.113.5`.

use crate::bindings::metacloud::api::compute;
use crate::bindings::metacloud::api::types::{FloatingIp, OpError, PortDetail, Router};
use crate::body::{envelope, object, opt_string};
use crate::errors::{self, from_op};
use crate::query::{listing, single};
use crate::{is_admin, ports, Fault, Reply, Request};
use serde_json::{json, Map, Value};

/// The external networks, as `(network id, pool)` for those with floating ranges.
pub fn pools(r: &Request) -> Result<Vec<(String, Option<String>)>, Fault> {
    Ok(crate::networks::visible(r)?
        .into_iter()
        .filter(|n| n.external)
        .map(|n| (n.network.id, n.pool))
        .collect())
}

/// The external network of `pool`.
fn network_of(pools: &[(String, Option<String>)], pool: &str) -> Option<String> {
    pools
        .iter()
        .find(|(_, p)| p.as_deref() == Some(pool))
        .map(|(id, _)| id.clone())
}

/// The router that joins the port's network to the floating address's external network.
fn router_of(
    routers: &[Router],
    port: Option<&PortDetail>,
    network: Option<&str>,
) -> Option<String> {
    let (port, network) = (port?, network?);
    routers
        .iter()
        .find(|x| {
            x.external_network_id.as_deref() == Some(network)
                && x.interfaces
                    .iter()
                    .any(|i| i.network_id == port.port.network_id)
        })
        .map(|x| x.id.clone())
}

fn view(
    f: &FloatingIp,
    port: Option<&PortDetail>,
    network: Option<String>,
    routers: &[Router],
) -> Map<String, Value> {
    let project = f.project_id.clone().unwrap_or_default();
    let router = router_of(routers, port, network.as_deref());
    object(json!({
        "id": f.address, "floating_ip_address": f.address,
        "floating_network_id": network, "router_id": router,
        "port_id": port.map(|p| p.port.id.clone()), "fixed_ip_address": f.fixed_address,
        "status": if f.fixed_address.is_some() { "ACTIVE" } else { "DOWN" },
        "tenant_id": project, "project_id": project, "description": "", "tags": [],
        "revision_number": 0, "port_details": null, "dns_domain": "", "dns_name": "",
    }))
}

/// The port a floating address points at, among `ports`.
fn port_of<'a>(f: &FloatingIp, ports: &'a [PortDetail]) -> Option<&'a PortDetail> {
    let id = f.port_id.as_deref()?;
    ports.iter().find(|p| p.port.id == id)
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

/// The ports the floating addresses `fs` point at.
fn ports_of(r: &Request, fs: &[FloatingIp]) -> Result<Vec<PortDetail>, Fault> {
    let mut ids: Vec<String> = fs.iter().filter_map(|f| f.port_id.clone()).collect();
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    ports::find(r, &ids, &[])
}

pub fn list(r: &Request) -> Result<Reply, Fault> {
    let fs = visible(r)?;
    let ports = ports_of(r, &fs)?;
    let pools = pools(r)?;
    let routers = crate::routers::visible(r)?;
    let items = fs
        .iter()
        .map(|f| view(f, port_of(f, &ports), network_of(&pools, &f.pool), &routers))
        .collect();
    listing(r, "floatingips", items)
}

fn one(r: &Request, id: &str) -> Result<Option<FloatingIp>, Fault> {
    Ok(visible(r)?.into_iter().find(|f| f.address == id))
}

fn shown(r: &Request, status: u16, f: &FloatingIp) -> Result<Reply, Fault> {
    let ports = ports_of(r, std::slice::from_ref(f))?;
    let routers = crate::routers::visible(r)?;
    let v = view(
        f,
        port_of(f, &ports),
        network_of(&pools(r)?, &f.pool),
        &routers,
    );
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

/// Points `address` at port `port_id` (one of the caller's, bound to a server or not), or
/// at nothing. An unknown port is refused before anything changes.
fn point(r: &Request, f: &FloatingIp, port_id: Option<&str>) -> Result<Option<Reply>, Fault> {
    if let Some(id) = port_id {
        if ports::find(r, &[id.to_string()], &[])?.is_empty() {
            return Ok(Some(errors::typed(
                404,
                "PortNotFound",
                format!("Port {id} could not be found."),
            )));
        }
    }
    compute::set_floating_ip_port(r.caller()?, &f.address, port_id).map_err(from_op)?;
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
        if crate::networks::find(r, &network)?.is_some() {
            return Err(Fault::bad_request(format!(
                "Bad floatingip request: Network {network} is not a valid external network."
            )));
        }
        return Ok(errors::typed(
            404,
            "ExternalNetworkNotFound",
            format!("External network {network} could not be found."),
        ));
    };
    let Some(pool) = pool else {
        return Err(Fault::bad_request(format!(
            "Bad floatingip request: Network {network} does not contain any IPv4 subnet."
        )));
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
