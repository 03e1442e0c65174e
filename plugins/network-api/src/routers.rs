//! Routers: a project's router takes an address on an external network (its gateway) and
//! joins the project's networks to it (one interface per subnet, at the subnet's gateway
//! address). Their ports appear in port listings as Neutron shows them
//! (`network:router_interface`, `network:router_gateway`).

use crate::bindings::metacloud::api::compute;
use crate::bindings::metacloud::api::types::{Router, RouterInterface};
use crate::body::{envelope, object, opt_bool, opt_string};
use crate::errors::{self, from_op};
use crate::networks::{owner, subnets, timestamp};
use crate::query::{listing, single};
use crate::{is_admin, stable_id, Fault, Reply, Request};
use serde_json::{json, Map, Value};

/// The routers the caller sees (its project's; every one for admins).
pub fn visible(r: &Request) -> Result<Vec<Router>, Fault> {
    compute::list_routers(r.caller()?, is_admin(r)).map_err(from_op)
}

fn find(r: &Request, id: &str) -> Result<Option<Router>, Fault> {
    Ok(visible(r)?.into_iter().find(|x| x.id == id))
}

fn not_found(id: &str) -> Reply {
    errors::typed(
        404,
        "RouterNotFound",
        format!("Router {id} could not be found"),
    )
}

/// The id of a router's gateway port (stable: derived from the router's id).
pub fn gateway_port_id(router: &str) -> String {
    stable_id(&format!("router-gateway:{router}"))
}

/// The subnet id of a router's gateway address (the external subnet that holds it).
fn gateway_subnet(r: &Request, x: &Router) -> Result<Option<String>, Fault> {
    let (Some(net), Some(addr)) = (&x.external_network_id, &x.gateway_address) else {
        return Ok(None);
    };
    Ok(subnets(r)?
        .into_iter()
        .find(|s| &s.network_id == net && crate::ports::in_cidr(addr, &s.cidr))
        .map(|s| s.id))
}

fn view(r: &Request, x: &Router) -> Result<Map<String, Value>, Fault> {
    let gateway = match &x.external_network_id {
        Some(net) => json!({
            "network_id": net, "enable_snat": true,
            "external_fixed_ips": match (&x.gateway_address, gateway_subnet(r, x)?) {
                (Some(a), Some(s)) => json!([{"subnet_id": s, "ip_address": a}]),
                _ => json!([]),
            },
        }),
        None => Value::Null,
    };
    Ok(object(json!({
        "id": x.id, "name": x.name, "tenant_id": x.project_id, "project_id": x.project_id,
        "admin_state_up": x.admin_state_up, "status": "ACTIVE",
        "external_gateway_info": gateway, "routes": [], "description": "", "tags": [],
        "distributed": false, "ha": false, "availability_zone_hints": [],
        "availability_zones": ["nova"], "flavor_id": null, "revision_number": 0,
        "created_at": timestamp(x.created_at), "updated_at": timestamp(x.updated_at),
    })))
}

fn shown(r: &Request, status: u16, x: &Router) -> Result<Reply, Fault> {
    let v = view(r, x)?;
    Ok(if status == 200 {
        single(r, "router", v)
    } else {
        Reply::json(status, &json!({ "router": Value::Object(v) }))
    })
}

/// `external_gateway_info` of a body: absent (none), null or `{}` (clear: some(none)), or
/// `{"network_id": …}` (set).
fn gateway_of(m: &Map<String, Value>) -> Result<Option<Option<String>>, Fault> {
    match m.get("external_gateway_info") {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::Object(g)) if g.is_empty() => Ok(Some(None)),
        Some(Value::Object(g)) => {
            if g.get("external_fixed_ips").is_some_and(|v| !v.is_null()) {
                return Err(Fault::bad_request(
                    "Invalid input for operation: external_fixed_ips are not served here; the network gives the next free address.",
                ));
            }
            let net = opt_string(g, "network_id")?.ok_or_else(|| {
                Fault::bad_request(
                    "Invalid input for external_gateway_info. Reason: network_id is required.",
                )
            })?;
            Ok(Some(Some(net)))
        }
        Some(v) => Err(Fault::bad_request(format!(
            "Invalid input for external_gateway_info. Reason: '{v}' is not a dictionary."
        ))),
    }
}

/// A host refusal in Neutron's terms.
fn refused(e: Fault) -> Result<Reply, Fault> {
    match e.status {
        404 if e.message.starts_with("Network") => {
            Ok(errors::typed(404, "ExternalNetworkNotFound", &e.message))
        }
        409 if e.message.contains("in use") => Ok(errors::typed(409, "RouterInUse", &e.message)),
        409 if e.message.contains("No more IP") => {
            Ok(errors::typed(409, "IpAddressGenerationFailure", &e.message))
        }
        403 => Ok(errors::typed(403, "PolicyNotAuthorized", &e.message)),
        _ => Err(e),
    }
}

