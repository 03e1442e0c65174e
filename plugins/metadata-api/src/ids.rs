//! EC2 ids of the host's UUIDs, the same mapping as the EC2 API dialect's
//! (plugins/ec2-api/src/ids.rs): `i-` (instances) or `ami-` (images) and the first 17 hex
//! digits of the UUID without its dashes, lower case; an id that is not a UUID is hashed
//! (SHA-256) instead, so every id has an EC2 form.

use sha2::{Digest, Sha256};

/// Hex digits of an EC2 id.
pub const DIGITS: usize = 17;

/// The hex digits an id is named by.
fn digits_of(uuid: &str) -> String {
    let stripped: String = uuid.chars().filter(|c| *c != '-').collect();
    if stripped.len() >= DIGITS && stripped.chars().all(|c| c.is_ascii_hexdigit()) {
        stripped.to_ascii_lowercase()
    } else {
        hex::encode(Sha256::digest(uuid.as_bytes()))
    }
}

fn ec2_id(prefix: &str, uuid: &str) -> String {
    let d = digits_of(uuid);
    format!("{prefix}{}", &d[..DIGITS])
}

/// `i-…` of an instance UUID.
pub fn instance_id(uuid: &str) -> String {
    ec2_id("i-", uuid)
}

/// `ami-…` of an image UUID.
pub fn image_id(uuid: &str) -> String {
    ec2_id("ami-", uuid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_keep_their_first_17_digits() {
        let uuid = "3F2504E0-4F89-11D3-9A0C-0305E82C3301";
        assert_eq!(instance_id(uuid), "i-3f2504e04f8911d39");
        assert_eq!(image_id(uuid), "ami-3f2504e04f8911d39");
    }

    #[test]
    fn other_ids_are_hashed() {
        let a = instance_id("not-a-uuid");
        assert!(a.starts_with("i-") && a.len() == 2 + DIGITS, "{a}");
        assert!(a[2..].bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(a, instance_id("not-a-uuid"));
        assert_ne!(a, instance_id("not-a-uuid2"));
        assert_eq!(image_id("").len(), 4 + DIGITS);
    }
}
