//! The `metadata` import of API dialects: the calling instance, as the host identified it,
//! and its IMDSv2 session tokens, served through [`MetadataHost`].

use super::world::metacloud::api::metadata;
use crate::runtime::{State, Timed};

pub use metadata::InstanceData;

/// What the host offers a dialect's `metadata` import; called on the plugin's thread.
pub trait MetadataHost: Send + Sync {
    fn current_instance(&self) -> Option<InstanceData>;
    fn issue_session_token(&self, ttl_seconds: u32) -> Option<String>;
    fn check_session_token(&self, token: String) -> bool;
}

impl State {
    fn metadata_host(&self) -> Option<Timed<dyn MetadataHost>> {
        Some(self.host_clock.timed(self.metadata.clone()?))
    }
}

impl metadata::Host for State {
    fn current_instance(&mut self) -> Option<InstanceData> {
        self.metadata_host()?.current_instance()
    }

    fn issue_session_token(&mut self, ttl_seconds: u32) -> Option<String> {
        self.metadata_host()?.issue_session_token(ttl_seconds)
    }

    fn check_session_token(&mut self, token: String) -> bool {
        self.metadata_host()
            .is_some_and(|m| m.check_session_token(token))
    }
}
