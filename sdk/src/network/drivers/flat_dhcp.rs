//! `flat-dhcp`: per network, a managed bridge `mcbr-<tag>` in its own namespace
//! `mcn-<tag>` carrying the gateway address, the operator's uplink if the network names
//! one, one DHCP server, the metadata redirect, and per-port filters; outbound traffic is
//! masqueraded when there is a floating pool, and floating addresses are NATed to their
//! ports. Networks of different projects are isolated by being different bridges in
//! different namespaces.

use std::collections::HashMap;

use super::{attachments, check_ports, filters, Settings};
use crate::network::cidr::{with_prefix, Ipv4Cidr};
use crate::network::rules::service_flows;
use crate::network::{
    names, Bridge, Config, Desired, Dhcp, DhcpHost, Driver, Error, Metadata, Nat, Network, Plan,
    Uplink,
};

/// The `flat-dhcp` driver.
pub struct FlatDhcp;

impl Driver for FlatDhcp {
    const NAME: &'static str = "flat-dhcp";

    fn plan(desired: &Desired, config: &Config) -> Result<Plan, Error> {
        plan(desired, &Settings::from_config(config)?)
    }
}

/// The `flat-dhcp` plan of `desired`.
pub fn plan(desired: &Desired, settings: &Settings) -> Result<Plan, Error> {
    check_ports(desired)?;
    check_tags(desired)?;
    let mut plan = Plan::default();
    for network in &desired.networks {
        let cidr = network_cidr(network)?;
        plan.bridges.push(bridge(network, &cidr));
        plan.uplinks.extend(network.uplink.as_ref().map(|i| Uplink {
            network_id: network.id.clone(),
            interface: i.clone(),
        }));
        if network.dhcp {
            plan.dhcp.push(dhcp(network, desired, settings));
        }
        plan.metadata.push(Metadata {
            network_id: network.id.clone(),
        });
    }
    plan.attachments = attachments(desired);
    plan.filters = filters(desired, settings, |n| service_flows(n, n.dhcp, true));
    plan.nat = nat(desired, settings);
    Ok(plan)
}

/// No two networks share a tag (their bridges would share a name).
fn check_tags(desired: &Desired) -> Result<(), Error> {
    let mut seen: HashMap<String, &str> = HashMap::new();
    for network in &desired.networks {
        let tag = names::tag(&network.id);
        if tag.len() < 8 {
            return Err(Error::desired(format!(
                "network id {} has fewer than 8 hex digits to name its bridge",
                network.id
            )));
        }
        if let Some(other) = seen.insert(tag, &network.id) {
            return Err(Error::desired(format!(
                "networks {other} and {} have the same tag",
                network.id
            )));
        }
    }
    Ok(())
}

/// The network's CIDR, checked to hold its gateway.
fn network_cidr(network: &Network) -> Result<Ipv4Cidr, Error> {
    let cidr = Ipv4Cidr::parse(&network.cidr)
        .map_err(|e| Error::desired(format!("network {}: {e}", network.id)))?;
    if !cidr.contains_str(&network.gateway) {
        return Err(Error::desired(format!(
            "network {}: gateway {} is not in {}",
            network.id, network.gateway, network.cidr
        )));
    }
    Ok(cidr)
}

/// The managed bridge `mcbr-<tag>` in namespace `mcn-<tag>`, with the gateway address.
pub fn bridge(network: &Network, cidr: &Ipv4Cidr) -> Bridge {
    Bridge {
        network_id: network.id.clone(),
        name: names::bridge(&network.id),
        namespace: Some(names::namespace(&network.id)),
        managed: true,
        mtu: network.mtu,
        address: Some(with_prefix(&network.gateway, cidr)),
    }
}

/// The network's DHCP server: its range, the gateway as router, its ports as fixed hosts.
pub fn dhcp(network: &Network, desired: &Desired, settings: &Settings) -> Dhcp {
    Dhcp {
        network_id: network.id.clone(),
        range_start: network.range_start.clone(),
        range_end: network.range_end.clone(),
        lease_seconds: settings.lease_seconds,
        router: Some(network.gateway.clone()),
        dns: network.dns.clone(),
        domain: settings.domain.clone(),
        hosts: desired
            .ports_on(&network.id)
            .map(|p| DhcpHost {
                mac: p.mac.clone(),
                hostname: p.hostname.clone(),
                address: p.address.clone(),
            })
            .collect(),
    }
}

