//! The identity API as Keystone v3 clients expect it (keystoneauth, openstacksdk,
//! python-openstackclient): JSON shapes, status codes and `X-Subject-Token`.
//!
//! Authentication is the host's job (plugins never see a password or a token), so this
//! API is served by the host itself rather than by a dialect plugin.

use crate::{Auth, Identity, IdentityError, ProjectRef, UserRef};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use metacloud_db::identity::{Change, Ec2Credential, NewUser, Project, Role, User, DEFAULT_DOMAIN};
use serde_json::{json, Value};
use std::collections::HashMap;

type Result<T> = std::result::Result<T, IdentityError>;
type Body = std::result::Result<Json<Value>, axum::extract::rejection::JsonRejection>;

impl IntoResponse for IdentityError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = json!({"error": {"code": status.as_u16(), "message": self.to_string(), "title": self.title()}});
        let mut resp = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert("www-authenticate", HeaderValue::from_static("Keystone"));
        }
        resp
    }
}

/// The router of the identity API.
pub fn router(identity: Identity) -> Router {
    Router::new()
        .route("/", get(versions))
        .route("/v3", get(version))
        .route("/v3/", get(version))
        .route(
            "/v3/auth/tokens",
            post(issue_token)
                .get(check_token)
                .head(check_token)
                .delete(revoke_token),
        )
        .route("/v3/auth/catalog", get(auth_catalog))
        .route("/v3/auth/projects", get(auth_projects))
        .route("/v3/domains", get(list_domains))
        .route("/v3/domains/{id}", get(show_domain))
        .route("/v3/projects", get(list_projects).post(create_project))
        .route(
            "/v3/projects/{id}",
            get(show_project)
                .patch(update_project)
                .delete(delete_project),
        )
        .route("/v3/projects/{p}/users/{u}/roles", get(list_user_roles))
        .route(
            "/v3/projects/{p}/users/{u}/roles/{r}",
            axum::routing::put(grant_role)
                .head(check_role)
                .get(check_role)
                .delete(revoke_role),
        )
        .route("/v3/users", get(list_users).post(create_user))
        .route(
            "/v3/users/{id}",
            get(show_user).patch(update_user).delete(delete_user),
        )
        .route("/v3/users/{id}/projects", get(user_projects))
        .route(
            "/v3/users/{id}/credentials/OS-EC2",
            get(list_ec2).post(create_ec2),
        )
        .route(
            "/v3/users/{id}/credentials/OS-EC2/{access}",
            get(show_ec2).delete(delete_ec2),
        )
        .route("/v3/roles", get(list_roles).post(create_role))
        .route("/v3/roles/{id}", get(show_role))
        .route("/v3/role_assignments", get(list_assignments))
        .route("/v3/services", get(list_services))
        .route("/v3/endpoints", get(list_endpoints))
        .route("/v3/regions", get(list_regions))
        .with_state(identity)
}

// --- helpers ---------------------------------------------------------------------------

fn base(id: &Identity) -> String {
    id.catalog().url("identity").unwrap_or("/v3").to_string()
}

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

fn body(b: Body) -> Result<Value> {
    b.map(|Json(v)| v).map_err(|e| {
        IdentityError::BadRequest(format!(
            "Invalid JSON in the request body: {}",
            e.body_text()
        ))
    })
}

/// The caller of a request, from `X-Auth-Token`.
async fn caller(id: &Identity, headers: &HeaderMap) -> Result<Auth> {
    let token = headers
        .get("x-auth-token")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(crate::unauthorized)?;
    id.validate(token).await.map_err(|e| match e {
        IdentityError::NotFound(_) => crate::unauthorized(),
        e => e,
    })
}

async fn admin(id: &Identity, headers: &HeaderMap, action: &str) -> Result<Auth> {
    let auth = caller(id, headers).await?;
    if auth.is_admin() {
        Ok(auth)
    } else {
        Err(IdentityError::Forbidden(format!("identity:{action}")))
    }
}

