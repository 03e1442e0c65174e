//! The compute domain (Nova's `compute/api`).
//!
//! [`ComputeApi`] is what every API calls (create, list, show, delete, start, stop,
//! reboot, resize, migrate, evacuate, snapshots, flavors, key pairs, quotas, aggregates,
//! server groups, certificates): request context → policy → quota (atomic, in the
//! database) → instance rows → cast to the conductor. It speaks no HTTP: the gateway
//! (`metacloud-gateway`) carries requests to it from the dialect plugins and the native API.

mod actions;
mod aggregates;
mod certificates;
mod compute;
mod error;
mod flavors;
mod groups;
pub mod hosts;
mod interfaces;
pub mod keypairs;
pub mod network;
mod ports;
mod routers;
pub mod snapshots;
mod subnets;
mod tags;
pub mod usage;

pub use actions::ActionEnv;
pub use compute::{
    host_status, ComputeApi, CreateRequest, InstanceBrief, InstanceView, RebuildBoot, ServerExtra,
};
pub use error::ApiError;
pub use groups::CreateGroupRequest;
pub use interfaces::InterfaceRequest;
pub use metacloud_objects::Context;
pub use ports::{PortRequest, PortView};
