use super::*;
use metacloud_plugins::network::{
    Attachment, Bridge, Dhcp, DhcpHost, Direction, Floating, Metadata, Pool, PortFilter, Segment,
    Uplink,
};

fn network(id: &str, cidr: &str, gw: &str) -> Network {
    Network {
        id: id.into(),
        name: id.into(),
        project_id: Some("p1".into()),
        cidr: cidr.into(),
        gateway: gw.into(),
        range_start: gw.replace(".1", ".2"),
        range_end: gw.replace(".1", ".254"),
        dns: vec![],
        segment: Some(100),
        bridge: None,
        uplink: None,
        mtu: 1500,
        dhcp: true,
    }
}

fn port(id: &str, net: &str, mac: &str, address: &str) -> Port {
    Port {
        id: id.into(),
        network_id: net.into(),
        instance_id: format!("i-{id}"),
        project_id: "p1".into(),
        hostname: format!("vm-{id}"),
        mac: mac.into(),
        address: address.into(),
        device: format!("tap{id}"),
        security_groups: vec![],
    }
}

fn desired() -> Desired {
    Desired {
        host: "h1".into(),
        underlay_address: Some("192.168.50.1".into()),
        underlay_interface: Some("mctest-u".into()),
        peers: vec!["192.168.50.2".into()],
        networks: vec![
            network("n1", "10.0.0.0/24", "10.0.0.1"),
            network("n2", "10.0.1.0/24", "10.0.1.1"),
        ],
        ports: vec![
            port("a", "n1", "fa:16:3e:00:00:01", "10.0.0.2"),
            port("b", "n2", "fa:16:3e:00:00:02", "10.0.1.2"),
        ],
        groups: vec![],
        floatings: vec![Floating {
            address: "172.24.4.10".into(),
            pool: "public".into(),
            port_id: "a".into(),
        }],
        pools: vec![Pool {
            name: "public".into(),
            cidr: "172.24.4.0/24".into(),
            interface: "mctest-pub".into(),
            gateway: None,
        }],
    }
}

fn bridge(net: &str, tag: &str, address: &str) -> Bridge {
    Bridge {
        network_id: net.into(),
        name: format!("mcbr-{tag}"),
        namespace: Some(format!("mcn-{tag}")),
        managed: true,
        mtu: 1500,
        address: Some(address.into()),
    }
}

fn plan() -> Plan {
    Plan {
        bridges: vec![
            bridge("n1", "n1", "10.0.0.1/24"),
            bridge("n2", "n2", "10.0.1.1/24"),
        ],
        segments: vec![Segment {
            network_id: "n1".into(),
            name: "mcvx-n1".into(),
            vni: 100,
            underlay_interface: "mctest-u".into(),
            local: "192.168.50.1".into(),
            remotes: vec!["192.168.50.2".into()],
        }],
        uplinks: vec![],
        attachments: vec![
            Attachment {
                port_id: "a".into(),
                device: "tapa".into(),
            },
            Attachment {
                port_id: "b".into(),
                device: "tapb".into(),
            },
        ],
        dhcp: vec![Dhcp {
            network_id: "n1".into(),
            range_start: "10.0.0.2".into(),
            range_end: "10.0.0.254".into(),
            lease_seconds: 86400,
            router: Some("10.0.0.1".into()),
            dns: vec![],
            domain: "novalocal".into(),
            hosts: vec![DhcpHost {
                mac: "fa:16:3e:00:00:01".into(),
                hostname: "vm-a".into(),
                address: "10.0.0.2".into(),
            }],
        }],
        filters: vec![PortFilter {
            port_id: "a".into(),
            mac: "fa:16:3e:00:00:01".into(),
            addresses: vec!["10.0.0.2".into()],
            flows: vec![Flow {
                direction: Direction::Ingress,
                protocol: Some("tcp".into()),
                port_min: Some(80),
                port_max: Some(80),
                icmp_type: None,
                icmp_code: None,
                remotes: vec!["0.0.0.0/0".into()],
            }],
        }],
        nat: vec![
            Nat::Floating(Floating {
                address: "172.24.4.10".into(),
                pool: "public".into(),
                port_id: "a".into(),
            }),
            Nat::Masquerade("n1".into()),
        ],
        metadata: vec![Metadata {
            network_id: "n1".into(),
        }],
    }
}

fn policy() -> Policy {
    Policy {
        allowed_interfaces: ["mctest-u", "mctest-pub"].map(String::from).into(),
        ..Policy::default()
    }
}

fn refused(p: Plan) -> Vec<String> {
    check(&policy(), desired(), p).unwrap_err().reasons
}