fn domain_json(base: &str) -> Value {
    json!({"id": DEFAULT_DOMAIN, "name": "Default", "description": "The default domain",
           "enabled": true, "tags": [], "options": {},
           "links": {"self": format!("{base}/domains/{DEFAULT_DOMAIN}")}})
}

fn project_json(base: &str, p: &Project) -> Value {
    json!({"id": p.id, "name": p.name, "domain_id": p.domain_id, "description": p.description,
           "enabled": p.enabled, "parent_id": p.domain_id, "is_domain": false, "tags": [],
           "options": {}, "links": {"self": format!("{base}/projects/{}", p.id)}})
}

fn user_json(base: &str, u: &User) -> Value {
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

fn role_json(base: &str, r: &Role) -> Value {
    json!({"id": r.id, "name": r.name, "domain_id": null, "description": null, "options": {},
           "links": {"self": format!("{base}/roles/{}", r.id)}})
}

fn collection(base: &str, path: &str, key: &str, items: Vec<Value>) -> Value {
    json!({key: items, "links": {"self": format!("{base}/{path}"), "previous": null, "next": null}})
}

fn catalog_json(id: &Identity) -> Value {
    let region = &id.catalog().region;
    Value::Array(
        id.catalog()
            .services
            .iter()
            .map(|s| {
                let endpoints: Vec<Value> = ["public", "internal", "admin"]
                    .iter()
                    .map(|iface| {
                        json!({"id": format!("{}-{iface}", s.id), "interface": iface,
                        "region": region, "region_id": region, "url": s.url})
                    })
                    .collect();
                json!({"id": s.id, "type": s.kind, "name": s.name, "endpoints": endpoints})
            })
            .collect(),
    )
}

fn token_json(id: &Identity, a: &Auth, with_catalog: bool) -> Value {
    let domain = json!({"id": DEFAULT_DOMAIN, "name": "Default"});
    let mut t = json!({
        "methods": a.methods,
        "user": {"id": a.user.id, "name": a.user.name, "domain": domain, "password_expires_at": null},
        "audit_ids": [a.audit_id],
        "expires_at": iso(a.expires_at),
        "issued_at": iso(a.issued_at),
    });
    if let Some(p) = &a.project {
        t["project"] = json!({"id": p.id, "name": p.name, "domain": domain});
        t["is_domain"] = json!(false);
        t["roles"] = json!(a
            .roles
            .iter()
            .map(|r| json!({"id": r.id, "name": r.name}))
            .collect::<Vec<_>>());
        if with_catalog {
            t["catalog"] = catalog_json(id);
        }
    }
    json!({"token": t})
}

fn is_our_domain(d: &Value) -> bool {
    match (
        d.get("id").and_then(Value::as_str),
        d.get("name").and_then(Value::as_str),
    ) {
        (Some(id), _) => id == DEFAULT_DOMAIN,
        (None, Some(name)) => name.eq_ignore_ascii_case("default"),
        (None, None) => false,
    }
}

fn user_ref(v: &Value) -> Result<UserRef> {
    if let Some(id) = v.get("id").and_then(Value::as_str) {
        return Ok(UserRef::Id(id.into()));
    }
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| IdentityError::BadRequest("Expecting to find id or name in user".into()))?;
    match v.get("domain") {
        Some(d) if is_our_domain(d) => Ok(UserRef::Name(name.into())),
        _ => Err(crate::unauthorized()),
    }
}

fn scope_ref(auth: &Value) -> Result<Option<ProjectRef>> {
    let Some(scope) = auth.get("scope") else {
        return Ok(None);
    };
    if scope.as_str() == Some("unscoped") {
        return Ok(None);
    }
    if let Some(p) = scope.get("project") {
        if let Some(id) = p.get("id").and_then(Value::as_str) {
            return Ok(Some(ProjectRef::Id(id.into())));
        }
        let name = p.get("name").and_then(Value::as_str).ok_or_else(|| {
            IdentityError::BadRequest("Expecting to find id or name in project".into())
        })?;
        return match p.get("domain") {
            Some(d) if is_our_domain(d) => Ok(Some(ProjectRef::Name(name.into()))),
            _ => Err(crate::unauthorized()),
        };
    }
    Err(IdentityError::Unauthorized(
        "Only project scope is supported here (no domain or system scope).".into(),
    ))
}

