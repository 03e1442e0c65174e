//! EC2 requests signed with AWS Signature Version 4, checked against the EC2 credentials
//! this service keeps. The dialect builds the string to sign from the request; the secret
//! never leaves here.

use crate::{unauthorized, Auth, Identity, IdentityError};
use hmac::{Hmac, Mac};
use metacloud_db::{now_ms, DbError};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The only algorithm SigV4 has.
const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The service name EC2 clients sign for.
const SERVICE: &str = "ec2";

/// What a SigV4-signed request claims: who, over what, with which signature.
#[derive(Debug, Clone)]
pub struct SignedRequest<'a> {
    pub access_key: &'a str,
    /// `AWS4-HMAC-SHA256\n<amz-date>\n<scope>\n<hex sha256 of the canonical request>`.
    pub string_to_sign: &'a str,
    /// Hex HMAC-SHA256, as the client sent it.
    pub signature: &'a str,
    /// `<yyyymmdd>/<region>/ec2/aws4_request`.
    pub scope: &'a str,
}

/// A credential scope, split.
struct Scope<'a> {
    date: &'a str,
    region: &'a str,
}

fn auth_failure(why: &str) -> IdentityError {
    IdentityError::Unauthorized(format!(
        "AWS was not able to validate the provided access credentials: {why}"
    ))
}

fn parse_scope(scope: &str) -> Result<Scope<'_>, IdentityError> {
    let parts: Vec<&str> = scope.split('/').collect();
    match parts.as_slice() {
        [date, region, service, "aws4_request"]
            if date.len() == 8
                && date.bytes().all(|b| b.is_ascii_digit())
                && !region.is_empty()
                && *service == SERVICE =>
        {
            Ok(Scope { date, region })
        }
        _ => Err(auth_failure("malformed credential scope")),
    }
}

/// The time of an `X-Amz-Date` (`yyyymmddThhmmssZ`), in milliseconds since the epoch.
fn amz_date_ms(s: &str) -> Option<i64> {
    let t = chrono::NaiveDateTime::parse_from_str(s, "%Y%m%dT%H%M%SZ").ok()?;
    Some(t.and_utc().timestamp_millis())
}

/// Checks the string to sign against the scope and the clock: the algorithm, a timestamp
/// within `max_skew_ms` of now on the scope's date, the same scope, a SHA-256 hash.
fn check_string_to_sign(
    req: &SignedRequest<'_>,
    scope: &Scope<'_>,
    max_skew_ms: i64,
    now: i64,
) -> Result<(), IdentityError> {
    let lines: Vec<&str> = req.string_to_sign.split('\n').collect();
    let [algorithm, date, signed_scope, hash] = lines.as_slice() else {
        return Err(auth_failure("malformed string to sign"));
    };
    if *algorithm != ALGORITHM
        || *signed_scope != req.scope
        || hash.len() != 64
        || !hash.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Err(auth_failure("malformed string to sign"));
    }
    let at = amz_date_ms(date).ok_or_else(|| auth_failure("malformed X-Amz-Date"))?;
    if !date.starts_with(scope.date) {
        return Err(auth_failure(
            "the credential scope's date is not the request's",
        ));
    }
    if (now - at).abs() > max_skew_ms {
        return Err(auth_failure(
            "the request's timestamp is too far from the server's time",
        ));
    }
    Ok(())
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Whether `signature` (hex) is the SigV4 signature of `string_to_sign` under `secret` for
/// `scope`, compared in constant time.
fn signature_matches(
    secret: &str,
    scope: &Scope<'_>,
    string_to_sign: &str,
    signature: &str,
) -> bool {
    let Ok(given) = hex::decode(signature) else {
        return false;
    };
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), scope.date.as_bytes());
    let k_region = hmac(&k_date, scope.region.as_bytes());
    let k_service = hmac(&k_region, SERVICE.as_bytes());
    let k_signing = hmac(&k_service, b"aws4_request");
    let mut mac = HmacSha256::new_from_slice(&k_signing).expect("HMAC takes any key length");
    mac.update(string_to_sign.as_bytes());
    mac.verify_slice(&given).is_ok()
}

