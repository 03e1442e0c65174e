//! Roles, grants of roles on projects, and role assignments.

use crate::bindings::metacloud::api::identity::{self, Assignment, Caller, Role};
use crate::input::{entity, required_name};
use crate::{base, collection, domain_ref, Fault, KeystoneRequest, Reply, Request};
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub fn role_json(base: &str, r: &Role) -> Value {
    json!({"id": r.id, "name": r.name, "domain_id": null, "description": null, "options": {},
           "links": {"self": format!("{base}/roles/{}", r.id)}})
}

/// The name of a new role, from `{"role": {"name"}}`.
pub fn parse_new_role(v: &Value) -> Result<&str, Fault> {
    required_name(entity(v, "role")?)
}

/// `GET /v3/roles[?name=]`.
pub fn list(r: &Request) -> Result<Reply, Fault> {
    let c = r.caller()?;
    let roles = identity::list_roles(c, r.query_last("name"))?;
    let b = base();
    let items = roles.iter().map(|x| role_json(&b, x)).collect();
    Ok(Reply::json(200, &collection(&b, "roles", "roles", items)))
}

pub fn show(r: &Request) -> Result<Reply, Fault> {
    let c = r.caller()?;
    let role = identity::get_role(c, r.param("role_id"))?;
    Ok(Reply::json(
        200,
        &json!({"role": role_json(&base(), &role)}),
    ))
}

pub fn create(r: &Request) -> Result<Reply, Fault> {
    let c = r.caller()?;
    let body = r.body_json()?;
    // A name taken is the host's conflict.
    let role = identity::create_role(c, parse_new_role(&body)?)?;
    Ok(Reply::json(
        201,
        &json!({"role": role_json(&base(), &role)}),
    ))
}

/// The project, user and role of a grant route.
fn grant_of(r: &Request) -> (&str, &str, &str) {
    (
        r.param("project_id"),
        r.param("user_id"),
        r.param("role_id"),
    )
}

/// `PUT /v3/projects/{p}/users/{u}/roles/{r}`.
pub fn grant(r: &Request) -> Result<Reply, Fault> {
    let c = r.caller()?;
    let (p, u, role) = grant_of(r);
    identity::grant_role(c, p, u, role)?;
    Ok(Reply::empty(204))
}

/// Whether `roles` hold `role`, as a grant check answers.
pub fn grant_check(roles: &[Role], project: &str, user: &str, role: &str) -> Result<Reply, Fault> {
    if roles.iter().any(|x| x.id == role) {
        Ok(Reply::empty(204))
    } else {
        Err(Fault::not_found(format!(
            "Could not find role assignment with role: {role}, user: {user}, project: {project}."
        )))
    }
}

/// `HEAD` and `GET /v3/projects/{p}/users/{u}/roles/{r}`.
pub fn check_grant(r: &Request) -> Result<Reply, Fault> {
    let c = r.caller()?;
    let (p, u, role) = grant_of(r);
    grant_check(&identity::user_roles(c, p, u)?, p, u, role)
}

/// `DELETE /v3/projects/{p}/users/{u}/roles/{r}`.
pub fn revoke(r: &Request) -> Result<Reply, Fault> {
    let c = r.caller()?;
    let (p, u, role) = grant_of(r);
    identity::revoke_role(c, p, u, role)?;
    Ok(Reply::empty(204))
}

/// `GET /v3/projects/{p}/users/{u}/roles`.
pub fn list_grants(r: &Request) -> Result<Reply, Fault> {
    let c = r.caller()?;
    let (p, u) = (r.param("project_id"), r.param("user_id"));
    let roles = identity::user_roles(c, p, u)?;
    let b = base();
    Ok(Reply::json(
        200,
        &collection(
            &b,
            &format!("projects/{p}/users/{u}/roles"),
            "roles",
            roles.iter().map(|x| role_json(&b, x)).collect(),
        ),
    ))
}

/// The names of an assignment's role, user and project (`include_names`).
pub struct Names {
    pub role: String,
    pub user: String,
    pub project: String,
}

/// An assignment as Keystone lists it, with names when given.
pub fn assignment_json(base: &str, x: &Assignment, names: Option<&Names>) -> Value {
    let mut v = json!({"role": {"id": x.role_id}, "user": {"id": x.user_id},
        "scope": {"project": {"id": x.project_id}},
        "links": {"assignment": format!("{base}/projects/{}/users/{}/roles/{}",
                                        x.project_id, x.user_id, x.role_id)}});
    if let Some(n) = names {
        v["role"]["name"] = json!(n.role);
        v["user"]["name"] = json!(n.user);
        v["user"]["domain"] = domain_ref();
        v["scope"]["project"]["name"] = json!(n.project);
        v["scope"]["project"]["domain"] = domain_ref();
    }
    v
}

/// Whether `include_names` asks for names (present, and not `0` or false).
pub fn wants_names(value: Option<&str>) -> bool {
    value.is_some_and(|v| !matches!(v, "0" | "false" | "False"))
}

/// Names looked up once per request, whatever the number of assignments naming them.
#[derive(Default)]
struct NameCache {
    roles: BTreeMap<String, String>,
    users: BTreeMap<String, String>,
    projects: BTreeMap<String, String>,
}

