//! Server snapshots (`createImage`) and backups (`createBackup`): the API records a
//! `queued` image owned by the caller's project, the compute worker copies the guest's disk
//! and uploads it with the caller's token (as Nova's computes do with Glance); backups of
//! one server and type beyond the rotation are deleted once the new one is stored.

use crate::{ApiError, ComputeApi, Context};
use metacloud_db::images::Image;
use metacloud_image::{ImageError, Images};
use metacloud_rpc::compute::{self, ImageUpload, Snapshot};
use metacloud_rpc::objects::{TaskState, VmState};
use metacloud_rpc::topics;
use std::collections::BTreeMap;
use std::time::Duration;

/// How long a snapshot (copy and upload) may take.
const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(3600);

/// A backup: its type (`daily`, `weekly`, …) and how many of that type to keep.
#[derive(Debug, Clone)]
pub struct Backup {
    pub kind: String,
    pub rotation: u32,
}

/// The image to make: its name and properties, and whether it is a backup.
#[derive(Debug, Clone)]
pub struct SnapshotRequest {
    pub name: String,
    pub metadata: BTreeMap<String, String>,
    pub backup: Option<Backup>,
}

/// What the compute needs to upload: the image API's URL and the caller's token.
#[derive(Debug, Clone)]
pub struct UploadVia {
    pub image_url: String,
    pub token: String,
}

/// An image service error as the compute API's.
pub fn image_error(e: ImageError) -> ApiError {
    match e {
        ImageError::NotFound(m) => ApiError::NotFound(m),
        ImageError::Forbidden(m) => ApiError::Forbidden(m),
        ImageError::Conflict(m) => ApiError::Conflict(m),
        ImageError::BadRequest(m) => ApiError::BadRequest(m),
        other => ApiError::Internal(other.to_string()),
    }
}

