//! The image service as a dialect's `images` import: WIT records in and out, the caller
//! checked against the one the host established.

use crate::caller::context;
use metacloud_db::images::{Image, Member as DbMember};
use metacloud_image::{ImageError, Images};
use metacloud_objects::Context;
use metacloud_plugins::api::images::{self, ImageFields, Member, StoredImage};
use metacloud_plugins::api::{Caller, OpError};
use std::future::Future;

type R<T> = Result<T, OpError>;

/// One request's view of the image service.
pub struct ImageOps {
    pub images: Images,
    pub handle: tokio::runtime::Handle,
    /// The caller the host established for the request, if any.
    pub caller: crate::caller::Established,
}

fn op_error(e: ImageError) -> OpError {
    match e {
        ImageError::BadRequest(m) => OpError::BadRequest(m),
        ImageError::Forbidden(m) => OpError::Forbidden(m),
        ImageError::NotFound(m) => OpError::NotFound(m),
        ImageError::Conflict(m) => OpError::Conflict(m),
        ImageError::Internal(m) => {
            tracing::error!(error = %m, "image operation failed");
            OpError::Internal(m)
        }
    }
}

/// The record a dialect sees (the data's location and SHA-256 stay in the host).
pub fn stored(i: Image) -> StoredImage {
    StoredImage {
        id: i.id,
        name: i.name,
        owner: i.owner,
        visibility: i.visibility,
        status: i.status,
        disk_format: i.disk_format,
        container_format: i.container_format,
        size: i.size,
        checksum: i.checksum,
        os_hash_value: i.os_hash_value,
        min_disk: i.min_disk,
        min_ram: i.min_ram,
        protected: i.protected,
        tags: i.tags,
        properties: i.properties.into_iter().collect(),
        created_at: i.created_at,
        updated_at: i.updated_at,
    }
}

/// Sets what a client may set on `img`.
fn apply(img: &mut Image, f: ImageFields) {
    img.name = f.name;
    img.visibility = f.visibility;
    img.protected = f.protected;
    img.min_disk = f.min_disk;
    img.min_ram = f.min_ram;
    img.disk_format = f.disk_format;
    img.container_format = f.container_format;
    img.tags = f.tags;
    img.properties = f.properties.into_iter().collect();
}

fn member(m: DbMember) -> Member {
    Member {
        image_id: m.image_id,
        member_id: m.member,
        status: m.status,
        created_at: m.created_at,
        updated_at: m.updated_at,
    }
}

impl ImageOps {
    fn run<T>(&self, f: impl Future<Output = Result<T, ImageError>>) -> R<T> {
        self.handle.block_on(f).map_err(op_error)
    }

    /// The caller as the host established it; `c` must be that caller, scoped to a project.
    fn who(&self, c: &Caller) -> R<Context> {
        Ok(context(&self.caller.check_scoped(c)?))
    }
}

impl images::Host for ImageOps {
    fn create(&mut self, c: Caller, f: ImageFields) -> R<StoredImage> {
        let who = self.who(&c)?;
        let mut img = Image {
            id: f.id.clone(),
            ..Image::default()
        };
        apply(&mut img, f);
        self.run(self.images.create(&who, img)).map(stored)
    }

    fn list(
        &mut self,
        c: Caller,
        visibility: Option<String>,
        member_status: Option<String>,
    ) -> R<Vec<StoredImage>> {
        let who = self.who(&c)?;
        let all = self.run(self.images.list(
            &who,
            visibility.as_deref(),
            member_status.as_deref(),
        ))?;
        Ok(all.into_iter().map(stored).collect())
    }

    fn get(&mut self, c: Caller, id: String) -> R<StoredImage> {
        let who = self.who(&c)?;
        self.run(self.images.get(&who, &id)).map(stored)
    }

    fn update(&mut self, c: Caller, id: String, f: ImageFields) -> R<StoredImage> {
        let who = self.who(&c)?;
        self.run(self.images.update(&who, &id, |img| {
            apply(img, f);
            Ok(())
        }))
        .map(stored)
    }

    fn delete(&mut self, c: Caller, id: String) -> R<()> {
        let who = self.who(&c)?;
        self.run(self.images.delete(&who, &id))
    }

    fn list_members(&mut self, c: Caller, id: String) -> R<Vec<Member>> {
        let who = self.who(&c)?;
        let all = self.run(self.images.members(&who, &id))?;
        Ok(all.into_iter().map(member).collect())
    }

    fn add_member(&mut self, c: Caller, id: String, m: String) -> R<Member> {
        let who = self.who(&c)?;
        self.run(self.images.add_member(&who, &id, &m)).map(member)
    }

    fn set_member_status(&mut self, c: Caller, id: String, m: String, status: String) -> R<Member> {
        let who = self.who(&c)?;
        self.run(self.images.set_member_status(&who, &id, &m, &status))
            .map(member)
    }

    fn remove_member(&mut self, c: Caller, id: String, m: String) -> R<()> {
        let who = self.who(&c)?;
        self.run(self.images.remove_member(&who, &id, &m))
    }
}
