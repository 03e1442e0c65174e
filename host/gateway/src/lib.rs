//! The API gateway: every listener the cloud's APIs are served on, and the host's side of
//! the dialect plugins that speak them.
//!
//! - [`listeners`]: the listener table ([`DialectList`]: address and the config key naming
//!   its dialects), bound and started in one loop.
//! - [`service`]: a listener's dialects ([`service::DialectService`]), hot-swappable, with
//!   the backends (identity, compute, images) behind them.
//! - [`dispatch`]: a request's way in — route lookup, the caller from its token, the
//!   route's access level, sealed secrets, the plugin call, refusals in the dialect's
//!   format.
//! - [`imports`]: the host side of each WIT import (`compute`, `signatures`, `identity`,
//!   `images`, `metadata`), each the generated `Host` trait implemented once, every one
//!   checking the caller through [`caller::Established`].
//! - [`sealed`]: secrets replaced by references before a plugin sees the request.
//! - [`image_data`]: image bytes streamed by the host, never through a plugin.
//! - [`native`]: the operators' native JSON API (service token).
//!
//! The compute domain itself (`ComputeApi`: policy, quotas, instances) is the
//! `metacloud-api` crate; this crate only carries requests to it.

pub mod caller;
pub mod dispatch;
pub mod image_data;
pub mod imports;
pub mod listeners;
pub mod native;
pub mod routes;
pub mod sealed;
pub mod service;
mod table;

pub use dispatch::router;
pub use service::{Backends, DialectList, DialectService};
