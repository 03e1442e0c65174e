use displaydoc::Display;
use thiserror::Error;

/// A database operation that failed.
#[derive(Debug, Display, Error)]
pub enum DbError {
    /// cannot connect to the database at {url}: {reason}
    Connect { url: String, reason: String },
    /// database migration failed: {0}
    Migrate(String),
    /// {0} not found
    NotFound(String),
    /// {0}
    Conflict(String),
    /// Quota exceeded for {resource}: requested {requested}, but already used {used} of {limit}
    QuotaExceeded {
        resource: String,
        requested: i64,
        used: i64,
        limit: i64,
    },
    /// database error: {0}
    Query(#[from] sqlx::Error),
    /// stored data is invalid: {0}
    Corrupt(String),
    /// marker [{0}] not found
    MarkerNotFound(String),
    /// Invalid name filter {name:?}: {reason}
    InvalidNameFilter { name: String, reason: String },
    /// Invalid network: {0}
    InvalidNetwork(String),
    /// The CIDR {cidr} overlaps with {other}
    AddressOverlap { cidr: String, other: String },
    /// No more fixed IP addresses are available on network {network}
    AddressesExhausted { network: String },
    /// Fixed IP address {address} is already in use on network {network}
    AddressInUse { address: String, network: String },
    /// Fixed IP address {address} is not available on network {network}: {reason}
    AddressNotAvailable {
        address: String,
        network: String,
        reason: String,
    },
    /// Network {network} is still in use: {reason}
    NetworkInUse { network: String, reason: String },
    /// No more floating IP addresses are available in pool {pool}
    FloatingIpsExhausted { pool: String },
    /// Floating IP {address} is associated with port {port}; disassociate it first
    FloatingIpAssociated { address: String, port: String },
    /// Invalid security group rule: {0}
    InvalidSecurityGroupRule(String),
    /// This rule already exists in security group {group}
    SecurityGroupRuleExists { group: String },
    /// Security group {group} cannot be deleted: {reason}
    SecurityGroupInUse { group: String, reason: String },
    /// The MAC address {mac} is in use on network {network}
    MacAddressInUse { mac: String, network: String },
    /// Port {port} is still in use by server {server}
    PortInUse { port: String, server: String },
    /// The number of tags exceeded the per-server limit {limit}
    TooManyTags { limit: usize },
}
