//! Security groups, EC2-Classic style (as Nova's EC2 API served them), over the caller's
//! project's groups: CreateSecurityGroup, DeleteSecurityGroup, DescribeSecurityGroups,
//! Authorize/RevokeSecurityGroupIngress and -Egress. Groups are named by `GroupName` or
//! by `GroupId` (`sg-` and 17 hex digits of the group's UUID, see [`ids`]); rules come as
//! `IpPermissions.N` (`IpProtocol`, `FromPort`, `ToPort`, `IpRanges.M.CidrIp`,
//! `Groups.M.GroupId`/`GroupName`) or the older flat form (`IpProtocol`, `CidrIp`,
//! `SourceSecurityGroupName`, …). A permission with several sources is one rule per source
//! here, and rules with the same protocol and ports are shown as one permission again.
//! An authorization is all or nothing: a duplicate (in the group or within the request)
//! fails it before anything is added, and a later failure takes back what it added.

use crate::bindings::metacloud::api::compute;
use crate::bindings::metacloud::api::types::{
    SecurityGroup, SecurityGroupRule, SecurityGroupRuleCreate,
};
use crate::ids::{self, Kind};
use crate::params::{Filter, Params};
use crate::xml::Xml;
use crate::{Ctx, Ec2Error, Family};

/// EC2's limit on group names and descriptions.
pub const MAX_TEXT: usize = 255;
/// The group every project has, which cannot be deleted.
pub const DEFAULT_GROUP: &str = "default";

/// A group as a request names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupRef {
    Name(String),
    /// An `sg-` id (checked well formed).
    Id(String),
}

impl GroupRef {
    fn shown(&self) -> &str {
        match self {
            GroupRef::Name(n) | GroupRef::Id(n) => n,
        }
    }
}

/// The EC2 id of a group.
pub fn group_id(g: &SecurityGroup) -> String {
    ids::ec2_id(Kind::SecurityGroup, &g.id)
}

/// `GroupId` or `GroupName` (the id wins when both are given, as EC2 does).
pub fn group_ref(p: &Params) -> Result<GroupRef, Ec2Error> {
    if let Some(id) = p.get("GroupId").filter(|v| !v.is_empty()) {
        ids::parse(Kind::SecurityGroup, id)?;
        return Ok(GroupRef::Id(id.to_string()));
    }
    match p.get("GroupName").filter(|v| !v.is_empty()) {
        Some(n) => Ok(GroupRef::Name(n.to_string())),
        None => Err(Ec2Error::missing("GroupName or GroupId")),
    }
}

fn group_not_found(name: &str) -> Ec2Error {
    Ec2Error::client(
        "InvalidGroup.NotFound",
        format!("The security group '{name}' does not exist"),
    )
}

/// The group a reference names among `groups`, or `InvalidGroup.NotFound`.
pub fn find<'a>(groups: &'a [SecurityGroup], r: &GroupRef) -> Result<&'a SecurityGroup, Ec2Error> {
    match r {
        GroupRef::Name(n) => groups
            .iter()
            .find(|g| &g.name == n)
            .ok_or_else(|| group_not_found(n)),
        GroupRef::Id(id) => ids::resolve(Kind::SecurityGroup, groups, |g| g.id.as_str(), id),
    }
}

fn list_groups(ctx: &Ctx) -> Result<Vec<SecurityGroup>, Ec2Error> {
    compute::list_security_groups(ctx.caller, false)
        .map_err(|e| Ec2Error::from_op(e, Family::SecurityGroup))
}

fn return_true(x: &mut Xml) {
    x.boolean("return", true);
}

// --- CreateSecurityGroup / DeleteSecurityGroup ---------------------------------------------

/// A CreateSecurityGroup request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRequest {
    pub name: String,
    pub description: String,
}

fn text_param<'a>(p: &'a Params, name: &str) -> Result<&'a str, Ec2Error> {
    let v = p.required(name)?;
    if v.chars().count() > MAX_TEXT {
        return Err(Ec2Error::invalid(format!(
            "Value for parameter {name} is invalid: it is longer than {MAX_TEXT} characters."
        )));
    }
    Ok(v)
}

impl CreateRequest {
    pub fn parse(p: &Params) -> Result<CreateRequest, Ec2Error> {
        if p.get("VpcId").is_some_and(|v| !v.is_empty()) {
            return Err(Ec2Error::unsupported(
                "The parameter VpcId is not supported: there are no VPCs here.",
            ));
        }
        if !p.tag_specs()?.is_empty() {
            return Err(Ec2Error::unsupported(
                "Tags on security groups are not supported: only instances carry tags here.",
            ));
        }
        let name = text_param(p, "GroupName")?;
        if name.starts_with("sg-") {
            return Err(Ec2Error::invalid(format!(
                "Invalid value '{name}' for GroupName: group names may not be in the format sg-*."
            )));
        }
        Ok(CreateRequest {
            name: name.to_string(),
            description: text_param(p, "GroupDescription")?.to_string(),
        })
    }
}

fn duplicate_group(name: &str) -> Ec2Error {
    Ec2Error::client(
        "InvalidGroup.Duplicate",
        format!("The security group '{name}' already exists"),
    )
}

pub fn create_security_group(ctx: &Ctx) -> Result<String, Ec2Error> {
    let req = CreateRequest::parse(ctx.params)?;
    if list_groups(ctx)?.iter().any(|g| g.name == req.name) {
        return Err(duplicate_group(&req.name));
    }
    let g = compute::create_security_group(ctx.caller, &req.name, &req.description)
        .map_err(|e| Ec2Error::from_op(e, Family::SecurityGroup))?;
    let mut x = Xml::new();
    return_true(&mut x);
    x.leaf("groupId", &group_id(&g));
    Ok(x.finish())
}

