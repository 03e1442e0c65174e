//! Users: listing, creation (with a sealed password), reading, changes, deletion and the
//! projects a user holds a role on.

use crate::bindings::metacloud::api::identity::{self, Change, User, UserCreate};
use crate::input::{bool_field, change_of, clearable_field, entity, required_name, str_field};
use crate::projects::project_json;
use crate::{base, collection, Fault, KeystoneRequest, Reply, Request};
use serde_json::{json, Value};

pub fn user_json(base: &str, u: &User) -> Value {
    let mut v = json!({"id": u.id, "name": u.name, "domain_id": u.domain_id, "enabled": u.enabled,
           "description": u.description, "password_expires_at": null, "options": {},
           "links": {"self": format!("{base}/users/{}", u.id)}});
    if let Some(p) = &u.default_project_id {
        v["default_project_id"] = json!(p);
    }
    if let Some(e) = &u.email {
        v["email"] = json!(e);
    }
    v
}

/// Reads `{"user": {"name", "password"?, "default_project_id"?, "email"?,
/// "description"?, "enabled"?}}`; the password is a sealed reference.
pub fn parse_new_user(v: &Value) -> Result<UserCreate, Fault> {
    let u = entity(v, "user")?;
    let name = required_name(u)?;
    let default_project_id = str_field(u, "default_project_id")?.map(String::from);
    Ok(UserCreate {
        name: name.to_string(),
        password: str_field(u, "password")?.map(String::from),
        default_project_id,
        email: str_field(u, "email")?.map(String::from),
        description: str_field(u, "description")?.unwrap_or("").to_string(),
        enabled: bool_field(u, "enabled")?.unwrap_or(true),
    })
}

/// Reads `{"user": {...}}` of a PATCH: what is given changes; `email` and
/// `default_project_id` set to null are cleared; a password is a sealed reference.
pub fn parse_user_change(v: &Value) -> Result<Change, Fault> {
    let u = entity(v, "user")?;
    Ok(Change {
        email: clearable_field(u, "email")?,
        default_project_id: clearable_field(u, "default_project_id")?,
        password: str_field(u, "password")?.map(String::from),
        ..change_of(u)?
    })
}

/// `GET /v3/users[?name=]`.
pub fn list(r: &Request) -> Result<Reply, Fault> {
    let c = r.caller()?;
    let users = identity::list_users(c, r.query_last("name"))?;
    let b = base();
    let items = users.iter().map(|u| user_json(&b, u)).collect();
    Ok(Reply::json(200, &collection(&b, "users", "users", items)))
}

pub fn create(r: &Request) -> Result<Reply, Fault> {
    let c = r.caller()?;
    // An unknown default project is the host's 400.
    let new = parse_new_user(&r.body_json()?)?;
    let user = identity::create_user(c, &new)?;
    Ok(Reply::json(
        201,
        &json!({"user": user_json(&base(), &user)}),
    ))
}

pub fn show(r: &Request) -> Result<Reply, Fault> {
    let c = r.caller()?;
    let u = identity::get_user(c, r.param("user_id"))?;
    Ok(Reply::json(200, &json!({"user": user_json(&base(), &u)})))
}

pub fn update(r: &Request) -> Result<Reply, Fault> {
    let c = r.caller()?;
    let change = parse_user_change(&r.body_json()?)?;
    let u = identity::update_user(c, r.param("user_id"), &change)?;
    Ok(Reply::json(200, &json!({"user": user_json(&base(), &u)})))
}

pub fn delete(r: &Request) -> Result<Reply, Fault> {
    let c = r.caller()?;
    identity::delete_user(c, r.param("user_id"))?;
    Ok(Reply::empty(204))
}

/// `GET /v3/users/{user_id}/projects`.
pub fn projects(r: &Request) -> Result<Reply, Fault> {
    let c = r.caller()?;
    let user = r.param("user_id");
    let projects = identity::user_projects(c, user)?;
    let b = base();
    let items = projects.iter().map(|p| project_json(&b, p)).collect();
    Ok(Reply::json(
        200,
        &collection(&b, &format!("users/{user}/projects"), "projects", items),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        User {
            id: "u1".into(),
            name: "alice".into(),
            domain_id: "default".into(),
            enabled: true,
            description: "".into(),
            email: None,
            default_project_id: None,
        }
    }

    #[test]
    fn a_user_as_keystone_shows_it() {
        let plain = json!({"id": "u1", "name": "alice", "domain_id": "default", "enabled": true,
                           "description": "", "password_expires_at": null, "options": {},
                           "links": {"self": "http://k/v3/users/u1"}});
        assert_eq!(user_json("http://k/v3", &user()), plain);
        let u = User {
            email: Some("a@example.org".into()),
            default_project_id: Some("p1".into()),
            ..user()
        };
        let v = user_json("http://k/v3", &u);
        assert_eq!(v["email"], "a@example.org");
        assert_eq!(v["default_project_id"], "p1");
    }

    #[test]
    fn new_users() {
        let u = parse_new_user(&json!({"user": {"name": "alice", "password": "sealed:n:1",
            "email": "a@example.org", "default_project_id": "p1", "description": "d",
            "enabled": false}}))
        .unwrap();
        assert_eq!(u.name, "alice");
        assert_eq!(u.password.as_deref(), Some("sealed:n:1"));
        assert_eq!(u.email.as_deref(), Some("a@example.org"));
        assert_eq!(u.default_project_id.as_deref(), Some("p1"));
        assert_eq!(u.description, "d");
        assert!(!u.enabled);
        let u = parse_new_user(&json!({"user": {"name": "bob", "email": null}})).unwrap();
        assert!(u.password.is_none() && u.email.is_none() && u.default_project_id.is_none());
        assert_eq!(u.description, "");
        assert!(u.enabled);
        for bad in [
            json!({"user": {}}),
            json!({"user": {"name": ""}}),
            json!({"user": {"name": "bob", "password": 1}}),
            json!({"user": {"name": "bob", "enabled": 1}}),
            json!({"user": {"name": "bob", "default_project_id": []}}),
            json!({"users": {"name": "bob"}}),
        ] {
            assert_eq!(parse_new_user(&bad).unwrap_err().status, 400, "{bad}");
        }
    }

    #[test]
    fn user_changes_tell_null_from_absent() {
        let c = parse_user_change(&json!({"user": {"email": null, "default_project_id": "p2",
            "password": "sealed:n:3", "enabled": false}}))
        .unwrap();
        assert_eq!(c.email, Some(None));
        assert_eq!(c.default_project_id, Some(Some("p2".into())));
        assert_eq!(c.password.as_deref(), Some("sealed:n:3"));
        assert_eq!(c.enabled, Some(false));
        assert_eq!(c.name, None);
        let c = parse_user_change(&json!({"user": {"name": "carol"}})).unwrap();
        assert_eq!(c.name.as_deref(), Some("carol"));
        assert!(c.email.is_none() && c.default_project_id.is_none() && c.password.is_none());
        for bad in [
            json!({"user": {"email": 5}}),
            json!({"user": {"name": " "}}),
            json!({"user": {"password": true}}),
            json!({"user": "x"}),
        ] {
            assert_eq!(parse_user_change(&bad).unwrap_err().status, 400, "{bad}");
        }
    }
}
