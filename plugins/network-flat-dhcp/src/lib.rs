//! The `flat-dhcp` network driver: a bridge and a namespace per network, DHCP, metadata,
//! NAT and per-port filters (planning in `metacloud_sdk::network::drivers::flat_dhcp`).

metacloud_sdk::network_driver_plugin!(
    metacloud_sdk::network::drivers::FlatDhcp,
    "../../wit/network"
);
