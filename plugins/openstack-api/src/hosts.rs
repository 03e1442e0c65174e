//! Operators' resources of Nova 2.1: switching compute services on and off
//! (`PUT /os-services/{action}`), evacuating a server off a host that is down, and the
//! migrations list.

use crate::bindings::metacloud::api::compute;
use crate::bindings::metacloud::api::types::{Caller, Migration, ServiceChange};
use crate::microversion::{since, Change};
use crate::resources::nova_binary;
use crate::{time, Fault, NovaRequest, Reply, Request};
use serde_json::{json, Map, Value};

/// A body's object, or Nova's 400.
fn object<'a>(body: &'a Value, what: &str) -> Result<&'a Map<String, Value>, Fault> {
    body.as_object().ok_or_else(|| {
        Fault::bad_request(format!(
            "Invalid input for field/attribute {what}. Value: {body}. {body} is not of type 'object'"
        ))
    })
}

fn unexpected(m: &Map<String, Value>, allowed: &[&str], what: &str) -> Result<(), Fault> {
    match m.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(Fault::bad_request(format!(
            "Invalid input for field/attribute {what}. Additional properties are not allowed ('{k}' was unexpected)"
        ))),
        None => Ok(()),
    }
}

fn required_string<'a>(m: &'a Map<String, Value>, key: &str) -> Result<&'a str, Fault> {
    match m.get(key) {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 255 => Ok(s),
        Some(v) => Err(Fault::bad_request(format!(
            "Invalid input for field/attribute {key}. Value: {v}. {v} is not a valid string of 1 to 255 characters"
        ))),
        None => Err(Fault::bad_request(format!("'{key}' is a required property"))),
    }
}

/// `PUT /v2.1/os-services/{action}`: `enable`, `disable`, `disable-log-reason` with
/// `{"host", "binary"[, "disabled_reason"]}`; from 2.11 `force-down` with
/// `{"host", "binary", "forced_down"}`.
pub fn update_service(r: &Request) -> Result<Reply, Fault> {
    if since(r, Change::UuidIds) {
        return update_service_by_id(r);
    }
    let action = r.param("action");
    if action == "force-down" && since(r, Change::ServiceForcedDown) {
        return force_down(r);
    }
    let (disabled, with_reason) = match action {
        "enable" => (false, false),
        "disable" => (true, false),
        "disable-log-reason" => (true, true),
        _ => return Err(Fault::not_found(format!("Unknown action {action}"))),
    };
    let body = r.body_json()?;
    let m = object(&body, "service")?;
    let mut allowed = vec!["host", "binary"];
    if with_reason {
        allowed.push("disabled_reason");
    }
    unexpected(m, &allowed, "service")?;
    let host = required_string(m, "host")?;
    let binary = required_string(m, "binary")?;
    let reason = if with_reason {
        Some(required_string(m, "disabled_reason")?.to_string())
    } else {
        None
    };
    let c = r.caller()?;
    let service = compute::list_services(c)?
        .into_iter()
        .find(|s| s.host == host && nova_binary(&s.binary) == binary)
        .ok_or_else(|| {
            Fault::not_found(format!(
                "Service {binary} on host {host} could not be found."
            ))
        })?;
    let change = ServiceChange {
        disabled: Some(disabled),
        disabled_reason: reason,
        forced_down: None,
    };
    let s = compute::update_service(c, service.id, &change)?;
    let mut view = json!({
        "host": s.host,
        "binary": nova_binary(&s.binary),
        "status": if s.disabled { "disabled" } else { "enabled" },
    });
    if with_reason {
        view["disabled_reason"] = json!(s.disabled_reason);
    }
    Ok(Reply::json(200, &json!({ "service": view })))
}

