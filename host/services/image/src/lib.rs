//! The image service: a built-in subset of Glance v2.
//!
//! Images belong to a project and are `public` (everyone), `community` (everyone who asks
//! for them), `shared` (the owner and the projects it added as members) or `private`
//! (the owner). Data goes to a file store with MD5, SHA-256 and SHA-512 computed on the
//! way in; compute hosts get the location and SHA-256 to download and verify. The
//! Glance-compatible API is the `openstack-image` dialect plugin (`plugins/image-api`);
//! image data streams through the host (`metacloud_api::image_data`).

pub mod store;

use displaydoc::Display;
use metacloud_db::images::{Image, Member};
use metacloud_db::{Db, DbError};
use metacloud_objects::{Context, ImageRef};
use std::collections::BTreeMap;
use std::path::PathBuf;
use thiserror::Error;

/// Why an image operation failed; each maps to one HTTP status.
#[derive(Debug, Display, Error)]
pub enum ImageError {
    /// {0}
    BadRequest(String),
    /// {0}
    Forbidden(String),
    /// {0}
    NotFound(String),
    /// {0}
    Conflict(String),
    /// {0}
    Internal(String),
}

impl ImageError {
    pub fn status(&self) -> u16 {
        match self {
            ImageError::BadRequest(_) => 400,
            ImageError::Forbidden(_) => 403,
            ImageError::NotFound(_) => 404,
            ImageError::Conflict(_) => 409,
            ImageError::Internal(_) => 500,
        }
    }
}

impl From<DbError> for ImageError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound(m) => ImageError::NotFound(m),
            DbError::Conflict(m) => ImageError::Conflict(m),
            e => ImageError::Internal(e.to_string()),
        }
    }
}

pub const VISIBILITIES: [&str; 4] = ["public", "community", "shared", "private"];
pub const DISK_FORMATS: [&str; 11] = [
    "ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop",
];
pub const CONTAINER_FORMATS: [&str; 8] = [
    "ami",
    "ari",
    "aki",
    "bare",
    "ovf",
    "ova",
    "docker",
    "compressed",
];

/// The image service.
#[derive(Clone)]
pub struct Images {
    db: Db,
    store: PathBuf,
}

fn not_found(id: &str) -> ImageError {
    ImageError::NotFound(format!("No image found with ID {id}"))
}

