//! Instances: RunInstances, DescribeInstances, DescribeInstanceStatus, Terminate/Start/
//! Stop/RebootInstances and GetConsoleOutput, over the host's servers.
//!
//! The caller's servers are listed twice and merged: the live ones, and those changed in
//! the last hour with deleted ones included (`changes-since`), so a terminated instance
//! stays visible as `terminated` for an hour, as on EC2.
//!
//! States (`code`/`name`), from Nova's vm_state and task_state:
//!
//! | vm_state | task_state | EC2 state |
//! |---|---|---|
//! | deleted, soft-deleted | any | terminated (48) |
//! | any other | deleting | shutting-down (32) |
//! | building | | pending (0) |
//! | active, resized, rescued | powering-off | stopping (64) |
//! | active, resized, rescued | other | running (16) |
//! | stopped, shutoff, paused, suspended, shelved | powering-on, unpausing, resuming | pending (0) |
//! | stopped, shutoff, paused, suspended, shelved | other | stopped (80) |
//! | error, anything unknown | | stopped (80): the guest is not running, it can be terminated, and a start is the host's to refuse |

use crate::bindings::metacloud::api::compute;
use crate::bindings::metacloud::api::types::{
    Caller, Flavor, NetworkRequest, OpError, SchedulerHints, SecurityGroup, Server, ServerCreate,
    ServerDetails, ServerNetworkInfo, ServerNetworking, ServerQuery,
};
use crate::ids::{self, Kind};
use crate::params::{paginate, Filter, Paging, Params};
use crate::xml::{iso8601, Xml};
use crate::{images, security_groups, tag_rules, Ctx, Ec2Error, Family};
use base64::Engine;
use std::collections::{BTreeMap, HashMap};

/// How long a terminated instance stays listed.
pub const TERMINATED_VISIBLE_MS: i64 = 3_600_000;
/// The instance type when a request names none (EC2's default).
pub const DEFAULT_INSTANCE_TYPE: &str = "m1.small";
/// Instances one RunInstances may ask for.
pub const MAX_COUNT: i64 = 1000;
/// EC2's limit on user data, decoded.
pub const MAX_USER_DATA: usize = 16 * 1024;
/// The server name when no `Name` tag gives one.
pub const DEFAULT_NAME: &str = "ec2-instance";

/// An EC2 instance state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct State {
    pub code: u16,
    pub name: &'static str,
}

pub const PENDING: State = State {
    code: 0,
    name: "pending",
};
pub const RUNNING: State = State {
    code: 16,
    name: "running",
};
pub const SHUTTING_DOWN: State = State {
    code: 32,
    name: "shutting-down",
};
pub const TERMINATED: State = State {
    code: 48,
    name: "terminated",
};
pub const STOPPING: State = State {
    code: 64,
    name: "stopping",
};
pub const STOPPED: State = State {
    code: 80,
    name: "stopped",
};

/// The EC2 state of a server (see the module's table).
pub fn state_of(vm_state: &str, task_state: Option<&str>) -> State {
    match (vm_state, task_state) {
        ("deleted" | "soft-deleted" | "soft_deleted", _) => TERMINATED,
        (_, Some("deleting")) => SHUTTING_DOWN,
        ("building", _) => PENDING,
        ("active" | "resized" | "rescued", Some("powering-off")) => STOPPING,
        ("active" | "resized" | "rescued", _) => RUNNING,
        (
            "stopped" | "shutoff" | "paused" | "suspended" | "shelved" | "shelved_offloaded",
            Some("powering-on" | "unpausing" | "resuming"),
        ) => PENDING,
        _ => STOPPED,
    }
}

pub fn server_state(s: &Server) -> State {
    state_of(&s.vm_state, s.task_state.as_deref())
}

/// The live listing and the recently changed one as one, by id (the newer record wins),
/// newest first.
pub fn merge(live: Vec<Server>, recent: Vec<Server>) -> Vec<Server> {
    let mut by_id: BTreeMap<String, Server> = BTreeMap::new();
    for s in live.into_iter().chain(recent) {
        match by_id.get(&s.id) {
            Some(old) if old.updated_at > s.updated_at => {}
            _ => {
                by_id.insert(s.id.clone(), s);
            }
        }
    }
    let mut all: Vec<Server> = by_id.into_values().collect();
    all.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    all
}

fn query(c: &Caller, changes_since: Option<i64>) -> ServerQuery {
    ServerQuery {
        all_projects: false,
        project_id: Some(c.project_id.clone()),
        name: None,
        vm_states: Vec::new(),
        flavor_id: None,
        image_id: None,
        host: None,
        changes_since,
        limit: None,
        marker: None,
    }
}

/// The caller's instances, terminated ones of the last hour included.
pub fn list_servers(c: &Caller, now_ms: i64) -> Result<Vec<Server>, Ec2Error> {
    let err = |e| Ec2Error::from_op(e, Family::Instance);
    let live = compute::list_servers(c, &query(c, None)).map_err(err)?;
    let since = now_ms.saturating_sub(TERMINATED_VISIBLE_MS).max(0);
    let recent = compute::list_servers(c, &query(c, Some(since))).map_err(err)?;
    Ok(merge(live, recent))
}

/// Each server's `amiLaunchIndex`: its place in its reservation, in creation order.
pub fn launch_indexes(servers: &[Server]) -> HashMap<&str, u32> {
    let mut groups: BTreeMap<&str, Vec<&Server>> = BTreeMap::new();
    for s in servers {
        groups.entry(s.reservation_id.as_str()).or_default().push(s);
    }
    let mut out = HashMap::new();
    for (_, mut members) in groups {
        members.sort_by(|a, b| {
            a.created_at
                .cmp(&b.created_at)
                .then(a.name.cmp(&b.name))
                .then(a.id.cmp(&b.id))
        });
        for (i, s) in members.into_iter().enumerate() {
            out.insert(s.id.as_str(), i as u32);
        }
    }
    out
}

/// The EC2 id of a server.
pub fn instance_id(s: &Server) -> String {
    ids::ec2_id(Kind::Instance, &s.id)
}

/// What an instance's view shows of its networking.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceNet {
    /// Its first fixed address.
    pub private_ip: Option<String>,
    /// Its first floating address.
    pub public_ip: Option<String>,
    /// Its security groups: EC2 id and name.
    pub groups: Vec<(String, String)>,
}

/// The networking of instances by host id.
pub type Nets = HashMap<String, InstanceNet>;

/// The views' networking from the host's records (a group the caller cannot see keeps its
/// name, with no id).
pub fn nets_of(infos: &[ServerNetworkInfo], groups: &[SecurityGroup]) -> Nets {
    let mut out = Nets::new();
    for info in infos {
        let first = |kind: &str| {
            info.addresses
                .iter()
                .find(|a| a.kind == kind && a.version == 4)
                .map(|a| a.addr.clone())
        };
        let named = info
            .security_groups
            .iter()
            .map(|name| {
                let id = groups
                    .iter()
                    .find(|g| &g.name == name)
                    .map(security_groups::group_id)
                    .unwrap_or_default();
                (id, name.clone())
            })
            .collect();
        out.insert(
            info.server_id.clone(),
            InstanceNet {
                private_ip: first("fixed"),
                public_ip: first("floating"),
                groups: named,
            },
        );
    }
    out
}

/// The networking of the servers shown.
pub fn load_nets(c: &Caller, servers: &[&Server]) -> Result<Nets, Ec2Error> {
    if servers.is_empty() {
        return Ok(Nets::new());
    }
    let err = |e| Ec2Error::from_op(e, Family::Other);
    let ids: Vec<String> = servers.iter().map(|s| s.id.clone()).collect();
    let infos = compute::servers_network_info(c, &ids).map_err(err)?;
    let groups = compute::list_security_groups(c, false).map_err(err)?;
    Ok(nets_of(&infos, &groups))
}

