//! Security groups and their rules, as Neutron shows and takes them (IPv4 only: the
//! networks here have no IPv6).

use crate::bindings::metacloud::api::compute;
use crate::bindings::metacloud::api::types::{
    OpError, SecurityGroup, SecurityGroupRule, SecurityGroupRuleCreate,
};
use crate::body::{envelope, object, opt_int, opt_string};
use crate::errors::{self, from_op};
use crate::query::{listing, single};
use crate::{is_admin, Fault, Reply, Request};
use serde_json::{json, Map, Value};

/// A rule as Neutron shows it (ICMP type and code in the port range, as Neutron keeps them).
pub fn rule_view(r: &SecurityGroupRule, project: &str) -> Map<String, Value> {
    let icmp = r.protocol.as_deref() == Some("icmp");
    let (min, max) = if icmp {
        (r.icmp_type, r.icmp_code)
    } else {
        (r.port_min, r.port_max)
    };
    object(json!({
        "id": r.id, "security_group_id": r.group_id, "direction": r.direction,
        "ethertype": "IPv4", "protocol": r.protocol,
        "port_range_min": min.filter(|v| *v >= 0), "port_range_max": max.filter(|v| *v >= 0),
        "remote_ip_prefix": r.remote_cidr, "remote_group_id": r.remote_group_id,
        "remote_address_group_id": null, "normalized_cidr": r.remote_cidr,
        "description": "", "tenant_id": project, "project_id": project,
        "revision_number": 0, "tags": [],
    }))
}

/// A group as Neutron shows it, with its rules.
pub fn group_view(g: &SecurityGroup) -> Map<String, Value> {
    let rules: Vec<Value> = g
        .rules
        .iter()
        .map(|r| Value::Object(rule_view(r, &g.project_id)))
        .collect();
    object(json!({
        "id": g.id, "name": g.name, "description": g.description,
        "tenant_id": g.project_id, "project_id": g.project_id,
        "security_group_rules": rules, "stateful": true, "shared": false,
        "revision_number": 0, "tags": [],
    }))
}

fn groups(r: &Request) -> Result<Vec<SecurityGroup>, Fault> {
    compute::list_security_groups(r.caller()?, is_admin(r)).map_err(from_op)
}

fn group_not_found(id: &str) -> Reply {
    errors::typed(
        404,
        "SecurityGroupNotFound",
        format!("Security group {id} does not exist"),
    )
}

pub fn list(r: &Request) -> Result<Reply, Fault> {
    let items = groups(r)?.iter().map(group_view).collect();
    listing(r, "security_groups", items)
}

pub fn show(r: &Request) -> Result<Reply, Fault> {
    let id = r.param("id");
    match compute::get_security_group(r.caller()?, id) {
        Ok(g) => Ok(single(r, "security_group", group_view(&g))),
        Err(OpError::NotFound(_)) => Ok(group_not_found(id)),
        Err(e) => Err(from_op(e)),
    }
}

pub fn create(r: &Request) -> Result<Reply, Fault> {
    let m = envelope(r, "security_group")?;
    let name = opt_string(&m, "name")?.unwrap_or_default();
    let description = opt_string(&m, "description")?.unwrap_or_default();
    if name == "default" {
        return Ok(errors::typed(
            409,
            "SecurityGroupDefaultAlreadyExists",
            "Default security group already exists.",
        ));
    }
    let g = compute::create_security_group(r.caller()?, &name, &description).map_err(from_op)?;
    Ok(Reply::json(
        201,
        &json!({"security_group": Value::Object(group_view(&g))}),
    ))
}

pub fn update(r: &Request) -> Result<Reply, Fault> {
    let id = r.param("id");
    let m = envelope(r, "security_group")?;
    let c = r.caller()?;
    let current = match compute::get_security_group(c, id) {
        Ok(g) => g,
        Err(OpError::NotFound(_)) => return Ok(group_not_found(id)),
        Err(e) => return Err(from_op(e)),
    };
    let name = opt_string(&m, "name")?.unwrap_or(current.name.clone());
    if name == "default" && current.name != "default" {
        return Ok(errors::typed(
            409,
            "SecurityGroupNameReserved",
            "Security group name 'default' is reserved.",
        ));
    }
    let description = opt_string(&m, "description")?.unwrap_or(current.description);
    let g = compute::update_security_group(c, id, &name, &description).map_err(from_op)?;
    Ok(single(r, "security_group", group_view(&g)))
}

