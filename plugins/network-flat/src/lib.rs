//! The `flat` network driver: the operator's bridges, the taps on them, per-port filters
//! (planning in `metacloud_sdk::network::drivers::flat`).

metacloud_sdk::network_driver_plugin!(metacloud_sdk::network::drivers::Flat, "../../wit/network");