/// A server's host name (the one its DHCP lease and metadata give it): the name in lower
/// case, letters, digits and dashes (spaces, dots and underscores become dashes), at most
/// 63 characters; else `server-` and the first part of its id. The host's rule
/// (`metacloud_objects::hostname`, Nova's sanitize_hostname), which the views cannot ask
/// for.
pub fn hostname(name: &str, uuid: &str) -> String {
    let mut out = String::new();
    for c in name.to_ascii_lowercase().chars() {
        match c {
            'a'..='z' | '0'..='9' | '-' => out.push(c),
            ' ' | '_' | '.' => out.push('-'),
            _ => {}
        }
    }
    let out: String = out.trim_matches('-').chars().take(63).collect();
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        format!("server-{}", uuid.split('-').next().unwrap_or(uuid))
    } else {
        out
    }
}

fn write_group_set(x: &mut Xml, net: Option<&InstanceNet>) {
    let groups = net.map(|n| n.groups.as_slice()).unwrap_or_default();
    x.set("groupSet", groups, |x, (id, name)| {
        x.leaf("groupId", id).leaf("groupName", name);
    });
}

/// Writes one instance's fields.
pub fn write_instance(x: &mut Xml, s: &Server, launch_index: u32, net: Option<&InstanceNet>) {
    let state = server_state(s);
    let image = s
        .image_id
        .as_deref()
        .map(|i| ids::ec2_id(Kind::Image, i))
        .unwrap_or_default();
    x.leaf("instanceId", &instance_id(s))
        .leaf("imageId", &image)
        .state("instanceState", state.code, state.name)
        .leaf(
            "privateDnsName",
            &match net.and_then(|n| n.private_ip.as_ref()) {
                Some(_) => hostname(&s.name, &s.id),
                None => String::new(),
            },
        )
        .leaf("dnsName", "")
        .leaf(
            "reason",
            s.fault.as_ref().map(|f| f.message.as_str()).unwrap_or(""),
        );
    if let Some(k) = &s.key_name {
        x.leaf("keyName", k);
    }
    x.num("amiLaunchIndex", launch_index)
        .elem("productCodes", |_| {})
        .leaf("instanceType", &s.flavor.name)
        .leaf(
            "launchTime",
            &iso8601(s.launched_at.unwrap_or(s.created_at)),
        )
        .elem("placement", |x| {
            x.leaf(
                "availabilityZone",
                s.availability_zone.as_deref().unwrap_or(""),
            )
            .leaf("groupName", "")
            .leaf("tenancy", "default");
        })
        .elem("monitoring", |x| {
            x.leaf("state", "disabled");
        });
    if let Some(ip) = net.and_then(|n| n.private_ip.as_ref()) {
        x.leaf("privateIpAddress", ip);
    }
    match net.and_then(|n| n.public_ip.as_ref()) {
        Some(ip) => {
            x.leaf("ipAddress", ip);
        }
        None if !s.access_ipv4.is_empty() => {
            x.leaf("ipAddress", &s.access_ipv4);
        }
        None => {}
    }
    if !s.access_ipv6.is_empty() {
        x.leaf("ipv6Address", &s.access_ipv6);
    }
    write_group_set(x, net);
    if let Some(f) = &s.fault {
        x.elem("stateReason", |x| {
            x.leaf("code", "Server.InternalError")
                .leaf("message", &f.message);
        });
    }
    x.leaf("architecture", "x86_64")
        .leaf("rootDeviceType", "instance-store")
        .leaf("rootDeviceName", "/dev/vda")
        .elem("blockDeviceMapping", |_| {})
        .leaf("virtualizationType", "hvm")
        .leaf("clientToken", "")
        .tag_set(&s.metadata)
        .leaf("hypervisor", "kvm")
        .boolean("ebsOptimized", false);
}

/// `reservationSet`: the servers grouped by reservation, in listing order.
pub fn write_reservations(
    x: &mut Xml,
    servers: &[&Server],
    indexes: &HashMap<&str, u32>,
    nets: &Nets,
) {
    let mut order: Vec<&str> = Vec::new();
    let mut groups: HashMap<&str, Vec<&Server>> = HashMap::new();
    for s in servers {
        let r = s.reservation_id.as_str();
        if !groups.contains_key(r) {
            order.push(r);
        }
        groups.entry(r).or_default().push(s);
    }
    x.set("reservationSet", order, |x, r| {
        let members = &groups[r];
        x.leaf("reservationId", r)
            .leaf("ownerId", &members[0].project_id);
        write_group_set(x, nets.get(&members[0].id));
        x.set("instancesSet", members, |x, s| {
            let index = indexes.get(s.id.as_str()).copied().unwrap_or(0);
            write_instance(x, s, index, nets.get(&s.id));
        });
    });
}

// --- DescribeInstances --------------------------------------------------------------------

/// The filters DescribeInstances knows (and `tag:<key>`).
pub const INSTANCE_FILTERS: &[&str] = &[
    "availability-zone",
    "image-id",
    "instance-id",
    "instance-state-code",
    "instance-state-name",
    "instance-type",
    "key-name",
    "owner-id",
    "reservation-id",
    "tag-key",
    "tag-value",
    // On its networking (see NETWORK_FILTERS).
    "group-id",
    "group-name",
    "instance.group-id",
    "instance.group-name",
    "ip-address",
    "private-dns-name",
    "private-ip-address",
];

/// The filters that need the instances' networking (a host call for all of them).
pub const NETWORK_FILTERS: &[&str] = &[
    "group-id",
    "group-name",
    "instance.group-id",
    "instance.group-name",
    "ip-address",
    "private-dns-name",
    "private-ip-address",
];

fn check_filters(filters: &[Filter], known: &[&str], tags_too: bool) -> Result<(), Ec2Error> {
    for f in filters {
        let tag = tags_too && f.name.len() > 4 && f.name.starts_with("tag:");
        if !tag && !known.contains(&f.name.as_str()) {
            return Err(Ec2Error::invalid(format!(
                "The filter '{}' is invalid",
                f.name
            )));
        }
    }
    Ok(())
}

/// Whether a server passes one filter on its networking (`net`, if it has any).
fn network_filter_matches(f: &Filter, s: &Server, net: Option<&InstanceNet>) -> bool {
    let Some(n) = net else {
        return false;
    };
    match f.name.as_str() {
        "group-id" | "instance.group-id" => {
            f.matches_any(n.groups.iter().map(|(id, _)| id.as_str()))
        }
        "group-name" | "instance.group-name" => {
            f.matches_any(n.groups.iter().map(|(_, name)| name.as_str()))
        }
        "ip-address" => n.public_ip.as_deref().is_some_and(|ip| f.matches(ip)),
        "private-ip-address" => n.private_ip.as_deref().is_some_and(|ip| f.matches(ip)),
        "private-dns-name" => n.private_ip.is_some() && f.matches(&hostname(&s.name, &s.id)),
        _ => false,
    }
}

/// Whether a server passes one DescribeInstances filter (`net`: its networking, for the
/// filters of NETWORK_FILTERS).
pub fn filter_matches(f: &Filter, s: &Server, net: Option<&InstanceNet>) -> bool {
    if NETWORK_FILTERS.contains(&f.name.as_str()) {
        return network_filter_matches(f, s, net);
    }
    let state = server_state(s);
    match f.name.as_str() {
        "availability-zone" => s.availability_zone.as_deref().is_some_and(|z| f.matches(z)),
        "image-id" => s
            .image_id
            .as_deref()
            .is_some_and(|i| f.matches(&ids::ec2_id(Kind::Image, i))),
        "instance-id" => f.matches(&instance_id(s)),
        "instance-state-code" => f.matches(&state.code.to_string()),
        "instance-state-name" => f.matches(state.name),
        "instance-type" => f.matches(&s.flavor.name),
        "key-name" => s.key_name.as_deref().is_some_and(|k| f.matches(k)),
        "owner-id" => f.matches(&s.project_id),
        "reservation-id" => f.matches(&s.reservation_id),
        "tag-key" => f.matches_any(s.metadata.iter().map(|(k, _)| k.as_str())),
        "tag-value" => f.matches_any(s.metadata.iter().map(|(_, v)| v.as_str())),
        name => match name.strip_prefix("tag:") {
            Some(key) => s.metadata.iter().any(|(k, v)| k == key && f.matches(v)),
            None => false,
        },
    }
}

