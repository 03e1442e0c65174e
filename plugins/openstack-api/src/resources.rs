//! Flavor management, keypairs, limits, quota sets, availability zones, services and
//! hypervisors, as Nova shapes them at 2.1.

use crate::bindings::metacloud::api::compute;
use crate::bindings::metacloud::api::types::{
    Caller, FlavorCreate, Hypervisor, ServerQuery, Service,
};
use crate::microversion::{since, Change};
use crate::{time, views, Fault, NovaRequest, Reply, Request};
use serde_json::{json, Map, Value};

fn field_u64(m: &Map<String, Value>, key: &str, required: bool) -> Result<Option<u64>, Fault> {
    match m.get(key) {
        None | Some(Value::Null) if !required => Ok(None),
        None | Some(Value::Null) => Err(Fault::bad_request(format!(
            "Invalid input for field/attribute flavor. '{key}' is a required property"
        ))),
        Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64()),
        Some(Value::String(s)) if s.parse::<u64>().is_ok() => Ok(s.parse().ok()),
        Some(v) => Err(Fault::bad_request(format!(
            "Invalid input for field/attribute {key}. Value: {v}. {v} is not of type 'integer', 'string'"
        ))),
    }
}

pub fn create_flavor(r: &Request) -> Result<Reply, Fault> {
    let body = r.body_json()?;
    let f = crate::flavors::flavor_object(&body)?;
    const KEYS: &[&str] = &[
        "name",
        "ram",
        "vcpus",
        "disk",
        "id",
        "OS-FLV-EXT-DATA:ephemeral",
        "swap",
        "rxtx_factor",
        "os-flavor-access:is_public",
    ];
    let described = since(r, Change::FlavorDescription);
    if let Some(k) = f
        .keys()
        .find(|k| !(KEYS.contains(&k.as_str()) || (described && k.as_str() == "description")))
    {
        return Err(Fault::bad_request(format!("Invalid input for field/attribute flavor. Additional properties are not allowed ('{k}' was unexpected)")));
    }
    let name = f.get("name").and_then(Value::as_str).ok_or_else(|| {
        Fault::bad_request(
            "Invalid input for field/attribute flavor. 'name' is a required property",
        )
    })?;
    let id = match f.get("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(v) => {
            return Err(Fault::bad_request(format!(
                "Invalid input for field/attribute id. Value: {v}"
            )))
        }
    };
    let req = FlavorCreate {
        id,
        name: name.to_string(),
        vcpus: field_u64(f, "vcpus", true)?.unwrap_or(0) as u32,
        ram_mb: field_u64(f, "ram", true)?.unwrap_or(0),
        disk_gb: field_u64(f, "disk", true)?.unwrap_or(0),
        ephemeral_gb: field_u64(f, "OS-FLV-EXT-DATA:ephemeral", false)?.unwrap_or(0),
        swap_mb: match f.get("swap") {
            Some(Value::String(s)) if s.is_empty() => 0,
            _ => field_u64(f, "swap", false)?.unwrap_or(0),
        },
        is_public: match f.get("os-flavor-access:is_public") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
                "true" | "t" | "1" | "yes" | "y" | "on" => true,
                "false" | "f" | "0" | "no" | "n" | "off" => false,
                _ => {
                    return Err(Fault::bad_request(format!(
                        "Invalid input for field/attribute os-flavor-access:is_public. Value: {s}. '{s}' is not of type 'boolean'"
                    )))
                }
            },
            Some(v) => {
                return Err(Fault::bad_request(format!(
                    "Invalid input for field/attribute os-flavor-access:is_public. Value: {v}. {v} is not of type 'boolean'"
                )))
            }
        },
    };
    let description = crate::flavors::description_field(f)?.flatten();
    let c = r.caller()?;
    let made = compute::create_flavor(c, &req)?;
    if let Some(d) = &description {
        // Described right after it is made; a refusal takes the flavor back.
        if let Err(e) = compute::set_flavor_description(c, &made.id, Some(d)) {
            let _ = compute::delete_flavor(c, &made.id);
            return Err(e.into());
        }
    }
    let view = crate::flavors::Descriptions::of(r)?.add(views::flavor(r, &made), &made.id);
    Ok(Reply::json(200, &json!({ "flavor": view })))
}

pub fn delete_flavor(r: &Request) -> Result<Reply, Fault> {
    compute::delete_flavor(r.caller()?, r.param("flavor_id"))?;
    Ok(Reply::empty(202))
}

