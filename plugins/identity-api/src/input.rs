//! Reading request bodies: JSON, typed fields, entities, names and the default domain,
//! each failure a 400 (or, for a foreign domain, a 401) worded as before.

use crate::bindings::metacloud::api::identity::Change;
use crate::{Fault, AUTH_REQUIRED, DEFAULT_DOMAIN};
use serde_json::Value;

const BAD_JSON: &str = "Invalid JSON in the request body";

/// Whether `content-type` says JSON (`application/json`, or `application/…+json`).
fn json_content_type(headers: &[(String, String)]) -> bool {
    let Some((_, value)) = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    let Some((kind, sub)) = essence.split_once('/') else {
        return false;
    };
    let sub = sub.to_ascii_lowercase();
    kind.eq_ignore_ascii_case("application") && (sub == "json" || sub.ends_with("+json"))
}

/// A JSON request body: it must say it is JSON and be JSON.
pub fn parse_json(headers: &[(String, String)], body: &[u8]) -> Result<Value, Fault> {
    if !json_content_type(headers) {
        return Err(Fault::bad_request(format!(
            "{BAD_JSON}: Expected request with `Content-Type: application/json`"
        )));
    }
    serde_json::from_slice(body).map_err(|e| {
        Fault::bad_request(format!(
            "{BAD_JSON}: Failed to parse the request body as JSON: {e}"
        ))
    })
}

/// A string field: absent and null are none; anything but a string is a 400.
pub fn str_field<'a>(v: &'a Value, key: &str) -> Result<Option<&'a str>, Fault> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Fault::bad_request(format!(
            "Invalid input for field '{key}': not a string"
        ))),
    }
}

/// A boolean field: absent and null are none; anything but a boolean is a 400.
pub fn bool_field(v: &Value, key: &str) -> Result<Option<bool>, Fault> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(Fault::bad_request(format!(
            "Invalid input for field '{key}': not a boolean"
        ))),
    }
}

/// A field an update may clear: absent is none (unchanged), null is `some(none)`
/// (cleared), a string is `some(some(s))`; anything else is a 400.
pub fn clearable_field(v: &Value, key: &str) -> Result<Option<Option<String>>, Fault> {
    match v.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) => Ok(Some(Some(s.clone()))),
        Some(_) => Err(Fault::bad_request(format!(
            "Invalid input for field '{key}': not a string"
        ))),
    }
}

/// An object under `key`, required.
pub fn entity<'a>(v: &'a Value, key: &str) -> Result<&'a Value, Fault> {
    v.get(key)
        .filter(|x| x.is_object())
        .ok_or_else(|| Fault::bad_request(format!("Expecting to find {key} in request body")))
}

/// A name of 1 to 255 characters, not all blank.
pub fn name_ok(name: &str) -> Result<(), Fault> {
    if name.trim().is_empty() || name.len() > 255 {
        return Err(Fault::bad_request(
            "Invalid input for field 'name': must be 1 to 255 characters",
        ));
    }
    Ok(())
}

/// The `name` a new entity must have, checked.
pub fn required_name(v: &Value) -> Result<&str, Fault> {
    let name =
        str_field(v, "name")?.ok_or_else(|| Fault::bad_request("'name' is a required property"))?;
    name_ok(name)?;
    Ok(name)
}

/// Whether a `domain` reference names the default domain (by id `default`, or by name
/// `Default` in any case).
pub fn is_our_domain(d: &Value) -> bool {
    match (
        d.get("id").and_then(Value::as_str),
        d.get("name").and_then(Value::as_str),
    ) {
        (Some(id), _) => id == DEFAULT_DOMAIN,
        (None, Some(name)) => name.eq_ignore_ascii_case("default"),
        (None, None) => false,
    }
}

/// A name qualified by a domain: accepted only in the default domain (else a 401, as
/// Keystone answers for names it cannot resolve).
pub fn in_our_domain(v: &Value) -> Result<(), Fault> {
    match v.get("domain") {
        Some(d) if is_our_domain(d) => Ok(()),
        _ => Err(Fault::unauthorized(AUTH_REQUIRED)),
    }
}

