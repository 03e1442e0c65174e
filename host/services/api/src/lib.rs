//! The API service.
//!
//! [`ComputeApi`] is the host-side compute API every dialect calls (create, list, show,
//! delete, start, stop, reboot, …): request context → policy → quota (atomic, in the
//! database) → instance rows → cast to the conductor. [`http`] serves it as JSON for
//! operators, tests and the CLI; [`dialect`] serves the WASM dialects (OpenStack Compute,
//! admin, identity, image) over it, the identity service and the image service, with
//! secrets kept out of plugins by [`sealed`] and image data streamed by [`image_data`].

mod aggregates;
mod certificates;
mod compute;
pub mod dialect;
mod error;
mod flavors;
mod groups;
pub mod hosts;
pub mod http;
mod identity_host;
pub mod image_data;
mod image_host;
pub mod keypairs;
pub mod metadata_host;
pub mod routes;
pub mod sealed;
pub mod snapshots;

pub use compute::{ComputeApi, CreateRequest, InstanceView};
pub use error::ApiError;
pub use groups::CreateGroupRequest;

/// Who is asking: the request context every operation runs in.
#[derive(Debug, Clone)]
pub struct Context {
    pub request_id: String,
    pub project_id: String,
    pub user_id: String,
    pub roles: Vec<String>,
}

impl Context {
    pub fn is_admin(&self) -> bool {
        self.roles.iter().any(|r| r == "admin")
    }

    /// A reader may look but not change anything.
    pub fn can_write(&self) -> bool {
        self.roles.iter().any(|r| r == "admin" || r == "member")
    }

    /// An admin context for operators and tests.
    pub fn admin(project_id: &str) -> Context {
        Context {
            request_id: metacloud_rpc::new_request_id(),
            project_id: project_id.into(),
            user_id: "admin".into(),
            roles: vec!["admin".into(), "member".into(), "reader".into()],
        }
    }
}
