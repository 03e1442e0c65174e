//! Host aggregates: named sets of hosts with metadata. The metadata key
//! `availability_zone` makes the aggregate an availability zone, as in Nova.

use crate::{get, now_ms, Db, DbError};
use metacloud_objects::HostAggregate;
use serde::Serialize;
use sqlx::any::AnyRow;
use std::collections::{BTreeMap, HashMap};

/// The metadata key that names an aggregate's availability zone.
pub const AZ_KEY: &str = "availability_zone";

/// An aggregate with its hosts and metadata.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Aggregate {
    pub id: i64,
    pub uuid: String,
    pub name: String,
    pub hosts: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Aggregate {
    /// The availability zone it defines, if any.
    pub fn availability_zone(&self) -> Option<&str> {
        self.metadata.get(AZ_KEY).map(String::as_str)
    }
}

fn aggregate_from_row(r: &AnyRow) -> Result<Aggregate, DbError> {
    Ok(Aggregate {
        id: get(r, "id")?,
        uuid: get(r, "uuid")?,
        name: get(r, "name")?,
        hosts: Vec::new(),
        metadata: BTreeMap::new(),
        created_at: get(r, "created_at")?,
        updated_at: get(r, "updated_at")?,
    })
}

impl Db {
    /// Creates an aggregate, optionally as an availability zone. Names are unique.
    pub async fn create_aggregate(
        &self,
        name: &str,
        availability_zone: Option<&str>,
    ) -> Result<Aggregate, DbError> {
        let now = now_ms();
        let uuid = uuid::Uuid::new_v4().to_string();
        let mut tx = self.pool.begin().await?;
        let taken = sqlx::query("SELECT id FROM aggregates WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_some() {
            return Err(DbError::Conflict(format!(
                "Aggregate {name} already exists."
            )));
        }
        sqlx::query(
            "INSERT INTO aggregates (uuid, name, created_at, updated_at) VALUES ($1, $2, $3, $3)",
        )
        .bind(&uuid)
        .bind(name)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if let Some(az) = availability_zone {
            let id: i64 = get(
                &sqlx::query("SELECT id FROM aggregates WHERE uuid = $1")
                    .bind(&uuid)
                    .fetch_one(&mut *tx)
                    .await?,
                "id",
            )?;
            sqlx::query(
                "INSERT INTO aggregate_metadata (aggregate_id, key, value) VALUES ($1, $2, $3)",
            )
            .bind(id)
            .bind(AZ_KEY)
            .bind(az)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.get_aggregate(&uuid).await
    }

    /// An aggregate by id or uuid.
    pub async fn get_aggregate(&self, id_or_uuid: &str) -> Result<Aggregate, DbError> {
        let id = id_or_uuid.parse::<i64>().unwrap_or(-1);
        let row = sqlx::query(
            "SELECT id, uuid, name, created_at, updated_at FROM aggregates \
             WHERE id = $1 OR uuid = $2",
        )
        .bind(id)
        .bind(id_or_uuid)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| DbError::NotFound(format!("Aggregate {id_or_uuid}")))?;
        let mut agg = aggregate_from_row(&row)?;
        self.fill_aggregate(&mut agg).await?;
        Ok(agg)
    }

    async fn fill_aggregate(&self, agg: &mut Aggregate) -> Result<(), DbError> {
        let hosts =
            sqlx::query("SELECT host FROM aggregate_hosts WHERE aggregate_id = $1 ORDER BY host")
                .bind(agg.id)
                .fetch_all(&self.pool)
                .await?;
        agg.hosts = hosts
            .iter()
            .map(|r| get(r, "host"))
            .collect::<Result<_, _>>()?;
        let meta = sqlx::query("SELECT key, value FROM aggregate_metadata WHERE aggregate_id = $1")
            .bind(agg.id)
            .fetch_all(&self.pool)
            .await?;
        for r in &meta {
            agg.metadata.insert(get(r, "key")?, get(r, "value")?);
        }
        Ok(())
    }

    /// Every aggregate, by id.
    pub async fn list_aggregates(&self) -> Result<Vec<Aggregate>, DbError> {
        let rows = sqlx::query(
            "SELECT id, uuid, name, created_at, updated_at FROM aggregates ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let mut agg = aggregate_from_row(r)?;
            self.fill_aggregate(&mut agg).await?;
            out.push(agg);
        }
        Ok(out)
    }

