//! The listener table: every API listener the gateway runs, with the config keys of its
//! address and of the dialects it serves.

use metacloud_config::Config;
use std::net::SocketAddr;

/// Which listener's dialects: each has its own list in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialectList {
    /// `api.dialects`, served on `api.compute_listen`.
    Compute,
    /// `identity.dialects`, served on `identity.listen`.
    Identity,
    /// `api.image_dialects`, served on `api.image_listen`.
    Image,
    /// `api.ec2_dialects`, served on `api.ec2_listen`.
    Ec2,
    /// `api.metadata_dialects`, served on `api.metadata_listen`.
    Metadata,
    /// `api.network_dialects`, served on `api.network_listen`.
    Network,
}

impl DialectList {
    /// The config key that names the dialects.
    pub fn key(self) -> &'static str {
        match self {
            DialectList::Compute => "api.dialects",
            DialectList::Identity => "identity.dialects",
            DialectList::Image => "api.image_dialects",
            DialectList::Ec2 => "api.ec2_dialects",
            DialectList::Metadata => "api.metadata_dialects",
            DialectList::Network => "api.network_dialects",
        }
    }

    /// Every listener, in the order they start (identity first: the catalog names the
    /// others).
    pub const ALL: [DialectList; 6] = [
        DialectList::Identity,
        DialectList::Image,
        DialectList::Compute,
        DialectList::Ec2,
        DialectList::Metadata,
        DialectList::Network,
    ];

    /// The listener's name in logs.
    pub fn name(self) -> &'static str {
        match self {
            DialectList::Compute => "compute",
            DialectList::Identity => "identity",
            DialectList::Image => "image",
            DialectList::Ec2 => "ec2",
            DialectList::Metadata => "metadata",
            DialectList::Network => "network",
        }
    }

    /// The config key of the listener's address.
    pub fn listen_key(self) -> &'static str {
        match self {
            DialectList::Compute => "api.compute_listen",
            DialectList::Identity => "identity.listen",
            DialectList::Image => "api.image_listen",
            DialectList::Ec2 => "api.ec2_listen",
            DialectList::Metadata => "api.metadata_listen",
            DialectList::Network => "api.network_listen",
        }
    }

    /// The listener's address in `config`.
    pub fn listen(self, config: &Config) -> SocketAddr {
        match self {
            DialectList::Compute => config.api.compute_listen,
            DialectList::Identity => config.identity.listen,
            DialectList::Image => config.api.image_listen,
            DialectList::Ec2 => config.api.ec2_listen,
            DialectList::Metadata => config.api.metadata_listen,
            DialectList::Network => config.api.network_listen,
        }
    }

    /// Sets the listener's address in `config` (to the one actually bound).
    pub(crate) fn set_listen(self, config: &mut Config, addr: SocketAddr) {
        match self {
            DialectList::Compute => config.api.compute_listen = addr,
            DialectList::Identity => config.identity.listen = addr,
            DialectList::Image => config.api.image_listen = addr,
            DialectList::Ec2 => config.api.ec2_listen = addr,
            DialectList::Metadata => config.api.metadata_listen = addr,
            DialectList::Network => config.api.network_listen = addr,
        }
    }

    /// Whether the listener runs only when its dialect list names some (EC2, metadata,
    /// network).
    pub fn optional(self) -> bool {
        matches!(
            self,
            DialectList::Ec2 | DialectList::Metadata | DialectList::Network
        )
    }

    /// The dialect names `config` lists for this listener.
    pub fn names(self, config: &Config) -> &[String] {
        match self {
            DialectList::Compute => &config.api.dialects,
            DialectList::Identity => &config.identity.dialects,
            DialectList::Image => &config.api.image_dialects,
            DialectList::Ec2 => &config.api.ec2_dialects,
            DialectList::Metadata => &config.api.metadata_dialects,
            DialectList::Network => &config.api.network_dialects,
        }
    }
}
