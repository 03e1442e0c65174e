//! The host's check of a driver's plan. A plan is applied only whole and only when every
//! item passes; the refusal lists every reason, so the log says what the driver got wrong.

use ipnet::Ipv4Net;
use metacloud_plugins::network::{Desired, Flow, Nat, Network, Plan, Port};
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

/// What the operator allows plans to name (the `[network]` section).
#[derive(Debug, Clone)]
pub struct Policy {
    /// Prefix of the bridges the host makes (`mcbr-`).
    pub bridge_prefix: String,
    /// Prefix of the namespaces the host makes (`mcn-`).
    pub namespace_prefix: String,
    /// Prefix of the VXLAN segment devices (`mcvx-`).
    pub segment_prefix: String,
    /// Interfaces of the host's own namespace a plan may use: operators' bridges, uplinks,
    /// the underlay. Nothing else outside the product's namespaces is touched.
    pub allowed_interfaces: BTreeSet<String>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            bridge_prefix: "mcbr-".into(),
            namespace_prefix: "mcn-".into(),
            segment_prefix: "mcvx-".into(),
            allowed_interfaces: BTreeSet::new(),
        }
    }
}

/// Why a plan was refused: every item that failed, as `item: reason`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("plan refused: {}", .reasons.join("; "))]
pub struct Refusal {
    pub reasons: Vec<String>,
}

/// A plan that passed [`check`], with the desired state it was checked against: the only
/// thing the applier takes.
#[derive(Debug, Clone)]
pub struct Checked {
    pub desired: Desired,
    pub plan: Plan,
    /// Routers' gateways for this state's networks (from the database, not the driver):
    /// a network's masqueraded traffic leaves as its router's address.
    pub gateways: Vec<RouterGateway>,
}

/// A network joined to a router whose gateway is `address` in floating `pool`.
#[derive(Debug, Clone, PartialEq)]
pub struct RouterGateway {
    pub network_id: String,
    pub pool: String,
    pub address: String,
}

/// Linux's limit on interface names (IFNAMSIZ - 1).
const MAX_IFNAME: usize = 15;

fn ifname_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_IFNAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// What the checks look things up in.
struct Ctx<'a> {
    policy: &'a Policy,
    networks: BTreeMap<&'a str, (&'a Network, Ipv4Net)>,
    ports: BTreeMap<&'a str, &'a Port>,
    reasons: Vec<String>,
}

impl<'a> Ctx<'a> {
    fn refuse(&mut self, item: impl std::fmt::Display, why: impl std::fmt::Display) {
        self.reasons.push(format!("{item}: {why}"));
    }

    fn network(&mut self, item: &str, id: &str) -> Option<(&'a Network, Ipv4Net)> {
        let n = self.networks.get(id).copied();
        if n.is_none() {
            self.refuse(item, format!("network {id} is not in the desired state"));
        }
        n
    }

    fn port(&mut self, item: &str, id: &str) -> Option<&'a Port> {
        let p = self.ports.get(id).copied();
        if p.is_none() {
            self.refuse(item, format!("port {id} is not in the desired state"));
        }
        p
    }

    fn allowed(&mut self, item: &str, interface: &str) -> bool {
        let ok = self.policy.allowed_interfaces.contains(interface);
        if !ok {
            self.refuse(
                item,
                format!("interface {interface} is not in network.allowed_interfaces"),
            );
        }
        ok
    }

    fn named(&mut self, item: &str, name: &str, prefix: &str) -> bool {
        let ok = ifname_ok(name) && name.starts_with(prefix) && name.len() > prefix.len();
        if !ok {
            self.refuse(
                item,
                format!("name {name:?} is not {prefix}<tag> of at most {MAX_IFNAME} characters"),
            );
        }
        ok
    }
}

fn parse_net(n: &Network) -> Result<Ipv4Net, String> {
    n.cidr
        .parse::<Ipv4Net>()
        .map(|c| c.trunc())
        .map_err(|e| format!("network {} has a bad CIDR {:?}: {e}", n.id, n.cidr))
}

fn inside(net: &Ipv4Net, address: &str) -> bool {
    address
        .parse::<Ipv4Addr>()
        .is_ok_and(|a| net.contains(&a) && a != net.network() && a != net.broadcast())
}

