//! A network driver that plans `flat-dhcp` but puts an address outside the network's CIDR
//! on the first network's bridge (`192.0.2.1/24`, or `198.51.100.1/24` when the network is
//! inside 192.0.2.0/24): the host must refuse the whole plan.

use metacloud_sdk::network::drivers::FlatDhcp;
use metacloud_sdk::network::{Config, Desired, Driver, Error, Ipv4Cidr, Plan};

/// The driver.
pub struct HostileNetAddress;

impl Driver for HostileNetAddress {
    const NAME: &'static str = "hostile-net-address";

    fn plan(desired: &Desired, config: &Config) -> Result<Plan, Error> {
        let mut plan = FlatDhcp::plan(desired, config)?;
        if let (Some(bridge), Some(network)) = (plan.bridges.first_mut(), desired.networks.first())
        {
            let inside = Ipv4Cidr::parse(&network.cidr).is_ok_and(|c| c.contains_str("192.0.2.1"));
            let outside = if inside {
                "198.51.100.1/24"
            } else {
                "192.0.2.1/24"
            };
            bridge.address = Some(outside.into());
        }
        Ok(plan)
    }
}

metacloud_sdk::network_driver_plugin!(HostileNetAddress, "../../../wit/network");
