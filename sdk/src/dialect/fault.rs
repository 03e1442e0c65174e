//! [`Fault`]: a failed request as a status and a message, before a dialect dresses it in
//! its own error format ([`crate::dialect::Dialect::fault`]).

use std::fmt;

/// Why a request failed: an HTTP status and a message for people. Handlers return it; the
/// SDK renders it through the dialect's [`Dialect::fault`](crate::dialect::Dialect::fault).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub status: u16,
    pub message: String,
}

impl Fault {
    /// A fault with any status.
    pub fn new(status: u16, message: impl Into<String>) -> Fault {
        Fault {
            status,
            message: message.into(),
        }
    }

    /// 400: the request itself is wrong.
    pub fn bad_request(message: impl Into<String>) -> Fault {
        Fault::new(400, message)
    }

    /// 401: no (valid) credentials.
    pub fn unauthorized(message: impl Into<String>) -> Fault {
        Fault::new(401, message)
    }

    /// 403: credentials, but not enough.
    pub fn forbidden(message: impl Into<String>) -> Fault {
        Fault::new(403, message)
    }

    /// 404: no such thing.
    pub fn not_found(message: impl Into<String>) -> Fault {
        Fault::new(404, message)
    }

    /// 409: the thing is in the wrong state.
    pub fn conflict(message: impl Into<String>) -> Fault {
        Fault::new(409, message)
    }

    /// 500: the dialect or the host failed.
    pub fn internal(message: impl Into<String>) -> Fault {
        Fault::new(500, message)
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}

impl std::error::Error for Fault {}
