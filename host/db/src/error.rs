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
}
