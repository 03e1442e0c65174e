//! EC2 credentials of a user. Secret keys exist here only as sealed references, which
//! the host opens in the response.

use crate::bindings::metacloud::api::identity::{self, Ec2Credential};
use crate::input::str_field;
use crate::{base, collection, Fault, KeystoneRequest, Reply, Request};
use serde_json::{json, Value};

pub fn ec2_json(base: &str, c: &Ec2Credential) -> Value {
    json!({"user_id": c.user_id, "tenant_id": c.project_id, "access": c.access, "secret": c.secret,
           "trust_id": null,
           "links": {"self": format!("{base}/users/{}/credentials/OS-EC2/{}", c.user_id, c.access)}})
}

/// The project of a new credential: `tenant_id` of the body; none: the caller's (the
/// host answers 400 when the caller has none).
pub fn tenant_of(v: &Value) -> Result<Option<String>, Fault> {
    Ok(str_field(v, "tenant_id")?.map(String::from))
}

pub fn list(r: &Request) -> Result<Reply, Fault> {
    let c = r.caller()?;
    let user = r.param("user_id");
    let creds = identity::list_ec2_credentials(c, user)?;
    let b = base();
    Ok(Reply::json(
        200,
        &collection(
            &b,
            &format!("users/{user}/credentials/OS-EC2"),
            "credentials",
            creds.iter().map(|x| ec2_json(&b, x)).collect(),
        ),
    ))
}

pub fn create(r: &Request) -> Result<Reply, Fault> {
    let c = r.caller()?;
    let project = tenant_of(&r.body_json()?)?;
    let cred = identity::create_ec2_credential(c, r.param("user_id"), project.as_deref())?;
    Ok(Reply::json(
        201,
        &json!({"credential": ec2_json(&base(), &cred)}),
    ))
}

pub fn show(r: &Request) -> Result<Reply, Fault> {
    let c = r.caller()?;
    // Another user's credential is the host's 404.
    let cred = identity::get_ec2_credential(c, r.param("user_id"), r.param("access"))?;
    Ok(Reply::json(
        200,
        &json!({"credential": ec2_json(&base(), &cred)}),
    ))
}

pub fn delete(r: &Request) -> Result<Reply, Fault> {
    let c = r.caller()?;
    identity::delete_ec2_credential(c, r.param("user_id"), r.param("access"))?;
    Ok(Reply::empty(204))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cred() -> Ec2Credential {
        Ec2Credential {
            user_id: "u1".into(),
            project_id: "p1".into(),
            access: "AK1".into(),
            secret: "sealed:n:4".into(),
        }
    }

    #[test]
    fn a_credential_carries_its_sealed_secret_where_the_secret_goes() {
        assert_eq!(
            ec2_json("http://k/v3", &cred()),
            json!({"user_id": "u1", "tenant_id": "p1", "access": "AK1", "secret": "sealed:n:4",
                   "trust_id": null,
                   "links": {"self": "http://k/v3/users/u1/credentials/OS-EC2/AK1"}})
        );
    }

    #[test]
    fn the_project_of_a_new_credential() {
        assert_eq!(
            tenant_of(&json!({"tenant_id": "p2"})),
            Ok(Some("p2".into()))
        );
        assert_eq!(tenant_of(&json!({})), Ok(None));
        assert_eq!(tenant_of(&json!({"tenant_id": null})), Ok(None));
        let e = tenant_of(&json!({"tenant_id": 7})).unwrap_err();
        assert_eq!(
            (e.status, e.message.as_str()),
            (400, "Invalid input for field 'tenant_id': not a string")
        );
    }
}
