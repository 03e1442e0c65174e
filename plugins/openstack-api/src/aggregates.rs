//! `os-aggregates`: host aggregates as Nova shows them at 2.1 (admin only).

use crate::bindings::metacloud::api::compute;
use crate::bindings::metacloud::api::types::Aggregate;
use crate::microversion::{since, Change};
use crate::{time, Fault, NovaRequest, Reply, Request};
use serde_json::{json, Map, Value};

fn view(r: &Request, a: &Aggregate) -> Value {
    let metadata: Map<String, Value> = a
        .metadata
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let mut v = json!({
        "id": a.id,
        "name": a.name,
        "availability_zone": a.availability_zone,
        "hosts": a.hosts,
        "metadata": metadata,
        "created_at": time::format_micro(a.created_at),
        "updated_at": if a.updated_at > a.created_at { json!(time::format_micro(a.updated_at)) } else { Value::Null },
        "deleted_at": null,
        "deleted": false,
    });
    if since(r, Change::AggregateUuid) {
        v["uuid"] = json!(a.uuid);
    }
    v
}

/// A name or zone: 1 to 255 characters, not only spaces.
fn name_field(m: &Map<String, Value>, key: &str, required: bool) -> Result<Option<String>, Fault> {
    match m.get(key) {
        None | Some(Value::Null) if !required => Ok(None),
        None => Err(Fault::bad_request(format!(
            "Invalid input for field/attribute aggregate. '{key}' is a required property"
        ))),
        Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= 255 => {
            Ok(Some(s.clone()))
        }
        Some(v) => Err(Fault::bad_request(format!(
            "Invalid input for field/attribute {key}. Value: {v}. It must be a string of 1 to 255 characters, not only spaces"
        ))),
    }
}

fn aggregate_body(r: &Request, keys: &[&str]) -> Result<Map<String, Value>, Fault> {
    let body = r.body_json()?;
    let agg = body
        .get("aggregate")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            Fault::bad_request(
                "Invalid input for field/attribute aggregate. 'aggregate' is a required property",
            )
        })?;
    if let Some(k) = agg.keys().find(|k| !keys.contains(&k.as_str())) {
        return Err(Fault::bad_request(format!("Invalid input for field/attribute aggregate. Additional properties are not allowed ('{k}' was unexpected)")));
    }
    Ok(agg.clone())
}

pub fn list(r: &Request) -> Result<Reply, Fault> {
    let all = compute::list_aggregates(r.caller()?)?;
    let items: Vec<Value> = all.iter().map(|a| view(r, a)).collect();
    Ok(Reply::json(200, &json!({"aggregates": items})))
}

pub fn show(r: &Request) -> Result<Reply, Fault> {
    let a = compute::get_aggregate(r.caller()?, r.param("aggregate_id"))?;
    Ok(Reply::json(200, &json!({"aggregate": view(r, &a)})))
}

pub fn create(r: &Request) -> Result<Reply, Fault> {
    let agg = aggregate_body(r, &["name", "availability_zone"])?;
    let name = name_field(&agg, "name", true)?.unwrap_or_default();
    let az = name_field(&agg, "availability_zone", false)?;
    let a = compute::create_aggregate(r.caller()?, &name, az.as_deref())?;
    // The create view has no hosts or metadata.
    let mut v = view(r, &a);
    if let Some(m) = v.as_object_mut() {
        m.remove("hosts");
        m.remove("metadata");
    }
    Ok(Reply::json(200, &json!({"aggregate": v})))
}

pub fn update(r: &Request) -> Result<Reply, Fault> {
    let agg = aggregate_body(r, &["name", "availability_zone"])?;
    if agg.is_empty() {
        return Err(Fault::bad_request(
            "Invalid input for field/attribute aggregate. {} does not have enough properties",
        ));
    }
    let name = name_field(&agg, "name", false)?;
    let az = name_field(&agg, "availability_zone", false)?;
    let a = compute::update_aggregate(
        r.caller()?,
        r.param("aggregate_id"),
        name.as_deref(),
        az.as_deref(),
    )?;
    Ok(Reply::json(200, &json!({"aggregate": view(r, &a)})))
}

