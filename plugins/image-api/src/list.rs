//! Glance's image listing over what the host lets the caller see: filters, `sort_key` and
//! `sort_dir`, `marker` and `limit` paging with a `next` link.

use crate::bindings::metacloud::api::images::StoredImage;
use crate::views::image_json;
use crate::Fault;
use serde_json::{json, Value};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// The query string, a repeated key keeping its last value.
pub type Query = BTreeMap<String, String>;

/// Query parameters of an image listing that are not property filters.
pub const LIST_PARAMS: &[&str] = &[
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

fn property<'a>(img: &'a StoredImage, key: &str) -> Option<&'a String> {
    img.properties
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// Whether an image passes the listing's filters; any key that is not a listing
/// parameter filters on a property of that name, as Glance does.
pub fn matches(img: &StoredImage, q: &Query) -> bool {
    q.get("name").is_none_or(|n| &img.name == n)
        && q.get("status").is_none_or(|s| &img.status == s)
        && q.get("owner").is_none_or(|o| img.owner.as_ref() == Some(o))
        && q.get("disk_format")
            .is_none_or(|f| img.disk_format.as_ref() == Some(f))
        && q.get("container_format")
            .is_none_or(|f| img.container_format.as_ref() == Some(f))
        && q.get("tag").is_none_or(|tag| img.tags.contains(tag))
        && q.iter()
            .filter(|(k, _)| !LIST_PARAMS.contains(&k.as_str()))
            .all(|(k, v)| property(img, k) == Some(v))
}

type Compare = fn(&StoredImage, &StoredImage) -> Ordering;

/// The order of `sort_key` (`created_at` by default).
fn comparator(key: &str) -> Result<Compare, Fault> {
    let cmp: Compare = match key {
        "created_at" => |a, b| a.created_at.cmp(&b.created_at),
        "updated_at" => |a, b| a.updated_at.cmp(&b.updated_at),
        "name" => |a, b| a.name.cmp(&b.name),
        "size" => |a, b| a.size.cmp(&b.size),
        "status" => |a, b| a.status.cmp(&b.status),
        "id" => |a, b| a.id.cmp(&b.id),
        other => return Err(Fault::bad_request(format!("Unsupported sort_key: {other}"))),
    };
    Ok(cmp)
}

