//! Operators' work on hosts: a compute service switched off for scheduling (maintenance)
//! or marked down (fenced), and the evacuation of instances off a host that is down.

use crate::{ApiError, ComputeApi, Context};
use metacloud_db::moves::Migration;
use metacloud_db::services::{Service, ServiceChange};
use metacloud_rpc::objects::{InstanceSpec, TaskState, VmState};
use metacloud_rpc::{conductor, topics};

/// The binary name of compute services.
pub const COMPUTE_BINARY: &str = "metacloud-compute";

impl ComputeApi {
    /// Changes a service (admin): scheduling on or off with a reason, and the forced-down
    /// mark, which only compute services have.
    pub async fn update_service(
        &self,
        ctx: &Context,
        id: i64,
        change: &ServiceChange,
    ) -> Result<Service, ApiError> {
        Self::require_admin(ctx, "os_compute_api:os-services:update")?;
        if let Some(reason) = &change.disabled_reason {
            if reason.trim().is_empty() || reason.len() > 255 {
                return Err(ApiError::BadRequest(
                    "disabled_reason must be 1 to 255 characters".into(),
                ));
            }
        }
        let before = self.service(id).await?;
        if change.forced_down.is_some() && before.binary != COMPUTE_BINARY {
            return Err(ApiError::BadRequest(format!(
                "Service {id} is a {}; only compute services can be forced down",
                before.binary
            )));
        }
        let after = self
            .db()
            .update_service(id, change, self.down_time_ms())
            .await?;
        tracing::info!(
            service = id,
            binary = %after.binary,
            host = %after.host,
            disabled = after.disabled,
            reason = ?after.disabled_reason,
            forced_down = after.forced_down,
            "service updated"
        );
        Ok(after)
    }

    /// Service `id`, or 404.
    /// Deletes a service (admin): a compute service only once no server lives on its
    /// host (409), with its hypervisor. A service still running registers again at its
    /// next heartbeat, as Nova's do.
    pub async fn delete_service(&self, ctx: &Context, id: i64) -> Result<(), ApiError> {
        Self::require_admin(ctx, "os_compute_api:os-services:delete")?;
        let gone = self.db().delete_service(id).await.map_err(|e| match e {
            metacloud_db::DbError::NotFound(_) => {
                ApiError::NotFound(format!("Service {id} could not be found."))
            }
            e => e.into(),
        })?;
        tracing::info!(service = id, binary = %gone.binary, host = %gone.host, "service deleted");
        Ok(())
    }

    async fn service(&self, id: i64) -> Result<Service, ApiError> {
        self.db
            .list_services(self.down_time_ms())
            .await?
            .into_iter()
            .find(|s| s.id == id)
            .ok_or_else(|| ApiError::NotFound(format!("Service {id} could not be found.")))
    }

    /// The compute service of `host`, or 404.
    pub async fn compute_service(&self, host: &str) -> Result<Service, ApiError> {
        self.db
            .list_services(self.down_time_ms())
            .await?
            .into_iter()
            .find(|s| s.binary == COMPUTE_BINARY && s.host == host)
            .ok_or_else(|| ApiError::NotFound(format!("Compute host {host} could not be found.")))
    }

    /// Rebuilds an instance of a host that is down on another host (admin): `dest`, which
    /// must be up and enabled, or one the scheduler picks. The instance keeps its id, flavor,
    /// image and metadata; its disk is made anew from `image`. Returns the source host.
    pub async fn evacuate(
        &self,
        ctx: &Context,
        uuid: &str,
        dest: Option<&str>,
        images: &metacloud_image::Images,
        stop: bool,
    ) -> Result<String, ApiError> {
        Self::require_admin(ctx, "os_compute_api:os-evacuate")?;
        let inst = self.changeable(ctx, uuid).await?;
        let conflict = || {
            ApiError::Conflict(format!(
                "Cannot 'evacuate' instance {uuid} while it is in vm_state {}",
                inst.vm_state.as_str()
            ))
        };
        let evacuable = [VmState::Active, VmState::Stopped, VmState::Error];
        if !evacuable.contains(&inst.vm_state) || inst.task_state.is_some() {
            return Err(conflict());
        }
        let Some(source) = inst.host.clone() else {
            return Err(conflict());
        };
        if self.compute_service(&source).await?.up {
            return Err(ApiError::Conflict(format!(
                "Compute service of {source} is still in use."
            )));
        }
        if let Some(dest) = dest {
            self.usable_target(dest, &source).await?;
        }
        let flavor = self.db.get_flavor(&inst.flavor_id).await?;
        let image = match &inst.image_id {
            Some(id) => {
                let who = ctx.as_admin_of(&inst.project_id);
                Some(images.for_boot(&who, id).await.map_err(|e| {
                    ApiError::Conflict(format!(
                        "Cannot evacuate instance {uuid}: its image {id} cannot be used: {e}"
                    ))
                })?)
            }
            None => None,
        };
        let change = metacloud_db::instances::StateChange {
            task_state: Some(Some(TaskState::Rebuilding)),
            expected_task_state: Some(vec![None]),
            expected_vm_state: Some(evacuable.to_vec()),
            expected_host: Some(source.clone()),
            ..Default::default()
        };
        self.begin(uuid, &change, conflict).await?;
        self.db
            .record_action(
                uuid,
                "evacuate",
                &ctx.request_id,
                &ctx.project_id,
                &ctx.user_id,
            )
            .await?;
        let instance = InstanceSpec {
            uuid: uuid.to_string(),
            name: inst.name.clone(),
            project_id: inst.project_id.clone(),
            user_id: inst.user_id.clone(),
            flavor,
            image,
        };
        let req = conductor::Request::Evacuate {
            instance,
            source: source.clone(),
            dest: dest.map(str::to_string),
            stopped: stop || inst.vm_state == VmState::Stopped,
            requested_by: Some(ctx.requester()),
        };
        self.rpc.cast(topics::CONDUCTOR, &req).await?;
        tracing::info!(instance = %uuid, %source, dest = ?dest, "evacuation requested");
        Ok(source)
    }

