//! The image proxy clients still call (`/v2.1/images`, deprecated in Nova at 2.36): images
//! from the image service in Nova's 2.1 shapes, deletion and image metadata.

use crate::bindings::metacloud::api::compute;
use crate::bindings::metacloud::api::types::Image;
use crate::{string_map, time, views, Fault, NovaRequest, Reply, Request};
use serde_json::{json, Map, Value};

/// Nova's image status from the image service's.
fn status(s: &str) -> &'static str {
    match s {
        "active" => "ACTIVE",
        "queued" | "saving" | "uploading" | "importing" => "SAVING",
        "killed" | "deactivated" => "ERROR",
        "deleted" | "pending_delete" => "DELETED",
        _ => "UNKNOWN",
    }
}

fn progress(s: &str) -> u8 {
    match s {
        "queued" => 25,
        "saving" => 50,
        "active" => 100,
        _ => 0,
    }
}

fn links(r: &Request, id: &str) -> Value {
    let mut l = views::links(r, "images", id);
    let glance = compute::image_endpoint();
    if let Some(a) = l.as_array_mut() {
        a.push(
            json!({"rel": "alternate", "type": "application/vnd.openstack.image",
            "href": format!("{}/images/{id}", glance.trim_end_matches('/'))}),
        );
    }
    l
}

fn metadata(i: &Image) -> Value {
    let m: Map<String, Value> = i
        .metadata
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    Value::Object(m)
}

fn brief(r: &Request, i: &Image) -> Value {
    json!({"id": i.id, "name": i.name, "links": links(r, &i.id)})
}

fn detail(r: &Request, i: &Image) -> Value {
    let mut v = json!({
        "id": i.id,
        "name": i.name,
        "minRam": i.min_ram,
        "minDisk": i.min_disk,
        "progress": progress(&i.status),
        "status": status(&i.status),
        "created": time::format(i.created_at),
        "updated": time::format(i.updated_at),
        "metadata": metadata(i),
        "OS-EXT-IMG-SIZE:size": i.size,
        "links": links(r, &i.id),
    });
    if let Some((_, server)) = i.metadata.iter().find(|(k, _)| k == "instance_uuid") {
        v["server"] = json!({"id": server, "links": views::links(r, "servers", server)});
    }
    v
}

/// Nova's filters: `name`, `status`, `server`, `type`, `minRam`, `minDisk`, then paging.
fn listed(r: &Request) -> Result<Vec<Image>, Fault> {
    let mut all = compute::list_images(r.caller()?)?;
    let prop = |i: &Image, k: &str| {
        i.metadata
            .iter()
            .find(|(x, _)| x == k)
            .map(|(_, v)| v.clone())
    };
    let (min_ram, min_disk) = (r.query_u64("minRam")?, r.query_u64("minDisk")?);
    all.retain(|i| {
        r.query("name").is_none_or(|n| n == i.name)
            && r.query("status")
                .is_none_or(|s| s.eq_ignore_ascii_case(status(&i.status)))
            && r.query("server")
                .is_none_or(|s| prop(i, "instance_uuid").as_deref() == s.rsplit('/').next())
            && r.query("type")
                .is_none_or(|t| prop(i, "image_type").as_deref() == Some(t))
            && min_ram.is_none_or(|m| i.min_ram >= m)
            && min_disk.is_none_or(|m| i.min_disk >= m)
    });
    Ok(r.page(all, |i| &i.id)?)
}

pub fn list(r: &Request) -> Result<Reply, Fault> {
    let items: Vec<Value> = listed(r)?.iter().map(|i| brief(r, i)).collect();
    Ok(Reply::json(200, &json!({"images": items})))
}

pub fn list_detail(r: &Request) -> Result<Reply, Fault> {
    let items: Vec<Value> = listed(r)?.iter().map(|i| detail(r, i)).collect();
    Ok(Reply::json(200, &json!({"images": items})))
}

fn found(r: &Request) -> Result<Image, Fault> {
    compute::get_image(r.caller()?, r.param("image_id")).map_err(|e| match e {
        crate::OpError::NotFound(_) => Fault::not_found("Image not found."),
        e => e.into(),
    })
}

pub fn show(r: &Request) -> Result<Reply, Fault> {
    let i = found(r)?;
    Ok(Reply::json(200, &json!({"image": detail(r, &i)})))
}

pub fn delete(r: &Request) -> Result<Reply, Fault> {
    compute::delete_image(r.caller()?, r.param("image_id")).map_err(|e| match e {
        crate::OpError::NotFound(_) => Fault::not_found("Image not found."),
        e => e.into(),
    })?;
    Ok(Reply::empty(204))
}

pub fn list_metadata(r: &Request) -> Result<Reply, Fault> {
    let i = found(r)?;
    Ok(Reply::json(200, &json!({"metadata": metadata(&i)})))
}

fn set_metadata(r: &Request, replace: bool) -> Result<Reply, Fault> {
    let body = r.body_json()?;
    let m = string_map(body.get("metadata"), "metadata")?;
    if body.get("metadata").is_none() {
        return Err(Fault::bad_request(
            "Invalid input for field/attribute metadata. 'metadata' is a required property",
        ));
    }
    let all = compute::set_image_metadata(r.caller()?, r.param("image_id"), &m, replace)?;
    let v: Map<String, Value> = all.into_iter().map(|(k, v)| (k, json!(v))).collect();
    Ok(Reply::json(200, &json!({"metadata": v})))
}

pub fn merge_metadata(r: &Request) -> Result<Reply, Fault> {
    set_metadata(r, false)
}

pub fn replace_metadata(r: &Request) -> Result<Reply, Fault> {
    set_metadata(r, true)
}

pub fn show_metadata_item(r: &Request) -> Result<Reply, Fault> {
    let i = found(r)?;
    let key = r.param("key");
    let (k, v) = i
        .metadata
        .iter()
        .find(|(k, _)| k == key)
        .ok_or_else(|| Fault::not_found(format!("Metadata item {key} was not found")))?;
    Ok(Reply::json(200, &json!({"meta": {k.clone(): v}})))
}

pub fn set_metadata_item(r: &Request) -> Result<Reply, Fault> {
    let body = r.body_json()?;
    let key = r.param("key");
    let meta = string_map(body.get("meta"), "meta")?;
    match meta.as_slice() {
        [(k, _)] if k == key => {}
        [_] => return Err(Fault::bad_request("Request body and URI mismatch")),
        _ => return Err(Fault::bad_request("Request body contains too many items")),
    }
    compute::set_image_metadata(r.caller()?, r.param("image_id"), &meta, false)?;
    let v: Map<String, Value> = meta.into_iter().map(|(k, v)| (k, json!(v))).collect();
    Ok(Reply::json(200, &json!({"meta": v})))
}

pub fn delete_metadata_item(r: &Request) -> Result<Reply, Fault> {
    compute::delete_image_metadata(r.caller()?, r.param("image_id"), r.param("key"))?;
    Ok(Reply::empty(204))
}
