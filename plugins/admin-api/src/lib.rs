//! The Metacloud admin API as a dialect plugin: what an operator runs the cloud with —
//! services and hosts (maintenance, forced down, evacuation), hypervisors, flavors, quotas,
//! aggregates, networks and floating ranges — under `/admin/v1`, for the `admin` role only. JSON in, JSON out;
//! request bodies are strict (an unknown field is a 400), and every error is
//! `{"error": {"code": N, "title": "...", "message": "..."}}`.

metacloud_sdk::dialect_plugin!(Admin, "../../wit/api");

mod aggregates;
mod flavors;
mod hosts;
mod networks;
mod quotas;

use bindings::metacloud::api::types::{Caller, OpError};
use metacloud_sdk::dialect::{error_title, Access, Dialect, Route, Router};
pub use metacloud_sdk::dialect::{Fault, Reply};
use serde_json::{json, Value};

/// Where the API lives on its listener.
pub const BASE: &str = "/admin/v1";

/// A request as the handlers see it.
pub type Request = metacloud_sdk::dialect::Request<Caller>;

/// A route under the base, for the `admin` role.
macro_rules! admin {
    ($method:literal, $path:literal, $handler:path) => {
        Route::new(
            $method,
            concat!("/admin/v1", $path),
            Access::Admin,
            $handler,
        )
    };
}

/// The admin API.
pub struct Admin;

impl Dialect for Admin {
    const NAME: &'static str = "metacloud-admin";
    type Caller = Caller;
    const ROUTER: Router<Caller> = Router::new(&[
        Route::get("/admin", Access::Public, versions),
        Route::get("/admin/v1", Access::Public, version),
        admin!("GET", "/services", hosts::list_services),
        admin!("PATCH", "/services/{service_id}", hosts::update_service),
        admin!("GET", "/hosts", hosts::list_hosts),
        admin!("GET", "/hosts/{host}", hosts::show_host),
        admin!("PUT", "/hosts/{host}/maintenance", hosts::maintenance),
        admin!("POST", "/hosts/{host}/evacuate", hosts::evacuate_host),
        admin!("GET", "/hypervisors", hosts::list_hypervisors),
        admin!("GET", "/hypervisors/{host}", hosts::show_hypervisor),
        admin!(
            "POST",
            "/servers/{server_id}/evacuate",
            hosts::evacuate_server
        ),
        admin!(
            "POST",
            "/servers/{server_id}/migrate",
            hosts::migrate_server
        ),
        admin!(
            "POST",
            "/servers/{server_id}/migration/confirm",
            hosts::confirm_migration
        ),
        admin!(
            "POST",
            "/servers/{server_id}/migration/revert",
            hosts::revert_migration
        ),
        admin!("GET", "/migrations", hosts::migrations),
        admin!("GET", "/flavors", flavors::list),
        admin!("POST", "/flavors", flavors::create),
        admin!("GET", "/flavors/{flavor_id}", flavors::show),
        admin!("DELETE", "/flavors/{flavor_id}", flavors::delete),
        admin!(
            "PATCH",
            "/flavors/{flavor_id}/extra-specs",
            flavors::set_extra_specs
        ),
        admin!(
            "DELETE",
            "/flavors/{flavor_id}/extra-specs/{key}",
            flavors::delete_extra_spec
        ),
        admin!("GET", "/flavors/{flavor_id}/access", flavors::list_access),
        admin!(
            "PUT",
            "/flavors/{flavor_id}/access/{project_id}",
            flavors::add_access
        ),
        admin!(
            "DELETE",
            "/flavors/{flavor_id}/access/{project_id}",
            flavors::remove_access
        ),
        admin!("GET", "/quotas/defaults", quotas::show_defaults),
        admin!("PATCH", "/quotas/defaults", quotas::update_defaults),
        admin!("GET", "/quotas/{project_id}", quotas::show),
        admin!("PATCH", "/quotas/{project_id}", quotas::update),
        admin!("DELETE", "/quotas/{project_id}", quotas::reset),
        admin!("GET", "/aggregates", aggregates::list),
        admin!("POST", "/aggregates", aggregates::create),
        admin!("GET", "/aggregates/{aggregate_id}", aggregates::show),
        admin!("PATCH", "/aggregates/{aggregate_id}", aggregates::update),
        admin!("DELETE", "/aggregates/{aggregate_id}", aggregates::delete),
        admin!(
            "PUT",
            "/aggregates/{aggregate_id}/hosts/{host}",
            aggregates::add_host
        ),
        admin!(
            "DELETE",
            "/aggregates/{aggregate_id}/hosts/{host}",
            aggregates::remove_host
        ),
        admin!(
            "PATCH",
            "/aggregates/{aggregate_id}/metadata",
            aggregates::set_metadata
        ),
        admin!("GET", "/networks", networks::list),
        admin!("POST", "/networks", networks::create),
        admin!("GET", "/networks/{network_id}", networks::show),
        admin!("DELETE", "/networks/{network_id}", networks::delete),
        admin!("GET", "/floating-ranges", networks::list_ranges),
        admin!("POST", "/floating-ranges", networks::create_range),
        admin!(
            "DELETE",
            "/floating-ranges/{address}/{prefix}",
            networks::delete_range
        ),
    ]);