#[test]
fn a_valid_plan_passes_whole() {
    let checked = check(&policy(), desired(), plan()).unwrap();
    assert_eq!(checked.plan, plan());
}

#[test]
fn an_uplink_outside_the_allow_list_is_refused() {
    let mut p = plan();
    p.uplinks.push(Uplink {
        network_id: "n1".into(),
        interface: "eth0".into(),
    });
    let reasons = refused(p);
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(reasons[0].contains("eth0 is not in network.allowed_interfaces"));
}

#[test]
fn addresses_outside_the_network_are_refused() {
    let mut p = plan();
    p.bridges[0].address = Some("192.0.2.1/24".into());
    p.dhcp[0].range_end = "10.0.1.9".into();
    p.bridges[1].address = Some("10.0.1.255/24".into());
    let reasons = refused(p);
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(
        reasons.iter().all(|r| r.contains("is not inside")),
        "{reasons:?}"
    );
}

#[test]
fn filters_only_for_this_plans_ports_and_their_own_addresses() {
    let mut p = plan();
    p.filters[0].addresses.push("10.0.0.99".into());
    let mut foreign = p.filters[0].clone();
    foreign.port_id = "someone-elses".into();
    foreign.addresses = vec!["10.0.0.2".into()];
    p.filters.push(foreign);
    let reasons = refused(p);
    assert!(reasons
        .iter()
        .any(|r| r.contains("10.0.0.99 is not the port's")));
    assert!(reasons
        .iter()
        .any(|r| r.contains("port someone-elses is not in the desired state")));
}

#[test]
fn dhcp_hosts_must_be_ports_of_that_network() {
    let mut p = plan();
    p.dhcp[0].hosts.push(DhcpHost {
        mac: "fa:16:3e:00:00:02".into(),
        hostname: "vm-b".into(),
        address: "10.0.1.2".into(),
    });
    p.dhcp[0].hosts[0].hostname = "x\ndhcp-option=3,6.6.6.6".into();
    let reasons = refused(p);
    assert!(reasons
        .iter()
        .any(|r| r.contains("is not a port of this network")));
    assert!(reasons.iter().any(|r| r.contains("is not a DNS name")));
}

#[test]
fn names_follow_the_patterns_and_fit_ifnamsiz() {
    let mut p = plan();
    p.bridges[0].name = "eth0".into();
    p.bridges[1].namespace = Some("mcn-n2-far-too-long".into());
    p.bridges[1].name = "mcbr-0123456789ab".into();
    p.segments[0].name = "vx;rm".into();
    let reasons = refused(p);
    assert_eq!(reasons.len(), 4, "{reasons:?}");
}

#[test]
fn host_namespace_only_for_an_allowed_operator_bridge() {
    let mut p = plan();
    p.bridges[0].namespace = None;
    let reasons = refused(p.clone());
    assert!(reasons.iter().any(|r| r.contains("needs a namespace")));
    p.bridges[0].managed = false;
    p.bridges[0].name = "br-ops".into();
    let reasons = refused(p);
    assert!(reasons
        .iter()
        .any(|r| r.contains("br-ops is not in network.allowed_interfaces")));
}

#[test]
fn segments_reach_only_peers_over_the_allowed_underlay() {
    let mut p = plan();
    p.segments[0].remotes.push("8.8.8.8".into());
    p.segments[0].underlay_interface = "eth1".into();
    p.segments[0].vni = 0;
    let reasons = refused(p);
    assert_eq!(reasons.len(), 3, "{reasons:?}");
}

#[test]
fn floating_nat_only_for_the_desired_associations() {
    let mut p = plan();
    p.nat.push(Nat::Floating(Floating {
        address: "172.24.4.11".into(),
        pool: "public".into(),
        port_id: "b".into(),
    }));
    let reasons = refused(p);
    assert!(reasons
        .iter()
        .any(|r| r.contains("not a floating address of the desired state")));
}

#[test]
fn a_bad_flow_is_refused() {
    let mut p = plan();
    p.filters[0].flows[0].protocol = Some("gre".into());
    let bad_remote = Flow {
        protocol: None,
        remotes: vec!["10.0.0.0/33".into()],
        ..p.filters[0].flows[0].clone()
    };
    p.filters[0].flows.push(bad_remote);
    let reasons = refused(p);
    assert_eq!(reasons.len(), 2, "{reasons:?}");
}

#[test]
fn an_attachment_names_the_ports_own_device() {
    let mut p = plan();
    p.attachments[0].device = "eth0".into();
    let reasons = refused(p);
    assert!(reasons.iter().any(|r| r.contains("has device tapa")));
}
