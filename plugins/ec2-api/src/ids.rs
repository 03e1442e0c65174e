//! EC2 ids for the host's UUIDs: `i-` (instances), `ami-` (images) or `sg-` (security
//! groups) and the first 17 hex
//! digits of the UUID without its dashes. The reverse is a search: the caller's servers
//! (or images) are listed and the one whose id starts with those digits is it. An id the
//! host did not make a UUID of is hashed (SHA-256) instead, so every id has an EC2 form.

use crate::Ec2Error;
use sha2::{Digest, Sha256};

/// Hex digits of an EC2 id.
pub const DIGITS: usize = 17;
/// Older, short EC2 ids (8 digits) are accepted and matched by prefix.
pub const SHORT_DIGITS: usize = 8;

/// A kind of EC2 resource named by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Instance,
    Image,
    SecurityGroup,
}

impl Kind {
    pub fn prefix(self) -> &'static str {
        match self {
            Kind::Instance => "i-",
            Kind::Image => "ami-",
            Kind::SecurityGroup => "sg-",
        }
    }

    /// `InvalidInstanceID.Malformed` / `InvalidAMIID.Malformed`.
    pub fn malformed(self, id: &str) -> Ec2Error {
        let code = match self {
            Kind::Instance => "InvalidInstanceID.Malformed",
            Kind::Image => "InvalidAMIID.Malformed",
            Kind::SecurityGroup => "InvalidGroupId.Malformed",
        };
        Ec2Error::client(
            code,
            format!("Invalid id: \"{id}\" (expecting \"{}...\")", self.prefix()),
        )
    }

    /// `InvalidInstanceID.NotFound` / `InvalidAMIID.NotFound`.
    pub fn not_found(self, id: &str) -> Ec2Error {
        match self {
            Kind::Instance => Ec2Error::client(
                "InvalidInstanceID.NotFound",
                format!("The instance ID '{id}' does not exist"),
            ),
            Kind::Image => Ec2Error::client(
                "InvalidAMIID.NotFound",
                format!("The image id '[{id}]' does not exist"),
            ),
            Kind::SecurityGroup => Ec2Error::client(
                "InvalidGroup.NotFound",
                format!("The security group '{id}' does not exist"),
            ),
        }
    }
}

/// The hex digits an id is named by: the UUID's without dashes (lower case), or a hash of
/// an id that is not one.
pub fn digits_of(uuid: &str) -> String {
    let stripped: String = uuid.chars().filter(|c| *c != '-').collect();
    if stripped.len() >= DIGITS && stripped.chars().all(|c| c.is_ascii_hexdigit()) {
        stripped.to_ascii_lowercase()
    } else {
        hex::encode(Sha256::digest(uuid.as_bytes()))
    }
}

/// The EC2 id of a host id.
pub fn ec2_id(kind: Kind, uuid: &str) -> String {
    let d = digits_of(uuid);
    format!("{}{}", kind.prefix(), &d[..DIGITS])
}

/// The digits of an EC2 id (lower case), or `…Malformed`: the kind's prefix and 8 or 17
/// hex digits.
pub fn parse(kind: Kind, id: &str) -> Result<String, Ec2Error> {
    let digits = id
        .strip_prefix(kind.prefix())
        .filter(|d| {
            (d.len() == DIGITS || d.len() == SHORT_DIGITS)
                && d.bytes().all(|b| b.is_ascii_hexdigit())
        })
        .ok_or_else(|| kind.malformed(id))?;
    Ok(digits.to_ascii_lowercase())
}

/// Whether the host id `uuid` has the EC2 digits `digits`.
pub fn matches(digits: &str, uuid: &str) -> bool {
    digits_of(uuid).starts_with(digits)
}

/// The item whose host id (`uuid_of`) the EC2 id names: `…Malformed` or `…NotFound`.
pub fn resolve<'a, T>(
    kind: Kind,
    items: &'a [T],
    uuid_of: impl Fn(&T) -> &str,
    id: &str,
) -> Result<&'a T, Ec2Error> {
    let digits = parse(kind, id)?;
    items
        .iter()
        .find(|it| matches(&digits, uuid_of(it)))
        .ok_or_else(|| kind.not_found(id))
}

/// Resolves every id, in order: the first malformed or unknown one is the error.
pub fn resolve_all<'a, T>(
    kind: Kind,
    items: &'a [T],
    uuid_of: impl Fn(&T) -> &str + Copy,
    ids: &[&str],
) -> Result<Vec<&'a T>, Ec2Error> {
    for id in ids {
        parse(kind, id)?;
    }
    ids.iter()
        .map(|id| resolve(kind, items, uuid_of, id))
        .collect()
}