/// Checks `plan` against `desired` and `policy`; the whole plan or nothing.
pub fn check(policy: &Policy, desired: Desired, plan: Plan) -> Result<Checked, Refusal> {
    let mut ctx = Ctx {
        policy,
        networks: BTreeMap::new(),
        ports: desired.ports.iter().map(|p| (p.id.as_str(), p)).collect(),
        reasons: Vec::new(),
    };
    for n in &desired.networks {
        match parse_net(n) {
            Ok(net) => {
                ctx.networks.insert(n.id.as_str(), (n, net));
            }
            Err(e) => ctx.reasons.push(e),
        }
    }
    let bridges = check_bridges(&mut ctx, &plan);
    check_segments(&mut ctx, &desired, &plan, &bridges);
    for u in &plan.uplinks {
        let item = format!("uplink {}", u.interface);
        if ctx.network(&item, &u.network_id).is_some() {
            need_bridge(&mut ctx, &item, &bridges, &u.network_id);
        }
        ctx.allowed(&item, &u.interface);
    }
    for a in &plan.attachments {
        let item = format!("attachment {}", a.device);
        if let Some(p) = ctx.port(&item, &a.port_id) {
            if p.device != a.device {
                ctx.refuse(&item, format!("port {} has device {}", p.id, p.device));
            }
            need_bridge(&mut ctx, &item, &bridges, &p.network_id);
        }
    }
    check_dhcp(&mut ctx, &plan, &bridges);
    for f in &plan.filters {
        check_filter(&mut ctx, f);
    }
    check_nat(&mut ctx, &desired, &plan, &bridges);
    for m in &plan.metadata {
        let item = format!("metadata for {}", m.network_id);
        if ctx.network(&item, &m.network_id).is_some() {
            need_namespace(&mut ctx, &item, &bridges, &m.network_id);
        }
    }
    if ctx.reasons.is_empty() {
        Ok(Checked {
            desired,
            plan,
            gateways: Vec::new(),
        })
    } else {
        Err(Refusal {
            reasons: ctx.reasons,
        })
    }
}

/// Per network: its bridge's namespace (none: the host's).
type Bridges = BTreeMap<String, Option<String>>;

fn need_bridge(ctx: &mut Ctx<'_>, item: &str, bridges: &Bridges, network: &str) {
    if !bridges.contains_key(network) {
        ctx.refuse(item, format!("network {network} has no bridge in the plan"));
    }
}

fn need_namespace(ctx: &mut Ctx<'_>, item: &str, bridges: &Bridges, network: &str) {
    match bridges.get(network) {
        Some(Some(_)) => {}
        Some(None) => ctx.refuse(
            item,
            format!("network {network}'s bridge is in the host's namespace"),
        ),
        None => ctx.refuse(item, format!("network {network} has no bridge in the plan")),
    }
}

fn check_bridges(ctx: &mut Ctx<'_>, plan: &Plan) -> Bridges {
    let mut bridges = Bridges::new();
    let mut namespaces = BTreeSet::new();
    for b in &plan.bridges {
        let item = format!("bridge {}", b.name);
        let Some((_, net)) = ctx.network(&item, &b.network_id) else {
            continue;
        };
        if bridges.contains_key(&b.network_id) {
            ctx.refuse(&item, format!("network {} has two bridges", b.network_id));
        }
        match (&b.namespace, b.managed) {
            (Some(ns), _) => {
                let prefix = ctx.policy.namespace_prefix.clone();
                ctx.named(&item, ns, &prefix);
                if !namespaces.insert(ns.clone()) {
                    ctx.refuse(&item, format!("namespace {ns} is used by two networks"));
                }
                if b.managed {
                    let prefix = ctx.policy.bridge_prefix.clone();
                    ctx.named(&item, &b.name, &prefix);
                } else {
                    ctx.refuse(&item, "an operator's bridge lives in the host's namespace");
                }
            }
            (None, true) => ctx.refuse(&item, "a bridge the host makes needs a namespace"),
            (None, false) => {
                ctx.allowed(&item, &b.name);
            }
        }
        if let Some(address) = &b.address {
            check_gateway(ctx, &item, &net, address);
        }
        if !(576..=9000).contains(&b.mtu) {
            ctx.refuse(&item, format!("mtu {} is outside 576..=9000", b.mtu));
        }
        bridges.insert(b.network_id.clone(), b.namespace.clone());
    }
    bridges
}

fn check_gateway(ctx: &mut Ctx<'_>, item: &str, net: &Ipv4Net, address: &str) {
    match address.parse::<Ipv4Net>() {
        Ok(a) if a.prefix_len() == net.prefix_len() && inside(net, &a.addr().to_string()) => {}
        Ok(_) => ctx.refuse(item, format!("address {address} is not inside {net}")),
        Err(e) => ctx.refuse(item, format!("address {address:?}: {e}")),
    }
}

fn check_segments(ctx: &mut Ctx<'_>, desired: &Desired, plan: &Plan, bridges: &Bridges) {
    let peers: BTreeSet<&str> = desired.peers.iter().map(String::as_str).collect();
    for s in &plan.segments {
        let item = format!("segment {}", s.name);
        if ctx.network(&item, &s.network_id).is_some() {
            need_namespace(ctx, &item, bridges, &s.network_id);
        }
        let prefix = ctx.policy.segment_prefix.clone();
        ctx.named(&item, &s.name, &prefix);
        ctx.allowed(&item, &s.underlay_interface);
        if !(1..=0xFF_FFFF).contains(&s.vni) {
            ctx.refuse(&item, format!("VNI {} is outside 1..=16777215", s.vni));
        }
        if desired.underlay_address.as_deref() != Some(s.local.as_str()) {
            ctx.refuse(
                &item,
                format!("local {} is not this host's underlay address", s.local),
            );
        }
        for r in &s.remotes {
            if !peers.contains(r.as_str()) {
                ctx.refuse(&item, format!("remote {r} is not a peer"));
            }
        }
    }
}

