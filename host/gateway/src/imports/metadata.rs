//! The metadata service's host half: which instance a request comes from, and its IMDSv2
//! session tokens. Both rest on the shared metadata secret, which no plugin sees.
//!
//! A metadata proxy (Neutron's, in a Nova deployment) forwards an instance's request with
//! `X-Instance-ID`, `X-Tenant-ID` and `X-Instance-ID-Signature` = hex HMAC-SHA256 of the
//! instance id under the secret. The instance must exist, be live, and belong to that
//! tenant; anything else is an unknown caller, who learns nothing.

use crate::sealed::Seals;
use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use metacloud_db::instances::Instance;
use metacloud_db::{now_ms, Db};
use metacloud_plugins::api::metadata::{self, InstanceData};
use sha2::Sha256;
use std::sync::Arc;

type HmacSha256 = Hmac<Sha256>;

/// The longest IMDSv2 session (AWS's limit, six hours).
const MAX_SESSION_SECS: u32 = 21_600;

/// One metadata request's view: the instance it comes from, if any.
pub struct MetadataOps {
    pub instance: Option<InstanceData>,
    pub seals: Arc<Seals>,
    pub secret: Arc<str>,
}

fn mac(secret: &str, data: &str) -> HmacSha256 {
    let mut m = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    m.update(data.as_bytes());
    m
}

/// Whether `signature` (hex) is the HMAC-SHA256 of `data` under `secret`, in constant time.
fn signed(secret: &str, data: &str, signature: &str) -> bool {
    hex::decode(signature)
        .ok()
        .is_some_and(|sig| mac(secret, data).verify_slice(&sig).is_ok())
}

pub use metacloud_objects::hostname;

/// Why a metadata request has no instance behind it (logged, never shown).
fn unknown(why: &str, instance: &str) -> Option<InstanceData> {
    tracing::warn!(instance = %instance, reason = why, "metadata request from an unknown caller");
    None
}

/// The instance a request comes from, checked as described above.
pub async fn identify(db: &Db, secret: &str, headers: &HeaderMap) -> Option<InstanceData> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let Some(id) = header("x-instance-id") else {
        // No proxy named an instance: with no instance network there is no source
        // address to go by either.
        return unknown("no X-Instance-ID", "");
    };
    let signature = header("x-instance-id-signature").unwrap_or_default();
    if !signed(secret, id, signature) {
        return unknown("bad X-Instance-ID-Signature", id);
    }
    let instance = match db.get_instance(id).await {
        Ok(i) if !i.deleted => i,
        Ok(_) => return unknown("deleted", id),
        Err(e) => return unknown(&e.to_string(), id),
    };
    if header("x-tenant-id") != Some(instance.project_id.as_str()) {
        return unknown("X-Tenant-ID is not the instance's project", id);
    }
    match instance_data(db, instance).await {
        Ok(data) => Some(data),
        Err(e) => {
            tracing::error!(instance = %id, error = %e, "metadata for an instance could not be read");
            None
        }
    }
}

/// What an instance may learn about itself.
async fn instance_data(db: &Db, i: Instance) -> Result<InstanceData, metacloud_db::DbError> {
    let flavor = db
        .get_flavor(&i.flavor_id)
        .await
        .map(|f| f.name)
        .unwrap_or(i.flavor_id.clone());
    let public_key = match &i.key_name {
        Some(k) => db
            .get_keypair(&i.user_id, k)
            .await
            .ok()
            .map(|k| k.public_key),
        None => None,
    };
    // Its place in its reservation by creation, then name and id, as the compute API's
    // `launch_index` shows it (deleted siblings keep their places).
    let launch_index = db
        .instance_extras(std::slice::from_ref(&i.uuid))
        .await?
        .first()
        .map(|e| e.launch_index)
        .unwrap_or(0);
    Ok(InstanceData {
        hostname: i.hostname(),
        id: i.uuid,
        name: i.name,
        project_id: i.project_id,
        user_id: i.user_id,
        availability_zone: i.availability_zone.unwrap_or_else(|| "nova".into()),
        image_id: i.image_id,
        flavor_name: flavor,
        key_name: i.key_name,
        public_key,
        user_data: i.user_data,
        metadata: i.metadata.into_iter().collect(),
        reservation_id: i.reservation_id,
        launch_index,
        local_ipv4: None,
        created_at: i.created_at,
    })
}

