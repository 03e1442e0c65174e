//! The `vlan` network driver: `flat-dhcp` plus a VXLAN segment per segmented network
//! between hosts (planning in `metacloud_sdk::network::drivers::vlan`).

metacloud_sdk::network_driver_plugin!(metacloud_sdk::network::drivers::Vlan, "../../wit/network");
