//! The Network API's list queries, applied to the rendered objects: filters by attribute
//! (`?name=web&name=db`: either; `?shared=false`), `fields=` projections, and
//! `limit`/`marker` paging in id order with the `<collection>_links` next link.

use crate::{Fault, Reply, Request};
use serde_json::{json, Map, Value};

/// Query keys that are not filters.
const CONTROL: &[&str] = &[
    "fields",
    "limit",
    "marker",
    "sort_key",
    "sort_dir",
    "page_reverse",
];

/// Whether `item`'s attribute `key` is one of `wanted` (strings as given, booleans and
/// numbers by their text).
fn matches(item: &Map<String, Value>, key: &str, wanted: &[&str]) -> bool {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    // `?fixed_ips=ip_address=10.0.0.3`: an attribute of an object in a list.
    let inner = |v: &Value, w: &str| match (v, w.split_once('=')) {
        (Value::Object(o), Some((k, want))) => o.get(k).is_some_and(|x| text(x) == want),
        _ => false,
    };
    match item.get(key) {
        Some(Value::Array(values)) => values
            .iter()
            .any(|v| wanted.iter().any(|w| text(v) == *w || inner(v, w))),
        Some(v) => wanted
            .iter()
            .any(|w| text(v).eq_ignore_ascii_case(w) || text(v) == *w),
        // An attribute the resource does not have: a filter on it matches nothing.
        None => false,
    }
}

/// The items the request's filters keep.
pub fn filter(r: &Request, items: Vec<Map<String, Value>>) -> Vec<Map<String, Value>> {
    let mut keys: Vec<&str> = r
        .query
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !CONTROL.contains(k))
        .collect();
    keys.dedup();
    items
        .into_iter()
        .filter(|item| {
            keys.iter().all(|k| {
                let wanted: Vec<&str> = r.query_all(k).collect();
                matches(item, k, &wanted)
            })
        })
        .collect()
}

/// `item` with only the requested `fields` (all without any).
pub fn project(r: &Request, item: Map<String, Value>) -> Map<String, Value> {
    let fields: Vec<&str> = r
        .query_all("fields")
        .flat_map(|f| f.split(','))
        .filter(|f| !f.is_empty())
        .collect();
    if fields.is_empty() {
        return item;
    }
    item.into_iter()
        .filter(|(k, _)| fields.contains(&k.as_str()))
        .collect()
}

/// A listing: filtered, sorted by id, paged, projected, as `{collection: […]}` (and
/// `{collection}_links` with the next page when `limit` cut it).
pub fn listing(
    r: &Request,
    collection: &str,
    items: Vec<Map<String, Value>>,
) -> Result<Reply, Fault> {
    let mut items = filter(r, items);
    items.sort_by(|a, b| id_of(a).cmp(id_of(b)));
    if let Some(marker) = r.query_last("marker") {
        items.retain(|i| id_of(i) > marker);
    }
    let limit = match r.query_last("limit") {
        None => None,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                return Err(Fault::bad_request(format!(
                    "Bad limit request: Limit must be an integer 0 or greater and not '{l}'."
                )))
            }
        },
    };
    let mut body = Map::new();
    if let Some(n) = limit.filter(|n| items.len() > *n) {
        items.truncate(n);
        let last = items.last().map(id_of).unwrap_or_default();
        body.insert(
            format!("{collection}_links"),
            json!([{"rel": "next", "href": format!("{}/v2.0/{}?limit={n}&marker={last}",
                r.origin(), collection.replace('_', "-"))}]),
        );
    }
    let items: Vec<Value> = items
        .into_iter()
        .map(|i| Value::Object(project(r, i)))
        .collect();
    body.insert(collection.to_string(), Value::Array(items));
    Ok(Reply::json(200, &Value::Object(body)))
}

/// One object as `{member: …}`, projected by `fields`.
pub fn single(r: &Request, member: &str, item: Map<String, Value>) -> Reply {
    Reply::json(200, &json!({ member: Value::Object(project(r, item)) }))
}

fn id_of(item: &Map<String, Value>) -> &str {
    item.get("id").and_then(Value::as_str).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items() -> Vec<Map<String, Value>> {
        ["b", "a", "c"]
            .iter()
            .map(|id| {
                json!({"id": id, "name": format!("n-{id}"), "shared": *id == "a"})
                    .as_object()
                    .cloned()
                    .unwrap()
            })
            .collect()
    }

    fn names(reply: &Reply, collection: &str) -> Vec<String> {
        reply.json_body()[collection]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap_or("-").to_string())
            .collect()
    }

    #[test]
    fn filters_fields_and_paging() {
        let r = Request::new("GET", "/v2.0/networks");
        assert_eq!(
            names(&listing(&r, "networks", items()).unwrap(), "networks"),
            ["a", "b", "c"]
        );
        let r = Request::new("GET", "/v2.0/networks")
            .with_query("name", "n-b")
            .with_query("name", "n-c");
        assert_eq!(
            names(&listing(&r, "networks", items()).unwrap(), "networks"),
            ["b", "c"]
        );
        let r = Request::new("GET", "/v2.0/networks").with_query("shared", "true");
        assert_eq!(
            names(&listing(&r, "networks", items()).unwrap(), "networks"),
            ["a"]
        );
        let r = Request::new("GET", "/v2.0/networks").with_query("nothing", "x");
        assert!(names(&listing(&r, "networks", items()).unwrap(), "networks").is_empty());
        let r = Request::new("GET", "/v2.0/networks")
            .with_query("limit", "2")
            .with_query("fields", "id");
        let reply = listing(&r, "networks", items()).unwrap();
        assert_eq!(names(&reply, "networks"), ["a", "b"]);
        let body = reply.json_body();
        assert_eq!(body["networks"][0], json!({"id": "a"}));
        let next = body["networks_links"][0]["href"].as_str().unwrap();
        assert!(next.ends_with("/v2.0/networks?limit=2&marker=b"), "{next}");
        let r = Request::new("GET", "/v2.0/networks")
            .with_query("limit", "2")
            .with_query("marker", "b");
        assert_eq!(
            names(&listing(&r, "networks", items()).unwrap(), "networks"),
            ["c"]
        );
        let r = Request::new("GET", "/v2.0/networks").with_query("limit", "x");
        assert_eq!(listing(&r, "networks", items()).unwrap_err().status, 400);
    }
}
