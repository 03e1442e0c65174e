//! Usage of the cloud by project over a period (Nova's `os-simple-tenant-usage`): which
//! servers ran, with what resources, from when to when.

use crate::{ApiError, ComputeApi, Context};
use metacloud_db::instances::Instance;
use std::collections::HashMap;

/// A server that ran within a period, with its flavor's name.
#[derive(Debug, Clone)]
pub struct ServerUsage {
    pub instance: Instance,
    /// The flavor's name; its id when the flavor is gone.
    pub flavor: String,
}

impl ComputeApi {
    /// The servers that ran within [`start`, `end`) (ms): of `project` (the caller's own,
    /// or any for admins), or of every project (`None`: admins only).
    pub async fn server_usages(
        &self,
        ctx: &Context,
        project: Option<&str>,
        start: i64,
        end: i64,
    ) -> Result<Vec<ServerUsage>, ApiError> {
        if project != Some(ctx.project_id.as_str()) {
            Self::require_admin(ctx, "os_compute_api:os-simple-tenant-usage:list")?;
        }
        if start > end {
            return Err(ApiError::BadRequest(
                "Invalid start time. The start time cannot occur after the end time.".into(),
            ));
        }
        let instances = self.db.instances_in_window(project, start, end).await?;
        let mut names: HashMap<String, String> = HashMap::new();
        let mut out = Vec::with_capacity(instances.len());
        for instance in instances {
            let flavor = match names.get(&instance.flavor_id) {
                Some(n) => n.clone(),
                None => {
                    let name = self
                        .db
                        .get_flavor(&instance.flavor_id)
                        .await
                        .map(|f| f.name)
                        .unwrap_or_else(|_| instance.flavor_id.clone());
                    names.insert(instance.flavor_id.clone(), name.clone());
                    name
                }
            };
            out.push(ServerUsage { instance, flavor });
        }
        Ok(out)
    }
}
