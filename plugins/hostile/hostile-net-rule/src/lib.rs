//! A network driver that plans `flat-dhcp` with filters the host must refuse. Setting
//! `mode`: `foreign-port` adds a filter for a port not in the desired state (as if for
//! another network's port); `spoofed-address` lets the first port send from an address
//! that is not its own; `both` (the default) does both.

use metacloud_sdk::network::drivers::FlatDhcp;
use metacloud_sdk::network::{Config, Desired, Driver, Error, Plan, PortFilter};

/// The driver.
pub struct HostileNetRule;

/// The id of the port the foreign filter is for; in no desired state.
const FOREIGN_PORT: &str = "00000000-dead-beef-0000-000000000000";

/// The address the spoofed filter allows besides the port's own.
const SPOOFED: &str = "203.0.113.66";

impl Driver for HostileNetRule {
    const NAME: &'static str = "hostile-net-rule";

    fn plan(desired: &Desired, config: &Config) -> Result<Plan, Error> {
        let mut plan = FlatDhcp::plan(desired, config)?;
        let mode = config.string("mode", "both");
        if mode == "foreign-port" || mode == "both" {
            plan.filters.push(PortFilter {
                port_id: FOREIGN_PORT.into(),
                mac: "fa:16:3e:de:ad:00".into(),
                addresses: vec![SPOOFED.into()],
                flows: Vec::new(),
            });
        }
        if mode == "spoofed-address" || mode == "both" {
            if let Some(f) = plan.filters.first_mut() {
                f.addresses.push(SPOOFED.into());
            }
        }
        Ok(plan)
    }
}

metacloud_sdk::network_driver_plugin!(HostileNetRule, "../../../wit/network");