// --- keypairs ----------------------------------------------------------------------------

/// The user a keypair request names with `?user_id=` (admins, from 2.10; ignored before).
fn keypair_user(r: &Request) -> Option<String> {
    since(r, Change::KeypairUserId)
        .then(|| r.query("user_id").map(String::from))
        .flatten()
}

pub fn list_keypairs(r: &Request) -> Result<Reply, Fault> {
    let mut ks = compute::list_keypairs_of(r.caller()?, keypair_user(r).as_deref())?;
    let (ks, links) = if since(r, Change::KeypairPaging) {
        ks.sort_by(|a, b| a.name.cmp(&b.name));
        crate::paging::page(r, &ks, |k| k.name.clone(), "os-keypairs")?
    } else {
        (&ks[..], None)
    };
    let typed = since(r, Change::KeypairType);
    let items: Vec<Value> = ks
        .iter()
        .map(|k| {
            let mut v =
                json!({"name": k.name, "public_key": k.public_key, "fingerprint": k.fingerprint});
            if typed {
                v["type"] = json!(k.key_type);
            }
            json!({ "keypair": v })
        })
        .collect();
    let mut body = json!({ "keypairs": items });
    if let Some(l) = links {
        body["keypairs_links"] = l;
    }
    Ok(Reply::json(200, &body))
}

pub fn show_keypair(r: &Request) -> Result<Reply, Fault> {
    let k = compute::get_keypair_of(
        r.caller()?,
        keypair_user(r).as_deref(),
        r.param("keypair_name"),
    )?;
    let mut v = json!({
        "name": k.name, "public_key": k.public_key, "fingerprint": k.fingerprint,
        "user_id": k.user_id, "created_at": time::format_micro(k.created_at),
        "deleted": false, "deleted_at": null, "updated_at": null, "id": 0});
    if since(r, Change::KeypairType) {
        v["type"] = json!(k.key_type);
    }
    Ok(Reply::json(200, &json!({ "keypair": v })))
}

pub fn create_keypair(r: &Request) -> Result<Reply, Fault> {
    let body = r.body_json()?;
    let k = body
        .get("keypair")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            Fault::bad_request(
                "Invalid input for field/attribute keypair. 'keypair' is a required property",
            )
        })?;
    let typed = since(r, Change::KeypairType);
    let for_user = since(r, Change::KeypairUserId);
    let allowed: &[&str] = match (typed, for_user) {
        (_, true) => &["name", "public_key", "type", "user_id"],
        (true, false) => &["name", "public_key", "type"],
        (false, false) => &["name", "public_key"],
    };
    if let Some(key) = k.keys().find(|key| !allowed.contains(&key.as_str())) {
        return Err(Fault::bad_request(format!("Invalid input for field/attribute keypair. Additional properties are not allowed ('{key}' was unexpected)")));
    }
    let name = k.get("name").and_then(Value::as_str).ok_or_else(|| {
        Fault::bad_request(
            "Invalid input for field/attribute keypair. 'name' is a required property",
        )
    })?;
    // Nova's names: letters, digits, `_`, `-` and spaces; from 2.92 `@` and `.` too.
    let safe = since(r, Change::KeypairImportOnly);
    if name.contains(['@', '.']) && !safe {
        return Err(Fault::bad_request(format!(
            "Invalid input for field/attribute name. Value: {name}. '{name}' does not match '^[_\\- a-zA-Z0-9]+$'"
        )));
    }
    let public = k
        .get("public_key")
        .and_then(Value::as_str)
        .map(String::from);
    // 2.92: the key is the caller's own; none is made here any more.
    if safe && public.is_none() {
        return Err(Fault::bad_request(
            "Invalid input for field/attribute keypair. 'public_key' is a required property",
        ));
    }
    let key_type = match k.get("type") {
        None => "ssh",
        Some(Value::String(t)) if t == "ssh" || t == "x509" => t.as_str(),
        Some(t) => {
            return Err(Fault::bad_request(format!(
            "Invalid input for field/attribute type. Value: {t}. {t} is not one of ['ssh', 'x509']"
        )))
        }
    };
    let user = match k.get("user_id") {
        None => None,
        Some(Value::String(u)) => Some(u.as_str()),
        Some(u) => {
            return Err(Fault::bad_request(format!(
                "Invalid input for field/attribute user_id. Value: {u}. {u} is not of type 'string'"
            )))
        }
    };
    let made = compute::create_keypair_for(r.caller()?, user, name, key_type, public.as_deref())?;
    let mut v = json!({"name": made.keypair.name, "public_key": made.keypair.public_key,
        "fingerprint": made.keypair.fingerprint, "user_id": made.keypair.user_id});
    if let Some(p) = made.private_key {
        v["private_key"] = json!(p);
    }
    if typed {
        v["type"] = json!(made.keypair.key_type);
        return Ok(Reply::json(201, &json!({ "keypair": v })));
    }
    Ok(Reply::json(200, &json!({ "keypair": v })))
}

