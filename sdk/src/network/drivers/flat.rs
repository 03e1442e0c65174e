//! `flat`: every network is an operator's bridge in the host's namespace (`network.bridge`,
//! `managed: false`); the driver attaches the taps to it and filters the ports. No DHCP, no
//! segment, no NAT, no metadata redirect: the guest learns its address from
//! `network_data.json` (config drive, or a metadata service the operator routes), as Nova's
//! flat networks with `flat_injected` did.

use super::{attachments, check_ports, filters, Settings};
use crate::network::names::valid_ifname;
use crate::network::{Bridge, Config, Desired, Driver, Error, Network, Plan};

/// The `flat` driver.
pub struct Flat;

impl Driver for Flat {
    const NAME: &'static str = "flat";

    fn plan(desired: &Desired, config: &Config) -> Result<Plan, Error> {
        plan(desired, &Settings::from_config(config)?)
    }
}

/// The `flat` plan of `desired`.
pub fn plan(desired: &Desired, settings: &Settings) -> Result<Plan, Error> {
    check_ports(desired)?;
    Ok(Plan {
        bridges: desired
            .networks
            .iter()
            .map(operator_bridge)
            .collect::<Result<_, _>>()?,
        attachments: attachments(desired),
        filters: filters(desired, settings, |_| Vec::new()),
        ..Plan::default()
    })
}

/// The operator's bridge of `network`, which a flat network must name.
fn operator_bridge(network: &Network) -> Result<Bridge, Error> {
    let name = network
        .bridge
        .as_deref()
        .filter(|b| valid_ifname(b))
        .ok_or_else(|| {
            Error::desired(format!(
                "flat network {} names no (valid) operator bridge",
                network.id
            ))
        })?;
    Ok(Bridge {
        network_id: network.id.clone(),
        name: name.to_string(),
        namespace: None,
        managed: false,
        mtu: network.mtu,
        address: None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    fn flat_desired() -> Desired {
        let mut d = desired();
        d.networks[0].bridge = Some("br100".into());
        d
    }

    #[test]
    fn flat_plan_uses_the_operators_bridge() {
        let p = Flat::plan(&flat_desired(), &Config::default()).unwrap();
        assert_eq!(p.bridges.len(), 1);
        let b = &p.bridges[0];
        assert_eq!(
            (b.name.as_str(), b.managed, &b.namespace),
            ("br100", false, &None)
        );
        assert_eq!(b.address, None);
        assert_eq!(p.attachments.len(), 2);
        assert_eq!(p.filters.len(), 2);
        assert!(p.dhcp.is_empty() && p.segments.is_empty() && p.uplinks.is_empty());
        assert!(p.nat.is_empty() && p.metadata.is_empty());
    }

    #[test]
    fn flat_network_without_a_bridge_is_refused() {
        let e = Flat::plan(&desired(), &Config::default()).unwrap_err();
        assert_eq!(e.code, Error::INVALID_DESIRED);
    }
}
