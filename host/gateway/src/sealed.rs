//! Secrets by reference: what keeps passwords, tokens and secret keys out of dialect
//! plugins (see the `identity` interface in `wit/api/api.wit`).
//!
//! Before a request reaches a dialect, its secrets become references `sealed:<nonce>:<n>`
//! that only this request's host imports can open. Secrets the host makes for the client
//! (a new token, an EC2 secret key, a certificate's private key) are sealed as *openable*:
//! the host puts them back, and only them, into the response the dialect returns.

use metacloud_plugins::api::HttpResponse;
use serde_json::Value;
use std::sync::Mutex;

/// Request headers whose values are secrets.
const SECRET_HEADERS: [&str; 3] = [
    "x-auth-token",
    "x-subject-token",
    "x-aws-ec2-metadata-token",
];
/// JSON keys whose string values are secrets.
const SECRET_KEYS: [&str; 2] = ["password", "secret"];
/// A JSON key whose object's `id` string is a secret (a bearer token in a body).
const TOKEN_KEY: &str = "token";

/// What a dialect gets instead of a malformed body that names a secret key.
const WITHHELD: &[u8] = b"<malformed body withheld: it may hold a secret>";

/// The sealed secrets of one request.
pub struct Seals {
    prefix: String,
    /// Each secret and whether it may be opened into the response.
    entries: Mutex<Vec<(String, bool)>>,
}

impl Default for Seals {
    fn default() -> Self {
        Seals::new()
    }
}

impl Seals {
    /// A fresh store with its own random nonce, so references cannot be guessed or
    /// carried from one request to another.
    pub fn new() -> Seals {
        Seals {
            prefix: format!("sealed:{}:", uuid::Uuid::new_v4().simple()),
            entries: Mutex::default(),
        }
    }

    /// A reference to `secret`; `openable`: it may be opened into the response.
    pub fn seal(&self, secret: String, openable: bool) -> String {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.push((secret, openable));
        format!("{}{}", self.prefix, entries.len() - 1)
    }

    /// The secret behind a reference of this request (none for anything else).
    pub fn open(&self, reference: &str) -> Option<String> {
        let n: usize = reference.strip_prefix(&self.prefix)?.parse().ok()?;
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(n).map(|(s, _)| s.clone())
    }

    /// Seals the secrets of a request on its way to a dialect: the secret headers, and in
    /// a JSON body the strings under `password` and `secret` and a `token` object's `id`.
    pub fn seal_request(&self, headers: &mut [(String, String)], body: &mut Vec<u8>) {
        for (name, value) in headers.iter_mut() {
            if SECRET_HEADERS.contains(&name.as_str()) {
                *value = self.seal(std::mem::take(value), false);
            }
        }
        if !mentions_secret(body) {
            return;
        }
        let Ok(mut v) = serde_json::from_slice::<Value>(body) else {
            // Not JSON, yet it names a secret key: withheld (the dialect refuses it as
            // malformed, which it is) rather than handed over with a secret inside.
            *body = WITHHELD.to_vec();
            return;
        };
        if self.seal_json(&mut v) {
            if let Ok(b) = serde_json::to_vec(&v) {
                *body = b;
            }
        }
    }

    /// Seals secrets inside `v`; whether it changed anything.
    fn seal_json(&self, v: &mut Value) -> bool {
        let mut changed = false;
        match v {
            Value::Object(map) => {
                for (key, item) in map.iter_mut() {
                    if SECRET_KEYS.contains(&key.as_str()) {
                        if let Value::String(s) = item {
                            *s = self.seal(std::mem::take(s), false);
                            changed = true;
                            continue;
                        }
                    }
                    if key == TOKEN_KEY {
                        if let Some(Value::String(s)) = item.get_mut("id") {
                            *s = self.seal(std::mem::take(s), false);
                            changed = true;
                        }
                    }
                    changed |= self.seal_json(item);
                }
            }
            Value::Array(items) => {
                for item in items {
                    changed |= self.seal_json(item);
                }
            }
            _ => {}
        }
        changed
    }

    /// Opens the openable references in a dialect's response (headers and body);
    /// references to the request's own secrets stay as they are. In a JSON body a secret
    /// goes in as JSON string content (a PEM key's line breaks escaped): the body stays
    /// JSON.
    pub fn open_response(&self, resp: &mut HttpResponse) {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if !entries.iter().any(|(_, openable)| *openable) {
            return;
        }
        for (_, value) in resp.headers.iter_mut() {
            if value.contains(&self.prefix) {
                *value = self.replace(value, &entries, false);
            }
        }
        let prefix = self.prefix.as_bytes();
        if resp.body.windows(prefix.len()).any(|w| w == prefix) {
            if let Ok(text) = std::str::from_utf8(&resp.body) {
                let json = serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok();
                resp.body = self.replace(text, &entries, json).into_bytes();
            }
        }
    }

