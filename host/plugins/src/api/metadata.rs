//! The `metadata` import of API dialects: the calling instance, as the host identified it,
//! and its IMDSv2 session tokens, served through [`MetadataHost`].

use super::world::metacloud::api::metadata;
use crate::runtime::State;

pub use metadata::InstanceData;

/// What the host offers a dialect's `metadata` import; called on the plugin's thread.
pub trait MetadataHost: Send + Sync {
    fn current_instance(&self) -> Option<InstanceData>;
    fn issue_session_token(&self, ttl_seconds: u32) -> Option<String>;
    fn check_session_token(&self, token: String) -> bool;
}

impl metadata::Host for State {
    fn current_instance(&mut self) -> Option<InstanceData> {
        self.metadata.as_ref()?.current_instance()
    }

    fn issue_session_token(&mut self, ttl_seconds: u32) -> Option<String> {
        self.metadata.as_ref()?.issue_session_token(ttl_seconds)
    }

    fn check_session_token(&mut self, token: String) -> bool {
        self.metadata
            .as_ref()
            .is_some_and(|m| m.check_session_token(token))
    }
}
