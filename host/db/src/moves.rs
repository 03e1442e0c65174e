//! Instances moved between hosts, and the record of every move (Nova's `migrations` table;
//! the schema's own migrations are the files under `migrations/`). Evacuation: an instance
//! whose host is down is rebuilt from its image on another host. Its claim moves with it in
//! one transaction, so an instance holds a claim exactly on the host it is on; the record
//! stays until the source host, back up, has destroyed the old guest.

use crate::nodes;
use crate::rows::{claim_of, instance_from_row, Instance, COLUMNS};
use crate::{get, now_ms, Db, DbError};
pub use metacloud_objects::Requester;
use metacloud_objects::TaskState;
use serde::Serialize;

/// Evacuations and migrations, as their `migration_type` column names them.
pub const EVACUATION: &str = "evacuation";
pub const MIGRATION: &str = "migration";

/// Statuses of a migration record.
pub mod status {
    /// Claimed on the destination; the rebuild there is under way.
    pub const ACCEPTED: &str = "accepted";
    /// The instance runs on the destination.
    pub const DONE: &str = "done";
    /// The rebuild on the destination failed.
    pub const FAILED: &str = "failed";
    /// The source host destroyed what was left of the guest.
    pub const COMPLETED: &str = "completed";
    /// A cold migration under way (disk travelling, or waiting for confirm or revert).
    pub const MIGRATING: &str = "migrating";
    pub const CONFIRMED: &str = "confirmed";
    pub const REVERTED: &str = "reverted";
    /// A cold migration undone before the destination had the guest.
    pub const ERROR: &str = "error";
}

/// Records a migration of `uuid` in a transaction.
pub(crate) async fn record_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    uuid: &str,
    kind: &str,
    source: &str,
    dest: &str,
    flavor_id: &str,
    by: Option<&Requester>,
) -> Result<String, DbError> {
    let id = uuid::Uuid::new_v4().to_string();
    let status = if kind == EVACUATION {
        status::ACCEPTED
    } else {
        status::MIGRATING
    };
    sqlx::query(
        "INSERT INTO migrations (uuid, instance_uuid, migration_type, source_host, \
         dest_host, status, flavor_id, created_at, updated_at, user_id, project_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10)",
    )
    .bind(&id)
    .bind(uuid)
    .bind(kind)
    .bind(source)
    .bind(dest)
    .bind(status)
    .bind(flavor_id)
    .bind(now_ms())
    .bind(by.map(|b| b.user_id.as_str()))
    .bind(by.map(|b| b.project_id.as_str()))
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// Ends the instance's open cold migration with `to` (no-op without one: a resize on one
/// host has no record).
pub(crate) async fn set_status_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    uuid: &str,
    to: &str,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE migrations SET status = $1, updated_at = $2 \
         WHERE instance_uuid = $3 AND migration_type = $4 AND status = $5",
    )
    .bind(to)
    .bind(now_ms())
    .bind(uuid)
    .bind(MIGRATION)
    .bind(status::MIGRATING)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One migration record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Migration {
    pub id: i64,
    pub uuid: String,
    pub instance_uuid: String,
    pub migration_type: String,
    pub source_host: String,
    pub dest_host: String,
    pub status: String,
    pub flavor_id: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// Who asked for it (2.80); none for moves recorded before that was kept.
    pub user_id: Option<String>,
    pub project_id: Option<String>,
}

/// What [`Db::evacuate_instance`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Evacuation {
    /// Moved: the instance (now on the destination) and its migration record's id.
    Moved(Box<Instance>, String),
    /// The destination has no room for the instance's flavor.
    NoRoom,
    /// The instance is not (or no longer) on the source waiting to be evacuated.
    NotEvacuating,
}

const MIGRATION_COLUMNS: &str = "id, uuid, instance_uuid, migration_type, source_host, \
    dest_host, status, flavor_id, created_at, updated_at, user_id, project_id";

fn migration_from_row(r: &sqlx::any::AnyRow) -> Result<Migration, DbError> {
    Ok(Migration {
        id: get(r, "id")?,
        uuid: get(r, "uuid")?,
        instance_uuid: get(r, "instance_uuid")?,
        migration_type: get(r, "migration_type")?,
        source_host: get(r, "source_host")?,
        dest_host: get(r, "dest_host")?,
        status: get(r, "status")?,
        flavor_id: get(r, "flavor_id")?,
        created_at: get(r, "created_at")?,
        updated_at: get(r, "updated_at")?,
        user_id: get(r, "user_id")?,
        project_id: get(r, "project_id")?,
    })
}

