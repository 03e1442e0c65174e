//! Each namespace's nftables rules, rendered from a checked plan and replaced whole in one
//! `nft -f` transaction (the table is declared, deleted and made again in one file), so a
//! re-apply never duplicates a rule and a failed apply changes nothing.
//!
//! - `inet metacloud`: NAT (metadata redirect, floating DNAT/SNAT, masquerade) and the
//!   stateful per-port filter. Bridged packets reach the inet hooks through br_netfilter,
//!   where the bridge is the interface, so a port's chains are reached by its address, as
//!   Nova's were: `ip saddr A` → `out-A` (allowed: return), `ip daddr A` → `in-A`
//!   (allowed: accept); what no flow allows is dropped.
//! - `bridge metacloud`: stateless anti-spoofing per tap: only the port's MAC, its address
//!   (and 0.0.0.0 for DHCP discovery), and ARP for its own address leave the port. On a
//!   network segmented between hosts (VXLAN), every host's namespace carries the same
//!   gateway, DHCP server and metadata redirect for its own guests, as nova-network's
//!   multi-host did: nothing crosses the segment to or from the namespace's own stack (its
//!   ARP answers for the gateway, DHCP offers, metadata), only guest-to-guest traffic.

use metacloud_plugins::network::{Direction, Flow, PortFilter};
use std::fmt::Write;
use std::io::Write as _;
use std::process::Stdio;

/// The metadata address guests ask.
pub const METADATA_ADDRESS: &str = "169.254.169.254";

/// One port of a namespace's ruleset.
#[derive(Debug, Clone)]
pub struct PortRules<'a> {
    pub device: &'a str,
    pub filter: &'a PortFilter,
}

/// A floating address in front of a fixed one, leaving through `public`.
#[derive(Debug, Clone)]
pub struct FloatingNat<'a> {
    pub floating: &'a str,
    pub fixed: &'a str,
}

/// What one namespace's ruleset holds.
#[derive(Debug, Clone, Default)]
pub struct Ruleset<'a> {
    pub ports: Vec<PortRules<'a>>,
    /// The gateway address and proxy port metadata requests are redirected to.
    pub metadata: Option<(&'a str, u16)>,
    pub floating: Vec<FloatingNat<'a>>,
    /// The interface towards the floating pool (in the namespace).
    pub public: Option<&'a str>,
    /// Masquerade this CIDR leaving through `public`.
    pub masquerade: Option<&'a str>,
    /// With a router: leave as this address (its gateway) instead of masquerading.
    pub snat_to: Option<&'a str>,
    /// The segment devices (VXLAN to other hosts) on the namespace's bridges.
    pub segments: Vec<&'a str>,
}

fn chain_tag(port_id: &str) -> String {
    port_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(12)
        .collect()
}

fn set(items: &[String]) -> String {
    if items.len() == 1 {
        items[0].clone()
    } else {
        format!("{{ {} }}", items.join(", "))
    }
}

/// The match of one flow, without its verdict (`tcp dport 80-80 ip saddr { … }`).
pub fn flow_match(f: &Flow) -> String {
    let mut m = Vec::new();
    let remotes: Vec<String> = f
        .remotes
        .iter()
        .filter(|r| r.as_str() != "0.0.0.0/0")
        .cloned()
        .collect();
    // Any remote (none given, or 0.0.0.0/0) needs no address match.
    if !remotes.is_empty() {
        let dir = match f.direction {
            Direction::Ingress => "saddr",
            Direction::Egress => "daddr",
        };
        m.push(format!("ip {dir} {}", set(&remotes)));
    }
    match f.protocol.as_deref() {
        Some(p @ ("tcp" | "udp")) => match (f.port_min, f.port_max) {
            (Some(lo), Some(hi)) if lo == hi => m.push(format!("{p} dport {lo}")),
            (Some(lo), Some(hi)) => m.push(format!("{p} dport {lo}-{hi}")),
            (Some(lo), None) => m.push(format!("{p} dport {lo}")),
            _ => m.push(format!("meta l4proto {p}")),
        },
        Some("icmp") => match (f.icmp_type, f.icmp_code) {
            (Some(t), Some(c)) => m.push(format!("icmp type {t} icmp code {c}")),
            (Some(t), None) => m.push(format!("icmp type {t}")),
            _ => m.push("meta l4proto icmp".into()),
        },
        _ => {}
    }
    m.join(" ")
}

