//! Projects: listing (admins: all, others: their own), creation, reading, changes and
//! deletion.

use crate::bindings::metacloud::api::identity::{self, Project};
use crate::input::{bool_field, change_of, entity, required_name, str_field};
use crate::{base, collection, is_admin, Fault, KeystoneRequest, Reply, Request, DEFAULT_DOMAIN};
use serde_json::{json, Value};

pub fn project_json(base: &str, p: &Project) -> Value {
    json!({"id": p.id, "name": p.name, "domain_id": p.domain_id, "description": p.description,
           "enabled": p.enabled, "parent_id": p.domain_id, "is_domain": false, "tags": [],
           "options": {}, "links": {"self": format!("{base}/projects/{}", p.id)}})
}

/// A new project: name, description, enabled.
#[derive(Debug, PartialEq)]
pub struct NewProject {
    pub name: String,
    pub description: String,
    pub enabled: bool,
}

/// Reads `{"project": {"name", "description"?, "enabled"?, "domain_id"?}}`.
pub fn parse_new_project(v: &Value) -> Result<NewProject, Fault> {
    let p = entity(v, "project")?;
    let name = required_name(p)?;
    if let Some(d) = str_field(p, "domain_id")? {
        if d != DEFAULT_DOMAIN {
            return Err(Fault::bad_request(format!(
                "Domain {d} does not exist here"
            )));
        }
    }
    Ok(NewProject {
        name: name.to_string(),
        description: str_field(p, "description")?.unwrap_or("").to_string(),
        enabled: bool_field(p, "enabled")?.unwrap_or(true),
    })
}

/// `GET /v3/projects[?name=]`: everything for admins; the caller's own projects for
/// others, as Keystone lets a member see only those.
pub fn list(r: &Request) -> Result<Reply, Fault> {
    let c = r.caller()?;
    let name = r.query_last("name");
    let projects = if is_admin(c) {
        identity::list_projects(c, name)?
    } else {
        identity::user_projects(c, &c.user_id)?
            .into_iter()
            .filter(|p| name.is_none_or(|n| p.name == n))
            .collect()
    };
    let b = base();
    let items = projects.iter().map(|p| project_json(&b, p)).collect();
    Ok(Reply::json(
        200,
        &collection(&b, "projects", "projects", items),
    ))
}

pub fn create(r: &Request) -> Result<Reply, Fault> {
    let c = r.caller()?;
    let p = parse_new_project(&r.body_json()?)?;
    let project = identity::create_project(c, &p.name, &p.description, p.enabled)?;
    Ok(Reply::json(
        201,
        &json!({"project": project_json(&base(), &project)}),
    ))
}

pub fn show(r: &Request) -> Result<Reply, Fault> {
    let c = r.caller()?;
    let p = identity::get_project(c, r.param("project_id"))?;
    Ok(Reply::json(
        200,
        &json!({"project": project_json(&base(), &p)}),
    ))
}

pub fn update(r: &Request) -> Result<Reply, Fault> {
    let c = r.caller()?;
    let change = change_of(entity(&r.body_json()?, "project")?)?;
    let p = identity::update_project(c, r.param("project_id"), &change)?;
    Ok(Reply::json(
        200,
        &json!({"project": project_json(&base(), &p)}),
    ))
}

pub fn delete(r: &Request) -> Result<Reply, Fault> {
    let c = r.caller()?;
    identity::delete_project(c, r.param("project_id"))?;
    Ok(Reply::empty(204))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_project_as_keystone_shows_it() {
        let p = Project {
            id: "p1".into(),
            name: "demo".into(),
            domain_id: "default".into(),
            description: "d".into(),
            enabled: true,
        };
        assert_eq!(
            project_json("http://k/v3", &p),
            json!({"id": "p1", "name": "demo", "domain_id": "default", "description": "d",
                   "enabled": true, "parent_id": "default", "is_domain": false, "tags": [],
                   "options": {}, "links": {"self": "http://k/v3/projects/p1"}})
        );
    }

    #[test]
    fn new_projects() {
        assert_eq!(
            parse_new_project(&json!({"project": {"name": "demo"}})),
            Ok(NewProject {
                name: "demo".into(),
                description: String::new(),
                enabled: true
            })
        );
        assert_eq!(
            parse_new_project(&json!({"project": {"name": "demo", "description": "d",
                "enabled": false, "domain_id": "default"}})),
            Ok(NewProject {
                name: "demo".into(),
                description: "d".into(),
                enabled: false
            })
        );
        let e =
            parse_new_project(&json!({"project": {"name": "demo", "domain_id": "x"}})).unwrap_err();
        assert_eq!(
            (e.status, e.message.as_str()),
            (400, "Domain x does not exist here")
        );
        for bad in [
            json!({}),
            json!({"project": "demo"}),
            json!({"project": {}}),
            json!({"project": {"name": 1}}),
            json!({"project": {"name": "demo", "enabled": "yes"}}),
            json!({"project": {"name": "demo", "description": false}}),
        ] {
            assert_eq!(parse_new_project(&bad).unwrap_err().status, 400, "{bad}");
        }
    }
}