impl Db {
    /// Moves an instance marked for evacuation (`rebuilding` on `source`) to `dest`: claims
    /// its flavor there, releases it on the source, sets the host and records the
    /// evacuation, in one transaction.
    pub async fn evacuate_instance(
        &self,
        uuid: &str,
        source: &str,
        dest: &str,
        by: Option<&Requester>,
    ) -> Result<Evacuation, DbError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM instances WHERE uuid = $1 AND deleted = 0 AND host = $2 \
             AND task_state = 'rebuilding'"
        ))
        .bind(uuid)
        .bind(source)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(Evacuation::NotEvacuating);
        };
        let mut inst = instance_from_row(&row)?;
        if !nodes::claim_in(&mut tx, dest, claim_of(&inst)).await? {
            return Ok(Evacuation::NoRoom);
        }
        nodes::release_in(&mut tx, source, claim_of(&inst)).await?;
        let done = sqlx::query(
            "UPDATE instances SET host = $1, \
             updated_at = CASE WHEN $2 > updated_at THEN $2 ELSE updated_at + 1 END \
             WHERE uuid = $3 AND deleted = 0 AND host = $4 AND updated_at = $5",
        )
        .bind(dest)
        .bind(now)
        .bind(uuid)
        .bind(source)
        .bind(inst.updated_at)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(Evacuation::NotEvacuating);
        }
        let id = record_in(&mut tx, uuid, EVACUATION, source, dest, &inst.flavor_id, by).await?;
        tx.commit().await?;
        inst.host = Some(dest.to_string());
        Ok(Evacuation::Moved(Box::new(inst), id))
    }

    /// Sets the status of the instance's open evacuation to `dest` (`done` or `failed`).
    pub async fn finish_evacuation(
        &self,
        instance_uuid: &str,
        dest: &str,
        to: &str,
    ) -> Result<(), DbError> {
        sqlx::query(
            "UPDATE migrations SET status = $1, updated_at = $2 \
             WHERE instance_uuid = $3 AND dest_host = $4 AND migration_type = $5 AND status = $6",
        )
        .bind(to)
        .bind(now_ms())
        .bind(instance_uuid)
        .bind(dest)
        .bind(EVACUATION)
        .bind(status::ACCEPTED)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Instances evacuated away from `host` whose old guest there is not cleaned up yet.
    pub async fn evacuated_from(&self, host: &str) -> Result<Vec<String>, DbError> {
        let rows = sqlx::query(
            "SELECT DISTINCT instance_uuid FROM migrations \
             WHERE source_host = $1 AND migration_type = $2 AND status <> $3",
        )
        .bind(host)
        .bind(EVACUATION)
        .bind(status::COMPLETED)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| get(r, "instance_uuid")).collect()
    }

    /// The source host destroyed the old guest of an evacuated instance.
    pub async fn evacuation_cleaned(&self, instance_uuid: &str, host: &str) -> Result<(), DbError> {
        sqlx::query(
            "UPDATE migrations SET status = $1, updated_at = $2 \
             WHERE instance_uuid = $3 AND source_host = $4 AND migration_type = $5",
        )
        .bind(status::COMPLETED)
        .bind(now_ms())
        .bind(instance_uuid)
        .bind(host)
        .bind(EVACUATION)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Migration records, newest first; only one instance's with `instance`.
    pub async fn list_migrations(&self, instance: Option<&str>) -> Result<Vec<Migration>, DbError> {
        let rows = match instance {
            Some(uuid) => {
                sqlx::query(&format!(
                    "SELECT {MIGRATION_COLUMNS} FROM migrations WHERE instance_uuid = $1 \
                     ORDER BY id DESC"
                ))
                .bind(uuid)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(&format!(
                    "SELECT {MIGRATION_COLUMNS} FROM migrations ORDER BY id DESC"
                ))
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(migration_from_row).collect()
    }

    /// Ends an evacuation that found no destination: the instance stays on its source with
    /// its task cleared.
    pub async fn abandon_evacuation(&self, uuid: &str, source: &str) -> Result<(), DbError> {
        let change = crate::rows::StateChange {
            task_state: Some(None),
            expected_task_state: Some(vec![Some(TaskState::Rebuilding)]),
            expected_host: Some(source.to_string()),
            ..Default::default()
        };
        match self.update_instance(uuid, &change).await {
            Ok(_) | Err(DbError::Conflict(_)) | Err(DbError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
