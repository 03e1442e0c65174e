//! Images: thin handlers over the host's `images` imports; parsing is in [`crate::patch`],
//! listing in [`crate::list`], shapes in [`crate::views`].

use crate::bindings::metacloud::api::images;
use crate::views::image_json;
use crate::{list as listing, patch, Fault, GlanceRequest, Reply, Request};
use serde_json::json;

pub fn create(r: &Request) -> Result<Reply, Fault> {
    let c = r.caller()?;
    let fields = patch::create_fields(&r.body)?;
    let img = images::create(c, &fields)?;
    Ok(Reply::json(201, &image_json(&img))
        .with_header("location", format!("/v2/images/{}", img.id)))
}

pub fn list(r: &Request) -> Result<Reply, Fault> {
    let c = r.caller()?;
    let q = r.query_map();
    let all = images::list(
        c,
        q.get("visibility").map(String::as_str),
        q.get("member_status").map(String::as_str),
    )?;
    Ok(Reply::json(200, &listing::listing(all, &q)?))
}

pub fn show(r: &Request) -> Result<Reply, Fault> {
    let img = images::get(r.caller()?, r.param("id"))?;
    Ok(Reply::json(200, &image_json(&img)))
}

/// A JSON patch: the image's settable fields, patched, are sent back whole.
pub fn update(r: &Request) -> Result<Reply, Fault> {
    let c = r.caller()?;
    let id = r.param("id");
    let ops = patch::parse_patch(&r.body)?;
    let mut fields = patch::fields_of(&images::get(c, id)?);
    patch::apply_patch(&mut fields, &ops)?;
    let img = images::update(c, id, &fields)?;
    Ok(Reply::json(200, &image_json(&img)))
}

pub fn delete(r: &Request) -> Result<Reply, Fault> {
    images::delete(r.caller()?, r.param("id"))?;
    Ok(Reply::empty(204))
}

/// Glance's image tasks: data is stored by the upload itself, so an image never has
/// asynchronous tasks; the list says so (once the image is known to be visible).
pub fn tasks(r: &Request) -> Result<Reply, Fault> {
    images::get(r.caller()?, r.param("id"))?;
    Ok(Reply::json(200, &json!({"tasks": []})))
}
