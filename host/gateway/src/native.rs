//! The native HTTP surface of the compute API: JSON over HTTP for operators, tests and
//! the CLI. Every request needs the service token (`X-Auth-Token`) and acts for the
//! project, user and roles it names (`X-Project-Id`, `X-User-Id`, `X-Roles`), as a
//! trusted service would; tenants use the OpenStack and EC2 dialects instead.

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use metacloud_api::{ApiError, ComputeApi, Context, CreateRequest};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use tracing::Instrument;

/// Shared state of the HTTP handlers.
#[derive(Clone)]
pub struct AppState {
    pub api: ComputeApi,
    pub token: Arc<String>,
}

/// A compute API error as the native API answers it: `{"error": {"code", "message"}}`.
struct Failure(ApiError);

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Failure {
        Failure(e)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = json!({"error": {"code": status.as_u16(), "message": self.0.to_string()}});
        (status, Json(body)).into_response()
    }
}

/// The router of the native API.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { Json(json!({"service": "metacloud", "api": "v1"})) }),
        )
        .route("/v1/servers", post(create).get(list))
        .route("/v1/servers/{id}", get(show).delete(delete))
        .route("/v1/servers/{id}/action", post(action))
        .route("/v1/servers/{id}/actions", get(actions))
        .route("/v1/servers/{id}/console", get(console))
        .route("/v1/services", get(services))
        .route("/v1/hypervisors", get(hypervisors))
        .route("/v1/hypervisors/{host}/domains", get(domains))
        .route("/v1/scheduler", get(scheduler_report))
        .route("/v1/scheduler/reload", post(reload_schedulers))
        .route("/v1/server-groups", post(create_group).get(list_groups))
        .route(
            "/v1/server-groups/{id}",
            get(show_group).delete(delete_group),
        )
        .route(
            "/v1/aggregates",
            post(create_aggregate).get(list_aggregates),
        )
        .route(
            "/v1/aggregates/{id}",
            get(show_aggregate).delete(delete_aggregate),
        )
        .route("/v1/aggregates/{id}/action", post(aggregate_action))
        .route("/v1/quotas/{project}", get(quota_usage))
        .route("/v1/quotas/{project}/{resource}", put(set_quota))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .with_state(state)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .filter(|s| !s.is_empty())
}

/// Checks the token, builds the request context, and runs the handler in a span carrying
/// the request id, which is also returned as `X-OpenStack-Request-ID`.
async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let request_id = metacloud_rpc::new_request_id();
    let headers = req.headers();
    let is_root = req.uri().path() == "/";
    let authorised = header(headers, "x-auth-token")
        .map(|t| constant_time_eq(t.as_bytes(), state.token.as_bytes()))
        .unwrap_or(false);
    if !authorised && !is_root {
        let body = json!({"error": {"code": 401, "message": "The request you have made requires authentication."}});
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    }
    let ctx = Context {
        request_id: request_id.clone(),
        project_id: header(headers, "x-project-id").unwrap_or_else(|| "admin".into()),
        user_id: header(headers, "x-user-id").unwrap_or_else(|| "admin".into()),
        roles: header(headers, "x-roles")
            .unwrap_or_else(|| "admin,member,reader".into())
            .split(',')
            .map(|r| r.trim().to_string())
            .collect(),
    };
    let span = tracing::info_span!("api", request_id = %request_id, method = %req.method(), path = %req.uri().path());
    req.extensions_mut().insert(ctx);
    let mut response =
        metacloud_rpc::with_request_id(request_id.clone(), next.run(req).instrument(span)).await;
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-openstack-request-id", v);
    }
    response
}

type Ctx = axum::Extension<Context>;
type Result<T> = std::result::Result<T, Failure>;

async fn create(
    State(s): State<AppState>,
    ctx: Ctx,
    body: std::result::Result<Json<CreateRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<impl IntoResponse> {
    let Json(req) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let servers = s.api.create(&ctx, req).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "servers": servers }))))
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    all_projects: Option<String>,
}

async fn list(
    State(s): State<AppState>,
    ctx: Ctx,
    Query(q): Query<ListQuery>,
) -> Result<impl IntoResponse> {
    let all = matches!(q.all_projects.as_deref(), Some("1" | "true" | "True"));
    Ok(Json(json!({ "servers": s.api.list(&ctx, all).await? })))
}