/// What a PATCH of a project or a user changes (without the password).
pub fn change_of(v: &Value) -> Result<Change, Fault> {
    let name = str_field(v, "name")?;
    if let Some(n) = name {
        name_ok(n)?;
    }
    Ok(Change {
        name: name.map(String::from),
        description: str_field(v, "description")?.map(String::from),
        enabled: bool_field(v, "enabled")?,
        email: None,
        default_project_id: None,
        password: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn json_headers() -> Vec<(String, String)> {
        vec![("content-type".into(), "application/json".into())]
    }

    #[test]
    fn bodies_must_be_json() {
        assert_eq!(
            parse_json(&json_headers(), b"{\"a\": 1}"),
            Ok(json!({"a": 1}))
        );
        let e = parse_json(&json_headers(), b"{").unwrap_err();
        assert_eq!(e.status, 400);
        assert!(
            e.message.starts_with(
                "Invalid JSON in the request body: Failed to parse the request body as JSON: "
            ),
            "{}",
            e.message
        );
        assert_eq!(parse_json(&json_headers(), b"").unwrap_err().status, 400);
        assert_eq!(
            parse_json(&json_headers(), b"{} x").unwrap_err().status,
            400
        );
        let e = parse_json(&[], b"{}").unwrap_err();
        assert_eq!(
            e.message,
            "Invalid JSON in the request body: Expected request with `Content-Type: application/json`"
        );
        let text = vec![("content-type".to_string(), "text/json".to_string())];
        assert_eq!(parse_json(&text, b"{}").unwrap_err().status, 400);
    }

    #[test]
    fn json_content_types_are_recognised() {
        for ok in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON;charset=utf-8",
            "application/vnd.openstack.identity-v3+json",
        ] {
            let h = vec![("Content-Type".to_string(), ok.to_string())];
            assert!(json_content_type(&h), "{ok}");
        }
        for bad in ["text/json", "application/xml", "json", ""] {
            let h = vec![("content-type".to_string(), bad.to_string())];
            assert!(!json_content_type(&h), "{bad}");
        }
    }

    #[test]
    fn typed_fields() {
        let v = json!({"s": "x", "n": 1, "b": true, "z": null});
        assert_eq!(str_field(&v, "s"), Ok(Some("x")));
        assert_eq!(str_field(&v, "z"), Ok(None));
        assert_eq!(str_field(&v, "missing"), Ok(None));
        assert_eq!(
            str_field(&v, "n").unwrap_err().message,
            "Invalid input for field 'n': not a string"
        );
        assert_eq!(bool_field(&v, "b"), Ok(Some(true)));
        assert_eq!(bool_field(&v, "z"), Ok(None));
        assert_eq!(
            bool_field(&v, "s").unwrap_err().message,
            "Invalid input for field 's': not a boolean"
        );
    }

    #[test]
    fn clearable_fields_tell_null_from_absent() {
        let v = json!({"email": null, "default_project_id": "p", "n": 3});
        assert_eq!(clearable_field(&v, "email"), Ok(Some(None)));
        assert_eq!(
            clearable_field(&v, "default_project_id"),
            Ok(Some(Some("p".into())))
        );
        assert_eq!(clearable_field(&v, "absent"), Ok(None));
        assert_eq!(clearable_field(&v, "n").unwrap_err().status, 400);
    }

    #[test]
    fn entities_are_objects() {
        let v = json!({"project": {"name": "p"}, "user": "u"});
        assert!(entity(&v, "project").is_ok());
        assert_eq!(
            entity(&v, "user").unwrap_err().message,
            "Expecting to find user in request body"
        );
        assert_eq!(entity(&v, "role").unwrap_err().status, 400);
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(required_name(&json!({"name": "ok"})), Ok("ok"));
        assert_eq!(
            required_name(&json!({})).unwrap_err().message,
            "'name' is a required property"
        );
        for bad in [json!({"name": "  "}), json!({"name": "x".repeat(256)})] {
            assert_eq!(
                required_name(&bad).unwrap_err().message,
                "Invalid input for field 'name': must be 1 to 255 characters"
            );
        }
        assert_eq!(required_name(&json!({"name": 5})).unwrap_err().status, 400);
    }

    #[test]
    fn the_default_domain_by_id_or_name() {
        assert!(is_our_domain(&json!({"id": "default"})));
        assert!(is_our_domain(&json!({"name": "DEFAULT"})));
        assert!(is_our_domain(&json!({"id": "default", "name": "other"})));
        assert!(!is_our_domain(&json!({"id": "Default"})));
        assert!(!is_our_domain(&json!({"id": "other", "name": "Default"})));
        assert!(!is_our_domain(&json!({})));
        assert_eq!(
            in_our_domain(&json!({"domain": {"name": "other"}}))
                .unwrap_err()
                .status,
            401
        );
        assert_eq!(in_our_domain(&json!({})).unwrap_err().status, 401);
    }

    #[test]
    fn changes_read_only_what_is_given() {
        let c = change_of(&json!({"description": "d", "enabled": false})).unwrap();
        assert_eq!(c.name, None);
        assert_eq!(c.description.as_deref(), Some("d"));
        assert_eq!(c.enabled, Some(false));
        assert!(c.email.is_none() && c.default_project_id.is_none() && c.password.is_none());
        assert_eq!(change_of(&json!({"name": ""})).unwrap_err().status, 400);
        assert_eq!(
            change_of(&json!({"enabled": "yes"})).unwrap_err().status,
            400
        );
    }
}
