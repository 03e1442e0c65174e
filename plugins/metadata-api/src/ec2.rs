//! The EC2-style tree of one instance, as Nova's metadata service shapes it and cloud-init's
//! `DataSourceEc2` crawls it: `meta-data/` (listed recursively, keys ending in `/` are
//! directories, `public-keys/` lists `0=<key-name>` and the key is read at
//! `public-keys/0/openssh-key`), `user-data` (404 when there is none) and, for IMDSv2
//! clients, `dynamic/instance-identity/document`.

use crate::bindings::metacloud::api::metadata::InstanceData;
use crate::ids;
use crate::reply::Body;
use crate::tree::{Node, MAX_PATH};
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};

/// The region when the catalog names none.
pub const DEFAULT_REGION: &str = "RegionOne";
/// Nova's default availability zone, when the instance has none.
pub const DEFAULT_ZONE: &str = "nova";
/// The root disk as the guest sees it (virtio).
pub const ROOT_DEVICE: &str = "/dev/vda";
/// The instance identity document's format version (AWS's).
pub const DOCUMENT_VERSION: &str = "2017-09-30";

/// The node at `path` below `/{version}/` (`""` is the version's own listing). The
/// region is asked for only when the identity document's directory is walked.
pub fn resolve(i: &InstanceData, path: &str, region: impl FnOnce() -> String) -> Option<Body> {
    if path.len() > MAX_PATH {
        return None;
    }
    let region = (path.split('/').next() == Some("dynamic")).then(region);
    root(i, region.as_deref()).at(path).map(Node::body)
}

/// `/{version}/`: `meta-data/`, `user-data` (when there is some), `dynamic/`.
pub fn root(i: &InstanceData, region: Option<&str>) -> Node {
    let mut entries = vec![("meta-data", meta_data(i))];
    if let Some(data) = user_data(i) {
        entries.push(("user-data", Node::Leaf(Body::Bytes(data))));
    }
    entries.push(("dynamic", dynamic(i, region.unwrap_or(DEFAULT_REGION))));
    Node::dir(entries)
}

/// `meta-data/`.
pub fn meta_data(i: &InstanceData) -> Node {
    let mut entries = vec![
        ("ami-id", Node::text(ami_id(i).unwrap_or_default())),
        ("ami-launch-index", Node::text(i.launch_index.to_string())),
        ("ami-manifest-path", Node::text("FIXME")),
        (
            "block-device-mapping",
            Node::dir(vec![
                ("ami", Node::text(ROOT_DEVICE.trim_start_matches("/dev/"))),
                ("root", Node::text(ROOT_DEVICE)),
            ]),
        ),
        ("hostname", Node::text(i.hostname.clone())),
        ("instance-action", Node::text("none")),
        ("instance-id", Node::text(ids::instance_id(&i.id))),
        ("instance-type", Node::text(i.flavor_name.clone())),
        ("local-hostname", Node::text(i.hostname.clone())),
    ];
    if let Some(ip) = local_ipv4(i) {
        entries.push(("local-ipv4", Node::text(ip)));
    }
    entries.push((
        "placement",
        Node::dir(vec![("availability-zone", Node::text(zone(i)))]),
    ));
    entries.push(("public-hostname", Node::text(i.hostname.clone())));
    if let Some((name, key)) = public_key(i) {
        let key = format!("{}\n", key.trim_end_matches(['\r', '\n']));
        let keys = Node::dir(vec![(
            "0",
            Node::dir(vec![("openssh-key", Node::text(key))]),
        )])
        .listed_as(format!("0={}", one_line(name)));
        entries.push(("public-keys", keys));
    }
    entries.push(("reservation-id", Node::text(i.reservation_id.clone())));
    entries.push(("security-groups", Node::text("default")));
    Node::dir(entries)
}

/// `dynamic/`: the instance identity document.
pub fn dynamic(i: &InstanceData, region: &str) -> Node {
    Node::dir(vec![(
        "instance-identity",
        Node::dir(vec![(
            "document",
            Node::Leaf(Body::Json(identity_document(i, region))),
        )]),
    )])
}