pub fn delete_security_group(ctx: &Ctx) -> Result<String, Ec2Error> {
    let target = group_ref(ctx.params)?;
    let groups = list_groups(ctx)?;
    let g = find(&groups, &target)?;
    if g.name == DEFAULT_GROUP {
        return Err(Ec2Error::client(
            "CannotDelete",
            "The default security group cannot be deleted.",
        ));
    }
    compute::delete_security_group(ctx.caller, &g.id).map_err(|e| match e {
        crate::bindings::metacloud::api::types::OpError::BadRequest(m) => Ec2Error::client(
            "InvalidGroup.InUse",
            format!("The security group '{}' is in use: {m}", g.name),
        ),
        e => Ec2Error::from_op(e, Family::SecurityGroup),
    })?;
    let mut x = Xml::new();
    return_true(&mut x);
    x.leaf("groupId", &group_id(g));
    Ok(x.finish())
}

// --- rules -------------------------------------------------------------------------------

/// Where a rule's traffic comes from (ingress) or goes to (egress), as a request names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A CIDR, canonical (network address); `0.0.0.0/0` is anywhere.
    Cidr(String),
    /// Members of a group (by name or id), with the owner named, if any.
    Group {
        group: GroupRef,
        owner: Option<String>,
    },
}

/// One IP permission: a protocol (none: any), its ports (ICMP: type and code; none:
/// all) and its sources (none: anywhere).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    pub protocol: Option<String>,
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub sources: Vec<Source>,
}

/// A rule, resolved: what the host stores (`cidr` none and `group` none: anywhere).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    pub protocol: Option<String>,
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub cidr: Option<String>,
    /// The source group's host id.
    pub group: Option<String>,
}

/// `ingress` or `egress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

/// A CIDR in canonical form (the network address), or `InvalidParameterValue`.
pub fn canonical_cidr(c: &str) -> Result<String, Ec2Error> {
    let bad = || {
        Ec2Error::invalid(format!(
            "Invalid value '{c}' for CidrIp: not an IPv4 CIDR (a.b.c.d/n)."
        ))
    };
    let (addr, prefix) = c.trim().split_once('/').ok_or_else(bad)?;
    let addr: std::net::Ipv4Addr = addr.parse().map_err(|_| bad())?;
    let prefix: u32 = prefix.parse().ok().filter(|p| *p <= 32).ok_or_else(bad)?;
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    Ok(format!(
        "{}/{prefix}",
        std::net::Ipv4Addr::from(u32::from(addr) & mask)
    ))
}

/// EC2's protocol names and numbers as the host's (`None`: any).
pub fn protocol(raw: &str) -> Result<Option<String>, Ec2Error> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "-1" | "all" => Ok(None),
        "tcp" | "6" => Ok(Some("tcp".into())),
        "udp" | "17" => Ok(Some("udp".into())),
        "icmp" | "1" => Ok(Some("icmp".into())),
        _ => Err(Ec2Error::invalid(format!(
            "Invalid value '{raw}' for IP protocol: tcp, udp, icmp or -1 (all) are supported."
        ))),
    }
}

fn port(p: &Params, name: &str, shown: &str) -> Result<Option<i64>, Ec2Error> {
    match p.get(name).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v.trim().parse::<i64>().map(Some).map_err(|_| {
            Ec2Error::invalid(format!(
                "Invalid value '{v}' for {shown}: expected an integer."
            ))
        }),
    }
}

