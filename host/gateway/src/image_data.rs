//! Image data, served by the host beside the image dialect: `PUT` and `GET` on
//! `/v2/images/{id}/file` stream between the client and the store (an image is far larger
//! than a plugin's memory cap). Only their errors go through the dialect, in its format.

use crate::dispatch::{dispatch, refuse_near};
use crate::service::DialectService;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use axum::Router;
use metacloud_image::ImageError;
use metacloud_objects::Context;
use std::sync::Arc;

/// The image listener: the data routes, and everything else for the dialects.
pub fn router(svc: Arc<DialectService>) -> Router {
    Router::new()
        .route("/v2/images/{id}/file", put(upload).get(download))
        .fallback(dispatch)
        .with_state(svc)
}

/// An error of a data route, rendered by the image dialect.
async fn refuse(svc: &Arc<DialectService>, method: &Method, uri: &Uri, e: ImageError) -> Response {
    if let ImageError::Internal(m) = &e {
        tracing::error!(error = %m, path = %uri.path(), "image data request failed");
    }
    refuse_near(svc, method, uri.path(), e.status(), &e.to_string()).await
}

/// Who is asking, from the token; a missing, invalid or unscoped one is refused (401).
async fn requester(
    svc: &Arc<DialectService>,
    headers: &HeaderMap,
    request_id: &str,
) -> Result<Context, (u16, &'static str)> {
    const NO: (u16, &str) = (401, "The request you have made requires authentication.");
    let token = headers
        .get("x-auth-token")
        .and_then(|v| v.to_str().ok())
        .ok_or(NO)?;
    let caller = svc.caller(token, request_id).await.map_err(|_| NO)?;
    if caller.project_id.is_empty() {
        return Err(NO);
    }
    Ok(crate::caller::context(&caller))
}

/// The request id both ways: in the span and in the response headers.
fn with_request_id(mut resp: Response, request_id: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(request_id) {
        resp.headers_mut().insert("x-openstack-request-id", v);
    }
    resp
}

async fn upload(
    State(svc): State<Arc<DialectService>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let request_id = metacloud_rpc::new_request_id();
    let who = match requester(&svc, &headers, &request_id).await {
        Ok(w) => w,
        Err((status, m)) => return refuse_near(&svc, &method, uri.path(), status, m).await,
    };
    let resp = match svc.images.upload(&who, &id, body.into_data_stream()).await {
        Ok(img) => {
            tracing::info!(request_id = %request_id, image = %id, size = ?img.size, "image data stored");
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => refuse(&svc, &method, &uri, e).await,
    };
    with_request_id(resp, &request_id)
}

async fn download(
    State(svc): State<Arc<DialectService>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let request_id = metacloud_rpc::new_request_id();
    let who = match requester(&svc, &headers, &request_id).await {
        Ok(w) => w,
        Err((status, m)) => return refuse_near(&svc, &method, uri.path(), status, m).await,
    };
    let img = match svc.images.get(&who, &id).await {
        Ok(i) => i,
        Err(e) => return refuse(&svc, &method, &uri, e).await,
    };
    // Glance answers 204 for an image without data.
    let Some(location) = img.location.clone().filter(|_| img.status == "active") else {
        return with_request_id(StatusCode::NO_CONTENT.into_response(), &request_id);
    };
    let file = match tokio::fs::File::open(&location).await {
        Ok(f) => f,
        Err(e) => {
            let e = ImageError::Internal(format!("image data unreadable: {e}"));
            return refuse(&svc, &method, &uri, e).await;
        }
    };
    let mut resp = Response::new(Body::from_stream(chunks(file)));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Some(size) = img.size {
        h.insert(header::CONTENT_LENGTH, size.into());
    }
    if let Some(md5) = img.checksum.as_ref().and_then(|c| c.parse().ok()) {
        h.insert("content-md5", md5);
    }
    with_request_id(resp, &request_id)
}

/// A file as a stream of chunks.
fn chunks(
    file: tokio::fs::File,
) -> impl futures::Stream<Item = std::io::Result<axum::body::Bytes>> {
    futures::stream::unfold(file, |mut f| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 256 * 1024];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(axum::body::Bytes::from(buf)), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    })
}