/// The compute service `{"host", "binary"}` of a body names.
fn named_service(
    c: &Caller,
    m: &Map<String, Value>,
) -> Result<crate::bindings::metacloud::api::types::Service, Fault> {
    let host = required_string(m, "host")?;
    let binary = required_string(m, "binary")?;
    compute::list_services(c)?
        .into_iter()
        .find(|s| s.host == host && nova_binary(&s.binary) == binary)
        .ok_or_else(|| {
            Fault::not_found(format!(
                "Service {binary} on host {host} could not be found."
            ))
        })
}

/// `PUT /os-services/force-down` (2.11): marks a compute service down (or up again) at
/// once, as an operator who knows its host is gone does before evacuating.
fn force_down(r: &Request) -> Result<Reply, Fault> {
    let body = r.body_json()?;
    let m = object(&body, "service")?;
    unexpected(m, &["host", "binary", "forced_down"], "service")?;
    let forced = match m.get("forced_down") {
        Some(Value::Bool(b)) => *b,
        Some(v) => {
            return Err(Fault::bad_request(format!(
                "Invalid input for field/attribute forced_down. Value: {v}. {v} is not of type 'boolean'"
            )))
        }
        None => return Err(Fault::bad_request("'forced_down' is a required property")),
    };
    let c = r.caller()?;
    let service = named_service(c, m)?;
    let change = ServiceChange {
        disabled: None,
        disabled_reason: None,
        forced_down: Some(forced),
    };
    let s = compute::update_service(c, service.id, &change)?;
    Ok(Reply::json(
        200,
        &json!({"service": {"host": s.host, "binary": nova_binary(&s.binary),
            "forced_down": s.forced_down}}),
    ))
}

/// The `evacuate` server action: `{"host"?, "onSharedStorage", "adminPass"?}` at 2.1,
/// where the reply carries the admin password (the given one, or a generated one); from
/// 2.14 `onSharedStorage` is gone (storage is detected) and the reply is empty. Storage
/// is never shared here: the server is rebuilt from its image.
pub fn evacuate(r: &Request, c: &Caller, id: &str, args: &Value) -> Result<Reply, Fault> {
    let m = object(args, "evacuate")?;
    let v214 = since(r, Change::EvacuateDetectsStorage);
    let mut allowed = vec!["host", "adminPass"];
    if !v214 {
        allowed.push("onSharedStorage");
    }
    // 2.29 to 2.67.
    let force_allowed = since(r, Change::EvacuateForce) && !since(r, Change::NoForcedEvacuate);
    if force_allowed {
        allowed.push("force");
    }
    unexpected(m, &allowed, "evacuate")?;
    // 2.29's `force` skips the scheduler's checks of the host named; the host named is
    // always checked for room here, so forcing changes nothing but is validated as Nova
    // does.
    match m.get("force") {
        None | Some(Value::Bool(false)) => {}
        Some(Value::Bool(true)) => {
            if m.get("host").is_none_or(Value::is_null) {
                return Err(Fault::bad_request(
                    "Can't force to a non-provided destination",
                ));
            }
        }
        Some(v) => {
            return Err(Fault::bad_request(format!(
                "Invalid input for field/attribute force. Value: {v}. {v} is not of type 'boolean'"
            )))
        }
    }
    let shared = match m.get("onSharedStorage") {
        None if v214 => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) if ["true", "false"].contains(&s.to_ascii_lowercase().as_str()) => {
            s.eq_ignore_ascii_case("true")
        }
        Some(v) => {
            return Err(Fault::bad_request(format!(
                "Invalid input for field/attribute onSharedStorage. Value: {v}. {v} is not of type 'boolean', 'string'"
            )))
        }
        None => {
            return Err(Fault::bad_request(
                "Invalid input for field/attribute evacuate. 'onSharedStorage' is a required property",
            ))
        }
    };
    if shared {
        // No shared instance storage here: the disk is always made anew.
        return Err(Fault::bad_request(
            "Instance storage is not shared between hosts here; evacuate with onSharedStorage false.",
        ));
    }
    let password = match m.get("adminPass") {
        None | Some(Value::Null) => crate::views::admin_pass(id),
        Some(Value::String(p)) => p.clone(),
        Some(v) => {
            return Err(Fault::bad_request(format!(
            "Invalid input for field/attribute adminPass. Value: {v}. {v} is not of type 'string'"
        )))
        }
    };
    let mut args = Vec::new();
    match m.get("host") {
        None | Some(Value::Null) => {}
        Some(_) => args.push(("host".to_string(), required_string(m, "host")?.to_string())),
    }
    if since(r, Change::EvacuatedStopped) {
        args.push(("stop".into(), "true".into()));
    }
    compute::server_action(c, id, "evacuate", &args)?;
    if v214 {
        return Ok(Reply::empty(200));
    }
    Ok(Reply::json(200, &json!({ "adminPass": password })))
}

