//! Security-group rules compiled into the flows of a port's filter.
//!
//! A rule's remote is a CIDR (`remote-cidr`: one remote), the members of a group
//! (`remote-group`: each member's address as a /32), both (the members inside the CIDR), or
//! neither (any remote). A rule whose remote group is unknown or has no members allows
//! nothing, so it yields no flow (an empty `remotes` would mean *any*). A rule whose CIDR
//! does not parse yields no flow either: what no flow allows is dropped.

use super::cidr::{host_cidr, Ipv4Cidr};
use super::types::{Desired, Direction, Flow, Network, Port, Rule, SecurityGroup};

/// The flow of one rule, looking remote groups up in `groups`; none when the rule can
/// match nothing.
pub fn rule_flow(rule: &Rule, groups: &[SecurityGroup]) -> Option<Flow> {
    let cidr = match &rule.remote_cidr {
        Some(c) => Some(Ipv4Cidr::parse(c).ok()?.canonical()),
        None => None,
    };
    let remotes = match (&rule.remote_group, cidr) {
        (Some(g), cidr) => group_remotes(g, groups, cidr.as_ref())?,
        (None, Some(c)) => vec![c.to_string()],
        (None, None) => Vec::new(),
    };
    Some(Flow {
        direction: rule.direction,
        protocol: rule.protocol.as_ref().map(|p| p.to_ascii_lowercase()),
        port_min: rule.port_min,
        port_max: rule.port_max.or(rule.port_min),
        icmp_type: rule.icmp_type,
        icmp_code: rule.icmp_code,
        remotes,
    })
}

/// The members of group `id` as /32s (inside `within`, if given); none when there are none.
fn group_remotes(
    id: &str,
    groups: &[SecurityGroup],
    within: Option<&Ipv4Cidr>,
) -> Option<Vec<String>> {
    let group = groups.iter().find(|g| g.id == id)?;
    let mut remotes: Vec<String> = group
        .members
        .iter()
        .filter(|m| within.is_none_or(|c| c.contains_str(m)))
        .map(|m| host_cidr(m))
        .collect();
    remotes.sort();
    remotes.dedup();
    (!remotes.is_empty()).then_some(remotes)
}

/// The flows of a port: the union of the rules of its groups (unknown groups add nothing),
/// duplicates dropped, in first-seen order.
pub fn port_flows(port: &Port, groups: &[SecurityGroup]) -> Vec<Flow> {
    let mut flows = Vec::new();
    for group in port
        .security_groups
        .iter()
        .filter_map(|id| groups.iter().find(|g| &g.id == id))
    {
        for flow in group.rules.iter().filter_map(|r| rule_flow(r, groups)) {
            push_unique(&mut flows, flow);
        }
    }
    flows
}

/// Appends `flow` unless it is already there.
pub fn push_unique(flows: &mut Vec<Flow>, flow: Flow) {
    if !flows.contains(&flow) {
        flows.push(flow);
    }
}

/// Any traffic from the network's own CIDR (`allow_same_net_traffic`).
pub fn same_net_flow(network: &Network) -> Option<Flow> {
    let cidr = Ipv4Cidr::parse(&network.cidr).ok()?.canonical();
    Some(Flow {
        direction: Direction::Ingress,
        remotes: vec![cidr.to_string()],
        ..Flow::default()
    })
}

/// The egress a guest needs from the services the driver plans for its network: DHCP
/// requests to the gateway and to the broadcast address (when `dhcp`), and the metadata
/// service at 169.254.169.254:80 (when `metadata`).
pub fn service_flows(network: &Network, dhcp: bool, metadata: bool) -> Vec<Flow> {
    let mut flows = Vec::new();
    if dhcp {
        flows.push(Flow {
            direction: Direction::Egress,
            protocol: Some("udp".into()),
            port_min: Some(67),
            port_max: Some(67),
            remotes: vec![host_cidr(&network.gateway), "255.255.255.255/32".into()],
            ..Flow::default()
        });
    }
    if metadata {
        flows.push(Flow {
            direction: Direction::Egress,
            protocol: Some("tcp".into()),
            port_min: Some(80),
            port_max: Some(80),
            remotes: vec!["169.254.169.254/32".into()],
            ..Flow::default()
        });
    }
    flows
}

