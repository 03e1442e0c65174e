//! Flavors (instance types) and their extra specs.

use crate::{get, now_ms, Db, DbError};
use metacloud_objects::Flavor;
use sqlx::any::AnyRow;
use std::collections::BTreeMap;

fn flavor_from_row(r: &AnyRow) -> Result<Flavor, DbError> {
    Ok(Flavor {
        id: get(r, "id")?,
        name: get(r, "name")?,
        vcpus: get::<i64>(r, "vcpus")? as u32,
        memory_mb: get::<i64>(r, "memory_mb")? as u64,
        root_gb: get::<i64>(r, "root_gb")? as u64,
        ephemeral_gb: get::<i64>(r, "ephemeral_gb")? as u64,
        swap_mb: get::<i64>(r, "swap_mb")? as u64,
        extra_specs: Default::default(),
        is_public: get::<i64>(r, "is_public")? != 0,
    })
}

const COLUMNS: &str = "id, name, vcpus, memory_mb, root_gb, ephemeral_gb, swap_mb, is_public";

impl Db {
    /// A flavor by id, or else by name, with its extra specs.
    pub async fn get_flavor(&self, id_or_name: &str) -> Result<Flavor, DbError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM flavors WHERE id = $1 OR name = $1 \
             ORDER BY CASE WHEN id = $1 THEN 0 ELSE 1 END LIMIT 1"
        ))
        .bind(id_or_name)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| DbError::NotFound(format!("flavor {id_or_name}")))?;
        let mut flavor = flavor_from_row(&row)?;
        let specs = sqlx::query("SELECT key, value FROM flavor_extra_specs WHERE flavor_id = $1")
            .bind(&flavor.id)
            .fetch_all(&self.pool)
            .await?;
        for s in &specs {
            flavor.extra_specs.insert(get(s, "key")?, get(s, "value")?);
        }
        Ok(flavor)
    }

    /// Every enabled flavor, without extra specs.
    pub async fn list_flavors(&self) -> Result<Vec<Flavor>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM flavors WHERE disabled = 0 ORDER BY memory_mb, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(flavor_from_row).collect()
    }

    /// Adds or overwrites extra specs of a live flavor; returns the flavor.
    pub async fn set_flavor_extra_specs(
        &self,
        id: &str,
        specs: &BTreeMap<String, String>,
    ) -> Result<Flavor, DbError> {
        let flavor = self.get_live_flavor(id).await?;
        let mut tx = self.pool.begin().await?;
        for (k, v) in specs {
            sqlx::query(
                "INSERT INTO flavor_extra_specs (flavor_id, key, value) VALUES ($1, $2, $3) \
                 ON CONFLICT (flavor_id, key) DO UPDATE SET value = excluded.value",
            )
            .bind(&flavor.id)
            .bind(k)
            .bind(v)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.get_flavor(&flavor.id).await
    }

    /// Removes one extra spec of a live flavor.
    pub async fn delete_flavor_extra_spec(&self, id: &str, key: &str) -> Result<(), DbError> {
        let flavor = self.get_live_flavor(id).await?;
        let done = sqlx::query("DELETE FROM flavor_extra_specs WHERE flavor_id = $1 AND key = $2")
            .bind(&flavor.id)
            .bind(key)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::NotFound(format!(
                "Flavor {id} has no extra specs with key {key}"
            )));
        }
        Ok(())
    }

    /// Projects given access to a flavor.
    pub async fn flavor_access(&self, id: &str) -> Result<Vec<String>, DbError> {
        let rows = sqlx::query(
            "SELECT project_id FROM flavor_projects WHERE flavor_id = $1 ORDER BY project_id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| get(r, "project_id")).collect()
    }

    /// Gives `project` access to a private flavor (a conflict if it has it already).
    pub async fn add_flavor_access(&self, id: &str, project: &str) -> Result<(), DbError> {
        let result =
            sqlx::query("INSERT INTO flavor_projects (flavor_id, project_id) VALUES ($1, $2)")
                .bind(id)
                .bind(project)
                .execute(&self.pool)
                .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => Err(match e.as_database_error() {
                Some(d) if d.is_unique_violation() => DbError::Conflict(format!(
                    "Flavor access already exists for flavor {id} and project {project} combination."
                )),
                _ => e.into(),
            }),
        }
    }

    /// Takes `project`'s access to a flavor away (not found if it had none).
    pub async fn remove_flavor_access(&self, id: &str, project: &str) -> Result<(), DbError> {
        let done =
            sqlx::query("DELETE FROM flavor_projects WHERE flavor_id = $1 AND project_id = $2")
                .bind(id)
                .bind(project)
                .execute(&self.pool)
                .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::NotFound(format!(
                "Flavor access not found for {id} / {project} combination."
            )));
        }
        Ok(())
    }

    /// An enabled flavor by id or name (deleted ones are not found).
    pub async fn get_live_flavor(&self, id_or_name: &str) -> Result<Flavor, DbError> {
        let live = sqlx::query(
            "SELECT id FROM flavors WHERE (id = $1 OR name = $1) AND disabled = 0 \
             ORDER BY CASE WHEN id = $1 THEN 0 ELSE 1 END LIMIT 1",
        )
        .bind(id_or_name)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| DbError::NotFound(format!("Flavor {id_or_name}")))?;
        self.get_flavor(&get::<String>(&live, "id")?).await
    }

    /// Deletes a flavor: it disappears from listings and lookups, while instances built
    /// from it keep their reference (its name is freed for reuse).
    /// Sets (`None`: clears) a flavor's description.
    pub async fn set_flavor_description(
        &self,
        id: &str,
        description: Option<&str>,
    ) -> Result<(), DbError> {
        let done = sqlx::query("UPDATE flavors SET description = $1 WHERE id = $2")
            .bind(description)
            .bind(id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::NotFound(format!("Flavor {id}")));
        }
        Ok(())
    }

    /// The descriptions of the flavors that have one, by flavor id.
    pub async fn flavor_descriptions(&self) -> Result<BTreeMap<String, String>, DbError> {
        let rows = sqlx::query("SELECT id, description FROM flavors WHERE description IS NOT NULL")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((get(r, "id")?, get(r, "description")?)))
            .collect()
    }

    pub async fn delete_flavor(&self, id: &str) -> Result<(), DbError> {
        let done = sqlx::query(
            "UPDATE flavors SET disabled = 1, name = $1 WHERE id = $2 AND disabled = 0",
        )
        .bind(format!("deleted-{id}-{}", now_ms()))
        .bind(id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::NotFound(format!("Flavor {id}")));
        }
        Ok(())
    }

    /// Creates a flavor with its extra specs in one transaction.
    pub async fn create_flavor(&self, f: &Flavor) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        let result = sqlx::query(
            "INSERT INTO flavors (id, name, vcpus, memory_mb, root_gb, ephemeral_gb, swap_mb, \
             is_public, disabled, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $9, 0, $8)",
        )
        .bind(&f.id)
        .bind(&f.name)
        .bind(f.vcpus as i64)
        .bind(f.memory_mb as i64)
        .bind(f.root_gb as i64)
        .bind(f.ephemeral_gb as i64)
        .bind(f.swap_mb as i64)
        .bind(now_ms())
        .bind(f.is_public as i64)
        .execute(&mut *tx)
        .await;
        if let Err(e) = result {
            return Err(match e.as_database_error() {
                Some(d) if d.is_unique_violation() => {
                    DbError::Conflict(format!("flavor {} or {} already exists", f.id, f.name))
                }
                _ => e.into(),
            });
        }
        for (k, v) in &f.extra_specs {
            sqlx::query(
                "INSERT INTO flavor_extra_specs (flavor_id, key, value) VALUES ($1, $2, $3)",
            )
            .bind(&f.id)
            .bind(k)
            .bind(v)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
