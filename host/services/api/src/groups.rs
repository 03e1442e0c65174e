//! Server groups through the compute API: a project's own, policy-checked.

use crate::{ApiError, ComputeApi, Context};
use metacloud_db::groups::{NewGroup, ServerGroup};
use metacloud_db::DbError;
use metacloud_rpc::objects::group_policy;
use serde::Deserialize;

/// What a new server group asks for.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateGroupRequest {
    pub name: String,
    pub policy: String,
    /// Anti-affinity only: members allowed per host.
    #[serde(default)]
    pub max_server_per_host: Option<u32>,
}

impl ComputeApi {
    /// Creates a group in the caller's project (quota `server_groups`).
    pub async fn create_group(
        &self,
        ctx: &Context,
        req: CreateGroupRequest,
    ) -> Result<ServerGroup, ApiError> {
        Self::require_write(ctx, "os_compute_api:os-server-groups:create")?;
        if req.name.trim().is_empty() || req.name.len() > 255 {
            return Err(ApiError::BadRequest(
                "name must be 1 to 255 characters".into(),
            ));
        }
        if !group_policy::ALL.contains(&req.policy.as_str()) {
            return Err(ApiError::BadRequest(format!(
                "Invalid input for field/attribute policy. Value: {}. It must be one of {}",
                req.policy,
                group_policy::ALL.join(", ")
            )));
        }
        if req.max_server_per_host.is_some() && req.policy != group_policy::ANTI_AFFINITY {
            return Err(ApiError::BadRequest(
                "Only anti-affinity policy supports max_server_per_host".into(),
            ));
        }
        if req.max_server_per_host == Some(0) {
            return Err(ApiError::BadRequest(
                "max_server_per_host must be at least 1".into(),
            ));
        }
        let new = NewGroup {
            name: req.name,
            project_id: ctx.project_id.clone(),
            user_id: ctx.user_id.clone(),
            policy: req.policy,
            max_server_per_host: req.max_server_per_host,
        };
        let group = self.db.create_server_group(&new, &self.limits).await?;
        tracing::info!(group = %group.uuid, policy = %group.policy, "server group created");
        Ok(group)
    }

    /// A group the caller may see (another project's is "not found").
    pub async fn show_group(&self, ctx: &Context, uuid: &str) -> Result<ServerGroup, ApiError> {
        let not_found = || ApiError::NotFound(format!("Instance group {uuid}"));
        let group = self.db.get_server_group(uuid).await.map_err(|e| match e {
            DbError::NotFound(_) => not_found(),
            e => e.into(),
        })?;
        if !ctx.is_admin() && group.project_id != ctx.project_id {
            return Err(not_found());
        }
        Ok(group)
    }

    /// The caller's groups (every project's with `all_projects` for admins).
    pub async fn list_groups(
        &self,
        ctx: &Context,
        all_projects: bool,
    ) -> Result<Vec<ServerGroup>, ApiError> {
        let project = (!(all_projects && ctx.is_admin())).then_some(ctx.project_id.as_str());
        Ok(self.db.list_server_groups(project).await?)
    }

    /// Deletes a group; its members stay, outside any group.
    pub async fn delete_group(&self, ctx: &Context, uuid: &str) -> Result<(), ApiError> {
        Self::require_write(ctx, "os_compute_api:os-server-groups:delete")?;
        self.show_group(ctx, uuid).await?;
        self.db.delete_server_group(uuid).await?;
        tracing::info!(group = %uuid, "server group deleted");
        Ok(())
    }
}