    /// Deletes an aggregate that has no hosts left (Nova refuses otherwise).
    pub async fn delete_aggregate(&self, id_or_uuid: &str) -> Result<(), DbError> {
        let agg = self.get_aggregate(id_or_uuid).await?;
        if !agg.hosts.is_empty() {
            return Err(DbError::Conflict(format!(
                "Cannot remove aggregate {}: it still has hosts {}",
                agg.id,
                agg.hosts.join(", ")
            )));
        }
        let mut tx = self.pool.begin().await?;
        for table in ["aggregate_metadata", "aggregate_hosts"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE aggregate_id = $1"))
                .bind(agg.id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM aggregates WHERE id = $1")
            .bind(agg.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds a compute host. Nova's rules: the host must exist, must not be in the
    /// aggregate yet, and may not end up in two different availability zones.
    pub async fn add_aggregate_host(
        &self,
        id_or_uuid: &str,
        host: &str,
    ) -> Result<Aggregate, DbError> {
        let agg = self.get_aggregate(id_or_uuid).await?;
        let known = sqlx::query("SELECT host FROM compute_nodes WHERE host = $1")
            .bind(host)
            .fetch_optional(&self.pool)
            .await?;
        if known.is_none() {
            return Err(DbError::NotFound(format!(
                "Compute host {host} could not be found."
            )));
        }
        if agg.hosts.iter().any(|h| h == host) {
            return Err(DbError::Conflict(format!(
                "Aggregate {} already has host {host}.",
                agg.id
            )));
        }
        if let Some(az) = agg.availability_zone() {
            for other in self.list_aggregates().await? {
                if other.id != agg.id && other.hosts.iter().any(|h| h == host) {
                    if let Some(other_az) = other.availability_zone() {
                        if other_az != az {
                            return Err(DbError::Conflict(format!(
                                "Cannot add host {host} to aggregate {}: host is in \
                                 availability zone {other_az} (aggregate {})",
                                agg.id, other.id
                            )));
                        }
                    }
                }
            }
        }
        sqlx::query("INSERT INTO aggregate_hosts (aggregate_id, host) VALUES ($1, $2)")
            .bind(agg.id)
            .bind(host)
            .execute(&self.pool)
            .await?;
        self.touch_aggregate(agg.id).await?;
        self.get_aggregate(id_or_uuid).await
    }

    /// Removes a host.
    pub async fn remove_aggregate_host(
        &self,
        id_or_uuid: &str,
        host: &str,
    ) -> Result<Aggregate, DbError> {
        let agg = self.get_aggregate(id_or_uuid).await?;
        let done = sqlx::query("DELETE FROM aggregate_hosts WHERE aggregate_id = $1 AND host = $2")
            .bind(agg.id)
            .bind(host)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::NotFound(format!(
                "Host {host} in aggregate {}",
                agg.id
            )));
        }
        self.touch_aggregate(agg.id).await?;
        self.get_aggregate(id_or_uuid).await
    }

    /// Sets metadata keys; a `None` value removes the key.
    pub async fn set_aggregate_metadata(
        &self,
        id_or_uuid: &str,
        changes: &BTreeMap<String, Option<String>>,
    ) -> Result<Aggregate, DbError> {
        let agg = self.get_aggregate(id_or_uuid).await?;
        let mut tx = self.pool.begin().await?;
        for (key, value) in changes {
            sqlx::query("DELETE FROM aggregate_metadata WHERE aggregate_id = $1 AND key = $2")
                .bind(agg.id)
                .bind(key)
                .execute(&mut *tx)
                .await?;
            if let Some(value) = value {
                sqlx::query(
                    "INSERT INTO aggregate_metadata (aggregate_id, key, value) VALUES ($1, $2, $3)",
                )
                .bind(agg.id)
                .bind(key)
                .bind(value)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        self.touch_aggregate(agg.id).await?;
        self.get_aggregate(id_or_uuid).await
    }

    /// Renames an aggregate (names stay unique).
    pub async fn rename_aggregate(&self, id_or_uuid: &str, name: &str) -> Result<(), DbError> {
        let agg = self.get_aggregate(id_or_uuid).await?;
        let taken = sqlx::query("SELECT id FROM aggregates WHERE name = $1 AND id <> $2")
            .bind(name)
            .bind(agg.id)
            .fetch_optional(&self.pool)
            .await?;
        if taken.is_some() {
            return Err(DbError::Conflict(format!(
                "Aggregate {name} already exists."
            )));
        }
        sqlx::query("UPDATE aggregates SET name = $1, updated_at = $2 WHERE id = $3")
            .bind(name)
            .bind(now_ms())
            .bind(agg.id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn touch_aggregate(&self, id: i64) -> Result<(), DbError> {
        sqlx::query("UPDATE aggregates SET updated_at = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Host -> the aggregates it is in, with their metadata (for the scheduler).
    pub async fn host_aggregates(&self) -> Result<HashMap<String, Vec<HostAggregate>>, DbError> {
        let rows = sqlx::query(
            "SELECT a.id, a.name, h.host FROM aggregates a \
             JOIN aggregate_hosts h ON h.aggregate_id = a.id ORDER BY a.id",
        )
        .fetch_all(&self.pool)
        .await?;
        if rows.is_empty() {
            return Ok(HashMap::new());
        }
        let meta = sqlx::query("SELECT aggregate_id, key, value FROM aggregate_metadata")
            .fetch_all(&self.pool)
            .await?;
        let mut metadata: HashMap<i64, BTreeMap<String, String>> = HashMap::new();
        for r in &meta {
            metadata
                .entry(get(r, "aggregate_id")?)
                .or_default()
                .insert(get(r, "key")?, get(r, "value")?);
        }
        let mut out: HashMap<String, Vec<HostAggregate>> = HashMap::new();
        for r in &rows {
            let id: i64 = get(r, "id")?;
            out.entry(get(r, "host")?).or_default().push(HostAggregate {
                name: get(r, "name")?,
                metadata: metadata.get(&id).cloned().unwrap_or_default(),
            });
        }
        Ok(out)
    }
}