fn str_field<'a>(v: &'a Value, key: &str) -> Result<Option<&'a str>> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(IdentityError::BadRequest(format!(
            "Invalid input for field '{key}': not a string"
        ))),
    }
}

fn bool_field(v: &Value, key: &str) -> Result<Option<bool>> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(IdentityError::BadRequest(format!(
            "Invalid input for field '{key}': not a boolean"
        ))),
    }
}

fn entity<'a>(v: &'a Value, key: &str) -> Result<&'a Value> {
    v.get(key).filter(|x| x.is_object()).ok_or_else(|| {
        IdentityError::BadRequest(format!("Expecting to find {key} in request body"))
    })
}

fn name_ok(name: &str) -> Result<()> {
    if name.trim().is_empty() || name.len() > 255 {
        return Err(IdentityError::BadRequest(
            "Invalid input for field 'name': must be 1 to 255 characters".into(),
        ));
    }
    Ok(())
}

// --- versions ----------------------------------------------------------------------------

fn version_json(base: &str) -> Value {
    json!({"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
           "links": [{"rel": "self", "href": format!("{base}/")}],
           "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}]})
}

async fn versions(State(id): State<Identity>) -> impl IntoResponse {
    (
        StatusCode::MULTIPLE_CHOICES,
        Json(json!({"versions": {"values": [version_json(&base(&id))]}})),
    )
}

async fn version(State(id): State<Identity>) -> impl IntoResponse {
    Json(json!({"version": version_json(&base(&id))}))
}

// --- tokens ------------------------------------------------------------------------------

#[derive(serde::Deserialize, Default)]
struct TokenQuery {
    nocatalog: Option<String>,
}

async fn issue_token(
    State(id): State<Identity>,
    Query(q): Query<TokenQuery>,
    b: Body,
) -> Result<Response> {
    let v = body(b)?;
    let auth = entity(&v, "auth")?;
    let identity = entity(auth, "identity")?;
    let methods: Vec<&str> = identity
        .get("methods")
        .and_then(Value::as_array)
        .map(|m| m.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let scope = scope_ref(auth)?;
    let a = if methods.contains(&"password") {
        let pw = entity(identity, "password")?;
        let user = entity(pw, "user")?;
        let password = str_field(user, "password")?.ok_or_else(crate::unauthorized)?;
        id.authenticate_password(&user_ref(user)?, password, scope.as_ref())
            .await?
    } else if methods.contains(&"token") {
        let t = entity(identity, "token")?;
        let token = str_field(t, "id")?
            .ok_or_else(|| IdentityError::BadRequest("Expecting to find id in token".into()))?;
        id.authenticate_token(token, scope.as_ref())
            .await
            .map_err(|e| match e {
                IdentityError::NotFound(_) => crate::unauthorized(),
                e => e,
            })?
    } else {
        return Err(IdentityError::Unauthorized(format!(
            "Unsupported authentication methods {methods:?}: password and token are supported."
        )));
    };
    let mut resp = (
        StatusCode::CREATED,
        Json(token_json(&id, &a, q.nocatalog.is_none())),
    )
        .into_response();
    resp.headers_mut().insert(
        "x-subject-token",
        HeaderValue::from_str(&a.token).map_err(|e| IdentityError::Internal(e.to_string()))?,
    );
    Ok(resp)
}

fn subject(headers: &HeaderMap) -> Result<String> {
    headers
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| IdentityError::BadRequest("X-Subject-Token header is required".into()))
}

async fn check_token(
    State(id): State<Identity>,
    Query(q): Query<TokenQuery>,
    headers: HeaderMap,
) -> Result<Response> {
    let me = caller(&id, &headers).await?;
    let token = subject(&headers)?;
    let a = id.validate(&token).await?;
    // Anyone may check their own token; others' only an admin.
    if a.user.id != me.user.id && !me.is_admin() {
        return Err(IdentityError::Forbidden("identity:validate_token".into()));
    }
    let mut resp = Json(token_json(&id, &a, q.nocatalog.is_none())).into_response();
    resp.headers_mut().insert(
        "x-subject-token",
        HeaderValue::from_str(&a.token).map_err(|e| IdentityError::Internal(e.to_string()))?,
    );
    Ok(resp)
}

async fn revoke_token(State(id): State<Identity>, headers: HeaderMap) -> Result<StatusCode> {
    let me = caller(&id, &headers).await?;
    let token = subject(&headers)?;
    let a = id.validate(&token).await?;
    if a.user.id != me.user.id && !me.is_admin() {
        return Err(IdentityError::Forbidden("identity:revoke_token".into()));
    }
    id.revoke(&token).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn auth_catalog(State(id): State<Identity>, headers: HeaderMap) -> Result<Json<Value>> {
    let a = caller(&id, &headers).await?;
    if a.project.is_none() {
        return Err(IdentityError::Forbidden(
            "a catalog needs a project-scoped token".into(),
        ));
    }
    Ok(Json(
        json!({"catalog": catalog_json(&id), "links": {"self": format!("{}/auth/catalog", base(&id))}}),
    ))
}

async fn projects_of(id: &Identity, user: &str) -> Result<Vec<Project>> {
    let mut out: Vec<Project> = Vec::new();
    for a in id.db().list_assignments(Some(user), None).await? {
        if !out.iter().any(|p| p.id == a.project_id) {
            out.push(id.db().get_project(&a.project_id).await?);
        }
    }
    Ok(out)
}

async fn auth_projects(State(id): State<Identity>, headers: HeaderMap) -> Result<Json<Value>> {
    let a = caller(&id, &headers).await?;
    let b = base(&id);
    let items = projects_of(&id, &a.user.id)
        .await?
        .iter()
        .map(|p| project_json(&b, p))
        .collect();
    Ok(Json(collection(&b, "auth/projects", "projects", items)))
}

// --- domains -----------------------------------------------------------------------------

async fn list_domains(State(id): State<Identity>, headers: HeaderMap) -> Result<Json<Value>> {
    caller(&id, &headers).await?;
    let b = base(&id);
    Ok(Json(collection(
        &b,
        "domains",
        "domains",
        vec![domain_json(&b)],
    )))
}

async fn show_domain(
    State(id): State<Identity>,
    headers: HeaderMap,
    Path(d): Path<String>,
) -> Result<Json<Value>> {
    caller(&id, &headers).await?;
    if d != DEFAULT_DOMAIN && !d.eq_ignore_ascii_case("default") {
        return Err(IdentityError::NotFound(format!(
            "Could not find domain: {d}."
        )));
    }
    Ok(Json(json!({"domain": domain_json(&base(&id))})))
}

// --- projects ----------------------------------------------------------------------------

async fn list_projects(
    State(id): State<Identity>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>> {
    let a = caller(&id, &headers).await?;
    let b = base(&id);
    let projects = if a.is_admin() {
        id.db()
            .list_projects(q.get("name").map(String::as_str))
            .await?
    } else {
        // Keystone lets a member list only what it can see: its own projects.
        projects_of(&id, &a.user.id)
            .await?
            .into_iter()
            .filter(|p| q.get("name").is_none_or(|n| &p.name == n))
            .collect()
    };
    let items = projects.iter().map(|p| project_json(&b, p)).collect();
    Ok(Json(collection(&b, "projects", "projects", items)))
}

async fn create_project(
    State(id): State<Identity>,
    headers: HeaderMap,
    b: Body,
) -> Result<Response> {
    admin(&id, &headers, "create_project").await?;
    let v = body(b)?;
    let p = entity(&v, "project")?;
    let name = str_field(p, "name")?
        .ok_or_else(|| IdentityError::BadRequest("'name' is a required property".into()))?;
    name_ok(name)?;
    if let Some(d) = str_field(p, "domain_id")? {
        if d != DEFAULT_DOMAIN {
            return Err(IdentityError::BadRequest(format!(
                "Domain {d} does not exist here"
            )));
        }
    }
    let project = id
        .db()
        .create_project(
            name,
            str_field(p, "description")?.unwrap_or(""),
            bool_field(p, "enabled")?.unwrap_or(true),
        )
        .await?;
    tracing::info!(project = %project.name, id = %project.id, "project created");
    Ok((
        StatusCode::CREATED,
        Json(json!({"project": project_json(&base(&id), &project)})),
    )
        .into_response())
}

async fn show_project(
    State(id): State<Identity>,
    headers: HeaderMap,
    Path(pid): Path<String>,
) -> Result<Json<Value>> {
    let a = caller(&id, &headers).await?;
    if !a.is_admin() && a.project_id() != Some(pid.as_str()) {
        return Err(IdentityError::Forbidden("identity:get_project".into()));
    }
    let p = id.db().get_project(&pid).await?;
    Ok(Json(json!({"project": project_json(&base(&id), &p)})))
}

fn change_of(v: &Value) -> Result<Change> {
    if let Some(n) = str_field(v, "name")? {
        name_ok(n)?;
    }
    Ok(Change {
        name: str_field(v, "name")?.map(String::from),
        description: str_field(v, "description")?.map(String::from),
        enabled: bool_field(v, "enabled")?,
        email: v.get("email").map(|e| e.as_str().map(String::from)),
        default_project_id: v
            .get("default_project_id")
            .map(|e| e.as_str().map(String::from)),
        password_hash: None,
    })
}

async fn update_project(
    State(id): State<Identity>,
    headers: HeaderMap,
    Path(pid): Path<String>,
    b: Body,
) -> Result<Json<Value>> {
    admin(&id, &headers, "update_project").await?;
    let v = body(b)?;
    let p = id
        .db()
        .update_project(&pid, &change_of(entity(&v, "project")?)?)
        .await?;
    Ok(Json(json!({"project": project_json(&base(&id), &p)})))
}

async fn delete_project(
    State(id): State<Identity>,
    headers: HeaderMap,
    Path(pid): Path<String>,
) -> Result<StatusCode> {
    admin(&id, &headers, "delete_project").await?;
    id.db().delete_project(&pid).await?;
    tracing::info!(project = %pid, "project deleted");
    Ok(StatusCode::NO_CONTENT)
}

// --- users -------------------------------------------------------------------------------

async fn list_users(
    State(id): State<Identity>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>> {
    admin(&id, &headers, "list_users").await?;
    let b = base(&id);
    let users = id
        .db()
        .list_users(q.get("name").map(String::as_str))
        .await?;
    Ok(Json(collection(
        &b,
        "users",
        "users",
        users.iter().map(|u| user_json(&b, u)).collect(),
    )))
}

async fn hash_of(password: &str) -> Result<String> {
    let pw = password.to_string();
    tokio::task::spawn_blocking(move || crate::password::hash(&pw))
        .await
        .map_err(|e| IdentityError::Internal(e.to_string()))
}

async fn create_user(State(id): State<Identity>, headers: HeaderMap, b: Body) -> Result<Response> {
    admin(&id, &headers, "create_user").await?;
    let v = body(b)?;
    let u = entity(&v, "user")?;
    let name = str_field(u, "name")?
        .ok_or_else(|| IdentityError::BadRequest("'name' is a required property".into()))?;
    name_ok(name)?;
    let default_project = str_field(u, "default_project_id")?;
    if let Some(p) = default_project {
        id.db()
            .get_project(p)
            .await
            .map_err(|_| IdentityError::BadRequest(format!("Could not find project: {p}.")))?;
    }
    let password_hash = match str_field(u, "password")? {
        Some(pw) => Some(hash_of(pw).await?),
        None => None,
    };
    let user = id
        .db()
        .create_user(&NewUser {
            name: name.into(),
            password_hash,
            default_project_id: default_project.map(String::from),
            email: str_field(u, "email")?.map(String::from),
            description: str_field(u, "description")?.unwrap_or("").into(),
            enabled: bool_field(u, "enabled")?.unwrap_or(true),
        })
        .await?;
    tracing::info!(user = %user.name, id = %user.id, "user created");
    Ok((
        StatusCode::CREATED,
        Json(json!({"user": user_json(&base(&id), &user)})),
    )
        .into_response())
}

async fn self_or_admin(
    id: &Identity,
    headers: &HeaderMap,
    user: &str,
    action: &str,
) -> Result<Auth> {
    let a = caller(id, headers).await?;
    if a.user.id != user && !a.is_admin() {
        return Err(IdentityError::Forbidden(format!("identity:{action}")));
    }
    Ok(a)
}

async fn show_user(
    State(id): State<Identity>,
    headers: HeaderMap,
    Path(uid): Path<String>,
) -> Result<Json<Value>> {
    self_or_admin(&id, &headers, &uid, "get_user").await?;
    let u = id.db().get_user(&uid).await?;
    Ok(Json(json!({"user": user_json(&base(&id), &u)})))
}

async fn update_user(
    State(id): State<Identity>,
    headers: HeaderMap,
    Path(uid): Path<String>,
    b: Body,
) -> Result<Json<Value>> {
    admin(&id, &headers, "update_user").await?;
    let v = body(b)?;
    let u = entity(&v, "user")?;
    let mut change = change_of(u)?;
    if let Some(pw) = str_field(u, "password")? {
        change.password_hash = Some(hash_of(pw).await?);
    }
    let user = id.db().update_user(&uid, &change).await?;
    Ok(Json(json!({"user": user_json(&base(&id), &user)})))
}

async fn delete_user(
    State(id): State<Identity>,
    headers: HeaderMap,
    Path(uid): Path<String>,
) -> Result<StatusCode> {
    admin(&id, &headers, "delete_user").await?;
    id.db().delete_user(&uid).await?;
    tracing::info!(user = %uid, "user deleted");
    Ok(StatusCode::NO_CONTENT)
}

async fn user_projects(
    State(id): State<Identity>,
    headers: HeaderMap,
    Path(uid): Path<String>,
) -> Result<Json<Value>> {
    self_or_admin(&id, &headers, &uid, "list_user_projects").await?;
    let b = base(&id);
    let items = projects_of(&id, &uid)
        .await?
        .iter()
        .map(|p| project_json(&b, p))
        .collect();
    Ok(Json(collection(
        &b,
        &format!("users/{uid}/projects"),
        "projects",
        items,
    )))
}

// --- roles -------------------------------------------------------------------------------

async fn list_roles(
    State(id): State<Identity>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>> {
    caller(&id, &headers).await?;
    let b = base(&id);
    let roles = id
        .db()
        .list_roles(q.get("name").map(String::as_str))
        .await?;
    Ok(Json(collection(
        &b,
        "roles",
        "roles",
        roles.iter().map(|r| role_json(&b, r)).collect(),
    )))
}

async fn show_role(
    State(id): State<Identity>,
    headers: HeaderMap,
    Path(rid): Path<String>,
) -> Result<Json<Value>> {
    caller(&id, &headers).await?;
    let r = id.db().get_role(&rid).await?;
    Ok(Json(json!({"role": role_json(&base(&id), &r)})))
}

async fn create_role(State(id): State<Identity>, headers: HeaderMap, b: Body) -> Result<Response> {
    admin(&id, &headers, "create_role").await?;
    let v = body(b)?;
    let r = entity(&v, "role")?;
    let name = str_field(r, "name")?
        .ok_or_else(|| IdentityError::BadRequest("'name' is a required property".into()))?;
    name_ok(name)?;
    if id.db().find_role(name).await.is_ok() {
        return Err(IdentityError::Conflict(format!(
            "Duplicate entry found with name {name}."
        )));
    }
    let role = id.db().ensure_role(name).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"role": role_json(&base(&id), &role)})),
    )
        .into_response())
}

async fn grant_role(
    State(id): State<Identity>,
    headers: HeaderMap,
    Path((p, u, r)): Path<(String, String, String)>,
) -> Result<StatusCode> {
    admin(&id, &headers, "create_grant").await?;
    id.db().assign_role(&p, &u, &r).await?;
    tracing::info!(project = %p, user = %u, role = %r, "role granted");
    Ok(StatusCode::NO_CONTENT)
}

async fn check_role(
    State(id): State<Identity>,
    headers: HeaderMap,
    Path((p, u, r)): Path<(String, String, String)>,
) -> Result<StatusCode> {
    self_or_admin(&id, &headers, &u, "check_grant").await?;
    if id.db().roles_on(&u, &p).await?.iter().any(|x| x.id == r) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(IdentityError::NotFound(format!(
            "Could not find role assignment with role: {r}, user: {u}, project: {p}."
        )))
    }
}

