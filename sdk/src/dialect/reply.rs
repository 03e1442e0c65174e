//! [`Reply`]: what a handler answers, before the SDK turns it into the WIT
//! `http-response`.

use serde::Serialize;

/// An HTTP response: a status, headers, and a body with its content type.
///
/// The content type is kept apart from the other headers and written last, so a
/// dialect's [`finish`](crate::dialect::Dialect::finish) can add headers without
/// reordering it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The `content-type` header; none for an empty body.
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// The content type of JSON bodies.
pub const JSON: &str = "application/json";

impl Reply {
    /// A reply without a body (`204`, `202`, …).
    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            content_type: None,
            body: Vec::new(),
        }
    }

    /// `value` as JSON.
    pub fn json(status: u16, value: &impl Serialize) -> Reply {
        Reply::bytes(status, JSON, serde_json::to_vec(value).unwrap_or_default())
    }

    /// A body already serialised, with its content type.
    pub fn bytes(status: u16, content_type: &str, body: Vec<u8>) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            content_type: Some(content_type.to_string()),
            body,
        }
    }

    /// Plain text (`text/plain`).
    pub fn text(status: u16, body: impl Into<String>) -> Reply {
        Reply::bytes(status, "text/plain", body.into().into_bytes())
    }

    /// This reply with one more header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// A header's value by its (lower-case) name; the content type included.
    pub fn header(&self, name: &str) -> Option<&str> {
        if name == "content-type" {
            if let Some(t) = &self.content_type {
                return Some(t);
            }
        }
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON (for tests); `Null` when it is not JSON.
    pub fn json_body(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }

    /// Status, headers (the content type last) and body: the parts of an
    /// `http-response`.
    pub fn into_parts(self) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let mut headers = self.headers;
        if let Some(t) = self.content_type {
            headers.push(("content-type".to_string(), t));
        }
        (self.status, headers, self.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_replies_carry_their_content_type_last() {
        let r = Reply::json(201, &serde_json::json!({"a": 1})).with_header("x-a", "1");
        assert_eq!(r.header("content-type"), Some(JSON));
        let (status, headers, body) = r.into_parts();
        assert_eq!(status, 201);
        assert_eq!(headers.last().unwrap().0, "content-type");
        assert_eq!(headers[0], ("x-a".to_string(), "1".to_string()));
        assert_eq!(body, br#"{"a":1}"#);
    }

    #[test]
    fn empty_replies_have_no_content_type() {
        let (status, headers, body) = Reply::empty(204).into_parts();
        assert_eq!((status, headers.len(), body.len()), (204, 0, 0));
    }
}