/// A DescribeInstances request.
#[derive(Debug, Clone, PartialEq)]
pub struct DescribeRequest {
    pub ids: Vec<String>,
    pub filters: Vec<Filter>,
    pub paging: Paging,
}

impl DescribeRequest {
    pub fn parse(p: &Params) -> Result<DescribeRequest, Ec2Error> {
        let ids = p.list("InstanceId")?;
        for id in &ids {
            ids::parse(Kind::Instance, id)?;
        }
        let filters = p.filters()?;
        check_filters(&filters, INSTANCE_FILTERS, true)?;
        let paging = p.paging(5, 1000)?;
        if !ids.is_empty() && paging.max_results.is_some() {
            return Err(Ec2Error::client(
                "InvalidParameterCombination",
                "The parameter instancesSet cannot be used with the parameter maxResults",
            ));
        }
        Ok(DescribeRequest {
            ids: ids.into_iter().map(String::from).collect(),
            filters,
            paging,
        })
    }

    /// Whether a filter needs the instances' networking.
    pub fn needs_nets(&self) -> bool {
        self.filters
            .iter()
            .any(|f| NETWORK_FILTERS.contains(&f.name.as_str()))
    }
}

/// The named servers (each must exist), or all of them, deduplicated, in order.
fn chosen<'a>(servers: &'a [Server], wanted: &[String]) -> Result<Vec<&'a Server>, Ec2Error> {
    if wanted.is_empty() {
        return Ok(servers.iter().collect());
    }
    let names: Vec<&str> = wanted.iter().map(String::as_str).collect();
    let mut out = ids::resolve_all(Kind::Instance, servers, |s| s.id.as_str(), &names)?;
    let mut seen = std::collections::HashSet::new();
    out.retain(|s| seen.insert(s.id.as_str()));
    Ok(out)
}

/// The page of servers a DescribeInstances answers, and the next page's token.
pub fn select<'a>(
    servers: &'a [Server],
    req: &DescribeRequest,
    nets: &Nets,
) -> Result<(Vec<&'a Server>, Option<String>), Ec2Error> {
    let mut picked = chosen(servers, &req.ids)?;
    picked.retain(|s| {
        req.filters
            .iter()
            .all(|f| filter_matches(f, s, nets.get(&s.id)))
    });
    paginate(picked, |s| instance_id(s), &req.paging)
}

/// The body of a DescribeInstances response.
pub fn render_describe(
    all: &[Server],
    page: &[&Server],
    next: Option<&str>,
    nets: &Nets,
) -> String {
    let indexes = launch_indexes(all);
    let mut x = Xml::new();
    write_reservations(&mut x, page, &indexes, nets);
    if let Some(t) = next {
        x.leaf("nextToken", t);
    }
    x.finish()
}

pub fn describe_instances(ctx: &Ctx) -> Result<String, Ec2Error> {
    let req = DescribeRequest::parse(ctx.params)?;
    let servers = list_servers(ctx.caller, ctx.now_ms)?;
    // Networking filters need every instance's networking; else only the page's is asked.
    let all_nets = if req.needs_nets() {
        load_nets(ctx.caller, &servers.iter().collect::<Vec<_>>())?
    } else {
        Nets::new()
    };
    let (page, next) = select(&servers, &req, &all_nets)?;
    let nets = if req.needs_nets() {
        all_nets
    } else {
        load_nets(ctx.caller, &page)?
    };
    Ok(render_describe(&servers, &page, next.as_deref(), &nets))
}

// --- RunInstances -------------------------------------------------------------------------

/// Parameters of RunInstances this cloud cannot honour, and why.
const UNSUPPORTED_RUN: &[(&str, &str)] = &[
    ("SubnetId", "subnets: there are no VPCs here"),
    (
        "NetworkInterface.",
        "network interfaces: there are no VPCs here",
    ),
    (
        "PrivateIpAddress",
        "private addresses: they are given from the project's networks",
    ),
    ("Ipv6Address", "IPv6 addresses: networks are IPv4"),
    (
        "BlockDeviceMapping.",
        "block device mappings: block storage is not built yet",
    ),
    ("LaunchTemplate.", "launch templates"),
    ("IamInstanceProfile.", "instance profiles"),
    ("ElasticGpuSpecification.", "elastic GPUs"),
];

/// A RunInstances request.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRequest {
    pub image: String,
    pub min_count: u32,
    pub max_count: u32,
    pub instance_type: Option<String>,
    pub key_name: Option<String>,
    pub user_data: Option<String>,
    pub zone: Option<String>,
    pub tags: Vec<(String, String)>,
    /// `SecurityGroup.N`: group names.
    pub group_names: Vec<String>,
    /// `SecurityGroupId.N`: group ids (`sg-…`).
    pub group_ids: Vec<String>,
}

fn non_empty<'a>(p: &'a Params, name: &str) -> Option<&'a str> {
    p.get(name).filter(|v| !v.is_empty())
}

/// User data as the host takes it: base64 (whitespace dropped), at most 16 KiB decoded.
pub fn user_data(raw: &str) -> Result<String, Ec2Error> {
    let compact: String = raw.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(&compact)
        .map_err(|_| Ec2Error::invalid("Invalid BASE64 encoding of user data."))?;
    if decoded.len() > MAX_USER_DATA {
        return Err(Ec2Error::invalid(format!(
            "User data is limited to {MAX_USER_DATA} bytes."
        )));
    }
    Ok(compact)
}

impl RunRequest {
    pub fn parse(p: &Params) -> Result<RunRequest, Ec2Error> {
        for name in p.names() {
            if let Some((_, what)) = UNSUPPORTED_RUN
                .iter()
                .find(|(prefix, _)| name.starts_with(prefix))
            {
                return Err(Ec2Error::unsupported(format!(
                    "The parameter {name} is not supported: {what}."
                )));
            }
        }
        let image = p.required("ImageId")?;
        ids::parse(Kind::Image, image)?;
        let count = |name: &str| {
            p.int(name, 1, MAX_COUNT)?
                .ok_or_else(|| Ec2Error::missing(name))
        };
        let (min_count, max_count) = (count("MinCount")?, count("MaxCount")?);
        if min_count > max_count {
            return Err(Ec2Error::invalid(format!(
                "MinCount ({min_count}) must be less than or equal to MaxCount ({max_count})."
            )));
        }
        let mut tags_out = Vec::new();
        for spec in p.tag_specs()? {
            if spec.resource_type != "instance" {
                return Err(Ec2Error::invalid(format!(
                    "'{}' is not a valid taggable resource type for this operation here: \
                     only 'instance' is (there are no separate volumes or network interfaces).",
                    spec.resource_type
                )));
            }
            for (k, v) in spec.tags {
                tag_rules::validate_tag(&k, &v)?;
                tags_out.retain(|(old, _): &(String, String)| *old != k);
                tags_out.push((k, v));
            }
        }
        tag_rules::check_tag_count(tags_out.len())?;
        let group_ids = p.list("SecurityGroupId")?;
        for id in &group_ids {
            ids::parse(Kind::SecurityGroup, id)?;
        }
        Ok(RunRequest {
            group_names: p
                .list("SecurityGroup")?
                .into_iter()
                .map(String::from)
                .collect(),
            group_ids: group_ids.into_iter().map(String::from).collect(),
            image: image.to_string(),
            min_count: min_count as u32,
            max_count: max_count as u32,
            instance_type: non_empty(p, "InstanceType").map(String::from),
            key_name: non_empty(p, "KeyName").map(String::from),
            user_data: non_empty(p, "UserData").map(user_data).transpose()?,
            zone: non_empty(p, "Placement.AvailabilityZone").map(String::from),
            tags: tags_out,
        })
    }

