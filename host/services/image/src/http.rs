//! The image API as Glance v2 clients expect it (openstacksdk, python-openstackclient):
//! JSON shapes, JSON-patch updates, binary upload and download. Served by the host, since
//! image data streams through it (a plugin's memory cap is far below an image's size).

use crate::{ImageError, Images, Requester};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use metacloud_db::images::{Image, Member};
use metacloud_identity::Identity;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

type Result<T> = std::result::Result<T, ImageError>;

/// Shared state of the image API.
#[derive(Clone)]
pub struct ImageApi {
    pub images: Images,
    pub identity: Identity,
}

impl IntoResponse for ImageError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        // Glance answers errors as plain text: the status line, then the explanation.
        let text = format!(
            "{} {}\n\n{}\n\n   ",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            self
        );
        (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=UTF-8")],
            text,
        )
            .into_response()
    }
}

pub fn router(api: ImageApi) -> Router {
    Router::new()
        .route("/", get(versions))
        .route("/versions", get(versions_ok))
        .route("/v2", get(versions_ok))
        .route("/v2/", get(versions_ok))
        .route("/v2/images", get(list_images).post(create_image))
        .route(
            "/v2/images/{id}",
            get(show_image).patch(update_image).delete(delete_image),
        )
        .route("/v2/images/{id}/file", put(upload).get(download))
        .route("/v2/images/{id}/tasks", get(image_tasks))
        .route(
            "/v2/images/{id}/members",
            get(list_members).post(add_member),
        )
        .route(
            "/v2/images/{id}/members/{member}",
            get(show_member).put(set_member).delete(remove_member),
        )
        .route("/v2/schemas/image", get(schema_image))
        .route("/v2/schemas/images", get(schema_images))
        .with_state(api)
}

async fn requester(api: &ImageApi, headers: &HeaderMap) -> Result<Requester> {
    let unauthorized = || {
        ImageError::Forbidden(
            "401 Unauthorized: this server could not verify that you are authorized".into(),
        )
    };
    let token = headers
        .get("x-auth-token")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(unauthorized)?;
    let auth = api
        .identity
        .validate(token)
        .await
        .map_err(|_| unauthorized())?;
    let project = auth.project.ok_or_else(unauthorized)?;
    Ok(Requester {
        project_id: project.id,
        roles: auth.roles.into_iter().map(|r| r.name).collect(),
    })
}

/// 401 rather than 403 for credentials problems.
fn auth_status(e: ImageError) -> Response {
    match &e {
        ImageError::Forbidden(m) if m.starts_with("401") => (
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "text/plain; charset=UTF-8")],
            "401 Unauthorized\n\nThis server could not verify that you are authorized to access the document you requested.\n\n   ",
        )
            .into_response(),
        _ => e.into_response(),
    }
}

macro_rules! who {
    ($api:expr, $headers:expr) => {
        match requester(&$api, &$headers).await {
            Ok(w) => w,
            Err(e) => return auth_status(e),
        }
    };
}

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn version_doc(headers: &HeaderMap) -> Value {
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let entry = |id: &str, status: &str| json!({"id": id, "status": status, "links": [{"rel": "self", "href": format!("http://{host}/v2/")}]});
    json!({"versions": [entry("v2.9", "CURRENT"), entry("v2.8", "SUPPORTED"), entry("v2.7", "SUPPORTED"),
        entry("v2.6", "SUPPORTED"), entry("v2.5", "SUPPORTED"), entry("v2.4", "SUPPORTED"),
        entry("v2.3", "SUPPORTED"), entry("v2.2", "SUPPORTED"), entry("v2.1", "SUPPORTED"),
        entry("v2.0", "SUPPORTED")]})
}

async fn versions(headers: HeaderMap) -> Response {
    (StatusCode::MULTIPLE_CHOICES, Json(version_doc(&headers))).into_response()
}

async fn versions_ok(headers: HeaderMap) -> Response {
    Json(version_doc(&headers)).into_response()
}

const READ_ONLY: [&str; 14] = [
    "status",
    "checksum",
    "size",
    "virtual_size",
    "owner",
    "created_at",
    "updated_at",
    "file",
    "self",
    "schema",
    "os_hash_algo",
    "os_hash_value",
    "direct_url",
    "locations",
];
const CORE: [&str; 8] = [
    "id",
    "name",
    "visibility",
    "protected",
    "min_disk",
    "min_ram",
    "disk_format",
    "container_format",
];