/// `GET /v2.1/os-migrations` (admin), as 2.1 shows them; `instance_uuid` filters.
pub fn migrations(r: &Request) -> Result<Reply, Fault> {
    let c = r.caller()?;
    let mut all = compute::list_migrations(c, r.query("instance_uuid"))?;
    let paged = since(r, Change::MigrationPaging);
    if paged {
        // 2.59: newest first, changed since (2.66: and before), paged by uuid.
        let (after, before) = crate::actions::changed_between(r)?;
        all.retain(|m| {
            after.is_none_or(|t| m.updated_at >= t) && before.is_none_or(|t| m.updated_at <= t)
        });
        all.sort_by_key(|m| std::cmp::Reverse((m.created_at, m.id)));
    }
    let filtered: Vec<Migration> = all
        .into_iter()
        .filter(|m| r.query("status").is_none_or(|s| s == m.status))
        .filter(|m| {
            r.query("host")
                .is_none_or(|h| h == m.source_host || h == m.dest_host)
        })
        .filter(|m| {
            r.query("migration_type")
                .is_none_or(|t| t == m.migration_type)
        })
        .filter(|m| {
            // 2.80: who asked for it.
            !since(r, Change::MigrationOwner)
                || (r
                    .query("user_id")
                    .is_none_or(|u| Some(u) == m.user_id.as_deref())
                    && r.query("project_id")
                        .is_none_or(|p| Some(p) == m.project_id.as_deref()))
        })
        .collect();
    let (shown, links) = if paged {
        crate::paging::page(r, &filtered, |m| m.uuid.clone(), "os-migrations")?
    } else {
        (&filtered[..], None)
    };
    let items: Vec<Value> = shown
        .iter()
        .map(|m| {
            let mut v = json!({
                "id": m.id,
                "status": m.status,
                "instance_uuid": m.instance_id,
                "source_compute": m.source_host,
                "source_node": m.source_host,
                "dest_compute": m.dest_host,
                "dest_node": m.dest_host,
                "dest_host": m.dest_host,
                "old_instance_type_id": flavor_number(&m.flavor_id),
                "new_instance_type_id": flavor_number(&m.flavor_id),
                "source_region": null,
                "dest_region": null,
                "created_at": time::format_micro(m.created_at),
                "updated_at": time::format_micro(m.updated_at),
            });
            if since(r, Change::MigrationType) {
                // `links` only for live migrations in progress, which are never made here.
                v["migration_type"] = json!(m.migration_type);
            }
            if paged {
                v["uuid"] = json!(m.uuid);
            }
            if since(r, Change::MigrationOwner) {
                v["user_id"] = json!(m.user_id);
                v["project_id"] = json!(m.project_id);
            }
            v
        })
        .collect();
    let mut body = json!({ "migrations": items });
    if let Some(l) = links {
        body["migrations_links"] = l;
    }
    Ok(Reply::json(200, &body))
}

/// A flavor id as Nova's integer `instance_type_id` (null when the id is not a number).
fn flavor_number(id: &str) -> Value {
    id.parse::<i64>().map_or(Value::Null, |n| json!(n))
}

