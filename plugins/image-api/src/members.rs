//! Image members: the projects an image is shared with, and their answer to the share.

use crate::bindings::metacloud::api::images::{self, Member};
use crate::views::member_json;
use crate::{Fault, Reply, Request};
use serde_json::{json, Value};

/// The document of a member listing.
pub fn members_doc(all: &[Member]) -> Value {
    json!({"members": all.iter().map(member_json).collect::<Vec<_>>(),
           "schema": "/v2/schemas/members"})
}

/// A required string field of a small JSON body (`member`, `status`).
pub fn body_field(body: &[u8], field: &str) -> Result<String, Fault> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| Fault::bad_request(format!("Malformed JSON: {e}")))?;
    v[field]
        .as_str()
        .map(String::from)
        .ok_or_else(|| Fault::bad_request(format!("'{field}' is required")))
}

/// One member of an image's list (404 when the project is not one).
pub fn find<'a>(all: &'a [Member], id: &str, member: &str) -> Result<&'a Member, Fault> {
    all.iter()
        .find(|m| m.member_id == member)
        .ok_or_else(|| Fault::not_found(format!("{member} is not a member of image {id}")))
}

pub fn list(r: &Request) -> Result<Reply, Fault> {
    let all = images::list_members(r.caller()?, r.param("id"))?;
    Ok(Reply::json(200, &members_doc(&all)))
}

pub fn add(r: &Request) -> Result<Reply, Fault> {
    let c = r.caller()?;
    let member = body_field(&r.body, "member")?;
    let m = images::add_member(c, r.param("id"), &member)?;
    Ok(Reply::json(200, &member_json(&m)))
}

pub fn show(r: &Request) -> Result<Reply, Fault> {
    let (id, member) = (r.param("id"), r.param("member"));
    let all = images::list_members(r.caller()?, id)?;
    Ok(Reply::json(200, &member_json(find(&all, id, member)?)))
}

pub fn set(r: &Request) -> Result<Reply, Fault> {
    let c = r.caller()?;
    let status = body_field(&r.body, "status")?;
    let m = images::set_member_status(c, r.param("id"), r.param("member"), &status)?;
    Ok(Reply::json(200, &member_json(&m)))
}

pub fn remove(r: &Request) -> Result<Reply, Fault> {
    images::remove_member(r.caller()?, r.param("id"), r.param("member"))?;
    Ok(Reply::empty(204))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, status: &str) -> Member {
        Member {
            image_id: "img-1".into(),
            member_id: id.into(),
            status: status.into(),
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn listing_document() {
        let v = members_doc(&[member("p2", "pending"), member("p3", "accepted")]);
        assert_eq!(v["schema"], "/v2/schemas/members");
        let all = v["members"].as_array().unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1]["member_id"], "p3");
        assert_eq!(all[1]["status"], "accepted");
        assert_eq!(all[0]["schema"], "/v2/schemas/member");
        assert!(members_doc(&[])["members"].as_array().unwrap().is_empty());
    }

    #[test]
    fn bodies_name_the_member_and_the_status() {
        assert_eq!(body_field(br#"{"member": "p2"}"#, "member").unwrap(), "p2");
        assert_eq!(
            body_field(br#"{"status": "accepted", "x": 1}"#, "status").unwrap(),
            "accepted"
        );
        for body in ["{}", r#"{"member": 5}"#, "[]", "\"p2\"", "null"] {
            let e = body_field(body.as_bytes(), "member").unwrap_err();
            assert_eq!(e, Fault::bad_request("'member' is required"), "{body}");
        }
        for body in ["", "{", "{\"member\": }"] {
            let e = body_field(body.as_bytes(), "member").unwrap_err();
            assert_eq!(e.status, 400, "{body}");
            assert!(e.message.starts_with("Malformed JSON: "), "{}", e.message);
        }
    }

    #[test]
    fn finding_a_member() {
        let all = [member("p2", "pending"), member("p3", "accepted")];
        assert_eq!(find(&all, "img-1", "p3").unwrap().status, "accepted");
        let e = find(&all, "img-1", "p4").unwrap_err();
        assert_eq!(e, Fault::not_found("p4 is not a member of image img-1"));
    }
}
