//! Server groups: affinity and anti-affinity between a project's instances.

use crate::quotas::{self, DefaultLimits, SERVER_GROUPS, SERVER_GROUP_MEMBERS};
use crate::{get, now_ms, Db, DbError};
use metacloud_objects::{group_policy, GroupSpec};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};
use std::collections::BTreeMap;

/// A server group row with its members.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ServerGroup {
    pub uuid: String,
    pub name: String,
    pub project_id: String,
    pub user_id: String,
    pub policy: String,
    /// Anti-affinity rule; `None` means Nova's default of 1.
    pub max_server_per_host: Option<u32>,
    /// Instances in the group (deleted ones leave it).
    pub members: Vec<String>,
    pub created_at: i64,
}

/// What a new group is made of.
#[derive(Debug, Clone)]
pub struct NewGroup {
    pub name: String,
    pub project_id: String,
    pub user_id: String,
    pub policy: String,
    pub max_server_per_host: Option<u32>,
}

fn group_from_row(r: &AnyRow) -> Result<ServerGroup, DbError> {
    Ok(ServerGroup {
        uuid: get(r, "uuid")?,
        name: get(r, "name")?,
        project_id: get(r, "project_id")?,
        user_id: get(r, "user_id")?,
        policy: get(r, "policy")?,
        max_server_per_host: get::<Option<i64>>(r, "max_server_per_host")?.map(|v| v as u32),
        members: Vec::new(),
        created_at: get(r, "created_at")?,
    })
}

const COLUMNS: &str = "uuid, name, project_id, user_id, policy, max_server_per_host, created_at";

impl Db {
    /// Creates a group, counting it against the project's `server_groups` quota.
    pub async fn create_server_group(
        &self,
        new: &NewGroup,
        limits: &DefaultLimits,
    ) -> Result<ServerGroup, DbError> {
        if !group_policy::ALL.contains(&new.policy.as_str()) {
            return Err(DbError::Conflict(format!(
                "unknown server group policy {:?}; one of {}",
                new.policy,
                group_policy::ALL.join(", ")
            )));
        }
        let uuid = uuid::Uuid::new_v4().to_string();
        let mut tx = self.pool.begin().await?;
        quotas::reserve(&mut tx, &new.project_id, &[(SERVER_GROUPS, 1)], limits).await?;
        sqlx::query(
            "INSERT INTO server_groups (uuid, name, project_id, user_id, policy, \
             max_server_per_host, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&uuid)
        .bind(&new.name)
        .bind(&new.project_id)
        .bind(&new.user_id)
        .bind(&new.policy)
        .bind(new.max_server_per_host.map(|v| v as i64))
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.get_server_group(&uuid).await
    }

    /// A live group with its members.
    pub async fn get_server_group(&self, uuid: &str) -> Result<ServerGroup, DbError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM server_groups WHERE uuid = $1 AND deleted = 0"
        ))
        .bind(uuid)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| DbError::NotFound(format!("server group {uuid}")))?;
        let mut group = group_from_row(&row)?;
        let rows = sqlx::query(
            "SELECT instance_uuid FROM server_group_members WHERE group_uuid = $1 \
             ORDER BY instance_uuid",
        )
        .bind(uuid)
        .fetch_all(&self.pool)
        .await?;
        group.members = rows
            .iter()
            .map(|r| get(r, "instance_uuid"))
            .collect::<Result<_, _>>()?;
        Ok(group)
    }

    /// Live groups of a project (every project's with `None`), oldest first.
    pub async fn list_server_groups(
        &self,
        project: Option<&str>,
    ) -> Result<Vec<ServerGroup>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM server_groups WHERE deleted = 0 \
             AND ($1 = '' OR project_id = $1) ORDER BY created_at, uuid"
        ))
        .bind(project.unwrap_or(""))
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let uuid: String = get(r, "uuid")?;
            out.push(self.get_server_group(&uuid).await?);
        }
        Ok(out)
    }

    /// Deletes a group and gives its quota back; its instances stay, outside any group.
    pub async fn delete_server_group(&self, uuid: &str) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        let row =
            sqlx::query("SELECT project_id FROM server_groups WHERE uuid = $1 AND deleted = 0")
                .bind(uuid)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| DbError::NotFound(format!("server group {uuid}")))?;
        let project: String = get(&row, "project_id")?;
        sqlx::query("UPDATE server_groups SET deleted = 1 WHERE uuid = $1")
            .bind(uuid)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM server_group_members WHERE group_uuid = $1")
            .bind(uuid)
            .execute(&mut *tx)
            .await?;
        quotas::unreserve(&mut tx, &project, &[(SERVER_GROUPS, 1)]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The group an instance is in, if any.
    pub async fn group_of_instance(&self, instance: &str) -> Result<Option<String>, DbError> {
        let row =
            sqlx::query("SELECT group_uuid FROM server_group_members WHERE instance_uuid = $1")
                .bind(instance)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| get(&r, "group_uuid")).transpose()
    }

    /// The server groups of each of `instances` that is in one (one query per 500).
    pub async fn groups_of(
        &self,
        instances: &[String],
    ) -> Result<BTreeMap<String, Vec<String>>, DbError> {
        self.pairs_in(
            |marks| {
                format!(
                    "SELECT instance_uuid AS k, group_uuid AS v FROM server_group_members \
                     WHERE instance_uuid IN ({marks}) ORDER BY group_uuid"
                )
            },
            instances,
        )
        .await
    }

    /// The group as the scheduler needs it: policy, rule, and the hosts of the members
    /// that have one.
    pub async fn group_spec(&self, uuid: &str) -> Result<GroupSpec, DbError> {
        let group = self.get_server_group(uuid).await?;
        let rows = sqlx::query(
            "SELECT i.host FROM server_group_members m JOIN instances i \
             ON i.uuid = m.instance_uuid \
             WHERE m.group_uuid = $1 AND i.deleted = 0 AND i.host IS NOT NULL",
        )
        .bind(uuid)
        .fetch_all(&self.pool)
        .await?;
        let mut hosts: BTreeMap<String, u32> = BTreeMap::new();
        for r in &rows {
            *hosts.entry(get(r, "host")?).or_default() += 1;
        }
        Ok(GroupSpec {
            uuid: group.uuid,
            policy: group.policy,
            max_server_per_host: group.max_server_per_host.unwrap_or(1),
            hosts,
        })
    }
}

