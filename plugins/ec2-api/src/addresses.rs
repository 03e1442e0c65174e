//! Elastic IP addresses, EC2-Classic style (as Nova's EC2 API served them): the caller's
//! project's floating addresses. AllocateAddress takes one from a pool (domain `standard`,
//! the project's `floating_ips` quota), AssociateAddress points it at an instance
//! (`InstanceId` + `PublicIp`), DisassociateAddress and ReleaseAddress name it by
//! `PublicIp`; DescribeAddresses lists them. VPC forms (`AllocationId`, `AssociationId`,
//! domain `vpc`) answer `Unsupported`: there are no VPCs here.

use crate::bindings::metacloud::api::compute;
use crate::bindings::metacloud::api::types::{FloatingIp, OpError};
use crate::ids::{self, Kind};
use crate::instances;
use crate::params::{Filter, Params};
use crate::xml::Xml;
use crate::{Ctx, Ec2Error, Family};

/// The only domain: EC2-Classic.
pub const DOMAIN: &str = "standard";

fn no_vpc(p: &Params, names: &[&str]) -> Result<(), Ec2Error> {
    for n in names {
        if p.get(n).is_some_and(|v| !v.is_empty())
            || p.names().any(|k| k.starts_with(&format!("{n}.")))
        {
            return Err(Ec2Error::unsupported(format!(
                "The parameter {n} is not supported: there are no VPCs here; name the address \
                 by PublicIp (domain standard)."
            )));
        }
    }
    Ok(())
}

/// `PublicIp`: a dotted IPv4 address.
fn public_ip(p: &Params) -> Result<String, Ec2Error> {
    let ip = p.required("PublicIp")?;
    if ip.parse::<std::net::Ipv4Addr>().is_err() {
        return Err(Ec2Error::invalid(format!(
            "Invalid value '{ip}' for PublicIp: not an IPv4 address."
        )));
    }
    Ok(ip.to_string())
}

/// An AllocateAddress request: the pool (`PublicIpv4Pool`), none for the default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocateRequest {
    pub pool: Option<String>,
}

impl AllocateRequest {
    pub fn parse(p: &Params) -> Result<AllocateRequest, Ec2Error> {
        match p.get("Domain") {
            None | Some("") | Some(DOMAIN) => {}
            Some("vpc") => {
                return Err(Ec2Error::unsupported(
                    "Domain vpc is not supported: there are no VPCs here (domain standard).",
                ))
            }
            Some(d) => {
                return Err(Ec2Error::invalid(format!(
                    "Invalid value '{d}' for Domain: expected standard."
                )))
            }
        }
        no_vpc(p, &["Address", "CustomerOwnedIpv4Pool"])?;
        if !p.tag_specs()?.is_empty() {
            return Err(Ec2Error::unsupported(
                "Tags on addresses are not supported: only instances carry tags here.",
            ));
        }
        Ok(AllocateRequest {
            pool: p
                .get("PublicIpv4Pool")
                .filter(|v| !v.is_empty())
                .map(String::from),
        })
    }
}

pub fn render_allocated(f: &FloatingIp) -> String {
    let mut x = Xml::new();
    x.leaf("publicIp", &f.address).leaf("domain", DOMAIN);
    x.finish()
}

pub fn allocate_address(ctx: &Ctx) -> Result<String, Ec2Error> {
    let req = AllocateRequest::parse(ctx.params)?;
    let f =
        compute::allocate_floating_ip(ctx.caller, req.pool.as_deref()).map_err(|e| match e {
            // No such pool, or none left in it.
            OpError::NotFound(m) => Ec2Error::client("InsufficientAddressCapacity", m),
            e => Ec2Error::from_op(e, Family::Address),
        })?;
    Ok(render_allocated(&f))
}

/// An AssociateAddress request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssociateRequest {
    pub instance: String,
    pub public_ip: String,
    pub private_ip: Option<String>,
    pub allow_reassociation: bool,
}

