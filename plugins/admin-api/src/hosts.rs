//! Services, compute hosts and hypervisors; maintenance, forced down and evacuation.

use crate::bindings::metacloud::api::compute;
use crate::bindings::metacloud::api::types::{
    Caller, Hypervisor, Migration, Server, ServerQuery, Service, ServiceChange,
};
use crate::{rfc3339, Fault, Reply, Request};
use serde::Deserialize;
use serde_json::{json, Value};

const COMPUTE: &str = "metacloud-compute";

fn service_view(s: &Service) -> Value {
    json!({
        "id": s.id,
        "binary": s.binary,
        "host": s.host,
        "zone": s.zone,
        "disabled": s.disabled,
        "disabled_reason": s.disabled_reason,
        "forced_down": s.forced_down,
        "up": s.up,
        "last_seen_at": rfc3339(s.updated_at),
    })
}

fn hypervisor_view(h: &Hypervisor) -> Value {
    json!({
        "host": h.hostname,
        "type": h.hypervisor_type,
        "up": h.state_up,
        "enabled": h.enabled,
        "vcpus": h.vcpus,
        "vcpus_used": h.vcpus_used,
        "memory_mb": h.memory_mb,
        "memory_mb_used": h.memory_mb_used,
        "local_gb": h.local_gb,
        "local_gb_used": h.local_gb_used,
        "running_vms": h.running_vms,
    })
}

fn server_brief(s: &Server) -> Value {
    json!({
        "id": s.id,
        "name": s.name,
        "project_id": s.project_id,
        "vm_state": s.vm_state,
        "task_state": s.task_state,
    })
}

fn migration_view(m: &Migration) -> Value {
    json!({
        "id": m.uuid,
        "server_id": m.instance_id,
        "type": m.migration_type,
        "source_host": m.source_host,
        "dest_host": m.dest_host,
        "status": m.status,
        "flavor_id": m.flavor_id,
        "created_at": rfc3339(m.created_at),
        "updated_at": rfc3339(m.updated_at),
    })
}

