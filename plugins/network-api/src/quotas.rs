//! Quotas of the networking resources (`/v2.0/quotas`): the host's `floating_ips`,
//! `security_groups` and `security_group_rules` limits under Neutron's names. Networks,
//! subnets, ports and routers are not limited here (-1, with their use counted).

use crate::bindings::metacloud::api::compute;
use crate::bindings::metacloud::api::types::QuotaUsage;
use crate::body::envelope;
use crate::errors::{self, from_op};
use crate::{is_admin, Fault, Reply, Request};
use serde_json::{json, Map, Value};

/// Neutron's name and the host's, for the limited resources.
const LIMITED: &[(&str, &str)] = &[
    ("floatingip", "floating_ips"),
    ("security_group", "security_groups"),
    ("security_group_rule", "security_group_rules"),
];

/// Resources Neutron reports that nothing limits here.
const UNLIMITED: &[&str] = &["network", "subnet", "port", "router"];

/// The project asked for, if the caller may see its quotas (its own, or any for admins).
fn project(r: &Request) -> Result<Result<&str, Reply>, Fault> {
    let project = r.param("project_id");
    if project != r.caller()?.project_id && !is_admin(r) {
        return Ok(Err(errors::typed(
            403,
            "HTTPForbidden",
            "Non-admin is not authorised to access quotas for another tenant",
        )));
    }
    Ok(Ok(project))
}

/// `(limit, used)` of each resource Neutron names, for `project`.
fn usage(r: &Request, project: &str) -> Result<Vec<(&'static str, i64, i64)>, Fault> {
    let c = r.caller()?;
    let host: Vec<QuotaUsage> = compute::get_quotas(c, project).map_err(from_op)?;
    let mut out: Vec<(&'static str, i64, i64)> = LIMITED
        .iter()
        .map(|(neutron, ours)| {
            let q = host.iter().find(|q| q.resource == *ours);
            (
                *neutron,
                q.map(|q| q.limit).unwrap_or(-1),
                q.map(|q| q.in_use).unwrap_or(0),
            )
        })
        .collect();
    let admin = is_admin(r);
    let networks = compute::list_networks(c, admin).map_err(from_op)?;
    let owned = networks
        .iter()
        .filter(|n| n.project_id.as_deref() == Some(project))
        .count() as i64;
    let ports = compute::list_ports(c, admin)
        .map_err(from_op)?
        .iter()
        .filter(|p| p.project_id == project)
        .count() as i64;
    for name in UNLIMITED {
        let used = match *name {
            "network" | "subnet" => owned,
            "port" => ports,
            _ => 0,
        };
        out.push((name, -1, used));
    }
    Ok(out)
}

fn quota_body(items: &[(&str, i64, i64)], detail: bool) -> Value {
    let mut m = Map::new();
    for (name, limit, used) in items {
        m.insert(
            name.to_string(),
            if detail {
                json!({"limit": limit, "used": used, "reserved": 0})
            } else {
                json!(limit)
            },
        );
    }
    json!({ "quota": Value::Object(m) })
}

pub fn show(r: &Request) -> Result<Reply, Fault> {
    let project = match project(r)? {
        Ok(p) => p,
        Err(refused) => return Ok(refused),
    };
    Ok(Reply::json(200, &quota_body(&usage(r, project)?, false)))
}

pub fn details(r: &Request) -> Result<Reply, Fault> {
    let project = match project(r)? {
        Ok(p) => p,
        Err(refused) => return Ok(refused),
    };
    Ok(Reply::json(200, &quota_body(&usage(r, project)?, true)))
}

/// `PUT /v2.0/quotas/{project_id}` (admin): new limits of the limited resources; the others
/// cannot be limited here (400).
pub fn update(r: &Request) -> Result<Reply, Fault> {
    let project = r.param("project_id");
    let wanted = envelope(r, "quota")?;
    let mut changes = Vec::new();
    for (key, value) in &wanted {
        let Some((_, ours)) = LIMITED.iter().find(|(n, _)| n == key) else {
            return Err(Fault::bad_request(format!(
                "Unrecognized attribute(s) '{key}': only {} can be limited here",
                LIMITED
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        let limit = value
            .as_i64()
            .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
            .filter(|l| *l >= -1)
            .ok_or_else(|| {
                Fault::bad_request(format!(
                    "Invalid input for {key}. Reason: '{value}' is not an integer >= -1."
                ))
            })?;
        changes.push((*ours, limit));
    }
    let c = r.caller()?;
    for (ours, limit) in changes {
        compute::set_quota(c, project, ours, limit).map_err(from_op)?;
    }
    Ok(Reply::json(200, &quota_body(&usage(r, project)?, false)))
}

/// `DELETE /v2.0/quotas/{project_id}` (admin): the limited resources back to the defaults.
pub fn reset(r: &Request) -> Result<Reply, Fault> {
    let project = r.param("project_id");
    let c = r.caller()?;
    let defaults = compute::default_quotas(c).map_err(from_op)?;
    for (_, ours) in LIMITED {
        if let Some(d) = defaults.iter().find(|q| q.resource == *ours) {
            compute::set_quota(c, project, ours, d.limit).map_err(from_op)?;
        }
    }
    Ok(Reply::empty(204))
}
