//! The UUIDs services and hypervisors are known by from 2.53: name-based (RFC 9562
//! version 8, from SHA-256 of what names them), so the same service keeps its id across
//! restarts and databases without a column to store it.

use sha2::{Digest, Sha256};

fn name_based(name: &str) -> String {
    let d = Sha256::digest(name.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x80; // version 8
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 9562 variant
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// The UUID of service `binary` (Nova's name) on `host`.
pub fn service(binary: &str, host: &str) -> String {
    name_based(&format!("metacloud:service:{binary}:{host}"))
}

/// The UUID of the hypervisor of `host`.
pub fn hypervisor(host: &str) -> String {
    name_based(&format!("metacloud:hypervisor:{host}"))
}

/// Whether `s` is a UUID in its hyphenated form.
pub fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_distinct_uuids() {
        let a = service("nova-compute", "h1");
        assert_eq!(a, service("nova-compute", "h1"));
        assert_ne!(a, service("nova-compute", "h2"));
        assert_ne!(a, service("nova-scheduler", "h1"));
        assert_ne!(hypervisor("h1"), service("nova-compute", "h1"));
        assert!(is_uuid(&a) && is_uuid(&hypervisor("h1")), "{a}");
        assert_eq!(&a[14..15], "8", "version 8: {a}");
        assert!(!is_uuid("disable") && !is_uuid("42"));
    }
}