    /// The server name: the `Name` tag's value, else [`DEFAULT_NAME`].
    pub fn name(&self) -> &str {
        self.tags
            .iter()
            .find(|(k, v)| k == "Name" && !v.trim().is_empty())
            .map(|(_, v)| v.as_str())
            .unwrap_or(DEFAULT_NAME)
    }

    /// What the host creates, for the image and flavor the request's names resolved to.
    pub fn server_create(&self, image_uuid: &str, flavor_id: &str) -> ServerCreate {
        ServerCreate {
            name: self.name().to_string(),
            flavor_ref: flavor_id.to_string(),
            image_ref: Some(image_uuid.to_string()),
            min_count: self.min_count,
            max_count: self.max_count,
            availability_zone: self.zone.clone(),
            key_name: self.key_name.clone(),
            user_data: self.user_data.clone(),
            metadata: self.tags.clone(),
            hints: SchedulerHints {
                group: None,
                same_host: Vec::new(),
                different_host: Vec::new(),
            },
            access_ipv4: None,
            access_ipv6: None,
        }
    }
}

/// The flavor an instance type names (by name, else by id); none named: `m1.small`.
pub fn flavor_for<'a>(flavors: &'a [Flavor], wanted: Option<&str>) -> Result<&'a Flavor, Ec2Error> {
    let name = wanted.unwrap_or(DEFAULT_INSTANCE_TYPE);
    flavors
        .iter()
        .find(|f| f.name == name)
        .or_else(|| flavors.iter().find(|f| f.id == name))
        .ok_or_else(|| match wanted {
            Some(w) => Ec2Error::invalid(format!("Invalid value '{w}' for InstanceType.")),
            None => Ec2Error::missing("InstanceType"),
        })
}

/// The body of a RunInstances response.
pub fn render_run(owner: &str, made: &[Server], nets: &Nets) -> String {
    let mut x = Xml::new();
    let reservation = made
        .first()
        .map(|s| s.reservation_id.as_str())
        .unwrap_or("");
    let indexes = launch_indexes(made);
    x.leaf("reservationId", reservation).leaf("ownerId", owner);
    write_group_set(&mut x, made.first().and_then(|s| nets.get(&s.id)));
    x.set("instancesSet", made, |x, s| {
        let index = indexes.get(s.id.as_str()).copied().unwrap_or(0);
        write_instance(x, s, index, nets.get(&s.id));
    });
    x.finish()
}

pub fn run_instances(ctx: &Ctx) -> Result<String, Ec2Error> {
    let c = ctx.caller;
    let req = RunRequest::parse(ctx.params)?;
    let all_images = images::load(c)?;
    let image = ids::resolve(Kind::Image, &all_images, |i| i.id.as_str(), &req.image)?;
    let flavors = compute::list_flavors(c).map_err(|e| Ec2Error::from_op(e, Family::Other))?;
    let flavor = flavor_for(&flavors, req.instance_type.as_deref())?;
    if let Some(k) = &req.key_name {
        compute::get_keypair(c, k).map_err(|e| match e {
            OpError::NotFound(_) => Ec2Error::client(
                "InvalidKeyPair.NotFound",
                format!("The key pair '{k}' does not exist"),
            ),
            e => Ec2Error::from_op(e, Family::KeyPair),
        })?;
    }
    let groups = if req.group_names.is_empty() && req.group_ids.is_empty() {
        Vec::new()
    } else {
        let all = compute::list_security_groups(c, false)
            .map_err(|e| Ec2Error::from_op(e, Family::SecurityGroup))?;
        security_groups::launch_groups(&req.group_names, &req.group_ids, &all)?
    };
    let net = ServerNetworking {
        networks: NetworkRequest::Default,
        security_groups: groups,
    };
    let made = compute::create_servers_networked(
        c,
        &req.server_create(&image.id, &flavor.id),
        &net,
        &ServerDetails {
            description: None,
            tags: Vec::new(),
            host: None,
            hypervisor_hostname: None,
            hostname: None,
        },
    )
    .map_err(|e| Ec2Error::from_op(e, Family::Launch))?;
    let nets = load_nets(c, &made.iter().collect::<Vec<_>>())?;
    Ok(render_run(&c.project_id, &made, &nets))
}

// --- State changes ------------------------------------------------------------------------

/// `InstanceId.N`: at least one, each well formed.
pub fn instance_ids(p: &Params) -> Result<Vec<String>, Ec2Error> {
    let ids = p.list("InstanceId")?;
    if ids.is_empty() {
        return Err(Ec2Error::missing("InstanceId"));
    }
    for id in &ids {
        ids::parse(Kind::Instance, id)?;
    }
    Ok(ids.into_iter().map(String::from).collect())
}

/// A state change a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Terminate,
    Start,
    Stop,
}

/// What to do to one instance: the host action to call (none: it is there already) and
/// the states the response reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub call: Option<&'static str>,
    pub previous: State,
    pub current: State,
}

fn incorrect_state(id: &str, verb: &str) -> Ec2Error {
    Ec2Error::client(
        "IncorrectInstanceState",
        format!("The instance '{id}' is not in a state from which it can be {verb}."),
    )
}

/// The plan for one instance (EC2 makes a change to the state it is in a no-op).
pub fn plan(change: Change, s: &Server) -> Result<Plan, Ec2Error> {
    let previous = server_state(s);
    let id = instance_id(s);
    let stay = Plan {
        call: None,
        previous,
        current: previous,
    };
    let go = |call, current| Plan {
        call: Some(call),
        previous,
        current,
    };
    Ok(match change {
        Change::Terminate if previous == TERMINATED || previous == SHUTTING_DOWN => stay,
        Change::Terminate => go("delete", SHUTTING_DOWN),
        Change::Start if previous == RUNNING || previous == PENDING => stay,
        Change::Start if previous == STOPPED => go(
            match s.vm_state.as_str() {
                "paused" => "unpause",
                "suspended" => "resume",
                _ => "start",
            },
            PENDING,
        ),
        Change::Start => return Err(incorrect_state(&id, "started")),
        Change::Stop if previous == STOPPED || previous == STOPPING => stay,
        Change::Stop if previous == RUNNING || previous == PENDING => go("stop", STOPPING),
        Change::Stop => return Err(incorrect_state(&id, "stopped")),
    })
}

/// `instancesSet` of state changes.
pub fn render_changes(changes: &[(String, Plan)]) -> String {
    let mut x = Xml::new();
    x.set("instancesSet", changes, |x, (id, p)| {
        x.leaf("instanceId", id)
            .state("currentState", p.current.code, p.current.name)
            .state("previousState", p.previous.code, p.previous.name);
    });
    x.finish()
}

fn change_states(ctx: &Ctx, change: Change) -> Result<String, Ec2Error> {
    let c = ctx.caller;
    let wanted = instance_ids(ctx.params)?;
    let servers = list_servers(c, ctx.now_ms)?;
    let targets = chosen(&servers, &wanted)?;
    let plans = targets
        .iter()
        .map(|s| plan(change, s))
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::new();
    for (s, p) in targets.into_iter().zip(plans) {
        let result = match p.call {
            None => Ok(()),
            Some("delete") => compute::delete_server(c, &s.id),
            Some(action) => compute::server_action(c, &s.id, action, &[]),
        };
        match result {
            Ok(()) => {}
            // Gone in the meantime: terminated is what was asked.
            Err(OpError::NotFound(_)) if change == Change::Terminate => {}
            Err(e) => return Err(Ec2Error::from_op(e, Family::Instance)),
        }
        out.push((instance_id(s), p));
    }
    Ok(render_changes(&out))
}

pub fn terminate_instances(ctx: &Ctx) -> Result<String, Ec2Error> {
    change_states(ctx, Change::Terminate)
}

pub fn start_instances(ctx: &Ctx) -> Result<String, Ec2Error> {
    change_states(ctx, Change::Start)
}

pub fn stop_instances(ctx: &Ctx) -> Result<String, Ec2Error> {
    change_states(ctx, Change::Stop)
}

