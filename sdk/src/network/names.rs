//! Interface and namespace names: `mcbr-`, `mcn-` and `mcvx-` and a short stable tag of
//! the network's id, so that every name fits Linux's IFNAMSIZ (15 characters).

/// Linux's longest interface name (IFNAMSIZ minus the terminating NUL).
pub const MAX_IFNAME: usize = 15;

/// The prefix of the bridges a driver makes (the host refuses others).
pub const BRIDGE_PREFIX: &str = "mcbr-";
/// The prefix of the network namespaces a driver asks for.
pub const NAMESPACE_PREFIX: &str = "mcn-";
/// The prefix of the VXLAN segment devices a driver asks for.
pub const SEGMENT_PREFIX: &str = "mcvx-";

/// The tag of an id: its first 8 hexadecimal digits, dashes (and anything else that is not
/// a hex digit) skipped, lower case (`6F1C0A2B-…` → `6f1c0a2b`). Shorter when the id has
/// fewer hex digits.
pub fn tag(id: &str) -> String {
    id.chars()
        .filter(char::is_ascii_hexdigit)
        .take(8)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The bridge of network `id`: `mcbr-<tag>` (13 characters).
pub fn bridge(id: &str) -> String {
    format!("{BRIDGE_PREFIX}{}", tag(id))
}

/// The namespace of network `id`: `mcn-<tag>` (12 characters).
pub fn namespace(id: &str) -> String {
    format!("{NAMESPACE_PREFIX}{}", tag(id))
}

/// The VXLAN device of network `id`: `mcvx-<tag>` (13 characters).
pub fn segment(id: &str) -> String {
    format!("{SEGMENT_PREFIX}{}", tag(id))
}

/// Whether `name` is a usable Linux interface name: 1 to 15 characters, none of them
/// `/`, whitespace or `:`, and not `.` or `..`.
pub fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_IFNAME
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_eight_hex_digits_without_dashes() {
        assert_eq!(tag("6F1C0A2B-1111-2222-3333-444455556666"), "6f1c0a2b");
        assert_eq!(tag("6f1c-0a2b-99"), "6f1c0a2b");
        assert_eq!(tag("ab"), "ab");
    }

    #[test]
    fn names_fit_ifnamsiz() {
        let id = "0123abcd-0000-0000-0000-000000000000";
        for name in [bridge(id), namespace(id), segment(id)] {
            assert!(valid_ifname(&name), "{name}");
        }
        assert_eq!(bridge(id), "mcbr-0123abcd");
        assert_eq!(namespace(id), "mcn-0123abcd");
        assert_eq!(segment(id), "mcvx-0123abcd");
        assert!(!valid_ifname("a-very-long-interface"));
        assert!(!valid_ifname("eth0:1"));
    }
}