/// `dynamic/instance-identity/document`, as AWS shapes it.
pub fn identity_document(i: &InstanceData, region: &str) -> Value {
    let region = if region.trim().is_empty() {
        DEFAULT_REGION
    } else {
        region
    };
    json!({
        "accountId": i.project_id,
        "architecture": "x86_64",
        "availabilityZone": zone(i),
        "imageId": ami_id(i),
        "instanceId": ids::instance_id(&i.id),
        "instanceType": i.flavor_name,
        "pendingTime": iso(i.created_at),
        "privateIp": local_ipv4(i),
        "region": region,
        "version": DOCUMENT_VERSION,
    })
}

/// The image's EC2 id.
pub fn ami_id(i: &InstanceData) -> Option<String> {
    i.image_id
        .as_deref()
        .filter(|id| !id.is_empty())
        .map(ids::image_id)
}

/// The availability zone (Nova's default one when the host names none).
pub fn zone(i: &InstanceData) -> &str {
    if i.availability_zone.is_empty() {
        DEFAULT_ZONE
    } else {
        &i.availability_zone
    }
}

fn local_ipv4(i: &InstanceData) -> Option<&str> {
    i.local_ipv4.as_deref().filter(|ip| !ip.is_empty())
}

/// The key pair's name and public key, when the instance was given one that still exists.
pub fn public_key(i: &InstanceData) -> Option<(&str, &str)> {
    match (i.key_name.as_deref(), i.public_key.as_deref()) {
        (Some(name), Some(key)) if !name.is_empty() && !key.trim().is_empty() => Some((name, key)),
        _ => None,
    }
}

/// A name fit for one line of a listing.
fn one_line(s: &str) -> String {
    s.chars().filter(|c| *c != '\n' && *c != '\r').collect()
}

/// The user data as the bytes it encodes; none when there is none.
pub fn user_data(i: &InstanceData) -> Option<Vec<u8>> {
    let raw = i.user_data.as_deref()?;
    if raw.trim().is_empty() {
        return None;
    }
    Some(decode_user_data(raw))
}

/// Base64 (line breaks and missing padding tolerated); text that is not base64 at all is
/// served as it is rather than refused.
pub fn decode_user_data(raw: &str) -> Vec<u8> {
    let compact: String = raw.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD
        .decode(&compact)
        .or_else(|_| STANDARD_NO_PAD.decode(compact.trim_end_matches('=')))
        .unwrap_or_else(|_| raw.as_bytes().to_vec())
}

