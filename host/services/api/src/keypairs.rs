//! SSH keypairs: imported public keys, or pairs generated here (Ed25519, OpenSSH format)
//! whose private half is returned once and never stored.

use crate::{ApiError, ComputeApi, Context};
use base64::Engine;
use md5::{Digest, Md5};
use metacloud_db::keypairs::Keypair;
use metacloud_db::DbError;

/// Nova's default `key_pairs` quota, per user.
pub const KEYPAIRS_PER_USER: i64 = 100;

impl ComputeApi {
    /// Keypairs each user of `project` may have: the project's `key_pairs` quota.
    pub(crate) async fn keypair_limit(&self, project: &str) -> Result<i64, ApiError> {
        let defaults = metacloud_db::quotas::DefaultLimits(
            [("key_pairs".to_string(), KEYPAIRS_PER_USER)].into(),
        );
        Ok(self.db.quota_limit(project, "key_pairs", &defaults).await?)
    }
}

/// Nova's MD5 fingerprint of an OpenSSH public key line: `aa:bb:…`.
pub fn fingerprint(public_key: &str) -> Result<String, ApiError> {
    let invalid =
        || ApiError::BadRequest("Keypair data is invalid: failed to generate fingerprint".into());
    let blob = public_key.split_whitespace().nth(1).ok_or_else(invalid)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(blob)
        .map_err(|_| invalid())?;
    Ok(Md5::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":"))
}

fn check_name(name: &str) -> Result<(), ApiError> {
    let safe = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ' ' | '@'));
    if name.trim().is_empty() || name.len() > 255 || !safe {
        return Err(ApiError::BadRequest(
            "Keypair data is invalid: Keypair name contains unsafe characters or is not 1 to 255 characters".into(),
        ));
    }
    Ok(())
}

impl ComputeApi {
    pub async fn list_keypairs(&self, ctx: &Context) -> Result<Vec<Keypair>, ApiError> {
        Ok(self.db.list_keypairs(&ctx.user_id).await?)
    }

    pub async fn get_keypair(&self, ctx: &Context, name: &str) -> Result<Keypair, ApiError> {
        self.db
            .get_keypair(&ctx.user_id, name)
            .await
            .map_err(|e| match e {
                DbError::NotFound(_) => ApiError::NotFound(format!("Keypair {name}")),
                e => e.into(),
            })
    }

    /// Imports `public_key`, or generates a pair and returns its private key too.
    pub async fn create_keypair(
        &self,
        ctx: &Context,
        name: &str,
        key_type: &str,
        public_key: Option<&str>,
    ) -> Result<(Keypair, Option<String>), ApiError> {
        Self::require_write(ctx, "os_compute_api:os-keypairs:create")?;
        check_name(name)?;
        if key_type != "ssh" {
            return Err(ApiError::BadRequest(format!(
                "Keypair data is invalid: key type {key_type} is not supported here (ssh is)"
            )));
        }
        let (public, private) = match public_key {
            Some(k) => {
                let parsed = ssh_key::PublicKey::from_openssh(k.trim()).map_err(|e| {
                    ApiError::BadRequest(format!(
                        "Keypair data is invalid: failed to import the public key: {e}"
                    ))
                })?;
                (
                    parsed
                        .to_openssh()
                        .map_err(|e| ApiError::Internal(e.to_string()))?,
                    None,
                )
            }
            None => {
                let private =
                    ssh_key::PrivateKey::random(&mut rand_core::OsRng, ssh_key::Algorithm::Ed25519)
                        .map_err(|e| ApiError::Internal(format!("cannot generate a key: {e}")))?;
                let public = private
                    .public_key()
                    .to_openssh()
                    .map_err(|e| ApiError::Internal(e.to_string()))?;
                let pem = private
                    .to_openssh(ssh_key::LineEnding::LF)
                    .map_err(|e| ApiError::Internal(e.to_string()))?;
                (
                    format!("{public} Generated-by-Metacloud"),
                    Some(pem.to_string()),
                )
            }
        };
        let k = Keypair {
            user_id: ctx.user_id.clone(),
            name: name.to_string(),
            key_type: key_type.to_string(),
            fingerprint: fingerprint(&public)?,
            public_key: public,
            created_at: 0,
        };
        let limit = self.keypair_limit(&ctx.project_id).await?;
        let stored = self.db.create_keypair(&k, limit).await?;
        tracing::info!(keypair = %name, generated = private.is_some(), "keypair created");
        Ok((stored, private))
    }

    pub async fn delete_keypair(&self, ctx: &Context, name: &str) -> Result<(), ApiError> {
        Self::require_write(ctx, "os_compute_api:os-keypairs:delete")?;
        self.db
            .delete_keypair(&ctx.user_id, name)
            .await
            .map_err(|e| match e {
                DbError::NotFound(_) => ApiError::NotFound(format!("Keypair {name}")),
                e => e.into(),
            })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn fingerprints_are_md5_of_the_key_blob() {
        let key =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGfm1yqbP2fXOOHJBu0Ry9ZBHS+zdFCm1J4mjnBL9yxu test";
        let fp = super::fingerprint(key).unwrap();
        assert_eq!(fp.len(), 47);
        assert_eq!(fp.matches(':').count(), 15);
        assert!(super::fingerprint("ssh-rsa not-base64!").is_err());
    }
}
