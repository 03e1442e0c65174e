//! A request's way through a dialect listener: the route it matches in the current set,
//! the caller its token stands for, the route's access level, secrets sealed, the plugin
//! call on a blocking thread, and refusals in the format of the nearest dialect.

use crate::caller::allowed;
use crate::imports::metadata::identify;
use crate::routes::{DialectSet, Found, RouteAt};
use crate::sealed::Seals;
use crate::service::{DialectList, DialectService};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use metacloud_identity::IdentityError;
use metacloud_plugins::api::{Access, DialectPlugin, HttpRequest, HttpResponse};
use std::sync::Arc;
use tracing::Instrument;

/// The router: every request is matched against the dialects current when it arrives.
pub fn router(svc: Arc<DialectService>) -> Router {
    Router::new().fallback(dispatch).with_state(svc)
}

pub(crate) async fn dispatch(
    State(svc): State<Arc<DialectService>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let set = svc.current();
    match set.find(method.as_str(), uri.path()) {
        Found::Route(at, params) => serve(svc, set, at, method, uri, headers, params, body).await,
        Found::OtherMethod(d) => {
            let message = format!("The method {method} is not allowed for this resource.");
            refuse(&svc, &set.plugins[d], 405, &message).await
        }
        Found::Nothing(d) => {
            let message = format!("The resource could not be found: {}", uri.path());
            refuse(&svc, &set.plugins[d], 404, &message).await
        }
    }
}

/// A refusal in the format of the dialect nearest to `path` (for routes the host serves
/// itself, such as image data).
pub(crate) async fn refuse_near(
    svc: &Arc<DialectService>,
    method: &Method,
    path: &str,
    status: u16,
    message: &str,
) -> Response {
    let set = svc.current();
    let at = match set.find(method.as_str(), path) {
        Found::Route(at, _) => at.dialect,
        Found::OtherMethod(d) | Found::Nothing(d) => d,
    };
    refuse(svc, &set.plugins[at], status, message).await
}

/// A refusal in `dialect`'s format (plain JSON if the plugin cannot even do that).
async fn refuse(
    svc: &Arc<DialectService>,
    dialect: &Arc<DialectPlugin>,
    status: u16,
    message: &str,
) -> Response {
    let (svc2, dialect, message2) = (svc.clone(), dialect.clone(), message.to_string());
    let rendered =
        tokio::task::spawn_blocking(move || dialect.render_error(&svc2.runtime, status, &message2))
            .await;
    match rendered {
        Ok(Ok(resp)) => into_response(resp),
        _ => {
            let body = serde_json::json!({"error": {"code": status, "message": message}});
            (
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                axum::Json(body),
            )
                .into_response()
        }
    }
}

fn into_response(r: HttpResponse) -> Response {
    let mut resp = Response::new(axum::body::Body::from(r.body));
    *resp.status_mut() =
        StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (k, v) in r.headers {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::try_from(v)) {
            resp.headers_mut().append(k, v);
        }
    }
    resp
}

#[allow(clippy::too_many_arguments)]
async fn serve(
    svc: Arc<DialectService>,
    set: Arc<DialectSet>,
    at: RouteAt,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    params: Vec<(String, String)>,
    body: Bytes,
) -> Response {
    let request_id = metacloud_rpc::new_request_id();
    let dialect = set.plugins[at.dialect].clone();
    let route = at.route;
    let span = tracing::info_span!("dialect", request_id = %request_id, dialect = %dialect.name, method = %method, path = %uri.path());
    let id = request_id.clone();
    let mut resp = metacloud_rpc::with_request_id(
        request_id.clone(),
        async move {
            let token = headers.get("x-auth-token").and_then(|v| v.to_str().ok());
            let access = dialect.routes[route as usize].access;
            let caller = match token {
                Some(token) => match svc.caller(token, &id).await {
                    Ok(c) => Some(c),
                    Err(IdentityError::Internal(e)) => {
                        tracing::error!(error = %e, "token validation failed");
                        return refuse(&svc, &dialect, 503, "The identity service is unavailable").await;
                    }
                    // A public route answers without credentials (logging in with a stale
                    // token in the headers, say).
                    Err(_) if access == Access::Public => None,
                    Err(_) => return refuse(&svc, &dialect, 401, "The request you have made requires authentication.").await,
                },
                None => None,
            };
            match &caller {
                None if access != Access::Public => {
                    return refuse(&svc, &dialect, 401, "The request you have made requires authentication.").await
                }
                Some(c) if access != Access::Public && c.project_id.is_empty() => {
                    return refuse(&svc, &dialect, 401, "This request needs a project-scoped token.").await
                }
                Some(c) if !allowed(access, &c.roles) => {
                    let path = &dialect.routes[route as usize].path;
                    return refuse(&svc, &dialect, 403, &format!("Policy doesn't allow {method} {path} to be performed.")).await;
                }
                _ => {}
            }
            let mut req = HttpRequest {
                method: method.to_string(),
                path: uri.path().to_string(),
                query: uri
                    .query()
                    .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
                    .unwrap_or_default(),
                headers: headers
                    .iter()
                    .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
                    .collect(),
                body: body.to_vec(),
            };
            // On the metadata listener: the instance the request comes from.
            let instance = match svc.serves(DialectList::Metadata) {
                true => identify(svc.api.db(), &svc.metadata_secret, &headers).await,
                false => None,
            };
            let seals = Arc::new(Seals::new());
            seals.seal_request(&mut req.headers, &mut req.body);
            let imports = svc.imports(&id, token, caller.clone(), instance, seals.clone());
            let (svc2, dialect2) = (svc.clone(), dialect.clone());
            let span = tracing::Span::current();
            let slot = svc.running.clone().acquire_owned().await;
            let handled = tokio::task::spawn_blocking(move || {
                let _entered = span.enter();
                let _slot = slot;
                dialect2.handle(&svc2.runtime, imports, route, params, caller, req)
            })
            .await;
            match handled {
                Ok(Ok(mut resp)) => {
                    seals.open_response(&mut resp);
                    into_response(resp)
                }
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "dialect plugin failed");
                    refuse(&svc, &dialect, 500, "The server has either erred or is incapable of performing the requested operation.").await
                }
                Err(e) => {
                    tracing::error!(error = %e, "dialect task failed");
                    refuse(&svc, &dialect, 500, "The server has either erred or is incapable of performing the requested operation.").await
                }
            }
        }
        .instrument(span),
    )
    .await;
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut()
            .insert("x-openstack-request-id", v.clone());
        resp.headers_mut().insert("x-compute-request-id", v);
    }
    resp
}
