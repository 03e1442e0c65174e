//! Server tags (2.26): `/servers/{id}/tags` and `/servers/{id}/tags/{tag}`, with Nova's
//! checks on each tag (1 to 60 characters, no `,` or `/`, at most 50 a server).

use crate::bindings::metacloud::api::compute;
use crate::{views, Fault, NovaRequest, Reply, Request};
use serde_json::{json, Value};

/// Longest tag (Nova's `MAX_TAG_LENGTH`).
const MAX_LENGTH: usize = 60;
/// Tags a server may have (Nova's `MAX_TAG_COUNT`).
pub const MAX_COUNT: usize = 50;

/// A tag as Nova's schema accepts it, else its 400.
pub fn check(field: &str, tag: &str) -> Result<(), Fault> {
    let n = tag.chars().count();
    if n == 0 || n > MAX_LENGTH {
        return Err(Fault::bad_request(format!(
            "Invalid input for field/attribute {field}. Value: {tag}. It must be 1 to \
             {MAX_LENGTH} characters"
        )));
    }
    if tag.contains([',', '/']) {
        return Err(Fault::bad_request(format!(
            "Invalid input for field/attribute {field}. Value: {tag}. '{tag}' does not match \
             '^[^,/]*$'"
        )));
    }
    Ok(())
}

/// A list of tags in a body (`field` names it in errors): strings, each valid, at most
/// [`MAX_COUNT`].
pub fn list(field: &str, v: &Value) -> Result<Vec<String>, Fault> {
    let items = v.as_array().ok_or_else(|| {
        Fault::bad_request(format!(
            "Invalid input for field/attribute {field}. Value: {v}. {v} is not of type 'array'"
        ))
    })?;
    if items.len() > MAX_COUNT {
        return Err(Fault::bad_request(format!(
            "Invalid input for field/attribute {field}. Value: {v}. {v} is too long"
        )));
    }
    let mut tags = Vec::with_capacity(items.len());
    for item in items {
        let t = item.as_str().ok_or_else(|| {
            Fault::bad_request(format!(
                "Invalid input for field/attribute {field}. Value: {item}. {item} is not of \
                 type 'string'"
            ))
        })?;
        check(field, t)?;
        tags.push(t.to_string());
    }
    Ok(tags)
}

/// A comma-separated tag filter of a listing (empty: none).
pub fn filter(r: &Request, name: &str) -> Vec<String> {
    r.query(name)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

pub fn index(r: &Request) -> Result<Reply, Fault> {
    let tags = compute::server_tags(r.caller()?, r.param("server_id"))?;
    Ok(Reply::json(200, &json!({ "tags": tags })))
}

pub fn replace_all(r: &Request) -> Result<Reply, Fault> {
    let body = r.body_json()?;
    let given = body.get("tags").ok_or_else(|| {
        Fault::bad_request("Invalid input for field/attribute tags. 'tags' is a required property")
    })?;
    if let Some(k) = body
        .as_object()
        .and_then(|m| m.keys().find(|k| k.as_str() != "tags"))
    {
        return Err(Fault::bad_request(format!(
            "Additional properties are not allowed ('{k}' was unexpected)"
        )));
    }
    let tags = list("tags", given)?;
    let tags = compute::set_server_tags(r.caller()?, r.param("server_id"), &tags)?;
    Ok(Reply::json(200, &json!({ "tags": tags })))
}

pub fn delete_all(r: &Request) -> Result<Reply, Fault> {
    compute::set_server_tags(r.caller()?, r.param("server_id"), &[])?;
    Ok(Reply::empty(204))
}

pub fn show(r: &Request) -> Result<Reply, Fault> {
    let (server, tag) = (r.param("server_id"), r.param("tag"));
    let tags = compute::server_tags(r.caller()?, server)?;
    if !tags.iter().any(|t| t == tag) {
        return Err(Fault::not_found(format!(
            "Server {server} doesn't have a tag '{tag}'"
        )));
    }
    Ok(Reply::empty(204))
}

pub fn add(r: &Request) -> Result<Reply, Fault> {
    let (server, tag) = (r.param("server_id"), r.param("tag"));
    check("tag", tag)?;
    if !compute::add_server_tag(r.caller()?, server, tag)? {
        return Ok(Reply::empty(204));
    }
    let mut reply = Reply::empty(201);
    let location = format!(
        "{}/tags/{tag}",
        views::links(r, "servers", server)[0]["href"]
            .as_str()
            .unwrap_or_default()
    );
    reply.headers.push(("location".into(), location));
    Ok(reply)
}

pub fn remove(r: &Request) -> Result<Reply, Fault> {
    let (server, tag) = (r.param("server_id"), r.param("tag"));
    compute::remove_server_tag(r.caller()?, server, tag)?;
    Ok(Reply::empty(204))
}
