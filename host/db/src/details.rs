//! What later compute microversions add to a server: its description (2.19) and tags
//! (2.26).

use crate::{get, now_ms, Db, DbError};
use sqlx::Any;

/// Tags a server may have (Nova's `MAX_TAG_COUNT`).
pub const MAX_TAGS: usize = 50;

/// Stores `tags` (deduplicated) for a new instance, inside its create's transaction.
pub(crate) async fn insert_tags(
    tx: &mut sqlx::Transaction<'_, Any>,
    uuid: &str,
    tags: &[String],
) -> Result<(), DbError> {
    let unique = unique(tags)?;
    for t in &unique {
        sqlx::query("INSERT INTO instance_tags (instance_uuid, tag) VALUES ($1, $2)")
            .bind(uuid)
            .bind(t)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// `tags` sorted and without repeats, refused past [`MAX_TAGS`].
fn unique(tags: &[String]) -> Result<Vec<String>, DbError> {
    let mut t = tags.to_vec();
    t.sort();
    t.dedup();
    if t.len() > MAX_TAGS {
        return Err(DbError::TooManyTags { limit: MAX_TAGS });
    }
    Ok(t)
}

/// Fails unless `uuid` is a live instance (inside `tx`, so a delete cannot slip between).
async fn live(tx: &mut sqlx::Transaction<'_, Any>, uuid: &str) -> Result<(), DbError> {
    let found = sqlx::query("SELECT uuid FROM instances WHERE uuid = $1 AND deleted = 0")
        .bind(uuid)
        .fetch_optional(&mut **tx)
        .await?;
    match found {
        Some(_) => Ok(()),
        None => Err(DbError::NotFound(format!("instance {uuid}"))),
    }
}

/// Moves the instance's `updated_at` forward (a tag change is a change of the server).
async fn touch(tx: &mut sqlx::Transaction<'_, Any>, uuid: &str) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE instances SET \
         updated_at = CASE WHEN $1 > updated_at THEN $1 ELSE updated_at + 1 END WHERE uuid = $2",
    )
    .bind(now_ms())
    .bind(uuid)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Db {
    /// Sets (`None`: clears) a live instance's description.
    pub async fn set_instance_description(
        &self,
        uuid: &str,
        description: Option<&str>,
    ) -> Result<crate::instances::Instance, DbError> {
        self.set_columns(uuid, &[("description", description)])
            .await
    }

    /// The tags of an instance, sorted.
    pub async fn instance_tags(&self, uuid: &str) -> Result<Vec<String>, DbError> {
        let rows =
            sqlx::query("SELECT tag FROM instance_tags WHERE instance_uuid = $1 ORDER BY tag")
                .bind(uuid)
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(|r| get(r, "tag")).collect()
    }

    /// The tags of each of `uuids` (those without tags left out), sorted.
    pub async fn tags_of(
        &self,
        uuids: &[String],
    ) -> Result<std::collections::BTreeMap<String, Vec<String>>, DbError> {
        self.pairs_in(
            |marks| {
                format!(
                    "SELECT instance_uuid AS k, tag AS v FROM instance_tags \
                     WHERE instance_uuid IN ({marks}) ORDER BY instance_uuid, tag"
                )
            },
            uuids,
        )
        .await
    }

    /// Replaces a live instance's tags; returns them sorted.
    pub async fn set_instance_tags(
        &self,
        uuid: &str,
        tags: &[String],
    ) -> Result<Vec<String>, DbError> {
        let unique = unique(tags)?;
        let mut tx = self.pool.begin().await?;
        live(&mut tx, uuid).await?;
        sqlx::query("DELETE FROM instance_tags WHERE instance_uuid = $1")
            .bind(uuid)
            .execute(&mut *tx)
            .await?;
        insert_tags(&mut tx, uuid, &unique).await?;
        touch(&mut tx, uuid).await?;
        tx.commit().await?;
        Ok(unique)
    }

    /// Adds one tag to a live instance; `true` when it is new. Past [`MAX_TAGS`]:
    /// [`DbError::TooManyTags`].
    pub async fn add_instance_tag(&self, uuid: &str, tag: &str) -> Result<bool, DbError> {
        let mut tx = self.pool.begin().await?;
        live(&mut tx, uuid).await?;
        let rows = sqlx::query("SELECT tag FROM instance_tags WHERE instance_uuid = $1")
            .bind(uuid)
            .fetch_all(&mut *tx)
            .await?;
        let mut have = Vec::with_capacity(rows.len());
        for r in &rows {
            have.push(get::<String>(r, "tag")?);
        }
        if have.iter().any(|t| t == tag) {
            return Ok(false);
        }
        if have.len() >= MAX_TAGS {
            return Err(DbError::TooManyTags { limit: MAX_TAGS });
        }
        let added = sqlx::query(
            "INSERT INTO instance_tags (instance_uuid, tag) VALUES ($1, $2) \
             ON CONFLICT (instance_uuid, tag) DO NOTHING",
        )
        .bind(uuid)
        .bind(tag)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        touch(&mut tx, uuid).await?;
        tx.commit().await?;
        Ok(added)
    }

    /// Removes one tag of a live instance (`NotFound` when it has no such tag).
    pub async fn remove_instance_tag(&self, uuid: &str, tag: &str) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        live(&mut tx, uuid).await?;
        let gone = sqlx::query("DELETE FROM instance_tags WHERE instance_uuid = $1 AND tag = $2")
            .bind(uuid)
            .bind(tag)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if gone == 0 {
            return Err(DbError::NotFound(format!("Tag {tag} of instance {uuid}")));
        }
        touch(&mut tx, uuid).await?;
        tx.commit().await?;
        Ok(())
    }
}