/// `GET /servers/{id}/migrations` (2.23, admin): the server's live migrations in
/// progress. Live migration is not built, so the list is empty for every server the
/// caller sees (404 for others).
pub fn server_migrations(r: &Request) -> Result<Reply, Fault> {
    compute::get_server(r.caller()?, r.param("server_id"))?;
    Ok(Reply::json(200, &json!({ "migrations": [] })))
}

/// `GET /servers/{id}/migrations/{migration_id}` (2.23): never one in progress.
pub fn server_migration(r: &Request) -> Result<Reply, Fault> {
    let server = r.param("server_id");
    compute::get_server(r.caller()?, server)?;
    Err(Fault::not_found(format!(
        "In-progress live migration {} is not found for server {server}.",
        r.param("migration_id")
    )))
}

/// The service a path's id names: its number before 2.53, its UUID from 2.53 on (400
/// when it is not one, 404 when no service has it).
fn service_at(
    r: &Request,
    c: &Caller,
) -> Result<crate::bindings::metacloud::api::types::Service, Fault> {
    let id = r.param("action");
    let by_uuid = since(r, Change::UuidIds);
    if by_uuid && !crate::ids::is_uuid(id) {
        return Err(Fault::bad_request(format!("Invalid uuid {id}")));
    }
    compute::list_services(c)?
        .into_iter()
        .find(|s| {
            if by_uuid {
                crate::ids::service(&nova_binary(&s.binary), &s.host) == id
            } else {
                s.id.to_string() == id
            }
        })
        .ok_or_else(|| Fault::not_found(format!("Service {id} could not be found.")))
}

/// `DELETE /os-services/{id}` (admins): a compute service goes with its hypervisor, once
/// no server lives on its host (409).
pub fn delete_service(r: &Request) -> Result<Reply, Fault> {
    let c = r.caller()?;
    let service = service_at(r, c)?;
    compute::delete_service(c, service.id)?;
    Ok(Reply::empty(204))
}

/// `PUT /os-services/{service_id}` (2.53): `status` (`enabled` / `disabled`, with an
/// optional `disabled_reason`) and `forced_down`; answers the whole service.
fn update_service_by_id(r: &Request) -> Result<Reply, Fault> {
    let body = r.body_json()?;
    let m = object(&body, "service")?;
    unexpected(m, &["status", "disabled_reason", "forced_down"], "service")?;
    let disabled = match m.get("status") {
        None => None,
        Some(Value::String(s)) if s == "enabled" => Some(false),
        Some(Value::String(s)) if s == "disabled" => Some(true),
        Some(v) => {
            return Err(Fault::bad_request(format!(
                "Invalid input for field/attribute status. Value: {v}. {v} is not one of ['enabled', 'disabled']"
            )))
        }
    };
    let reason = match m.get("disabled_reason") {
        None => None,
        Some(_) if disabled != Some(true) => {
            return Err(Fault::bad_request(
                "Specifying 'disabled_reason' with status 'enabled' is invalid.",
            ))
        }
        Some(_) => Some(required_string(m, "disabled_reason")?.to_string()),
    };
    let forced = match m.get("forced_down") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(v) => {
            return Err(Fault::bad_request(format!(
                "Invalid input for field/attribute forced_down. Value: {v}. {v} is not of type 'boolean'"
            )))
        }
    };
    if disabled.is_none() && forced.is_none() {
        return Err(Fault::bad_request(
            "At least one of 'status' or 'forced_down' must be specified in the request body.",
        ));
    }
    let c = r.caller()?;
    let service = service_at(r, c)?;
    let change = ServiceChange {
        disabled,
        disabled_reason: reason,
        forced_down: forced,
    };
    let s = compute::update_service(c, service.id, &change)?;
    Ok(Reply::json(
        200,
        &json!({ "service": crate::resources::service_view(r, &s) }),
    ))
}
