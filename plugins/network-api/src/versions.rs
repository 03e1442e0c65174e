//! Version discovery, the v2.0 resource list and the extensions served.

use crate::errors;
use crate::{Fault, Reply, Request};
use serde_json::{json, Value};

/// The extensions this dialect serves, as `GET /v2.0/extensions` lists them: only what
/// works (clients and tempest decide what to try from this list).
const EXTENSIONS: &[(&str, &str, &str)] = &[
    (
        "security-group",
        "security-group",
        "The security groups extension.",
    ),
    (
        "quotas",
        "Quota management support",
        "Expose functions for quotas management per tenant",
    ),
    (
        "quota_details",
        "Quota details management support",
        "Expose functions for quotas usage statistics per project",
    ),
    (
        "router",
        "Neutron L3 Router",
        "Router abstraction for basic L3 forwarding between L2 Neutron networks and access to external networks via a NAT gateway.",
    ),
    (
        "external-net",
        "Neutron external network",
        "Adds external network attribute to network resource.",
    ),
];

fn extension_json((alias, name, description): &(&str, &str, &str)) -> Value {
    json!({"alias": alias, "name": name, "description": description,
        "updated": "2013-01-01T10:00:00-00:00", "links": []})
}

/// `GET /`: the one version.
pub fn versions(r: &Request) -> Result<Reply, Fault> {
    Ok(Reply::json(
        200,
        &json!({"versions": [{"id": "v2.0", "status": "CURRENT",
            "links": [{"rel": "self", "href": format!("{}/v2.0/", r.origin())}]}]}),
    ))
}

/// `GET /v2.0`: the resources served.
pub fn resources(r: &Request) -> Result<Reply, Fault> {
    let list: Vec<Value> = [
        ("network", "networks"),
        ("subnet", "subnets"),
        ("port", "ports"),
        ("floatingip", "floatingips"),
        ("router", "routers"),
        ("security_group", "security-groups"),
        ("security_group_rule", "security-group-rules"),
    ]
    .iter()
    .map(|(name, collection)| {
        json!({"name": name, "collection": collection,
            "links": [{"rel": "self", "href": format!("{}/v2.0/{collection}", r.origin())}]})
    })
    .collect();
    Ok(Reply::json(200, &json!({ "resources": list })))
}

pub fn extensions(_r: &Request) -> Result<Reply, Fault> {
    let list: Vec<Value> = EXTENSIONS.iter().map(extension_json).collect();
    Ok(Reply::json(200, &json!({ "extensions": list })))
}

pub fn extension_by_alias(alias: &str) -> Option<Value> {
    EXTENSIONS.iter().find(|e| e.0 == alias).map(extension_json)
}

pub fn extension(r: &Request) -> Result<Reply, Fault> {
    let alias = r.param("alias");
    Ok(match extension_by_alias(alias) {
        Some(e) => Reply::json(200, &json!({ "extension": e })),
        None => errors::typed(
            404,
            "ExtensionNotFound",
            format!("Extension with alias {alias} does not exist"),
        ),
    })
}