pub fn image_json(img: &Image) -> Value {
    let mut v = json!({
        "id": img.id,
        "name": img.name,
        "status": img.status,
        "visibility": img.visibility,
        "protected": img.protected,
        "os_hidden": false,
        "owner": img.owner,
        "checksum": img.checksum,
        "os_hash_algo": img.os_hash_value.as_ref().map(|_| "sha512"),
        "os_hash_value": img.os_hash_value,
        "size": img.size,
        "virtual_size": null,
        "min_disk": img.min_disk,
        "min_ram": img.min_ram,
        "disk_format": img.disk_format,
        "container_format": img.container_format,
        "tags": img.tags,
        "created_at": iso(img.created_at),
        "updated_at": iso(img.updated_at),
        "self": format!("/v2/images/{}", img.id),
        "file": format!("/v2/images/{}/file", img.id),
        "schema": "/v2/schemas/image",
    });
    for (k, val) in &img.properties {
        v[k] = json!(val);
    }
    v
}

fn member_json(m: &Member) -> Value {
    json!({"image_id": m.image_id, "member_id": m.member, "status": m.status,
           "created_at": iso(m.created_at), "updated_at": iso(m.updated_at),
           "schema": "/v2/schemas/member"})
}

/// Sets one attribute from a JSON value (create and patch share it).
fn set_attr(img: &mut Image, key: &str, value: &Value) -> Result<()> {
    if READ_ONLY.contains(&key) {
        return Err(ImageError::Forbidden(format!(
            "Attribute '{key}' is read-only."
        )));
    }
    let string = |v: &Value| -> Result<Option<String>> {
        match v {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s.clone())),
            other => Err(ImageError::BadRequest(format!(
                "Invalid value {other} for '{key}': not a string"
            ))),
        }
    };
    let int = |v: &Value| -> Result<i64> {
        v.as_i64().ok_or_else(|| {
            ImageError::BadRequest(format!("Invalid value {v} for '{key}': not an integer"))
        })
    };
    match key {
        "id" => img.id = string(value)?.unwrap_or_default(),
        "name" => img.name = string(value)?.unwrap_or_default(),
        "visibility" => img.visibility = string(value)?.unwrap_or_default(),
        "protected" => {
            img.protected = value.as_bool().ok_or_else(|| {
                ImageError::BadRequest(format!(
                    "Invalid value {value} for 'protected': not a boolean"
                ))
            })?
        }
        "min_disk" => img.min_disk = int(value)?,
        "min_ram" => img.min_ram = int(value)?,
        "disk_format" => img.disk_format = string(value)?,
        "container_format" => img.container_format = string(value)?,
        "tags" => {
            img.tags = value
                .as_array()
                .ok_or_else(|| ImageError::BadRequest("'tags' must be a list".into()))?
                .iter()
                .map(|t| {
                    t.as_str()
                        .map(String::from)
                        .ok_or_else(|| ImageError::BadRequest("tags must be strings".into()))
                })
                .collect::<Result<_>>()?
        }
        _ => {
            let v = string(value)?.ok_or_else(|| {
                ImageError::BadRequest(format!("Property '{key}' must be a string"))
            })?;
            img.properties.insert(key.to_string(), v);
        }
    }
    Ok(())
}