    /// Cold-migrates an instance (admin) to `dest`, which must be up and enabled, or to a
    /// host the scheduler picks: its disk travels as a private transfer image of the
    /// caller's project, uploaded by the source with the caller's token. It ends in
    /// `resized` (VERIFY_RESIZE) on the destination, to confirm or revert.
    pub async fn migrate(
        &self,
        ctx: &Context,
        uuid: &str,
        dest: Option<&str>,
        images: &metacloud_image::Images,
        via: crate::snapshots::UploadVia,
    ) -> Result<(), ApiError> {
        Self::require_admin(ctx, "os_compute_api:os-migrate-server:migrate")?;
        let inst = self.changeable(ctx, uuid).await?;
        let conflict = || {
            ApiError::Conflict(format!(
                "Cannot 'migrate' instance {uuid} while it is in vm_state {} (task_state {})",
                inst.vm_state.as_str(),
                inst.task_state.map(|t| t.as_str()).unwrap_or("None")
            ))
        };
        let movable = [VmState::Active, VmState::Stopped];
        if !movable.contains(&inst.vm_state) || inst.task_state.is_some() {
            return Err(conflict());
        }
        let Some(source) = inst.host.clone() else {
            return Err(conflict());
        };
        if !self.compute_service(&source).await?.up {
            return Err(ApiError::Conflict(format!(
                "Compute service of {source} is unavailable at this time."
            )));
        }
        if let Some(dest) = dest {
            self.usable_target(dest, &source).await?;
        }
        let flavor = self.db.get_flavor(&inst.flavor_id).await?;
        let admin = ctx.clone();
        let base = match &inst.image_id {
            Some(id) => images.for_boot(&admin, id).await.ok(),
            None => None,
        };
        let change = metacloud_db::instances::StateChange {
            task_state: Some(Some(TaskState::ResizePrep)),
            expected_task_state: Some(vec![None]),
            expected_vm_state: Some(movable.to_vec()),
            expected_host: Some(source.clone()),
            ..Default::default()
        };
        self.begin(uuid, &change, conflict).await?;
        let mut properties = std::collections::BTreeMap::new();
        properties.insert("instance_uuid".to_string(), uuid.to_string());
        properties.insert("image_type".to_string(), "migration".to_string());
        let record = metacloud_db::images::Image {
            name: format!("migration of {uuid}"),
            visibility: "private".into(),
            disk_format: Some(
                base.as_ref()
                    .map(|b| b.disk_format.clone())
                    .unwrap_or_else(|| "qcow2".into()),
            ),
            container_format: Some("bare".into()),
            properties,
            ..Default::default()
        };
        let transfer = match images.create(&admin, record).await {
            Ok(i) => i,
            Err(e) => {
                let back = metacloud_db::instances::StateChange {
                    task_state: Some(None),
                    expected_task_state: Some(vec![Some(TaskState::ResizePrep)]),
                    ..Default::default()
                };
                let _ = self.db.update_instance(uuid, &back).await;
                return Err(crate::snapshots::image_error(e));
            }
        };
        self.db
            .record_action(
                uuid,
                "migrate",
                &ctx.request_id,
                &ctx.project_id,
                &ctx.user_id,
            )
            .await?;
        let req = conductor::Request::Migrate {
            instance: InstanceSpec {
                uuid: uuid.to_string(),
                name: inst.name.clone(),
                project_id: inst.project_id.clone(),
                user_id: inst.user_id.clone(),
                flavor,
                image: base,
            },
            source: source.clone(),
            dest: dest.map(str::to_string),
            running: inst.vm_state == VmState::Active,
            requested_by: Some(ctx.requester()),
            upload: metacloud_rpc::compute::ImageUpload {
                url: via.image_url,
                image_id: transfer.id.clone(),
                token: via.token,
            },
        };
        self.rpc.cast(topics::CONDUCTOR, &req).await?;
        tracing::info!(instance = %uuid, %source, dest = ?dest, image = %transfer.id, "migration requested");
        Ok(())
    }

    /// A host an instance may be moved to from `source`: another, up and enabled.
    async fn usable_target(&self, dest: &str, source: &str) -> Result<(), ApiError> {
        if dest == source {
            return Err(ApiError::BadRequest(format!(
                "The target host {dest} is the instance's own host."
            )));
        }
        let s = self
            .compute_service(dest)
            .await
            .map_err(|_| ApiError::NotFound(format!("Compute host {dest} could not be found.")))?;
        if !s.up || s.disabled {
            return Err(ApiError::BadRequest(format!(
                "Compute service of {dest} is unavailable at this time."
            )));
        }
        Ok(())
    }

    /// Migration records (admin), newest first.
    pub async fn migrations(
        &self,
        ctx: &Context,
        instance: Option<&str>,
    ) -> Result<Vec<Migration>, ApiError> {
        Self::require_admin(ctx, "os_compute_api:os-migrations:index")?;
        Ok(self.db.list_migrations(instance).await?)
    }
}
