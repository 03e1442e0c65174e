//! Setting image attributes from JSON: the body of a create, and the JSON patch
//! (`application/openstack-images-v2.1-json-patch`: `add`, `replace` and `remove` on
//! `/<key>`) of an update. Core attributes have their types; read-only ones are refused;
//! anything else is a string property.

use crate::bindings::metacloud::api::images::{ImageFields, StoredImage};
use crate::Fault;
use serde_json::{Map, Value};

/// Attributes the image service sets; a client may not.
pub const READ_ONLY: [&str; 14] = [
    "status",
    "checksum",
    "size",
    "virtual_size",
    "owner",
    "created_at",
    "updated_at",
    "file",
    "self",
    "schema",
    "os_hash_algo",
    "os_hash_value",
    "direct_url",
    "locations",
];

/// Settable attributes that are not properties (and so cannot be removed).
pub const CORE: [&str; 8] = [
    "id",
    "name",
    "visibility",
    "protected",
    "min_disk",
    "min_ram",
    "disk_format",
    "container_format",
];

/// What a create starts from: nothing set (the host picks the id and the visibility).
pub fn empty_fields() -> ImageFields {
    ImageFields {
        id: String::new(),
        name: String::new(),
        visibility: String::new(),
        protected: false,
        min_disk: 0,
        min_ram: 0,
        disk_format: None,
        container_format: None,
        tags: Vec::new(),
        properties: Vec::new(),
    }
}

/// The settable fields of an existing image, for an update to change.
pub fn fields_of(img: &StoredImage) -> ImageFields {
    ImageFields {
        id: img.id.clone(),
        name: img.name.clone(),
        visibility: img.visibility.clone(),
        protected: img.protected,
        min_disk: img.min_disk,
        min_ram: img.min_ram,
        disk_format: img.disk_format.clone(),
        container_format: img.container_format.clone(),
        tags: img.tags.clone(),
        properties: img.properties.clone(),
    }
}

/// A string attribute: a string, or `null` for none.
fn string(key: &str, v: &Value) -> Result<Option<String>, Fault> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        other => Err(Fault::bad_request(format!(
            "Invalid value {other} for '{key}': not a string"
        ))),
    }
}

fn int(key: &str, v: &Value) -> Result<i64, Fault> {
    v.as_i64()
        .ok_or_else(|| Fault::bad_request(format!("Invalid value {v} for '{key}': not an integer")))
}

fn tags(v: &Value) -> Result<Vec<String>, Fault> {
    v.as_array()
        .ok_or_else(|| Fault::bad_request("'tags' must be a list"))?
        .iter()
        .map(|t| {
            t.as_str()
                .map(String::from)
                .ok_or_else(|| Fault::bad_request("tags must be strings"))
        })
        .collect()
}

/// Sets or replaces a property; a new one goes in key order (as the store keeps them).
fn set_property(fields: &mut ImageFields, key: &str, value: String) {
    match fields.properties.iter_mut().find(|(k, _)| k == key) {
        Some(p) => p.1 = value,
        None => {
            fields.properties.push((key.to_string(), value));
            fields.properties.sort_by(|a, b| a.0.cmp(&b.0));
        }
    }
}

/// Sets one attribute from a JSON value (create and patch share it).
pub fn set_attr(fields: &mut ImageFields, key: &str, value: &Value) -> Result<(), Fault> {
    if READ_ONLY.contains(&key) {
        return Err(Fault::forbidden(format!("Attribute '{key}' is read-only.")));
    }
    match key {
        "id" => fields.id = string(key, value)?.unwrap_or_default(),
        "name" => fields.name = string(key, value)?.unwrap_or_default(),
        "visibility" => fields.visibility = string(key, value)?.unwrap_or_default(),
        "protected" => {
            fields.protected = value.as_bool().ok_or_else(|| {
                Fault::bad_request(format!(
                    "Invalid value {value} for 'protected': not a boolean"
                ))
            })?
        }
        "min_disk" => fields.min_disk = int(key, value)?,
        "min_ram" => fields.min_ram = int(key, value)?,
        "disk_format" => fields.disk_format = string(key, value)?,
        "container_format" => fields.container_format = string(key, value)?,
        "tags" => fields.tags = tags(value)?,
        _ => {
            let v = string(key, value)?
                .ok_or_else(|| Fault::bad_request(format!("Property '{key}' must be a string")))?;
            set_property(fields, key, v);
        }
    }
    Ok(())
}