fn check_dhcp(ctx: &mut Ctx<'_>, plan: &Plan, bridges: &Bridges) {
    let mut seen = BTreeSet::new();
    for d in &plan.dhcp {
        let item = format!("dhcp for {}", d.network_id);
        let Some((_, net)) = ctx.network(&item, &d.network_id) else {
            continue;
        };
        need_namespace(ctx, &item, bridges, &d.network_id);
        if !seen.insert(d.network_id.clone()) {
            ctx.refuse(&item, "two DHCP servers for one network");
        }
        let ends = [Some(&d.range_start), Some(&d.range_end), d.router.as_ref()];
        for a in ends.into_iter().flatten() {
            if !inside(&net, a) {
                ctx.refuse(&item, format!("address {a} is not inside {net}"));
            }
        }
        if d.lease_seconds < 120 {
            ctx.refuse(
                &item,
                format!("lease of {} s is under 120 s", d.lease_seconds),
            );
        }
        if !dns_name_ok(&d.domain) {
            ctx.refuse(&item, format!("domain {:?} is not a DNS name", d.domain));
        }
        for h in &d.hosts {
            let owned = ctx.ports.values().any(|p| {
                p.network_id == d.network_id
                    && p.mac.eq_ignore_ascii_case(&h.mac)
                    && p.address == h.address
            });
            if !owned {
                ctx.refuse(
                    &item,
                    format!("host {} {} is not a port of this network", h.mac, h.address),
                );
            }
            if !dns_name_ok(&h.hostname) {
                ctx.refuse(
                    &item,
                    format!("hostname {:?} is not a DNS name", h.hostname),
                );
            }
        }
    }
}

/// Letters, digits, `-` and `.`: nothing that could break out of a dnsmasq file line.
fn dns_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

fn check_filter(ctx: &mut Ctx<'_>, f: &metacloud_plugins::network::PortFilter) {
    let item = format!("filter for port {}", f.port_id);
    let Some(port) = ctx.port(&item, &f.port_id) else {
        return;
    };
    if !port.mac.eq_ignore_ascii_case(&f.mac) {
        ctx.refuse(
            &item,
            format!("mac {} is not the port's {}", f.mac, port.mac),
        );
    }
    for a in &f.addresses {
        if *a != port.address {
            ctx.refuse(
                &item,
                format!("address {a} is not the port's {}", port.address),
            );
        }
    }
    for flow in &f.flows {
        if let Err(why) = flow_ok(flow) {
            ctx.refuse(&item, why);
        }
    }
}

fn flow_ok(f: &Flow) -> Result<(), String> {
    match f.protocol.as_deref() {
        None | Some("tcp") | Some("udp") | Some("icmp") => {}
        Some(p) => return Err(format!("protocol {p:?} is not tcp, udp or icmp")),
    }
    if let (Some(min), Some(max)) = (f.port_min, f.port_max) {
        if min > max || min == 0 {
            return Err(format!("port range {min}-{max}"));
        }
    }
    for r in &f.remotes {
        r.parse::<Ipv4Net>()
            .map_err(|e| format!("remote {r:?}: {e}"))?;
    }
    Ok(())
}

fn check_nat(ctx: &mut Ctx<'_>, desired: &Desired, plan: &Plan, bridges: &Bridges) {
    for n in &plan.nat {
        match n {
            Nat::Floating(f) => {
                let item = format!("floating {}", f.address);
                let known = desired
                    .floatings
                    .iter()
                    .any(|d| d.address == f.address && d.port_id == f.port_id && d.pool == f.pool);
                if !known {
                    ctx.refuse(&item, "not a floating address of the desired state");
                }
                if let Some(p) = ctx.port(&item, &f.port_id) {
                    let network = p.network_id.clone();
                    need_namespace(ctx, &item, bridges, &network);
                }
                pool_ok(ctx, desired, &item, &f.pool);
            }
            Nat::Masquerade(network) => {
                let item = format!("masquerade for {network}");
                if ctx.network(&item, network).is_some() {
                    need_namespace(ctx, &item, bridges, network);
                }
                if desired.pools.is_empty() {
                    ctx.refuse(&item, "no floating pool to leave through");
                }
            }
        }
    }
}

fn pool_ok(ctx: &mut Ctx<'_>, desired: &Desired, item: &str, pool: &str) {
    match desired.pools.iter().find(|p| p.name == pool) {
        Some(p) => {
            ctx.allowed(item, &p.interface);
        }
        None => ctx.refuse(item, format!("pool {pool} is not in the desired state")),
    }
}

#[cfg(test)]
mod tests;