async fn revoke_role(
    State(id): State<Identity>,
    headers: HeaderMap,
    Path((p, u, r)): Path<(String, String, String)>,
) -> Result<StatusCode> {
    admin(&id, &headers, "revoke_grant").await?;
    id.db().unassign_role(&p, &u, &r).await?;
    tracing::info!(project = %p, user = %u, role = %r, "role revoked");
    Ok(StatusCode::NO_CONTENT)
}

async fn list_user_roles(
    State(id): State<Identity>,
    headers: HeaderMap,
    Path((p, u)): Path<(String, String)>,
) -> Result<Json<Value>> {
    self_or_admin(&id, &headers, &u, "list_grants").await?;
    let b = base(&id);
    let roles = id.db().roles_on(&u, &p).await?;
    Ok(Json(collection(
        &b,
        &format!("projects/{p}/users/{u}/roles"),
        "roles",
        roles.iter().map(|r| role_json(&b, r)).collect(),
    )))
}

async fn list_assignments(
    State(id): State<Identity>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>> {
    let a = caller(&id, &headers).await?;
    let user = q.get("user.id").map(String::as_str);
    if !a.is_admin() && user != Some(a.user.id.as_str()) {
        return Err(IdentityError::Forbidden(
            "identity:list_role_assignments".into(),
        ));
    }
    let b = base(&id);
    let names = q
        .get("include_names")
        .is_some_and(|v| !matches!(v.as_str(), "0" | "false" | "False"));
    let domain = json!({"id": DEFAULT_DOMAIN, "name": "Default"});
    let mut items: Vec<Value> = Vec::new();
    for x in id
        .db()
        .list_assignments(user, q.get("scope.project.id").map(String::as_str))
        .await?
        .into_iter()
        .filter(|x| q.get("role.id").is_none_or(|r| &x.role_id == r))
    {
        let mut v = json!({"role": {"id": x.role_id}, "user": {"id": x.user_id},
               "scope": {"project": {"id": x.project_id}},
               "links": {"assignment": format!("{b}/projects/{}/users/{}/roles/{}", x.project_id, x.user_id, x.role_id)}});
        if names {
            v["role"]["name"] = json!(id.db().get_role(&x.role_id).await?.name);
            v["user"]["name"] = json!(id.db().get_user(&x.user_id).await?.name);
            v["user"]["domain"] = domain.clone();
            v["scope"]["project"]["name"] = json!(id.db().get_project(&x.project_id).await?.name);
            v["scope"]["project"]["domain"] = domain.clone();
        }
        items.push(v);
    }
    Ok(Json(collection(
        &b,
        "role_assignments",
        "role_assignments",
        items,
    )))
}

// --- catalog administration views ---------------------------------------------------------

async fn list_services(State(id): State<Identity>, headers: HeaderMap) -> Result<Json<Value>> {
    caller(&id, &headers).await?;
    let b = base(&id);
    let items = id
        .catalog()
        .services
        .iter()
        .map(|s| {
            json!({"id": s.id, "type": s.kind, "name": s.name, "enabled": true,
                        "links": {"self": format!("{b}/services/{}", s.id)}})
        })
        .collect();
    Ok(Json(collection(&b, "services", "services", items)))
}

async fn list_endpoints(State(id): State<Identity>, headers: HeaderMap) -> Result<Json<Value>> {
    caller(&id, &headers).await?;
    let b = base(&id);
    let region = &id.catalog().region;
    let mut items = Vec::new();
    for s in &id.catalog().services {
        for iface in ["public", "internal", "admin"] {
            items.push(
                json!({"id": format!("{}-{iface}", s.id), "interface": iface, "region": region,
                "region_id": region, "service_id": s.id, "url": s.url, "enabled": true,
                "links": {"self": format!("{b}/endpoints/{}-{iface}", s.id)}}),
            );
        }
    }
    Ok(Json(collection(&b, "endpoints", "endpoints", items)))
}

async fn list_regions(State(id): State<Identity>, headers: HeaderMap) -> Result<Json<Value>> {
    caller(&id, &headers).await?;
    let b = base(&id);
    let r = &id.catalog().region;
    Ok(Json(collection(
        &b,
        "regions",
        "regions",
        vec![json!({"id": r, "description": "", "parent_region_id": null,
        "links": {"self": format!("{b}/regions/{r}")}})],
    )))
}

// --- EC2 credentials ----------------------------------------------------------------------

fn ec2_json(base: &str, c: &Ec2Credential) -> Value {
    json!({"user_id": c.user_id, "tenant_id": c.project_id, "access": c.access, "secret": c.secret,
           "trust_id": null,
           "links": {"self": format!("{base}/users/{}/credentials/OS-EC2/{}", c.user_id, c.access)}})
}

async fn list_ec2(
    State(id): State<Identity>,
    headers: HeaderMap,
    Path(uid): Path<String>,
) -> Result<Json<Value>> {
    self_or_admin(&id, &headers, &uid, "ec2_list_credentials").await?;
    let b = base(&id);
    let items = id
        .db()
        .list_ec2_credentials(&uid)
        .await?
        .iter()
        .map(|c| ec2_json(&b, c))
        .collect();
    Ok(Json(collection(
        &b,
        &format!("users/{uid}/credentials/OS-EC2"),
        "credentials",
        items,
    )))
}

async fn create_ec2(
    State(id): State<Identity>,
    headers: HeaderMap,
    Path(uid): Path<String>,
    b: Body,
) -> Result<Response> {
    let a = self_or_admin(&id, &headers, &uid, "ec2_create_credential").await?;
    let v = body(b)?;
    let project = str_field(&v, "tenant_id")?
        .map(String::from)
        .or_else(|| a.project_id().map(String::from))
        .ok_or_else(|| {
            IdentityError::BadRequest("Expecting to find tenant_id in request body".into())
        })?;
    if id.db().roles_on(&uid, &project).await?.is_empty() {
        return Err(IdentityError::Forbidden(format!(
            "user {uid} has no role on project {project}"
        )));
    }
    let c = id.db().create_ec2_credential(&uid, &project).await?;
    tracing::info!(user = %uid, project = %project, access = %c.access, "EC2 credential created");
    Ok((
        StatusCode::CREATED,
        Json(json!({"credential": ec2_json(&base(&id), &c)})),
    )
        .into_response())
}

async fn show_ec2(
    State(id): State<Identity>,
    headers: HeaderMap,
    Path((uid, access)): Path<(String, String)>,
) -> Result<Json<Value>> {
    self_or_admin(&id, &headers, &uid, "ec2_get_credential").await?;
    let c = id.db().get_ec2_credential(&access).await?;
    if c.user_id != uid {
        return Err(IdentityError::NotFound(format!(
            "Could not find credential: {access}."
        )));
    }
    Ok(Json(json!({"credential": ec2_json(&base(&id), &c)})))
}

async fn delete_ec2(
    State(id): State<Identity>,
    headers: HeaderMap,
    Path((uid, access)): Path<(String, String)>,
) -> Result<StatusCode> {
    self_or_admin(&id, &headers, &uid, "ec2_delete_credential").await?;
    let c = id.db().get_ec2_credential(&access).await?;
    if c.user_id != uid {
        return Err(IdentityError::NotFound(format!(
            "Could not find credential: {access}."
        )));
    }
    id.db().delete_ec2_credential(&access).await?;
    Ok(StatusCode::NO_CONTENT)
}