/// The fields of a new image from a create's body: a JSON object of attributes.
pub fn create_fields(body: &[u8]) -> Result<ImageFields, Fault> {
    let v: Map<String, Value> = serde_json::from_slice(body)
        .map_err(|e| Fault::bad_request(format!("Malformed JSON in request body: {e}")))?;
    let mut fields = empty_fields();
    for (k, val) in &v {
        set_attr(&mut fields, k, val)?;
    }
    Ok(fields)
}

/// The operations of a JSON patch (checked one by one when applied).
pub fn parse_patch(body: &[u8]) -> Result<Vec<Value>, Fault> {
    serde_json::from_slice(body)
        .map_err(|e| Fault::bad_request(format!("Malformed JSON patch in request body: {e}")))
}

/// Removes a property; core and read-only attributes cannot be removed.
fn remove(fields: &mut ImageFields, key: &str) -> Result<(), Fault> {
    if CORE.contains(&key) || READ_ONLY.contains(&key) {
        return Err(Fault::forbidden(format!(
            "Attribute '{key}' is read-only or required."
        )));
    }
    let before = fields.properties.len();
    fields.properties.retain(|(k, _)| k != key);
    if fields.properties.len() == before {
        return Err(Fault::conflict(format!("Property {key} does not exist.")));
    }
    Ok(())
}

/// Applies one patch operation.
fn apply_op(fields: &mut ImageFields, op: &Value) -> Result<(), Fault> {
    let kind = op["op"].as_str().unwrap_or_default();
    let path = op["path"].as_str().unwrap_or_default();
    let key = path.trim_start_matches('/');
    if key.is_empty() || key.contains('/') {
        return Err(Fault::bad_request(format!(
            "Invalid JSON pointer for this resource: '{path}'"
        )));
    }
    match kind {
        "add" | "replace" => set_attr(fields, key, &op["value"]),
        "remove" => remove(fields, key),
        other => Err(Fault::bad_request(format!(
            "Operation '{other}' is not supported"
        ))),
    }
}

