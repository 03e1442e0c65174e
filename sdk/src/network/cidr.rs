//! IPv4 CIDRs: parse, prefix, netmask, contains.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An IPv4 network, `10.0.0.0/24`; the address is kept as written (`10.0.0.1/24` keeps
/// `10.0.0.1`), [`Ipv4Cidr::network`] masks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Cidr {
    addr: Ipv4Addr,
    prefix: u8,
}

/// Why a CIDR did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CidrError(pub String);

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not an IPv4 CIDR: {:?}", self.0)
    }
}

impl std::error::Error for CidrError {}

impl Ipv4Cidr {
    /// A CIDR from an address and a prefix length (at most 32).
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Option<Ipv4Cidr> {
        (prefix <= 32).then_some(Ipv4Cidr { addr, prefix })
    }

    /// `a.b.c.d/n`; a bare address is a /32.
    pub fn parse(s: &str) -> Result<Ipv4Cidr, CidrError> {
        let err = || CidrError(s.to_string());
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, p.parse::<u8>().map_err(|_| err())?),
            None => (s.trim(), 32),
        };
        let addr = addr.parse::<Ipv4Addr>().map_err(|_| err())?;
        Ipv4Cidr::new(addr, prefix).ok_or_else(err)
    }

    /// The address as written.
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// The netmask (`255.255.255.0` for a /24).
    pub fn netmask(&self) -> Ipv4Addr {
        Ipv4Addr::from(mask_bits(self.prefix))
    }

    /// The network address (the address with the host bits cleared).
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & mask_bits(self.prefix))
    }

    /// The same network, host bits cleared (`10.0.0.1/24` → `10.0.0.0/24`).
    pub fn canonical(&self) -> Ipv4Cidr {
        Ipv4Cidr {
            addr: self.network(),
            prefix: self.prefix,
        }
    }

    /// Whether `ip` is inside the network.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask_bits(self.prefix) == u32::from(self.network())
    }

    /// Whether the address `ip` (a string) parses and is inside the network.
    pub fn contains_str(&self, ip: &str) -> bool {
        ip.parse::<Ipv4Addr>().is_ok_and(|ip| self.contains(ip))
    }
}

/// The mask of a prefix length as a number.
fn mask_bits(prefix: u8) -> u32 {
    match prefix {
        0 => 0,
        p => u32::MAX << (32 - u32::from(p.min(32))),
    }
}

impl FromStr for Ipv4Cidr {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Ipv4Cidr, CidrError> {
        Ipv4Cidr::parse(s)
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// `address/prefix of cidr` (`10.0.0.1` in `10.0.0.0/24` → `10.0.0.1/24`).
pub fn with_prefix(address: &str, cidr: &Ipv4Cidr) -> String {
    format!("{address}/{}", cidr.prefix())
}

/// An address as a /32 CIDR (`10.0.0.5` → `10.0.0.5/32`); an address that already has a
/// prefix is kept.
pub fn host_cidr(address: &str) -> String {
    if address.contains('/') {
        address.to_string()
    } else {
        format!("{address}/32")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_prefix_netmask() {
        let c = Ipv4Cidr::parse("10.0.0.0/24").unwrap();
        assert_eq!(c.prefix(), 24);
        assert_eq!(c.netmask(), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(c.to_string(), "10.0.0.0/24");
        assert_eq!(
            Ipv4Cidr::parse("0.0.0.0/0").unwrap().netmask(),
            Ipv4Addr::UNSPECIFIED
        );
        assert_eq!(Ipv4Cidr::parse("10.0.0.7").unwrap().prefix(), 32);
        let odd = Ipv4Cidr::parse("10.1.2.3/20").unwrap();
        assert_eq!(odd.network(), Ipv4Addr::new(10, 1, 0, 0));
        assert_eq!(odd.canonical().to_string(), "10.1.0.0/20");
    }

    #[test]
    fn bad_cidrs_are_refused() {
        for s in [
            "",
            "10.0.0.0/33",
            "10.0.0/24",
            "10.0.0.0/x",
            "fe80::/64",
            "10.0.0.0/",
        ] {
            assert!(Ipv4Cidr::parse(s).is_err(), "{s}");
        }
    }

    #[test]
    fn contains() {
        let c = Ipv4Cidr::parse("10.0.0.0/24").unwrap();
        assert!(c.contains_str("10.0.0.1"));
        assert!(c.contains_str("10.0.0.255"));
        assert!(!c.contains_str("10.0.1.1"));
        assert!(!c.contains_str("nonsense"));
        assert!(Ipv4Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains_str("203.0.113.9"));
        assert!(Ipv4Cidr::parse("10.0.0.5/32")
            .unwrap()
            .contains_str("10.0.0.5"));
        assert!(!Ipv4Cidr::parse("10.0.0.5/32")
            .unwrap()
            .contains_str("10.0.0.6"));
    }

    #[test]
    fn prefixed_and_host_addresses() {
        let c = Ipv4Cidr::parse("192.168.4.0/22").unwrap();
        assert_eq!(with_prefix("192.168.4.1", &c), "192.168.4.1/22");
        assert_eq!(host_cidr("10.0.0.5"), "10.0.0.5/32");
        assert_eq!(host_cidr("10.0.0.0/8"), "10.0.0.0/8");
    }
}