impl NameCache {
    fn names(&mut self, c: &Caller, x: &Assignment) -> Result<Names, Fault> {
        Ok(Names {
            role: cached(&mut self.roles, &x.role_id, |id| {
                Ok(identity::get_role(c, id)?.name)
            })?,
            user: cached(&mut self.users, &x.user_id, |id| {
                Ok(identity::get_user(c, id)?.name)
            })?,
            project: cached(&mut self.projects, &x.project_id, |id| {
                Ok(identity::get_project(c, id)?.name)
            })?,
        })
    }
}

fn cached(
    cache: &mut BTreeMap<String, String>,
    id: &str,
    look_up: impl FnOnce(&str) -> Result<String, Fault>,
) -> Result<String, Fault> {
    if let Some(name) = cache.get(id) {
        return Ok(name.clone());
    }
    let name = look_up(id)?;
    cache.insert(id.to_string(), name.clone());
    Ok(name)
}

/// `GET /v3/role_assignments[?user.id=&scope.project.id=&role.id=&include_names]`.
pub fn assignments(r: &Request) -> Result<Reply, Fault> {
    let c = r.caller()?;
    let role = r.query_last("role.id");
    let found = identity::list_assignments(
        c,
        r.query_last("user.id"),
        r.query_last("scope.project.id"),
        role,
    )?;
    let with_names = wants_names(r.query_last("include_names"));
    let b = base();
    let mut cache = NameCache::default();
    let mut items = Vec::new();
    for x in found
        .iter()
        .filter(|x| role.is_none_or(|id| x.role_id == id))
    {
        let names = if with_names {
            Some(cache.names(c, x)?)
        } else {
            None
        };
        items.push(assignment_json(&b, x, names.as_ref()));
    }
    Ok(Reply::json(
        200,
        &collection(&b, "role_assignments", "role_assignments", items),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(id: &str) -> Role {
        Role {
            id: id.into(),
            name: format!("{id}-name"),
        }
    }

    #[test]
    fn a_role_as_keystone_shows_it() {
        assert_eq!(
            role_json("http://k/v3", &role("r1")),
            json!({"id": "r1", "name": "r1-name", "domain_id": null, "description": null,
                   "options": {}, "links": {"self": "http://k/v3/roles/r1"}})
        );
    }

    #[test]
    fn new_roles() {
        assert_eq!(
            parse_new_role(&json!({"role": {"name": "auditor"}})),
            Ok("auditor")
        );
        for bad in [
            json!({}),
            json!({"role": {}}),
            json!({"role": {"name": ""}}),
        ] {
            assert_eq!(parse_new_role(&bad).unwrap_err().status, 400, "{bad}");
        }
    }

    #[test]
    fn grant_checks() {
        let roles = [role("r1"), role("r2")];
        assert_eq!(grant_check(&roles, "p", "u", "r2").unwrap().status, 204);
        let e = grant_check(&roles, "p", "u", "r3").unwrap_err();
        assert_eq!(
            (e.status, e.message.as_str()),
            (
                404,
                "Could not find role assignment with role: r3, user: u, project: p."
            )
        );
    }

    #[test]
    fn assignments_with_and_without_names() {
        let x = Assignment {
            user_id: "u1".into(),
            project_id: "p1".into(),
            role_id: "r1".into(),
        };
        let plain = json!({"role": {"id": "r1"}, "user": {"id": "u1"},
            "scope": {"project": {"id": "p1"}},
            "links": {"assignment": "http://k/v3/projects/p1/users/u1/roles/r1"}});
        assert_eq!(assignment_json("http://k/v3", &x, None), plain);
        let names = Names {
            role: "member".into(),
            user: "alice".into(),
            project: "demo".into(),
        };
        let domain = json!({"id": "default", "name": "Default"});
        assert_eq!(
            assignment_json("http://k/v3", &x, Some(&names)),
            json!({"role": {"id": "r1", "name": "member"},
                   "user": {"id": "u1", "name": "alice", "domain": domain},
                   "scope": {"project": {"id": "p1", "name": "demo", "domain": domain}},
                   "links": {"assignment": "http://k/v3/projects/p1/users/u1/roles/r1"}})
        );
    }

    #[test]
    fn include_names_values() {
        assert!(!wants_names(None));
        for yes in ["", "1", "true", "True"] {
            assert!(wants_names(Some(yes)), "{yes}");
        }
        for no in ["0", "false", "False"] {
            assert!(!wants_names(Some(no)), "{no}");
        }
    }

    #[test]
    fn names_are_looked_up_once() {
        let mut cache = BTreeMap::new();
        let mut calls = 0;
        for _ in 0..3 {
            let name = cached(&mut cache, "r1", |id| {
                calls += 1;
                Ok(format!("{id}-name"))
            });
            assert_eq!(name, Ok("r1-name".to_string()));
        }
        assert_eq!(calls, 1);
        let e = cached(&mut cache, "r2", |_| Err(Fault::not_found("gone")));
        assert_eq!(e.unwrap_err().status, 404);
    }
}