/// Protocol and ports in the host's terms: tcp/udp need both ports (0–65535 or -1 is
/// every port); ICMP type and code default to -1 (any); any protocol takes no ports.
pub fn ports(
    protocol: Option<&str>,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<(Option<i64>, Option<i64>), Ec2Error> {
    let any = |v: Option<i64>| v.filter(|v| *v != -1);
    match protocol {
        None => Ok((None, None)),
        Some("icmp") => Ok((any(from), any(to))),
        Some(p) => match (from, to) {
            (Some(-1), Some(-1)) | (Some(0), Some(65535)) => Ok((None, None)),
            (Some(f), Some(t)) => Ok((Some(f), Some(t))),
            _ => Err(Ec2Error::invalid(format!(
                "Invalid value for the ports of protocol {p}: give both FromPort and ToPort."
            ))),
        },
    }
}

fn source_group(fields: &Params, shown: &str) -> Result<Source, Ec2Error> {
    let group = if let Some(id) = fields.get("GroupId").filter(|v| !v.is_empty()) {
        ids::parse(Kind::SecurityGroup, id)?;
        GroupRef::Id(id.to_string())
    } else if let Some(n) = fields.get("GroupName").filter(|v| !v.is_empty()) {
        GroupRef::Name(n.to_string())
    } else {
        return Err(Ec2Error::missing(&format!(
            "{shown}.GroupId or {shown}.GroupName"
        )));
    };
    Ok(Source::Group {
        group,
        owner: fields
            .get("UserId")
            .filter(|v| !v.is_empty())
            .map(String::from),
    })
}

fn sub_params(fields: &[(&str, &str)]) -> Params {
    Params::from_pairs(fields.iter().copied())
}

/// One `IpPermissions.N`.
fn permission(n: u32, fields: &[(&str, &str)]) -> Result<Permission, Ec2Error> {
    let shown = format!("IpPermissions.{n}");
    let p = sub_params(fields);
    for name in p.names() {
        let known = ["IpProtocol", "FromPort", "ToPort"].contains(&name)
            || name.starts_with("IpRanges.")
            || name.starts_with("Groups.");
        if name.starts_with("Ipv6Ranges.") || name.starts_with("PrefixListIds.") {
            return Err(Ec2Error::unsupported(format!(
                "The parameter {shown}.{name} is not supported: IPv4 ranges and groups only."
            )));
        }
        if !known {
            return Err(Ec2Error::unknown_parameter(&format!("{shown}.{name}")));
        }
    }
    let proto = protocol(
        p.required("IpProtocol")
            .map_err(|_| Ec2Error::missing(&format!("{shown}.IpProtocol")))?,
    )?;
    let (from, to) = ports(
        proto.as_deref(),
        port(&p, "FromPort", &format!("{shown}.FromPort"))?,
        port(&p, "ToPort", &format!("{shown}.ToPort"))?,
    )?;
    let mut sources = Vec::new();
    for (m, range) in p.groups("IpRanges")? {
        let r = sub_params(&range);
        for name in r.names() {
            if name != "CidrIp" && name != "Description" {
                return Err(Ec2Error::unknown_parameter(&format!(
                    "{shown}.IpRanges.{m}.{name}"
                )));
            }
        }
        let cidr = r
            .get("CidrIp")
            .filter(|v| !v.is_empty())
            .ok_or_else(|| Ec2Error::missing(&format!("{shown}.IpRanges.{m}.CidrIp")))?;
        sources.push(Source::Cidr(canonical_cidr(cidr)?));
    }
    for (m, pair) in p.groups("Groups")? {
        sources.push(source_group(
            &sub_params(&pair),
            &format!("{shown}.Groups.{m}"),
        )?);
    }
    Ok(Permission {
        protocol: proto,
        from,
        to,
        sources,
    })
}

/// The parameters of the flat form.
const FLAT: &[&str] = &[
    "IpProtocol",
    "FromPort",
    "ToPort",
    "CidrIp",
    "SourceSecurityGroupName",
    "SourceSecurityGroupOwnerId",
];

fn has_flat(p: &Params) -> bool {
    FLAT.iter().any(|n| p.get(n).is_some())
}

/// The flat form: `IpProtocol`, `FromPort`, `ToPort`, `CidrIp`, `SourceSecurityGroupName`
/// (and `…OwnerId`); no protocol with a source group is every protocol.
fn flat_permission(p: &Params) -> Result<Option<Permission>, Ec2Error> {
    if !has_flat(p) {
        return Ok(None);
    }
    let proto = match p.get("IpProtocol").filter(|v| !v.is_empty()) {
        Some(raw) => protocol(raw)?,
        None if p.get("SourceSecurityGroupName").is_some() => None,
        None => return Err(Ec2Error::missing("IpProtocol")),
    };
    let (from, to) = ports(
        proto.as_deref(),
        port(p, "FromPort", "FromPort")?,
        port(p, "ToPort", "ToPort")?,
    )?;
    let mut sources = Vec::new();
    if let Some(c) = p.get("CidrIp").filter(|v| !v.is_empty()) {
        sources.push(Source::Cidr(canonical_cidr(c)?));
    }
    if let Some(n) = p.get("SourceSecurityGroupName").filter(|v| !v.is_empty()) {
        sources.push(Source::Group {
            group: GroupRef::Name(n.to_string()),
            owner: p
                .get("SourceSecurityGroupOwnerId")
                .filter(|v| !v.is_empty())
                .map(String::from),
        });
    }
    Ok(Some(Permission {
        protocol: proto,
        from,
        to,
        sources,
    }))
}

/// An Authorize/Revoke request: the group and its permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulesRequest {
    pub group: GroupRef,
    pub permissions: Vec<Permission>,
}

impl RulesRequest {
    pub fn parse(p: &Params) -> Result<RulesRequest, Ec2Error> {
        let group = group_ref(p)?;
        let mut permissions = Vec::new();
        for (n, fields) in p.groups("IpPermissions")? {
            permissions.push(permission(n, &fields)?);
        }
        if !permissions.is_empty() && has_flat(p) {
            return Err(Ec2Error::client(
                "InvalidParameterCombination",
                "Give IpPermissions or the flat IpProtocol/CidrIp/SourceSecurityGroupName \
                 form, not both.",
            ));
        }
        permissions.extend(flat_permission(p)?);
        if permissions.is_empty() {
            return Err(Ec2Error::missing("IpPermissions"));
        }
        Ok(RulesRequest { group, permissions })
    }
}

/// The rules a request's permissions are, their source groups found among `groups`
/// (the caller's own: another owner's group is not found).
pub fn resolve(
    perms: &[Permission],
    groups: &[SecurityGroup],
    project: &str,
) -> Result<Vec<RuleSpec>, Ec2Error> {
    let mut out = Vec::new();
    for p in perms {
        let base = RuleSpec {
            protocol: p.protocol.clone(),
            from: p.from,
            to: p.to,
            cidr: None,
            group: None,
        };
        if p.sources.is_empty() {
            out.push(base.clone());
        }
        for s in &p.sources {
            out.push(match s {
                Source::Cidr(c) => RuleSpec {
                    cidr: Some(c.clone()).filter(|c| c != "0.0.0.0/0"),
                    ..base.clone()
                },
                Source::Group { group, owner } => {
                    if owner.as_deref().is_some_and(|o| o != project) {
                        return Err(group_not_found(group.shown()));
                    }
                    RuleSpec {
                        group: Some(find(groups, group)?.id.clone()),
                        ..base.clone()
                    }
                }
            });
        }
    }
    Ok(out)
}