pub fn delete(r: &Request) -> Result<Reply, Fault> {
    let id = r.param("id");
    let c = r.caller()?;
    let g = match compute::get_security_group(c, id) {
        Ok(g) => g,
        Err(OpError::NotFound(_)) => return Ok(group_not_found(id)),
        Err(e) => return Err(from_op(e)),
    };
    if g.name == "default" && !is_admin(r) {
        return Ok(errors::typed(
            409,
            "SecurityGroupCannotRemoveDefault",
            "Insufficient rights for removing default security group.",
        ));
    }
    match compute::delete_security_group(c, id) {
        Ok(()) => Ok(Reply::empty(204)),
        // A group instances are in: Neutron's 409.
        Err(OpError::BadRequest(m)) | Err(OpError::Conflict(m)) => Ok(errors::typed(
            409,
            "SecurityGroupInUse",
            format!("Security Group {id} in use. ({m})"),
        )),
        Err(e) => Err(from_op(e)),
    }
}

/// Every rule of the groups the caller sees.
fn rules(r: &Request) -> Result<Vec<Map<String, Value>>, Fault> {
    Ok(groups(r)?
        .iter()
        .flat_map(|g| g.rules.iter().map(|rule| rule_view(rule, &g.project_id)))
        .collect())
}

pub fn list_rules(r: &Request) -> Result<Reply, Fault> {
    listing(r, "security_group_rules", rules(r)?)
}

fn rule_not_found(id: &str) -> Reply {
    errors::typed(
        404,
        "SecurityGroupRuleNotFound",
        format!("Security group rule {id} does not exist"),
    )
}

pub fn show_rule(r: &Request) -> Result<Reply, Fault> {
    let id = r.param("id");
    Ok(
        match rules(r)?
            .into_iter()
            .find(|m| m.get("id") == Some(&json!(id)))
        {
            Some(m) => single(r, "security_group_rule", m),
            None => rule_not_found(id),
        },
    )
}

/// A new rule's body in the host's terms, with its direction.
fn rule_create(m: &Map<String, Value>) -> Result<(String, SecurityGroupRuleCreate), Fault> {
    let group = opt_string(m, "security_group_id")?.ok_or_else(|| {
        Fault::bad_request(
            "Failed to parse request. Required attribute 'security_group_id' not specified",
        )
    })?;
    let direction = opt_string(m, "direction")?.ok_or_else(|| {
        Fault::bad_request("Failed to parse request. Required attribute 'direction' not specified")
    })?;
    if direction != "ingress" && direction != "egress" {
        return Err(Fault::bad_request(format!(
            "Invalid input for direction. Reason: {direction} is not in valid_values."
        )));
    }
    match opt_string(m, "ethertype")?.as_deref() {
        None | Some("IPv4") => {}
        Some(other) => {
            return Err(Fault::bad_request(format!(
                "Invalid input for ethertype. Reason: {other} is not served here (IPv4 only)."
            )))
        }
    }
    // A protocol is a name or its IANA number, as a string or a JSON number.
    let protocol = match m.get("protocol") {
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => opt_string(m, "protocol")?,
    };
    let protocol = match protocol.as_deref() {
        None | Some("any") => None,
        Some("1") => Some("icmp".to_string()),
        Some("6") => Some("tcp".to_string()),
        Some("17") => Some("udp".to_string()),
        Some(p) => Some(p.to_ascii_lowercase()),
    };
    let (min, max) = (opt_int(m, "port_range_min")?, opt_int(m, "port_range_max")?);
    let icmp = protocol.as_deref() == Some("icmp");
    if icmp {
        if min.is_none() && max.is_some() {
            return Err(Fault::bad_request(
                "ICMP type (port-range-min) is missing; an ICMP code needs its type.",
            ));
        }
        if let Some(t) = min.filter(|t| !(0..=255).contains(t)) {
            return Err(Fault::bad_request(format!(
                "Invalid value for ICMP type (port-range-min): {t}."
            )));
        }
        if let Some(c) = max.filter(|c| !(0..=255).contains(c)) {
            return Err(Fault::bad_request(format!(
                "Invalid value for ICMP code (port-range-max): {c}."
            )));
        }
    }
    if matches!(protocol.as_deref(), Some("tcp" | "udp")) {
        if let Some(bad) = [min, max]
            .into_iter()
            .flatten()
            .find(|p| !(0..=65535).contains(p))
        {
            return Err(Fault::bad_request(format!("Invalid value for port {bad}.")));
        }
    }
    let (from, to) = match (protocol.as_deref(), min, max) {
        (Some("tcp" | "udp"), None, None) => (Some(1), Some(65535)),
        (Some("tcp" | "udp"), Some(a), None) => (Some(a), Some(a)),
        (Some("tcp" | "udp"), None, Some(_)) => {
            return Err(Fault::bad_request(
                "For TCP/UDP protocols, port_range_min must be <= port_range_max",
            ))
        }
        (_, a, b) if icmp => (Some(a.unwrap_or(-1)), Some(b.unwrap_or(-1))),
        (_, a, b) => (a, b),
    };
    if let (Some("tcp" | "udp"), Some(a), Some(b)) = (protocol.as_deref(), from, to) {
        if a > b {
            return Err(Fault::bad_request(
                "For TCP/UDP protocols, port_range_min must be <= port_range_max",
            ));
        }
    }
    let cidr = opt_string(m, "remote_ip_prefix")?;
    let remote_group = opt_string(m, "remote_group_id")?;
    if cidr.is_some() && remote_group.is_some() {
        return Err(Fault::bad_request(
            "Only remote_ip_prefix or remote_group_id may be provided.",
        ));
    }
    Ok((
        direction,
        SecurityGroupRuleCreate {
            parent_group_id: group,
            protocol,
            from_port: from,
            to_port: to,
            cidr,
            group_id: remote_group,
        },
    ))
}

