//! Glance's JSON shapes: images, members, the versions document and the schemas.

use crate::bindings::metacloud::api::images::{Member, StoredImage};
use crate::{Fault, Reply, Request};
use serde_json::{json, Value};

/// Milliseconds since the epoch as Glance prints times (`2026-12-01T13:15:57Z`).
pub fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// An image as Glance v2 shows it: the core attributes, then its properties at the top
/// level.
pub fn image_json(img: &StoredImage) -> Value {
    let mut v = json!({
        "id": img.id,
        "name": img.name,
        "status": img.status,
        "visibility": img.visibility,
        "protected": img.protected,
        "os_hidden": false,
        "owner": img.owner,
        "checksum": img.checksum,
        "os_hash_algo": img.os_hash_value.as_ref().map(|_| "sha512"),
        "os_hash_value": img.os_hash_value,
        "size": img.size,
        "virtual_size": null,
        "min_disk": img.min_disk,
        "min_ram": img.min_ram,
        "disk_format": img.disk_format,
        "container_format": img.container_format,
        "tags": img.tags,
        "created_at": iso(img.created_at),
        "updated_at": iso(img.updated_at),
        "self": format!("/v2/images/{}", img.id),
        "file": format!("/v2/images/{}/file", img.id),
        "schema": "/v2/schemas/image",
    });
    for (k, val) in &img.properties {
        v[k] = json!(val);
    }
    v
}

/// A project an image is shared with.
pub fn member_json(m: &Member) -> Value {
    json!({"image_id": m.image_id, "member_id": m.member_id, "status": m.status,
           "created_at": iso(m.created_at), "updated_at": iso(m.updated_at),
           "schema": "/v2/schemas/member"})
}

/// The API versions, linked at the host the client asked (`localhost` without one).
pub fn version_doc(host: Option<&str>) -> Value {
    let host = host.unwrap_or("localhost");
    let entry = |id: &str, status: &str| {
        json!({"id": id, "status": status,
               "links": [{"rel": "self", "href": format!("http://{host}/v2/")}]})
    };
    json!({"versions": [entry("v2.9", "CURRENT"), entry("v2.8", "SUPPORTED"),
        entry("v2.7", "SUPPORTED"), entry("v2.6", "SUPPORTED"), entry("v2.5", "SUPPORTED"),
        entry("v2.4", "SUPPORTED"), entry("v2.3", "SUPPORTED"), entry("v2.2", "SUPPORTED"),
        entry("v2.1", "SUPPORTED"), entry("v2.0", "SUPPORTED")]})
}

/// `GET /`: the versions, as a 300 Multiple Choices.
pub fn versions(r: &Request) -> Result<Reply, Fault> {
    Ok(Reply::json(300, &version_doc(r.header("host"))))
}

/// `GET /versions`, `/v2`, `/v2/`: the versions, as a 200.
pub fn versions_ok(r: &Request) -> Result<Reply, Fault> {
    Ok(Reply::json(200, &version_doc(r.header("host"))))
}

pub fn schema_image(_: &Request) -> Result<Reply, Fault> {
    Ok(Reply::json(
        200,
        &json!({"name": "image", "properties": {}, "additionalProperties": {"type": "string"}}),
    ))
}

