//! The OpenStack-style tree of one instance, `/openstack/{version}/`, as Nova shapes it and
//! cloud-init's `openstack.MetadataReader.read_v2` reads it: `meta_data.json` (required),
//! `user_data`, `vendor_data.json`, `vendor_data2.json` and `network_data.json` (optional:
//! a 404 is "absent", which only `user_data` ever is).

use crate::bindings::metacloud::api::metadata::InstanceData;
use crate::ec2;
use crate::reply::Body;
use serde_json::{json, Map, Value};

pub const META_DATA: &str = "meta_data.json";
pub const USER_DATA: &str = "user_data";
pub const VENDOR_DATA: &str = "vendor_data.json";
pub const NETWORK_DATA: &str = "network_data.json";
pub const VENDOR_DATA2: &str = "vendor_data2.json";

/// `/openstack/{version}/`: the files there are, in Nova's order.
pub fn listing(i: &InstanceData) -> String {
    let mut files = vec![META_DATA];
    if ec2::user_data(i).is_some() {
        files.push(USER_DATA);
    }
    files.push(VENDOR_DATA);
    if network_data(i).is_some() {
        files.push(NETWORK_DATA);
    }
    files.push(VENDOR_DATA2);
    files.join("\n")
}

/// One file of `/openstack/{version}/`; none: 404.
pub fn file(i: &InstanceData, name: &str) -> Option<Body> {
    match name {
        META_DATA => Some(Body::Json(meta_data(i))),
        USER_DATA => ec2::user_data(i).map(Body::Bytes),
        VENDOR_DATA | VENDOR_DATA2 => Some(Body::Json(json!({}))),
        NETWORK_DATA => network_data(i).map(Body::Json),
        _ => None,
    }
}

/// `meta_data.json`.
pub fn meta_data(i: &InstanceData) -> Value {
    let meta: Map<String, Value> = i
        .metadata
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let mut md = json!({
        "uuid": i.id,
        "name": i.name,
        "hostname": i.hostname,
        "launch_index": i.launch_index,
        "availability_zone": ec2::zone(i),
        "project_id": i.project_id,
        "meta": meta,
        "devices": [],
        "dedicated_cpus": [],
    });
    if let Some((name, key)) = ec2::public_key(i) {
        md["public_keys"] = json!({ name: key });
        md["keys"] = json!([{"name": name, "type": "ssh", "data": key}]);
    }
    md
}

/// `network_data.json`: `{}` while the instance network is not known to the host (links
/// need the guest's MAC addresses), as Nova answers without network information. Not
/// `{"links": [], "networks": [], "services": []}`: the conformance crawler converts any
/// non-empty document with `convert_net_json` and requires interfaces from it. (cloud-init's
/// OpenStack datasource itself turns `{}` too into a configuration with no interface; only
/// an absent file makes it fall back to DHCP on the first NIC.)
pub fn network_data(_i: &InstanceData) -> Option<Value> {
    Some(json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ec2::tests::{bare, full, KEY, UUID};

    #[test]
    fn the_version_listing() {
        assert_eq!(
            listing(&full()),
            "meta_data.json\nuser_data\nvendor_data.json\nnetwork_data.json\nvendor_data2.json"
        );
        assert_eq!(
            listing(&bare()),
            "meta_data.json\nvendor_data.json\nnetwork_data.json\nvendor_data2.json"
        );
    }

    #[test]
    fn every_listed_file_is_served() {
        for i in [full(), bare()] {
            for name in listing(&i).lines() {
                assert!(file(&i, name).is_some(), "{name}");
            }
        }
    }

    #[test]
    fn meta_data_json_as_nova_shapes_it() {
        assert_eq!(
            meta_data(&full()),
            json!({
                "uuid": UUID,
                "name": "Web 1",
                "hostname": "web-1",
                "launch_index": 2,
                "availability_zone": "az-east",
                "project_id": "p-1",
                "meta": {"role": "web", "tier": "1"},
                "public_keys": {"mykey": KEY},
                "keys": [{"name": "mykey", "type": "ssh", "data": KEY}],
                "devices": [],
                "dedicated_cpus": [],
            })
        );
        let md = meta_data(&bare());
        assert_eq!(md["meta"], json!({}));
        assert_eq!(md["launch_index"], 0);
        assert!(md.get("public_keys").is_none() && md.get("keys").is_none());
    }

    #[test]
    fn the_other_files() {
        assert_eq!(
            file(&full(), USER_DATA),
            Some(Body::Bytes(b"#cloud-config\nhostname: x\n".to_vec()))
        );
        assert_eq!(file(&bare(), USER_DATA), None);
        assert_eq!(file(&full(), VENDOR_DATA), Some(Body::Json(json!({}))));
        assert_eq!(file(&full(), VENDOR_DATA2), Some(Body::Json(json!({}))));
        assert_eq!(file(&full(), NETWORK_DATA), Some(Body::Json(json!({}))));
        for other in [
            "",
            "meta_data",
            "../meta_data.json",
            "password",
            "user-data",
        ] {
            assert_eq!(file(&full(), other), None, "{other}");
        }
    }
}
