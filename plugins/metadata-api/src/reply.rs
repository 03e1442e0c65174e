//! Answers: bodies with their content type, and errors as plain text the way Nova's
//! metadata service (webob) words them: `"<status> <reason>\n\n<message>"`.

use serde_json::Value;

/// Listings and leaves.
pub const TEXT: &str = "text/plain; charset=UTF-8";
/// `meta_data.json`, the identity document.
pub const JSON: &str = "application/json";
/// User data, served as the raw bytes it decodes to.
pub const BYTES: &str = "application/octet-stream";

/// The message of a 404 (nothing is said about why: an unknown caller learns nothing).
pub const NOT_FOUND: &str = "The resource could not be found.";

/// A body and how it is typed.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Text(String),
    Json(Value),
    Bytes(Vec<u8>),
}

impl Body {
    pub fn content_type(&self) -> &'static str {
        match self {
            Body::Text(_) => TEXT,
            Body::Json(_) => JSON,
            Body::Bytes(_) => BYTES,
        }
    }

    pub fn into_bytes(self) -> Vec<u8> {
        match self {
            Body::Text(t) => t.into_bytes(),
            Body::Json(v) => serde_json::to_vec(&v).unwrap_or_default(),
            Body::Bytes(b) => b,
        }
    }
}

/// A successful answer: a 200 with a body and, perhaps, extra headers.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub body: Body,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    pub fn new(body: Body) -> Reply {
        Reply {
            body,
            headers: Vec::new(),
        }
    }

    pub fn text(text: impl Into<String>) -> Reply {
        Reply::new(Body::Text(text.into()))
    }

    pub fn header(mut self, name: &str, value: String) -> Reply {
        self.headers.push((name.to_string(), value));
        self
    }

    /// The 200 it is, in the SDK's terms.
    pub fn into_sdk(self) -> metacloud_sdk::dialect::Reply {
        let content_type = self.body.content_type();
        let mut reply =
            metacloud_sdk::dialect::Reply::bytes(200, content_type, self.body.into_bytes());
        reply.headers = self.headers;
        reply
    }
}

/// An error answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub status: u16,
    pub message: String,
}

impl Error {
    pub fn new(status: u16, message: impl Into<String>) -> Error {
        Error {
            status,
            message: message.into(),
        }
    }

    pub fn not_found() -> Error {
        Error::new(404, NOT_FOUND)
    }

    pub fn bad_request(message: impl Into<String>) -> Error {
        Error::new(400, message)
    }

    pub fn unauthorized() -> Error {
        Error::new(
            401,
            "The session token is missing, expired or not this instance's.",
        )
    }

    /// The plain-text body.
    pub fn text(&self) -> String {
        format!(
            "{} {}\n\n{}",
            self.status,
            reason(self.status),
            self.message
        )
    }

    /// The plain-text answer it is, in the SDK's terms.
    pub fn into_sdk(&self) -> metacloud_sdk::dialect::Reply {
        metacloud_sdk::dialect::Reply::bytes(self.status, TEXT, self.text().into_bytes())
    }
}

impl From<Error> for metacloud_sdk::dialect::Fault {
    fn from(e: Error) -> metacloud_sdk::dialect::Fault {
        metacloud_sdk::dialect::Fault::new(e.status, e.message)
    }
}

/// The reason phrase of a status.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ if (400..500).contains(&status) => "Client Error",
        _ => "Server Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header<'a>(r: &'a metacloud_sdk::dialect::Reply, name: &str) -> Option<&'a str> {
        r.header(name)
    }

    #[test]
    fn errors_are_plain_text_with_a_reason() {
        let r = Error::not_found().into_sdk();
        assert_eq!(r.status, 404);
        assert_eq!(header(&r, "content-type"), Some(TEXT));
        assert_eq!(
            String::from_utf8(r.body).unwrap(),
            "404 Not Found\n\nThe resource could not be found."
        );
        assert_eq!(Error::new(405, "no").text(), "405 Method Not Allowed\n\nno");
        assert_eq!(
            Error::new(413, "big").text(),
            "413 Request Entity Too Large\n\nbig"
        );
        assert_eq!(Error::new(418, "tea").text(), "418 Client Error\n\ntea");
        assert_eq!(Error::new(599, "x").text(), "599 Server Error\n\nx");
    }

    #[test]
    fn replies_carry_their_content_type() {
        let r = Reply::text("a\nb").into_sdk();
        assert_eq!((r.status, header(&r, "content-type")), (200, Some(TEXT)));
        assert_eq!(r.body, b"a\nb");
        let r = Reply::new(Body::Json(serde_json::json!({"a": 1}))).into_sdk();
        assert_eq!(header(&r, "content-type"), Some(JSON));
        assert_eq!(r.body, br#"{"a":1}"#);
        let r = Reply::new(Body::Bytes(vec![0, 255]))
            .header("x-extra", "1".into())
            .into_sdk();
        assert_eq!(header(&r, "content-type"), Some(BYTES));
        assert_eq!(header(&r, "x-extra"), Some("1"));
        assert_eq!(r.body, vec![0, 255]);
    }
}