/// Glance's `sort_key`/`sort_dir` (default: newest first); ties go by id.
pub fn sort(images: &mut [StoredImage], q: &Query) -> Result<(), Fault> {
    let key = q
        .get("sort_key")
        .map(String::as_str)
        .unwrap_or("created_at");
    let asc = match q.get("sort_dir").map(String::as_str).unwrap_or("desc") {
        "asc" => true,
        "desc" => false,
        other => {
            return Err(Fault::bad_request(format!(
                "Invalid sort direction: {other}"
            )))
        }
    };
    let cmp = comparator(key)?;
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

/// Drops everything up to and including the `marker` image.
pub fn after_marker(images: &mut Vec<StoredImage>, q: &Query) -> Result<(), Fault> {
    if let Some(marker) = q.get("marker") {
        let at = images
            .iter()
            .position(|i| &i.id == marker)
            .ok_or_else(|| Fault::bad_request(format!("marker {marker} not found")))?;
        images.drain(..=at);
    }
    Ok(())
}

/// `limit`: a non-negative integer (as the 64-bit host read it, even on 32-bit wasm).
pub fn limit(q: &Query) -> Result<Option<u64>, Fault> {
    match q.get("limit") {
        Some(l) => l
            .parse::<u64>()
            .map(Some)
            .map_err(|_| Fault::bad_request(format!("limit param must be an integer: {l}"))),
        None => Ok(None),
    }
}

/// The listing document of what the host returned for the caller: filtered, sorted,
/// paged.
pub fn listing(mut images: Vec<StoredImage>, q: &Query) -> Result<Value, Fault> {
    images.retain(|i| matches(i, q));
    sort(&mut images, q)?;
    after_marker(&mut images, q)?;
    let limit = limit(q)?;
    let mut body = json!({"first": "/v2/images", "schema": "/v2/schemas/images"});
    if let Some(limit) = limit {
        let keep = usize::try_from(limit).unwrap_or(usize::MAX);
        if images.len() > keep {
            images.truncate(keep);
            if let Some(last) = images.last() {
                body["next"] = json!(format!("/v2/images?limit={limit}&marker={}", last.id));
            }
        }
    }
    body["images"] = Value::Array(images.iter().map(image_json).collect());
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::views::tests::stored;

    fn q(pairs: &[(&str, &str)]) -> Query {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Three images: a (oldest), b, c (newest).
    fn three() -> Vec<StoredImage> {
        let mut a = stored("a");
        a.name = "zeta".into();
        a.created_at = 1_000;
        a.updated_at = 9_000;
        a.size = Some(10);
        a.status = "active".into();
        let mut b = stored("b");
        b.name = "alpha".into();
        b.created_at = 2_000;
        b.updated_at = 2_000;
        b.owner = Some("p2".into());
        b.disk_format = Some("qcow2".into());
        b.tags = vec!["gold".into()];
        b.properties = vec![("os_distro".into(), "ubuntu".into())];
        let mut c = stored("c");
        c.name = "mid".into();
        c.created_at = 3_000;
        c.updated_at = 3_000;
        c.size = Some(5);
        c.container_format = Some("ovf".into());
        c.properties = vec![
            ("hw_architecture".into(), "aarch64".into()),
            ("os_distro".into(), "debian".into()),
        ];
        vec![a, b, c]
    }

    fn ids(v: &Value) -> Vec<&str> {
        v["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap())
            .collect()
    }

    fn list(pairs: &[(&str, &str)]) -> Result<Value, Fault> {
        listing(three(), &q(pairs))
    }

    #[test]
    fn default_listing_is_newest_first_with_links() {
        let v = list(&[]).unwrap();
        assert_eq!(ids(&v), ["c", "b", "a"]);
        assert_eq!(v["first"], "/v2/images");
        assert_eq!(v["schema"], "/v2/schemas/images");
        assert!(v.get("next").is_none());
        assert_eq!(v["images"][0]["self"], "/v2/images/c");
    }

    #[test]
    fn filters() {
        assert_eq!(ids(&list(&[("name", "alpha")]).unwrap()), ["b"]);
        assert_eq!(ids(&list(&[("status", "active")]).unwrap()), ["a"]);
        assert_eq!(ids(&list(&[("owner", "p2")]).unwrap()), ["b"]);
        assert_eq!(ids(&list(&[("disk_format", "qcow2")]).unwrap()), ["b"]);
        assert_eq!(ids(&list(&[("container_format", "ovf")]).unwrap()), ["c"]);
        assert_eq!(ids(&list(&[("tag", "gold")]).unwrap()), ["b"]);
        assert_eq!(ids(&list(&[("tag", "t1")]).unwrap()), ["c", "a"]);
        // Other keys filter on properties.
        assert_eq!(ids(&list(&[("os_distro", "debian")]).unwrap()), ["c"]);
        assert_eq!(ids(&list(&[("hw_architecture", "x86_64")]).unwrap()), ["a"]);
        assert!(ids(&list(&[("os_distro", "none-such")]).unwrap()).is_empty());
        // Filters combine.
        assert!(ids(&list(&[("os_distro", "debian"), ("name", "alpha")]).unwrap()).is_empty());
        // Parameters that are not filters here filter nothing.
        assert_eq!(
            ids(&list(&[
                ("visibility", "all"),
                ("member_status", "all"),
                ("sort", "x")
            ])
            .unwrap()),
            ["c", "b", "a"]
        );
    }

    #[test]
    fn sorting() {
        let sorted = |pairs: &[(&str, &str)]| ids(&list(pairs).unwrap()).join(",");
        assert_eq!(sorted(&[("sort_dir", "asc")]), "a,b,c");
        assert_eq!(
            sorted(&[("sort_key", "name"), ("sort_dir", "asc")]),
            "b,c,a"
        );
        assert_eq!(sorted(&[("sort_key", "name")]), "a,c,b");
        assert_eq!(sorted(&[("sort_key", "updated_at")]), "a,c,b");
        // No size sorts first ascending.
        assert_eq!(
            sorted(&[("sort_key", "size"), ("sort_dir", "asc")]),
            "b,c,a"
        );
        assert_eq!(sorted(&[("sort_key", "id"), ("sort_dir", "asc")]), "a,b,c");
        // Ties go by id, in the same direction.
        assert_eq!(
            sorted(&[("sort_key", "status"), ("sort_dir", "asc")]),
            "a,b,c"
        );
        assert_eq!(sorted(&[("sort_key", "status")]), "c,b,a");
    }

    #[test]
    fn bad_sorting_is_400() {
        let e = list(&[("sort_key", "nope")]).unwrap_err();
        assert_eq!(e, Fault::bad_request("Unsupported sort_key: nope"));
        let e = list(&[("sort_dir", "up")]).unwrap_err();
        assert_eq!(e, Fault::bad_request("Invalid sort direction: up"));
        // The direction is checked first, as before.
        let e = list(&[("sort_key", "nope"), ("sort_dir", "up")]).unwrap_err();
        assert_eq!(e.message, "Invalid sort direction: up");
    }

    #[test]
    fn marker_and_limit_page() {
        let v = list(&[("limit", "1")]).unwrap();
        assert_eq!(ids(&v), ["c"]);
        assert_eq!(v["next"], "/v2/images?limit=1&marker=c");
        let v = list(&[("limit", "1"), ("marker", "c")]).unwrap();
        assert_eq!(ids(&v), ["b"]);
        assert_eq!(v["next"], "/v2/images?limit=1&marker=b");
        let v = list(&[("limit", "1"), ("marker", "b")]).unwrap();
        assert_eq!(ids(&v), ["a"]);
        assert!(v.get("next").is_none(), "the last page has no next");
        let v = list(&[("marker", "a")]).unwrap();
        assert!(ids(&v).is_empty());
        // A limit as large as what is left: no next.
        let v = list(&[("limit", "3")]).unwrap();
        assert_eq!(ids(&v).len(), 3);
        assert!(v.get("next").is_none());
        // Larger than a 32-bit usize: everything.
        let v = list(&[("limit", "18446744073709551615")]).unwrap();
        assert_eq!(ids(&v).len(), 3);
        // Zero: nothing, and no next either (there is no last image to point at).
        let v = list(&[("limit", "0")]).unwrap();
        assert!(ids(&v).is_empty());
        assert!(v.get("next").is_none());
        // The marker is found after filtering and sorting.
        let v = list(&[("sort_dir", "asc"), ("marker", "a"), ("limit", "1")]).unwrap();
        assert_eq!(ids(&v), ["b"]);
        assert_eq!(v["next"], "/v2/images?limit=1&marker=b");
    }

    #[test]
    fn bad_paging_is_400() {
        let e = list(&[("marker", "zzz")]).unwrap_err();
        assert_eq!(e, Fault::bad_request("marker zzz not found"));
        // A marker the filters removed is not found either.
        let e = list(&[("marker", "a"), ("name", "alpha")]).unwrap_err();
        assert_eq!(e.status, 400);
        for l in ["x", "-1", "1.5", ""] {
            let e = list(&[("limit", l)]).unwrap_err();
            assert_eq!(
                e,
                Fault::bad_request(format!("limit param must be an integer: {l}"))
            );
        }
    }
}
