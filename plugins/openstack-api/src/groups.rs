//! Server groups: `policies` is a list of one policy, no rules; `project_id` and
//! `user_id` from 2.13; the soft policies from 2.15.

use crate::bindings::metacloud::api::compute;
use crate::bindings::metacloud::api::types::ServerGroup;
use crate::microversion::{since, Change};
use crate::{Fault, NovaRequest, Reply, Request};
use serde_json::{json, Value};

fn view(r: &Request, g: &ServerGroup) -> Value {
    let mut v = json!({"id": g.id, "name": g.name, "policies": [g.policy], "members": g.members,
           "metadata": {}});
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
    if let Some(k) = g
        .keys()
        .find(|k| !["name", "policies"].contains(&k.as_str()))
    {
        return Err(Fault::bad_request(format!("Invalid input for field/attribute server_group. Additional properties are not allowed ('{k}' was unexpected)")));
    }
    let name = g.get("name").and_then(Value::as_str).ok_or_else(|| {
        Fault::bad_request(
            "Invalid input for field/attribute server_group. 'name' is a required property",
        )
    })?;
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