pub fn delete(r: &Request) -> Result<Reply, Fault> {
    compute::delete_aggregate(r.caller()?, r.param("aggregate_id"))?;
    Ok(Reply::empty(200))
}

/// `add_host`, `remove_host`, `set_metadata`.
/// `POST /os-aggregates/{id}/images` (2.81): `{"cache": [{"id": image}, …]}`, at least
/// one, no image twice; every host of the aggregate fetches them into its cache. 202.
pub fn cache_images(r: &Request) -> Result<Reply, Fault> {
    let body = r.body_json()?;
    let bad =
        |why: String| Fault::bad_request(format!("Invalid input for field/attribute cache. {why}"));
    let top = body
        .as_object()
        .ok_or_else(|| bad(format!("Value: {body}. {body} is not of type 'object'")))?;
    if let Some(k) = top.keys().find(|k| *k != "cache") {
        return Err(Fault::bad_request(format!(
            "Additional properties are not allowed ('{k}' was unexpected)"
        )));
    }
    let list = match top.get("cache") {
        Some(Value::Array(l)) if !l.is_empty() => l,
        Some(Value::Array(_)) => return Err(bad("[] is too short".into())),
        Some(v) => return Err(bad(format!("Value: {v}. {v} is not of type 'array'"))),
        None => return Err(Fault::bad_request("'cache' is a required property")),
    };
    let mut ids: Vec<String> = Vec::new();
    for item in list {
        let id = match item.as_object() {
            Some(m) if m.len() == 1 => m.get("id").and_then(Value::as_str),
            _ => None,
        }
        .filter(|id| crate::ids::is_uuid(id))
        .ok_or_else(|| {
            bad(format!(
                "Value: {item}. Each entry is {{\"id\": <image uuid>}}"
            ))
        })?;
        ids.push(id.to_string());
    }
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    if unique.len() != ids.len() {
        return Err(Fault::bad_request("Duplicate images in request"));
    }
    compute::cache_aggregate_images(r.caller()?, r.param("aggregate_id"), &ids)?;
    Ok(Reply::empty(202))
}

pub fn action(r: &Request) -> Result<Reply, Fault> {
    let body = r.body_json()?;
    let obj = body
        .as_object()
        .filter(|o| o.len() == 1)
        .ok_or_else(|| Fault::bad_request("Malformed request body: one action expected"))?;
    let (action, args) = obj.iter().next().expect("one entry");
    let c = r.caller()?;
    let id = r.param("aggregate_id");
    let host = || -> Result<String, Fault> {
        args.get("host")
            .and_then(Value::as_str)
            .filter(|h| !h.is_empty() && h.len() <= 255)
            .map(String::from)
            .ok_or_else(|| {
                Fault::bad_request(format!(
                    "Invalid input for field/attribute {action}. 'host' is a required property"
                ))
            })
    };
    let a = match action.as_str() {
        "add_host" => compute::aggregate_add_host(c, id, &host()?)?,
        "remove_host" => compute::aggregate_remove_host(c, id, &host()?)?,
        "set_metadata" => {
            let m = args
                .get("metadata")
                .and_then(Value::as_object)
                .ok_or_else(|| {
                    Fault::bad_request(
                        "Invalid input for field/attribute set_metadata. 'metadata' is a required property",
                    )
                })?;
            let changes = m
                .iter()
                .map(|(k, v)| match v {
                    Value::Null => Ok((k.clone(), None)),
                    Value::String(s) if s.len() <= 255 => Ok((k.clone(), Some(s.clone()))),
                    Value::Number(n) => Ok((k.clone(), Some(n.to_string()))),
                    other => Err(Fault::bad_request(format!(
                        "Invalid input for field/attribute {k}. Value: {other}. {other} is not of type 'string', 'null'"
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()?;
            compute::set_aggregate_metadata(c, id, &changes)?
        }
        other => {
            return Err(Fault::bad_request(format!(
                "Invalid input for field/attribute aggregate action: {other} is not one of add_host, remove_host, set_metadata"
            )))
        }
    };
    Ok(Reply::json(200, &json!({"aggregate": view(r, &a)})))
}
