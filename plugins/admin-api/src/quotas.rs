//! Quotas: a project's limits and usage, changed or reset to the defaults; the defaults
//! every project starts with. -1 means unlimited.

use crate::bindings::metacloud::api::compute;
use crate::bindings::metacloud::api::types::QuotaUsage;
use crate::{Fault, Reply, Request};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

fn usage_view(usage: &[QuotaUsage]) -> Map<String, Value> {
    usage
        .iter()
        .map(|u| {
            (
                u.resource.clone(),
                json!({"limit": u.limit, "in_use": u.in_use}),
            )
        })
        .collect()
}

/// The body of a change: names of `known` resources to limits, each -1 or more; checked
/// whole before anything changes.
fn limits(r: &Request, known: &[QuotaUsage]) -> Result<BTreeMap<String, i64>, Fault> {
    let given: BTreeMap<String, i64> = r.json()?;
    if given.is_empty() {
        return Err(Fault::bad_request("No limits given."));
    }
    if let Some(k) = given
        .keys()
        .find(|k| !known.iter().any(|u| &u.resource == *k))
    {
        return Err(Fault::bad_request(format!("Unknown quota resource {k}.")));
    }
    if let Some((k, v)) = given.iter().find(|(_, v)| **v < -1) {
        return Err(Fault::bad_request(format!(
            "The limit of {k} must be -1 (unlimited) or more, not {v}."
        )));
    }
    Ok(given)
}

fn project_view(r: &Request, project: &str) -> Result<Reply, Fault> {
    let usage = compute::get_quotas(r.caller()?, project)?;
    Ok(Reply::json(
        200,
        &json!({"quota": {
            "project_id": project,
            "resources": usage_view(&usage),
        }}),
    ))
}

pub fn show(r: &Request) -> Result<Reply, Fault> {
    project_view(r, r.param("project_id"))
}

pub fn update(r: &Request) -> Result<Reply, Fault> {
    let project = r.param("project_id");
    let c = r.caller()?;
    let known = compute::get_quotas(c, project)?;
    for (resource, limit) in limits(r, &known)? {
        compute::set_quota(c, project, &resource, limit)?;
    }
    project_view(r, project)
}

pub fn reset(r: &Request) -> Result<Reply, Fault> {
    compute::delete_quotas(r.caller()?, r.param("project_id"))?;
    Ok(Reply::empty(204))
}

fn defaults_view(r: &Request) -> Result<Reply, Fault> {
    let defaults: Map<String, Value> = compute::default_quotas(r.caller()?)?
        .iter()
        .map(|u| (u.resource.clone(), json!(u.limit)))
        .collect();
    Ok(Reply::json(200, &json!({ "defaults": defaults })))
}

pub fn show_defaults(r: &Request) -> Result<Reply, Fault> {
    defaults_view(r)
}

pub fn update_defaults(r: &Request) -> Result<Reply, Fault> {
    let c = r.caller()?;
    let known = compute::default_quotas(c)?;
    for (resource, limit) in limits(r, &known)? {
        compute::set_default_quota(c, &resource, limit)?;
    }
    defaults_view(r)
}
