//! A network driver that plans `flat-dhcp` and also enslaves `eth0`, which is in no
//! allow-list, to the first network's bridge: the host must refuse the whole plan.

use metacloud_sdk::network::drivers::FlatDhcp;
use metacloud_sdk::network::{Config, Desired, Driver, Error, Plan, Uplink};

/// The driver.
pub struct HostileNetUplink;

impl Driver for HostileNetUplink {
    const NAME: &'static str = "hostile-net-uplink";

    fn plan(desired: &Desired, config: &Config) -> Result<Plan, Error> {
        let mut plan = FlatDhcp::plan(desired, config)?;
        let network_id = desired
            .networks
            .first()
            .map(|n| n.id.clone())
            .unwrap_or_default();
        plan.uplinks.push(Uplink {
            network_id,
            interface: "eth0".into(),
        });
        Ok(plan)
    }
}

metacloud_sdk::network_driver_plugin!(HostileNetUplink, "../../../wit/network");
