//! `os-instance-actions`: what was done to a server, by whom, when.

use crate::bindings::metacloud::api::compute;
use crate::bindings::metacloud::api::types::InstanceAction;
use crate::microversion::{since, Change};
use crate::{time, Fault, NovaRequest, Reply, Request};
use serde_json::{json, Value};

fn view(r: &Request, server: &str, a: &InstanceAction) -> Value {
    let mut v = json!({"action": a.action, "instance_uuid": server, "message": null,
           "project_id": a.project_id, "request_id": a.request_id,
           "start_time": time::format_micro(a.start_time), "user_id": a.user_id});
    if since(r, Change::ActionPaging) {
        // An action is one step here (no events follow it): it was last changed when it
        // started.
        v["updated_at"] = json!(time::format_micro(a.start_time));
    }
    v
}

/// The `changes-since` and (from 2.66) `changes-before` bounds of a listing; since after
/// before is a 400.
pub(crate) fn changed_between(r: &Request) -> Result<(Option<i64>, Option<i64>), Fault> {
    let after = instant(r, "changes-since")?;
    let before = if since(r, Change::ChangesBefore) {
        instant(r, "changes-before")?
    } else {
        None
    };
    if let (Some(a), Some(b)) = (after, before) {
        if a > b {
            return Err(Fault::bad_request(
                "The value of changes-since must be less than or equal to changes-before.",
            ));
        }
    }
    Ok((after, before))
}

/// A `changes-since` / `changes-before` query parameter (ms), or Nova's 400.
pub(crate) fn instant(r: &Request, name: &str) -> Result<Option<i64>, Fault> {
    r.query(name)
        .map(|t| {
            time::parse(t).ok_or_else(|| {
                Fault::bad_request(format!(
                    "Invalid input for query parameters {name}. Value: {t}. '{t}' is not a 'date-time'"
                ))
            })
        })
        .transpose()
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
    let mut actions = actions_of(r, server)?;
    // Newest first, as Nova lists them.
    actions.reverse();
    if !since(r, Change::ActionPaging) {
        let items: Vec<Value> = actions.iter().map(|a| view(r, server, a)).collect();
        return Ok(Reply::json(200, &json!({ "instanceActions": items })));
    }
    // 2.58: changed since (at or after), 2.66 before (at or before), then paged by
    // request id.
    let (after, before) = changed_between(r)?;
    actions.retain(|a| {
        after.is_none_or(|t| a.start_time >= t) && before.is_none_or(|t| a.start_time <= t)
    });
    let path = format!("servers/{server}/os-instance-actions");
    let (page, links) = crate::paging::page(r, &actions, |a| a.request_id.clone(), &path)?;
    let items: Vec<Value> = page.iter().map(|a| view(r, server, a)).collect();
    let mut body = json!({ "instanceActions": items });
    if let Some(l) = links {
        body["links"] = l;
    }
    Ok(Reply::json(200, &body))
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
    let mut v = view(r, server, a);
    // No events are recorded within an action here: the list is empty.
    if r.is_admin() || since(r, Change::ActionEventsForAll) {
        v["events"] = json!([]);
    }
    Ok(Reply::json(200, &json!({"instanceAction": v})))
}