impl AssociateRequest {
    pub fn parse(p: &Params) -> Result<AssociateRequest, Ec2Error> {
        no_vpc(p, &["AllocationId", "NetworkInterfaceId"])?;
        let instance = p.required("InstanceId")?;
        ids::parse(Kind::Instance, instance)?;
        let private_ip = p.get("PrivateIpAddress").filter(|v| !v.is_empty());
        if let Some(ip) = private_ip {
            if ip.parse::<std::net::Ipv4Addr>().is_err() {
                return Err(Ec2Error::invalid(format!(
                    "Invalid value '{ip}' for PrivateIpAddress: not an IPv4 address."
                )));
            }
        }
        Ok(AssociateRequest {
            instance: instance.to_string(),
            public_ip: public_ip(p)?,
            private_ip: private_ip.map(String::from),
            // EC2-Classic moves an associated address; say `false` to refuse instead.
            allow_reassociation: p.boolean("AllowReassociation")?.unwrap_or(true),
        })
    }
}

fn held(ctx: &Ctx, address: &str) -> Result<FloatingIp, Ec2Error> {
    compute::get_floating_ip(ctx.caller, address).map_err(|e| match e {
        OpError::NotFound(_) => Ec2Error::address_not_found(address),
        e => Ec2Error::from_op(e, Family::Address),
    })
}

pub fn associate_address(ctx: &Ctx) -> Result<String, Ec2Error> {
    let req = AssociateRequest::parse(ctx.params)?;
    let c = ctx.caller;
    let servers = instances::list_servers(c, ctx.now_ms)?;
    let server = ids::resolve(Kind::Instance, &servers, |s| s.id.as_str(), &req.instance)?;
    let f = held(ctx, &req.public_ip)?;
    match f.instance_id.as_deref() {
        Some(now) if now == server.id && req.private_ip.is_none() => {
            return Ok(render_return());
        }
        Some(other) => {
            if !req.allow_reassociation {
                return Err(Ec2Error::client(
                    "Resource.AlreadyAssociated",
                    format!(
                        "The address {} is already associated with {}.",
                        req.public_ip,
                        ids::ec2_id(Kind::Instance, other)
                    ),
                ));
            }
            compute::disassociate_floating_ip(c, other, &req.public_ip)
                .map_err(|e| Ec2Error::from_op(e, Family::Address))?;
        }
        None => {}
    }
    compute::associate_floating_ip(c, &server.id, &req.public_ip, req.private_ip.as_deref())
        .map_err(|e| match e {
            // The instance has no (such) fixed address: nothing to point at.
            OpError::BadRequest(m) => Ec2Error::client("InvalidInstanceID", m),
            e => Ec2Error::from_op(e, Family::Instance),
        })?;
    Ok(render_return())
}

/// `<return>true</return>`.
pub fn render_return() -> String {
    let mut x = Xml::new();
    x.boolean("return", true);
    x.finish()
}

/// The `PublicIp` of a DisassociateAddress or ReleaseAddress request.
pub fn address_target(p: &Params) -> Result<String, Ec2Error> {
    no_vpc(p, &["AssociationId", "AllocationId", "NetworkBorderGroup"])?;
    public_ip(p)
}

pub fn disassociate_address(ctx: &Ctx) -> Result<String, Ec2Error> {
    let address = address_target(ctx.params)?;
    let f = held(ctx, &address)?;
    let server = f.instance_id.ok_or_else(|| {
        Ec2Error::client(
            "InvalidAssociationID.NotFound",
            format!("The address {address} is not associated with an instance."),
        )
    })?;
    compute::disassociate_floating_ip(ctx.caller, &server, &address)
        .map_err(|e| Ec2Error::from_op(e, Family::Address))?;
    Ok(render_return())
}

pub fn release_address(ctx: &Ctx) -> Result<String, Ec2Error> {
    let address = address_target(ctx.params)?;
    let f = held(ctx, &address)?;
    if let Some(server) = &f.instance_id {
        return Err(Ec2Error::client(
            "InvalidIPAddress.InUse",
            format!(
                "The address {address} is associated with {}: disassociate it first.",
                ids::ec2_id(Kind::Instance, server)
            ),
        ));
    }
    compute::release_floating_ip(ctx.caller, &address).map_err(|e| match e {
        OpError::NotFound(_) => Ec2Error::address_not_found(&address),
        e => Ec2Error::from_op(e, Family::Address),
    })?;
    Ok(render_return())
}

/// The filters DescribeAddresses knows.
pub const ADDRESS_FILTERS: &[&str] = &["domain", "instance-id", "private-ip-address", "public-ip"];

/// A DescribeAddresses request.
#[derive(Debug, Clone, PartialEq)]
pub struct DescribeRequest {
    pub addresses: Vec<String>,
    pub filters: Vec<Filter>,
}