/// A reboot is for instances that are not terminated.
pub fn check_reboot(s: &Server) -> Result<(), Ec2Error> {
    let st = server_state(s);
    if st == TERMINATED || st == SHUTTING_DOWN {
        return Err(incorrect_state(&instance_id(s), "rebooted"));
    }
    Ok(())
}

pub fn reboot_instances(ctx: &Ctx) -> Result<String, Ec2Error> {
    let c = ctx.caller;
    let wanted = instance_ids(ctx.params)?;
    let servers = list_servers(c, ctx.now_ms)?;
    let targets = chosen(&servers, &wanted)?;
    for s in &targets {
        check_reboot(s)?;
    }
    let soft = [("type".to_string(), "SOFT".to_string())];
    for s in targets {
        compute::server_action(c, &s.id, "reboot", &soft)
            .map_err(|e| Ec2Error::from_op(e, Family::Instance))?;
    }
    let mut x = Xml::new();
    x.boolean("return", true);
    Ok(x.finish())
}

// --- GetConsoleOutput ---------------------------------------------------------------------

/// `InstanceId` of GetConsoleOutput.
pub fn console_target(p: &Params) -> Result<String, Ec2Error> {
    let id = p.required("InstanceId")?;
    ids::parse(Kind::Instance, id)?;
    p.boolean("Latest")?;
    Ok(id.to_string())
}

pub fn render_console(instance_id: &str, now_ms: i64, text: &str) -> String {
    let mut x = Xml::new();
    x.leaf("instanceId", instance_id)
        .leaf("timestamp", &iso8601(now_ms))
        .leaf(
            "output",
            &base64::engine::general_purpose::STANDARD.encode(text.as_bytes()),
        );
    x.finish()
}

pub fn get_console_output(ctx: &Ctx) -> Result<String, Ec2Error> {
    let c = ctx.caller;
    let id = console_target(ctx.params)?;
    let servers = list_servers(c, ctx.now_ms)?;
    let s = ids::resolve(Kind::Instance, &servers, |s| s.id.as_str(), &id)?;
    let text =
        compute::console_output(c, &s.id).map_err(|e| Ec2Error::from_op(e, Family::Instance))?;
    Ok(render_console(&instance_id(s), ctx.now_ms, &text))
}

// --- DescribeInstanceStatus ---------------------------------------------------------------

pub const STATUS_FILTERS: &[&str] = &[
    "availability-zone",
    "instance-state-code",
    "instance-state-name",
    "instance-status.status",
    "system-status.status",
];

/// A DescribeInstanceStatus request.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusRequest {
    pub ids: Vec<String>,
    pub include_all: bool,
    pub filters: Vec<Filter>,
    pub paging: Paging,
}

impl StatusRequest {
    pub fn parse(p: &Params) -> Result<StatusRequest, Ec2Error> {
        let ids = p.list("InstanceId")?;
        for id in &ids {
            ids::parse(Kind::Instance, id)?;
        }
        let filters = p.filters()?;
        check_filters(&filters, STATUS_FILTERS, false)?;
        let paging = p.paging(5, 1000)?;
        if !ids.is_empty() && paging.max_results.is_some() {
            return Err(Ec2Error::client(
                "InvalidParameterCombination",
                "The parameter instancesSet cannot be used with the parameter maxResults",
            ));
        }
        Ok(StatusRequest {
            ids: ids.into_iter().map(String::from).collect(),
            include_all: p.boolean("IncludeAllInstances")?.unwrap_or(false),
            filters,
            paging,
        })
    }
}

/// The instance and system status of a server: `ok` while running, `impaired` in error,
/// `not-applicable` otherwise.
pub fn health(s: &Server) -> (&'static str, &'static str) {
    if s.vm_state == "error" {
        ("impaired", "failed")
    } else if server_state(s) == RUNNING {
        ("ok", "passed")
    } else {
        ("not-applicable", "")
    }
}

fn status_filter_matches(f: &Filter, s: &Server) -> bool {
    let state = server_state(s);
    match f.name.as_str() {
        "availability-zone" => s.availability_zone.as_deref().is_some_and(|z| f.matches(z)),
        "instance-state-code" => f.matches(&state.code.to_string()),
        "instance-state-name" => f.matches(state.name),
        "instance-status.status" | "system-status.status" => f.matches(health(s).0),
        _ => false,
    }
}

pub fn select_status<'a>(
    servers: &'a [Server],
    req: &StatusRequest,
) -> Result<(Vec<&'a Server>, Option<String>), Ec2Error> {
    let mut picked = chosen(servers, &req.ids)?;
    picked.retain(|s| {
        (req.include_all || server_state(s) == RUNNING)
            && req.filters.iter().all(|f| status_filter_matches(f, s))
    });
    paginate(picked, |s| instance_id(s), &req.paging)
}

pub fn render_status(page: &[&Server], next: Option<&str>) -> String {
    let mut x = Xml::new();
    x.set("instanceStatusSet", page, |x, s| {
        let state = server_state(s);
        let (status, detail) = health(s);
        let summary = |x: &mut Xml| {
            x.leaf("status", status);
            x.elem("details", |x| {
                if !detail.is_empty() {
                    x.open("item")
                        .leaf("name", "reachability")
                        .leaf("status", detail)
                        .close("item");
                }
            });
        };
        x.leaf("instanceId", &instance_id(s))
            .leaf(
                "availabilityZone",
                s.availability_zone.as_deref().unwrap_or(""),
            )
            .state("instanceState", state.code, state.name)
            .elem("systemStatus", summary)
            .elem("instanceStatus", summary)
            .elem("eventsSet", |_| {});
    });
    if let Some(t) = next {
        x.leaf("nextToken", t);
    }
    x.finish()
}

