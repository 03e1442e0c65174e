//! Cold migration: the instance's flavor is claimed on another host, the source uploads the
//! guest's disk as a transfer image, and the destination makes the guest from it; the user
//! (or operator) then confirms or reverts, as after a resize. The source keeps its claim
//! and its powered-off guest until then.

use crate::{rpc_error, Conductor};
use metacloud_rpc::compute::{self, ImageUpload};
use metacloud_rpc::objects::{ImageRef, InstanceSpec};
use metacloud_rpc::{topics, RpcError};

impl Conductor {
    pub(crate) async fn migrate(
        &self,
        instance: InstanceSpec,
        source: &str,
        dest: Option<String>,
        running: bool,
        upload: ImageUpload,
        requested_by: Option<metacloud_rpc::objects::Requester>,
    ) -> Result<(), RpcError> {
        let uuid = instance.uuid.clone();
        let candidates = match self.destinations(&instance, source, dest).await {
            Ok(hosts) => hosts,
            Err(message) => return self.migration_refused(&uuid, source, &message).await,
        };
        for host in &candidates {
            match self
                .db
                .start_migration(&uuid, source, host, &upload.image_id, requested_by.as_ref())
                .await
            {
                Ok(true) => {
                    tracing::info!(instance = %uuid, %source, dest = %host, "migrating");
                    let base = instance.image.clone().map(Box::new);
                    let req = compute::Request::MigrateOut {
                        uuid: uuid.clone(),
                        base,
                        upload,
                        running,
                    };
                    return self.rpc.cast(&topics::compute(source), &req).await;
                }
                Ok(false) => continue,
                Err(metacloud_db::DbError::Conflict(m)) => {
                    tracing::info!(instance = %uuid, reason = %m, "no longer waiting for migration, skipped");
                    return Ok(());
                }
                Err(e) => return Err(rpc_error(e)),
            }
        }
        let message = format!(
            "No valid host was found. No room for the instance on {}",
            candidates.join(", ")
        );
        self.migration_refused(&uuid, source, &message).await
    }

    /// Where to move an instance off `source`: the operator's `dest`, or the scheduler's
    /// choice and alternates. `Err` is the fault to record when there is nowhere to go.
    pub(crate) async fn destinations(
        &self,
        instance: &InstanceSpec,
        source: &str,
        dest: Option<String>,
    ) -> Result<Vec<String>, String> {
        match dest {
            Some(host) => Ok(vec![host]),
            None => self
                .other_hosts(instance, source)
                .await
                .map_err(|e| match e {
                    RpcError::NoValidHost(m) => format!("No valid host was found. {m}"),
                    other => format!("Scheduling failed: {other}"),
                }),
        }
    }

    /// The scheduler's choice and alternates for one instance, never `source`.
    async fn other_hosts(
        &self,
        instance: &InstanceSpec,
        source: &str,
    ) -> Result<Vec<String>, RpcError> {
        let row = self
            .db
            .get_instance(&instance.uuid)
            .await
            .map_err(rpc_error)?;
        let spec = self
            .spec_for_one(
                instance,
                row.availability_zone.clone(),
                vec![source.to_string()],
            )
            .await?;
        let selection = self.select(&spec).await?;
        Ok(selection
            .hosts
            .into_iter()
            .chain(selection.alternates.into_iter().flatten())
            .filter(|h| h != source)
            .collect())
    }

    /// No destination: the instance stays as it was, with a fault saying why.
    async fn migration_refused(
        &self,
        uuid: &str,
        source: &str,
        message: &str,
    ) -> Result<(), RpcError> {
        tracing::warn!(instance = %uuid, %source, %message, "migration refused");
        let change = metacloud_db::instances::StateChange {
            task_state: Some(None),
            expected_task_state: Some(vec![Some(metacloud_rpc::objects::TaskState::ResizePrep)]),
            expected_host: Some(source.to_string()),
            ..Default::default()
        };
        match self.db.update_instance(uuid, &change).await {
            Ok(_) | Err(metacloud_db::DbError::Conflict(_)) => {}
            Err(e) => return Err(rpc_error(e)),
        }
        self.db
            .add_fault(uuid, 500, message, Some(source))
            .await
            .map_err(rpc_error)
    }

    /// The source uploaded the disk: the destination makes the guest from it. Or it
    /// failed: the migration is undone and the instance stays on its source.
    pub(crate) async fn migrated_out(
        &self,
        uuid: &str,
        source: &str,
        image_id: &str,
        running: bool,
        error: Option<String>,
    ) -> Result<(), RpcError> {
        if let Some(e) = error {
            tracing::warn!(instance = %uuid, %source, error = %e, "migration failed at the source; undone");
            self.db
                .abort_migration(uuid, source)
                .await
                .map_err(rpc_error)?;
            return self
                .db
                .add_fault(uuid, 500, &format!("migration failed: {e}"), Some(source))
                .await
                .map_err(rpc_error);
        }
        let inst = self.db.get_instance(uuid).await.map_err(rpc_error)?;
        let Some(dest) = inst.host.clone().filter(|h| h != source) else {
            tracing::info!(instance = %uuid, "migration no longer under way, skipped");
            return Ok(());
        };
        let image = self.db.get_image(image_id).await.map_err(rpc_error)?;
        let flavor = self
            .db
            .get_flavor(&inst.flavor_id)
            .await
            .map_err(rpc_error)?;
        let spec = InstanceSpec {
            uuid: uuid.to_string(),
            name: inst.name.clone(),
            project_id: inst.project_id.clone(),
            user_id: inst.user_id.clone(),
            flavor,
            image: Some(ImageRef {
                id: image.id,
                name: image.name,
                location: image.location,
                disk_format: image.disk_format.unwrap_or_else(|| "qcow2".into()),
                sha256: image.sha256,
                properties: Default::default(),
                min_ram_mb: 0,
                min_disk_gb: 0,
            }),
        };
        let req = compute::Request::FinishMigration {
            instance: Box::new(spec),
            running,
        };
        tracing::info!(instance = %uuid, %source, %dest, "disk uploaded; finishing on the destination");
        self.rpc.cast(&topics::compute(&dest), &req).await
    }
}