impl Images {
    pub fn new(db: Db, store: PathBuf) -> Images {
        Images { db, store }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn store(&self) -> &std::path::Path {
        &self.store
    }

    /// Whether `who` may see `img` (`membership`: its membership status, if any).
    pub fn visible(who: &Context, img: &Image, membership: Option<&str>) -> bool {
        who.is_admin()
            || img.owner.as_deref() == Some(who.project_id.as_str())
            || matches!(img.visibility.as_str(), "public" | "community")
            || (img.visibility == "shared" && membership.is_some())
    }

    /// An image `who` may see (another project's private one is "not found").
    pub async fn get(&self, who: &Context, id: &str) -> Result<Image, ImageError> {
        let img = self.db.get_image(id).await.map_err(|e| match e {
            DbError::NotFound(_) => not_found(id),
            e => e.into(),
        })?;
        let membership = self.db.get_image_member(id, &who.project_id).await.ok();
        if Images::visible(who, &img, membership.as_ref().map(|m| m.status.as_str())) {
            Ok(img)
        } else {
            Err(not_found(id))
        }
    }

    /// An image `who` may change: its owner's (or any, for admins).
    async fn owned(&self, who: &Context, id: &str) -> Result<Image, ImageError> {
        let img = self.get(who, id).await?;
        if !who.can_write() {
            return Err(ImageError::Forbidden(
                "You are not authorized to complete this action.".into(),
            ));
        }
        if !who.is_admin() && img.owner.as_deref() != Some(who.project_id.as_str()) {
            return Err(ImageError::Forbidden(format!(
                "You are not permitted to modify image {id}."
            )));
        }
        Ok(img)
    }

    fn check(who: &Context, img: &Image) -> Result<(), ImageError> {
        if !VISIBILITIES.contains(&img.visibility.as_str()) {
            return Err(ImageError::BadRequest(format!(
                "Invalid visibility value: {}",
                img.visibility
            )));
        }
        if img.visibility == "public" && !who.is_admin() {
            return Err(ImageError::Forbidden(
                "You are not authorized to complete publicize_image action.".into(),
            ));
        }
        if let Some(f) = &img.disk_format {
            if !DISK_FORMATS.contains(&f.as_str()) {
                return Err(ImageError::BadRequest(format!(
                    "Invalid disk format '{f}' for image."
                )));
            }
        }
        if let Some(f) = &img.container_format {
            if !CONTAINER_FORMATS.contains(&f.as_str()) {
                return Err(ImageError::BadRequest(format!(
                    "Invalid container format '{f}' for image."
                )));
            }
        }
        if img.name.len() > 255 {
            return Err(ImageError::BadRequest("Image name too long".into()));
        }
        if img.min_disk < 0 || img.min_ram < 0 {
            return Err(ImageError::BadRequest(
                "min_disk and min_ram must be >= 0".into(),
            ));
        }
        Ok(())
    }

    /// Records a new image owned by `who`'s project.
    pub async fn create(&self, who: &Context, mut img: Image) -> Result<Image, ImageError> {
        if !who.can_write() {
            return Err(ImageError::Forbidden(
                "You are not authorized to complete add_image action.".into(),
            ));
        }
        if img.id.is_empty() {
            img.id = uuid::Uuid::new_v4().to_string();
        } else if uuid::Uuid::parse_str(&img.id).is_err() {
            return Err(ImageError::BadRequest(format!(
                "Invalid image id {}",
                img.id
            )));
        }
        img.owner = Some(who.project_id.clone());
        img.status = "queued".into();
        if img.visibility.is_empty() {
            img.visibility = "shared".into();
        }
        Images::check(who, &img)?;
        let img = self.db.create_image(&img).await?;
        tracing::info!(image = %img.id, name = %img.name, visibility = %img.visibility, "image created");
        Ok(img)
    }

    /// Images `who` sees, newest first. Without a visibility filter: its own, public ones
    /// and shared ones it accepted (Glance's default listing); admins see all.
    pub async fn list(
        &self,
        who: &Context,
        visibility: Option<&str>,
        member_status: Option<&str>,
    ) -> Result<Vec<Image>, ImageError> {
        let memberships = self.db.image_memberships(&who.project_id).await?;
        let want_status = member_status.unwrap_or("accepted");
        let mine = |img: &Image| img.owner.as_deref() == Some(who.project_id.as_str());
        Ok(self
            .db
            .list_images()
            .await?
            .into_iter()
            .filter(|img| {
                let member = memberships.get(&img.id).map(String::as_str);
                match visibility {
                    Some("all") => Images::visible(who, img, member),
                    Some(v) if v != img.visibility => false,
                    Some("community") => true,
                    Some("shared") => {
                        mine(img)
                            || who.is_admin()
                            || member.is_some_and(|m| want_status == "all" || m == want_status)
                    }
                    Some(_) => Images::visible(who, img, member),
                    None => {
                        who.is_admin()
                            || mine(img)
                            || img.visibility == "public"
                            || (img.visibility == "shared"
                                && member.is_some_and(|m| want_status == "all" || m == want_status))
                    }
                }
            })
            .collect())
    }

    /// Applies changes the caller asked for (already parsed from a JSON patch).
    pub async fn update(
        &self,
        who: &Context,
        id: &str,
        change: impl FnOnce(&mut Image) -> Result<(), ImageError>,
    ) -> Result<Image, ImageError> {
        let mut img = self.owned(who, id).await?;
        change(&mut img)?;
        Images::check(who, &img)?;
        Ok(self.db.update_image(&img).await?)
    }

    /// Deletes an image and its data (refused while protected).
    pub async fn delete(&self, who: &Context, id: &str) -> Result<(), ImageError> {
        let img = self.owned(who, id).await?;
        if img.protected {
            return Err(ImageError::Forbidden(format!(
                "Image {id} is protected and cannot be deleted."
            )));
        }
        self.db.delete_image(id).await?;
        if let Some(loc) = &img.location {
            let _ = tokio::fs::remove_file(loc).await;
        }
        tracing::info!(image = %id, "image deleted");
        Ok(())
    }

    /// Stores the data of a `queued` image.
    pub async fn upload<S, E>(&self, who: &Context, id: &str, body: S) -> Result<Image, ImageError>
    where
        S: futures::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let img = self.owned(who, id).await?;
        if img.status != "queued" {
            return Err(ImageError::Conflict(format!(
                "Image status transition from {} to saving is not allowed",
                img.status
            )));
        }
        let written = store::write(&self.store, id, body)
            .await
            .map_err(ImageError::Internal)?;
        let location = written.path.display().to_string();
        match self
            .db
            .set_image_data(
                id,
                written.size,
                &written.md5,
                &written.sha256,
                &written.sha512,
                &location,
            )
            .await
        {
            Ok(img) => {
                tracing::info!(image = %id, size = written.size, "image data stored");
                Ok(img)
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&written.path).await;
                Err(e.into())
            }
        }
    }

    /// Shares an image with another project.
    pub async fn add_member(
        &self,
        who: &Context,
        id: &str,
        member: &str,
    ) -> Result<Member, ImageError> {
        let img = self.owned(who, id).await?;
        if img.visibility != "shared" {
            return Err(ImageError::Forbidden(format!(
                "Image members can only be added to shared images; image {id} is {}",
                img.visibility
            )));
        }
        Ok(self.db.add_image_member(id, member).await?)
    }

    pub async fn members(&self, who: &Context, id: &str) -> Result<Vec<Member>, ImageError> {
        let img = self.get(who, id).await?;
        let all = self.db.list_image_members(id).await?;
        if who.is_admin() || img.owner.as_deref() == Some(who.project_id.as_str()) {
            Ok(all)
        } else {
            // A member sees only its own membership.
            Ok(all
                .into_iter()
                .filter(|m| m.member == who.project_id)
                .collect())
        }
    }

    /// A member accepts or rejects; the owner may only look.
    pub async fn set_member_status(
        &self,
        who: &Context,
        id: &str,
        member: &str,
        status: &str,
    ) -> Result<Member, ImageError> {
        if !["pending", "accepted", "rejected"].contains(&status) {
            return Err(ImageError::BadRequest(format!("Provided object does not match schema 'member': '{status}' is not one of ['pending', 'accepted', 'rejected']")));
        }
        self.get(who, id).await?;
        if member != who.project_id && !who.is_admin() {
            return Err(ImageError::Forbidden(
                "Only the member itself can change its status".into(),
            ));
        }
        Ok(self.db.set_image_member_status(id, member, status).await?)
    }

    pub async fn remove_member(
        &self,
        who: &Context,
        id: &str,
        member: &str,
    ) -> Result<(), ImageError> {
        self.owned(who, id).await?;
        Ok(self.db.remove_image_member(id, member).await?)
    }

    /// The image to boot from, as the compute host needs it: visible to the project,
    /// with data.
    pub async fn for_boot(&self, who: &Context, id: &str) -> Result<ImageRef, ImageError> {
        let img = self.get(who, id).await?;
        if img.status != "active" {
            return Err(ImageError::BadRequest(format!("Image {id} is not active.")));
        }
        let mut properties: BTreeMap<String, String> = img.properties.clone();
        properties.retain(|k, _| !k.is_empty());
        Ok(ImageRef {
            id: img.id,
            name: img.name,
            location: img.location,
            disk_format: img.disk_format.unwrap_or_else(|| "raw".into()),
            sha256: img.sha256,
            properties,
            min_ram_mb: img.min_ram.max(0) as u64,
            min_disk_gb: img.min_disk.max(0) as u64,
        })
    }
}
