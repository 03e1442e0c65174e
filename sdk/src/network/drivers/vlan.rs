//! `vlan`: `flat-dhcp`, plus, for each network with a segment number, a VXLAN device
//! `mcvx-<tag>` (VNI = the segment) on its bridge, flooding to the other network hosts
//! (head-end replication), when the host has an underlay (`underlay-interface` and
//! `underlay-address`). VXLAN rather than 802.1Q tags: the underlay is plain IP. Without an
//! underlay (a single host) the networks get no segment device.

use super::{flat_dhcp, Settings};
use crate::network::{names, Config, Desired, Driver, Error, Network, Plan, Segment};

/// The `vlan` driver.
pub struct Vlan;

impl Driver for Vlan {
    const NAME: &'static str = "vlan";
    const SEGMENTED: bool = true;

    fn plan(desired: &Desired, config: &Config) -> Result<Plan, Error> {
        plan(desired, &Settings::from_config(config)?)
    }
}

/// The `vlan` plan of `desired`.
pub fn plan(desired: &Desired, settings: &Settings) -> Result<Plan, Error> {
    let mut plan = flat_dhcp::plan(desired, settings)?;
    if let (Some(interface), Some(local)) = (&desired.underlay_interface, &desired.underlay_address)
    {
        plan.segments = desired
            .networks
            .iter()
            .filter_map(|n| segment(n, interface, local, &desired.peers))
            .collect();
    }
    Ok(plan)
}

/// The VXLAN device of `network`, if it has a segment number; `peers` minus `local`.
pub fn segment(
    network: &Network,
    interface: &str,
    local: &str,
    peers: &[String],
) -> Option<Segment> {
    Some(Segment {
        network_id: network.id.clone(),
        name: names::segment(&network.id),
        vni: network.segment?,
        underlay_interface: interface.to_string(),
        local: local.to_string(),
        remotes: peers.iter().filter(|p| *p != local).cloned().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    fn underlaid() -> Desired {
        let mut d = desired();
        d.underlay_interface = Some("eth1".into());
        d.underlay_address = Some("192.168.10.1".into());
        d.peers = vec!["192.168.10.2".into(), "192.168.10.3".into()];
        d
    }

    #[test]
    fn vlan_with_underlay_has_a_segment_to_the_peers() {
        let p = Vlan::plan(&underlaid(), &Config::default()).unwrap();
        assert_eq!(p.segments.len(), 1);
        let s = &p.segments[0];
        assert_eq!((s.name.as_str(), s.vni), ("mcvx-6f1c0a2b", 1001));
        assert_eq!(
            (s.underlay_interface.as_str(), s.local.as_str()),
            ("eth1", "192.168.10.1")
        );
        assert_eq!(s.remotes, vec!["192.168.10.2", "192.168.10.3"]);
        assert_eq!(p.bridges[0].name, "mcbr-6f1c0a2b");
        assert_eq!(p.dhcp.len(), 1);
        const { assert!(Vlan::SEGMENTED && !super::super::FlatDhcp::SEGMENTED) };
    }

    #[test]
    fn no_underlay_or_no_segment_no_device() {
        let p = Vlan::plan(&desired(), &Config::default()).unwrap();
        assert!(p.segments.is_empty());
        let mut d = underlaid();
        d.networks[0].segment = None;
        assert!(Vlan::plan(&d, &Config::default())
            .unwrap()
            .segments
            .is_empty());
    }
}