/// Adds `instances` to `group` inside `tx` (the instance-creating transaction), checking
/// the group belongs to `project` and stays within the members quota.
pub(crate) async fn join_in(
    tx: &mut Transaction<'_, Any>,
    group: &str,
    project: &str,
    instances: &[String],
    limits: &DefaultLimits,
) -> Result<(), DbError> {
    let row = sqlx::query("SELECT project_id FROM server_groups WHERE uuid = $1 AND deleted = 0")
        .bind(group)
        .fetch_optional(&mut **tx)
        .await?;
    match row {
        Some(r) if get::<String>(&r, "project_id")? == project => {}
        _ => return Err(DbError::NotFound(format!("server group {group}"))),
    }
    let limit: i64 =
        match sqlx::query("SELECT hard_limit FROM quotas WHERE project_id = $1 AND resource = $2")
            .bind(project)
            .bind(SERVER_GROUP_MEMBERS)
            .fetch_optional(&mut **tx)
            .await?
        {
            Some(r) => get(&r, "hard_limit")?,
            None => limits.0.get(SERVER_GROUP_MEMBERS).copied().unwrap_or(-1),
        };
    let used: i64 = get(
        &sqlx::query("SELECT COUNT(*) AS n FROM server_group_members WHERE group_uuid = $1")
            .bind(group)
            .fetch_one(&mut **tx)
            .await?,
        "n",
    )?;
    let requested = instances.len() as i64;
    if limit >= 0 && used + requested > limit {
        return Err(DbError::QuotaExceeded {
            resource: SERVER_GROUP_MEMBERS.into(),
            requested,
            used,
            limit,
        });
    }
    for uuid in instances {
        sqlx::query("INSERT INTO server_group_members (group_uuid, instance_uuid) VALUES ($1, $2)")
            .bind(group)
            .bind(uuid)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Takes a deleted instance out of its group inside `tx`.
pub(crate) async fn leave_in(tx: &mut Transaction<'_, Any>, instance: &str) -> Result<(), DbError> {
    sqlx::query("DELETE FROM server_group_members WHERE instance_uuid = $1")
        .bind(instance)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
