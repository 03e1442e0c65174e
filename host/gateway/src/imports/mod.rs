//! The host side of a dialect's imports: each WIT interface's generated `Host` trait,
//! implemented once over the host services, for one request and its established caller.

mod compute;
mod identity;
mod images;
pub mod metadata;
mod network;
mod network_api;

use crate::caller::Established;
use crate::sealed::Seals;
use crate::service::DialectService;
use compute::ComputeHost;
use identity::IdentityOps;
use images::ImageOps;
use metacloud_plugins::api::metadata::InstanceData;
use metacloud_plugins::api::{Caller, DialectImports};
use metadata::MetadataOps;
use std::sync::Arc;

impl DialectService {
    /// What one request's dialect may reach: its imports, for `caller`.
    pub(crate) fn imports(
        &self,
        request_id: &str,
        token: Option<&str>,
        caller: Option<Caller>,
        instance: Option<InstanceData>,
        seals: Arc<Seals>,
    ) -> DialectImports {
        let handle = tokio::runtime::Handle::current();
        let caller = Established::new(caller);
        let compute = ComputeHost {
            api: self.api.clone(),
            images: self.images.clone(),
            handle: handle.clone(),
            request_id: request_id.to_string(),
            token: token.map(String::from),
            image_url: self.image_url.clone(),
            caller: caller.clone(),
            identity: self.identity.clone(),
            ec2_max_skew_ms: self.ec2_max_skew_ms,
            seals: seals.clone(),
        };
        DialectImports {
            signatures: Some(Box::new(compute.clone())),
            compute: Some(Box::new(compute)),
            metadata: Some(Box::new(MetadataOps {
                instance,
                seals: seals.clone(),
                secret: self.metadata_secret.clone(),
            })),
            identity: Some(Box::new(IdentityOps {
                identity: self.identity.clone(),
                seals,
                handle: handle.clone(),
                caller: caller.clone(),
            })),
            images: Some(Box::new(ImageOps {
                images: self.images.clone(),
                handle,
                caller,
            })),
        }
    }
}
