//! Host aggregates: groups of compute hosts with metadata; an `availability_zone` makes
//! one a zone.

use crate::bindings::metacloud::api::compute;
use crate::bindings::metacloud::api::types::Aggregate;
use crate::{rfc3339, Fault, Reply, Request};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

fn view(a: &Aggregate) -> Value {
    let metadata: Map<String, Value> = a
        .metadata
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    json!({
        "id": a.id,
        "uuid": a.uuid,
        "name": a.name,
        "availability_zone": a.availability_zone,
        "hosts": a.hosts,
        "metadata": metadata,
        "created_at": rfc3339(a.created_at),
        "updated_at": rfc3339(a.updated_at),
    })
}

fn reply(status: u16, a: &Aggregate) -> Reply {
    Reply::json(status, &json!({ "aggregate": view(a) }))
}

fn checked_name(field: &str, v: Option<&String>) -> Result<(), Fault> {
    match v {
        Some(s) if s.trim().is_empty() || s.len() > 255 => Err(Fault::bad_request(format!(
            "{field} must be 1 to 255 characters."
        ))),
        _ => Ok(()),
    }
}

pub fn list(r: &Request) -> Result<Reply, Fault> {
    let items: Vec<Value> = compute::list_aggregates(r.caller()?)?
        .iter()
        .map(view)
        .collect();
    Ok(Reply::json(200, &json!({ "aggregates": items })))
}

pub fn show(r: &Request) -> Result<Reply, Fault> {
    let a = compute::get_aggregate(r.caller()?, r.param("aggregate_id"))?;
    Ok(reply(200, &a))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAggregate {
    name: String,
    availability_zone: Option<String>,
}

pub fn create(r: &Request) -> Result<Reply, Fault> {
    let body: NewAggregate = r.json()?;
    checked_name("name", Some(&body.name))?;
    checked_name("availability_zone", body.availability_zone.as_ref())?;
    let a = compute::create_aggregate(r.caller()?, &body.name, body.availability_zone.as_deref())?;
    Ok(reply(201, &a))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AggregatePatch {
    name: Option<String>,
    availability_zone: Option<String>,
}

pub fn update(r: &Request) -> Result<Reply, Fault> {
    let body: AggregatePatch = r.json()?;
    if body.name.is_none() && body.availability_zone.is_none() {
        return Err(Fault::bad_request(
            "Nothing to change: give name or availability_zone.",
        ));
    }
    checked_name("name", body.name.as_ref())?;
    checked_name("availability_zone", body.availability_zone.as_ref())?;
    let a = compute::update_aggregate(
        r.caller()?,
        r.param("aggregate_id"),
        body.name.as_deref(),
        body.availability_zone.as_deref(),
    )?;
    Ok(reply(200, &a))
}

pub fn delete(r: &Request) -> Result<Reply, Fault> {
    compute::delete_aggregate(r.caller()?, r.param("aggregate_id"))?;
    Ok(Reply::empty(204))
}

pub fn add_host(r: &Request) -> Result<Reply, Fault> {
    let a = compute::aggregate_add_host(r.caller()?, r.param("aggregate_id"), r.param("host"))?;
    Ok(reply(200, &a))
}

pub fn remove_host(r: &Request) -> Result<Reply, Fault> {
    let a = compute::aggregate_remove_host(r.caller()?, r.param("aggregate_id"), r.param("host"))?;
    Ok(reply(200, &a))
}

/// Sets the given keys; a `null` value removes a key.
pub fn set_metadata(r: &Request) -> Result<Reply, Fault> {
    let given: BTreeMap<String, Option<String>> = r.json()?;
    if given.is_empty() {
        return Err(Fault::bad_request("No metadata given."));
    }
    let pairs: Vec<(String, Option<String>)> = given.into_iter().collect();
    let a = compute::set_aggregate_metadata(r.caller()?, r.param("aggregate_id"), &pairs)?;
    Ok(reply(200, &a))
}
