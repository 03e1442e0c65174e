use displaydoc::Display;
use metacloud_db::DbError;
use metacloud_rpc::RpcError;
use thiserror::Error;

/// Why an API operation was refused or failed; each maps to one HTTP status.
#[derive(Debug, Display, Error)]
pub enum ApiError {
    /// {0}
    BadRequest(String),
    /// Policy doesn't allow {0} to be performed.
    Forbidden(String),
    /// {0} could not be found.
    NotFound(String),
    /// {0}
    Conflict(String),
    /// Quota exceeded for {resource}: Requested {requested}, but already used {used} of {limit} {resource}
    QuotaExceeded {
        resource: String,
        requested: i64,
        used: i64,
        limit: i64,
    },
    /// {0}
    Unavailable(String),
    /// Unexpected API Error: {0}
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest(_) => 400,
            ApiError::Forbidden(_) => 403,
            ApiError::NotFound(_) => 404,
            ApiError::Conflict(_) => 409,
            ApiError::QuotaExceeded { .. } => 403,
            ApiError::Unavailable(_) => 503,
            ApiError::Internal(_) => 500,
        }
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound(m) => ApiError::NotFound(m),
            DbError::Conflict(m) => ApiError::Conflict(m),
            DbError::QuotaExceeded {
                resource,
                requested,
                used,
                limit,
            } => ApiError::QuotaExceeded {
                resource,
                requested,
                used,
                limit,
            },
            e => {
                tracing::error!(error = %e, "database error answered as 500");
                ApiError::Internal(e.to_string())
            }
        }
    }
}

impl From<RpcError> for ApiError {
    fn from(e: RpcError) -> Self {
        match e {
            RpcError::NotFound(m) => ApiError::NotFound(m),
            RpcError::Conflict(m) => ApiError::Conflict(m),
            RpcError::Invalid(m) => ApiError::BadRequest(m),
            RpcError::Queue(m) => ApiError::Unavailable(m),
            e => ApiError::Internal(e.to_string()),
        }
    }
}
