//! Server metadata: `/servers/{id}/metadata` and `/servers/{id}/metadata/{key}`.

use crate::bindings::metacloud::api::compute;
use crate::{Fault, NovaRequest, Reply, Request};
use serde_json::{json, Map, Value};

fn object(pairs: &[(String, String)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect::<Map<_, _>>(),
    )
}

/// `{"<wrapper>": {"k": "v", ...}}` as pairs, strings only.
fn pairs(r: &Request, wrapper: &str) -> Result<Vec<(String, String)>, Fault> {
    let body = r.body_json()?;
    let m = body
        .get(wrapper)
        .and_then(Value::as_object)
        .ok_or_else(|| {
            Fault::bad_request(format!(
                "Invalid input for field/attribute {wrapper}. '{wrapper}' is a required property"
            ))
        })?;
    m.iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), s.clone())),
            other => Err(Fault::bad_request(format!(
                "Invalid input for field/attribute {k}. Value: {other}. {other} is not of type 'string'"
            ))),
        })
        .collect()
}

pub fn list(r: &Request) -> Result<Reply, Fault> {
    let s = compute::get_server(r.caller()?, r.param("server_id"))?;
    Ok(Reply::json(200, &json!({"metadata": object(&s.metadata)})))
}

pub fn merge(r: &Request) -> Result<Reply, Fault> {
    let all = compute::set_server_metadata(
        r.caller()?,
        r.param("server_id"),
        &pairs(r, "metadata")?,
        false,
    )?;
    Ok(Reply::json(200, &json!({"metadata": object(&all)})))
}

pub fn replace(r: &Request) -> Result<Reply, Fault> {
    let all = compute::set_server_metadata(
        r.caller()?,
        r.param("server_id"),
        &pairs(r, "metadata")?,
        true,
    )?;
    Ok(Reply::json(200, &json!({"metadata": object(&all)})))
}

pub fn show(r: &Request) -> Result<Reply, Fault> {
    let s = compute::get_server(r.caller()?, r.param("server_id"))?;
    let key = r.param("key");
    match s.metadata.iter().find(|(k, _)| k == key) {
        Some((k, v)) => Ok(Reply::json(200, &json!({"meta": {k: v}}))),
        None => Err(Fault::not_found("Metadata item was not found")),
    }
}

pub fn set(r: &Request) -> Result<Reply, Fault> {
    let item = pairs(r, "meta")?;
    let key = r.param("key");
    match item.as_slice() {
        [(k, _)] if k == key => {}
        [_] => return Err(Fault::bad_request("Request body and URI mismatch")),
        _ => return Err(Fault::bad_request("Request body contains too many items")),
    }
    compute::set_server_metadata(r.caller()?, r.param("server_id"), &item, false)?;
    Ok(Reply::json(200, &json!({"meta": object(&item)})))
}

pub fn delete(r: &Request) -> Result<Reply, Fault> {
    compute::delete_server_metadata(r.caller()?, r.param("server_id"), r.param("key")).map_err(
        |e| match Fault::from(e) {
            f if f.status == 404 => Fault::not_found("Metadata item was not found"),
            f => f,
        },
    )?;
    Ok(Reply::empty(204))
}