pub fn create_rule(r: &Request) -> Result<Reply, Fault> {
    let m = envelope(r, "security_group_rule")?;
    let (direction, new) = rule_create(&m)?;
    let c = r.caller()?;
    let group = match compute::get_security_group(c, &new.parent_group_id) {
        Ok(g) => g,
        Err(OpError::NotFound(_)) => return Ok(group_not_found(&new.parent_group_id)),
        Err(e) => return Err(from_op(e)),
    };
    match compute::create_security_group_rule_directed(c, &direction, &new) {
        Ok(rule) => Ok(Reply::json(
            201,
            &json!({"security_group_rule": Value::Object(rule_view(&rule, &group.project_id))}),
        )),
        Err(OpError::BadRequest(m)) if m.contains("already exists") => Ok(errors::typed(
            409,
            "SecurityGroupRuleExists",
            format!("Security group rule already exists. {m}"),
        )),
        Err(e) => Err(from_op(e)),
    }
}

pub fn delete_rule(r: &Request) -> Result<Reply, Fault> {
    let id = r.param("id");
    if !rules(r)?.iter().any(|m| m.get("id") == Some(&json!(id))) {
        return Ok(rule_not_found(id));
    }
    compute::delete_security_group_rule(r.caller()?, id).map_err(from_op)?;
    Ok(Reply::empty(204))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn rules_in_the_hosts_terms() {
        let (dir, c) = rule_create(&body(json!({"security_group_id": "g",
            "direction": "ingress", "protocol": "tcp", "port_range_min": 80,
            "port_range_max": 80, "remote_ip_prefix": "0.0.0.0/0"})))
        .unwrap();
        assert_eq!(dir, "ingress");
        assert_eq!((c.from_port, c.to_port), (Some(80), Some(80)));
        assert_eq!(c.cidr.as_deref(), Some("0.0.0.0/0"));
        let (_, c) = rule_create(&body(json!({"security_group_id": "g",
            "direction": "egress", "protocol": "6"})))
        .unwrap();
        assert_eq!(
            (c.protocol.as_deref(), c.from_port, c.to_port),
            (Some("tcp"), Some(1), Some(65535))
        );
        let (_, c) = rule_create(&body(json!({"security_group_id": "g",
            "direction": "ingress", "protocol": "icmp"})))
        .unwrap();
        assert_eq!((c.from_port, c.to_port), (Some(-1), Some(-1)));
        let (_, c) = rule_create(&body(json!({"security_group_id": "g",
            "direction": "ingress"})))
        .unwrap();
        assert_eq!((c.protocol, c.from_port), (None, None));
        for bad in [
            json!({"direction": "ingress"}),
            json!({"security_group_id": "g"}),
            json!({"security_group_id": "g", "direction": "sideways"}),
            json!({"security_group_id": "g", "direction": "ingress", "ethertype": "IPv6"}),
            json!({"security_group_id": "g", "direction": "ingress", "protocol": "tcp",
                "port_range_min": 90, "port_range_max": 80}),
            json!({"security_group_id": "g", "direction": "ingress",
                "remote_ip_prefix": "10.0.0.0/8", "remote_group_id": "h"}),
            json!({"security_group_id": "g", "direction": "ingress", "port_range_min": "x"}),
        ] {
            assert_eq!(
                rule_create(&body(bad.clone())).unwrap_err().status,
                400,
                "{bad}"
            );
        }
    }
}