/// Masquerading of every network when there is a pool (and `masquerade`), then the
/// floating addresses of this host's ports.
pub fn nat(desired: &Desired, settings: &Settings) -> Vec<Nat> {
    let mut nat = Vec::new();
    if settings.masquerade && !desired.pools.is_empty() {
        nat.extend(
            desired
                .networks
                .iter()
                .map(|n| Nat::Masquerade(n.id.clone())),
        );
    }
    nat.extend(
        desired
            .floatings
            .iter()
            .filter(|f| desired.port(&f.port_id).is_some())
            .cloned()
            .map(Nat::Floating),
    );
    nat
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;
    use crate::network::{Direction, Floating, Pool};

    #[test]
    fn flat_dhcp_one_network_two_ports() {
        let p = FlatDhcp::plan(&desired(), &Config::default()).unwrap();

        assert_eq!(p.bridges.len(), 1);
        let b = &p.bridges[0];
        assert_eq!(b.name, "mcbr-6f1c0a2b");
        assert_eq!(b.namespace.as_deref(), Some("mcn-6f1c0a2b"));
        assert!(b.managed);
        assert_eq!((b.address.as_deref(), b.mtu), (Some("10.0.0.1/24"), 1450));
        assert!(p.uplinks.is_empty() && p.segments.is_empty());

        assert_eq!(p.attachments.len(), 2);
        assert_eq!(p.attachments[1].device, "tap00000002");

        assert_eq!(p.dhcp.len(), 1);
        let d = &p.dhcp[0];
        assert_eq!(d.hosts.len(), 2);
        assert_eq!(d.hosts[0].mac, "fa:16:3e:00:00:01");
        assert_eq!(d.hosts[0].address, "10.0.0.11");
        assert_eq!(d.router.as_deref(), Some("10.0.0.1"));
        assert_eq!((d.lease_seconds, d.domain.as_str()), (86400, "novalocal"));
        assert_eq!(d.dns, vec!["192.0.2.53"]);

        assert_eq!(p.filters.len(), 2);
        let f = &p.filters[0];
        assert_eq!(
            (f.port_id.as_str(), f.mac.as_str()),
            ("port-1", "fa:16:3e:00:00:01")
        );
        assert_eq!(f.addresses, vec!["10.0.0.11"]);
        let members = f
            .flows
            .iter()
            .find(|fl| fl.direction == Direction::Ingress && fl.remotes.len() == 2)
            .expect("ingress from the default group's members");
        assert_eq!(members.remotes, vec!["10.0.0.11/32", "10.0.0.12/32"]);
        assert!(f
            .flows
            .iter()
            .any(|fl| fl.direction == Direction::Egress && fl.remotes == ["0.0.0.0/0"]));
        assert!(
            f.flows.iter().any(|fl| fl.remotes == ["10.0.0.0/24"]),
            "same net"
        );

        assert_eq!(p.metadata.len(), 1);
        assert!(p.nat.is_empty(), "no pool, no floating");
    }

    #[test]
    fn settings_change_lease_domain_and_same_net_traffic() {
        let c = Config::new([
            ("lease_seconds", "600"),
            ("domain", "example.org"),
            ("allow_same_net_traffic", "false"),
        ]);
        let p = FlatDhcp::plan(&desired(), &c).unwrap();
        assert_eq!(
            (p.dhcp[0].lease_seconds, p.dhcp[0].domain.as_str()),
            (600, "example.org")
        );
        assert!(!p.filters[0]
            .flows
            .iter()
            .any(|f| f.remotes == ["10.0.0.0/24"]));
    }

    #[test]
    fn uplink_pool_and_floatings() {
        let mut d = desired();
        d.networks[0].uplink = Some("eno2".into());
        d.pools.push(Pool {
            name: "public".into(),
            cidr: "203.0.113.0/24".into(),
            interface: "br-ex".into(),
            gateway: Some("203.0.113.1".into()),
        });
        let mine = Floating {
            address: "203.0.113.20".into(),
            pool: "public".into(),
            port_id: "port-2".into(),
        };
        let elsewhere = Floating {
            port_id: "port-on-another-host".into(),
            ..mine.clone()
        };
        d.floatings = vec![mine.clone(), elsewhere];
        let p = FlatDhcp::plan(&d, &Config::default()).unwrap();
        assert_eq!(p.uplinks[0].interface, "eno2");
        assert_eq!(
            p.nat,
            vec![Nat::Masquerade(NET.into()), Nat::Floating(mine)]
        );
        let off = FlatDhcp::plan(&d, &Config::new([("masquerade", "false")])).unwrap();
        assert_eq!(off.nat.len(), 1);
    }

    #[test]
    fn networks_without_dhcp_get_no_server() {
        let mut d = desired();
        d.networks[0].dhcp = false;
        let p = FlatDhcp::plan(&d, &Config::default()).unwrap();
        assert!(p.dhcp.is_empty());
        assert!(!p.filters[0].flows.iter().any(|f| f.port_min == Some(67)));
    }

    #[test]
    fn bad_networks_are_refused() {
        let mut d = desired();
        d.networks[0].gateway = "10.9.0.1".into();
        assert_eq!(FlatDhcp::plan(&d, &Config::default()).unwrap_err().code, 1);

        let mut d = desired();
        let mut twin = network();
        twin.id = "6F1C0A2B-ffff-ffff-ffff-ffffffffffff".into();
        d.networks.push(twin);
        assert!(FlatDhcp::plan(&d, &Config::default()).is_err(), "same tag");
    }

    #[test]
    fn project_networks_are_separate_bridges_and_namespaces() {
        let mut d = desired();
        let mut other = network();
        other.id = "0badcafe-0000-0000-0000-000000000000".into();
        other.project_id = Some("p2".into());
        d.networks.push(other);
        let p = FlatDhcp::plan(&d, &Config::default()).unwrap();
        assert_eq!(p.bridges.len(), 2);
        assert_ne!(p.bridges[0].namespace, p.bridges[1].namespace);
        assert_eq!(p.dhcp[1].hosts.len(), 0);
    }
}
