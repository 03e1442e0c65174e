//! Resizes and cold migrations (a migration is a resize to another host that keeps the
//! flavor; its record is kept in [`crate::moves`]). A resized instance holds the claims of both flavors on its host, and the quota
//! of the larger one, until the user confirms (the old flavor's claim and any excess quota
//! are freed) or reverts (the new flavor's are freed and the old flavor comes back). The
//! flavor before the resize is kept in `instances.old_flavor` as JSON.

use crate::nodes::{self, Claim};
use crate::quotas::{self, DefaultLimits, CORES, RAM};
use crate::rows::{claim_of, instance_from_row, Instance, COLUMNS};
use crate::{get, now_ms, Db, DbError};
use metacloud_objects::{Flavor, TaskState, VmState};
use serde::{Deserialize, Serialize};
use sqlx::{Any, Transaction};

/// The flavor (and state) an instance had before a resize.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OldFlavor {
    pub flavor_id: String,
    pub vcpus: i64,
    pub memory_mb: i64,
    pub disk_gb: i64,
    /// `active` or `stopped`: what a confirm or revert returns to.
    pub vm_state: VmState,
    /// A cold migration's source host, which holds the old claim and the old guest (none
    /// for a resize on the instance's own host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_host: Option<String>,
    /// The image the disk travelled as (deleted once the migration is confirmed or
    /// reverted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_image: Option<String>,
}

impl OldFlavor {
    fn claim(&self) -> Claim {
        Claim {
            vcpus: self.vcpus,
            memory_mb: self.memory_mb,
            disk_gb: self.disk_gb,
        }
    }
}

/// Quota the larger of two sizes holds beyond the smaller: `(cores, ram)`, never negative.
fn excess(big: (i64, i64), small: (i64, i64)) -> [(&'static str, i64); 2] {
    [
        (CORES, (big.0 - small.0).max(0)),
        (RAM, (big.1 - small.1).max(0)),
    ]
}

async fn locked_row(
    tx: &mut Transaction<'_, Any>,
    uuid: &str,
) -> Result<(Instance, Option<OldFlavor>), DbError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS}, old_flavor FROM instances WHERE uuid = $1 AND deleted = 0"
    ))
    .bind(uuid)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| DbError::NotFound(format!("instance {uuid}")))?;
    let inst = instance_from_row(&row)?;
    let old: Option<String> = get(&row, "old_flavor")?;
    let old = match old {
        Some(json) => Some(
            serde_json::from_str(&json)
                .map_err(|e| DbError::Corrupt(format!("old_flavor of {uuid}: {e}")))?,
        ),
        None => None,
    };
    Ok((inst, old))
}

/// Writes the instance's flavor, resize record and states, guarded by `updated_at` so a
/// concurrent change makes this fail rather than be overwritten.
#[allow(clippy::too_many_arguments)]
async fn write(
    tx: &mut Transaction<'_, Any>,
    inst: &Instance,
    flavor: (&str, i64, i64, i64),
    old: Option<&OldFlavor>,
    vm_state: VmState,
    task: Option<TaskState>,
) -> Result<(), DbError> {
    let old = match old {
        Some(o) => Some(serde_json::to_string(o).map_err(|e| DbError::Corrupt(e.to_string()))?),
        None => None,
    };
    let done = sqlx::query(
        "UPDATE instances SET flavor_id = $1, vcpus = $2, memory_mb = $3, disk_gb = $4, \
         old_flavor = $5, vm_state = $6, task_state = $7, \
         updated_at = CASE WHEN $8 > updated_at THEN $8 ELSE updated_at + 1 END \
         WHERE uuid = $9 AND deleted = 0 AND updated_at = $10",
    )
    .bind(flavor.0)
    .bind(flavor.1)
    .bind(flavor.2)
    .bind(flavor.3)
    .bind(old)
    .bind(vm_state.as_str())
    .bind(task.map(|t| t.as_str()))
    .bind(now_ms())
    .bind(&inst.uuid)
    .bind(inst.updated_at)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(DbError::Conflict(format!(
            "instance {} changed meanwhile; try again",
            inst.uuid
        )));
    }
    Ok(())
}

/// Inside a delete: frees what an unconfirmed resize still holds (the old flavor's claim on
/// `host` and the quota the old flavor held beyond the new one).
pub(crate) async fn abandon_in(
    tx: &mut Transaction<'_, Any>,
    inst: &Instance,
    host: &str,
) -> Result<(), DbError> {
    // The row is already marked deleted here: read the record without that filter.
    let row = sqlx::query("SELECT old_flavor FROM instances WHERE uuid = $1")
        .bind(&inst.uuid)
        .fetch_optional(&mut **tx)
        .await?;
    let old: Option<String> = match &row {
        Some(r) => get(r, "old_flavor")?,
        None => None,
    };
    let old: Option<OldFlavor> = old.and_then(|json| serde_json::from_str(&json).ok());
    if let Some(old) = old {
        let holder = old.source_host.as_deref().unwrap_or(host);
        nodes::release_in(tx, holder, old.claim()).await?;
        let extra = excess((old.vcpus, old.memory_mb), (inst.vcpus, inst.memory_mb));
        quotas::unreserve(tx, &inst.project_id, &extra).await?;
    }
    Ok(())
}