async fn create_image(
    State(api): State<ImageApi>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let who = who!(api, headers);
    let run = async {
        let v: Map<String, Value> = serde_json::from_slice(&body)
            .map_err(|e| ImageError::BadRequest(format!("Malformed JSON in request body: {e}")))?;
        let mut img = Image::default();
        for (k, val) in &v {
            set_attr(&mut img, k, val)?;
        }
        let img = api.images.create(&who, img).await?;
        Ok::<_, ImageError>(
            (
                StatusCode::CREATED,
                [(header::LOCATION, format!("/v2/images/{}", img.id))],
                Json(image_json(&img)),
            )
                .into_response(),
        )
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

/// Query parameters of an image listing that are not property filters.
const LIST_PARAMS: &[&str] = &[
    "name",
    "status",
    "owner",
    "disk_format",
    "container_format",
    "tag",
    "visibility",
    "member_status",
    "marker",
    "limit",
    "sort_key",
    "sort_dir",
    "sort",
];

/// Glance's `sort_key`/`sort_dir` (default: newest first).
fn sort_images(
    images: &mut [Image],
    q: &HashMap<String, String>,
) -> std::result::Result<(), ImageError> {
    let key = q
        .get("sort_key")
        .map(String::as_str)
        .unwrap_or("created_at");
    let asc = match q.get("sort_dir").map(String::as_str).unwrap_or("desc") {
        "asc" => true,
        "desc" => false,
        other => {
            return Err(ImageError::BadRequest(format!(
                "Invalid sort direction: {other}"
            )))
        }
    };
    let cmp: fn(&Image, &Image) -> std::cmp::Ordering = match key {
        "created_at" => |a, b| a.created_at.cmp(&b.created_at),
        "updated_at" => |a, b| a.updated_at.cmp(&b.updated_at),
        "name" => |a, b| a.name.cmp(&b.name),
        "size" => |a, b| a.size.cmp(&b.size),
        "status" => |a, b| a.status.cmp(&b.status),
        "id" => |a, b| a.id.cmp(&b.id),
        other => {
            return Err(ImageError::BadRequest(format!(
                "Unsupported sort_key: {other}"
            )))
        }
    };
    images.sort_by(|a, b| {
        let o = cmp(a, b).then_with(|| a.id.cmp(&b.id));
        if asc {
            o
        } else {
            o.reverse()
        }
    });
    Ok(())
}

async fn list_images(
    State(api): State<ImageApi>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let who = who!(api, headers);
    let run = async {
        let mut images = api
            .images
            .list(
                &who,
                q.get("visibility").map(String::as_str),
                q.get("member_status").map(String::as_str),
            )
            .await?;
        images.retain(|i| {
            q.get("name").is_none_or(|n| &i.name == n)
                && q.get("status").is_none_or(|s| &i.status == s)
                && q.get("owner").is_none_or(|o| i.owner.as_ref() == Some(o))
                && q.get("disk_format")
                    .is_none_or(|f| i.disk_format.as_ref() == Some(f))
                && q.get("container_format")
                    .is_none_or(|f| i.container_format.as_ref() == Some(f))
                && q.get("tag").is_none_or(|tag| i.tags.contains(tag))
                // Any other key filters on a property of that name, as Glance does.
                && q.iter()
                    .filter(|(k, _)| !LIST_PARAMS.contains(&k.as_str()))
                    .all(|(k, v)| i.properties.get(k) == Some(v))
        });
        sort_images(&mut images, &q)?;
        if let Some(marker) = q.get("marker") {
            let at = images
                .iter()
                .position(|i| &i.id == marker)
                .ok_or_else(|| ImageError::BadRequest(format!("marker {marker} not found")))?;
            images.drain(..=at);
        }
        let limit = match q.get("limit") {
            Some(l) => Some(l.parse::<usize>().map_err(|_| {
                ImageError::BadRequest(format!("limit param must be an integer: {l}"))
            })?),
            None => None,
        };
        let mut body = json!({"first": "/v2/images", "schema": "/v2/schemas/images"});
        if let Some(limit) = limit {
            if images.len() > limit {
                images.truncate(limit);
                if let Some(last) = images.last() {
                    body["next"] = json!(format!("/v2/images?limit={limit}&marker={}", last.id));
                }
            }
        }
        body["images"] = Value::Array(images.iter().map(image_json).collect());
        Ok::<_, ImageError>(Json(body).into_response())
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

async fn show_image(
    State(api): State<ImageApi>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let who = who!(api, headers);
    match api.images.get(&who, &id).await {
        Ok(img) => Json(image_json(&img)).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn update_image(
    State(api): State<ImageApi>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let who = who!(api, headers);
    let run = async {
        let ops: Vec<Value> = serde_json::from_slice(&body).map_err(|e| {
            ImageError::BadRequest(format!("Malformed JSON patch in request body: {e}"))
        })?;
        let img = api
            .images
            .update(&who, &id, |img| {
                for op in &ops {
                    let kind = op["op"].as_str().unwrap_or_default();
                    let path = op["path"].as_str().unwrap_or_default();
                    let key = path.trim_start_matches('/');
                    if key.is_empty() || key.contains('/') {
                        return Err(ImageError::BadRequest(format!(
                            "Invalid JSON pointer for this resource: '{path}'"
                        )));
                    }
                    match kind {
                        "add" | "replace" => set_attr(img, key, &op["value"])?,
                        "remove" => {
                            if CORE.contains(&key) || READ_ONLY.contains(&key) {
                                return Err(ImageError::Forbidden(format!(
                                    "Attribute '{key}' is read-only or required."
                                )));
                            }
                            if img.properties.remove(key).is_none() {
                                return Err(ImageError::Conflict(format!(
                                    "Property {key} does not exist."
                                )));
                            }
                        }
                        other => {
                            return Err(ImageError::BadRequest(format!(
                                "Operation '{other}' is not supported"
                            )))
                        }
                    }
                }
                Ok(())
            })
            .await?;
        Ok::<_, ImageError>(Json(image_json(&img)).into_response())
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

async fn delete_image(
    State(api): State<ImageApi>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let who = who!(api, headers);
    match api.images.delete(&who, &id).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn upload(
    State(api): State<ImageApi>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let who = who!(api, headers);
    match api.images.upload(&who, &id, body.into_data_stream()).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

/// Glance's image tasks (2.12): data here is stored synchronously by the upload itself,
/// so an image never has asynchronous tasks; the list says so.
async fn image_tasks(
    State(api): State<ImageApi>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let who = who!(api, headers);
    match api.images.get(&who, &id).await {
        Ok(_) => axum::Json(serde_json::json!({"tasks": []})).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn download(
    State(api): State<ImageApi>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let who = who!(api, headers);
    let img = match api.images.get(&who, &id).await {
        Ok(i) => i,
        Err(e) => return e.into_response(),
    };
    let Some(location) = img.location.clone().filter(|_| img.status == "active") else {
        return StatusCode::NO_CONTENT.into_response();
    };
    let file = match tokio::fs::File::open(&location).await {
        Ok(f) => f,
        Err(e) => {
            return ImageError::Internal(format!("image data unreadable: {e}")).into_response()
        }
    };
    let stream = tokio_util_stream(file);
    let mut resp = Response::new(Body::from_stream(stream));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        "application/octet-stream".parse().expect("static"),
    );
    if let Some(size) = img.size {
        h.insert(header::CONTENT_LENGTH, size.into());
    }
    if let Some(md5) = img.checksum.as_ref().and_then(|c| c.parse().ok()) {
        h.insert("content-md5", md5);
    }
    resp
}

/// A file as a stream of chunks.
fn tokio_util_stream(
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

async fn list_members(
    State(api): State<ImageApi>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let who = who!(api, headers);
    match api.images.members(&who, &id).await {
        Ok(m) => Json(json!({"members": m.iter().map(member_json).collect::<Vec<_>>(), "schema": "/v2/schemas/members"})).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn add_member(
    State(api): State<ImageApi>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let who = who!(api, headers);
    let run = async {
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| ImageError::BadRequest(format!("Malformed JSON: {e}")))?;
        let member = v["member"]
            .as_str()
            .ok_or_else(|| ImageError::BadRequest("'member' is required".into()))?;
        let m = api.images.add_member(&who, &id, member).await?;
        Ok::<_, ImageError>(Json(member_json(&m)).into_response())
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

async fn show_member(
    State(api): State<ImageApi>,
    headers: HeaderMap,
    Path((id, member)): Path<(String, String)>,
) -> Response {
    let who = who!(api, headers);
    match api.images.members(&who, &id).await {
        Ok(all) => match all.iter().find(|m| m.member == member) {
            Some(m) => Json(member_json(m)).into_response(),
            None => ImageError::NotFound(format!("{member} is not a member of image {id}"))
                .into_response(),
        },
        Err(e) => e.into_response(),
    }
}

async fn set_member(
    State(api): State<ImageApi>,
    headers: HeaderMap,
    Path((id, member)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let who = who!(api, headers);
    let run = async {
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| ImageError::BadRequest(format!("Malformed JSON: {e}")))?;
        let status = v["status"]
            .as_str()
            .ok_or_else(|| ImageError::BadRequest("'status' is required".into()))?;
        let m = api
            .images
            .set_member_status(&who, &id, &member, status)
            .await?;
        Ok::<_, ImageError>(Json(member_json(&m)).into_response())
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

async fn remove_member(
    State(api): State<ImageApi>,
    headers: HeaderMap,
    Path((id, member)): Path<(String, String)>,
) -> Response {
    let who = who!(api, headers);
    match api.images.remove_member(&who, &id, &member).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn schema_image() -> Json<Value> {
    Json(json!({"name": "image", "properties": {}, "additionalProperties": {"type": "string"}}))
}

async fn schema_images() -> Json<Value> {
    Json(json!({"name": "images", "properties": {"images": {"type": "array"}}}))
}
