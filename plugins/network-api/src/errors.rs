//! Neutron's error body and the host's operation errors in its terms.

use crate::bindings::metacloud::api::types::OpError;
use crate::{Fault, Reply};
use serde_json::json;

/// `{"NeutronError": {"type": kind, "message": message, "detail": ""}}` with `status`.
pub fn reply(status: u16, kind: &str, message: &str) -> Reply {
    Reply::json(
        status,
        &json!({"NeutronError": {"type": kind, "message": message, "detail": ""}}),
    )
}

/// The type Neutron gives an error of `status` without a more specific one (`OverQuota`
/// for a quota's 409).
pub fn kind_of(status: u16, message: &str) -> &'static str {
    if status == 409 && message.starts_with("Quota exceeded") {
        return "OverQuota";
    }
    match status {
        400 => "HTTPBadRequest",
        401 => "HTTPUnauthorized",
        403 => "HTTPForbidden",
        404 => "HTTPNotFound",
        405 => "HTTPMethodNotAllowed",
        409 => "HTTPConflict",
        413 => "OverQuota",
        503 => "HTTPServiceUnavailable",
        _ => "HTTPInternalServerError",
    }
}

/// A specific Neutron error (`SecurityGroupNotFound`, …) as a reply.
pub fn typed(status: u16, kind: &str, message: impl AsRef<str>) -> Reply {
    reply(status, kind, message.as_ref())
}

/// A body that is not JSON, or not the object expected: Neutron's 400.
pub fn malformed(what: &str) -> Fault {
    Fault::bad_request(format!("Invalid input for operation: {what}."))
}

/// The host's operation errors as Neutron's statuses (the message kept).
pub fn from_op(e: OpError) -> Fault {
    match e {
        OpError::BadRequest(m) => Fault::new(400, m),
        OpError::Forbidden(m) => Fault::new(403, m),
        OpError::NotFound(m) => Fault::new(404, m),
        OpError::Conflict(m) => Fault::new(409, m),
        OpError::QuotaExceeded(q) => Fault::new(
            409,
            format!(
                "Quota exceeded for resources: ['{}'].",
                match q.resource.as_str() {
                    "security_groups" => "security_group",
                    "security_group_rules" => "security_group_rule",
                    "floating_ips" => "floatingip",
                    other => other,
                }
            ),
        ),
        OpError::Unavailable(m) => Fault::new(503, m),
        OpError::Internal(m) => Fault::new(500, m),
    }
}