    /// `{"error": {"code": N, "title": "...", "message": "..."}}`.
    fn fault(status: u16, message: &str) -> Reply {
        Reply::json(status, &error_body(status, message))
    }
}

/// The API's error document.
fn error_body(status: u16, message: &str) -> Value {
    json!({"error": {"code": status, "title": error_title(status), "message": message}})
}

/// The host's operation errors as the API's faults (what `?` on an import does).
impl From<OpError> for Fault {
    fn from(e: OpError) -> Fault {
        match e {
            OpError::NotFound(m) => Fault::not_found(m),
            OpError::Conflict(m) => Fault::conflict(m),
            OpError::Forbidden(m) => Fault::forbidden(format!("Policy does not allow {m}.")),
            OpError::BadRequest(m) => Fault::bad_request(m),
            OpError::QuotaExceeded(q) => Fault::forbidden(format!(
                "Quota exceeded for {}: requested {}, used {} of {}",
                q.resource, q.requested, q.used, q.limit
            )),
            OpError::Unavailable(m) => Fault::new(503, m),
            OpError::Internal(m) => Fault::internal(m),
        }
    }
}

/// Milliseconds since the epoch as RFC 3339 (`2026-12-01T13:15:57.123Z`).
pub fn rfc3339(ms: i64) -> Value {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        None => Value::Null,
    }
}

fn version_doc() -> Value {
    json!({"id": "v1", "status": "CURRENT", "updated": "2026-12-01T00:00:00Z",
           "links": [{"rel": "self", "href": format!("{BASE}/")}]})
}

fn versions(_: &Request) -> Result<Reply, Fault> {
    Ok(Reply::json(200, &json!({"versions": [version_doc()]})))
}

fn version(_: &Request) -> Result<Reply, Fault> {
    Ok(Reply::json(200, &json!({"version": version_doc()})))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: &str) -> Request {
        Request::new("PATCH", "/admin/v1/services/1").with_body(body)
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        disabled: Option<bool>,
    }

    #[test]
    fn bodies_are_strict() {
        assert!(request(r#"{"disabled": true}"#).json::<Body>().is_ok());
        for bad in [
            "",
            "{",
            r#"{"disabled": "yes"}"#,
            r#"{"disabled": true, "x": 1}"#,
            "[]",
        ] {
            let e = Fault::from(request(bad).json::<Body>().unwrap_err());
            assert_eq!(e.status, 400, "{bad}");
        }
        let e = Fault::from(
            request(r#"{"disabled": true, "colour": 1}"#)
                .json::<Body>()
                .unwrap_err(),
        );
        assert!(e.message.contains("colour"), "{}", e.message);
    }

    #[test]
    fn errors_have_code_title_and_message() {
        let e = Fault::from(OpError::Conflict("busy".into()));
        assert_eq!(
            Admin::fault(e.status, &e.message).json_body(),
            json!({"error": {"code": 409, "title": "Conflict", "message": "busy"}})
        );
        let e = Fault::from(OpError::Internal("db down".into()));
        assert_eq!(
            Admin::fault(e.status, &e.message).json_body()["error"]["title"],
            "Internal Server Error"
        );
    }

    #[test]
    fn every_route_but_discovery_is_for_admins_under_the_base() {
        for e in Admin::ROUTER.routes() {
            assert!(e.path.starts_with("/admin"), "{}", e.path);
            if e.access != Access::Public {
                assert!(e.path.starts_with(BASE), "{}", e.path);
                assert_eq!(e.access, Access::Admin, "{}", e.path);
            }
        }
    }

    #[test]
    fn times_are_rfc3339() {
        assert_eq!(rfc3339(0), json!("1970-01-01T00:00:00.000Z"));
        assert_eq!(
            rfc3339(1_764_594_957_123),
            json!("2025-12-01T13:15:57.123Z")
        );
    }
}