pub fn delete_keypair(r: &Request) -> Result<Reply, Fault> {
    compute::delete_keypair_of(
        r.caller()?,
        keypair_user(r).as_deref(),
        r.param("keypair_name"),
    )?;
    Ok(Reply::empty(if since(r, Change::KeypairType) {
        204
    } else {
        202
    }))
}

// --- limits and quotas ------------------------------------------------------------------

fn usage(r: &Request, project: &str) -> Result<Vec<(String, i64, i64)>, Fault> {
    Ok(compute::get_quotas(r.caller()?, project)?
        .into_iter()
        .map(|q| (q.resource, q.limit, q.in_use))
        .collect())
}

pub fn limits(r: &Request) -> Result<Reply, Fault> {
    let c = r.caller()?;
    let project = r
        .query("tenant_id")
        .filter(|_| r.is_admin())
        .map(String::from)
        .unwrap_or_else(|| c.project_id.clone());
    let u = usage(r, &project)?;
    let get = |res: &str| {
        u.iter()
            .find(|(k, _, _)| k == res)
            .map(|(_, l, used)| (*l, *used))
            .unwrap_or((-1, 0))
    };
    let mut absolute = json!({
        "maxTotalInstances": get("instances").0, "totalInstancesUsed": get("instances").1,
        "maxTotalCores": get("cores").0, "totalCoresUsed": get("cores").1,
        "maxTotalRAMSize": get("ram").0, "totalRAMUsed": get("ram").1,
        "maxTotalKeypairs": get("key_pairs").0,
        "maxServerGroups": get("server_groups").0, "totalServerGroupsUsed": get("server_groups").1,
        "maxServerGroupMembers": get("server_group_members").0,
        "maxServerMeta": 128, "maxPersonality": 5, "maxPersonalitySize": 10240,
        "maxImageMeta": 128, "maxSecurityGroups": get("security_groups").0,
        "maxSecurityGroupRules": get("security_group_rules").0,
        "totalSecurityGroupsUsed": get("security_groups").1,
        "maxTotalFloatingIps": get("floating_ips").0,
        "totalFloatingIpsUsed": get("floating_ips").1,
    });
    if let Some(m) = absolute.as_object_mut() {
        if since(r, Change::NetworkProxiesGone) {
            for k in [
                "maxSecurityGroups",
                "maxSecurityGroupRules",
                "totalSecurityGroupsUsed",
                "maxTotalFloatingIps",
                "totalFloatingIpsUsed",
            ] {
                m.remove(k);
            }
        }
        if since(r, Change::ImageMetadataGone) {
            m.remove("maxImageMeta");
        }
        if since(r, Change::NoPersonality) {
            m.remove("maxPersonality");
            m.remove("maxPersonalitySize");
        }
    }
    Ok(Reply::json(
        200,
        &json!({"limits": {"rate": [], "absolute": absolute}}),
    ))
}

pub fn show_quota_set(r: &Request) -> Result<Reply, Fault> {
    quota_set(r, false)
}

pub fn show_quota_detail(r: &Request) -> Result<Reply, Fault> {
    quota_set(r, true)
}

/// The network quotas 2.36 takes out of quota sets (and out of limits).
const NETWORK_QUOTAS: &[&str] = &[
    "fixed_ips",
    "floating_ips",
    "security_group_rules",
    "security_groups",
    "networks",
];

/// The file-injection quotas 2.57 takes out of quota sets and classes.
const INJECTION_QUOTAS: &[&str] = &[
    "injected_files",
    "injected_file_content_bytes",
    "injected_file_path_bytes",
];

