//! The `images` import of API dialects: image records and their members, served by the
//! host through [`ImageHost`]. Image data never crosses into a plugin.

use super::world::metacloud::api::images;
use super::{Caller, OpError};
use crate::runtime::{State, Timed};

pub use images::{ImageFields, Member, StoredImage};

type R<T> = Result<T, OpError>;

/// What the host offers a dialect's `images` import; called on the plugin's thread.
pub trait ImageHost: Send + Sync {
    fn create(&self, c: Caller, fields: ImageFields) -> R<StoredImage>;
    fn list(
        &self,
        c: Caller,
        visibility: Option<String>,
        member_status: Option<String>,
    ) -> R<Vec<StoredImage>>;
    fn get(&self, c: Caller, id: String) -> R<StoredImage>;
    fn update(&self, c: Caller, id: String, fields: ImageFields) -> R<StoredImage>;
    fn delete(&self, c: Caller, id: String) -> R<()>;
    fn list_members(&self, c: Caller, id: String) -> R<Vec<Member>>;
    fn add_member(&self, c: Caller, id: String, member: String) -> R<Member>;
    fn set_member_status(&self, c: Caller, id: String, member: String, status: String)
        -> R<Member>;
    fn remove_member(&self, c: Caller, id: String, member: String) -> R<()>;
}

impl State {
    fn image_host(&self) -> R<Timed<dyn ImageHost>> {
        let host = self
            .images
            .clone()
            .ok_or_else(|| OpError::Unavailable("no image service in this context".into()))?;
        Ok(self.host_clock.timed(host))
    }
}

/// Forwards each import to the request's [`ImageHost`].
macro_rules! forward {
    ($( fn $name:ident(&mut self $(, $arg:ident: $ty:ty)*) -> $ret:ty; )*) => {
        impl images::Host for State {
            $( fn $name(&mut self $(, $arg: $ty)*) -> $ret {
                self.image_host()?.$name($($arg),*)
            } )*
        }
    };
}

forward! {
    fn create(&mut self, c: Caller, fields: ImageFields) -> R<StoredImage>;
    fn list(&mut self, c: Caller, visibility: Option<String>, member_status: Option<String>) -> R<Vec<StoredImage>>;
    fn get(&mut self, c: Caller, id: String) -> R<StoredImage>;
    fn update(&mut self, c: Caller, id: String, fields: ImageFields) -> R<StoredImage>;
    fn delete(&mut self, c: Caller, id: String) -> R<()>;
    fn list_members(&mut self, c: Caller, id: String) -> R<Vec<Member>>;
    fn add_member(&mut self, c: Caller, id: String, member: String) -> R<Member>;
    fn set_member_status(&mut self, c: Caller, id: String, member: String, status: String) -> R<Member>;
    fn remove_member(&mut self, c: Caller, id: String, member: String) -> R<()>;
}
