//! SSH keypairs: imported public keys, or pairs generated here (Ed25519, OpenSSH format)
//! whose private half is returned once and never stored.

use crate::{ApiError, ComputeApi, Context};
use base64::Engine;
use md5::{Digest, Md5};
use metacloud_db::keypairs::Keypair;
use metacloud_db::DbError;
use sha1::Sha1;

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

/// Whose keypairs a request acts on: `user` when given (Nova's `user_id`, 2.10), which
/// only admins may name for someone else; else the caller.
fn keypair_owner<'a>(
    ctx: &'a Context,
    user: Option<&'a str>,
    action: &str,
) -> Result<&'a str, ApiError> {
    match user {
        Some(u) if u != ctx.user_id && !ctx.is_admin() => Err(ApiError::Forbidden(format!(
            "os_compute_api:os-keypairs:{action}"
        ))),
        Some(u) => Ok(u),
        None => Ok(&ctx.user_id),
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

/// An SSH keypair: the imported public key (normalised), or a new Ed25519 pair with its
/// private key; and its fingerprint.
fn ssh_keypair(public_key: Option<&str>) -> Result<(String, Option<String>, String), ApiError> {
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
    let fp = fingerprint(&public)?;
    Ok((public, private, fp))
}

/// An X.509 keypair (Nova's `x509` type, for WinRM): the certificate is the public key,
/// imported (PEM) or made here, self-signed for `CN=<user>` with client authentication
/// (ECDSA P-256, ten years), with its private key. The fingerprint is Nova's: the SHA-1
/// of the certificate's DER, colon-separated.
fn x509_keypair(
    user_id: &str,
    public_key: Option<&str>,
) -> Result<(String, Option<String>, String), ApiError> {
    let (cert, private) = match public_key {
        Some(pem) => (pem.trim().to_string(), None),
        None => {
            let internal =
                |e: rcgen::Error| ApiError::Internal(format!("cannot make the certificate: {e}"));
            let key = rcgen::KeyPair::generate().map_err(internal)?;
            let now = time::OffsetDateTime::now_utc();
            let mut p = rcgen::CertificateParams::default();
            p.not_before = now - time::Duration::minutes(5);
            p.not_after = now + time::Duration::days(3650);
            p.distinguished_name
                .push(rcgen::DnType::CommonName, user_id);
            p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
            let cert = p.self_signed(&key).map_err(internal)?;
            (cert.pem(), Some(key.serialize_pem()))
        }
    };
    let fp = x509_fingerprint(&cert)?;
    Ok((cert, private, fp))
}

/// The SHA-1 of a PEM certificate's DER, as colon-separated hex pairs.
pub fn x509_fingerprint(pem: &str) -> Result<String, ApiError> {
    let invalid = |why: String| {
        ApiError::BadRequest(format!(
            "Keypair data is invalid: failed to import the certificate: {why}"
        ))
    };
    let (_, block) =
        x509_parser::pem::parse_x509_pem(pem.as_bytes()).map_err(|e| invalid(e.to_string()))?;
    block.parse_x509().map_err(|e| invalid(e.to_string()))?;
    Ok(Sha1::digest(&block.contents)
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
    /// The keypairs of `user` (the caller's own when `None`; another user's for admins).
    pub async fn list_keypairs(
        &self,
        ctx: &Context,
        user: Option<&str>,
    ) -> Result<Vec<Keypair>, ApiError> {
        let owner = keypair_owner(ctx, user, "index")?;
        Ok(self.db.list_keypairs(owner).await?)
    }

    pub async fn get_keypair(
        &self,
        ctx: &Context,
        user: Option<&str>,
        name: &str,
    ) -> Result<Keypair, ApiError> {
        let owner = keypair_owner(ctx, user, "show")?;
        self.db.get_keypair(owner, name).await.map_err(|e| match e {
            DbError::NotFound(_) => ApiError::NotFound(format!("Keypair {name}")),
            e => e.into(),
        })
    }

    /// Imports `public_key`, or generates a pair and returns its private key too; for
    /// `user` (an admin's request for another user), else the caller.
    pub async fn create_keypair(
        &self,
        ctx: &Context,
        user: Option<&str>,
        name: &str,
        key_type: &str,
        public_key: Option<&str>,
    ) -> Result<(Keypair, Option<String>), ApiError> {
        Self::require_write(ctx, "os_compute_api:os-keypairs:create")?;
        let owner = keypair_owner(ctx, user, "create")?;
        check_name(name)?;
        let (public, private, fingerprint) = match key_type {
            "ssh" => ssh_keypair(public_key)?,
            "x509" => x509_keypair(&ctx.user_id, public_key)?,
            other => {
                return Err(ApiError::BadRequest(format!(
                    "Keypair data is invalid: key type {other} is not one of ssh, x509"
                )))
            }
        };
        let k = Keypair {
            user_id: owner.to_string(),
            name: name.to_string(),
            key_type: key_type.to_string(),
            fingerprint,
            public_key: public,
            created_at: 0,
        };
        let limit = self.keypair_limit(&ctx.project_id).await?;
        let stored = self.db.create_keypair(&k, limit).await?;
        tracing::info!(keypair = %name, %key_type, generated = private.is_some(), "keypair created");
        Ok((stored, private))
    }

    pub async fn delete_keypair(
        &self,
        ctx: &Context,
        user: Option<&str>,
        name: &str,
    ) -> Result<(), ApiError> {
        Self::require_write(ctx, "os_compute_api:os-keypairs:delete")?;
        let owner = keypair_owner(ctx, user, "delete")?;
        self.db
            .delete_keypair(owner, name)
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
    fn x509_keypairs_are_made_and_imported_with_nova_fingerprints() {
        let (cert, private, fp) = super::x509_keypair("u1", None).unwrap();
        assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"), "{cert}");
        assert!(private.unwrap().contains("PRIVATE KEY"));
        assert_eq!((fp.len(), fp.matches(':').count()), (59, 19), "{fp}");
        // Imported, the same certificate has the same fingerprint and no private key.
        let (again, none, fp2) = super::x509_keypair("u1", Some(&cert)).unwrap();
        assert_eq!((again.as_str(), none, fp2), (cert.trim(), None, fp));
        assert!(super::x509_keypair("u1", Some("not a certificate")).is_err());
        assert!(super::ssh_keypair(Some("ssh-rsa not-base64!")).is_err());
    }

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