/// Whether quota `k` is gone at the request's version: the network ones (`network`:
/// whether they are), the file-injection ones from 2.57.
fn quota_gone(r: &Request, k: &str, network: bool) -> bool {
    (network && NETWORK_QUOTAS.contains(&k))
        || (since(r, Change::NoPersonality) && INJECTION_QUOTAS.contains(&k))
}

/// The quotas the default quota class shows at the request's version (2.50 drops the
/// network ones, 2.57 the file-injection ones).
fn class_quotas(r: &Request, items: Vec<(String, i64, i64)>) -> Vec<(String, i64, i64)> {
    let network = since(r, Change::QuotaClassGroups);
    items
        .into_iter()
        .filter(|(k, _, _)| !quota_gone(r, k, network))
        .collect()
}

/// The quotas a project's quota set shows at the request's version.
fn project_quotas(r: &Request, items: Vec<(String, i64, i64)>) -> Vec<(String, i64, i64)> {
    let network = since(r, Change::NetworkProxiesGone);
    items
        .into_iter()
        .filter(|(k, _, _)| !quota_gone(r, k, network))
        .collect()
}

fn quota_body(id: Option<&str>, items: Vec<(String, i64, i64)>, detail: bool) -> Value {
    let mut set = Map::new();
    if let Some(id) = id {
        set.insert("id".into(), json!(id));
    }
    for (k, limit, in_use) in items {
        set.insert(
            k,
            if detail {
                json!({"limit": limit, "in_use": in_use, "reserved": 0})
            } else {
                json!(limit)
            },
        );
    }
    json!({"quota_set": set})
}

fn quota_set(r: &Request, detail: bool) -> Result<Reply, Fault> {
    let project = r.param("tenant_id").to_string();
    let items = project_quotas(r, usage(r, &project)?);
    Ok(Reply::json(200, &quota_body(Some(&project), items, detail)))
}

pub fn quota_defaults(r: &Request) -> Result<Reply, Fault> {
    let project = r.param("tenant_id").to_string();
    let items = compute::default_quotas(r.caller()?)?
        .into_iter()
        .map(|q| (q.resource, q.limit, 0))
        .collect();
    let items = project_quotas(r, items);
    Ok(Reply::json(200, &quota_body(Some(&project), items, false)))
}

/// The limits of a quota body: every key a known resource (`force` is ignored), every value
/// an integer of at least -1; all checked before anything changes.
fn quota_limits(
    c: &Caller,
    set: &Map<String, Value>,
    what: &str,
) -> Result<Vec<(String, i64)>, Fault> {
    let known: Vec<String> = compute::default_quotas(c)?
        .into_iter()
        .map(|q| q.resource)
        .collect();
    let mut changes = Vec::new();
    for (k, v) in set {
        if k == "force" {
            continue;
        }
        if !known.contains(k) {
            return Err(Fault::bad_request(format!("Invalid input for field/attribute {what}. Additional properties are not allowed ('{k}' was unexpected)")));
        }
        let limit = v
            .as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .filter(|l| *l >= -1)
            .ok_or_else(|| {
                Fault::bad_request(format!(
                    "Invalid input for field/attribute {k}. Value: {v}. must be an integer >= -1"
                ))
            })?;
        changes.push((k.clone(), limit));
    }
    Ok(changes)
}

/// Nova 2.1's quota names: those recorded here, plus `force`.
pub fn update_quota_set(r: &Request) -> Result<Reply, Fault> {
    let body = r.body_json()?;
    let set = body
        .get("quota_set")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            Fault::bad_request(
                "Invalid input for field/attribute quota_set. 'quota_set' is a required property",
            )
        })?;
    let project = r.param("tenant_id").to_string();
    let c = r.caller()?;
    let network = since(r, Change::NetworkProxiesGone);
    if let Some(k) = set.keys().find(|k| quota_gone(r, k, network)) {
        return Err(Fault::bad_request(format!("Invalid input for field/attribute quota_set. Additional properties are not allowed ('{k}' was unexpected)")));
    }
    for (k, limit) in quota_limits(c, set, "quota_set")? {
        compute::set_quota(c, &project, &k, limit)?;
    }
    // The update reply has no `id`.
    Ok(Reply::json(
        200,
        &quota_body(None, project_quotas(r, usage(r, &project)?), false),
    ))
}

pub fn delete_quota_set(r: &Request) -> Result<Reply, Fault> {
    compute::delete_quotas(r.caller()?, r.param("tenant_id"))?;
    Ok(Reply::empty(202))
}