/// Milliseconds since the epoch as AWS prints times (`2026-12-01T13:15:57Z`).
pub fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub const UUID: &str = "3f2504e0-4f89-11d3-9a0c-0305e82c3301";
    pub const IMAGE: &str = "a1b2c3d4-0000-4000-8000-000000000001";
    pub const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBmvR0xJz0fRn7l user@host";

    /// An instance with everything: key, user data, address.
    pub fn full() -> InstanceData {
        InstanceData {
            id: UUID.into(),
            name: "Web 1".into(),
            hostname: "web-1".into(),
            project_id: "p-1".into(),
            user_id: "u-1".into(),
            availability_zone: "az-east".into(),
            image_id: Some(IMAGE.into()),
            flavor_name: "m1.small".into(),
            key_name: Some("mykey".into()),
            public_key: Some(KEY.into()),
            user_data: Some(STANDARD.encode(b"#cloud-config\nhostname: x\n")),
            metadata: vec![("role".into(), "web".into()), ("tier".into(), "1".into())],
            reservation_id: "r-abc".into(),
            launch_index: 2,
            local_ipv4: Some("10.0.0.5".into()),
            created_at: 1_764_594_957_123,
        }
    }

    /// An instance with nothing optional.
    pub fn bare() -> InstanceData {
        InstanceData {
            image_id: None,
            key_name: None,
            public_key: None,
            user_data: None,
            metadata: vec![],
            local_ipv4: None,
            launch_index: 0,
            ..full()
        }
    }

    fn get(i: &InstanceData, path: &str) -> Option<Body> {
        resolve(i, path, || "RegionTwo".to_string())
    }

    fn text(i: &InstanceData, path: &str) -> Option<String> {
        match get(i, path)? {
            Body::Text(t) => Some(t),
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn the_version_root_lists_what_there_is() {
        assert_eq!(
            text(&full(), "").unwrap(),
            "meta-data/\nuser-data\ndynamic/"
        );
        assert_eq!(
            text(&full(), "/").unwrap(),
            "meta-data/\nuser-data\ndynamic/"
        );
        assert_eq!(text(&bare(), "").unwrap(), "meta-data/\ndynamic/");
    }

    #[test]
    fn the_meta_data_listing() {
        let expected = "ami-id\nami-launch-index\nami-manifest-path\nblock-device-mapping/\n\
                        hostname\ninstance-action\ninstance-id\ninstance-type\nlocal-hostname\n\
                        local-ipv4\nplacement/\npublic-hostname\npublic-keys/\nreservation-id\n\
                        security-groups";
        assert_eq!(text(&full(), "meta-data").unwrap(), expected);
        assert_eq!(text(&full(), "meta-data/").unwrap(), expected);
        let bare_expected = "ami-id\nami-launch-index\nami-manifest-path\nblock-device-mapping/\n\
                             hostname\ninstance-action\ninstance-id\ninstance-type\n\
                             local-hostname\nplacement/\npublic-hostname\nreservation-id\n\
                             security-groups";
        assert_eq!(text(&bare(), "meta-data/").unwrap(), bare_expected);
    }

    #[test]
    fn every_meta_data_leaf() {
        let i = full();
        let cases = [
            ("instance-id", "i-3f2504e04f8911d39"),
            ("ami-id", "ami-a1b2c3d4000040008"),
            ("ami-launch-index", "2"),
            ("ami-manifest-path", "FIXME"),
            ("hostname", "web-1"),
            ("local-hostname", "web-1"),
            ("public-hostname", "web-1"),
            ("instance-type", "m1.small"),
            ("instance-action", "none"),
            ("reservation-id", "r-abc"),
            ("security-groups", "default"),
            ("local-ipv4", "10.0.0.5"),
            ("placement", "availability-zone"),
            ("placement/", "availability-zone"),
            ("placement/availability-zone", "az-east"),
            ("block-device-mapping", "ami\nroot"),
            ("block-device-mapping/", "ami\nroot"),
            ("block-device-mapping/ami", "vda"),
            ("block-device-mapping/root", "/dev/vda"),
            ("public-keys", "0=mykey"),
            ("public-keys/", "0=mykey"),
            ("public-keys/0", "openssh-key"),
            ("public-keys/0/", "openssh-key"),
        ];
        for (key, value) in cases {
            assert_eq!(
                text(&i, &format!("meta-data/{key}")).as_deref(),
                Some(value),
                "{key}"
            );
        }
        assert_eq!(
            text(&i, "meta-data/public-keys/0/openssh-key").unwrap(),
            format!("{KEY}\n")
        );
    }

    #[test]
    fn leaves_of_a_bare_instance() {
        let i = bare();
        assert_eq!(text(&i, "meta-data/ami-id").as_deref(), Some(""));
        assert_eq!(text(&i, "meta-data/ami-launch-index").as_deref(), Some("0"));
        for absent in [
            "meta-data/local-ipv4",
            "meta-data/public-keys",
            "meta-data/public-keys/",
            "meta-data/public-keys/0/openssh-key",
            "user-data",
        ] {
            assert_eq!(get(&i, absent), None, "{absent}");
        }
    }

    #[test]
    fn a_key_name_without_its_key_lists_no_keys() {
        let i = InstanceData {
            public_key: None,
            ..full()
        };
        assert_eq!(get(&i, "meta-data/public-keys/"), None);
        assert!(!text(&i, "meta-data/").unwrap().contains("public-keys"));
    }

    #[test]
    fn keys_end_in_exactly_one_newline() {
        let i = InstanceData {
            public_key: Some(format!("{KEY}\n\n")),
            key_name: Some("bad\nname".into()),
            ..full()
        };
        assert_eq!(
            text(&i, "meta-data/public-keys/0/openssh-key").unwrap(),
            format!("{KEY}\n")
        );
        assert_eq!(text(&i, "meta-data/public-keys").unwrap(), "0=badname");
    }

    #[test]
    fn unknown_keys_are_absent() {
        let i = full();
        for p in [
            "meta-data/kernel-id",
            "meta-data/public-ipv4",
            "meta-data/public-keys/1/openssh-key",
            "meta-data/public-keys/0/openssh-key/x",
            "meta-data/public-keys/0=mykey",
            "meta-data/placement/region",
            "meta-data/../user-data",
            "meta-data//instance-id",
            "meta-data/instance-id//",
            "meta-data/iam/security-credentials/",
            "user-data/x",
            "userdata",
            "dynamic/instance-identity/pkcs7",
            "dynamic/instance-identity/signature",
            "dynamic/fws",
            "nope",
        ] {
            assert_eq!(get(&i, p), None, "{p}");
        }
        assert_eq!(get(&i, &format!("meta-data/{}", "a/".repeat(600))), None);
    }

    #[test]
    fn user_data_is_served_decoded() {
        assert_eq!(
            get(&full(), "user-data"),
            Some(Body::Bytes(b"#cloud-config\nhostname: x\n".to_vec()))
        );
        assert_eq!(decode_user_data("aGVs\nbG8="), b"hello");
        assert_eq!(decode_user_data("aGVsbG8"), b"hello");
        assert_eq!(
            decode_user_data("#!/bin/sh\necho hi"),
            b"#!/bin/sh\necho hi"
        );
        assert_eq!(decode_user_data("/w=="), vec![255]);
        let empty = InstanceData {
            user_data: Some("  ".into()),
            ..full()
        };
        assert_eq!(user_data(&empty), None);
    }

    #[test]
    fn the_dynamic_tree_and_the_identity_document() {
        let i = full();
        assert_eq!(text(&i, "dynamic").unwrap(), "instance-identity/");
        assert_eq!(text(&i, "dynamic/").unwrap(), "instance-identity/");
        assert_eq!(text(&i, "dynamic/instance-identity").unwrap(), "document");
        assert_eq!(text(&i, "dynamic/instance-identity/").unwrap(), "document");
        assert_eq!(
            get(&i, "dynamic/instance-identity/document"),
            Some(Body::Json(json!({
                "accountId": "p-1",
                "architecture": "x86_64",
                "availabilityZone": "az-east",
                "imageId": "ami-a1b2c3d4000040008",
                "instanceId": "i-3f2504e04f8911d39",
                "instanceType": "m1.small",
                "pendingTime": "2025-12-01T13:15:57Z",
                "privateIp": "10.0.0.5",
                "region": "RegionTwo",
                "version": "2017-09-30",
            })))
        );
        let doc = identity_document(&bare(), "  ");
        assert_eq!(doc["imageId"], Value::Null);
        assert_eq!(doc["privateIp"], Value::Null);
        assert_eq!(doc["region"], "RegionOne");
    }

    #[test]
    fn the_region_is_asked_for_only_under_dynamic() {
        let i = full();
        let never = || -> String { panic!("the region was not needed") };
        assert!(resolve(&i, "meta-data/instance-id", never).is_some());
        assert!(resolve(&i, "", never).is_some());
        assert!(resolve(&i, "user-data", never).is_some());
    }

    #[test]
    fn zones_default_to_novas() {
        let i = InstanceData {
            availability_zone: String::new(),
            ..full()
        };
        assert_eq!(
            text(&i, "meta-data/placement/availability-zone").as_deref(),
            Some("nova")
        );
    }

    #[test]
    fn times_are_iso_8601_utc() {
        assert_eq!(iso(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso(i64::MAX), "1970-01-01T00:00:00Z");
    }
}
