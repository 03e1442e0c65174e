//! What every resource reads from a request body and how views become objects: Neutron's
//! `{"<resource>": {…}}` envelope, optional string and integer attributes, each refused
//! with Neutron's 400 when malformed.

use crate::errors::malformed;
use crate::{Fault, Reply, Request};
use serde_json::{json, Map, Value};

/// A view built with `json!({…})` as the object it is.
pub fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The body's object under `key` (`security_group`, `floatingip`, …), or Neutron's 400.
pub fn envelope(r: &Request, key: &str) -> Result<Map<String, Value>, Fault> {
    let body: Value =
        serde_json::from_slice(&r.body).map_err(|_| malformed("Malformed request body"))?;
    match body.get(key) {
        Some(Value::Object(m)) => Ok(m.clone()),
        _ => Err(Fault::bad_request(format!(
            "Resource body required: {key} is missing or not an object."
        ))),
    }
}

/// An optional string attribute; anything else but null is a 400.
pub fn opt_string(m: &Map<String, Value>, key: &str) -> Result<Option<String>, Fault> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(Fault::bad_request(format!(
            "Invalid input for {key}. Reason: '{v}' is not a valid string."
        ))),
    }
}

/// An optional integer attribute (a number or a numeric string); anything else but null
/// is a 400.
pub fn opt_int(m: &Map<String, Value>, key: &str) -> Result<Option<i64>, Fault> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.as_i64().is_some() => Ok(n.as_i64()),
        Some(Value::String(s)) if s.parse::<i64>().is_ok() => Ok(s.parse().ok()),
        Some(v) => Err(Fault::bad_request(format!(
            "Invalid input for {key}. Reason: '{v}' is not an integer."
        ))),
    }
}

/// An optional boolean attribute (`true`/`false`, or their text as Neutron also takes);
/// anything else but null is a 400.
pub fn opt_bool(m: &Map<String, Value>, key: &str) -> Result<Option<bool>, Fault> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(v) => Err(Fault::bad_request(format!(
            "Invalid input for {key}. Reason: '{v}' is not a valid boolean value."
        ))),
    }
}

/// An optional list of strings; anything else but null is a 400.
pub fn opt_strings(m: &Map<String, Value>, key: &str) -> Result<Option<Vec<String>>, Fault> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(Fault::bad_request(format!(
                    "Invalid input for {key}. Reason: '{other}' is not a valid string."
                ))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(v) => Err(Fault::bad_request(format!(
            "Invalid input for {key}. Reason: '{v}' is not a list."
        ))),
    }
}

/// A create that also takes Neutron's bulk form (`{"<plural>": [{…}, …]}`): each item
/// through `create` in turn, all or nothing (`undo` deletes what was made before a
/// refusal, which is then the answer).
pub fn bulk(
    r: &Request,
    singular: &str,
    plural: &str,
    create: fn(&Request) -> Result<Reply, Fault>,
    undo: fn(&Request, &str) -> Result<(), Fault>,
) -> Result<Reply, Fault> {
    let body: Value =
        serde_json::from_slice(&r.body).map_err(|_| malformed("Malformed request body"))?;
    let Some(list) = body.get(plural).and_then(Value::as_array) else {
        return create(r);
    };
    let mut made: Vec<Map<String, Value>> = Vec::new();
    for item in list {
        let one = Request {
            body: serde_json::to_vec(&json!({ singular: item })).unwrap_or_default(),
            ..r.clone()
        };
        let reply = match create(&one) {
            Ok(x) if x.status == 201 => x,
            refused => {
                for m in &made {
                    if let Some(id) = m.get("id").and_then(Value::as_str) {
                        undo(r, id)?;
                    }
                }
                return refused;
            }
        };
        let v: Value = serde_json::from_slice(&reply.body).unwrap_or_default();
        if let Some(Value::Object(m)) = v.get(singular) {
            made.push(m.clone());
        }
    }
    Ok(Reply::json(201, &json!({ plural: made })))
}
