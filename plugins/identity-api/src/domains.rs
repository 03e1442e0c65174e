//! Domains: there is one, the default domain.

use crate::{base, collection, Fault, Reply, Request, DEFAULT_DOMAIN, DEFAULT_DOMAIN_NAME};
use serde_json::{json, Value};

pub fn domain_json(base: &str) -> Value {
    json!({"id": DEFAULT_DOMAIN, "name": DEFAULT_DOMAIN_NAME, "description": "The default domain",
           "enabled": true, "tags": [], "options": {},
           "links": {"self": format!("{base}/domains/{DEFAULT_DOMAIN}")}})
}

/// Whether `id` names the default domain (its id, in any case).
pub fn is_default(id: &str) -> bool {
    id.eq_ignore_ascii_case(DEFAULT_DOMAIN)
}

pub fn list(r: &Request) -> Result<Reply, Fault> {
    r.caller()?;
    let b = base();
    Ok(Reply::json(
        200,
        &collection(&b, "domains", "domains", vec![domain_json(&b)]),
    ))
}

pub fn show(r: &Request) -> Result<Reply, Fault> {
    r.caller()?;
    let d = r.param("domain_id");
    if !is_default(d) {
        return Err(Fault::not_found(format!("Could not find domain: {d}.")));
    }
    Ok(Reply::json(200, &json!({"domain": domain_json(&base())})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_default_domain() {
        assert!(is_default("default"));
        assert!(is_default("Default"));
        assert!(!is_default("other"));
        let d = domain_json("http://k/v3");
        assert_eq!(d["id"], "default");
        assert_eq!(d["name"], "Default");
        assert_eq!(d["links"]["self"], "http://k/v3/domains/default");
    }
}
