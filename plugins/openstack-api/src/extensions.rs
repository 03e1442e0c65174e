//! `extensions`: the fixed list Nova's v2.1 API still answers with (every extension is
//! part of the core API since 2.1; clients only read the names and aliases).

use crate::{Fault, Reply, Request};
use serde_json::{json, Value};

/// (alias, name, description).
const EXTENSIONS: &[(&str, &str, &str)] = &[
    ("NMN", "Multinic", "Multiple network support."),
    ("OS-DCF", "DiskConfig", "Disk Management Extension."),
    (
        "OS-EXT-AZ",
        "ExtendedAvailabilityZone",
        "Extended Availability Zone support.",
    ),
    (
        "OS-EXT-IMG-SIZE",
        "ImageSize",
        "Adds image size to image listings.",
    ),
    (
        "OS-EXT-IPS",
        "ExtendedIps",
        "Adds type parameter to the ip list.",
    ),
    (
        "OS-EXT-IPS-MAC",
        "ExtendedIpsMac",
        "Adds mac address parameter to the ip list.",
    ),
    (
        "OS-EXT-SRV-ATTR",
        "ExtendedServerAttributes",
        "Extended Server Attributes support.",
    ),
    ("OS-EXT-STS", "ExtendedStatus", "Extended Status support."),
    (
        "OS-FLV-DISABLED",
        "FlavorDisabled",
        "Support to show the disabled status of a flavor.",
    ),
    (
        "OS-FLV-EXT-DATA",
        "FlavorExtraData",
        "Provide additional data for flavors.",
    ),
    (
        "OS-SCH-HNT",
        "SchedulerHints",
        "Pass arbitrary key/value pairs to the scheduler.",
    ),
    (
        "OS-SRV-USG",
        "ServerUsage",
        "Adds launched_at and terminated_at on Servers.",
    ),
    ("os-access-ips", "AccessIPs", "Access IPs support."),
    (
        "os-admin-actions",
        "AdminActions",
        "Enable admin-only server actions.",
    ),
    (
        "os-aggregates",
        "Aggregates",
        "Admin-only aggregate administration.",
    ),
    (
        "os-availability-zone",
        "AvailabilityZone",
        "1. Add availability_zone to the Create Server API. 2. Add availability zones describing.",
    ),
    ("os-certificates", "Certificates", "Certificates support."),
    (
        "os-console-output",
        "ConsoleOutput",
        "Console log output support, with tailing ability.",
    ),
    ("os-consoles", "Consoles", "Interactive Console support."),
    (
        "os-extended-volumes",
        "ExtendedVolumes",
        "Extended Volumes support.",
    ),
    ("os-flavor-access", "FlavorAccess", "Flavor access support."),
    (
        "os-flavor-extra-specs",
        "FlavorExtraSpecs",
        "Flavors extra specs support.",
    ),
    (
        "os-flavor-manage",
        "FlavorManage",
        "Flavor create/delete API support.",
    ),
    (
        "os-flavor-rxtx",
        "FlavorRxtx",
        "Support to show the rxtx status of a flavor.",
    ),
    ("os-hosts", "Hosts", "Admin-only host administration."),
    (
        "os-hypervisors",
        "Hypervisors",
        "Admin-only hypervisor administration.",
    ),
    (
        "os-instance-actions",
        "InstanceActions",
        "View a log of actions and events taken on an instance.",
    ),
    ("os-keypairs", "Keypairs", "Keypair Support."),
    (
        "os-lock-server",
        "LockServer",
        "Enable lock/unlock server actions.",
    ),
    (
        "os-multiple-create",
        "MultipleCreate",
        "Allow multiple create in the Create Server v2.1 API.",
    ),
    (
        "os-pause-server",
        "PauseServer",
        "Enable pause/unpause server actions.",
    ),
    ("os-quota-sets", "Quotas", "Quotas management support."),
    ("os-server-groups", "ServerGroups", "Server group support."),
    (
        "os-server-usage",
        "ServerUsage",
        "Adds launched_at and terminated_at on Servers.",
    ),
    ("os-services", "Services", "Services support."),
    (
        "os-suspend-server",
        "SuspendServer",
        "Enable suspend/resume server actions.",
    ),
    (
        "os-user-data",
        "UserData",
        "Add user_data to the Create Server API.",
    ),
    ("servers", "Servers", "Servers."),
    ("flavors", "Flavors", "Flavors Extension."),
    ("limits", "Limits", "Limits support."),
    (
        "os-server-metadata",
        "ServerMetadata",
        "Server metadata Support.",
    ),
    ("versions", "Versions", "API Version information."),
];

fn view(&(alias, name, description): &(&str, &str, &str)) -> Value {
    json!({
        "alias": alias, "name": name, "description": description,
        "namespace": "http://docs.openstack.org/compute/ext/fake_xml",
        "updated": "2014-12-03T00:00:00Z", "links": [],
    })
}

pub fn list(_r: &Request) -> Result<Reply, Fault> {
    let items: Vec<Value> = EXTENSIONS.iter().map(view).collect();
    Ok(Reply::json(200, &json!({"extensions": items})))
}

pub fn show(r: &Request) -> Result<Reply, Fault> {
    let alias = r.param("alias");
    let e = EXTENSIONS
        .iter()
        .find(|(a, _, _)| *a == alias)
        .ok_or_else(|| Fault::not_found(format!("Extension {alias} could not be found.")))?;
    Ok(Reply::json(200, &json!({"extension": view(e)})))
}
