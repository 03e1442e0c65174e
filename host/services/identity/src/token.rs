//! Tokens: a signed, expiring payload (user, project, methods, times, audit id).
//!
//! `<base64url(payload JSON)>.<base64url(HMAC-SHA256(secret, payload))>`. Like Keystone's
//! Fernet tokens they carry ids only: roles are looked up when a token is validated, so a
//! removed role or a disabled user takes effect at once. Revocation is by audit id.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// What a token says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payload {
    #[serde(rename = "u")]
    pub user_id: String,
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    #[serde(rename = "m")]
    pub methods: Vec<String>,
    /// Milliseconds since the epoch.
    #[serde(rename = "i")]
    pub issued_at: i64,
    #[serde(rename = "e")]
    pub expires_at: i64,
    #[serde(rename = "a")]
    pub audit_id: String,
}

/// Signs and verifies tokens with one secret.
#[derive(Clone)]
pub struct Signer {
    secret: Vec<u8>,
}

/// Why a token string is not a valid token (the caller only learns "invalid").
#[derive(Debug, PartialEq, Eq)]
pub enum Invalid {
    Malformed,
    BadSignature,
}

impl Signer {
    pub fn new(secret: &[u8]) -> Signer {
        Signer {
            secret: secret.to_vec(),
        }
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.secret).expect("HMAC takes keys of any length")
    }

    pub fn sign(&self, payload: &Payload) -> String {
        let body = serde_json::to_vec(payload).expect("payload serialises");
        let mut mac = self.mac();
        mac.update(&body);
        format!(
            "{}.{}",
            B64.encode(&body),
            B64.encode(mac.finalize().into_bytes())
        )
    }

    /// The payload of a token this signer made (expiry is the caller's check).
    pub fn verify(&self, token: &str) -> Result<Payload, Invalid> {
        let (body, sig) = token.split_once('.').ok_or(Invalid::Malformed)?;
        let body = B64.decode(body).map_err(|_| Invalid::Malformed)?;
        let sig = B64.decode(sig).map_err(|_| Invalid::Malformed)?;
        let mut mac = self.mac();
        mac.update(&body);
        // Constant-time comparison.
        mac.verify_slice(&sig).map_err(|_| Invalid::BadSignature)?;
        serde_json::from_slice(&body).map_err(|_| Invalid::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload() -> Payload {
        Payload {
            user_id: "u1".into(),
            project_id: Some("p1".into()),
            methods: vec!["password".into()],
            issued_at: 1,
            expires_at: 2,
            audit_id: "a1".into(),
        }
    }

    #[test]
    fn round_trip() {
        let s = Signer::new(b"secret");
        let t = s.sign(&payload());
        assert_eq!(s.verify(&t), Ok(payload()));
    }

    #[test]
    fn tampering_and_other_keys_are_refused() {
        let s = Signer::new(b"secret");
        let t = s.sign(&payload());
        assert_eq!(Signer::new(b"other").verify(&t), Err(Invalid::BadSignature));
        let mut forged = payload();
        forged.project_id = Some("admin".into());
        let forged_body = B64.encode(serde_json::to_vec(&forged).unwrap());
        let sig = t.split_once('.').unwrap().1;
        assert_eq!(
            s.verify(&format!("{forged_body}.{sig}")),
            Err(Invalid::BadSignature)
        );
        assert_eq!(s.verify("garbage"), Err(Invalid::Malformed));
        assert_eq!(s.verify("a.b"), Err(Invalid::Malformed));
    }
}