/// `PUT os-quota-class-sets/default`: new default limits.
pub fn update_quota_class(r: &Request) -> Result<Reply, Fault> {
    let class = r.param("class_name");
    if class != "default" {
        return Err(Fault::bad_request(format!(
            "Quota class {class}: only the 'default' class exists here"
        )));
    }
    let body = r.body_json()?;
    let set = body
        .get("quota_class_set")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            Fault::bad_request(
                "Invalid input for field/attribute quota_class_set. 'quota_class_set' is a required property",
            )
        })?;
    let c = r.caller()?;
    let network = since(r, Change::QuotaClassGroups);
    if let Some(k) = set.keys().find(|k| quota_gone(r, k, network)) {
        return Err(Fault::bad_request(format!("Invalid input for field/attribute quota_class_set. Additional properties are not allowed ('{k}' was unexpected)")));
    }
    for (k, limit) in quota_limits(c, set, "quota_class_set")? {
        compute::set_default_quota(c, &k, limit)?;
    }
    let items: Vec<(String, i64, i64)> = compute::default_quotas(c)?
        .into_iter()
        .map(|q| (q.resource, q.limit, 0))
        .collect();
    let items = class_quotas(r, items);
    let set = quota_body(None, items, false)["quota_set"].take();
    Ok(Reply::json(200, &json!({"quota_class_set": set})))
}

/// `os-quota-class-sets/{id}`: the defaults every project starts with.
pub fn show_quota_class(r: &Request) -> Result<Reply, Fault> {
    let items: Vec<(String, i64, i64)> = compute::default_quotas(r.caller()?)?
        .into_iter()
        .map(|q| (q.resource, q.limit, 0))
        .collect();
    let items = class_quotas(r, items);
    let mut body = quota_body(Some(r.param("class_name")), items, false);
    let set = body["quota_set"].take();
    body = json!({"quota_class_set": set});
    Ok(Reply::json(200, &body))
}

// --- zones, services, hypervisors ---------------------------------------------------------

pub fn availability_zones(r: &Request) -> Result<Reply, Fault> {
    let zones = compute::list_availability_zones(r.caller()?)?;
    let items: Vec<Value> = zones
        .iter()
        .map(
            |z| json!({"zoneName": z.name, "zoneState": {"available": z.available}, "hosts": null}),
        )
        .collect();
    Ok(Reply::json(200, &json!({"availabilityZoneInfo": items})))
}

pub fn availability_zones_detail(r: &Request) -> Result<Reply, Fault> {
    let zones = compute::list_availability_zones(r.caller()?)?;
    let items: Vec<Value> = zones
        .iter()
        .map(|z| {
            let hosts: Map<String, Value> = z
                .hosts
                .iter()
                .map(|h| (h.clone(), json!({"nova-compute": {"available": z.available, "active": true, "updated_at": null}})))
                .collect();
            json!({"zoneName": z.name, "zoneState": {"available": z.available}, "hosts": hosts})
        })
        .collect();
    Ok(Reply::json(200, &json!({"availabilityZoneInfo": items})))
}

/// OpenStack clients know services as `nova-<role>`: `metacloud-compute` is shown as
/// `nova-compute`, and so on.
pub(crate) fn nova_binary(binary: &str) -> String {
    match binary.strip_prefix("metacloud-") {
        Some(role) => format!("nova-{role}"),
        None => binary.to_string(),
    }
}

/// `os-hosts` (deprecated in Nova after 2.42): every service's host, with its role.
pub fn hosts(r: &Request) -> Result<Reply, Fault> {
    let services = compute::list_services(r.caller()?)?;
    let items: Vec<Value> = services
        .iter()
        .filter(|s| r.query("zone").is_none_or(|z| z == s.zone))
        .map(|s| {
            let role = nova_binary(&s.binary);
            let role = role.strip_prefix("nova-").unwrap_or(&role);
            json!({"host_name": s.host, "service": role, "zone": s.zone})
        })
        .collect();
    Ok(Reply::json(200, &json!({"hosts": items})))
}

