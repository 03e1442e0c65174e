//! `os-certificates`: Nova's cert service. A member gets a new key pair and a certificate
//! signed by the project's CA; anyone in the project may fetch that CA's certificate. The
//! private key reaches this plugin only as a sealed reference, which the host opens in the
//! response.

use crate::bindings::metacloud::api::compute;
use crate::{Fault, Reply, Request};
use serde_json::{json, Value};

/// `POST /os-certificates`. Nova takes no body: whatever is sent is ignored.
pub fn create(r: &Request) -> Result<Reply, Fault> {
    let made = compute::create_certificate(r.caller()?)?;
    Ok(Reply::json(
        200,
        &json!({"certificate": {"data": made.data, "private_key": made.private_key}}),
    ))
}

/// `GET /os-certificates/root`; Nova answers any other id with 501.
pub fn show(r: &Request) -> Result<Reply, Fault> {
    if r.param("certificate_id") != "root" {
        return Err(Fault::new(501, "Only root certificate can be retrieved."));
    }
    let data = compute::root_certificate(r.caller()?)?;
    Ok(Reply::json(
        200,
        &json!({"certificate": {"data": data, "private_key": Value::Null}}),
    ))
}
