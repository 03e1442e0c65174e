//! `limit` and `marker` on the small listings Nova pages in the API (hypervisors from
//! 2.33, keypairs from 2.35): the whole list is in hand, sorted by its key, and cut here.

use crate::{Fault, Request};
use serde_json::{json, Value};

/// One page of `items` (sorted by `key`): after the item whose key is `marker`, at most
/// `limit`; with the `next` link when the page is full. An unknown marker is a 400.
pub fn page<'a, T>(
    r: &Request,
    items: &'a [T],
    key: impl Fn(&T) -> String,
    path: &str,
) -> Result<(&'a [T], Option<Value>), Fault> {
    let limit = match r.query("limit") {
        None => None,
        Some(l) => Some(l.parse::<usize>().map_err(|_| {
            Fault::bad_request(format!(
                "Invalid input for query parameters limit. Value: {l}. '{l}' does not match \
                 '^[0-9]*$'"
            ))
        })?),
    };
    let start = match r.query("marker") {
        None => 0,
        Some(m) => {
            items
                .iter()
                .position(|i| key(i) == m)
                .ok_or_else(|| Fault::bad_request(format!("marker [{m}] not found")))?
                + 1
        }
    };
    let rest = &items[start.min(items.len())..];
    let Some(limit) = limit else {
        return Ok((rest, None));
    };
    let shown = &rest[..limit.min(rest.len())];
    let next = match shown.last() {
        Some(last) if limit > 0 && shown.len() == limit => Some(json!([{
            "rel": "next",
            "href": format!("{}/v2.1/{path}?limit={limit}&marker={}", r.origin(), key(last)),
        }])),
        _ => None,
    };
    Ok((shown, next))
}