pub fn schema_images(_: &Request) -> Result<Reply, Fault> {
    Ok(Reply::json(
        200,
        &json!({"name": "images", "properties": {"images": {"type": "array"}}}),
    ))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::tests::request;

    /// A stored image with everything set, for the tests of every module.
    pub fn stored(id: &str) -> StoredImage {
        StoredImage {
            id: id.into(),
            name: format!("name-{id}"),
            owner: Some("p1".into()),
            visibility: "shared".into(),
            status: "queued".into(),
            disk_format: Some("raw".into()),
            container_format: Some("bare".into()),
            size: None,
            checksum: None,
            os_hash_value: None,
            min_disk: 1,
            min_ram: 512,
            protected: false,
            tags: vec!["t1".into()],
            properties: vec![("hw_architecture".into(), "x86_64".into())],
            created_at: 1_764_594_957_123,
            updated_at: 1_764_594_958_999,
        }
    }

    #[test]
    fn times_are_whole_seconds_utc() {
        assert_eq!(iso(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso(1_764_594_957_123), "2025-12-01T13:15:57Z");
        assert_eq!(iso(-1_000), "1969-12-31T23:59:59Z");
        // Out of chrono's range: the epoch, as the old host printed it.
        assert_eq!(iso(i64::MAX), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn image_json_is_glance_shaped() {
        let v = image_json(&stored("img-1"));
        assert_eq!(
            v,
            json!({
                "id": "img-1",
                "name": "name-img-1",
                "status": "queued",
                "visibility": "shared",
                "protected": false,
                "os_hidden": false,
                "owner": "p1",
                "checksum": null,
                "os_hash_algo": null,
                "os_hash_value": null,
                "size": null,
                "virtual_size": null,
                "min_disk": 1,
                "min_ram": 512,
                "disk_format": "raw",
                "container_format": "bare",
                "tags": ["t1"],
                "created_at": "2025-12-01T13:15:57Z",
                "updated_at": "2025-12-01T13:15:58Z",
                "self": "/v2/images/img-1",
                "file": "/v2/images/img-1/file",
                "schema": "/v2/schemas/image",
                "hw_architecture": "x86_64",
            })
        );
    }

    #[test]
    fn image_json_with_data_names_the_hash_algorithm() {
        let mut img = stored("img-2");
        img.status = "active".into();
        img.size = Some(300_000);
        img.checksum = Some("md5sum".into());
        img.os_hash_value = Some("sha512sum".into());
        img.owner = None;
        let v = image_json(&img);
        assert_eq!(v["os_hash_algo"], "sha512");
        assert_eq!(v["os_hash_value"], "sha512sum");
        assert_eq!(v["checksum"], "md5sum");
        assert_eq!(v["size"], 300_000);
        assert_eq!(v["owner"], Value::Null);
    }

    #[test]
    fn member_json_is_glance_shaped() {
        let m = Member {
            image_id: "img-1".into(),
            member_id: "p2".into(),
            status: "pending".into(),
            created_at: 0,
            updated_at: 1_000,
        };
        assert_eq!(
            member_json(&m),
            json!({"image_id": "img-1", "member_id": "p2", "status": "pending",
                   "created_at": "1970-01-01T00:00:00Z", "updated_at": "1970-01-01T00:00:01Z",
                   "schema": "/v2/schemas/member"})
        );
    }

    #[test]
    fn versions_link_to_the_host_asked() {
        let r = versions(&request(&[], &[("host", "glance.example:9292")], "", None)).unwrap();
        assert_eq!(r.status, 300);
        let doc = r.json_body();
        let all = doc["versions"].as_array().unwrap();
        assert_eq!(all.len(), 10);
        assert_eq!(all[0]["id"], "v2.9");
        assert_eq!(all[0]["status"], "CURRENT");
        assert_eq!(all[9]["id"], "v2.0");
        assert_eq!(all[9]["status"], "SUPPORTED");
        assert_eq!(all[3]["links"][0]["href"], "http://glance.example:9292/v2/");
        let r = versions_ok(&request(&[], &[], "", None)).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(
            r.json_body()["versions"][0]["links"],
            json!([{"rel": "self", "href": "http://localhost/v2/"}])
        );
    }

    #[test]
    fn schemas_are_as_before() {
        let r = schema_image(&request(&[], &[], "", None)).unwrap();
        assert_eq!(r.json_body()["additionalProperties"]["type"], "string");
        let r = schema_images(&request(&[], &[], "", None)).unwrap();
        assert_eq!(
            r.json_body(),
            json!({"name": "images", "properties": {"images": {"type": "array"}}})
        );
    }
}