fn rule(out: &mut String, matches: &str, verdict: &str) {
    if matches.is_empty() {
        let _ = writeln!(out, "    {verdict}");
    } else {
        let _ = writeln!(out, "    {matches} {verdict}");
    }
}

/// The `inet metacloud` table.
pub fn render_inet(r: &Ruleset<'_>) -> String {
    let mut out =
        String::from("table inet metacloud\ndelete table inet metacloud\ntable inet metacloud {\n");
    out.push_str(
        "  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n",
    );
    if let Some((gw, port)) = r.metadata {
        let _ = writeln!(
            out,
            "    ip daddr {METADATA_ADDRESS} tcp dport 80 dnat ip to {gw}:{port}"
        );
    }
    for f in &r.floating {
        let _ = writeln!(out, "    ip daddr {} dnat ip to {}", f.floating, f.fixed);
    }
    out.push_str("  }\n  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n");
    if let Some(public) = r.public {
        for f in &r.floating {
            let _ = writeln!(
                out,
                "    ip saddr {} oifname \"{public}\" snat ip to {}",
                f.fixed, f.floating
            );
        }
        match (r.masquerade, r.snat_to) {
            (Some(cidr), Some(gw)) => {
                let _ = writeln!(
                    out,
                    "    ip saddr {cidr} oifname \"{public}\" snat ip to {gw}"
                );
            }
            (Some(cidr), None) => {
                let _ = writeln!(out, "    ip saddr {cidr} oifname \"{public}\" masquerade");
            }
            _ => {}
        }
    }
    out.push_str(
        "  }\n  chain forward {\n    type filter hook forward priority filter; policy accept;\n",
    );
    out.push_str("    ct state established,related accept\n    ct state invalid drop\n");
    for p in &r.ports {
        for a in &p.filter.addresses {
            let _ = writeln!(
                out,
                "    ip saddr {a} jump out-{}",
                chain_tag(&p.filter.port_id)
            );
        }
    }
    for p in &r.ports {
        for a in &p.filter.addresses {
            let _ = writeln!(
                out,
                "    ip daddr {a} jump in-{}",
                chain_tag(&p.filter.port_id)
            );
        }
    }
    out.push_str("  }\n");
    for p in &r.ports {
        let tag = chain_tag(&p.filter.port_id);
        let _ = writeln!(out, "  chain in-{tag} {{");
        for f in p
            .filter
            .flows
            .iter()
            .filter(|f| f.direction == Direction::Ingress)
        {
            rule(&mut out, &flow_match(f), "accept");
        }
        out.push_str("    drop\n  }\n");
        let _ = writeln!(out, "  chain out-{tag} {{");
        for f in p
            .filter
            .flows
            .iter()
            .filter(|f| f.direction == Direction::Egress)
        {
            rule(&mut out, &flow_match(f), "return");
        }
        out.push_str("    drop\n  }\n");
    }
    out.push_str("}\n");
    out
}