/// Applies a JSON patch, in order; the first failing operation fails it all.
pub fn apply_patch(fields: &mut ImageFields, ops: &[Value]) -> Result<(), Fault> {
    ops.iter().try_for_each(|op| apply_op(fields, op))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::views::tests::stored;
    use serde_json::json;

    fn patched(ops: Value) -> Result<ImageFields, Fault> {
        let mut fields = fields_of(&stored("img-1"));
        let ops = parse_patch(ops.to_string().as_bytes())?;
        apply_patch(&mut fields, &ops)?;
        Ok(fields)
    }

    fn status_of(ops: Value) -> u16 {
        patched(ops).unwrap_err().status
    }

    #[test]
    fn fields_of_copies_the_settable_fields() {
        let f = fields_of(&stored("img-1"));
        assert_eq!(f.id, "img-1");
        assert_eq!(f.name, "name-img-1");
        assert_eq!(f.visibility, "shared");
        assert_eq!((f.min_disk, f.min_ram, f.protected), (1, 512, false));
        assert_eq!(f.disk_format.as_deref(), Some("raw"));
        assert_eq!(f.container_format.as_deref(), Some("bare"));
        assert_eq!(f.tags, vec!["t1".to_string()]);
        assert_eq!(
            f.properties,
            vec![("hw_architecture".to_string(), "x86_64".to_string())]
        );
    }

    #[test]
    fn create_sets_core_attributes_and_properties() {
        let f = create_fields(
            json!({"name": "cirros", "visibility": "private", "disk_format": "qcow2",
                   "container_format": "bare", "min_disk": 2, "min_ram": 64, "protected": true,
                   "tags": ["a", "b"], "os_distro": "cirros", "hw_architecture": "x86_64",
                   "id": "c0ffee00-0000-4000-8000-000000000000"})
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(f.id, "c0ffee00-0000-4000-8000-000000000000");
        assert_eq!(f.name, "cirros");
        assert_eq!(f.visibility, "private");
        assert_eq!(f.disk_format.as_deref(), Some("qcow2"));
        assert_eq!(f.container_format.as_deref(), Some("bare"));
        assert_eq!((f.min_disk, f.min_ram, f.protected), (2, 64, true));
        assert_eq!(f.tags, vec!["a".to_string(), "b".to_string()]);
        assert_eq!(
            f.properties,
            vec![
                ("hw_architecture".to_string(), "x86_64".to_string()),
                ("os_distro".to_string(), "cirros".to_string())
            ]
        );
    }

    #[test]
    fn create_from_nothing_leaves_choices_to_the_host() {
        let f = create_fields(b"{}").unwrap();
        assert_eq!((f.id.as_str(), f.visibility.as_str()), ("", ""));
        assert_eq!((f.disk_format, f.container_format), (None, None));
        // `null` clears a string attribute.
        let f = create_fields(br#"{"name": null, "disk_format": null}"#).unwrap();
        assert_eq!((f.name.as_str(), f.disk_format), ("", None));
    }

    #[test]
    fn create_refuses_bad_bodies() {
        for (body, status) in [
            ("", 400),
            ("{", 400),
            ("[]", 400),
            ("\"name\"", 400),
            (r#"{"name": 5}"#, 400),
            (r#"{"min_disk": "big"}"#, 400),
            (r#"{"min_ram": 1.5}"#, 400),
            (r#"{"protected": "yes"}"#, 400),
            (r#"{"tags": "a"}"#, 400),
            (r#"{"tags": [1]}"#, 400),
            (r#"{"os_distro": null}"#, 400),
            (r#"{"os_distro": 7}"#, 400),
            (r#"{"status": "active"}"#, 403),
            (r#"{"owner": "p2"}"#, 403),
        ] {
            let e = create_fields(body.as_bytes()).unwrap_err();
            assert_eq!(e.status, status, "{body}: {}", e.message);
        }
        let e = create_fields(b"{").unwrap_err();
        assert!(
            e.message.starts_with("Malformed JSON in request body: "),
            "{}",
            e.message
        );
        let e = create_fields(br#"{"size": 1}"#).unwrap_err();
        assert_eq!(e.message, "Attribute 'size' is read-only.");
        let e = create_fields(br#"{"name": 5}"#).unwrap_err();
        assert_eq!(e.message, "Invalid value 5 for 'name': not a string");
        let e = create_fields(br#"{"min_disk": "big"}"#).unwrap_err();
        assert_eq!(
            e.message,
            "Invalid value \"big\" for 'min_disk': not an integer"
        );
        let e = create_fields(br#"{"protected": 1}"#).unwrap_err();
        assert_eq!(e.message, "Invalid value 1 for 'protected': not a boolean");
        let e = create_fields(br#"{"os_distro": null}"#).unwrap_err();
        assert_eq!(e.message, "Property 'os_distro' must be a string");
    }

    #[test]
    fn every_read_only_attribute_is_refused() {
        for key in READ_ONLY {
            let mut f = empty_fields();
            let e = set_attr(&mut f, key, &json!("x")).unwrap_err();
            assert_eq!(
                e,
                Fault::forbidden(format!("Attribute '{key}' is read-only."))
            );
        }
    }

    #[test]
    fn patch_adds_replaces_and_removes() {
        let f = patched(json!([
            {"op": "replace", "path": "/name", "value": "renamed"},
            {"op": "add", "path": "/protected", "value": true},
            {"op": "add", "path": "/os_distro", "value": "ubuntu"},
            {"op": "replace", "path": "/os_distro", "value": "debian"},
            {"op": "add", "path": "/a_first", "value": "1"},
            {"op": "remove", "path": "/hw_architecture"},
            {"op": "replace", "path": "/tags", "value": ["x", "y"]},
            {"op": "replace", "path": "/min_ram", "value": 1024},
            {"op": "replace", "path": "/disk_format", "value": null},
        ]))
        .unwrap();
        assert_eq!(f.name, "renamed");
        assert!(f.protected);
        assert_eq!(
            f.properties,
            vec![
                ("a_first".to_string(), "1".to_string()),
                ("os_distro".to_string(), "debian".to_string())
            ]
        );
        assert_eq!(f.tags, vec!["x".to_string(), "y".to_string()]);
        assert_eq!(f.min_ram, 1024);
        assert_eq!(f.disk_format, None);
        // An empty patch changes nothing.
        let f = patched(json!([])).unwrap();
        assert_eq!(f.name, "name-img-1");
    }

    #[test]
    fn patch_errors() {
        // Not a JSON list of operations.
        for body in ["", "{", r#"{"op": "add"}"#, "5"] {
            let e = parse_patch(body.as_bytes()).unwrap_err();
            assert_eq!(e.status, 400, "{body}");
            assert!(e
                .message
                .starts_with("Malformed JSON patch in request body: "));
        }
        // Bad pointers.
        for path in [json!(""), json!("/"), json!("/a/b"), json!(5), Value::Null] {
            let e = patched(json!([{"op": "add", "path": path, "value": "v"}])).unwrap_err();
            assert_eq!(e.status, 400, "{path}");
            assert!(e
                .message
                .starts_with("Invalid JSON pointer for this resource: '"));
        }
        let e = patched(json!([{"op": "add", "path": "/a/b", "value": "v"}])).unwrap_err();
        assert_eq!(e.message, "Invalid JSON pointer for this resource: '/a/b'");
        // Unsupported or missing operations; operations that are not objects.
        let e = patched(json!([{"op": "move", "path": "/name", "from": "/x"}])).unwrap_err();
        assert_eq!(e, Fault::bad_request("Operation 'move' is not supported"));
        assert_eq!(
            status_of(json!([{"op": "test", "path": "/name", "value": "x"}])),
            400
        );
        assert_eq!(status_of(json!([{"path": "/name", "value": "x"}])), 400);
        assert_eq!(status_of(json!(["add"])), 400);
        assert_eq!(status_of(json!([[1, 2]])), 400);
        // Read-only attributes, by add or replace.
        let e =
            patched(json!([{"op": "replace", "path": "/status", "value": "active"}])).unwrap_err();
        assert_eq!(e, Fault::forbidden("Attribute 'status' is read-only."));
        assert_eq!(
            status_of(json!([{"op": "add", "path": "/owner", "value": "p2"}])),
            403
        );
        // Type errors.
        assert_eq!(
            status_of(json!([{"op": "replace", "path": "/protected", "value": "no"}])),
            400
        );
        assert_eq!(
            status_of(json!([{"op": "replace", "path": "/min_disk", "value": "1"}])),
            400
        );
        assert_eq!(
            status_of(json!([{"op": "replace", "path": "/name", "value": 1}])),
            400
        );
        assert_eq!(
            status_of(json!([{"op": "replace", "path": "/tags", "value": [true]}])),
            400
        );
        assert_eq!(status_of(json!([{"op": "add", "path": "/os_distro"}])), 400);
        assert_eq!(
            status_of(json!([{"op": "add", "path": "/os_distro", "value": {}}])),
            400
        );
        // Removing a core or read-only attribute, or a property that is not there.
        for key in ["name", "id", "visibility", "min_ram", "status", "checksum"] {
            let e = patched(json!([{"op": "remove", "path": format!("/{key}")}])).unwrap_err();
            assert_eq!(
                e,
                Fault::forbidden(format!("Attribute '{key}' is read-only or required."))
            );
        }
        let e = patched(json!([{"op": "remove", "path": "/os_distro"}])).unwrap_err();
        assert_eq!(e, Fault::conflict("Property os_distro does not exist."));
        // A later failure fails the whole patch (nothing is sent to the host then).
        let e = patched(json!([
            {"op": "replace", "path": "/name", "value": "ok"},
            {"op": "remove", "path": "/hw_architecture"},
            {"op": "remove", "path": "/hw_architecture"},
        ]))
        .unwrap_err();
        assert_eq!(e.status, 409);
    }

    #[test]
    fn leading_slashes_are_all_trimmed_as_before() {
        let f = patched(json!([{"op": "replace", "path": "//name", "value": "n"}])).unwrap();
        assert_eq!(f.name, "n");
    }

    #[test]
    fn a_property_set_twice_is_replaced_not_duplicated() {
        let mut f = empty_fields();
        f.properties = vec![
            ("b".to_string(), "1".to_string()),
            ("a".to_string(), "2".to_string()),
        ];
        set_attr(&mut f, "b", &json!("3")).unwrap();
        set_attr(&mut f, "c", &json!("4")).unwrap();
        assert_eq!(
            f.properties,
            vec![
                ("a".to_string(), "2".to_string()),
                ("b".to_string(), "3".to_string()),
                ("c".to_string(), "4".to_string())
            ]
        );
    }
}