impl DescribeRequest {
    pub fn parse(p: &Params) -> Result<DescribeRequest, Ec2Error> {
        if let Some(id) = p.list("AllocationId")?.first() {
            return Err(Ec2Error::client(
                "InvalidAllocationID.NotFound",
                format!(
                    "The allocation ID '{id}' does not exist: there are no VPC addresses here."
                ),
            ));
        }
        let filters = p.filters()?;
        for f in &filters {
            if !ADDRESS_FILTERS.contains(&f.name.as_str()) {
                return Err(Ec2Error::invalid(format!(
                    "The filter '{}' is invalid",
                    f.name
                )));
            }
        }
        Ok(DescribeRequest {
            addresses: p.list("PublicIp")?.into_iter().map(String::from).collect(),
            filters,
        })
    }
}

fn instance_of(f: &FloatingIp) -> String {
    f.instance_id
        .as_deref()
        .map(|i| ids::ec2_id(Kind::Instance, i))
        .unwrap_or_default()
}

fn filter_matches(filter: &Filter, f: &FloatingIp) -> bool {
    match filter.name.as_str() {
        "domain" => filter.matches(DOMAIN),
        "instance-id" => f.instance_id.is_some() && filter.matches(&instance_of(f)),
        "private-ip-address" => f
            .fixed_address
            .as_deref()
            .is_some_and(|a| filter.matches(a)),
        "public-ip" => filter.matches(&f.address),
        _ => false,
    }
}

/// The addresses a DescribeAddresses answers: each named one must be the caller's.
pub fn select<'a>(
    all: &'a [FloatingIp],
    req: &DescribeRequest,
) -> Result<Vec<&'a FloatingIp>, Ec2Error> {
    for a in &req.addresses {
        if !all.iter().any(|f| &f.address == a) {
            return Err(Ec2Error::address_not_found(a));
        }
    }
    Ok(all
        .iter()
        .filter(|f| req.addresses.is_empty() || req.addresses.contains(&f.address))
        .filter(|f| req.filters.iter().all(|x| filter_matches(x, f)))
        .collect())
}

pub fn render_describe(list: &[&FloatingIp]) -> String {
    let mut x = Xml::new();
    x.set("addressesSet", list, |x, f| {
        x.leaf("publicIp", &f.address).leaf("domain", DOMAIN);
        if f.instance_id.is_some() {
            x.leaf("instanceId", &instance_of(f));
        }
        if let Some(a) = &f.fixed_address {
            x.leaf("privateIpAddress", a);
        }
        x.leaf("publicIpv4Pool", &f.pool).elem("tagSet", |_| {});
    });
    x.finish()
}

