//! Version discovery: `GET /` (300, the versions there are) and `GET /v3`.

use crate::{base, Fault, Reply, Request};
use serde_json::{json, Value};

/// The one version served, linked from `base` (the identity API's URL).
pub fn version_json(base: &str) -> Value {
    json!({"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
           "links": [{"rel": "self", "href": format!("{base}/")}],
           "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}]})
}

pub fn list(_: &Request) -> Result<Reply, Fault> {
    Ok(Reply::json(
        300,
        &json!({"versions": {"values": [version_json(&base())]}}),
    ))
}

pub fn show(_: &Request) -> Result<Reply, Fault> {
    Ok(Reply::json(200, &json!({"version": version_json(&base())})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_links_below_the_base() {
        let v = version_json("http://127.0.0.1:5000/v3");
        assert_eq!(v["id"], "v3.14");
        assert_eq!(v["status"], "stable");
        assert_eq!(v["links"][0]["href"], "http://127.0.0.1:5000/v3/");
        assert_eq!(
            v["media-types"][0]["type"],
            "application/vnd.openstack.identity-v3+json"
        );
    }
}
