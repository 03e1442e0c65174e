//! Quotas per project: limits, usage, and atomic reservation.

use crate::{get, Db, DbError};
use sqlx::{Any, AnyConnection, Transaction};
use std::collections::BTreeMap;

/// Resources counted against a project's quota.
pub const INSTANCES: &str = "instances";
pub const CORES: &str = "cores";
pub const RAM: &str = "ram";
pub const SERVER_GROUPS: &str = "server_groups";
/// Members per server group (checked when instances join, not kept as usage).
pub const SERVER_GROUP_MEMBERS: &str = "server_group_members";

/// Limits that apply where a project has no limit of its own (`-1` is unlimited).
#[derive(Debug, Clone, PartialEq)]
pub struct DefaultLimits(pub BTreeMap<String, i64>);

impl Default for DefaultLimits {
    /// Nova's defaults.
    fn default() -> Self {
        DefaultLimits(
            [
                (INSTANCES, 10),
                (CORES, 20),
                (RAM, 51200),
                (SERVER_GROUPS, 10),
                (SERVER_GROUP_MEMBERS, 10),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        )
    }
}

impl Db {
    /// Sets a project's own limit for `resource` (`-1` unlimited).
    pub async fn set_quota(
        &self,
        project: &str,
        resource: &str,
        limit: i64,
    ) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO quotas (project_id, resource, hard_limit) VALUES ($1, $2, $3) \
             ON CONFLICT (project_id, resource) DO UPDATE SET hard_limit = excluded.hard_limit",
        )
        .bind(project)
        .bind(resource)
        .bind(limit)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets a project's own limits (the defaults apply again).
    pub async fn delete_quotas(&self, project: &str) -> Result<(), DbError> {
        sqlx::query("DELETE FROM quotas WHERE project_id = $1")
            .bind(project)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A project's limit for `resource`: its own, else the `default` class's, else the
    /// configured default.
    pub async fn quota_limit(
        &self,
        project: &str,
        resource: &str,
        defaults: &DefaultLimits,
    ) -> Result<i64, DbError> {
        let mut conn = self.pool.acquire().await?;
        limit_in(&mut conn, project, resource, defaults).await
    }

    /// The default limit of `resource` (the `default` class's, else the configured one).
    pub async fn default_limit(
        &self,
        resource: &str,
        defaults: &DefaultLimits,
    ) -> Result<i64, DbError> {
        let mut conn = self.pool.acquire().await?;
        Ok(match class_limit(&mut conn, resource).await? {
            Some(l) => l,
            None => defaults.0.get(resource).copied().unwrap_or(-1),
        })
    }

    /// Sets the default limit of `resource` for every project without its own.
    pub async fn set_default_limit(&self, resource: &str, limit: i64) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO quota_classes (class_name, resource, hard_limit) VALUES ('default', $1, $2) \
             ON CONFLICT (class_name, resource) DO UPDATE SET hard_limit = excluded.hard_limit",
        )
        .bind(resource)
        .bind(limit)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Usage per resource of a project.
    pub async fn quota_usage(&self, project: &str) -> Result<BTreeMap<String, i64>, DbError> {
        let rows = sqlx::query("SELECT resource, in_use FROM quota_usages WHERE project_id = $1")
            .bind(project)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((get(r, "resource")?, get(r, "in_use")?)))
            .collect()
    }
}

async fn class_limit(conn: &mut AnyConnection, resource: &str) -> Result<Option<i64>, DbError> {
    let row = sqlx::query(
        "SELECT hard_limit FROM quota_classes WHERE class_name = 'default' AND resource = $1",
    )
    .bind(resource)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| get(&r, "hard_limit")).transpose()
}

/// A project's limit: its own, else the `default` class's, else the configured default.
async fn limit_in(
    conn: &mut AnyConnection,
    project: &str,
    resource: &str,
    defaults: &DefaultLimits,
) -> Result<i64, DbError> {
    let row = sqlx::query("SELECT hard_limit FROM quotas WHERE project_id = $1 AND resource = $2")
        .bind(project)
        .bind(resource)
        .fetch_optional(&mut *conn)
        .await?;
    if let Some(r) = row {
        return get(&r, "hard_limit");
    }
    Ok(match class_limit(conn, resource).await? {
        Some(l) => l,
        None => defaults.0.get(resource).copied().unwrap_or(-1),
    })
}

/// Adds `deltas` to a project's usage inside `tx`, failing with `QuotaExceeded` (and leaving
/// the caller to roll back) if any resource would pass its limit.
pub(crate) async fn reserve(
    tx: &mut Transaction<'_, Any>,
    project: &str,
    deltas: &[(&str, i64)],
    defaults: &DefaultLimits,
) -> Result<(), DbError> {
    for (resource, delta) in deltas {
        let limit = limit_in(tx, project, resource, defaults).await?;
        reserve_limited(tx, project, resource, *delta, limit).await?;
    }
    Ok(())
}

/// Adds `delta` to a project's usage of `resource` inside `tx` against a `limit` the caller
/// gives (`-1`: no limit), as one conditional `UPDATE` (atomic on both backends); fails with
/// `QuotaExceeded`, leaving the caller to roll back.
pub(crate) async fn reserve_limited(
    tx: &mut Transaction<'_, Any>,
    project: &str,
    resource: &str,
    delta: i64,
    limit: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO quota_usages (project_id, resource, in_use) VALUES ($1, $2, 0) \
         ON CONFLICT (project_id, resource) DO NOTHING",
    )
    .bind(project)
    .bind(resource)
    .execute(&mut **tx)
    .await?;
    let done = sqlx::query(
        "UPDATE quota_usages SET in_use = in_use + $1 \
         WHERE project_id = $2 AND resource = $3 AND ($4 < 0 OR in_use + $1 <= $4)",
    )
    .bind(delta)
    .bind(project)
    .bind(resource)
    .bind(limit)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() == 0 {
        let used: i64 =
            sqlx::query("SELECT in_use FROM quota_usages WHERE project_id = $1 AND resource = $2")
                .bind(project)
                .bind(resource)
                .fetch_one(&mut **tx)
                .await
                .and_then(|r| sqlx::Row::try_get(&r, "in_use"))?;
        return Err(DbError::QuotaExceeded {
            resource: resource.to_string(),
            requested: delta,
            used,
            limit,
        });
    }
    Ok(())
}

/// Gives usage back (never below zero).
pub(crate) async fn unreserve(
    tx: &mut Transaction<'_, Any>,
    project: &str,
    deltas: &[(&str, i64)],
) -> Result<(), DbError> {
    for (resource, delta) in deltas {
        sqlx::query(
            "UPDATE quota_usages SET in_use = CASE WHEN in_use > $1 THEN in_use - $1 ELSE 0 END \
             WHERE project_id = $2 AND resource = $3",
        )
        .bind(*delta)
        .bind(project)
        .bind(*resource)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
