//! SSH keypairs, per user.

use crate::{get, now_ms, Db, DbError};
use serde::Serialize;
use sqlx::any::AnyRow;

/// A stored public key.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Keypair {
    pub user_id: String,
    pub name: String,
    pub key_type: String,
    pub fingerprint: String,
    pub public_key: String,
    pub created_at: i64,
}

fn from_row(r: &AnyRow) -> Result<Keypair, DbError> {
    Ok(Keypair {
        user_id: get(r, "user_id")?,
        name: get(r, "name")?,
        key_type: get(r, "key_type")?,
        fingerprint: get(r, "fingerprint")?,
        public_key: get(r, "public_key")?,
        created_at: get(r, "created_at")?,
    })
}

const COLUMNS: &str = "user_id, name, key_type, fingerprint, public_key, created_at";

impl Db {
    /// Stores a keypair, at most `limit` per user (`-1`: no limit); names are unique per user.
    pub async fn create_keypair(&self, k: &Keypair, limit: i64) -> Result<Keypair, DbError> {
        let mut tx = self.pool.begin().await?;
        let used: i64 = get(
            &sqlx::query("SELECT COUNT(*) AS n FROM keypairs WHERE user_id = $1")
                .bind(&k.user_id)
                .fetch_one(&mut *tx)
                .await?,
            "n",
        )?;
        if limit >= 0 && used + 1 > limit {
            return Err(DbError::QuotaExceeded {
                resource: "key_pairs".into(),
                requested: 1,
                used,
                limit,
            });
        }
        sqlx::query(
            "INSERT INTO keypairs (user_id, name, key_type, fingerprint, public_key, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&k.user_id)
        .bind(&k.name)
        .bind(&k.key_type)
        .bind(&k.fingerprint)
        .bind(&k.public_key)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                DbError::Conflict(format!("Key pair '{}' already exists.", k.name))
            }
            _ => e.into(),
        })?;
        tx.commit().await?;
        self.get_keypair(&k.user_id, &k.name).await
    }

    pub async fn get_keypair(&self, user: &str, name: &str) -> Result<Keypair, DbError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM keypairs WHERE user_id = $1 AND name = $2"
        ))
        .bind(user)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| DbError::NotFound(format!("Keypair {name} not found for user {user}")))?;
        from_row(&row)
    }

    pub async fn list_keypairs(&self, user: &str) -> Result<Vec<Keypair>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM keypairs WHERE user_id = $1 ORDER BY name"
        ))
        .bind(user)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    pub async fn delete_keypair(&self, user: &str, name: &str) -> Result<(), DbError> {
        let done = sqlx::query("DELETE FROM keypairs WHERE user_id = $1 AND name = $2")
            .bind(user)
            .bind(name)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::NotFound(format!(
                "Keypair {name} not found for user {user}"
            )));
        }
        Ok(())
    }
}