/// A service as the request's version shows it (its UUID from 2.53, `forced_down` from
/// 2.11).
pub fn service_view(r: &Request, s: &Service) -> Value {
    let id = if since(r, Change::UuidIds) {
        json!(crate::ids::service(&nova_binary(&s.binary), &s.host))
    } else {
        json!(s.id)
    };
    let mut v = json!({
        "id": id, "binary": nova_binary(&s.binary), "host": s.host, "zone": s.zone,
        "status": if s.disabled { "disabled" } else { "enabled" },
        "state": if s.up { "up" } else { "down" },
        "updated_at": time::format_micro(s.updated_at),
        "disabled_reason": s.disabled_reason,
    });
    if since(r, Change::ServiceForcedDown) {
        v["forced_down"] = json!(s.forced_down);
    }
    v
}

pub fn services(r: &Request) -> Result<Reply, Fault> {
    let services = compute::list_services(r.caller()?)?;
    let items: Vec<Value> = services
        .iter()
        .filter(|s| {
            r.query("binary")
                .is_none_or(|b| b == nova_binary(&s.binary))
        })
        .filter(|s| r.query("host").is_none_or(|h| h == s.host))
        .map(|s| service_view(r, s))
        .collect();
    Ok(Reply::json(200, &json!({"services": items})))
}

/// A hypervisor's id as the request's version shows it (a UUID from 2.53).
fn hypervisor_id(r: &Request, h: &Hypervisor) -> Value {
    if since(r, Change::UuidIds) {
        json!(crate::ids::hypervisor(&h.hostname))
    } else {
        json!(h.id)
    }
}

/// Whether `with_servers` asks for each hypervisor's servers (2.53).
fn with_servers(r: &Request) -> Result<bool, Fault> {
    if !since(r, Change::UuidIds) {
        return Ok(false);
    }
    match r
        .query("with_servers")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("false" | "0" | "no" | "off") => Ok(false),
        Some("true" | "1" | "yes" | "on") => Ok(true),
        Some(v) => Err(Fault::bad_request(format!(
            "Invalid input for query parameters with_servers. Value: {v}. Expected a boolean"
        ))),
    }
}

/// The hypervisors of a listing: from 2.33 paged by id (by UUID from 2.53, when
/// `hypervisor_hostname_pattern` may also pick them, but not with paging).
fn hypervisor_page(r: &Request, path: &str) -> Result<(Vec<Hypervisor>, Option<Value>), Fault> {
    let mut hs = compute::list_hypervisors(r.caller()?)?;
    let v253 = since(r, Change::UuidIds);
    if let Some(pattern) = r.query("hypervisor_hostname_pattern").filter(|_| v253) {
        if r.query("limit").is_some() || r.query("marker").is_some() {
            return Err(Fault::bad_request(
                "Paging over hypervisors with the hypervisor_hostname_pattern query parameter is not supported.",
            ));
        }
        hs.retain(|h| h.hostname.contains(pattern));
        if hs.is_empty() {
            return Err(Fault::not_found(format!(
                "No hypervisor matching '{pattern}' could be found."
            )));
        }
        return Ok((hs, None));
    }
    if !since(r, Change::HypervisorPaging) {
        return Ok((hs, None));
    }
    hs.sort_by_key(|h| h.id);
    let key = |h: &Hypervisor| {
        if v253 {
            crate::ids::hypervisor(&h.hostname)
        } else {
            h.id.to_string()
        }
    };
    let (page, links) = crate::paging::page(r, &hs, key, path)?;
    Ok((page.to_vec(), links))
}

/// The servers on a hypervisor's host, as `with_servers` shows them.
fn servers_of(c: &Caller, h: &Hypervisor) -> Result<Vec<Value>, Fault> {
    let q = ServerQuery {
        all_projects: true,
        project_id: None,
        name: None,
        vm_states: Vec::new(),
        flavor_id: None,
        image_id: None,
        host: Some(h.hostname.clone()),
        changes_since: None,
        limit: None,
        marker: None,
    };
    Ok(compute::list_servers(c, &q)?
        .iter()
        .map(|s| json!({"uuid": s.id, "name": format!("instance-{}", s.id)}))
        .collect())
}

/// Adds `servers` to each view when `with_servers` asks (before 2.75 only where there are
/// some, as Nova does).
fn add_servers(r: &Request, hs: &[Hypervisor], views: &mut [Value]) -> Result<(), Fault> {
    if !with_servers(r)? {
        return Ok(());
    }
    let c = r.caller()?;
    let always = since(r, Change::HypervisorServersAlways);
    for (h, v) in hs.iter().zip(views.iter_mut()) {
        let servers = servers_of(c, h)?;
        if always || !servers.is_empty() {
            v["servers"] = json!(servers);
        }
    }
    Ok(())
}

