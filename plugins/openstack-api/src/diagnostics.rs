//! `GET /servers/{id}/diagnostics` (admins): what the hypervisor says of a running
//! server — libvirt's free-form keys before 2.48, Nova's standard document from it.

use crate::bindings::metacloud::api::compute;
use crate::bindings::metacloud::api::types::ServerDiagnostics;
use crate::microversion::{since, Change};
use crate::{Fault, Reply, Request};
use serde_json::{json, Map, Value};

pub fn show(r: &Request) -> Result<Reply, Fault> {
    let d = compute::get_server_diagnostics(r.caller()?, r.param("server_id"))?;
    let body = if since(r, Change::StandardDiagnostics) {
        standard(&d)
    } else {
        free_form(&d)
    };
    Ok(Reply::json(200, &body))
}

/// The 2.48 document.
fn standard(d: &ServerDiagnostics) -> Value {
    json!({
        "state": d.state,
        "driver": "libvirt",
        "hypervisor": d.hypervisor,
        "hypervisor_os": "linux",
        "uptime": d.uptime_secs,
        "config_drive": false,
        "num_cpus": d.cpus.len(),
        "num_nics": d.nics.len(),
        "num_disks": d.disks.len(),
        "memory_details": {
            "maximum": d.memory_max_kib.map(|k| k / 1024),
            "used": d.memory_used_kib.map(|k| k / 1024),
        },
        "cpu_details": d.cpus.iter().map(|c| json!({
            "id": c.id, "time": c.time_ns, "utilisation": null,
        })).collect::<Vec<_>>(),
        "nic_details": d.nics.iter().map(|n| json!({
            "mac_address": n.mac,
            "rx_octets": n.rx_octets, "rx_errors": n.rx_errors, "rx_drop": n.rx_drop,
            "rx_packets": n.rx_packets, "rx_rate": null,
            "tx_octets": n.tx_octets, "tx_errors": n.tx_errors, "tx_drop": n.tx_drop,
            "tx_packets": n.tx_packets, "tx_rate": null,
        })).collect::<Vec<_>>(),
        "disk_details": d.disks.iter().map(|k| json!({
            "read_bytes": k.read_bytes, "read_requests": k.read_requests,
            "write_bytes": k.write_bytes, "write_requests": k.write_requests,
            "errors_count": k.errors,
        })).collect::<Vec<_>>(),
    })
}

/// libvirt's keys as Nova's libvirt driver gave them before 2.48: `cpu<N>_time`,
/// `memory` (KiB), `<disk>_read` …, `<nic>_rx` …; counters the hypervisor does not keep
/// are left out.
fn free_form(d: &ServerDiagnostics) -> Value {
    let mut m = Map::new();
    let mut put = |k: String, v: Option<i64>| {
        if let Some(v) = v {
            m.insert(k, json!(v));
        }
    };
    for c in &d.cpus {
        put(
            format!("cpu{}_time", c.id),
            c.time_ns.and_then(|t| i64::try_from(t).ok()),
        );
    }
    put(
        "memory".into(),
        d.memory_max_kib.and_then(|k| i64::try_from(k).ok()),
    );
    for k in &d.disks {
        let dev = &k.device;
        put(format!("{dev}_read"), k.read_bytes);
        put(format!("{dev}_read_req"), k.read_requests);
        put(format!("{dev}_write"), k.write_bytes);
        put(format!("{dev}_write_req"), k.write_requests);
        put(format!("{dev}_errors"), k.errors);
    }
    for n in &d.nics {
        let dev = &n.device;
        put(format!("{dev}_rx"), n.rx_octets);
        put(format!("{dev}_rx_drop"), n.rx_drop);
        put(format!("{dev}_rx_errors"), n.rx_errors);
        put(format!("{dev}_rx_packets"), n.rx_packets);
        put(format!("{dev}_tx"), n.tx_octets);
        put(format!("{dev}_tx_drop"), n.tx_drop);
        put(format!("{dev}_tx_errors"), n.tx_errors);
        put(format!("{dev}_tx_packets"), n.tx_packets);
    }
    Value::Object(m)
}