impl ComputeApi {
    /// Snapshots a server into a new image (a backup when `backup` is given); returns the
    /// image id at once, while the copy and upload go on.
    pub async fn snapshot(
        &self,
        ctx: &Context,
        images: &Images,
        uuid: &str,
        req: SnapshotRequest,
        via: UploadVia,
    ) -> Result<String, ApiError> {
        let SnapshotRequest {
            name,
            metadata,
            backup,
        } = req;
        let (action, task) = match &backup {
            Some(_) => ("createBackup", TaskState::ImageBackup),
            None => ("createImage", TaskState::ImageSnapshot),
        };
        Self::require_write(ctx, &format!("os_compute_api:servers:{action}"))?;
        if name.trim().is_empty() || name.len() > 255 {
            return Err(ApiError::BadRequest(
                "name must be 1 to 255 characters".into(),
            ));
        }
        let inst = self.changeable(ctx, uuid).await?;
        let conflict = || {
            ApiError::Conflict(format!(
                "Cannot '{action}' instance {uuid} while it is in vm_state {}",
                inst.vm_state.as_str()
            ))
        };
        let Some(host) = inst.host.clone() else {
            return Err(conflict());
        };
        let who = ctx.clone();
        let base = match &inst.image_id {
            Some(id) => images.for_boot(&who, id).await.ok(),
            None => None,
        };
        let change = metacloud_db::instances::StateChange {
            task_state: Some(Some(task)),
            expected_task_state: Some(vec![None]),
            expected_vm_state: Some(vec![
                VmState::Active,
                VmState::Stopped,
                VmState::Paused,
                VmState::Suspended,
            ]),
            expected_host: Some(host.clone()),
            ..Default::default()
        };
        self.begin(uuid, &change, conflict).await?;
        let mut properties = metadata;
        properties.insert("instance_uuid".into(), uuid.to_string());
        properties.insert("user_id".into(), ctx.user_id.clone());
        properties.insert(
            "image_type".into(),
            if backup.is_some() {
                "backup"
            } else {
                "snapshot"
            }
            .into(),
        );
        if let Some(b) = &backup {
            properties.insert("backup_type".into(), b.kind.clone());
        }
        if let Some(base) = &base {
            properties.insert("base_image_ref".into(), base.id.clone());
        }
        let record = Image {
            name: name.clone(),
            visibility: "private".into(),
            disk_format: Some(
                base.as_ref()
                    .map(|b| b.disk_format.clone())
                    .unwrap_or_else(|| "qcow2".into()),
            ),
            container_format: Some("bare".into()),
            min_disk: inst.disk_gb,
            min_ram: base.as_ref().map(|b| b.min_ram_mb as i64).unwrap_or(0),
            properties,
            ..Default::default()
        };
        let image = match images.create(&who, record).await {
            Ok(i) => i,
            Err(e) => {
                self.end_task(uuid, task).await;
                return Err(image_error(e));
            }
        };
        self.db
            .record_action(uuid, action, &ctx.request_id, &ctx.project_id, &ctx.user_id)
            .await?;
        let req = compute::Request::SnapshotInstance {
            uuid: uuid.to_string(),
            base: base.map(Box::new),
            upload: ImageUpload {
                url: via.image_url,
                image_id: image.id.clone(),
                token: via.token,
            },
            task,
        };
        let (api, images, image_id) = (self.clone(), images.clone(), image.id.clone());
        let uuid = uuid.to_string();
        tokio::spawn(metacloud_rpc::with_request_id(
            ctx.request_id.clone(),
            async move {
                let done: Result<Snapshot, _> = api
                    .rpc
                    .call_within(&topics::compute(&host), &req, SNAPSHOT_TIMEOUT)
                    .await;
                match done {
                    Ok(s) => {
                        tracing::info!(instance = %uuid, image = %image_id, size = s.size, "snapshot stored");
                        if let Some(b) = backup {
                            rotate(&images, &who, &uuid, &b).await;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(instance = %uuid, image = %image_id, error = %e, "snapshot failed; removing its image");
                        if let Err(e) = images.delete(&who, &image_id).await {
                            tracing::warn!(image = %image_id, error = %e, "cannot remove the image of a failed snapshot");
                        }
                        // The compute resets the task itself; this covers a compute that never answered.
                        api.end_task(&uuid, task).await;
                    }
                }
            },
        ));
        Ok(image.id)
    }

    /// Clears `task` if the instance is still in it.
    async fn end_task(&self, uuid: &str, task: TaskState) {
        let change = metacloud_db::instances::StateChange {
            task_state: Some(None),
            expected_task_state: Some(vec![Some(task)]),
            ..Default::default()
        };
        let _ = self.db.update_instance(uuid, &change).await;
    }
}

/// Deletes the oldest backups of `uuid` of this type beyond `b.rotation`.
async fn rotate(images: &Images, who: &Context, uuid: &str, b: &Backup) {
    let prop = |img: &Image, k: &str| img.properties.get(k).cloned().unwrap_or_default();
    let mut backups: Vec<Image> = match images.list(who, None, None).await {
        Ok(all) => all
            .into_iter()
            .filter(|i| {
                prop(i, "instance_uuid") == uuid
                    && prop(i, "image_type") == "backup"
                    && prop(i, "backup_type") == b.kind
                    && i.status == "active"
            })
            .collect(),
        Err(e) => {
            tracing::warn!(instance = %uuid, error = %e, "cannot list backups to rotate");
            return;
        }
    };
    backups.sort_by(|x, y| y.created_at.cmp(&x.created_at).then(y.id.cmp(&x.id)));
    for old in backups.iter().skip(b.rotation as usize) {
        match images.delete(who, &old.id).await {
            Ok(()) => tracing::info!(instance = %uuid, image = %old.id, "old backup rotated out"),
            Err(e) => tracing::warn!(image = %old.id, error = %e, "cannot rotate out backup"),
        }
    }
}
