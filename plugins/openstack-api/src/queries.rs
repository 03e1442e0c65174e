//! The query parameters each route takes, from the version on which Nova refuses any
//! other (2.75 made these listings strict; the rest were lenient until then). Checked
//! before routing, beside [`crate::microversion::check_route`].

use crate::microversion::{matches_template, since, Change};
use crate::{Fault, Request};

/// `GET /servers` and `/servers/detail` (Nova's `index_query_v275`, with the joined-table
/// names Nova accepts only to refuse them later).
const SERVERS: &[&str] = &[
    "user_id",
    "project_id",
    "tenant_id",
    "launch_index",
    "image_ref",
    "image",
    "kernel_id",
    "ramdisk_id",
    "hostname",
    "key_name",
    "power_state",
    "vm_state",
    "task_state",
    "host",
    "node",
    "flavor",
    "reservation_id",
    "launched_at",
    "terminated_at",
    "availability_zone",
    "name",
    "display_name",
    "description",
    "display_description",
    "locked_by",
    "uuid",
    "root_device_name",
    "config_drive",
    "access_ip_v4",
    "access_ip_v6",
    "auto_disk_config",
    "progress",
    "sort_key",
    "sort_dir",
    "all_tenants",
    "soft_deleted",
    "deleted",
    "status",
    "changes-since",
    "ip",
    "ip6",
    "created_at",
    "block_device_mapping",
    "services",
    "metadata",
    "system_metadata",
    "info_cache",
    "security_groups",
    "pci_devices",
    "limit",
    "marker",
    "tags",
    "tags-any",
    "not-tags",
    "not-tags-any",
    "changes-before",
    "locked",
];

const FLAVORS: &[&str] = &[
    "limit",
    "marker",
    "is_public",
    "minRam",
    "minDisk",
    "sort_key",
    "sort_dir",
];

/// Method (`*` any), path template and the parameters taken, for the routes strict from
/// 2.75 on.
const STRICT_FROM_2_75: &[(&str, &str, &[&str])] = &[
    ("GET", "/v2.1/servers", SERVERS),
    ("GET", "/v2.1/servers/detail", SERVERS),
    ("GET", "/v2.1/flavors", FLAVORS),
    ("GET", "/v2.1/flavors/detail", FLAVORS),
    ("GET", "/v2.1/os-keypairs", &["user_id", "limit", "marker"]),
    ("*", "/v2.1/os-keypairs/{keypair_name}", &["user_id"]),
    ("GET", "/v2.1/limits", &["tenant_id"]),
    ("*", "/v2.1/os-quota-sets/{tenant_id}", &["user_id"]),
    (
        "GET",
        "/v2.1/os-quota-sets/{tenant_id}/detail",
        &["user_id"],
    ),
    (
        "GET",
        "/v2.1/os-server-groups",
        &["all_projects", "limit", "offset"],
    ),
    ("GET", "/v2.1/os-services", &["host", "binary"]),
    (
        "GET",
        "/v2.1/os-simple-tenant-usage",
        &["start", "end", "detailed", "limit", "marker"],
    ),
    (
        "GET",
        "/v2.1/os-simple-tenant-usage/{tenant_id}",
        &["start", "end", "limit", "marker"],
    ),
];

/// Nova's 400 for a query parameter the route does not take at the request's version.
pub fn check(r: &Request) -> Result<(), Fault> {
    if !since(r, Change::StrictQueries) || r.query.is_empty() {
        return Ok(());
    }
    let Some((_, _, taken)) = STRICT_FROM_2_75.iter().find(|(method, template, _)| {
        (*method == "*" || *method == r.method) && matches_template(template, &r.path)
    }) else {
        return Ok(());
    };
    match r.query.iter().find(|(k, _)| !taken.contains(&k.as_str())) {
        Some((k, _)) => Err(Fault::bad_request(format!(
            "Additional properties are not allowed ('{k}' was unexpected)"
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str, query: &[(&str, &str)], version: &str) -> Result<(), Fault> {
        let mut r = Request::new("GET", path).with_header("x-openstack-nova-api-version", version);
        r.query = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        check(&r)
    }

    #[test]
    fn unknown_parameters_are_refused_from_2_75_on_the_strict_routes() {
        let odd = [("limit", "1"), ("bogus", "x")];
        assert!(get("/v2.1/servers/detail", &odd, "2.74").is_ok());
        let e = get("/v2.1/servers/detail", &odd, "2.75").unwrap_err();
        assert_eq!(e.status, 400);
        assert!(
            e.message.contains("'bogus' was unexpected"),
            "{}",
            e.message
        );
        for path in ["/v2.1/servers", "/v2.1/flavors", "/v2.1/os-services"] {
            assert!(get(path, &[("bogus", "1")], "2.75").is_err(), "{path}");
        }
        assert!(get(
            "/v2.1/servers",
            &[("locked", "true"), ("tags", "a")],
            "2.75"
        )
        .is_ok());
        assert!(get("/v2.1/os-keypairs/k", &[("user_id", "u")], "2.75").is_ok());
        // A route Nova left lenient at 2.75.
        assert!(get("/v2.1/os-aggregates", &[("bogus", "1")], "2.75").is_ok());
    }
}