    /// `text` with each openable reference replaced by its secret (`json`: escaped as JSON
    /// string content).
    fn replace(&self, text: &str, entries: &[(String, bool)], json: bool) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find(&self.prefix) {
            out.push_str(&rest[..at]);
            let after = &rest[at + self.prefix.len()..];
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            let secret = after[..digits]
                .parse::<usize>()
                .ok()
                .and_then(|n| entries.get(n))
                .filter(|(_, openable)| *openable);
            match secret {
                Some((s, _)) if json => {
                    let quoted = serde_json::to_string(s).unwrap_or_default();
                    out.push_str(&quoted[1..quoted.len() - 1]);
                }
                Some((s, _)) => out.push_str(s),
                None => out.push_str(&rest[at..at + self.prefix.len() + digits]),
            }
            rest = &after[digits..];
        }
        out.push_str(rest);
        out
    }
}

/// Whether a body may hold a secret key at all (most do not: no parsing for them).
fn mentions_secret(body: &[u8]) -> bool {
    let has = |needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
    !body.is_empty() && (has(b"\"password\"") || has(b"\"secret\"") || has(b"\"token\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn response(headers: Vec<(&str, String)>, body: &str) -> HttpResponse {
        HttpResponse {
            status: 200,
            headers: headers
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn secrets_in_headers_and_bodies_are_sealed() {
        let seals = Seals::new();
        let mut headers = vec![
            ("x-auth-token".to_string(), "tok-1".to_string()),
            ("content-type".to_string(), "application/json".to_string()),
        ];
        let mut body = serde_json::to_vec(&json!({"auth": {"identity": {
            "methods": ["password", "token"],
            "password": {"user": {"name": "demo", "password": "hunter2"}},
            "token": {"id": "tok-2"}}}, "ec2": [{"secret": "s3"}]}))
        .unwrap();
        seals.seal_request(&mut headers, &mut body);
        let text = String::from_utf8(body.clone()).unwrap();
        for secret in ["tok-1", "hunter2", "tok-2", "s3"] {
            assert!(!text.contains(secret), "{secret} left in {text}");
        }
        assert!(!headers[0].1.contains("tok-1"));
        assert_eq!(headers[1].1, "application/json");
        let v: Value = serde_json::from_slice(&body).unwrap();
        let pw = v["auth"]["identity"]["password"]["user"]["password"]
            .as_str()
            .unwrap();
        assert_eq!(seals.open(pw).as_deref(), Some("hunter2"));
        assert_eq!(seals.open(&headers[0].1).as_deref(), Some("tok-1"));
        assert_eq!(v["auth"]["identity"]["password"]["user"]["name"], "demo");
    }

    #[test]
    fn only_secrets_the_host_made_are_opened_in_the_response() {
        let seals = Seals::new();
        let inbound = seals.seal("the-password".into(), false);
        let outbound = seals.seal("new-token".into(), true);
        let mut resp = response(
            vec![("x-subject-token", outbound.clone())],
            &format!(r#"{{"echo": "{inbound}", "token": "{outbound}", "tail": "x"}}"#),
        );
        seals.open_response(&mut resp);
        assert_eq!(resp.headers[0].1, "new-token");
        let body = String::from_utf8(resp.body).unwrap();
        assert!(body.contains(r#""token": "new-token""#), "{body}");
        assert!(!body.contains("the-password"), "{body}");
        assert!(body.contains(&inbound), "{body}");
    }

    #[test]
    fn a_multi_line_secret_opens_into_a_json_body_as_json() {
        let seals = Seals::new();
        let pem = "-----BEGIN PRIVATE KEY-----\nMIGH\\\"x\n-----END PRIVATE KEY-----\n";
        let key = seals.seal(pem.into(), true);
        let mut resp = response(
            vec![],
            &format!(r#"{{"certificate": {{"data": "c", "private_key": "{key}"}}}}"#),
        );
        seals.open_response(&mut resp);
        let v: Value = serde_json::from_slice(&resp.body).unwrap();
        assert_eq!(v["certificate"]["private_key"], pem);
        // Not JSON: the secret goes in as it is.
        let mut plain = response(vec![], &format!("key: {key}"));
        seals.open_response(&mut plain);
        assert_eq!(plain.body, format!("key: {pem}").into_bytes());
    }

    #[test]
    fn references_do_not_open_across_requests() {
        let (a, b) = (Seals::new(), Seals::new());
        let r = a.seal("secret".into(), true);
        assert_eq!(b.open(&r), None);
        assert_eq!(a.open("sealed:nonsense:0"), None);
        let mut resp = response(vec![], &format!("\"{r}\""));
        b.seal("other".into(), true);
        b.open_response(&mut resp);
        assert_eq!(String::from_utf8(resp.body).unwrap(), format!("\"{r}\""));
    }

    #[test]
    fn bodies_without_secrets_are_left_as_they_are_and_broken_ones_withheld() {
        let seals = Seals::new();
        let original = br#"{"server": {"name": "a",   "adminPass": "x"}}"#.to_vec();
        let mut body = original.clone();
        seals.seal_request(&mut [], &mut body);
        assert_eq!(body, original);
        let mut broken = br#"{"password": "hunter2""#.to_vec();
        seals.seal_request(&mut [], &mut broken);
        assert_eq!(broken, WITHHELD);
    }
}
