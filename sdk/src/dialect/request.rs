//! [`Request`]: one HTTP request as a handler sees it, with the route's path parameters
//! and the caller the host established.

use super::Fault;
use serde::de::DeserializeOwned;
use std::fmt;

/// One request on a route. `C` is the generated `caller` record of the dialect's
/// bindings (the SDK cannot name it; [`dialect_plugin!`](crate::dialect_plugin) fills it
/// in).
#[derive(Debug, Clone, PartialEq)]
pub struct Request<C> {
    pub method: String,
    /// The path without the query string, as the client sent it.
    pub path: String,
    /// The route template's parameters (`{server_id}` → `("server_id", "…")`).
    pub params: Vec<(String, String)>,
    /// Query pairs in the order sent, decoded.
    pub query: Vec<(String, String)>,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// None only on public routes without (valid) credentials.
    pub caller: Option<C>,
}

/// Why a body could not be read as JSON of the expected shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// No body at all.
    Empty,
    /// Not JSON, or not of the expected shape (serde's explanation).
    Malformed(String),
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::Empty => f.write_str("A JSON request body is required."),
            BodyError::Malformed(e) => write!(f, "Invalid request body: {e}"),
        }
    }
}

impl std::error::Error for BodyError {}

impl From<BodyError> for Fault {
    fn from(e: BodyError) -> Fault {
        Fault::bad_request(e.to_string())
    }
}

/// The first value of `name` among `pairs`.
fn lookup<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The message of the SDK's 401 when a route needs a caller and has none.
pub const NEEDS_AUTHENTICATION: &str = "The request you have made requires authentication.";

impl<C> Request<C> {
    /// A request without parameters, query, headers, body or caller (for tests; add them
    /// with the `with_…` methods).
    pub fn new(method: &str, path: &str) -> Request<C> {
        Request {
            method: method.to_string(),
            path: path.to_string(),
            params: Vec::new(),
            query: Vec::new(),
            headers: Vec::new(),
            body: Vec::new(),
            caller: None,
        }
    }

    /// With one more path parameter.
    pub fn with_param(mut self, name: &str, value: &str) -> Request<C> {
        self.params.push((name.to_string(), value.to_string()));
        self
    }

    /// With one more query pair.
    pub fn with_query(mut self, name: &str, value: &str) -> Request<C> {
        self.query.push((name.to_string(), value.to_string()));
        self
    }

    /// With one more header (`name` in lower case).
    pub fn with_header(mut self, name: &str, value: &str) -> Request<C> {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// With this body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Request<C> {
        self.body = body.into();
        self
    }

    /// With this caller.
    pub fn with_caller(mut self, caller: C) -> Request<C> {
        self.caller = Some(caller);
        self
    }

    /// A path parameter; empty when the route has none of that name.
    pub fn param(&self, name: &str) -> &str {
        lookup(&self.params, name).unwrap_or_default()
    }

    /// The first value of a query parameter.
    pub fn query(&self, name: &str) -> Option<&str> {
        lookup(&self.query, name)
    }

    /// The last value of a query parameter (as a map of the pairs would keep it).
    pub fn query_last(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a query parameter, in order (`?status=a&status=b`).
    pub fn query_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.query
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A header by its lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        lookup(&self.headers, name)
    }

    /// Every value of a header, in order.
    pub fn header_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `http://<host header>` (`http://localhost` without one): the base of links.
    pub fn origin(&self) -> String {
        format!("http://{}", self.header("host").unwrap_or("localhost"))
    }

    /// The caller, or the SDK's 401 ([`NEEDS_AUTHENTICATION`]).
    pub fn caller(&self) -> Result<&C, Fault> {
        self.caller
            .as_ref()
            .ok_or_else(|| Fault::unauthorized(NEEDS_AUTHENTICATION))
    }

    /// The body as JSON of type `T`: none, malformed JSON, a wrong type, a missing or an
    /// unknown (with `deny_unknown_fields`) field are each a [`BodyError`], a 400 by
    /// `?` into a [`Fault`].
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, BodyError> {
        if self.body.is_empty() {
            return Err(BodyError::Empty);
        }
        serde_json::from_slice(&self.body).map_err(|e| BodyError::Malformed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type R = Request<()>;

    #[test]
    fn params_queries_and_headers_by_name() {
        let r = R::new("GET", "/v1/things/7")
            .with_param("id", "7")
            .with_query("status", "a")
            .with_query("status", "b")
            .with_header("host", "api:8774")
            .with_header("x-token", "1")
            .with_header("x-token", "2");
        assert_eq!(r.param("id"), "7");
        assert_eq!(r.param("other"), "");
        assert_eq!(r.query("status"), Some("a"));
        assert_eq!(r.query_last("status"), Some("b"));
        assert_eq!(r.query_all("status").collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(r.query("limit"), None);
        assert_eq!(r.origin(), "http://api:8774");
        assert_eq!(r.header_all("x-token").collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(R::new("GET", "/").origin(), "http://localhost");
    }

    #[test]
    fn a_missing_caller_is_a_401() {
        let r = R::new("GET", "/");
        assert_eq!(r.caller().unwrap_err().status, 401);
        assert!(r.with_caller(()).caller().is_ok());
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        disabled: Option<bool>,
    }

    #[test]
    fn json_bodies_are_read_strictly() {
        let ok = R::new("PATCH", "/").with_body(r#"{"disabled": true}"#);
        assert!(ok.json::<Body>().is_ok());
        assert_eq!(
            R::new("PATCH", "/").json::<Body>().unwrap_err(),
            BodyError::Empty
        );
        for bad in ["{", r#"{"disabled": "yes"}"#, r#"{"x": 1}"#, "[]"] {
            let e = R::new("PATCH", "/")
                .with_body(bad)
                .json::<Body>()
                .unwrap_err();
            assert!(matches!(e, BodyError::Malformed(_)), "{bad}");
            assert_eq!(Fault::from(e).status, 400, "{bad}");
        }
    }
}