async fn show(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<impl IntoResponse> {
    Ok(Json(json!({ "server": s.api.show(&ctx, &id).await? })))
}

async fn delete(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<impl IntoResponse> {
    s.api.delete(&ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionBody {
    action: String,
    #[serde(default)]
    hard: bool,
}

async fn action(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: std::result::Result<Json<ActionBody>, axum::extract::rejection::JsonRejection>,
) -> Result<impl IntoResponse> {
    let Json(body) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    match body.action.as_str() {
        "start" => s.api.start(&ctx, &id).await?,
        "stop" => s.api.stop(&ctx, &id).await?,
        "reboot" => s.api.reboot(&ctx, &id, body.hard).await?,
        other => {
            return Err(Failure(ApiError::BadRequest(format!(
                "unknown action {other:?} (start, stop, reboot)"
            ))))
        }
    }
    Ok(StatusCode::ACCEPTED)
}

async fn actions(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<impl IntoResponse> {
    Ok(Json(json!({ "actions": s.api.actions(&ctx, &id).await? })))
}

async fn console(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<impl IntoResponse> {
    Ok(Json(
        json!({ "output": s.api.console_output(&ctx, &id).await? }),
    ))
}

async fn services(State(s): State<AppState>, ctx: Ctx) -> Result<impl IntoResponse> {
    Ok(Json(json!({ "services": s.api.services(&ctx).await? })))
}

async fn hypervisors(State(s): State<AppState>, ctx: Ctx) -> Result<impl IntoResponse> {
    Ok(Json(
        json!({ "hypervisors": s.api.hypervisors(&ctx).await? }),
    ))
}

async fn domains(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(host): Path<String>,
) -> Result<impl IntoResponse> {
    Ok(Json(
        json!({ "domains": s.api.host_domains(&ctx, &host).await? }),
    ))
}

async fn quota_usage(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(project): Path<String>,
) -> Result<impl IntoResponse> {
    Ok(Json(
        json!({ "usage": s.api.quota_usage(&ctx, &project).await? }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuotaBody {
    limit: i64,
}

async fn set_quota(
    State(s): State<AppState>,
    ctx: Ctx,
    Path((project, resource)): Path<(String, String)>,
    body: std::result::Result<Json<QuotaBody>, axum::extract::rejection::JsonRejection>,
) -> Result<impl IntoResponse> {
    let Json(body) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    s.api
        .set_quota(&ctx, &project, &resource, body.limit)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn reload_schedulers(State(s): State<AppState>, ctx: Ctx) -> Result<impl IntoResponse> {
    s.api.reload_schedulers(&ctx).await?;
    Ok(StatusCode::ACCEPTED)
}

async fn scheduler_report(State(s): State<AppState>, ctx: Ctx) -> Result<impl IntoResponse> {
    Ok(Json(s.api.scheduler_report(&ctx).await?))
}

type JsonBody<T> = std::result::Result<Json<T>, axum::extract::rejection::JsonRejection>;

fn body<T>(b: JsonBody<T>) -> Result<T> {
    b.map(|Json(v)| v)
        .map_err(|e| Failure(ApiError::BadRequest(e.body_text())))
}

async fn create_group(
    State(s): State<AppState>,
    ctx: Ctx,
    b: JsonBody<metacloud_api::CreateGroupRequest>,
) -> Result<impl IntoResponse> {
    let group = s.api.create_group(&ctx, body(b)?).await?;
    Ok(Json(json!({ "server_group": group })))
}

async fn list_groups(
    State(s): State<AppState>,
    ctx: Ctx,
    Query(q): Query<ListQuery>,
) -> Result<impl IntoResponse> {
    let all = matches!(q.all_projects.as_deref(), Some("1" | "true" | "True"));
    Ok(Json(
        json!({ "server_groups": s.api.list_groups(&ctx, all).await? }),
    ))
}

async fn show_group(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<impl IntoResponse> {
    Ok(Json(
        json!({ "server_group": s.api.show_group(&ctx, &id).await? }),
    ))
}

async fn delete_group(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<impl IntoResponse> {
    s.api.delete_group(&ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AggregateBody {
    name: String,
    #[serde(default)]
    availability_zone: Option<String>,
}

async fn create_aggregate(
    State(s): State<AppState>,
    ctx: Ctx,
    b: JsonBody<AggregateBody>,
) -> Result<impl IntoResponse> {
    let b = body(b)?;
    let agg = s
        .api
        .create_aggregate(&ctx, &b.name, b.availability_zone.as_deref())
        .await?;
    Ok(Json(json!({ "aggregate": agg })))
}

async fn list_aggregates(State(s): State<AppState>, ctx: Ctx) -> Result<impl IntoResponse> {
    Ok(Json(
        json!({ "aggregates": s.api.list_aggregates(&ctx).await? }),
    ))
}

async fn show_aggregate(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<impl IntoResponse> {
    Ok(Json(
        json!({ "aggregate": s.api.show_aggregate(&ctx, &id).await? }),
    ))
}

async fn delete_aggregate(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<impl IntoResponse> {
    s.api.delete_aggregate(&ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Nova's aggregate actions: `add_host`, `remove_host`, `set_metadata`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum AggregateAction {
    AddHost {
        host: String,
    },
    RemoveHost {
        host: String,
    },
    SetMetadata {
        metadata: std::collections::BTreeMap<String, Option<String>>,
    },
}

async fn aggregate_action(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    b: JsonBody<AggregateAction>,
) -> Result<impl IntoResponse> {
    let agg = match body(b)? {
        AggregateAction::AddHost { host } => s.api.add_aggregate_host(&ctx, &id, &host).await?,
        AggregateAction::RemoveHost { host } => {
            s.api.remove_aggregate_host(&ctx, &id, &host).await?
        }
        AggregateAction::SetMetadata { metadata } => {
            s.api.set_aggregate_metadata(&ctx, &id, &metadata).await?
        }
    };
    Ok(Json(json!({ "aggregate": agg })))
}