/// A stored rule in the terms of a request's.
pub fn spec_of(r: &SecurityGroupRule) -> RuleSpec {
    let icmp = r.protocol.as_deref() == Some("icmp");
    RuleSpec {
        protocol: r.protocol.clone(),
        from: if icmp { r.icmp_type } else { r.port_min },
        to: if icmp { r.icmp_code } else { r.port_max },
        cidr: r.remote_cidr.clone().filter(|c| c != "0.0.0.0/0"),
        group: r.remote_group_id.clone(),
    }
}

/// The group's rule (in `dir`) that `spec` is, if any.
pub fn existing<'a>(
    g: &'a SecurityGroup,
    dir: Direction,
    spec: &RuleSpec,
) -> Option<&'a SecurityGroupRule> {
    g.rules
        .iter()
        .find(|r| r.direction == dir.as_str() && spec_of(r) == *spec)
}

fn describe_rule(s: &RuleSpec) -> String {
    let peer = match (&s.cidr, &s.group) {
        (_, Some(g)) => ids::ec2_id(Kind::SecurityGroup, g),
        (Some(c), None) => c.clone(),
        (None, None) => "0.0.0.0/0".into(),
    };
    let proto = s.protocol.as_deref().unwrap_or("all").to_ascii_uppercase();
    let n = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_else(|| "-1".into());
    format!(
        "peer: {peer}, {proto}, from port: {}, to port: {}, ALLOW",
        n(s.from),
        n(s.to)
    )
}

/// The rules to add: none already in the group or repeated in the request.
pub fn check_new(g: &SecurityGroup, dir: Direction, specs: &[RuleSpec]) -> Result<(), Ec2Error> {
    for (i, s) in specs.iter().enumerate() {
        if existing(g, dir, s).is_some() || specs[..i].contains(s) {
            return Err(Ec2Error::client(
                "InvalidPermission.Duplicate",
                format!("the specified rule \"{}\" already exists", describe_rule(s)),
            ));
        }
    }
    Ok(())
}

/// The ids of the group's rules the specs are; each must be there.
pub fn to_revoke(
    g: &SecurityGroup,
    dir: Direction,
    specs: &[RuleSpec],
) -> Result<Vec<String>, Ec2Error> {
    specs
        .iter()
        .map(|s| {
            existing(g, dir, s).map(|r| r.id.clone()).ok_or_else(|| {
                Ec2Error::client(
                    "InvalidPermission.NotFound",
                    format!(
                        "The specified rule \"{}\" does not exist in this security group.",
                        describe_rule(s)
                    ),
                )
            })
        })
        .collect()
}

fn rule_create(group: &SecurityGroup, s: &RuleSpec) -> SecurityGroupRuleCreate {
    SecurityGroupRuleCreate {
        parent_group_id: group.id.clone(),
        protocol: s.protocol.clone(),
        from_port: s.from,
        to_port: s.to,
        cidr: s.cidr.clone(),
        group_id: s.group.clone(),
    }
}

fn authorize(ctx: &Ctx, dir: Direction) -> Result<String, Ec2Error> {
    let req = RulesRequest::parse(ctx.params)?;
    let groups = list_groups(ctx)?;
    let g = find(&groups, &req.group)?;
    let specs = resolve(&req.permissions, &groups, &ctx.caller.project_id)?;
    check_new(g, dir, &specs)?;
    let mut added: Vec<String> = Vec::new();
    for s in &specs {
        let made = match dir {
            Direction::Ingress => {
                compute::create_security_group_rule(ctx.caller, &rule_create(g, s))
            }
            Direction::Egress => compute::create_security_group_rule_directed(
                ctx.caller,
                dir.as_str(),
                &rule_create(g, s),
            ),
        };
        match made {
            Ok(r) => added.push(r.id),
            Err(e) => {
                // All or nothing: take back what this request added.
                for id in &added {
                    let _ = compute::delete_security_group_rule(ctx.caller, id);
                }
                return Err(Ec2Error::from_op(e, Family::Rule));
            }
        }
    }
    let mut x = Xml::new();
    return_true(&mut x);
    Ok(x.finish())
}

fn revoke(ctx: &Ctx, dir: Direction) -> Result<String, Ec2Error> {
    let req = RulesRequest::parse(ctx.params)?;
    let groups = list_groups(ctx)?;
    let g = find(&groups, &req.group)?;
    let specs = resolve(&req.permissions, &groups, &ctx.caller.project_id)?;
    for id in to_revoke(g, dir, &specs)? {
        compute::delete_security_group_rule(ctx.caller, &id)
            .map_err(|e| Ec2Error::from_op(e, Family::Rule))?;
    }
    let mut x = Xml::new();
    return_true(&mut x);
    Ok(x.finish())
}

pub fn authorize_ingress(ctx: &Ctx) -> Result<String, Ec2Error> {
    authorize(ctx, Direction::Ingress)
}

pub fn authorize_egress(ctx: &Ctx) -> Result<String, Ec2Error> {
    authorize(ctx, Direction::Egress)
}

pub fn revoke_ingress(ctx: &Ctx) -> Result<String, Ec2Error> {
    revoke(ctx, Direction::Ingress)
}

pub fn revoke_egress(ctx: &Ctx) -> Result<String, Ec2Error> {
    revoke(ctx, Direction::Egress)
}

// --- DescribeSecurityGroups ----------------------------------------------------------------

/// The filters DescribeSecurityGroups knows.
pub const GROUP_FILTERS: &[&str] = &[
    "description",
    "group-id",
    "group-name",
    "owner-id",
    "ip-permission.cidr",
    "ip-permission.from-port",
    "ip-permission.group-id",
    "ip-permission.group-name",
    "ip-permission.protocol",
    "ip-permission.to-port",
];

