//! `os-instance-actions`: what was done to a server, by whom, when.

use crate::bindings::metacloud::api::compute;
use crate::bindings::metacloud::api::types::InstanceAction;
use crate::microversion::{since, Change};
use crate::{time, Fault, NovaRequest, Reply, Request};
use serde_json::{json, Value};

fn view(server: &str, a: &InstanceAction) -> Value {
    json!({"action": a.action, "instance_uuid": server, "message": null,
           "project_id": a.project_id, "request_id": a.request_id,
           "start_time": time::format_micro(a.start_time), "user_id": a.user_id})
}

/// The server's actions; from 2.21 a deleted server's too.
fn actions_of(r: &Request, server: &str) -> Result<Vec<InstanceAction>, Fault> {
    let c = r.caller()?;
    Ok(if since(r, Change::DeletedServerActions) {
        compute::list_instance_actions_of_any(c, server)?
    } else {
        compute::list_instance_actions(c, server)?
    })
}

pub fn list(r: &Request) -> Result<Reply, Fault> {
    let server = r.param("server_id");
    let actions = actions_of(r, server)?;
    // Newest first, as Nova lists them.
    let items: Vec<Value> = actions.iter().rev().map(|a| view(server, a)).collect();
    Ok(Reply::json(200, &json!({"instanceActions": items})))
}

pub fn show(r: &Request) -> Result<Reply, Fault> {
    let server = r.param("server_id");
    let request_id = r.param("request_id");
    let actions = actions_of(r, server)?;
    let a = actions
        .iter()
        .find(|a| a.request_id == request_id)
        .ok_or_else(|| {
            Fault::not_found(format!(
                "Action for request_id {request_id} on instance {server} not found"
            ))
        })?;
    let mut v = view(server, a);
    // No events are recorded within an action here: the list is empty.
    if r.is_admin() || since(r, Change::ActionEventsForAll) {
        v["events"] = json!([]);
    }
    Ok(Reply::json(200, &json!({"instanceAction": v})))
}