pub fn list(r: &Request) -> Result<Reply, Fault> {
    let items = visible(r)?
        .iter()
        .map(|x| view(r, x))
        .collect::<Result<Vec<_>, _>>()?;
    listing(r, "routers", items)
}

pub fn show(r: &Request) -> Result<Reply, Fault> {
    let id = r.param("id");
    match find(r, id)? {
        Some(x) => shown(r, 200, &x),
        None => Ok(not_found(id)),
    }
}

pub fn create(r: &Request) -> Result<Reply, Fault> {
    let m = envelope(r, "router")?;
    let project = owner(r, &m)?;
    let name = opt_string(&m, "name")?.unwrap_or_default();
    let up = opt_bool(&m, "admin_state_up")?.unwrap_or(true);
    let gateway = gateway_of(&m)?.flatten();
    match compute::create_router(r.caller()?, Some(&project), &name, up, gateway.as_deref()) {
        Ok(x) => shown(r, 201, &x),
        Err(e) => refused(from_op(e)),
    }
}

pub fn update(r: &Request) -> Result<Reply, Fault> {
    let id = r.param("id");
    let m = envelope(r, "router")?;
    if find(r, id)?.is_none() {
        return Ok(not_found(id));
    }
    if m.get("routes")
        .is_some_and(|v| v.as_array().is_some_and(|a| !a.is_empty()))
    {
        return Err(Fault::bad_request(
            "Invalid input for operation: extra routes are not served here.",
        ));
    }
    let name = opt_string(&m, "name")?;
    let up = opt_bool(&m, "admin_state_up")?;
    let gateway = gateway_of(&m)?;
    let gateway = gateway.as_ref().map(|g| g.as_deref());
    match compute::update_router(r.caller()?, id, name.as_deref(), up, gateway) {
        Ok(x) => shown(r, 200, &x),
        Err(e) => refused(from_op(e)),
    }
}

pub fn delete(r: &Request) -> Result<Reply, Fault> {
    let id = r.param("id");
    if find(r, id)?.is_none() {
        return Ok(not_found(id));
    }
    match compute::delete_router(r.caller()?, id) {
        Ok(()) => Ok(Reply::empty(204)),
        Err(e) => refused(from_op(e)),
    }
}

fn interface_reply(x: &Router, i: &RouterInterface) -> Reply {
    Reply::json(
        200,
        &json!({
            "id": x.id, "tenant_id": x.project_id, "project_id": x.project_id,
            "port_id": i.port_id, "network_id": i.network_id, "subnet_id": i.subnet_id,
            "subnet_ids": [i.subnet_id],
        }),
    )
}

/// The body of add/remove_router_interface: `{"subnet_id": …}` or `{"port_id": …}`.
fn interface_body(r: &Request) -> Result<Map<String, Value>, Fault> {
    match serde_json::from_slice::<Value>(&r.body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(errors::malformed("Malformed request body")),
    }
}

pub fn add_interface(r: &Request) -> Result<Reply, Fault> {
    let id = r.param("id");
    let m = interface_body(r)?;
    let Some(x) = find(r, id)? else {
        return Ok(not_found(id));
    };
    let port = opt_string(&m, "port_id")?;
    let subnet = opt_string(&m, "subnet_id")?;
    let c = r.caller()?;
    let (made, missing) = match (&port, &subnet) {
        (Some(_), Some(_)) => {
            return Err(Fault::bad_request(
                "Bad router request: Cannot specify both subnet-id and port-id.",
            ))
        }
        (Some(p), None) => (
            compute::add_router_interface_port(c, id, p),
            ("PortNotFound", format!("Port {p} could not be found.")),
        ),
        (None, Some(s)) => (
            compute::add_router_interface(c, id, s),
            ("SubnetNotFound", format!("Subnet {s} could not be found.")),
        ),
        (None, None) => {
            return Err(Fault::bad_request(
                "Bad router request: Either subnet_id or port_id must be specified.",
            ))
        }
    };
    match made {
        Ok(i) => Ok(interface_reply(&x, &i)),
        Err(e) => {
            let f = from_op(e);
            match f.status {
                404 => Ok(errors::typed(404, missing.0, missing.1)),
                409 if port.is_some() => Ok(errors::typed(409, "PortInUse", &f.message)),
                _ => refused(f),
            }
        }
    }
}

pub fn remove_interface(r: &Request) -> Result<Reply, Fault> {
    let id = r.param("id");
    let m = interface_body(r)?;
    let Some(x) = find(r, id)? else {
        return Ok(not_found(id));
    };
    let subnet = opt_string(&m, "subnet_id")?;
    let port = opt_string(&m, "port_id")?;
    match compute::remove_router_interface(r.caller()?, id, subnet.as_deref(), port.as_deref()) {
        Ok(i) => Ok(interface_reply(&x, &i)),
        Err(e) => {
            let f = from_op(e);
            if f.status == 404 && f.message.contains("has no interface") {
                return Ok(errors::typed(
                    404,
                    "RouterInterfaceNotFoundForSubnet",
                    &f.message,
                ));
            }
            refused(f)
        }
    }
}
