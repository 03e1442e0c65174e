//! Server tags (the compute API's 2.26): a server's set of short labels, listed, replaced,
//! added and removed one by one, and used as listing filters.

use crate::{ApiError, ComputeApi, Context};
use metacloud_db::DbError;
use metacloud_objects::VmState;

/// Server states in which tags may change (Nova's server-tags controller).
const CHANGEABLE: &[VmState] = &[
    VmState::Active,
    VmState::Paused,
    VmState::Suspended,
    VmState::Stopped,
];

fn tag_error(e: DbError) -> ApiError {
    match e {
        e @ DbError::TooManyTags { .. } => ApiError::BadRequest(e.to_string()),
        DbError::NotFound(m) => ApiError::NotFound(m),
        e => e.into(),
    }
}

impl ComputeApi {
    /// The tags of a server the caller sees, sorted.
    pub async fn server_tags(&self, ctx: &Context, uuid: &str) -> Result<Vec<String>, ApiError> {
        self.visible(ctx, uuid).await?;
        self.db().instance_tags(uuid).await.map_err(tag_error)
    }

    /// Replaces a server's tags (an empty list removes them all); returns them sorted.
    pub async fn set_server_tags(
        &self,
        ctx: &Context,
        uuid: &str,
        tags: &[String],
    ) -> Result<Vec<String>, ApiError> {
        self.taggable(ctx, uuid, "update tags").await?;
        self.db()
            .set_instance_tags(uuid, tags)
            .await
            .map_err(tag_error)
    }

    /// Adds one tag; `true` when the server did not have it.
    pub async fn add_server_tag(
        &self,
        ctx: &Context,
        uuid: &str,
        tag: &str,
    ) -> Result<bool, ApiError> {
        self.taggable(ctx, uuid, "update tag").await?;
        self.db()
            .add_instance_tag(uuid, tag)
            .await
            .map_err(tag_error)
    }

    /// Removes one tag (404 when the server has no such tag).
    pub async fn remove_server_tag(
        &self,
        ctx: &Context,
        uuid: &str,
        tag: &str,
    ) -> Result<(), ApiError> {
        self.taggable(ctx, uuid, "delete tag").await?;
        self.db()
            .remove_instance_tag(uuid, tag)
            .await
            .map_err(|e| match e {
                DbError::NotFound(_) => {
                    ApiError::NotFound(format!("Instance {uuid} has no tag '{tag}'"))
                }
                e => tag_error(e),
            })
    }

    /// A server whose tags the caller may change now: a member's, in a settled state
    /// (409 otherwise, as Nova answers).
    async fn taggable(&self, ctx: &Context, uuid: &str, action: &str) -> Result<(), ApiError> {
        Self::require_write(ctx, "os_compute_api:os-server-tags:update")?;
        let inst = self.visible(ctx, uuid).await?;
        if !CHANGEABLE.contains(&inst.vm_state) {
            return Err(ApiError::Conflict(format!(
                "Cannot '{action}' instance {uuid} while it is in vm_state {}",
                inst.vm_state.as_str()
            )));
        }
        Ok(())
    }
}