/// A DescribeSecurityGroups request.
#[derive(Debug, Clone, PartialEq)]
pub struct DescribeRequest {
    pub names: Vec<String>,
    pub ids: Vec<String>,
    pub filters: Vec<Filter>,
}

impl DescribeRequest {
    pub fn parse(p: &Params) -> Result<DescribeRequest, Ec2Error> {
        let filters = p.filters()?;
        for f in &filters {
            if !GROUP_FILTERS.contains(&f.name.as_str()) {
                return Err(Ec2Error::invalid(format!(
                    "The filter '{}' is invalid",
                    f.name
                )));
            }
        }
        let ids = p.list("GroupId")?;
        for id in &ids {
            ids::parse(Kind::SecurityGroup, id)?;
        }
        Ok(DescribeRequest {
            names: p.list("GroupName")?.into_iter().map(String::from).collect(),
            ids: ids.into_iter().map(String::from).collect(),
            filters,
        })
    }
}

/// One permission as shown: rules of a direction with the same protocol and ports.
struct Shown<'a> {
    protocol: Option<&'a str>,
    from: Option<i64>,
    to: Option<i64>,
    rules: Vec<&'a SecurityGroupRule>,
}

fn shown_permissions(g: &SecurityGroup, dir: Direction) -> Vec<Shown<'_>> {
    let mut out: Vec<Shown> = Vec::new();
    for r in g.rules.iter().filter(|r| r.direction == dir.as_str()) {
        let s = spec_of(r);
        match out
            .iter_mut()
            .find(|p| p.protocol == r.protocol.as_deref() && p.from == s.from && p.to == s.to)
        {
            Some(p) => p.rules.push(r),
            None => out.push(Shown {
                protocol: r.protocol.as_deref(),
                from: s.from,
                to: s.to,
                rules: vec![r],
            }),
        }
    }
    out
}

/// EC2's ports of a shown permission: none for any protocol, 0–65535 for every tcp/udp
/// port, -1 for any ICMP type or code.
fn shown_ports(p: &Shown) -> Option<(i64, i64)> {
    match p.protocol {
        None => None,
        Some("icmp") => Some((p.from.unwrap_or(-1), p.to.unwrap_or(-1))),
        Some(_) => Some((p.from.unwrap_or(0), p.to.unwrap_or(65535))),
    }
}

fn write_permissions(
    x: &mut Xml,
    tag: &str,
    g: &SecurityGroup,
    dir: Direction,
    groups: &[SecurityGroup],
) {
    x.set(tag, shown_permissions(g, dir), |x, p| {
        x.leaf("ipProtocol", p.protocol.unwrap_or("-1"));
        if let Some((from, to)) = shown_ports(&p) {
            x.num("fromPort", from).num("toPort", to);
        }
        let by_group: Vec<&SecurityGroupRule> = p
            .rules
            .iter()
            .copied()
            .filter(|r| r.remote_group_id.is_some())
            .collect();
        x.set("groups", by_group, |x, r| {
            let id = r.remote_group_id.as_deref().unwrap_or_default();
            let name = r
                .remote_group_name
                .clone()
                .or_else(|| groups.iter().find(|o| o.id == id).map(|o| o.name.clone()))
                .unwrap_or_default();
            x.leaf("userId", &g.project_id)
                .leaf("groupId", &ids::ec2_id(Kind::SecurityGroup, id))
                .leaf("groupName", &name);
        });
        let by_cidr: Vec<&SecurityGroupRule> = p
            .rules
            .iter()
            .copied()
            .filter(|r| r.remote_group_id.is_none())
            .collect();
        x.set("ipRanges", by_cidr, |x, r| {
            x.leaf("cidrIp", r.remote_cidr.as_deref().unwrap_or("0.0.0.0/0"));
        });
        x.elem("ipv6Ranges", |_| {}).elem("prefixListIds", |_| {});
    });
}

fn filter_matches(f: &Filter, g: &SecurityGroup) -> bool {
    let ingress = || g.rules.iter().filter(|r| r.direction == "ingress");
    match f.name.as_str() {
        "description" => f.matches(&g.description),
        "group-id" => f.matches(&group_id(g)),
        "group-name" => f.matches(&g.name),
        "owner-id" => f.matches(&g.project_id),
        "ip-permission.cidr" => ingress().any(|r| {
            r.remote_group_id.is_none()
                && f.matches(r.remote_cidr.as_deref().unwrap_or("0.0.0.0/0"))
        }),
        "ip-permission.protocol" => {
            ingress().any(|r| f.matches(r.protocol.as_deref().unwrap_or("-1")))
        }
        "ip-permission.from-port" => {
            ingress().any(|r| spec_of(r).from.is_some_and(|v| f.matches(&v.to_string())))
        }
        "ip-permission.to-port" => {
            ingress().any(|r| spec_of(r).to.is_some_and(|v| f.matches(&v.to_string())))
        }
        "ip-permission.group-id" => ingress().any(|r| {
            r.remote_group_id
                .as_deref()
                .is_some_and(|id| f.matches(&ids::ec2_id(Kind::SecurityGroup, id)))
        }),
        "ip-permission.group-name" => {
            ingress().any(|r| r.remote_group_name.as_deref().is_some_and(|n| f.matches(n)))
        }
        _ => false,
    }
}

/// The groups a DescribeSecurityGroups answers: each named one must exist.
pub fn select<'a>(
    all: &'a [SecurityGroup],
    req: &DescribeRequest,
) -> Result<Vec<&'a SecurityGroup>, Ec2Error> {
    let mut wanted: Vec<&str> = Vec::new();
    for n in &req.names {
        wanted.push(&find(all, &GroupRef::Name(n.clone()))?.id);
    }
    for id in &req.ids {
        wanted.push(&find(all, &GroupRef::Id(id.clone()))?.id);
    }
    Ok(all
        .iter()
        .filter(|g| wanted.is_empty() || wanted.contains(&g.id.as_str()))
        .filter(|g| req.filters.iter().all(|f| filter_matches(f, g)))
        .collect())
}