/// The `bridge metacloud` table (anti-spoofing).
pub fn render_bridge(r: &Ruleset<'_>) -> String {
    let mut out = String::from(
        "table bridge metacloud\ndelete table bridge metacloud\ntable bridge metacloud {\n",
    );
    out.push_str(
        "  chain spoofing {\n    type filter hook prerouting priority filter; policy accept;\n",
    );
    for p in &r.ports {
        let dev = p.device;
        let mac = p.filter.mac.to_ascii_lowercase();
        let _ = writeln!(out, "    iifname \"{dev}\" ether saddr != {mac} drop");
        let mut own: Vec<String> = p.filter.addresses.clone();
        if own.is_empty() {
            let _ = writeln!(out, "    iifname \"{dev}\" ether type {{ ip, arp }} drop");
            continue;
        }
        let _ = writeln!(
            out,
            "    iifname \"{dev}\" ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp dport 67 accept"
        );
        let _ = writeln!(
            out,
            "    iifname \"{dev}\" ether type ip ip saddr != {} drop",
            set(&own)
        );
        own.push("0.0.0.0".into());
        let _ = writeln!(
            out,
            "    iifname \"{dev}\" ether type arp arp saddr ip != {} drop",
            set(&own)
        );
        let _ = writeln!(
            out,
            "    iifname \"{dev}\" ether type arp arp saddr ether != {mac} drop"
        );
        let _ = writeln!(
            out,
            "    iifname \"{dev}\" ether type != {{ ip, arp }} drop"
        );
    }
    out.push_str("  }\n");
    if !r.segments.is_empty() {
        let segments: Vec<String> = r.segments.iter().map(|s| format!("\"{s}\"")).collect();
        let segments = set(&segments);
        let _ = write!(
            out,
            "  chain segment-in {{\n    type filter hook input priority filter; policy accept;\n\
             \x20   iifname {segments} drop\n  }}\n\
             \x20 chain segment-out {{\n    type filter hook output priority filter; policy accept;\n\
             \x20   oifname {segments} drop\n  }}\n"
        );
    }
    out.push_str("}\n");
    out
}

/// Removes both tables (idempotent).
pub const FLUSH: &str = "table inet metacloud\ndelete table inet metacloud\ntable bridge metacloud\ndelete table bridge metacloud\n";

/// An nft failure with its own message.
#[derive(Debug, thiserror::Error)]
#[error("nft in {namespace}: {reason}")]
pub struct NftError {
    pub namespace: String,
    pub reason: String,
}