impl Identity {
    /// The caller a SigV4-signed EC2 request comes from: its access key's user on the
    /// credential's project, with the roles held there now. A wrong signature, an unknown
    /// key, a timestamp more than `max_skew_ms` away, or a user or project since disabled
    /// is `Unauthorized`.
    pub async fn verify_ec2_signature(
        &self,
        req: &SignedRequest<'_>,
        max_skew_ms: i64,
    ) -> Result<Auth, IdentityError> {
        let scope = parse_scope(req.scope)?;
        check_string_to_sign(req, &scope, max_skew_ms, now_ms())?;
        let cred = match self.db.get_ec2_credential(req.access_key).await {
            Ok(c) => c,
            Err(DbError::NotFound(_)) => return Err(auth_failure("unknown access key")),
            Err(e) => return Err(e.into()),
        };
        if !signature_matches(&cred.secret, &scope, req.string_to_sign, req.signature) {
            tracing::warn!(access = %req.access_key, "EC2 signature mismatch");
            return Err(auth_failure("the request signature does not match"));
        }
        let user = match self.db.get_user(&cred.user_id).await {
            Ok(u) if u.enabled => u,
            Ok(_) | Err(DbError::NotFound(_)) => return Err(unauthorized()),
            Err(e) => return Err(e.into()),
        };
        let project = match self.db.get_project(&cred.project_id).await {
            Ok(p) if p.enabled => p,
            Ok(_) | Err(DbError::NotFound(_)) => return Err(unauthorized()),
            Err(e) => return Err(e.into()),
        };
        let roles = self.effective_roles(&user.id, &project.id).await?;
        if roles.is_empty() {
            return Err(unauthorized());
        }
        let now = now_ms();
        Ok(Auth {
            token: String::new(),
            user,
            project: Some(project),
            roles,
            methods: vec!["ec2credential".into()],
            issued_at: now,
            expires_at: now,
            audit_id: String::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    fn sign(secret: &str, scope: &str, string_to_sign: &str) -> String {
        let parts: Vec<&str> = scope.split('/').collect();
        let k_date = hmac(format!("AWS4{secret}").as_bytes(), parts[0].as_bytes());
        let k_region = hmac(&k_date, parts[1].as_bytes());
        let k_service = hmac(&k_region, parts[2].as_bytes());
        let k_signing = hmac(&k_service, b"aws4_request");
        hmac(&k_signing, string_to_sign.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn the_aws_example_signing_key_signs_as_aws_documents() {
        // AWS's SigV4 example (IAM ListUsers, us-east-1/iam): the published signature.
        let sts = "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/aws4_request\nf536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59";
        assert_eq!(
            sign(SECRET, "20150830/us-east-1/iam/aws4_request", sts),
            "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
    }

    #[test]
    fn only_the_right_secret_and_an_untouched_string_verify() {
        let scope_s = "20261201/RegionOne/ec2/aws4_request";
        let sts = format!(
            "AWS4-HMAC-SHA256\n20261201T120000Z\n{scope_s}\n{}",
            "ab".repeat(32)
        );
        let sig = sign(SECRET, scope_s, &sts);
        let scope = parse_scope(scope_s).unwrap();
        assert!(signature_matches(SECRET, &scope, &sts, &sig));
        assert!(!signature_matches("other", &scope, &sts, &sig));
        let tampered = sts.replace("abab", "abac");
        assert!(!signature_matches(SECRET, &scope, &tampered, &sig));
        assert!(!signature_matches(SECRET, &scope, &sts, "zz"));
        assert!(!signature_matches(SECRET, &scope, &sts, &sig[..62]));
    }

    #[test]
    fn scopes_and_strings_to_sign_are_checked_before_any_lookup() {
        assert!(parse_scope("20261201/RegionOne/ec2/aws4_request").is_ok());
        for bad in [
            "20261201/RegionOne/s3/aws4_request",
            "2026120/RegionOne/ec2/aws4_request",
            "20261201//ec2/aws4_request",
            "20261201/RegionOne/ec2",
        ] {
            assert!(parse_scope(bad).is_err(), "{bad}");
        }
        let scope_s = "20261201/RegionOne/ec2/aws4_request";
        let scope = parse_scope(scope_s).unwrap();
        let at = amz_date_ms("20261201T120000Z").unwrap();
        let req = |sts: &'static str| SignedRequest {
            access_key: "a",
            string_to_sign: sts,
            signature: "00",
            scope: scope_s,
        };
        let good = Box::leak(
            format!(
                "AWS4-HMAC-SHA256\n20261201T120000Z\n{scope_s}\n{}",
                "0".repeat(64)
            )
            .into_boxed_str(),
        );
        let skew = 300_000;
        assert!(check_string_to_sign(&req(good), &scope, skew, at + 299_000).is_ok());
        assert!(check_string_to_sign(&req(good), &scope, skew, at - 299_000).is_ok());
        // A replay after the window, or a request from the future, is refused.
        assert!(check_string_to_sign(&req(good), &scope, skew, at + 301_000).is_err());
        assert!(check_string_to_sign(&req(good), &scope, skew, at - 301_000).is_err());
        let other_day = Box::leak(good.replace("\n20261201T", "\n20261202T").into_boxed_str());
        assert!(check_string_to_sign(&req(other_day), &scope, skew, at).is_err());
        let md5 = Box::leak(good.replace("HMAC-SHA256", "HMAC-MD5").into_boxed_str());
        assert!(check_string_to_sign(&req(md5), &scope, skew, at).is_err());
        assert!(check_string_to_sign(&req("AWS4-HMAC-SHA256"), &scope, skew, at).is_err());
    }
}