/// What a session token signs: the instance and the second it expires.
fn session_claim(instance: &str, expires: i64) -> String {
    format!("imds-session:{instance}:{expires}")
}

impl metadata::Host for MetadataOps {
    fn current_instance(&mut self) -> Option<InstanceData> {
        self.instance.clone()
    }

    fn issue_session_token(&mut self, ttl_seconds: u32) -> Option<String> {
        let i = self.instance.as_ref()?;
        if !(1..=MAX_SESSION_SECS).contains(&ttl_seconds) {
            return None;
        }
        let expires = now_ms() / 1000 + ttl_seconds as i64;
        let sig = hex::encode(
            mac(&self.secret, &session_claim(&i.id, expires))
                .finalize()
                .into_bytes(),
        );
        Some(self.seals.seal(format!("{expires}.{sig}"), true))
    }

    fn check_session_token(&mut self, token: String) -> bool {
        let Some(i) = &self.instance else {
            return false;
        };
        let Some(token) = self.seals.open(&token) else {
            return false;
        };
        let Some((expires, sig)) = token.split_once('.') else {
            return false;
        };
        let Ok(expires) = expires.parse::<i64>() else {
            return false;
        };
        expires > now_ms() / 1000 && signed(&self.secret, &session_claim(&i.id, expires), sig)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops(instance: Option<&str>) -> MetadataOps {
        MetadataOps {
            instance: instance.map(|id| InstanceData {
                id: id.into(),
                name: "vm".into(),
                hostname: "vm".into(),
                project_id: "p".into(),
                user_id: "u".into(),
                availability_zone: "nova".into(),
                image_id: None,
                flavor_name: "m1.tiny".into(),
                key_name: None,
                public_key: None,
                user_data: None,
                metadata: vec![],
                reservation_id: "r-1".into(),
                launch_index: 0,
                local_ipv4: None,
                created_at: 0,
            }),
            seals: Arc::new(Seals::new()),
            secret: Arc::from("s3cret"),
        }
    }

    #[test]
    fn proxies_sign_instance_ids_with_the_shared_secret() {
        let sig = hex::encode(mac("s3cret", "abc").finalize().into_bytes());
        assert!(signed("s3cret", "abc", &sig));
        assert!(!signed("other", "abc", &sig));
        assert!(!signed("s3cret", "abd", &sig));
        assert!(!signed("s3cret", "abc", &sig[..10]));
        assert!(!signed("s3cret", "abc", "not hex at all"));
    }

    #[test]
    fn session_tokens_belong_to_one_instance_and_expire() {
        use metadata::Host as _;
        let mut a = ops(Some("inst-a"));
        let token = a.issue_session_token(60).expect("a token");
        assert!(token.starts_with("sealed:"), "handed out sealed: {token}");
        assert!(a.check_session_token(token.clone()));
        assert!(a.issue_session_token(0).is_none());
        assert!(a.issue_session_token(MAX_SESSION_SECS + 1).is_none());
        // The same token text presented on behalf of another instance: refused.
        let opened = a.seals.open(&token).unwrap();
        let mut b = ops(Some("inst-b"));
        let as_b = b.seals.seal(opened.clone(), false);
        assert!(!b.check_session_token(as_b));
        // Expired, or tampered with.
        let (_, sig) = opened.split_once('.').unwrap();
        let past = a
            .seals
            .seal(format!("{}.{sig}", now_ms() / 1000 - 5), false);
        assert!(!a.check_session_token(past));
        let forged = a
            .seals
            .seal(format!("{}.{sig}", now_ms() / 1000 + 999), false);
        assert!(!a.check_session_token(forged));
        // No instance: no token.
        assert!(ops(None).issue_session_token(60).is_none());
    }

    #[test]
    fn host_names_are_dns_safe() {
        assert_eq!(hostname("My Web_Server.1", "u"), "my-web-server-1");
        assert_eq!(hostname("--ok--", "u"), "ok");
        assert_eq!(hostname("日本", "1234abcd-ef"), "server-1234abcd");
        assert_eq!(hostname(&"a".repeat(80), "u").len(), 63);
    }
}
