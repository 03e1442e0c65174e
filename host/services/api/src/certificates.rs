//! The cert service (Nova's `os-certificates`): a certificate authority per project, made
//! on first use, that signs certificates for the project's users.
//!
//! Keys are ECDSA P-256 (rcgen on ring). A project's CA is valid ten years, a user
//! certificate one (`CN=<user>, OU=<project>, O=Metacloud`, client authentication). The
//! CA's private key stays in the database and never leaves the host; a user's private key
//! is made here, returned once and not kept (the certificate itself is recorded).

use crate::{ApiError, ComputeApi, Context};
use metacloud_db::certificates::{IssuedCertificate, ProjectCa};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SerialNumber,
};
use sha2::{Digest, Sha256};

/// The organisation every certificate names.
const ORGANIZATION: &str = "Metacloud";
/// How long a project's CA is valid.
const CA_VALID_DAYS: i64 = 3650;
/// How long a user certificate is valid.
const USER_VALID_DAYS: i64 = 365;
/// How far back validity starts, for clocks a little behind ours.
const BACKDATE_MINUTES: i64 = 5;

fn internal(what: &'static str) -> impl Fn(rcgen::Error) -> ApiError {
    move |e| ApiError::Internal(format!("{what}: {e}"))
}

/// A random positive 128-bit serial number (its top byte never zero, so its hex is what
/// parsers print).
fn serial() -> SerialNumber {
    use rand_core::RngCore;
    let mut bytes = [0u8; 16];
    rand_core::OsRng.fill_bytes(&mut bytes);
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    SerialNumber::from_slice(&bytes)
}

/// Parameters valid from a few minutes ago for `days`, with a fresh serial.
fn params(days: i64) -> CertificateParams {
    let now = time::OffsetDateTime::now_utc();
    let mut p = CertificateParams::default();
    p.not_before = now - time::Duration::minutes(BACKDATE_MINUTES);
    p.not_after = now + time::Duration::days(days);
    p.serial_number = Some(serial());
    p
}

/// The subject of a project's CA.
fn ca_common_name(project_id: &str) -> String {
    format!("Metacloud project CA {project_id}")
}

/// A new CA for `project_id`: its self-signed certificate and private key, both PEM.
fn make_ca(project_id: &str) -> Result<(String, String), ApiError> {
    let key = KeyPair::generate().map_err(internal("cannot generate the CA key"))?;
    let mut p = params(CA_VALID_DAYS);
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, ca_common_name(project_id));
    dn.push(DnType::OrganizationalUnitName, project_id);
    dn.push(DnType::OrganizationName, ORGANIZATION);
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = p
        .self_signed(&key)
        .map_err(internal("cannot sign the CA certificate"))?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// A user certificate signed by `ca`: its record and the new private key (PEM).
fn issue(ca: &ProjectCa, ctx: &Context) -> Result<(IssuedCertificate, String), ApiError> {
    let ca_key = KeyPair::from_pem(&ca.key_pem).map_err(internal("the stored CA key"))?;
    let issuer =
        Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key).map_err(internal("the stored CA"))?;
    let key = KeyPair::generate().map_err(internal("cannot generate a key"))?;
    let mut p = params(USER_VALID_DAYS);
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, ctx.user_id.as_str());
    dn.push(DnType::OrganizationalUnitName, ctx.project_id.as_str());
    dn.push(DnType::OrganizationName, ORGANIZATION);
    p.distinguished_name = dn;
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    p.use_authority_key_identifier_extension = true;
    let serial = hex::encode(p.serial_number.as_ref().map(|s| s.as_ref()).unwrap_or(&[]));
    let cert = p
        .signed_by(&key, &issuer)
        .map_err(internal("cannot sign the certificate"))?;
    let issued = IssuedCertificate {
        project_id: ctx.project_id.clone(),
        user_id: ctx.user_id.clone(),
        serial,
        fingerprint: hex::encode(Sha256::digest(cert.der())),
        cert_pem: cert.pem(),
    };
    Ok((issued, key.serialize_pem()))
}

impl ComputeApi {
    /// The caller's project CA, made on first use (two first uses at once keep one).
    async fn project_ca(&self, ctx: &Context) -> Result<ProjectCa, ApiError> {
        if let Some(ca) = self.db.get_project_ca(&ctx.project_id).await? {
            return Ok(ca);
        }
        let (cert_pem, key_pem) = make_ca(&ctx.project_id)?;
        let ca = self
            .db
            .insert_project_ca(&ProjectCa {
                project_id: ctx.project_id.clone(),
                cert_pem,
                key_pem,
                created_at: 0,
            })
            .await?;
        tracing::info!(project = %ctx.project_id, "project CA ready");
        Ok(ca)
    }

    /// A new key pair and a certificate for the caller signed by the project's CA: the
    /// certificate and the private key, both PEM (the key is not kept).
    pub async fn create_certificate(&self, ctx: &Context) -> Result<(String, String), ApiError> {
        Self::require_write(ctx, "os_compute_api:os-certificates:create")?;
        let ca = self.project_ca(ctx).await?;
        let (issued, key_pem) = issue(&ca, ctx)?;
        self.db.record_certificate(&issued).await?;
        tracing::info!(serial = %issued.serial, user = %ctx.user_id, "certificate issued");
        Ok((issued.cert_pem, key_pem))
    }

    /// The project's CA certificate (PEM), made on first use.
    pub async fn root_certificate(&self, ctx: &Context) -> Result<String, ApiError> {
        Ok(self.project_ca(ctx).await?.cert_pem)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(project: &str, user: &str) -> Context {
        Context {
            request_id: "req-test".into(),
            project_id: project.into(),
            user_id: user.into(),
            roles: vec!["member".into()],
        }
    }

    #[test]
    fn a_user_certificate_names_its_issuer_and_caller() {
        let (cert_pem, key_pem) = make_ca("p1").unwrap();
        assert!(cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let ca = ProjectCa {
            project_id: "p1".into(),
            cert_pem,
            key_pem,
            created_at: 0,
        };
        let (a, key) = issue(&ca, &ctx("p1", "u1")).unwrap();
        let (b, _) = issue(&ca, &ctx("p1", "u1")).unwrap();
        assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert_eq!((a.serial.len(), a.fingerprint.len()), (32, 64));
        assert_ne!(a.serial, b.serial);
        assert_ne!(a.fingerprint, b.fingerprint);
        // The stored CA is parsed back: a broken one is an internal error, not a panic.
        let broken = ProjectCa {
            key_pem: "junk".into(),
            ..ca
        };
        assert!(matches!(
            issue(&broken, &ctx("p1", "u1")),
            Err(ApiError::Internal(_))
        ));
    }
}