/// A stable id for a key pair (`key-` and 17 hex digits), from its owner and name.
pub fn key_pair_id(user_id: &str, name: &str) -> String {
    let h = hex::encode(Sha256::digest(format!("{user_id}/{name}").as_bytes()));
    format!("key-{}", &h[..DIGITS])
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";

    #[test]
    fn forward() {
        assert_eq!(ec2_id(Kind::Instance, UUID), "i-0f1e2d3c4b5a69788");
        assert_eq!(ec2_id(Kind::Image, UUID), "ami-0f1e2d3c4b5a69788");
        assert_eq!(
            ec2_id(Kind::Instance, &UUID.to_uppercase()),
            "i-0f1e2d3c4b5a69788"
        );
        // Not a UUID: hashed, still 17 hex digits, and still found again.
        let odd = ec2_id(Kind::Image, "cirros");
        assert_eq!(odd.len(), 4 + DIGITS);
        assert!(parse(Kind::Image, &odd).is_ok());
        assert_eq!(
            resolve(Kind::Image, &["x", "cirros"], |s| s, &odd),
            Ok(&"cirros")
        );
        assert_eq!(ec2_id(Kind::Image, ""), ec2_id(Kind::Image, ""));
        assert_eq!(ec2_id(Kind::Image, "").len(), 4 + DIGITS);
    }

    #[test]
    fn reverse() {
        let uuids = ["11111111-0000-0000-0000-000000000000", UUID];
        assert_eq!(
            resolve(Kind::Instance, &uuids, |s| s, "i-0f1e2d3c4b5a69788"),
            Ok(&UUID)
        );
        assert_eq!(
            resolve(Kind::Instance, &uuids, |s| s, "i-0F1E2D3C4B5A69788"),
            Ok(&UUID)
        );
        // The short form.
        assert_eq!(
            resolve(Kind::Instance, &uuids, |s| s, "i-0f1e2d3c"),
            Ok(&UUID)
        );
        let e = resolve(Kind::Instance, &uuids, |s| s, "i-0f1e2d3c4b5a69789").unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (
                "InvalidInstanceID.NotFound",
                "The instance ID 'i-0f1e2d3c4b5a69789' does not exist"
            )
        );
        let e = resolve(Kind::Image, &uuids, |s| s, "ami-22222222").unwrap_err();
        assert_eq!(e.code, "InvalidAMIID.NotFound");
        // All or nothing, malformed first.
        let e = resolve_all(Kind::Instance, &uuids, |s| s, &["i-99999999", "i-bad"]).unwrap_err();
        assert_eq!(e.code, "InvalidInstanceID.Malformed");
        let e =
            resolve_all(Kind::Instance, &uuids, |s| s, &["i-0f1e2d3c", "i-99999999"]).unwrap_err();
        assert!(e.message.contains("i-99999999"));
        assert_eq!(
            resolve_all(Kind::Instance, &uuids, |s| s, &["i-11111111", "i-0f1e2d3c"])
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn malformed() {
        for bad in [
            "",
            "i-",
            "i-123",
            "i-0f1e2d3c4b5a6978",
            "i-0f1e2d3c4b5a697888",
            "i-0f1e2d3g",
            "ami-0f1e2d3c",
            "I-0f1e2d3c",
            "i-0f1e2d3c ",
            " i-0f1e2d3c",
            "i-０f1e2d3c",
            "i-0f1e-d3c",
            "i-<script>",
        ] {
            let e = parse(Kind::Instance, bad).unwrap_err();
            assert_eq!(
                (e.status, e.code),
                (400, "InvalidInstanceID.Malformed"),
                "{bad:?}"
            );
        }
        for bad in ["ami-", "ami-xyz", "i-0f1e2d3c", "ami-0f1e2d3c4"] {
            assert_eq!(
                parse(Kind::Image, bad).unwrap_err().code,
                "InvalidAMIID.Malformed",
                "{bad}"
            );
        }
    }

    #[test]
    fn key_pair_ids_are_stable() {
        assert_eq!(key_pair_id("u", "k"), key_pair_id("u", "k"));
        assert_ne!(key_pair_id("u", "k"), key_pair_id("u2", "k"));
        assert!(key_pair_id("u", "k").starts_with("key-"));
        assert_eq!(key_pair_id("u", "k").len(), 4 + DIGITS);
    }
}