pub fn describe_instance_status(ctx: &Ctx) -> Result<String, Ec2Error> {
    let req = StatusRequest::parse(ctx.params)?;
    let servers = list_servers(ctx.caller, ctx.now_ms)?;
    let (page, next) = select_status(&servers, &req)?;
    Ok(render_status(&page, next.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{flavor, params, server};

    #[test]
    fn states() {
        let cases = [
            ("building", None, PENDING),
            ("building", Some("spawning"), PENDING),
            ("active", None, RUNNING),
            ("active", Some("rebooting"), RUNNING),
            ("active", Some("powering-off"), STOPPING),
            ("active", Some("deleting"), SHUTTING_DOWN),
            ("resized", None, RUNNING),
            ("stopped", None, STOPPED),
            ("shutoff", None, STOPPED),
            ("stopped", Some("powering-on"), PENDING),
            ("paused", None, STOPPED),
            ("paused", Some("unpausing"), PENDING),
            ("suspended", None, STOPPED),
            ("stopped", Some("deleting"), SHUTTING_DOWN),
            ("error", None, STOPPED),
            ("error", Some("deleting"), SHUTTING_DOWN),
            ("deleted", None, TERMINATED),
            ("deleted", Some("deleting"), TERMINATED),
            ("soft-deleted", None, TERMINATED),
            ("", None, STOPPED),
            ("<weird>", Some("?"), STOPPED),
        ];
        for (vm, task, want) in cases {
            assert_eq!(state_of(vm, task), want, "{vm} {task:?}");
        }
        assert_eq!(
            [
                PENDING,
                RUNNING,
                SHUTTING_DOWN,
                TERMINATED,
                STOPPING,
                STOPPED
            ]
            .map(|s| s.code),
            [0, 16, 32, 48, 64, 80]
        );
    }

    #[test]
    fn merging_keeps_the_newer_record_and_orders_newest_first() {
        let mut old = server("aaaaaaaa-0000-0000-0000-000000000001", "active");
        old.created_at = 10;
        let mut deleted = old.clone();
        deleted.vm_state = "deleted".into();
        deleted.updated_at = old.updated_at + 5;
        let mut newer = server("bbbbbbbb-0000-0000-0000-000000000002", "active");
        newer.created_at = 20;
        let merged = merge(vec![old.clone(), newer.clone()], vec![deleted.clone()]);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].id, newer.id);
        assert_eq!(merged[1].vm_state, "deleted");
        // An older record does not replace a newer one.
        let merged = merge(vec![deleted.clone()], vec![old]);
        assert_eq!(merged[0].vm_state, "deleted");
    }

    fn fleet() -> Vec<Server> {
        let mut a = server("0a000000-0000-0000-0000-000000000001", "active");
        a.reservation_id = "r-1".into();
        a.created_at = 3;
        a.name = "web-2".into();
        a.metadata = vec![("Name".into(), "web".into()), ("env".into(), "prod".into())];
        a.key_name = Some("mykey".into());
        a.availability_zone = Some("nova".into());
        let mut b = server("0b000000-0000-0000-0000-000000000002", "stopped");
        b.reservation_id = "r-1".into();
        b.created_at = 3;
        b.name = "web-1".into();
        b.metadata = vec![("env".into(), "dev".into())];
        let mut c = server("0c000000-0000-0000-0000-000000000003", "deleted");
        c.reservation_id = "r-2".into();
        c.created_at = 1;
        c.flavor = flavor("2", "m1.large", 4, 8192, 80);
        vec![a, b, c]
    }

    fn describe(list: &[(&str, &str)]) -> Result<Vec<String>, Ec2Error> {
        let servers = fleet();
        let req = DescribeRequest::parse(&params(list))?;
        let (page, _) = select(&servers, &req, &Nets::new())?;
        Ok(page.iter().map(|s| instance_id(s)).collect())
    }

    #[test]
    fn describe_by_id_and_filters() {
        let a = "i-0a000000000000000";
        let b = "i-0b000000000000000";
        let c = "i-0c000000000000000";
        assert_eq!(describe(&[]).unwrap(), vec![a, b, c]);
        assert_eq!(
            describe(&[
                ("InstanceId.1", b),
                ("InstanceId.2", a),
                ("InstanceId.3", b)
            ])
            .unwrap(),
            vec![b, a]
        );
        let e =
            describe(&[("InstanceId.1", a), ("InstanceId.2", "i-0d000000000000000")]).unwrap_err();
        assert_eq!(e.code, "InvalidInstanceID.NotFound");
        assert!(e.message.contains("i-0d000000000000000"));
        assert_eq!(
            describe(&[("InstanceId.1", "i-zz")]).unwrap_err().code,
            "InvalidInstanceID.Malformed"
        );
        let f = |name: &str, values: &[&str]| -> Vec<String> {
            let mut list = vec![("Filter.1.Name".to_string(), name.to_string())];
            for (i, v) in values.iter().enumerate() {
                list.push((format!("Filter.1.Value.{}", i + 1), v.to_string()));
            }
            let p: Vec<(&str, &str)> = list.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            describe(&p).unwrap()
        };
        assert_eq!(
            f("instance-state-name", &["running", "stopped"]),
            vec![a, b]
        );
        assert_eq!(f("instance-state-name", &["terminated"]), vec![c]);
        assert_eq!(f("instance-state-code", &["80"]), vec![b]);
        assert_eq!(f("tag:Name", &["w*"]), vec![a]);
        assert_eq!(f("tag:env", &["dev"]), vec![b]);
        assert_eq!(f("tag-key", &["env"]), vec![a, b]);
        assert_eq!(f("tag-value", &["prod", "dev"]), vec![a, b]);
        assert_eq!(f("key-name", &["mykey"]), vec![a]);
        assert_eq!(f("instance-type", &["m1.large"]), vec![c]);
        assert_eq!(f("availability-zone", &["nova"]), vec![a]);
        assert_eq!(f("reservation-id", &["r-2"]), vec![c]);
        assert_eq!(f("instance-id", &[b]), vec![b]);
        assert_eq!(f("image-id", &["ami-1111111111111111*"]), vec![a, b, c]);
        let e = describe(&[("Filter.1.Name", "colour"), ("Filter.1.Value.1", "x")]).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            ("InvalidParameterValue", "The filter 'colour' is invalid")
        );
        let e = describe(&[("Filter.1.Name", "tag:"), ("Filter.1.Value.1", "x")]).unwrap_err();
        assert_eq!(e.code, "InvalidParameterValue");
    }

    #[test]
    fn describe_pages() {
        let servers = fleet();
        let req = DescribeRequest::parse(&params(&[("MaxResults", "5")])).unwrap();
        assert_eq!(select(&servers, &req, &Nets::new()).unwrap().1, None);
        let mut many = Vec::new();
        for i in 0..12u32 {
            let mut s = server(&format!("{i:08x}-0000-0000-0000-000000000000"), "active");
            s.created_at = 100 - i as i64;
            many.push(s);
        }
        let mut seen = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut p = vec![("MaxResults".to_string(), "5".to_string())];
            if let Some(t) = &token {
                p.push(("NextToken".to_string(), t.clone()));
            }
            let req = DescribeRequest::parse(&Params::from_pairs(p)).unwrap();
            let (page, next) = select(&many, &req, &Nets::new()).unwrap();
            seen.extend(page.iter().map(|s| s.id.clone()));
            match next {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        assert_eq!(seen, many.iter().map(|s| s.id.clone()).collect::<Vec<_>>());
        for bad in [
            ("MaxResults", "4"),
            ("MaxResults", "1001"),
            ("MaxResults", "x"),
        ] {
            assert_eq!(
                DescribeRequest::parse(&params(&[bad])).unwrap_err().code,
                "InvalidParameterValue"
            );
        }
        let e = DescribeRequest::parse(&params(&[
            ("MaxResults", "5"),
            ("InstanceId.1", "i-0a000000"),
        ]))
        .unwrap_err();
        assert_eq!(e.code, "InvalidParameterCombination");
    }

    #[test]
    fn describe_xml_groups_by_reservation() {
        let servers = fleet();
        let page: Vec<&Server> = servers.iter().collect();
        let body = render_describe(&servers, &page, Some("tok"), &Nets::new());
        assert_eq!(body.matches("<reservationId>").count(), 2);
        assert!(body.starts_with("<reservationSet><item><reservationId>r-1</reservationId><ownerId>p1</ownerId><groupSet></groupSet><instancesSet><item><instanceId>i-0a000000000000000</instanceId>"), "{body}");
        // web-1 was launched first in r-1 (same time, name order).
        assert!(body.contains("<instanceId>i-0b000000000000000</instanceId><imageId>ami-11111111111111111</imageId><instanceState><code>80</code><name>stopped</name></instanceState><privateDnsName></privateDnsName><dnsName></dnsName><reason></reason><amiLaunchIndex>0</amiLaunchIndex>"), "{body}");
        assert!(
            body.contains("<keyName>mykey</keyName><amiLaunchIndex>1</amiLaunchIndex>"),
            "{body}"
        );
        assert!(body.contains("<placement><availabilityZone>nova</availabilityZone>"));
        assert!(
            body.contains("<launchTime>1970-01-01T00:00:00.003Z</launchTime>"),
            "{body}"
        );
        assert!(body.contains("<tagSet><item><key>Name</key><value>web</value></item><item><key>env</key><value>prod</value></item></tagSet>"));
        assert!(
            body.contains("<instanceState><code>48</code><name>terminated</name></instanceState>")
        );
        assert!(body.ends_with("</reservationSet><nextToken>tok</nextToken>"));
    }

    #[test]
    fn hostile_server_fields_are_escaped() {
        let mut s = server("0a000000-0000-0000-0000-000000000001", "active");
        s.name = "<script>".into();
        s.metadata = vec![("a&b".into(), "\"q\" 'x' <y> \u{0}".into())];
        s.key_name = Some("k<&>".into());
        s.flavor.name = "m1.<tiny>".into();
        s.reservation_id = "r-<1>".into();
        s.launched_at = Some(i64::MIN);
        let body = render_describe(&[s.clone()], &[&s], None, &Nets::new());
        assert!(
            !body.contains("<script>")
                && !body.contains("<y>")
                && !body.contains("<tiny>")
                && !body.contains("<1>")
        );
        assert!(
            body.contains(
                "<key>a&amp;b</key><value>&quot;q&quot; &apos;x&apos; &lt;y&gt; \u{FFFD}</value>"
            ),
            "{body}"
        );
        assert!(body.contains("<keyName>k&lt;&amp;&gt;</keyName>"));
    }

    #[test]
    fn run_requests() {
        let ok = params(&[
            ("ImageId", "ami-0f1e2d3c4b5a69788"),
            ("MinCount", "1"),
            ("MaxCount", "3"),
            ("InstanceType", "m1.tiny"),
            ("KeyName", "k"),
            ("UserData", "I2Nsb3VkLWNv\nbmZpZw=="),
            ("Placement.AvailabilityZone", "nova"),
            ("TagSpecification.1.ResourceType", "instance"),
            ("TagSpecification.1.Tag.1.Key", "Name"),
            ("TagSpecification.1.Tag.1.Value", "web"),
            ("TagSpecification.1.Tag.2.Key", "env"),
            ("TagSpecification.1.Tag.2.Value", "prod"),
        ]);
        let r = RunRequest::parse(&ok).unwrap();
        assert_eq!((r.min_count, r.max_count), (1, 3));
        assert_eq!(r.user_data.as_deref(), Some("I2Nsb3VkLWNvbmZpZw=="));
        assert_eq!(r.name(), "web");
        let create = r.server_create("uuid-1", "f1");
        assert_eq!(create.name, "web");
        assert_eq!(create.image_ref.as_deref(), Some("uuid-1"));
        assert_eq!(create.flavor_ref, "f1");
        assert_eq!(create.availability_zone.as_deref(), Some("nova"));
        assert_eq!(create.key_name.as_deref(), Some("k"));
        assert_eq!(
            create.metadata,
            vec![("Name".into(), "web".into()), ("env".into(), "prod".into())]
        );
        let base = [
            ("ImageId", "ami-0f1e2d3c"),
            ("MinCount", "1"),
            ("MaxCount", "1"),
        ];
        assert_eq!(
            RunRequest::parse(&params(&base)).unwrap().name(),
            DEFAULT_NAME
        );
        let with = |extra: &[(&str, &str)]| {
            let mut list = base.to_vec();
            list.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
            list.extend_from_slice(extra);
            RunRequest::parse(&params(&list))
                .map(drop)
                .map_err(|e| e.code)
        };
        assert_eq!(with(&[]), Ok(()));
        assert_eq!(with(&[("MinCount", "2")]), Err("InvalidParameterValue"));
        assert_eq!(with(&[("MinCount", "0")]), Err("InvalidParameterValue"));
        assert_eq!(with(&[("MaxCount", "1001")]), Err("InvalidParameterValue"));
        assert_eq!(with(&[("MaxCount", "")]), Err("InvalidParameterValue"));
        assert_eq!(with(&[("ImageId", "")]), Err("MissingParameter"));
        assert_eq!(
            with(&[("ImageId", "i-0f1e2d3c")]),
            Err("InvalidAMIID.Malformed")
        );
        assert_eq!(
            with(&[("UserData", "not base64!")]),
            Err("InvalidParameterValue")
        );
        assert_eq!(with(&[("SecurityGroupId.1", "sg-0f1e2d3c")]), Ok(()));
        assert_eq!(
            with(&[("SecurityGroupId.1", "sg-1")]),
            Err("InvalidGroupId.Malformed")
        );
        let r = RunRequest::parse(&params(&[
            ("ImageId", "ami-0f1e2d3c"),
            ("MinCount", "1"),
            ("MaxCount", "1"),
            ("SecurityGroup.1", "web"),
            ("SecurityGroup.2", "db"),
            ("SecurityGroupId.1", "sg-0f1e2d3c"),
        ]))
        .unwrap();
        assert_eq!(
            (r.group_names, r.group_ids),
            (
                vec!["web".to_string(), "db".to_string()],
                vec!["sg-0f1e2d3c".to_string()]
            )
        );
        assert_eq!(with(&[("SubnetId", "subnet-1")]), Err("Unsupported"));
        assert_eq!(
            with(&[("BlockDeviceMapping.1.DeviceName", "/dev/sda")]),
            Err("Unsupported")
        );
        assert_eq!(
            with(&[
                ("TagSpecification.1.ResourceType", "volume"),
                ("TagSpecification.1.Tag.1.Key", "k")
            ]),
            Err("InvalidParameterValue")
        );
        assert_eq!(
            with(&[
                ("TagSpecification.1.ResourceType", "instance"),
                ("TagSpecification.1.Tag.1.Key", "aws:x")
            ]),
            Err("InvalidParameterValue")
        );
        let big = base64::engine::general_purpose::STANDARD.encode(vec![0u8; MAX_USER_DATA + 1]);
        assert_eq!(
            with(&[("UserData", big.as_str())]),
            Err("InvalidParameterValue")
        );
        let mut p = base.to_vec();
        p.retain(|(k, _)| *k != "MinCount");
        assert_eq!(
            RunRequest::parse(&params(&p)).unwrap_err().code,
            "MissingParameter"
        );
    }

    #[test]
    fn instance_types_name_flavors() {
        let flavors = vec![
            flavor("1", "m1.small", 1, 2048, 20),
            flavor("42", "m1.tiny", 1, 512, 1),
        ];
        assert_eq!(flavor_for(&flavors, Some("m1.tiny")).unwrap().id, "42");
        assert_eq!(flavor_for(&flavors, Some("42")).unwrap().id, "42");
        assert_eq!(flavor_for(&flavors, None).unwrap().id, "1");
        let e = flavor_for(&flavors, Some("t2.micro")).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (
                "InvalidParameterValue",
                "Invalid value 't2.micro' for InstanceType."
            )
        );
        assert_eq!(
            flavor_for(&flavors[1..], None).unwrap_err().code,
            "MissingParameter"
        );
    }

    #[test]
    fn run_response() {
        let made = fleet()[..2].to_vec();
        let body = render_run("p1", &made, &Nets::new());
        assert!(body.starts_with("<reservationId>r-1</reservationId><ownerId>p1</ownerId><groupSet></groupSet><instancesSet><item><instanceId>"));
        assert_eq!(body.matches("<instanceId>").count(), 2);
        assert_eq!(render_run("p1", &[], &Nets::new()), "<reservationId></reservationId><ownerId>p1</ownerId><groupSet></groupSet><instancesSet></instancesSet>");
    }

    #[test]
    fn views_show_addresses_and_groups() {
        use crate::bindings::metacloud::api::types::ServerAddress;
        let made = fleet()[..1].to_vec();
        let addr = |addr: &str, kind: &str| ServerAddress {
            network: "private".into(),
            version: 4,
            addr: addr.into(),
            kind: kind.into(),
            mac: "fa:16:3e:00:00:01".into(),
        };
        let info = ServerNetworkInfo {
            server_id: made[0].id.clone(),
            addresses: vec![addr("10.0.0.3", "fixed"), addr("192.0.2.9", "floating")],
            security_groups: vec!["web".into(), "gone".into()],
        };
        let group = SecurityGroup {
            id: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0".into(),
            project_id: "p1".into(),
            name: "web".into(),
            description: String::new(),
            rules: vec![],
        };
        let nets = nets_of(&[info], &[group]);
        let body = render_run("p1", &made, &nets);
        let groups = "<groupSet><item><groupId>sg-0f1e2d3c4b5a69788</groupId><groupName>web</groupName></item><item><groupId></groupId><groupName>gone</groupName></item></groupSet>";
        assert!(
            body.starts_with(&format!(
                "<reservationId>r-1</reservationId><ownerId>p1</ownerId>{groups}"
            )),
            "{body}"
        );
        assert!(body.contains(&format!("<privateIpAddress>10.0.0.3</privateIpAddress><ipAddress>192.0.2.9</ipAddress>{groups}")), "{body}");
        let host = hostname(&made[0].name, &made[0].id);
        assert!(
            body.contains(&format!("<privateDnsName>{host}</privateDnsName>")),
            "{body}"
        );
        // Without networking: no addresses, no name, no groups.
        let body = render_run("p1", &made, &Nets::new());
        assert!(
            !body.contains("privateIpAddress")
                && body.contains("<privateDnsName></privateDnsName>")
        );
    }

    #[test]
    fn networking_filters() {
        let servers = fleet();
        let mut nets = Nets::new();
        nets.insert(
            servers[0].id.clone(),
            InstanceNet {
                private_ip: Some("10.0.0.3".into()),
                public_ip: Some("192.0.2.9".into()),
                groups: vec![("sg-0f1e2d3c4b5a69788".into(), "web".into())],
            },
        );
        nets.insert(
            servers[1].id.clone(),
            InstanceNet {
                private_ip: Some("10.0.0.4".into()),
                public_ip: None,
                groups: vec![("sg-11111111222233334".into(), "default".into())],
            },
        );
        let pick = |list: &[(&str, &str)], nets: &Nets| {
            let req = DescribeRequest::parse(&params(list)).unwrap();
            let (page, _) = select(&servers, &req, nets).unwrap();
            page.iter().map(|s| instance_id(s)).collect::<Vec<_>>()
        };
        let a = "i-0a000000000000000".to_string();
        let b = "i-0b000000000000000".to_string();
        let f = |name: &'static str, value: &'static str| {
            [("Filter.1.Name", name), ("Filter.1.Value.1", value)]
        };
        assert_eq!(
            pick(&f("private-ip-address", "10.0.0.3"), &nets),
            vec![a.clone()]
        );
        assert_eq!(
            pick(&f("private-ip-address", "10.0.0.*"), &nets),
            vec![a.clone(), b.clone()]
        );
        assert_eq!(pick(&f("ip-address", "192.0.2.9"), &nets), vec![a.clone()]);
        assert_eq!(pick(&f("group-name", "default"), &nets), vec![b.clone()]);
        assert_eq!(
            pick(&f("instance.group-id", "sg-0f1e2d3c4b5a69788"), &nets),
            vec![a.clone()]
        );
        assert_eq!(pick(&f("private-dns-name", "web-2"), &nets), vec![a]);
        // Without networking nothing matches them.
        assert!(pick(&f("group-name", "*"), &Nets::new()).is_empty());
        let req = DescribeRequest::parse(&params(&f("group-name", "web"))).unwrap();
        assert!(req.needs_nets());
        assert!(!DescribeRequest::parse(&params(&f("key-name", "k")))
            .unwrap()
            .needs_nets());
    }

    #[test]
    fn host_names_as_the_host_makes_them() {
        assert_eq!(hostname("My Web_Server.1", "u"), "my-web-server-1");
        assert_eq!(hostname("--x--", "u"), "x");
        assert_eq!(hostname("<>!", "0a1b2c3d-0000"), "server-0a1b2c3d");
        assert_eq!(hostname(&"a".repeat(80), "u").len(), 63);
    }

    #[test]
    fn state_change_plans() {
        let s = |vm: &str, task: Option<&str>| {
            let mut s = server("0a000000-0000-0000-0000-000000000001", vm);
            s.task_state = task.map(String::from);
            s
        };
        let p = plan(Change::Terminate, &s("active", None)).unwrap();
        assert_eq!(
            p,
            Plan {
                call: Some("delete"),
                previous: RUNNING,
                current: SHUTTING_DOWN
            }
        );
        let p = plan(Change::Terminate, &s("deleted", None)).unwrap();
        assert_eq!(
            p,
            Plan {
                call: None,
                previous: TERMINATED,
                current: TERMINATED
            }
        );
        assert_eq!(
            plan(Change::Terminate, &s("active", Some("deleting")))
                .unwrap()
                .call,
            None
        );
        assert_eq!(
            plan(Change::Terminate, &s("error", None)).unwrap().call,
            Some("delete")
        );
        assert_eq!(
            plan(Change::Start, &s("stopped", None)).unwrap(),
            Plan {
                call: Some("start"),
                previous: STOPPED,
                current: PENDING
            }
        );
        assert_eq!(
            plan(Change::Start, &s("paused", None)).unwrap().call,
            Some("unpause")
        );
        assert_eq!(
            plan(Change::Start, &s("suspended", None)).unwrap().call,
            Some("resume")
        );
        assert_eq!(plan(Change::Start, &s("active", None)).unwrap().call, None);
        assert_eq!(
            plan(Change::Start, &s("deleted", None)).unwrap_err().code,
            "IncorrectInstanceState"
        );
        assert_eq!(
            plan(Change::Start, &s("active", Some("powering-off")))
                .unwrap_err()
                .code,
            "IncorrectInstanceState"
        );
        assert_eq!(
            plan(Change::Stop, &s("active", None)).unwrap(),
            Plan {
                call: Some("stop"),
                previous: RUNNING,
                current: STOPPING
            }
        );
        assert_eq!(plan(Change::Stop, &s("stopped", None)).unwrap().call, None);
        let e = plan(Change::Stop, &s("deleted", None)).unwrap_err();
        assert_eq!(
            e.message,
            "The instance 'i-0a000000000000000' is not in a state from which it can be stopped."
        );
        assert!(check_reboot(&s("active", None)).is_ok());
        assert!(check_reboot(&s("deleted", None)).is_err());
        let body = render_changes(&[(
            "i-1".into(),
            plan(Change::Terminate, &s("active", None)).unwrap(),
        )]);
        assert_eq!(body, "<instancesSet><item><instanceId>i-1</instanceId><currentState><code>32</code><name>shutting-down</name></currentState><previousState><code>16</code><name>running</name></previousState></item></instancesSet>");
        assert_eq!(
            instance_ids(&params(&[])).unwrap_err().code,
            "MissingParameter"
        );
        assert_eq!(
            instance_ids(&params(&[("InstanceId.1", "ami-12345678")]))
                .unwrap_err()
                .code,
            "InvalidInstanceID.Malformed"
        );
    }

    #[test]
    fn console_output() {
        assert_eq!(
            console_target(&params(&[("InstanceId", "i-0a000000")])).unwrap(),
            "i-0a000000"
        );
        assert_eq!(
            console_target(&params(&[])).unwrap_err().code,
            "MissingParameter"
        );
        assert_eq!(
            console_target(&params(&[("InstanceId", "x")]))
                .unwrap_err()
                .code,
            "InvalidInstanceID.Malformed"
        );
        assert_eq!(
            render_console("i-1", 0, "boot <ok>\n"),
            "<instanceId>i-1</instanceId><timestamp>1970-01-01T00:00:00.000Z</timestamp><output>Ym9vdCA8b2s+Cg==</output>"
        );
    }

    #[test]
    fn instance_status() {
        let servers = fleet();
        let pick = |list: &[(&str, &str)]| -> Vec<String> {
            let req = StatusRequest::parse(&params(list)).unwrap();
            select_status(&servers, &req)
                .unwrap()
                .0
                .iter()
                .map(|s| instance_id(s))
                .collect()
        };
        assert_eq!(pick(&[]), vec!["i-0a000000000000000"]);
        assert_eq!(pick(&[("IncludeAllInstances", "true")]).len(), 3);
        assert_eq!(
            pick(&[
                ("IncludeAllInstances", "true"),
                ("Filter.1.Name", "instance-state-name"),
                ("Filter.1.Value.1", "stopped")
            ]),
            vec!["i-0b000000000000000"]
        );
        let page: Vec<&Server> = servers.iter().collect();
        let body = render_status(&page, None);
        assert!(body.contains("<systemStatus><status>ok</status><details><item><name>reachability</name><status>passed</status></item></details></systemStatus>"), "{body}");
        assert!(body.contains("<instanceStatus><status>not-applicable</status><details></details></instanceStatus>"), "{body}");
        let mut broken = servers[0].clone();
        broken.vm_state = "error".into();
        assert_eq!(health(&broken), ("impaired", "failed"));
        assert_eq!(
            StatusRequest::parse(&params(&[
                ("Filter.1.Name", "tag:x"),
                ("Filter.1.Value.1", "y")
            ]))
            .unwrap_err()
            .code,
            "InvalidParameterValue"
        );
    }
}