fn with_links(mut body: Value, key: &str, links: Option<Value>) -> Value {
    if let Some(l) = links {
        body[key] = l;
    }
    body
}

pub fn hypervisors(r: &Request) -> Result<Reply, Fault> {
    let (hs, links) = hypervisor_page(r, "os-hypervisors")?;
    let mut items: Vec<Value> = hs.iter().map(|h| hypervisor_brief(r, h)).collect();
    add_servers(r, &hs, &mut items)?;
    let body = with_links(json!({ "hypervisors": items }), "hypervisors_links", links);
    Ok(Reply::json(200, &body))
}

fn hypervisor_brief(r: &Request, h: &Hypervisor) -> Value {
    json!({"id": hypervisor_id(r, h), "hypervisor_hostname": h.hostname,
        "state": if h.state_up { "up" } else { "down" },
        "status": if h.enabled { "enabled" } else { "disabled" }})
}

/// What the hypervisor says of its CPUs (Nova's `cpu_info`): a JSON document, given as
/// a string before 2.28 and as the object from it on.
fn cpu_info(r: &Request, h: &Hypervisor) -> Value {
    let info = json!({
        "topology": {"sockets": 1, "cores": h.vcpus, "threads": 1},
        "features": [],
    });
    if crate::microversion::since(r, crate::microversion::Change::HypervisorCpuInfoObject) {
        info
    } else {
        json!(info.to_string())
    }
}

fn hypervisor_detail(r: &Request, h: &Hypervisor) -> Value {
    let service_id = if since(r, Change::UuidIds) {
        json!(crate::ids::service("nova-compute", &h.hostname))
    } else {
        json!(h.id)
    };
    json!({
        "id": hypervisor_id(r, h), "hypervisor_hostname": h.hostname,
        "state": if h.state_up { "up" } else { "down" },
        "status": if h.enabled { "enabled" } else { "disabled" },
        "hypervisor_type": h.hypervisor_type, "hypervisor_version": 1,
        "vcpus": h.vcpus, "vcpus_used": h.vcpus_used,
        "memory_mb": h.memory_mb, "memory_mb_used": h.memory_mb_used,
        "local_gb": h.local_gb, "local_gb_used": h.local_gb_used,
        "free_ram_mb": h.memory_mb as i64 - h.memory_mb_used as i64,
        "free_disk_gb": h.local_gb as i64 - h.local_gb_used as i64,
        "running_vms": h.running_vms, "current_workload": 0,
        "disk_available_least": h.local_gb as i64 - h.local_gb_used as i64,
        "host_ip": "127.0.0.1", "cpu_info": cpu_info(r, h),
        "service": {"id": service_id, "host": h.hostname, "disabled_reason": null},
    })
}

/// From 2.88 a hypervisor's document drops the figures that were often wrong (vCPUs,
/// memory, disk, load, `cpu_info`) and carries the host's `uptime` (null when its
/// compute does not answer).
fn figures_to_uptime(r: &Request, hs: &[Hypervisor], views: &mut [Value]) -> Result<(), Fault> {
    if !since(r, Change::HypervisorUptimeInline) {
        return Ok(());
    }
    let c = r.caller()?;
    for (h, v) in hs.iter().zip(views.iter_mut()) {
        if let Some(m) = v.as_object_mut() {
            for k in [
                "current_workload",
                "cpu_info",
                "vcpus",
                "vcpus_used",
                "free_disk_gb",
                "local_gb",
                "local_gb_used",
                "disk_available_least",
                "free_ram_mb",
                "memory_mb",
                "memory_mb_used",
                "running_vms",
            ] {
                m.remove(k);
            }
            let uptime = if h.state_up {
                compute::hypervisor_uptime(c, &h.hostname).ok()
            } else {
                None
            };
            m.insert("uptime".into(), json!(uptime));
        }
    }
    Ok(())
}

fn hypervisor_by_id(r: &Request) -> Result<Hypervisor, Fault> {
    let id = r.param("hypervisor_id");
    let by_uuid = since(r, Change::UuidIds);
    if by_uuid && !crate::ids::is_uuid(id) {
        return Err(Fault::bad_request(format!("Invalid uuid {id}")));
    }
    compute::list_hypervisors(r.caller()?)?
        .into_iter()
        .find(|h| {
            if by_uuid {
                crate::ids::hypervisor(&h.hostname) == id
            } else {
                h.id.to_string() == id
            }
        })
        .ok_or_else(|| Fault::not_found(format!("Hypervisor with ID {id} could not be found.")))
}

