//! Tokens (`/v3/auth/tokens`: issue, validate, revoke) and what a token's holder may ask
//! about itself (`/v3/auth/catalog`, `/v3/auth/projects`).
//!
//! Passwords and tokens arrive sealed and leave sealed: they go to the imports as found,
//! and a new token's reference goes into `X-Subject-Token`, where the host opens it.

use crate::bindings::metacloud::api::identity::{
    self, Catalog, IdentityError, ProjectRef, Token, UserRef,
};
use crate::catalog::catalog_json;
use crate::input::{entity, in_our_domain, str_field};
use crate::projects::project_json;
use crate::{
    base, base_of, collection, domain_ref, iso, query_value, Fault, KeystoneRequest, Reply,
    Request, AUTH_REQUIRED,
};
use serde_json::{json, Value};

/// How a client proves who it is.
#[derive(Debug)]
pub enum Credentials {
    /// A user and its password (a sealed reference).
    Password { user: UserRef, password: String },
    /// A token it holds (a sealed reference).
    Token(String),
}

/// A parsed `POST /v3/auth/tokens` body.
#[derive(Debug)]
pub struct AuthRequest {
    pub credentials: Credentials,
    /// The project asked for; none: the user's default (or unscoped).
    pub scope: Option<ProjectRef>,
}

/// `user` of the password method: by id, or by name in the default domain.
pub fn user_ref(v: &Value) -> Result<UserRef, Fault> {
    if let Some(id) = v.get("id").and_then(Value::as_str) {
        return Ok(UserRef::Id(id.into()));
    }
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| Fault::bad_request("Expecting to find id or name in user"))?;
    in_our_domain(v)?;
    Ok(UserRef::Name(name.into()))
}

/// `auth.scope`: a project by id or by name in the default domain; `"unscoped"` or no
/// scope is none; a domain or system scope is refused.
pub fn scope_ref(auth: &Value) -> Result<Option<ProjectRef>, Fault> {
    let Some(scope) = auth.get("scope") else {
        return Ok(None);
    };
    if scope.as_str() == Some("unscoped") {
        return Ok(None);
    }
    let Some(p) = scope.get("project") else {
        return Err(Fault::unauthorized(
            "Only project scope is supported here (no domain or system scope).",
        ));
    };
    if let Some(id) = p.get("id").and_then(Value::as_str) {
        return Ok(Some(ProjectRef::Id(id.into())));
    }
    let name = p
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| Fault::bad_request("Expecting to find id or name in project"))?;
    in_our_domain(p)?;
    Ok(Some(ProjectRef::Name(name.into())))
}

fn password_credentials(identity: &Value) -> Result<Credentials, Fault> {
    let pw = entity(identity, "password")?;
    let user = entity(pw, "user")?;
    let password =
        str_field(user, "password")?.ok_or_else(|| Fault::unauthorized(AUTH_REQUIRED))?;
    Ok(Credentials::Password {
        user: user_ref(user)?,
        password: password.to_string(),
    })
}

fn token_credentials(identity: &Value) -> Result<Credentials, Fault> {
    let t = entity(identity, "token")?;
    let token =
        str_field(t, "id")?.ok_or_else(|| Fault::bad_request("Expecting to find id in token"))?;
    Ok(Credentials::Token(token.to_string()))
}