/// The flows of `port` in `desired`: its groups' rules, then `extra`, without duplicates.
pub fn port_flows_with(port: &Port, desired: &Desired, extra: Vec<Flow>) -> Vec<Flow> {
    let mut flows = port_flows(port, &desired.groups);
    for flow in extra {
        push_unique(&mut flows, flow);
    }
    flows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(direction: Direction) -> Rule {
        Rule {
            direction,
            ..Rule::default()
        }
    }

    fn group(id: &str, rules: Vec<Rule>, members: &[&str]) -> SecurityGroup {
        SecurityGroup {
            id: id.into(),
            project_id: "p".into(),
            rules,
            members: members.iter().map(|m| m.to_string()).collect(),
        }
    }

    #[test]
    fn tcp_80_from_anywhere() {
        let r = Rule {
            protocol: Some("TCP".into()),
            port_min: Some(80),
            port_max: Some(80),
            remote_cidr: Some("0.0.0.0/0".into()),
            ..rule(Direction::Ingress)
        };
        let f = rule_flow(&r, &[]).unwrap();
        assert_eq!(f.direction, Direction::Ingress);
        assert_eq!(f.protocol.as_deref(), Some("tcp"));
        assert_eq!((f.port_min, f.port_max), (Some(80), Some(80)));
        assert_eq!(f.remotes, vec!["0.0.0.0/0"]);
    }

    #[test]
    fn icmp_keeps_type_and_code() {
        let r = Rule {
            protocol: Some("icmp".into()),
            icmp_type: Some(8),
            icmp_code: Some(0),
            remote_cidr: Some("10.1.2.3/16".into()),
            ..rule(Direction::Ingress)
        };
        let f = rule_flow(&r, &[]).unwrap();
        assert_eq!((f.icmp_type, f.icmp_code), (Some(8), Some(0)));
        assert_eq!((f.port_min, f.port_max), (None, None));
        assert_eq!(f.remotes, vec!["10.1.0.0/16"], "the CIDR is canonical");
    }

    #[test]
    fn remote_group_members_become_host_remotes() {
        let groups = [group("web", vec![], &["10.0.0.7", "10.0.1.3", "10.0.0.7"])];
        let r = Rule {
            remote_group: Some("web".into()),
            ..rule(Direction::Ingress)
        };
        let f = rule_flow(&r, &groups).unwrap();
        assert_eq!(f.remotes, vec!["10.0.0.7/32", "10.0.1.3/32"]);
        assert_eq!(f.protocol, None, "any protocol");

        let within = Rule {
            remote_cidr: Some("10.0.1.0/24".into()),
            ..r.clone()
        };
        assert_eq!(
            rule_flow(&within, &groups).unwrap().remotes,
            vec!["10.0.1.3/32"]
        );
    }

    #[test]
    fn empty_or_unknown_remote_group_yields_no_flow() {
        let groups = [group("empty", vec![], &[])];
        for g in ["empty", "unknown"] {
            let r = Rule {
                remote_group: Some(g.into()),
                ..rule(Direction::Egress)
            };
            assert_eq!(rule_flow(&r, &groups), None, "{g}");
        }
        let bad = Rule {
            remote_cidr: Some("10.0.0.0/40".into()),
            ..rule(Direction::Egress)
        };
        assert_eq!(rule_flow(&bad, &groups), None);
        assert_eq!(
            rule_flow(&rule(Direction::Egress), &groups)
                .unwrap()
                .remotes,
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_port_gets_the_union_of_its_groups() {
        let ssh = Rule {
            protocol: Some("tcp".into()),
            port_min: Some(22),
            remote_cidr: Some("0.0.0.0/0".into()),
            ..rule(Direction::Ingress)
        };
        let egress = rule(Direction::Egress);
        let groups = [
            group("a", vec![ssh.clone(), egress.clone()], &[]),
            group("b", vec![egress.clone()], &[]),
            group("c", vec![rule(Direction::Ingress)], &[]),
        ];
        let port = Port {
            security_groups: vec!["a".into(), "b".into(), "missing".into()],
            ..Port::default()
        };
        let flows = port_flows(&port, &groups);
        assert_eq!(flows.len(), 2, "{flows:?}");
        assert_eq!(flows[0].port_max, Some(22), "a single port is min..=min");
        assert_eq!(flows[1], rule_flow(&egress, &groups).unwrap());
    }
}