pub fn render_describe(page: &[&SecurityGroup], all: &[SecurityGroup]) -> String {
    let mut x = Xml::new();
    x.set("securityGroupInfo", page, |x, g| {
        x.leaf("ownerId", &g.project_id)
            .leaf("groupId", &group_id(g))
            .leaf("groupName", &g.name)
            .leaf("groupDescription", &g.description);
        write_permissions(x, "ipPermissions", g, Direction::Ingress, all);
        write_permissions(x, "ipPermissionsEgress", g, Direction::Egress, all);
        x.elem("tagSet", |_| {});
    });
    x.finish()
}

pub fn describe_security_groups(ctx: &Ctx) -> Result<String, Ec2Error> {
    let req = DescribeRequest::parse(ctx.params)?;
    let all = list_groups(ctx)?;
    Ok(render_describe(&select(&all, &req)?, &all))
}

/// The host's names of the groups `SecurityGroup.N` and `SecurityGroupId.N` name (each
/// must exist), for RunInstances.
pub fn launch_groups(
    names: &[String],
    ids: &[String],
    all: &[SecurityGroup],
) -> Result<Vec<String>, Ec2Error> {
    let mut out: Vec<String> = Vec::new();
    let refs = names
        .iter()
        .map(|n| GroupRef::Name(n.clone()))
        .chain(ids.iter().map(|i| GroupRef::Id(i.clone())));
    for r in refs {
        let g = find(all, &r)?;
        if !out.contains(&g.name) {
            out.push(g.name.clone());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::params;

    const WEB: &str = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
    const DEF: &str = "11111111-2222-3333-4444-555555555555";

    fn rule(
        id: &str,
        dir: &str,
        proto: Option<&str>,
        ports: (Option<i64>, Option<i64>),
    ) -> SecurityGroupRule {
        let icmp = proto == Some("icmp");
        SecurityGroupRule {
            id: id.into(),
            group_id: WEB.into(),
            direction: dir.into(),
            protocol: proto.map(String::from),
            port_min: if icmp { None } else { ports.0 },
            port_max: if icmp { None } else { ports.1 },
            icmp_type: if icmp { ports.0 } else { None },
            icmp_code: if icmp { ports.1 } else { None },
            remote_cidr: None,
            remote_group_id: None,
            remote_group_name: None,
        }
    }

    fn groups() -> Vec<SecurityGroup> {
        let mut ssh = rule("r1", "ingress", Some("tcp"), (Some(22), Some(22)));
        ssh.remote_cidr = Some("10.0.0.0/8".into());
        let mut ssh2 = rule("r2", "ingress", Some("tcp"), (Some(22), Some(22)));
        ssh2.remote_group_id = Some(DEF.into());
        ssh2.remote_group_name = Some("default".into());
        let ping = rule("r3", "ingress", Some("icmp"), (None, None));
        let out = rule("r4", "egress", None, (None, None));
        vec![
            SecurityGroup {
                id: DEF.into(),
                project_id: "p1".into(),
                name: "default".into(),
                description: "default".into(),
                rules: vec![],
            },
            SecurityGroup {
                id: WEB.into(),
                project_id: "p1".into(),
                name: "web".into(),
                description: "web servers".into(),
                rules: vec![ssh, ssh2, ping, out],
            },
        ]
    }

    fn rules_request(list: &[(&str, &str)]) -> Result<RulesRequest, &'static str> {
        RulesRequest::parse(&params(list)).map_err(|e| e.code)
    }

    #[test]
    fn group_refs_and_ids() {
        let all = groups();
        assert_eq!(group_id(&all[1]), "sg-0f1e2d3c4b5a69788");
        let by_id = group_ref(&params(&[
            ("GroupId", "sg-0f1e2d3c4b5a69788"),
            ("GroupName", "x"),
        ]))
        .unwrap();
        assert_eq!(find(&all, &by_id).unwrap().name, "web");
        assert_eq!(
            find(&all, &GroupRef::Name("default".into())).unwrap().id,
            DEF
        );
        let e = find(&all, &GroupRef::Name("nope".into())).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (
                "InvalidGroup.NotFound",
                "The security group 'nope' does not exist"
            )
        );
        let e = find(&all, &GroupRef::Id("sg-99999999".into())).unwrap_err();
        assert_eq!(e.code, "InvalidGroup.NotFound");
        assert_eq!(
            group_ref(&params(&[("GroupId", "web")])).unwrap_err().code,
            "InvalidGroupId.Malformed"
        );
        assert_eq!(
            group_ref(&params(&[])).unwrap_err().code,
            "MissingParameter"
        );
    }

    #[test]
    fn create_requests() {
        let r = CreateRequest::parse(&params(&[("GroupName", "web"), ("GroupDescription", "d")]))
            .unwrap();
        assert_eq!((r.name.as_str(), r.description.as_str()), ("web", "d"));
        let long = "x".repeat(MAX_TEXT + 1);
        for (list, code) in [
            (vec![("GroupName", "web")], "MissingParameter"),
            (vec![("GroupDescription", "d")], "MissingParameter"),
            (
                vec![("GroupName", "sg-web"), ("GroupDescription", "d")],
                "InvalidParameterValue",
            ),
            (
                vec![("GroupName", long.as_str()), ("GroupDescription", "d")],
                "InvalidParameterValue",
            ),
            (
                vec![
                    ("GroupName", "w"),
                    ("GroupDescription", "d"),
                    ("VpcId", "vpc-1"),
                ],
                "Unsupported",
            ),
        ] {
            assert_eq!(
                CreateRequest::parse(&params(&list)).unwrap_err().code,
                code,
                "{list:?}"
            );
        }
    }

    #[test]
    fn permissions_parse_as_boto3_sends_them() {
        let r = rules_request(&[
            ("GroupName", "web"),
            ("IpPermissions.1.IpProtocol", "tcp"),
            ("IpPermissions.1.FromPort", "80"),
            ("IpPermissions.1.ToPort", "81"),
            ("IpPermissions.1.IpRanges.1.CidrIp", "192.0.2.7/24"),
            ("IpPermissions.1.IpRanges.2.CidrIp", "0.0.0.0/0"),
            ("IpPermissions.1.IpRanges.2.Description", "anyone"),
            ("IpPermissions.2.IpProtocol", "-1"),
            ("IpPermissions.2.Groups.1.GroupName", "default"),
            ("IpPermissions.3.IpProtocol", "icmp"),
            ("IpPermissions.3.FromPort", "8"),
            ("IpPermissions.3.ToPort", "-1"),
        ])
        .unwrap();
        assert_eq!(r.group, GroupRef::Name("web".into()));
        assert_eq!(r.permissions.len(), 3);
        assert_eq!(
            r.permissions[0].sources,
            vec![
                Source::Cidr("192.0.2.0/24".into()),
                Source::Cidr("0.0.0.0/0".into())
            ]
        );
        let all = groups();
        let specs = resolve(&r.permissions, &all, "p1").unwrap();
        assert_eq!(specs.len(), 4);
        assert_eq!(specs[1].cidr, None, "0.0.0.0/0 is anywhere");
        assert_eq!(
            (specs[2].protocol.as_deref(), specs[2].group.as_deref()),
            (None, Some(DEF))
        );
        assert_eq!((specs[3].from, specs[3].to), (Some(8), None));
        // Another owner's group is not found; neither is an unknown one.
        let other = rules_request(&[
            ("GroupName", "web"),
            ("IpPermissions.1.IpProtocol", "tcp"),
            ("IpPermissions.1.FromPort", "1"),
            ("IpPermissions.1.ToPort", "2"),
            ("IpPermissions.1.Groups.1.GroupName", "default"),
            ("IpPermissions.1.Groups.1.UserId", "p2"),
        ])
        .unwrap();
        assert_eq!(
            resolve(&other.permissions, &all, "p1").unwrap_err().code,
            "InvalidGroup.NotFound"
        );
        // The flat form; no protocol with a source group is every protocol.
        let flat =
            rules_request(&[("GroupName", "web"), ("SourceSecurityGroupName", "default")]).unwrap();
        assert_eq!(flat.permissions[0].protocol, None);
        let flat = rules_request(&[
            ("GroupId", "sg-0f1e2d3c"),
            ("IpProtocol", "6"),
            ("FromPort", "0"),
            ("ToPort", "65535"),
            ("CidrIp", "10.1.2.3/16"),
        ])
        .unwrap();
        assert_eq!(
            flat.permissions,
            vec![Permission {
                protocol: Some("tcp".into()),
                from: None,
                to: None,
                sources: vec![Source::Cidr("10.1.0.0/16".into())]
            }]
        );
        for (list, code) in [
            (vec![("GroupName", "web")], "MissingParameter"),
            (
                vec![("IpPermissions.1.IpProtocol", "tcp")],
                "MissingParameter",
            ),
            (
                vec![("GroupName", "web"), ("IpPermissions.1.FromPort", "1")],
                "MissingParameter",
            ),
            (
                vec![("GroupName", "web"), ("IpPermissions.1.IpProtocol", "gre")],
                "InvalidParameterValue",
            ),
            (
                vec![
                    ("GroupName", "web"),
                    ("IpPermissions.1.IpProtocol", "tcp"),
                    ("IpPermissions.1.FromPort", "22"),
                ],
                "InvalidParameterValue",
            ),
            (
                vec![
                    ("GroupName", "web"),
                    ("IpPermissions.1.IpProtocol", "tcp"),
                    ("IpPermissions.1.FromPort", "x"),
                    ("IpPermissions.1.ToPort", "1"),
                ],
                "InvalidParameterValue",
            ),
            (
                vec![
                    ("GroupName", "web"),
                    ("IpPermissions.1.IpProtocol", "-1"),
                    ("IpPermissions.1.IpRanges.1.CidrIp", "10.0.0.0/33"),
                ],
                "InvalidParameterValue",
            ),
            (
                vec![
                    ("GroupName", "web"),
                    ("IpPermissions.1.IpProtocol", "-1"),
                    ("IpPermissions.1.Ipv6Ranges.1.CidrIpv6", "::/0"),
                ],
                "Unsupported",
            ),
            (
                vec![
                    ("GroupName", "web"),
                    ("IpPermissions.1.IpProtocol", "-1"),
                    ("IpPermissions.1.Bogus", "1"),
                ],
                "UnknownParameter",
            ),
            (
                vec![
                    ("GroupName", "web"),
                    ("IpPermissions.1.IpProtocol", "-1"),
                    ("IpPermissions.1.Groups.1.UserId", "p1"),
                ],
                "MissingParameter",
            ),
            (
                vec![
                    ("GroupName", "web"),
                    ("IpPermissions.1.IpProtocol", "-1"),
                    ("CidrIp", "10.0.0.0/8"),
                ],
                "InvalidParameterCombination",
            ),
        ] {
            assert_eq!(rules_request(&list).unwrap_err(), code, "{list:?}");
        }
    }

    #[test]
    fn duplicates_and_revocations_match_stored_rules() {
        let all = groups();
        let web = &all[1];
        let spec =
            |proto: Option<&str>, from, to, cidr: Option<&str>, group: Option<&str>| RuleSpec {
                protocol: proto.map(String::from),
                from,
                to,
                cidr: cidr.map(String::from),
                group: group.map(String::from),
            };
        let ssh = spec(Some("tcp"), Some(22), Some(22), Some("10.0.0.0/8"), None);
        let e = check_new(web, Direction::Ingress, &[ssh.clone()]).unwrap_err();
        assert_eq!(e.code, "InvalidPermission.Duplicate");
        assert!(
            e.message
                .contains("peer: 10.0.0.0/8, TCP, from port: 22, to port: 22"),
            "{}",
            e.message
        );
        // The same rule as egress is new; so is another CIDR; twice in a request is not.
        assert!(check_new(web, Direction::Egress, &[ssh.clone()]).is_ok());
        let other = spec(Some("tcp"), Some(22), Some(22), Some("10.0.0.0/9"), None);
        assert!(check_new(web, Direction::Ingress, &[other.clone()]).is_ok());
        assert_eq!(
            check_new(web, Direction::Ingress, &[other.clone(), other.clone()])
                .unwrap_err()
                .code,
            "InvalidPermission.Duplicate"
        );
        let ping = spec(Some("icmp"), None, None, None, None);
        assert_eq!(
            to_revoke(web, Direction::Ingress, &[ping.clone(), ssh.clone()]).unwrap(),
            vec!["r3", "r1"]
        );
        let by_group = spec(Some("tcp"), Some(22), Some(22), None, Some(DEF));
        assert_eq!(
            to_revoke(web, Direction::Ingress, &[by_group]).unwrap(),
            vec!["r2"]
        );
        let all_out = spec(None, None, None, None, None);
        assert_eq!(
            to_revoke(web, Direction::Egress, &[all_out.clone()]).unwrap(),
            vec!["r4"]
        );
        let e = to_revoke(web, Direction::Ingress, &[ping, all_out]).unwrap_err();
        assert_eq!(e.code, "InvalidPermission.NotFound");
    }

    #[test]
    fn describe_groups_rules_by_protocol_and_ports() {
        let all = groups();
        let req = |l: &[(&str, &str)]| DescribeRequest::parse(&params(l)).unwrap();
        assert_eq!(select(&all, &req(&[])).unwrap().len(), 2);
        let web = select(&all, &req(&[("GroupName.1", "web")])).unwrap();
        assert_eq!(web.len(), 1);
        assert_eq!(
            select(&all, &req(&[("GroupId.1", "sg-0f1e2d3c4b5a69788")])).unwrap()[0].name,
            "web"
        );
        assert_eq!(
            select(&all, &req(&[("GroupName.1", "db")]))
                .unwrap_err()
                .code,
            "InvalidGroup.NotFound"
        );
        let f = select(
            &all,
            &req(&[
                ("Filter.1.Name", "ip-permission.from-port"),
                ("Filter.1.Value.1", "22"),
            ]),
        )
        .unwrap();
        assert_eq!(f.len(), 1);
        let f = select(
            &all,
            &req(&[
                ("Filter.1.Name", "group-name"),
                ("Filter.1.Value.1", "def*"),
            ]),
        )
        .unwrap();
        assert_eq!(f[0].name, "default");
        assert_eq!(
            DescribeRequest::parse(&params(&[
                ("Filter.1.Name", "vpc-id"),
                ("Filter.1.Value.1", "v")
            ]))
            .unwrap_err()
            .code,
            "InvalidParameterValue"
        );
        let body = render_describe(&web, &all);
        assert_eq!(
            body,
            "<securityGroupInfo><item><ownerId>p1</ownerId><groupId>sg-0f1e2d3c4b5a69788</groupId>\
             <groupName>web</groupName><groupDescription>web servers</groupDescription>\
             <ipPermissions><item><ipProtocol>tcp</ipProtocol><fromPort>22</fromPort><toPort>22</toPort>\
             <groups><item><userId>p1</userId><groupId>sg-11111111222233334</groupId><groupName>default</groupName></item></groups>\
             <ipRanges><item><cidrIp>10.0.0.0/8</cidrIp></item></ipRanges><ipv6Ranges></ipv6Ranges><prefixListIds></prefixListIds></item>\
             <item><ipProtocol>icmp</ipProtocol><fromPort>-1</fromPort><toPort>-1</toPort><groups></groups>\
             <ipRanges><item><cidrIp>0.0.0.0/0</cidrIp></item></ipRanges><ipv6Ranges></ipv6Ranges><prefixListIds></prefixListIds></item></ipPermissions>\
             <ipPermissionsEgress><item><ipProtocol>-1</ipProtocol><groups></groups>\
             <ipRanges><item><cidrIp>0.0.0.0/0</cidrIp></item></ipRanges><ipv6Ranges></ipv6Ranges><prefixListIds></prefixListIds></item></ipPermissionsEgress>\
             <tagSet></tagSet></item></securityGroupInfo>"
        );
    }

    #[test]
    fn launch_groups_by_name_and_id() {
        let all = groups();
        assert_eq!(
            launch_groups(
                &["web".into()],
                &["sg-11111111".into(), "sg-0f1e2d3c".into()],
                &all
            )
            .unwrap(),
            vec!["web".to_string(), "default".to_string()]
        );
        assert_eq!(
            launch_groups(&["db".into()], &[], &all).unwrap_err().code,
            "InvalidGroup.NotFound"
        );
    }
}