pub fn describe_addresses(ctx: &Ctx) -> Result<String, Ec2Error> {
    let req = DescribeRequest::parse(ctx.params)?;
    let all = compute::list_floating_ips(ctx.caller)
        .map_err(|e| Ec2Error::from_op(e, Family::Address))?;
    Ok(render_describe(&select(&all, &req)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::params;

    fn floating(address: &str, instance: Option<&str>, fixed: Option<&str>) -> FloatingIp {
        FloatingIp {
            address: address.into(),
            pool: "nova".into(),
            interface: "eth0".into(),
            project_id: Some("p1".into()),
            fixed_address: fixed.map(String::from),
            instance_id: instance.map(String::from),
            host: None,
            port_id: None,
        }
    }

    const UUID: &str = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";

    #[test]
    fn allocate_requests() {
        assert_eq!(
            AllocateRequest::parse(&params(&[])).unwrap(),
            AllocateRequest { pool: None }
        );
        assert_eq!(
            AllocateRequest::parse(&params(&[
                ("Domain", "standard"),
                ("PublicIpv4Pool", "ext")
            ]))
            .unwrap()
            .pool
            .as_deref(),
            Some("ext")
        );
        for (bad, code) in [
            (("Domain", "vpc"), "Unsupported"),
            (("Domain", "moon"), "InvalidParameterValue"),
            (("Address", "192.0.2.9"), "Unsupported"),
        ] {
            assert_eq!(
                AllocateRequest::parse(&params(&[bad])).unwrap_err().code,
                code
            );
        }
        assert_eq!(
            render_allocated(&floating("192.0.2.5", None, None)),
            "<publicIp>192.0.2.5</publicIp><domain>standard</domain>"
        );
    }

    #[test]
    fn associate_requests() {
        let r = AssociateRequest::parse(&params(&[
            ("InstanceId", "i-0f1e2d3c4b5a69788"),
            ("PublicIp", "192.0.2.5"),
        ]))
        .unwrap();
        assert_eq!(
            (r.public_ip.as_str(), r.private_ip, r.allow_reassociation),
            ("192.0.2.5", None, true)
        );
        let r = AssociateRequest::parse(&params(&[
            ("InstanceId", "i-0f1e2d3c"),
            ("PublicIp", "192.0.2.5"),
            ("PrivateIpAddress", "10.0.0.3"),
            ("AllowReassociation", "false"),
        ]))
        .unwrap();
        assert_eq!(
            (r.private_ip.as_deref(), r.allow_reassociation),
            (Some("10.0.0.3"), false)
        );
        for (list, code) in [
            (vec![("PublicIp", "192.0.2.5")], "MissingParameter"),
            (vec![("InstanceId", "i-0f1e2d3c")], "MissingParameter"),
            (
                vec![("InstanceId", "vm-1"), ("PublicIp", "192.0.2.5")],
                "InvalidInstanceID.Malformed",
            ),
            (
                vec![("InstanceId", "i-0f1e2d3c"), ("PublicIp", "192.0.2.500")],
                "InvalidParameterValue",
            ),
            (
                vec![("InstanceId", "i-0f1e2d3c"), ("AllocationId", "eipalloc-1")],
                "Unsupported",
            ),
            (
                vec![
                    ("InstanceId", "i-0f1e2d3c"),
                    ("PublicIp", "192.0.2.5"),
                    ("PrivateIpAddress", "ten"),
                ],
                "InvalidParameterValue",
            ),
        ] {
            assert_eq!(
                AssociateRequest::parse(&params(&list)).unwrap_err().code,
                code,
                "{list:?}"
            );
        }
        assert_eq!(
            address_target(&params(&[("AssociationId", "eipassoc-1")]))
                .unwrap_err()
                .code,
            "Unsupported"
        );
        assert_eq!(
            address_target(&params(&[])).unwrap_err().code,
            "MissingParameter"
        );
    }

    #[test]
    fn describe_selects_and_shows_the_instance() {
        let all = vec![
            floating("192.0.2.5", Some(UUID), Some("10.0.0.3")),
            floating("192.0.2.6", None, None),
        ];
        let req = |l: &[(&str, &str)]| DescribeRequest::parse(&params(l)).unwrap();
        assert_eq!(select(&all, &req(&[])).unwrap().len(), 2);
        let one = select(&all, &req(&[("PublicIp.1", "192.0.2.6")])).unwrap();
        assert_eq!(one[0].address, "192.0.2.6");
        let e = select(&all, &req(&[("PublicIp.1", "198.51.100.1")])).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (
                "InvalidAddress.NotFound",
                "Address '198.51.100.1' not found."
            )
        );
        let by_instance = select(
            &all,
            &req(&[
                ("Filter.1.Name", "instance-id"),
                ("Filter.1.Value.1", "i-0f1e2d3c4b5a69788"),
            ]),
        )
        .unwrap();
        assert_eq!(by_instance.len(), 1);
        let unassociated = select(
            &all,
            &req(&[("Filter.1.Name", "public-ip"), ("Filter.1.Value.1", "*.6")]),
        )
        .unwrap();
        assert_eq!(unassociated[0].address, "192.0.2.6");
        assert_eq!(
            DescribeRequest::parse(&params(&[
                ("Filter.1.Name", "vpc-id"),
                ("Filter.1.Value.1", "x")
            ]))
            .unwrap_err()
            .code,
            "InvalidParameterValue"
        );
        assert_eq!(
            DescribeRequest::parse(&params(&[("AllocationId.1", "eipalloc-1")]))
                .unwrap_err()
                .code,
            "InvalidAllocationID.NotFound"
        );
        let body = render_describe(&select(&all, &req(&[])).unwrap());
        assert_eq!(
            body,
            "<addressesSet><item><publicIp>192.0.2.5</publicIp><domain>standard</domain>\
             <instanceId>i-0f1e2d3c4b5a69788</instanceId><privateIpAddress>10.0.0.3</privateIpAddress>\
             <publicIpv4Pool>nova</publicIpv4Pool><tagSet></tagSet></item>\
             <item><publicIp>192.0.2.6</publicIp><domain>standard</domain>\
             <publicIpv4Pool>nova</publicIpv4Pool><tagSet></tagSet></item></addressesSet>"
        );
    }
}