/// Moves an instance row to `host` (inside a resize transaction, after [`write`]).
async fn set_host_in(tx: &mut Transaction<'_, Any>, uuid: &str, host: &str) -> Result<(), DbError> {
    sqlx::query("UPDATE instances SET host = $1 WHERE uuid = $2")
        .bind(host)
        .bind(uuid)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl Db {
    /// Starts a resize of an instance in `resize_prep` to `flavor` on its own host: claims
    /// the new flavor there and reserves the quota it needs beyond the old one, in one
    /// transaction. A host without room is a `Conflict`; quota, `QuotaExceeded`.
    pub async fn start_resize(
        &self,
        uuid: &str,
        flavor: &Flavor,
        limits: &DefaultLimits,
    ) -> Result<Instance, DbError> {
        let mut tx = self.pool.begin().await?;
        let (inst, pending) = locked_row(&mut tx, uuid).await?;
        if pending.is_some() || inst.task_state != Some(TaskState::ResizePrep) {
            return Err(DbError::Conflict(format!(
                "instance {uuid} is not waiting to be resized"
            )));
        }
        let host = inst
            .host
            .clone()
            .ok_or_else(|| DbError::Conflict(format!("instance {uuid} has no host")))?;
        let new = Claim {
            vcpus: flavor.vcpus as i64,
            memory_mb: flavor.memory_mb as i64,
            disk_gb: flavor.root_gb as i64,
        };
        if !nodes::claim_in(&mut tx, &host, new).await? {
            return Err(DbError::Conflict(format!(
                "No valid host was found: {host} has no room for flavor {}",
                flavor.name
            )));
        }
        let need = excess((new.vcpus, new.memory_mb), (inst.vcpus, inst.memory_mb));
        quotas::reserve(&mut tx, &inst.project_id, &need, limits).await?;
        let old = OldFlavor {
            flavor_id: inst.flavor_id.clone(),
            vcpus: inst.vcpus,
            memory_mb: inst.memory_mb,
            disk_gb: inst.disk_gb,
            vm_state: inst.vm_state,
            source_host: None,
            transfer_image: None,
        };
        write(
            &mut tx,
            &inst,
            (&flavor.id, new.vcpus, new.memory_mb, new.disk_gb),
            Some(&old),
            inst.vm_state,
            Some(TaskState::ResizeMigrating),
        )
        .await?;
        tx.commit().await?;
        self.get_instance(uuid).await
    }

    /// The flavor a resized instance had before, if a resize waits for confirm or revert.
    pub async fn pending_resize(&self, uuid: &str) -> Result<Option<OldFlavor>, DbError> {
        let mut tx = self.pool.begin().await?;
        let (_, old) = locked_row(&mut tx, uuid).await?;
        tx.commit().await?;
        Ok(old)
    }

    /// Confirms a resize or migration: frees the old flavor's claim (on the source host of
    /// a migration) and any quota it held beyond the new one; the instance returns to the
    /// state it had before. Returns it and what it was before.
    pub async fn confirm_resize(&self, uuid: &str) -> Result<(Instance, OldFlavor), DbError> {
        let mut tx = self.pool.begin().await?;
        let (inst, old) = locked_row(&mut tx, uuid).await?;
        let old = match old {
            Some(o) if inst.vm_state == VmState::Resized && inst.task_state.is_none() => o,
            _ => {
                return Err(DbError::Conflict(format!(
                    "instance {uuid} has no resize to confirm"
                )))
            }
        };
        if let Some(host) = old.source_host.as_ref().or(inst.host.as_ref()) {
            nodes::release_in(&mut tx, host, old.claim()).await?;
        }
        let extra = excess((old.vcpus, old.memory_mb), (inst.vcpus, inst.memory_mb));
        quotas::unreserve(&mut tx, &inst.project_id, &extra).await?;
        write(
            &mut tx,
            &inst,
            (&inst.flavor_id, inst.vcpus, inst.memory_mb, inst.disk_gb),
            None,
            old.vm_state,
            None,
        )
        .await?;
        crate::moves::set_status_in(&mut tx, uuid, crate::moves::status::CONFIRMED).await?;
        tx.commit().await?;
        Ok((self.get_instance(uuid).await?, old))
    }

    /// Reverts a resize or migration: frees the new flavor's claim (on the destination of
    /// a migration, and the instance goes back to its source) and the quota it held beyond
    /// the old one, and puts the old flavor back, in `resize_reverting` until the guest runs
    /// with it again. Returns the instance, what it was before, and the host it left (a
    /// migration's destination, whose guest is to be destroyed).
    pub async fn revert_resize(
        &self,
        uuid: &str,
    ) -> Result<(Instance, OldFlavor, Option<String>), DbError> {
        let mut tx = self.pool.begin().await?;
        let (inst, old) = locked_row(&mut tx, uuid).await?;
        let old = match old {
            Some(o) if inst.vm_state == VmState::Resized && inst.task_state.is_none() => o,
            _ => {
                return Err(DbError::Conflict(format!(
                    "instance {uuid} has no resize to revert"
                )))
            }
        };
        if let Some(host) = &inst.host {
            nodes::release_in(&mut tx, host, claim_of(&inst)).await?;
        }
        let extra = excess((inst.vcpus, inst.memory_mb), (old.vcpus, old.memory_mb));
        quotas::unreserve(&mut tx, &inst.project_id, &extra).await?;
        write(
            &mut tx,
            &inst,
            (&old.flavor_id, old.vcpus, old.memory_mb, old.disk_gb),
            None,
            VmState::Resized,
            Some(TaskState::ResizeReverting),
        )
        .await?;
        let left = match &old.source_host {
            Some(source) => {
                set_host_in(&mut tx, uuid, source).await?;
                inst.host.clone()
            }
            None => None,
        };
        crate::moves::set_status_in(&mut tx, uuid, crate::moves::status::REVERTED).await?;
        tx.commit().await?;
        Ok((self.get_instance(uuid).await?, old, left))
    }

    /// Starts a cold migration of an instance in `resize_prep` on `source` to `dest`: claims
    /// its flavor on `dest` (the source keeps its claim until confirm or revert), moves the
    /// instance there in `resize_migrating`, and records the migration, in one transaction.
    /// `Ok(false)` when `dest` has no room.
    pub async fn start_migration(
        &self,
        uuid: &str,
        source: &str,
        dest: &str,
        transfer_image: &str,
        by: Option<&crate::moves::Requester>,
    ) -> Result<bool, DbError> {
        let mut tx = self.pool.begin().await?;
        let (inst, pending) = locked_row(&mut tx, uuid).await?;
        if pending.is_some()
            || inst.task_state != Some(TaskState::ResizePrep)
            || inst.host.as_deref() != Some(source)
        {
            return Err(DbError::Conflict(format!(
                "instance {uuid} is not waiting to be migrated from {source}"
            )));
        }
        if !nodes::claim_in(&mut tx, dest, claim_of(&inst)).await? {
            return Ok(false);
        }
        let old = OldFlavor {
            flavor_id: inst.flavor_id.clone(),
            vcpus: inst.vcpus,
            memory_mb: inst.memory_mb,
            disk_gb: inst.disk_gb,
            vm_state: inst.vm_state,
            source_host: Some(source.to_string()),
            transfer_image: Some(transfer_image.to_string()),
        };
        write(
            &mut tx,
            &inst,
            (&inst.flavor_id, inst.vcpus, inst.memory_mb, inst.disk_gb),
            Some(&old),
            inst.vm_state,
            Some(TaskState::ResizeMigrating),
        )
        .await?;
        set_host_in(&mut tx, uuid, dest).await?;
        crate::moves::record_in(
            &mut tx,
            uuid,
            crate::moves::MIGRATION,
            source,
            dest,
            &inst.flavor_id,
            by,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Undoes a migration whose disk never reached the destination: the destination's claim
    /// is freed and the instance is back on its source as it was, its task cleared.
    pub async fn abort_migration(&self, uuid: &str, source: &str) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        let (inst, old) = locked_row(&mut tx, uuid).await?;
        let old = match old {
            Some(o)
                if o.source_host.as_deref() == Some(source)
                    && inst.task_state == Some(TaskState::ResizeMigrating) =>
            {
                o
            }
            _ => return Ok(()), // nothing (left) to undo
        };
        if let Some(dest) = &inst.host {
            nodes::release_in(&mut tx, dest, claim_of(&inst)).await?;
        }
        write(
            &mut tx,
            &inst,
            (&old.flavor_id, old.vcpus, old.memory_mb, old.disk_gb),
            None,
            old.vm_state,
            None,
        )
        .await?;
        set_host_in(&mut tx, uuid, source).await?;
        crate::moves::set_status_in(&mut tx, uuid, crate::moves::status::ERROR).await?;
        tx.commit().await.map_err(DbError::from)
    }
}
