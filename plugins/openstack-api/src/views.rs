//! Nova's JSON views of flavors and servers at microversion 2.1.

use crate::bindings::metacloud::api::types::{Flavor, Server};
use crate::{time, Request};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha224};

/// `self` and `bookmark` links of a resource.
pub fn links(r: &Request, kind: &str, id: &str) -> Value {
    json!([
        {"rel": "self", "href": format!("{}/v2.1/{kind}/{id}", r.base)},
        {"rel": "bookmark", "href": format!("{}/{kind}/{id}", r.base)},
    ])
}

pub fn flavor_brief(r: &Request, f: &Flavor) -> Value {
    json!({"id": f.id, "name": f.name, "links": links(r, "flavors", &f.id)})
}

pub fn flavor(r: &Request, f: &Flavor) -> Value {
    json!({
        "id": f.id,
        "name": f.name,
        "ram": f.ram_mb,
        "vcpus": f.vcpus,
        "disk": f.disk_gb,
        "OS-FLV-EXT-DATA:ephemeral": f.ephemeral_gb,
        "swap": if f.swap_mb == 0 { json!("") } else { json!(f.swap_mb) },
        "rxtx_factor": 1.0,
        "os-flavor-access:is_public": f.is_public,
        "OS-FLV-DISABLED:disabled": false,
        "links": links(r, "flavors", &f.id),
    })
}

/// Nova's status from vm_state and task_state.
pub fn status(vm_state: &str, task_state: Option<&str>) -> &'static str {
    match (vm_state, task_state) {
        ("active", Some("rebooting")) => "REBOOT",
        ("active", Some("rebooting_hard")) => "HARD_REBOOT",
        ("active", _) => "ACTIVE",
        ("building", _) => "BUILD",
        ("stopped", _) => "SHUTOFF",
        ("paused", _) => "PAUSED",
        ("suspended", _) => "SUSPENDED",
        ("error", _) => "ERROR",
        ("deleted", _) => "DELETED",
        _ => "UNKNOWN",
    }
}

/// Nova's `hostId`: the host hashed with the project, so projects cannot correlate hosts.
fn host_id(project: &str, host: Option<&str>) -> String {
    match host {
        Some(h) if !h.is_empty() => {
            let digest = Sha224::digest(format!("{project}{h}").as_bytes());
            digest.iter().map(|b| format!("{b:02x}")).collect()
        }
        _ => String::new(),
    }
}

pub fn server_brief(r: &Request, s: &Server) -> Value {
    json!({"id": s.id, "name": s.name, "links": links(r, "servers", &s.id)})
}

pub fn server(r: &Request, s: &Server) -> Value {
    let metadata: Map<String, Value> = s
        .metadata
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let image = match &s.image_id {
        Some(id) => json!({"id": id, "links": [{"rel": "bookmark", "href": format!("{}/images/{id}", r.base)}]}),
        None => json!(""),
    };
    let mut v = json!({
        "id": s.id,
        "name": s.name,
        "status": status(&s.vm_state, s.task_state.as_deref()),
        "tenant_id": s.project_id,
        "user_id": s.user_id,
        "metadata": metadata,
        "hostId": host_id(&s.project_id, s.host.as_deref()),
        "image": image,
        "flavor": {"id": s.flavor.id, "links": [{"rel": "bookmark", "href": format!("{}/flavors/{}", r.base, s.flavor.id)}]},
        "created": time::format(s.created_at),
        "updated": time::format(s.updated_at),
        "addresses": {},
        "accessIPv4": "",
        "accessIPv6": "",
        "links": links(r, "servers", &s.id),
        "OS-DCF:diskConfig": "MANUAL",
        "progress": 0,
        "OS-EXT-AZ:availability_zone": s.availability_zone.clone().unwrap_or_else(|| "nova".into()),
        "config_drive": "",
        "key_name": s.key_name,
        "OS-SRV-USG:launched_at": s.launched_at.map(time::format_micro),
        "OS-SRV-USG:terminated_at": s.terminated_at.map(time::format_micro),
        "OS-EXT-STS:task_state": s.task_state,
        "OS-EXT-STS:vm_state": s.vm_state,
        "OS-EXT-STS:power_state": s.power_state,
        "os-extended-volumes:volumes_attached": [],
        "security_groups": [{"name": "default"}],
    });
    if r.is_admin() {
        v["OS-EXT-SRV-ATTR:host"] = json!(s.host);
        v["OS-EXT-SRV-ATTR:hypervisor_hostname"] = json!(s.host);
        v["OS-EXT-SRV-ATTR:instance_name"] = json!(format!("instance-{}", &s.id[..8.min(s.id.len())]));
    }
    if let Some(f) = &s.fault {
        v["fault"] = json!({"code": f.code, "message": f.message, "created": time::format(f.created_at)});
    }
    v
}

/// A password for the reply to a create (nothing sets it in the guest yet).
pub fn admin_pass(seed: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::new();
    for _ in 0..2 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write(seed.as_bytes());
        out.push_str(&format!("{:08x}", h.finish() as u32));
    }
    out
}
