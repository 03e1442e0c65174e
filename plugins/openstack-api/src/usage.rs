//! `os-simple-tenant-usage`: what each project's servers used over a period (hours, and
//! vCPU-, RAM- and disk-hours), for every project (admins) or one; paged from 2.40.

use crate::bindings::metacloud::api::compute;
use crate::bindings::metacloud::api::types::{ServerUsage, UsageReport};
use crate::microversion::{since, Change};
use crate::{time, Fault, Reply, Request};
use serde_json::{json, Map, Value};

/// A `start` or `end` query parameter (none: the host's now).
fn instant(r: &Request, name: &str) -> Result<Option<i64>, Fault> {
    r.query(name)
        .map(|v| {
            time::parse(v).ok_or_else(|| {
                Fault::bad_request(format!(
                    "Invalid input for query parameters {name}. Value: {v}. Invalid date format"
                ))
            })
        })
        .transpose()
}

/// Hours `s` ran within the report's period (Nova's `_hours_for`).
fn hours(s: &ServerUsage, start: i64, end: i64) -> f64 {
    if s.terminated_at.is_some_and(|t| t < start) || s.launched_at > end {
        return 0.0;
    }
    let from = s.launched_at.max(start);
    let to = s.terminated_at.map_or(end, |t| t.min(end));
    (to - from).max(0) as f64 / 3_600_000.0
}

fn server_view(s: &ServerUsage, report: &UsageReport) -> Value {
    let h = hours(s, report.start, report.end);
    let ended = s.terminated_at;
    let uptime = (ended.unwrap_or(report.now) - s.launched_at).max(0) / 1000;
    json!({
        "instance_id": s.id,
        "name": s.name,
        "tenant_id": s.project_id,
        "flavor": s.flavor,
        "vcpus": s.vcpus,
        "memory_mb": s.ram_mb,
        "local_gb": s.disk_gb,
        "hours": h,
        "started_at": time::format_micro(s.launched_at),
        "ended_at": ended.map(time::format_micro),
        "state": if ended.is_some() { "terminated" } else { s.vm_state.as_str() },
        "uptime": uptime,
    })
}

/// One project's totals, with its servers when `detailed`.
fn tenant_view(
    project: &str,
    servers: &[&ServerUsage],
    report: &UsageReport,
    detailed: bool,
) -> Value {
    let (mut total, mut vcpus, mut ram, mut disk) = (0.0, 0.0, 0.0, 0.0);
    for s in servers {
        let h = hours(s, report.start, report.end);
        total += h;
        vcpus += h * s.vcpus as f64;
        ram += h * s.ram_mb as f64;
        disk += h * s.disk_gb as f64;
    }
    let mut v = json!({
        "tenant_id": project,
        "start": time::format_micro(report.start),
        "stop": time::format_micro(report.end),
        "total_hours": total,
        "total_vcpus_usage": vcpus,
        "total_memory_mb_usage": ram,
        "total_local_gb_usage": disk,
    });
    if detailed {
        v["server_usages"] = servers.iter().map(|s| server_view(s, report)).collect();
    }
    v
}

/// The report's servers after `marker`, at most `limit` (2.40), with the `next` link.
fn paged<'a>(
    r: &Request,
    servers: &'a [ServerUsage],
    path: &str,
) -> Result<(&'a [ServerUsage], Option<Value>), Fault> {
    if !since(r, Change::UsagePaging) {
        return Ok((servers, None));
    }
    let (page, links) = crate::paging::page(r, servers, |s| s.id.clone(), path)?;
    // Nova's link keeps the period asked for.
    let links = links.map(|mut l| {
        let mut extra = String::new();
        for k in ["start", "end", "detailed"] {
            if let Some(v) = r.query(k) {
                extra.push_str(&format!("&{k}={v}"));
            }
        }
        if let Some(h) = l[0]["href"].as_str().map(|h| format!("{h}{extra}")) {
            l[0]["href"] = json!(h);
        }
        l
    });
    Ok((page, links))
}

/// `GET /os-simple-tenant-usage` (admins): every project's usage; servers with
/// `detailed=1`.
pub fn index(r: &Request) -> Result<Reply, Fault> {
    let report =
        compute::server_usages(r.caller()?, None, instant(r, "start")?, instant(r, "end")?)?;
    let detailed = r
        .query("detailed")
        .is_some_and(|d| d.parse::<i64>().is_ok_and(|n| n != 0));
    let (servers, links) = paged(r, &report.servers, "os-simple-tenant-usage")?;
    let mut by_project: Vec<(&str, Vec<&ServerUsage>)> = Vec::new();
    for s in servers {
        match by_project.iter_mut().find(|(p, _)| *p == s.project_id) {
            Some((_, list)) => list.push(s),
            None => by_project.push((&s.project_id, vec![s])),
        }
    }
    let usages: Vec<Value> = by_project
        .iter()
        .map(|(p, list)| tenant_view(p, list, &report, detailed))
        .collect();
    let mut body = Map::new();
    body.insert("tenant_usages".into(), json!(usages));
    if let Some(l) = links {
        body.insert("tenant_usages_links".into(), l);
    }
    Ok(Reply::json(200, &Value::Object(body)))
}

/// `GET /os-simple-tenant-usage/{tenant_id}`: one project's usage with its servers (an
/// empty object when none ran).
pub fn show(r: &Request) -> Result<Reply, Fault> {
    let project = r.param("tenant_id");
    let report = compute::server_usages(
        r.caller()?,
        Some(project),
        instant(r, "start")?,
        instant(r, "end")?,
    )?;
    let path = format!("os-simple-tenant-usage/{project}");
    let (servers, links) = paged(r, &report.servers, &path)?;
    let list: Vec<&ServerUsage> = servers.iter().collect();
    let usage = if list.is_empty() {
        json!({})
    } else {
        tenant_view(project, &list, &report, true)
    };
    let mut body = Map::new();
    body.insert("tenant_usage".into(), usage);
    if let Some(l) = links {
        body.insert("tenant_usage_links".into(), l);
    }
    Ok(Reply::json(200, &Value::Object(body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(launched: i64, terminated: Option<i64>) -> ServerUsage {
        ServerUsage {
            id: "i".into(),
            name: "n".into(),
            project_id: "p".into(),
            flavor: "f".into(),
            vcpus: 2,
            ram_mb: 512,
            disk_gb: 1,
            vm_state: "active".into(),
            launched_at: launched,
            terminated_at: terminated,
        }
    }

    #[test]
    fn hours_count_only_the_part_within_the_period() {
        const H: i64 = 3_600_000;
        // Ran the whole period, started before it, ended after it.
        assert_eq!(hours(&usage(0, None), 2 * H, 5 * H), 3.0);
        assert_eq!(hours(&usage(3 * H, None), 2 * H, 5 * H), 2.0);
        assert_eq!(hours(&usage(0, Some(4 * H)), 2 * H, 5 * H), 2.0);
        // Outside it.
        assert_eq!(hours(&usage(0, Some(H)), 2 * H, 5 * H), 0.0);
        assert_eq!(hours(&usage(6 * H, None), 2 * H, 5 * H), 0.0);
    }
}
