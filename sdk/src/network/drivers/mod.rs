//! The first-party drivers' planning, pure so that it is unit-tested on the host target;
//! each driver crate under `plugins/network-*` only exports one of these.
//!
//! | driver | plan |
//! |---|---|
//! | [`Flat`] (`flat`) | the operator's bridges, taps on them, filters; no DHCP, no NAT |
//! | [`FlatDhcp`] (`flat-dhcp`) | a bridge and a namespace per network, uplink, DHCP, metadata, NAT, filters |
//! | [`Vlan`] (`vlan`) | `flat-dhcp` plus a VXLAN segment per segmented network between hosts |
//!
//! Settings every driver reads: `allow_same_net_traffic` (default true): ports accept any
//! traffic from their own network's CIDR. `flat-dhcp` and `vlan` also read `lease_seconds`
//! (default 86400), `domain` (default `novalocal`) and `masquerade` (default true).

pub mod flat;
pub mod flat_dhcp;
pub mod vlan;

pub use flat::Flat;
pub use flat_dhcp::FlatDhcp;
pub use vlan::Vlan;

use super::rules::{port_flows_with, same_net_flow};
use super::{Attachment, Config, Desired, Error, Flow, Network, PortFilter};

/// The settings of the first-party drivers, defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Ports accept any traffic from their network's CIDR.
    pub allow_same_net_traffic: bool,
    /// The DHCP lease time.
    pub lease_seconds: u32,
    /// The DNS domain DHCP hands out.
    pub domain: String,
    /// Networks' outbound traffic is masqueraded when there is a floating pool.
    pub masquerade: bool,
}

impl Settings {
    /// The settings in `config`; a value that does not parse is an error.
    pub fn from_config(config: &Config) -> Result<Settings, Error> {
        Ok(Settings {
            allow_same_net_traffic: config.bool("allow_same_net_traffic", true)?,
            lease_seconds: config.u32("lease_seconds", 86400)?,
            domain: config.string("domain", "novalocal"),
            masquerade: config.bool("masquerade", true)?,
        })
    }
}

/// Every port is on a network of `desired`.
pub fn check_ports(desired: &Desired) -> Result<(), Error> {
    match desired
        .ports
        .iter()
        .find(|p| desired.network(&p.network_id).is_none())
    {
        Some(p) => Err(Error::desired(format!(
            "port {} is on network {}, which the desired state does not have",
            p.id, p.network_id
        ))),
        None => Ok(()),
    }
}

/// Every port's tap, attached to its network's bridge.
pub fn attachments(desired: &Desired) -> Vec<Attachment> {
    desired
        .ports
        .iter()
        .map(|p| Attachment {
            port_id: p.id.clone(),
            device: p.device.clone(),
        })
        .collect()
}

/// One filter per port: only its MAC and fixed address may leave it; it allows its groups'
/// flows, any traffic from its own network when `allow_same_net_traffic`, and what
/// `services` says the network's services need. Ports must be on networks of `desired`
/// ([`check_ports`]).
pub fn filters(
    desired: &Desired,
    settings: &Settings,
    services: impl Fn(&Network) -> Vec<Flow>,
) -> Vec<PortFilter> {
    desired
        .ports
        .iter()
        .filter_map(|port| {
            let network = desired.network(&port.network_id)?;
            let mut extra = Vec::new();
            if settings.allow_same_net_traffic {
                extra.extend(same_net_flow(network));
            }
            extra.extend(services(network));
            Some(PortFilter {
                port_id: port.id.clone(),
                mac: port.mac.clone(),
                addresses: vec![port.address.clone()],
                flows: port_flows_with(port, desired, extra),
            })
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! A desired state to plan: one network, two ports in the default group.

    use crate::network::*;

    pub const NET: &str = "6f1c0a2b-1111-2222-3333-444455556666";

    /// `10.0.0.0/24`, gateway `10.0.0.1`, DHCP, segment 1001.
    pub fn network() -> Network {
        Network {
            id: NET.into(),
            name: "private".into(),
            project_id: Some("p1".into()),
            cidr: "10.0.0.0/24".into(),
            gateway: "10.0.0.1".into(),
            range_start: "10.0.0.10".into(),
            range_end: "10.0.0.250".into(),
            dns: vec!["192.0.2.53".into()],
            segment: Some(1001),
            bridge: None,
            uplink: None,
            mtu: 1450,
            dhcp: true,
        }
    }

    /// Port `n` on the network, address `10.0.0.1n`.
    pub fn port(n: u8) -> Port {
        Port {
            id: format!("port-{n}"),
            network_id: NET.into(),
            instance_id: format!("vm-{n}"),
            project_id: "p1".into(),
            hostname: format!("vm-{n}"),
            mac: format!("fa:16:3e:00:00:0{n}"),
            address: format!("10.0.0.1{n}"),
            device: format!("tap0000000{n}"),
            security_groups: vec!["default".into()],
        }
    }

    /// Nova's default group: ingress from its members, egress anywhere.
    pub fn default_group(members: &[&str]) -> SecurityGroup {
        SecurityGroup {
            id: "default".into(),
            project_id: "p1".into(),
            rules: vec![
                Rule {
                    direction: Direction::Ingress,
                    remote_group: Some("default".into()),
                    ..Rule::default()
                },
                Rule {
                    direction: Direction::Egress,
                    remote_cidr: Some("0.0.0.0/0".into()),
                    ..Rule::default()
                },
            ],
            members: members.iter().map(|m| m.to_string()).collect(),
        }
    }

    /// One network, two ports, the default group.
    pub fn desired() -> Desired {
        Desired {
            host: "compute-1".into(),
            networks: vec![network()],
            ports: vec![port(1), port(2)],
            groups: vec![default_group(&["10.0.0.11", "10.0.0.12"])],
            ..Desired::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

    #[test]
    fn settings_defaults() {
        let s = Settings::from_config(&Config::default()).unwrap();
        assert!(s.allow_same_net_traffic && s.masquerade);
        assert_eq!((s.lease_seconds, s.domain.as_str()), (86400, "novalocal"));
        let bad = Config::new([("lease_seconds", "a day")]);
        assert_eq!(
            Settings::from_config(&bad).unwrap_err().code,
            Error::INVALID_CONFIG
        );
    }

    #[test]
    fn a_port_on_an_unknown_network_is_refused() {
        let mut d = desired();
        d.ports[1].network_id = "elsewhere".into();
        assert_eq!(check_ports(&d).unwrap_err().code, Error::INVALID_DESIRED);
        assert!(check_ports(&desired()).is_ok());
    }
}