pub fn show_hypervisor(r: &Request) -> Result<Reply, Fault> {
    let h = hypervisor_by_id(r)?;
    let mut v = [hypervisor_detail(r, &h)];
    figures_to_uptime(r, std::slice::from_ref(&h), &mut v)?;
    add_servers(r, std::slice::from_ref(&h), &mut v)?;
    let [v] = v;
    Ok(Reply::json(200, &json!({ "hypervisor": v })))
}

pub fn hypervisor_uptime(r: &Request) -> Result<Reply, Fault> {
    let h = hypervisor_by_id(r)?;
    let uptime = compute::hypervisor_uptime(r.caller()?, &h.hostname)?;
    let mut v = hypervisor_brief(r, &h);
    v["uptime"] = json!(uptime);
    Ok(Reply::json(200, &json!({"hypervisor": v})))
}

pub fn hypervisor_statistics(r: &Request) -> Result<Reply, Fault> {
    let hs = compute::list_hypervisors(r.caller()?)?;
    let sum = |f: fn(&Hypervisor) -> u64| hs.iter().map(f).sum::<u64>();
    let (mem, mem_used) = (sum(|h| h.memory_mb), sum(|h| h.memory_mb_used));
    let (disk, disk_used) = (sum(|h| h.local_gb), sum(|h| h.local_gb_used));
    Ok(Reply::json(
        200,
        &json!({"hypervisor_statistics": {
            "count": hs.len(), "vcpus": sum(|h| h.vcpus), "vcpus_used": sum(|h| h.vcpus_used),
            "memory_mb": mem, "memory_mb_used": mem_used, "free_ram_mb": mem as i64 - mem_used as i64,
            "local_gb": disk, "local_gb_used": disk_used, "free_disk_gb": disk as i64 - disk_used as i64,
            "disk_available_least": disk as i64 - disk_used as i64,
            "running_vms": sum(|h| h.running_vms), "current_workload": 0,
        }}),
    ))
}

/// `os-hypervisors/{pattern}/search`: hypervisors whose hostname contains the pattern.
pub fn search_hypervisors(r: &Request) -> Result<Reply, Fault> {
    let pattern = r.param("hypervisor_id");
    let found: Vec<Value> = compute::list_hypervisors(r.caller()?)?
        .iter()
        .filter(|h| h.hostname.contains(pattern))
        .map(|h| hypervisor_brief(r, h))
        .collect();
    if found.is_empty() {
        return Err(Fault::not_found(format!(
            "No hypervisor matching '{pattern}' could be found."
        )));
    }
    Ok(Reply::json(200, &json!({"hypervisors": found})))
}

/// `os-hypervisors/{pattern}/servers`: matching hypervisors with their instances.
pub fn hypervisor_servers(r: &Request) -> Result<Reply, Fault> {
    let pattern = r.param("hypervisor_id");
    let c = r.caller()?;
    let hs: Vec<Hypervisor> = compute::list_hypervisors(c)?
        .into_iter()
        .filter(|h| h.hostname.contains(pattern))
        .collect();
    if hs.is_empty() {
        return Err(Fault::not_found(format!(
            "No hypervisor matching '{pattern}' could be found."
        )));
    }
    let mut out = Vec::new();
    for h in &hs {
        let servers = servers_of(c, h)?;
        let mut v = hypervisor_brief(r, h);
        if !servers.is_empty() {
            v["servers"] = json!(servers);
        }
        out.push(v);
    }
    Ok(Reply::json(200, &json!({"hypervisors": out})))
}

pub fn hypervisors_detail(r: &Request) -> Result<Reply, Fault> {
    let (hs, links) = hypervisor_page(r, "os-hypervisors/detail")?;
    let mut items: Vec<Value> = hs.iter().map(|h| hypervisor_detail(r, h)).collect();
    figures_to_uptime(r, &hs, &mut items)?;
    add_servers(r, &hs, &mut items)?;
    let body = with_links(json!({ "hypervisors": items }), "hypervisors_links", links);
    Ok(Reply::json(200, &body))
}