/// Reads a `POST /v3/auth/tokens` body: `password` wins over `token` among the methods.
pub fn parse_auth(v: &Value) -> Result<AuthRequest, Fault> {
    let auth = entity(v, "auth")?;
    let identity = entity(auth, "identity")?;
    let methods: Vec<&str> = identity
        .get("methods")
        .and_then(Value::as_array)
        .map(|m| m.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let scope = scope_ref(auth)?;
    let credentials = if methods.contains(&"password") {
        password_credentials(identity)?
    } else if methods.contains(&"token") {
        token_credentials(identity)?
    } else {
        return Err(Fault::unauthorized(format!(
            "Unsupported authentication methods {methods:?}: password and token are supported."
        )));
    };
    Ok(AuthRequest { credentials, scope })
}

/// A token as Keystone shows it; scoped ones carry their project, roles and (unless
/// `with_catalog` is off) the catalog.
pub fn token_json(t: &Token, cat: &Catalog, with_catalog: bool) -> Value {
    let domain = domain_ref();
    let mut v = json!({
        "methods": t.methods,
        "user": {"id": t.user.id, "name": t.user.name, "domain": domain, "password_expires_at": null},
        "audit_ids": [t.audit_id],
        "expires_at": iso(t.expires_at),
        "issued_at": iso(t.issued_at),
    });
    if let Some(p) = &t.project {
        v["project"] = json!({"id": p.id, "name": p.name, "domain": domain});
        v["is_domain"] = json!(false);
        v["roles"] = t
            .roles
            .iter()
            .map(|r| json!({"id": r.id, "name": r.name}))
            .collect();
        if with_catalog {
            v["catalog"] = catalog_json(cat);
        }
    }
    json!({"token": v})
}

/// Whether a token body should carry the catalog (`?nocatalog` leaves it out).
pub fn wants_catalog(query: &[(String, String)]) -> bool {
    query_value(query, "nocatalog").is_none()
}

/// A token reply: its body and the (sealed) token in `X-Subject-Token`.
fn token_reply(status: u16, t: Token, r: &Request) -> Reply {
    let body = token_json(&t, &identity::get_catalog(), wants_catalog(&r.query));
    Reply::json(status, &body).with_header("x-subject-token", t.token)
}

/// An unknown token presented to authenticate is bad credentials, not a missing thing.
fn not_found_is_unauthorized(e: IdentityError) -> Fault {
    match e {
        IdentityError::NotFound(_) => Fault::unauthorized(AUTH_REQUIRED),
        e => e.into(),
    }
}

/// `POST /v3/auth/tokens`.
pub fn issue(r: &Request) -> Result<Reply, Fault> {
    let req = parse_auth(&r.body_json()?)?;
    let token = match &req.credentials {
        Credentials::Password { user, password } => {
            identity::authenticate_password(user, password, req.scope.as_ref())?
        }
        Credentials::Token(t) => identity::authenticate_token(t, req.scope.as_ref())
            .map_err(not_found_is_unauthorized)?,
    };
    Ok(token_reply(201, token, r))
}

/// The token a request asks about (sealed), from `X-Subject-Token`.
fn subject(r: &Request) -> Result<&str, Fault> {
    r.header("x-subject-token")
        .ok_or_else(|| Fault::bad_request("X-Subject-Token header is required"))
}

/// `GET` and `HEAD /v3/auth/tokens`.
pub fn check(r: &Request) -> Result<Reply, Fault> {
    let c = r.caller()?;
    let token = identity::validate_token(c, subject(r)?)?;
    Ok(token_reply(200, token, r))
}

/// `DELETE /v3/auth/tokens`.
pub fn revoke(r: &Request) -> Result<Reply, Fault> {
    let c = r.caller()?;
    identity::revoke_token(c, subject(r)?)?;
    Ok(Reply::empty(204))
}

/// `GET /v3/auth/catalog`: for project-scoped tokens only.
pub fn catalog(r: &Request) -> Result<Reply, Fault> {
    let c = r.caller()?;
    if c.project_id.is_empty() {
        return Err(crate::not_authorized(
            "a catalog needs a project-scoped token",
        ));
    }
    let cat = identity::get_catalog();
    let link = format!("{}/auth/catalog", base_of(&cat));
    Ok(Reply::json(
        200,
        &json!({"catalog": catalog_json(&cat), "links": {"self": link}}),
    ))
}

/// `GET /v3/auth/projects`: the projects the caller holds a role on.
pub fn projects(r: &Request) -> Result<Reply, Fault> {
    let c = r.caller()?;
    let projects = identity::user_projects(c, &c.user_id)?;
    let b = base();
    let items = projects.iter().map(|p| project_json(&b, p)).collect();
    Ok(Reply::json(
        200,
        &collection(&b, "auth/projects", "projects", items),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::metacloud::api::identity::{Project, Role, User};
    use crate::catalog::tests::sample;

    fn password_body(user: Value, scope: Option<Value>) -> Value {
        let mut auth = json!({"identity": {"methods": ["password"], "password": {"user": user}}});
        if let Some(s) = scope {
            auth["scope"] = s;
        }
        json!({ "auth": auth })
    }

    #[test]
    fn password_auth_by_user_id() {
        let a = parse_auth(&password_body(
            json!({"id": "u1", "password": "sealed:n:1"}),
            None,
        ))
        .unwrap();
        match a.credentials {
            Credentials::Password { user, password } => {
                assert!(matches!(user, UserRef::Id(ref id) if id == "u1"));
                assert_eq!(password, "sealed:n:1");
            }
            other => panic!("{other:?}"),
        }
        assert!(a.scope.is_none());
    }

    #[test]
    fn password_auth_by_name_needs_the_default_domain() {
        let by_name = |domain: Value| {
            parse_auth(&password_body(
                json!({"name": "alice", "domain": domain, "password": "sealed:n:1"}),
                None,
            ))
        };
        let a = by_name(json!({"name": "Default"})).unwrap();
        assert!(matches!(
            a.credentials,
            Credentials::Password { user: UserRef::Name(ref n), .. } if n == "alice"
        ));
        assert!(by_name(json!({"id": "default"})).is_ok());
        let e = by_name(json!({"id": "elsewhere"})).unwrap_err();
        assert_eq!((e.status, e.message.as_str()), (401, AUTH_REQUIRED));
        let e = parse_auth(&password_body(
            json!({"name": "alice", "password": "sealed:n:1"}),
            None,
        ))
        .unwrap_err();
        assert_eq!(e.status, 401);
    }

    #[test]
    fn password_auth_errors() {
        // No password: bad credentials.
        let e = parse_auth(&password_body(json!({"id": "u1"}), None)).unwrap_err();
        assert_eq!((e.status, e.message.as_str()), (401, AUTH_REQUIRED));
        // A password that is not a string.
        let e = parse_auth(&password_body(json!({"id": "u1", "password": 5}), None)).unwrap_err();
        assert_eq!(e.status, 400);
        // Neither id nor name.
        let e = parse_auth(&password_body(json!({"password": "sealed:n:1"}), None)).unwrap_err();
        assert_eq!(
            (e.status, e.message.as_str()),
            (400, "Expecting to find id or name in user")
        );
        // No password object.
        let e = parse_auth(&json!({"auth": {"identity": {"methods": ["password"]}}})).unwrap_err();
        assert_eq!(
            (e.status, e.message.as_str()),
            (400, "Expecting to find password in request body")
        );
        let e = parse_auth(&json!({"nothing": {}})).unwrap_err();
        assert_eq!(e.message, "Expecting to find auth in request body");
        let e = parse_auth(&json!({"auth": {}})).unwrap_err();
        assert_eq!(e.message, "Expecting to find identity in request body");
    }

    #[test]
    fn token_auth() {
        let body = json!({"auth": {"identity": {"methods": ["token"], "token": {"id": "sealed:n:2"}},
                                   "scope": {"project": {"id": "p1"}}}});
        let a = parse_auth(&body).unwrap();
        assert!(matches!(a.credentials, Credentials::Token(ref t) if t == "sealed:n:2"));
        assert!(matches!(a.scope, Some(ProjectRef::Id(ref p)) if p == "p1"));
        let e = parse_auth(&json!({"auth": {"identity": {"methods": ["token"], "token": {}}}}))
            .unwrap_err();
        assert_eq!(
            (e.status, e.message.as_str()),
            (400, "Expecting to find id in token")
        );
    }

    #[test]
    fn password_wins_over_token() {
        let body = json!({"auth": {"identity": {"methods": ["token", "password"],
            "token": {"id": "sealed:n:2"},
            "password": {"user": {"id": "u1", "password": "sealed:n:1"}}}}});
        assert!(matches!(
            parse_auth(&body).unwrap().credentials,
            Credentials::Password { .. }
        ));
    }

    #[test]
    fn other_methods_are_refused() {
        let e = parse_auth(&json!({"auth": {"identity": {"methods": ["totp", 3]}}})).unwrap_err();
        assert_eq!(e.status, 401);
        assert_eq!(
            e.message,
            "Unsupported authentication methods [\"totp\"]: password and token are supported."
        );
        let e = parse_auth(&json!({"auth": {"identity": {}}})).unwrap_err();
        assert_eq!(
            e.message,
            "Unsupported authentication methods []: password and token are supported."
        );
    }

    #[test]
    fn scopes() {
        let scope = |s: Value| scope_ref(&json!({ "scope": s }));
        assert!(scope(json!("unscoped")).unwrap().is_none());
        assert!(scope_ref(&json!({})).unwrap().is_none());
        assert!(matches!(
            scope(json!({"project": {"name": "demo", "domain": {"id": "default"}}})).unwrap(),
            Some(ProjectRef::Name(ref n)) if n == "demo"
        ));
        let e = scope(json!({"project": {"name": "demo", "domain": {"id": "x"}}})).unwrap_err();
        assert_eq!(e.status, 401);
        let e = scope(json!({"project": {"domain": {"id": "default"}}})).unwrap_err();
        assert_eq!(
            (e.status, e.message.as_str()),
            (400, "Expecting to find id or name in project")
        );
        for other in [
            json!({"domain": {"id": "default"}}),
            json!({"system": {"all": true}}),
        ] {
            let e = scope(other).unwrap_err();
            assert_eq!(
                (e.status, e.message.as_str()),
                (
                    401,
                    "Only project scope is supported here (no domain or system scope)."
                )
            );
        }
        // The scope is read before the credentials.
        let e = parse_auth(&password_body(
            json!({"id": "u1"}),
            Some(json!({"domain": {"id": "default"}})),
        ))
        .unwrap_err();
        assert!(e.message.starts_with("Only project scope"), "{}", e.message);
    }

    fn token(project: bool) -> Token {
        Token {
            token: "sealed:n:9".into(),
            user: User {
                id: "u1".into(),
                name: "alice".into(),
                domain_id: "default".into(),
                enabled: true,
                description: String::new(),
                email: None,
                default_project_id: None,
            },
            project: project.then(|| Project {
                id: "p1".into(),
                name: "demo".into(),
                domain_id: "default".into(),
                description: String::new(),
                enabled: true,
            }),
            roles: vec![
                Role {
                    id: "r1".into(),
                    name: "member".into(),
                },
                Role {
                    id: "r2".into(),
                    name: "reader".into(),
                },
            ],
            methods: vec!["password".into()],
            issued_at: 1_764_594_957_123,
            expires_at: 1_764_598_557_123,
            audit_id: "audit1".into(),
        }
    }

    #[test]
    fn a_scoped_token_body() {
        let cat = sample();
        let v = token_json(&token(true), &cat, true);
        let domain = json!({"id": "default", "name": "Default"});
        assert_eq!(
            v,
            json!({"token": {
                "methods": ["password"],
                "user": {"id": "u1", "name": "alice", "domain": domain, "password_expires_at": null},
                "audit_ids": ["audit1"],
                "expires_at": "2025-12-01T14:15:57.123000Z",
                "issued_at": "2025-12-01T13:15:57.123000Z",
                "project": {"id": "p1", "name": "demo", "domain": domain},
                "is_domain": false,
                "roles": [{"id": "r1", "name": "member"}, {"id": "r2", "name": "reader"}],
                "catalog": catalog_json(&cat),
            }})
        );
        // The reference to the token itself is never in the body.
        assert!(!v.to_string().contains("sealed:"));
        let v = token_json(&token(true), &cat, false);
        assert!(v["token"].get("catalog").is_none());
        assert_eq!(v["token"]["roles"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn an_unscoped_token_body() {
        let v = token_json(&token(false), &sample(), true);
        for absent in ["project", "is_domain", "roles", "catalog"] {
            assert!(v["token"].get(absent).is_none(), "{absent}");
        }
        assert_eq!(v["token"]["user"]["id"], "u1");
    }

    #[test]
    fn nocatalog_with_or_without_a_value() {
        assert!(wants_catalog(&[]));
        assert!(!wants_catalog(&[("nocatalog".into(), String::new())]));
        assert!(!wants_catalog(&[("nocatalog".into(), "1".into())]));
    }

    #[test]
    fn unknown_tokens_are_bad_credentials() {
        let e = not_found_is_unauthorized(IdentityError::NotFound("Could not find token.".into()));
        assert_eq!((e.status, e.message.as_str()), (401, AUTH_REQUIRED));
        let e = not_found_is_unauthorized(IdentityError::Forbidden("no".into()));
        assert_eq!(e.status, 403);
    }
}