/// Applies `text` in one transaction inside `namespace` (none: the host's).
pub fn apply(namespace: Option<&str>, text: &str) -> Result<(), NftError> {
    let shown = namespace.unwrap_or("the host namespace").to_string();
    let fail = |reason: String| NftError {
        namespace: shown.clone(),
        reason,
    };
    let mut cmd = match namespace {
        Some(ns) => crate::netns::command(ns, "nft").map_err(|e| fail(e.to_string()))?,
        None => std::process::Command::new("nft"),
    };
    let mut child = cmd
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot run nft: {e}")))?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(text.as_bytes())
        .map_err(|e| fail(e.to_string()))?;
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(fail(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(
        direction: Direction,
        protocol: Option<&str>,
        ports: Option<(u16, u16)>,
        remotes: &[&str],
    ) -> Flow {
        Flow {
            direction,
            protocol: protocol.map(String::from),
            port_min: ports.map(|p| p.0),
            port_max: ports.map(|p| p.1),
            icmp_type: None,
            icmp_code: None,
            remotes: remotes.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn flows_render_as_nft_matches() {
        assert_eq!(
            flow_match(&flow(
                Direction::Ingress,
                Some("tcp"),
                Some((80, 80)),
                &["0.0.0.0/0"]
            )),
            "tcp dport 80"
        );
        assert_eq!(
            flow_match(&flow(
                Direction::Ingress,
                Some("udp"),
                Some((1000, 2000)),
                &["10.0.0.2/32", "10.0.0.3/32"]
            )),
            "ip saddr { 10.0.0.2/32, 10.0.0.3/32 } udp dport 1000-2000"
        );
        assert_eq!(flow_match(&flow(Direction::Egress, None, None, &[])), "");
        let mut icmp = flow(Direction::Egress, Some("icmp"), None, &["192.0.2.0/24"]);
        icmp.icmp_type = Some(8);
        assert_eq!(flow_match(&icmp), "ip daddr 192.0.2.0/24 icmp type 8");
    }

    #[test]
    fn a_port_gets_an_in_and_an_out_chain_and_anti_spoofing() {
        let filter = PortFilter {
            port_id: "0b5e-41".into(),
            mac: "FA:16:3E:00:00:01".into(),
            addresses: vec!["10.0.0.2".into()],
            flows: vec![
                flow(Direction::Ingress, Some("tcp"), Some((22, 22)), &[]),
                flow(Direction::Egress, None, None, &[]),
            ],
        };
        let r = Ruleset {
            ports: vec![PortRules {
                device: "tap0b5e",
                filter: &filter,
            }],
            metadata: Some(("10.0.0.1", 8775)),
            floating: vec![FloatingNat {
                floating: "172.24.4.10",
                fixed: "10.0.0.2",
            }],
            public: Some("pub0"),
            masquerade: Some("10.0.0.0/24"),
            snat_to: None,
            segments: vec![],
        };
        let inet = render_inet(&r);
        for part in [
            "ip daddr 169.254.169.254 tcp dport 80 dnat ip to 10.0.0.1:8775",
            "ip daddr 172.24.4.10 dnat ip to 10.0.0.2",
            "ip saddr 10.0.0.2 oifname \"pub0\" snat ip to 172.24.4.10",
            "ip saddr 10.0.0.0/24 oifname \"pub0\" masquerade",
            "ip saddr 10.0.0.2 jump out-0b5e41",
            "ip daddr 10.0.0.2 jump in-0b5e41",
            "  chain in-0b5e41 {\n    tcp dport 22 accept\n    drop\n  }",
            "  chain out-0b5e41 {\n    return\n    drop\n  }",
        ] {
            assert!(inet.contains(part), "missing {part:?} in\n{inet}");
        }
        assert!(inet.starts_with("table inet metacloud\ndelete table inet metacloud\n"));
        let bridge = render_bridge(&r);
        for part in [
            "iifname \"tap0b5e\" ether saddr != fa:16:3e:00:00:01 drop",
            "iifname \"tap0b5e\" ether type ip ip saddr != 10.0.0.2 drop",
            "arp saddr ip != { 10.0.0.2, 0.0.0.0 } drop",
        ] {
            assert!(bridge.contains(part), "missing {part:?} in\n{bridge}");
        }
        assert!(!bridge.contains("segment"), "{bridge}");
    }

    #[test]
    fn a_routers_network_leaves_as_its_gateway_address() {
        let r = Ruleset {
            public: Some("pub0"),
            masquerade: Some("10.0.0.0/24"),
            snat_to: Some("172.24.4.2"),
            ..Ruleset::default()
        };
        let inet = render_inet(&r);
        assert!(
            inet.contains("ip saddr 10.0.0.0/24 oifname \"pub0\" snat ip to 172.24.4.2"),
            "{inet}"
        );
        assert!(!inet.contains("masquerade"), "{inet}");
    }

    #[test]
    fn a_segment_carries_guests_traffic_only() {
        let r = Ruleset {
            segments: vec!["mcvx-1", "mcvx-2"],
            ..Ruleset::default()
        };
        let bridge = render_bridge(&r);
        for part in [
            "  chain segment-in {\n    type filter hook input priority filter; policy accept;\n    iifname { \"mcvx-1\", \"mcvx-2\" } drop\n  }\n",
            "  chain segment-out {\n    type filter hook output priority filter; policy accept;\n    oifname { \"mcvx-1\", \"mcvx-2\" } drop\n  }\n",
        ] {
            assert!(bridge.contains(part), "missing {part:?} in\n{bridge}");
        }
        assert!(bridge.ends_with("  }\n}\n"), "{bridge}");
        // nft itself accepts the text (checked without applying it).
        let out = std::process::Command::new("nft")
            .args(["-c", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                child
                    .stdin
                    .take()
                    .expect("stdin")
                    .write_all(bridge.as_bytes())?;
                child.wait_with_output()
            })
            .expect("nft");
        assert!(
            out.status.success(),
            "{}\n{bridge}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
