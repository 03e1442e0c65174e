//! Server groups: `policies` is a list of one policy, no rules; `project_id` and
//! `user_id` from 2.13; the soft policies from 2.15; from 2.64 one `policy` with its
//! `rules` (`max_server_per_host` for anti-affinity).

use crate::bindings::metacloud::api::compute;
use crate::bindings::metacloud::api::types::ServerGroup;
use crate::microversion::{since, Change};
use crate::{Fault, NovaRequest, Reply, Request};
use serde_json::{json, Value};

fn view(r: &Request, g: &ServerGroup) -> Value {
    let mut v = if since(r, Change::GroupPolicyRules) {
        let rules = match g.max_server_per_host {
            Some(n) => json!({ "max_server_per_host": n }),
            None => json!({}),
        };
        json!({"id": g.id, "name": g.name, "policy": g.policy, "rules": rules,
               "members": g.members})
    } else {
        json!({"id": g.id, "name": g.name, "policies": [g.policy], "members": g.members,
               "metadata": {}})
    };
    if since(r, Change::ServerGroupOwner) {
        v["project_id"] = json!(g.project_id);
        v["user_id"] = json!(g.user_id);
    }
    v
}

pub fn create(r: &Request) -> Result<Reply, Fault> {
    let body = r.body_json()?;
    let g = body
        .get("server_group")
        .and_then(Value::as_object)
        .ok_or_else(|| Fault::bad_request("Invalid input for field/attribute server_group. 'server_group' is a required property"))?;
    let v264 = since(r, Change::GroupPolicyRules);
    let keys: &[&str] = if v264 {
        &["name", "policy", "rules"]
    } else {
        &["name", "policies"]
    };
    if let Some(k) = g.keys().find(|k| !keys.contains(&k.as_str())) {
        return Err(Fault::bad_request(format!("Invalid input for field/attribute server_group. Additional properties are not allowed ('{k}' was unexpected)")));
    }
    let name = g.get("name").and_then(Value::as_str).ok_or_else(|| {
        Fault::bad_request(
            "Invalid input for field/attribute server_group. 'name' is a required property",
        )
    })?;
    if v264 {
        return create_264(r, name, g);
    }
    let policies: Vec<&str> = g
        .get("policies")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            Fault::bad_request(
                "Invalid input for field/attribute server_group. 'policies' is a required property",
            )
        })?
        .iter()
        .map(|p| {
            p.as_str().ok_or_else(|| {
                Fault::bad_request("Invalid input for field/attribute policies: not a string")
            })
        })
        .collect::<Result<_, _>>()?;
    let [policy] = policies.as_slice() else {
        return Err(Fault::bad_request(format!("Invalid input for field/attribute policies. Value: {policies:?}. exactly one policy is required")));
    };
    let known: &[&str] = if since(r, Change::SoftAffinityPolicies) {
        &[
            "anti-affinity",
            "affinity",
            "soft-anti-affinity",
            "soft-affinity",
        ]
    } else {
        &["anti-affinity", "affinity"]
    };
    if !known.contains(policy) {
        return Err(Fault::bad_request(format!(
            "Invalid input for field/attribute 0. Value: {policy}. '{policy}' is not one of {known:?}"
        )));
    }
    let made = compute::create_server_group(r.caller()?, name, policy, None)?;
    Ok(Reply::json(200, &json!({"server_group": view(r, &made)})))
}

/// A 2.64 create: one `policy`, and `rules` with `max_server_per_host` (an integer of at
/// least 1) for anti-affinity only.
fn create_264(r: &Request, name: &str, g: &serde_json::Map<String, Value>) -> Result<Reply, Fault> {
    const POLICIES: [&str; 4] = [
        "anti-affinity",
        "affinity",
        "soft-anti-affinity",
        "soft-affinity",
    ];
    let policy =
        match g.get("policy") {
            Some(Value::String(p)) if POLICIES.contains(&p.as_str()) => p.as_str(),
            Some(v) => {
                return Err(Fault::bad_request(format!(
            "Invalid input for field/attribute policy. Value: {v}. {v} is not one of {POLICIES:?}"
        )))
            }
            None => return Err(Fault::bad_request(
                "Invalid input for field/attribute server_group. 'policy' is a required property",
            )),
        };
    let max = match g.get("rules") {
        None => None,
        Some(Value::Object(rules)) => {
            if let Some(k) = rules.keys().find(|k| k.as_str() != "max_server_per_host") {
                return Err(Fault::bad_request(format!("Invalid input for field/attribute rules. Additional properties are not allowed ('{k}' was unexpected)")));
            }
            match rules.get("max_server_per_host") {
                None => None,
                Some(v) => {
                    let n = v
                        .as_u64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                        .filter(|n| *n >= 1 && *n <= u32::MAX as u64)
                        .ok_or_else(|| {
                            Fault::bad_request(format!(
                                "Invalid input for field/attribute max_server_per_host. Value: {v}. It must be an integer of at least 1"
                            ))
                        })?;
                    if policy != "anti-affinity" {
                        return Err(Fault::bad_request(format!(
                            "Only anti-affinity policy supports the 'max_server_per_host' rule, not {policy}."
                        )));
                    }
                    Some(n as u32)
                }
            }
        }
        Some(v) => {
            return Err(Fault::bad_request(format!(
                "Invalid input for field/attribute rules. Value: {v}. {v} is not of type 'object'"
            )))
        }
    };
    let made = compute::create_server_group(r.caller()?, name, policy, max)?;
    Ok(Reply::json(200, &json!({"server_group": view(r, &made)})))
}

pub fn list(r: &Request) -> Result<Reply, Fault> {
    let all = r.is_admin()
        && r.query("all_projects")
            .is_some_and(|v| !matches!(v, "0" | "false" | "False"));
    let groups = compute::list_server_groups(r.caller()?, all)?;
    let mut items: Vec<Value> = groups.iter().map(|g| view(r, g)).collect();
    let offset = r
        .query("offset")
        .and_then(|o| o.parse::<usize>().ok())
        .unwrap_or(0);
    items.drain(..offset.min(items.len()));
    if let Some(limit) = r.query("limit").and_then(|l| l.parse::<usize>().ok()) {
        items.truncate(limit);
    }
    Ok(Reply::json(200, &json!({"server_groups": items})))
}

pub fn show(r: &Request) -> Result<Reply, Fault> {
    let g = compute::get_server_group(r.caller()?, r.param("group_id"))?;
    Ok(Reply::json(200, &json!({"server_group": view(r, &g)})))
}

pub fn delete(r: &Request) -> Result<Reply, Fault> {
    compute::delete_server_group(r.caller()?, r.param("group_id"))?;
    Ok(Reply::empty(204))
}