pub fn list_services(r: &Request) -> Result<Reply, Fault> {
    let all = compute::list_services(r.caller()?)?;
    let items: Vec<Value> = all
        .iter()
        .filter(|s| r.query("binary").is_none_or(|b| b == s.binary))
        .filter(|s| r.query("host").is_none_or(|h| h == s.host))
        .map(service_view)
        .collect();
    Ok(Reply::json(200, &json!({ "services": items })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServicePatch {
    disabled: Option<bool>,
    disabled_reason: Option<String>,
    forced_down: Option<bool>,
}

pub fn update_service(r: &Request) -> Result<Reply, Fault> {
    let id: i64 = r.param("service_id").parse().map_err(|_| {
        Fault::not_found(format!(
            "Service {} could not be found.",
            r.param("service_id")
        ))
    })?;
    let patch: ServicePatch = r.json()?;
    if patch.disabled.is_none() && patch.disabled_reason.is_none() && patch.forced_down.is_none() {
        return Err(Fault::bad_request(
            "Nothing to change: give disabled, disabled_reason or forced_down.",
        ));
    }
    let change = ServiceChange {
        disabled: patch.disabled,
        disabled_reason: patch.disabled_reason,
        forced_down: patch.forced_down,
    };
    let s = compute::update_service(r.caller()?, id, &change)?;
    Ok(Reply::json(200, &json!({ "service": service_view(&s) })))
}

/// The compute service of `host`, or 404.
fn compute_service(c: &Caller, host: &str) -> Result<Service, Fault> {
    compute::list_services(c)?
        .into_iter()
        .find(|s| s.binary == COMPUTE && s.host == host)
        .ok_or_else(|| Fault::not_found(format!("Compute host {host} could not be found.")))
}

fn servers_on(c: &Caller, host: &str) -> Result<Vec<Server>, Fault> {
    let q = ServerQuery {
        all_projects: true,
        project_id: None,
        name: None,
        vm_states: Vec::new(),
        flavor_id: None,
        image_id: None,
        host: Some(host.to_string()),
        changes_since: None,
        limit: None,
        marker: None,
    };
    Ok(compute::list_servers(c, &q)?)
}

fn host_view(s: &Service, h: Option<&Hypervisor>) -> Value {
    json!({
        "host": s.host,
        "zone": s.zone,
        "service_id": s.id,
        "up": s.up,
        "forced_down": s.forced_down,
        "disabled": s.disabled,
        "disabled_reason": s.disabled_reason,
        "schedulable": s.up && !s.disabled,
        "hypervisor": h.map(hypervisor_view),
    })
}

pub fn list_hosts(r: &Request) -> Result<Reply, Fault> {
    let c = r.caller()?;
    let hypervisors = compute::list_hypervisors(c)?;
    let items: Vec<Value> = compute::list_services(c)?
        .iter()
        .filter(|s| s.binary == COMPUTE)
        .map(|s| host_view(s, hypervisors.iter().find(|h| h.hostname == s.host)))
        .collect();
    Ok(Reply::json(200, &json!({ "hosts": items })))
}

fn host_detail(c: &Caller, host: &str) -> Result<Value, Fault> {
    let s = compute_service(c, host)?;
    let hypervisors = compute::list_hypervisors(c)?;
    let mut view = host_view(&s, hypervisors.iter().find(|h| h.hostname == host));
    let servers: Vec<Value> = servers_on(c, host)?.iter().map(server_brief).collect();
    view["servers"] = json!(servers);
    Ok(view)
}

pub fn show_host(r: &Request) -> Result<Reply, Fault> {
    let view = host_detail(r.caller()?, r.param("host"))?;
    Ok(Reply::json(200, &json!({ "host": view })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Maintenance {
    enabled: bool,
    reason: Option<String>,
}

/// Maintenance on: no new instances go to the host (its compute service is disabled with
/// the reason); the reply lists the servers still on it, to move. Off: schedulable again.
pub fn maintenance(r: &Request) -> Result<Reply, Fault> {
    let body: Maintenance = r.json()?;
    let c = r.caller()?;
    let host = r.param("host");
    let s = compute_service(c, host)?;
    let change = if body.enabled {
        ServiceChange {
            disabled: Some(true),
            disabled_reason: Some(body.reason.unwrap_or_else(|| "maintenance".into())),
            forced_down: None,
        }
    } else {
        if body.reason.is_some() {
            return Err(Fault::bad_request(
                "A reason is given only when maintenance is enabled.",
            ));
        }
        ServiceChange {
            disabled: Some(false),
            disabled_reason: None,
            forced_down: None,
        }
    };
    compute::update_service(c, s.id, &change)?;
    Ok(Reply::json(200, &json!({ "host": host_detail(c, host)? })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct MoveServer {
    host: Option<String>,
}

fn target_args(target: Option<&str>) -> Vec<(String, String)> {
    target
        .map(|h| vec![("host".to_string(), h.to_string())])
        .unwrap_or_default()
}

/// Moves one server with `action` (`evacuate`, `migrate`) to the body's `host`, or where
/// the scheduler puts it; the reply names the move `what`.
fn move_server(r: &Request, action: &str, what: &str) -> Result<Reply, Fault> {
    let body: MoveServer = if r.body.is_empty() {
        MoveServer::default()
    } else {
        r.json()?
    };
    let id = r.param("server_id");
    let args = target_args(body.host.as_deref());
    compute::server_action(r.caller()?, id, action, &args)?;
    Ok(Reply::json(
        202,
        &json!({ what: {"server_id": id, "target": body.host} }),
    ))
}

/// One server off its down host.
pub fn evacuate_server(r: &Request) -> Result<Reply, Fault> {
    move_server(r, "evacuate", "evacuation")
}

/// A cold migration: the server's disk moves to another host, where it waits in
/// VERIFY_RESIZE for `migration/confirm` or `migration/revert`.
pub fn migrate_server(r: &Request) -> Result<Reply, Fault> {
    move_server(r, "migrate", "migration")
}

pub fn confirm_migration(r: &Request) -> Result<Reply, Fault> {
    compute::server_action(r.caller()?, r.param("server_id"), "confirm-resize", &[])?;
    Ok(Reply::empty(204))
}

pub fn revert_migration(r: &Request) -> Result<Reply, Fault> {
    compute::server_action(r.caller()?, r.param("server_id"), "revert-resize", &[])?;
    Ok(Reply::json(
        202,
        &json!({"server_id": r.param("server_id")}),
    ))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct EvacuateHost {
    target: Option<String>,
}

/// Every server off a host that is down; one result per server.
pub fn evacuate_host(r: &Request) -> Result<Reply, Fault> {
    let body: EvacuateHost = if r.body.is_empty() {
        EvacuateHost::default()
    } else {
        r.json()?
    };
    let c = r.caller()?;
    let host = r.param("host");
    let s = compute_service(c, host)?;
    if s.up {
        return Err(Fault::new(
            409,
            format!("Compute service of {host} is still up; force it down before evacuating."),
        ));
    }
    let args = target_args(body.target.as_deref());
    let results: Vec<Value> = servers_on(c, host)?
        .iter()
        .map(
            |server| match compute::server_action(c, &server.id, "evacuate", &args) {
                Ok(()) => json!({"server_id": server.id, "accepted": true}),
                Err(e) => {
                    let e = Fault::from(e);
                    json!({"server_id": server.id, "accepted": false,
                       "error": {"code": e.status, "message": e.message}})
                }
            },
        )
        .collect();
    Ok(Reply::json(
        202,
        &json!({"host": host, "target": body.target, "evacuations": results}),
    ))
}

pub fn list_hypervisors(r: &Request) -> Result<Reply, Fault> {
    let items: Vec<Value> = compute::list_hypervisors(r.caller()?)?
        .iter()
        .map(hypervisor_view)
        .collect();
    Ok(Reply::json(200, &json!({ "hypervisors": items })))
}

pub fn show_hypervisor(r: &Request) -> Result<Reply, Fault> {
    let c = r.caller()?;
    let host = r.param("host");
    let h = compute::list_hypervisors(c)?
        .into_iter()
        .find(|h| h.hostname == host)
        .ok_or_else(|| Fault::not_found(format!("Hypervisor {host} could not be found.")))?;
    let mut view = hypervisor_view(&h);
    // A host that is down has no uptime to tell.
    view["uptime"] = match compute::hypervisor_uptime(c, host) {
        Ok(u) => json!(u),
        Err(_) => Value::Null,
    };
    Ok(Reply::json(200, &json!({ "hypervisor": view })))
}

pub fn migrations(r: &Request) -> Result<Reply, Fault> {
    let all = compute::list_migrations(r.caller()?, r.query("server_id"))?;
    let items: Vec<Value> = all
        .iter()
        .filter(|m| r.query("status").is_none_or(|s| s == m.status))
        .filter(|m| {
            r.query("host")
                .is_none_or(|h| h == m.source_host || h == m.dest_host)
        })
        .map(migration_view)
        .collect();
    Ok(Reply::json(200, &json!({ "migrations": items })))
}
