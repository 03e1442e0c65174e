//! Image records and image members. The bytes live in the image service's store.

use crate::{get, now_ms, Db, DbError};
use serde::Serialize;
use sqlx::any::AnyRow;
use std::collections::BTreeMap;

/// An image record.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Image {
    pub id: String,
    pub name: String,
    /// The owning project.
    pub owner: Option<String>,
    /// `public`, `community`, `shared` or `private`.
    pub visibility: String,
    /// `queued` until data is uploaded, then `active`.
    pub status: String,
    pub disk_format: Option<String>,
    pub container_format: Option<String>,
    pub size: Option<i64>,
    /// MD5 of the data (Glance's `checksum`).
    pub checksum: Option<String>,
    pub sha256: Option<String>,
    /// SHA-512 of the data (Glance's `os_hash_value`).
    pub os_hash_value: Option<String>,
    /// Where the data is (a path in the store).
    pub location: Option<String>,
    pub min_disk: i64,
    pub min_ram: i64,
    pub protected: bool,
    pub tags: Vec<String>,
    /// Everything else a client set (`hw_architecture`, `os_distro`, …).
    pub properties: BTreeMap<String, String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A project an image is shared with.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Member {
    pub image_id: String,
    pub member: String,
    /// `pending`, `accepted` or `rejected`.
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, name, owner, visibility, status, disk_format, container_format, size, \
    checksum, sha256, os_hash_value, location, min_disk, min_ram, protected, tags, properties, \
    created_at, updated_at";

fn image_from_row(r: &AnyRow) -> Result<Image, DbError> {
    let tags: String = get(r, "tags")?;
    let props: String = get(r, "properties")?;
    Ok(Image {
        id: get(r, "id")?,
        name: get(r, "name")?,
        owner: get(r, "owner")?,
        visibility: get(r, "visibility")?,
        status: get(r, "status")?,
        disk_format: get(r, "disk_format")?,
        container_format: get(r, "container_format")?,
        size: get(r, "size")?,
        checksum: get(r, "checksum")?,
        sha256: get(r, "sha256")?,
        os_hash_value: get(r, "os_hash_value")?,
        location: get(r, "location")?,
        min_disk: get(r, "min_disk")?,
        min_ram: get(r, "min_ram")?,
        protected: get::<i64>(r, "protected")? != 0,
        tags: serde_json::from_str(&tags)
            .map_err(|e| DbError::Corrupt(format!("image tags: {e}")))?,
        properties: serde_json::from_str(&props)
            .map_err(|e| DbError::Corrupt(format!("image properties: {e}")))?,
        created_at: get(r, "created_at")?,
        updated_at: get(r, "updated_at")?,
    })
}

fn member_from_row(r: &AnyRow) -> Result<Member, DbError> {
    Ok(Member {
        image_id: get(r, "image_id")?,
        member: get(r, "member")?,
        status: get(r, "status")?,
        created_at: get(r, "created_at")?,
        updated_at: get(r, "updated_at")?,
    })
}

fn json<T: Serialize>(v: &T) -> Result<String, DbError> {
    serde_json::to_string(v).map_err(|e| DbError::Corrupt(e.to_string()))
}

impl Db {
    /// Records a new image (`queued`, no data yet).
    pub async fn create_image(&self, img: &Image) -> Result<Image, DbError> {
        let now = now_ms();
        sqlx::query(&format!(
            "INSERT INTO images ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
             $11, $12, $13, $14, $15, $16, $17, $18, $19)"
        ))
        .bind(&img.id)
        .bind(&img.name)
        .bind(&img.owner)
        .bind(&img.visibility)
        .bind(&img.status)
        .bind(&img.disk_format)
        .bind(&img.container_format)
        .bind(img.size)
        .bind(&img.checksum)
        .bind(&img.sha256)
        .bind(&img.os_hash_value)
        .bind(&img.location)
        .bind(img.min_disk)
        .bind(img.min_ram)
        .bind(img.protected as i64)
        .bind(json(&img.tags)?)
        .bind(json(&img.properties)?)
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                DbError::Conflict(format!("Image with identifier {} already exists!", img.id))
            }
            _ => e.into(),
        })?;
        self.get_image(&img.id).await
    }

    pub async fn get_image(&self, id: &str) -> Result<Image, DbError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM images WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| DbError::NotFound(format!("image {id}")))?;
        image_from_row(&row)
    }

    /// Every image, newest first (visibility is the service's business).
    pub async fn list_images(&self) -> Result<Vec<Image>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM images ORDER BY created_at DESC, id DESC"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(image_from_row).collect()
    }

    /// Writes the mutable fields of `img` (name, visibility, formats, limits, protection,
    /// tags, properties).
    pub async fn update_image(&self, img: &Image) -> Result<Image, DbError> {
        let done = sqlx::query(
            "UPDATE images SET name = $1, visibility = $2, disk_format = $3, \
             container_format = $4, min_disk = $5, min_ram = $6, protected = $7, tags = $8, \
             properties = $9, updated_at = $10 WHERE id = $11",
        )
        .bind(&img.name)
        .bind(&img.visibility)
        .bind(&img.disk_format)
        .bind(&img.container_format)
        .bind(img.min_disk)
        .bind(img.min_ram)
        .bind(img.protected as i64)
        .bind(json(&img.tags)?)
        .bind(json(&img.properties)?)
        .bind(now_ms())
        .bind(&img.id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::NotFound(format!("image {}", img.id)));
        }
        self.get_image(&img.id).await
    }

    /// Records uploaded data and makes the image `active` — only from `queued`, so two
    /// uploads cannot both win.
    #[allow(clippy::too_many_arguments)]
    pub async fn set_image_data(
        &self,
        id: &str,
        size: i64,
        checksum: &str,
        sha256: &str,
        sha512: &str,
        location: &str,
    ) -> Result<Image, DbError> {
        let done = sqlx::query(
            "UPDATE images SET status = 'active', size = $1, checksum = $2, sha256 = $3, \
             os_hash_value = $4, location = $5, updated_at = $6 \
             WHERE id = $7 AND status = 'queued'",
        )
        .bind(size)
        .bind(checksum)
        .bind(sha256)
        .bind(sha512)
        .bind(location)
        .bind(now_ms())
        .bind(id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::Conflict(format!(
                "Image status transition from active to saving is not allowed (image {id})"
            )));
        }
        self.get_image(id).await
    }

    pub async fn delete_image(&self, id: &str) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM image_members WHERE image_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM images WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::NotFound(format!("image {id}")));
        }
        tx.commit().await?;
        Ok(())
    }

    /// Shares an image with a project (`pending` until it accepts).
    pub async fn add_image_member(&self, image: &str, member: &str) -> Result<Member, DbError> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO image_members (image_id, member, status, created_at, updated_at) \
             VALUES ($1, $2, 'pending', $3, $3)",
        )
        .bind(image)
        .bind(member)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => DbError::Conflict(format!(
                "Member {member} already has membership of image {image}"
            )),
            _ => e.into(),
        })?;
        self.get_image_member(image, member).await
    }

    pub async fn get_image_member(&self, image: &str, member: &str) -> Result<Member, DbError> {
        let row = sqlx::query(
            "SELECT image_id, member, status, created_at, updated_at FROM image_members \
             WHERE image_id = $1 AND member = $2",
        )
        .bind(image)
        .bind(member)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| DbError::NotFound(format!("member {member} of image {image}")))?;
        member_from_row(&row)
    }

    pub async fn list_image_members(&self, image: &str) -> Result<Vec<Member>, DbError> {
        let rows = sqlx::query(
            "SELECT image_id, member, status, created_at, updated_at FROM image_members \
             WHERE image_id = $1 ORDER BY created_at, member",
        )
        .bind(image)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(member_from_row).collect()
    }

    /// Every membership of `project`: image id → status.
    pub async fn image_memberships(
        &self,
        project: &str,
    ) -> Result<BTreeMap<String, String>, DbError> {
        let rows = sqlx::query("SELECT image_id, status FROM image_members WHERE member = $1")
            .bind(project)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((get(r, "image_id")?, get(r, "status")?)))
            .collect()
    }

    pub async fn set_image_member_status(
        &self,
        image: &str,
        member: &str,
        status: &str,
    ) -> Result<Member, DbError> {
        let done = sqlx::query(
            "UPDATE image_members SET status = $1, updated_at = $2 \
             WHERE image_id = $3 AND member = $4",
        )
        .bind(status)
        .bind(now_ms())
        .bind(image)
        .bind(member)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::NotFound(format!(
                "member {member} of image {image}"
            )));
        }
        self.get_image_member(image, member).await
    }

    pub async fn remove_image_member(&self, image: &str, member: &str) -> Result<(), DbError> {
        let done = sqlx::query("DELETE FROM image_members WHERE image_id = $1 AND member = $2")
            .bind(image)
            .bind(member)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::NotFound(format!(
                "member {member} of image {image}"
            )));
        }
        Ok(())
    }
}
