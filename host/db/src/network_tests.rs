//! Networks, floating addresses and security groups: the same checks on SQLite and on
//! PostgreSQL.

use super::*;
use crate::networks::NewNetwork;
use crate::secgroups::NewRule;
use std::collections::BTreeSet;

async fn both(f: impl Fn(Db) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>) {
    let sqlite = Db::connect(&scratch::sqlite_url(), 5, Duration::from_secs(5))
        .await
        .unwrap();
    sqlite.migrate().await.unwrap();
    f(sqlite).await;
    let url = scratch::create_postgres_database().await.unwrap();
    let pg = Db::connect(&url, 10, Duration::from_secs(10))
        .await
        .unwrap();
    pg.migrate().await.unwrap();
    f(pg.clone()).await;
    pg.close().await;
    scratch::drop_postgres_database(&url).await;
}

fn net(name: &str, cidr: &str) -> NewNetwork {
    NewNetwork {
        name: name.into(),
        cidr: cidr.into(),
        driver: "linux-bridge".into(),
        dhcp: true,
        ..NewNetwork::default()
    }
}

#[tokio::test]
async fn network_creation_checks_cidr_gateway_range_and_overlap() {
    both(|db| {
        Box::pin(async move {
            let n = db
                .create_network(&net("private", "10.0.0.0/24"))
                .await
                .unwrap();
            assert_eq!(
                (
                    n.gateway.as_str(),
                    n.range_start.as_str(),
                    n.range_end.as_str()
                ),
                ("10.0.0.1", "10.0.0.2", "10.0.0.254")
            );
            assert_eq!(n.mtu, 1500);
            assert_eq!(db.free_address_count(&n.id).await.unwrap(), 253);
            for (cidr, why) in [
                ("10.1.0.0", "no prefix"),
                ("10.1.0.0/7", "prefix too short"),
                ("10.1.0.0/31", "prefix too long"),
                ("10.1.0.5/24", "host bits"),
                ("fe80::/64", "IPv6"),
                ("nonsense/24", "not an address"),
            ] {
                let e = db.create_network(&net("bad", cidr)).await.unwrap_err();
                assert!(matches!(e, DbError::InvalidNetwork(_)), "{why}: {e}");
            }
            let mut outside = net("bad", "10.1.0.0/24");
            outside.gateway = Some("10.2.0.1".into());
            let e = db.create_network(&outside).await.unwrap_err();
            assert!(e.to_string().contains("gateway 10.2.0.1"), "{e}");
            let mut broadcast = net("bad", "10.1.0.0/24");
            broadcast.gateway = Some("10.1.0.255".into());
            assert!(matches!(
                db.create_network(&broadcast).await,
                Err(DbError::InvalidNetwork(_))
            ));
            let mut range = net("bad", "10.1.0.0/24");
            range.range_start = Some("10.1.0.100".into());
            range.range_end = Some("10.1.0.50".into());
            assert!(matches!(
                db.create_network(&range).await,
                Err(DbError::InvalidNetwork(_))
            ));
            for cidr in ["10.0.0.0/16", "10.0.0.128/25", "10.0.0.0/24"] {
                let e = db.create_network(&net("over", cidr)).await.unwrap_err();
                assert!(matches!(e, DbError::AddressOverlap { .. }), "{cidr}: {e}");
                assert!(e.to_string().contains("private"), "{e}");
            }
            let mut seg = net("vlan", "10.3.0.0/28");
            seg.segment = Some(100);
            seg.range_start = Some("10.3.0.5".into());
            seg.range_end = Some("10.3.0.9".into());
            let v = db.create_network(&seg).await.unwrap();
            assert_eq!(v.segment, Some(100));
            assert_eq!(db.free_address_count(&v.id).await.unwrap(), 5);
            let mut dup = net("vlan2", "10.4.0.0/28");
            dup.segment = Some(100);
            assert!(matches!(
                db.create_network(&dup).await,
                Err(DbError::Conflict(_))
            ));
            // Associating, listing, deleting.
            assert_eq!(db.list_networks(Some("p1")).await.unwrap().len(), 2);
            db.associate_network(&v.id, "p2").await.unwrap();
            assert_eq!(db.list_networks(Some("p1")).await.unwrap().len(), 1);
            assert!(matches!(
                db.associate_network(&v.id, "p1").await,
                Err(DbError::Conflict(_))
            ));
            assert!(matches!(
                db.allocate_port("i1", "p1", &v.id, None).await,
                Err(DbError::NotFound(_))
            ));
            db.disassociate_network(&v.id).await.unwrap();
            let port = db.allocate_port("i1", "p1", &v.id, None).await.unwrap();
            assert!(matches!(
                db.delete_network(&v.id).await,
                Err(DbError::NetworkInUse { .. })
            ));
            db.release_ports_of_instance("i1").await.unwrap();
            assert_eq!(port.address, "10.3.0.5");
            db.delete_network(&v.id).await.unwrap();
            assert!(matches!(
                db.get_network(&v.id).await,
                Err(DbError::NotFound(_))
            ));
            // Its segment and CIDR are free again.
            db.create_network(&seg).await.unwrap();
        })
    })
    .await;
}

#[tokio::test]
async fn concurrent_port_allocations_get_distinct_addresses_until_exhausted() {
    both(|db| {
        Box::pin(async move {
            let n = db
                .create_network(&net("private", "10.0.0.0/24"))
                .await
                .unwrap();
            let mut tasks = Vec::new();
            for i in 0..200 {
                let db = db.clone();
                let id = n.id.clone();
                tasks.push(tokio::spawn(async move {
                    db.allocate_port(&format!("vm-{i}"), "p1", &id, None).await
                }));
            }
            let mut addresses = BTreeSet::new();
            let mut macs = BTreeSet::new();
            for t in tasks {
                let p = t.await.unwrap().unwrap();
                assert!(
                    p.mac.starts_with("fa:16:3e:") && p.mac.len() == 17,
                    "{}",
                    p.mac
                );
                assert!(p.device.starts_with("tap") && p.device.len() <= 15);
                assert_ne!(p.address, "10.0.0.1", "the gateway");
                addresses.insert(p.address);
                macs.insert(p.mac);
            }
            assert_eq!(addresses.len(), 200);
            assert_eq!(macs.len(), 200);
            assert_eq!(db.free_address_count(&n.id).await.unwrap(), 53);
            for i in 200..253 {
                let p = db
                    .allocate_port(&format!("vm-{i}"), "p1", &n.id, None)
                    .await
                    .unwrap();
                addresses.insert(p.address);
            }
            assert_eq!(addresses.len(), 253);
            let e = db
                .allocate_port("vm-253", "p1", &n.id, None)
                .await
                .unwrap_err();
            assert!(matches!(e, DbError::AddressesExhausted { .. }), "{e}");
            assert!(e.to_string().contains("private"), "{e}");
            assert!(db.ports_of_instance("vm-253").await.unwrap().is_empty());
            assert_eq!(db.ports_of_network(&n.id).await.unwrap().len(), 253);
            for i in 0..253 {
                let freed = db
                    .release_ports_of_instance(&format!("vm-{i}"))
                    .await
                    .unwrap();
                assert_eq!(freed.len(), 1);
            }
            assert_eq!(db.free_address_count(&n.id).await.unwrap(), 253);
            assert!(db.ports_of_network(&n.id).await.unwrap().is_empty());
        })
    })
    .await;
}

#[tokio::test]
async fn a_requested_address_is_given_once_and_only_from_the_range() {
    both(|db| {
        Box::pin(async move {
            let n = db
                .create_network(&net("private", "10.0.0.0/24"))
                .await
                .unwrap();
            let p = db
                .allocate_port("i1", "p1", &n.id, Some("10.0.0.50"))
                .await
                .unwrap();
            assert_eq!(p.address, "10.0.0.50");
            let f = db.get_fixed_ip(&n.id, "10.0.0.50").await.unwrap();
            assert!(f.allocated && !f.leased);
            assert_eq!(f.port_id.as_deref(), Some(p.id.as_str()));
            assert_eq!(f.instance_id.as_deref(), Some("i1"));
            let e = db
                .allocate_port("i2", "p1", &n.id, Some("10.0.0.50"))
                .await
                .unwrap_err();
            assert!(matches!(e, DbError::AddressInUse { .. }), "{e}");
            for bad in ["10.0.0.1", "10.0.1.5", "10.0.0.255", "not-an-ip"] {
                let e = db
                    .allocate_port("i2", "p1", &n.id, Some(bad))
                    .await
                    .unwrap_err();
                assert!(
                    matches!(e, DbError::AddressNotAvailable { .. }),
                    "{bad}: {e}"
                );
            }
            assert!(db.ports_of_instance("i2").await.unwrap().is_empty());
            // Leases, hosts and change counters.
            db.mark_leased("10.0.0.50", &n.id, true).await.unwrap();
            assert!(db.get_fixed_ip(&n.id, "10.0.0.50").await.unwrap().leased);
            assert!(matches!(
                db.mark_leased("10.0.0.51", &n.id, true).await,
                Err(DbError::NotFound(_))
            ));
            let scope = networks::host_scope("h1");
            assert_eq!(db.network_generation(&scope).await.unwrap(), 0);
            let moved = db.set_port_host("i1", Some("h1")).await.unwrap();
            assert_eq!(moved[0].host.as_deref(), Some("h1"));
            assert_eq!(db.ports_on_host("h1").await.unwrap().len(), 1);
            assert_eq!(db.network_generation(&scope).await.unwrap(), 1);
            let freed = db.release_ports_of_instance("i1").await.unwrap();
            assert_eq!(freed, vec![moved[0].clone()]);
            assert_eq!(db.network_generation(&scope).await.unwrap(), 2);
            let f = db.get_fixed_ip(&n.id, "10.0.0.50").await.unwrap();
            assert!(!f.allocated && !f.leased && f.port_id.is_none());
            assert!(db.ports_on_host("h1").await.unwrap().is_empty());
        })
    })
    .await;
}

#[tokio::test]
async fn floating_addresses_follow_quota_association_and_release() {
    both(|db| {
        Box::pin(async move {
            let r = db
                .create_floating_range("public", "192.0.2.0/29", "br-ex", Some("192.0.2.1"))
                .await
                .unwrap();
            assert_eq!(r.pool, "public");
            assert_eq!(db.list_pools().await.unwrap(), vec!["public".to_string()]);
            assert!(matches!(
                db.create_floating_range("other", "192.0.2.0/28", "br-ex", None)
                    .await,
                Err(DbError::AddressOverlap { .. })
            ));
            assert!(matches!(
                db.allocate_floating("p1", "nowhere", -1).await,
                Err(DbError::NotFound(_))
            ));
            // 6 hosts minus the gateway: 5 addresses; p1 may hold 3.
            let mut tasks = Vec::new();
            for _ in 0..6 {
                let db = db.clone();
                tasks.push(tokio::spawn(async move {
                    db.allocate_floating("p1", "public", 3).await
                }));
            }
            let (mut ok, mut over) = (BTreeSet::new(), 0);
            for t in tasks {
                match t.await.unwrap() {
                    Ok(f) => {
                        assert_ne!(f.address, "192.0.2.1");
                        assert_eq!(f.interface, "br-ex");
                        ok.insert(f.address);
                    }
                    Err(DbError::QuotaExceeded { resource, .. }) => {
                        assert_eq!(resource, "floating_ips");
                        over += 1
                    }
                    Err(e) => panic!("unexpected {e}"),
                }
            }
            assert_eq!((ok.len(), over), (3, 3));
            db.allocate_floating("p2", "public", -1).await.unwrap();
            db.allocate_floating("p2", "public", -1).await.unwrap();
            let e = db.allocate_floating("p2", "public", -1).await.unwrap_err();
            assert!(matches!(e, DbError::FloatingIpsExhausted { .. }), "{e}");
            assert!(e.to_string().contains("public"), "{e}");
            assert_eq!(db.quota_usage("p2").await.unwrap()["floating_ips"], 2);

            let n = db
                .create_network(&net("private", "10.0.0.0/24"))
                .await
                .unwrap();
            let port = db.allocate_port("i1", "p1", &n.id, None).await.unwrap();
            db.set_port_host("i1", Some("h1")).await.unwrap();
            let other = db.allocate_port("i2", "p2", &n.id, None).await.unwrap();
            let addr = ok.iter().next().unwrap().clone();
            assert!(matches!(
                db.associate_floating(&addr, "p1", &other.id).await,
                Err(DbError::NotFound(_))
            ));
            assert!(matches!(
                db.associate_floating(&addr, "p2", &other.id).await,
                Err(DbError::NotFound(_))
            ));
            let g0 = db
                .network_generation(&networks::host_scope("h1"))
                .await
                .unwrap();
            let f = db.associate_floating(&addr, "p1", &port.id).await.unwrap();
            assert_eq!(f.fixed_address.as_deref(), Some(port.address.as_str()));
            assert_eq!(f.host.as_deref(), Some("h1"));
            assert!(
                db.network_generation(&networks::host_scope("h1"))
                    .await
                    .unwrap()
                    > g0
            );
            let port2 = db.allocate_port("i3", "p1", &n.id, None).await.unwrap();
            assert!(matches!(
                db.associate_floating(&addr, "p1", &port2.id).await,
                Err(DbError::FloatingIpAssociated { .. })
            ));
            let of = db
                .floating_of_ports(std::slice::from_ref(&port.id))
                .await
                .unwrap();
            assert_eq!(of.len(), 1);
            assert_eq!(of[0].address, addr);
            assert!(db.floating_of_ports(&[]).await.unwrap().is_empty());
            let f = db.disassociate_floating(&addr, "p1").await.unwrap();
            assert!(f.port_id.is_none() && f.fixed_address.is_none());
            db.associate_floating(&addr, "p1", &port.id).await.unwrap();
            // Releasing disassociates; a deleted instance's ports drop their association.
            assert!(matches!(
                db.release_floating(&addr, "p2").await,
                Err(DbError::NotFound(_))
            ));
            db.release_floating(&addr, "p1").await.unwrap();
            assert_eq!(db.list_floating(Some("p1")).await.unwrap().len(), 2);
            assert_eq!(db.quota_usage("p1").await.unwrap()["floating_ips"], 2);
            let held = db.list_floating(Some("p1")).await.unwrap()[0]
                .address
                .clone();
            db.associate_floating(&held, "p1", &port.id).await.unwrap();
            db.release_ports_of_instance("i1").await.unwrap();
            let f = db.get_floating(&held).await.unwrap();
            assert_eq!(f.project_id.as_deref(), Some("p1"));
            assert!(f.port_id.is_none());
            assert_eq!(db.list_floating(None).await.unwrap().len(), 4);
            assert!(matches!(
                db.delete_floating_range("192.0.2.0/29").await,
                Err(DbError::Conflict(_))
            ));
            for f in db.list_floating(None).await.unwrap() {
                db.release_floating(&f.address, f.project_id.as_deref().unwrap())
                    .await
                    .unwrap();
            }
            db.delete_floating_range("192.0.2.0/29").await.unwrap();
            assert!(db.list_pools().await.unwrap().is_empty());
        })
    })
    .await;
}

#[tokio::test]
async fn auto_assigned_floating_addresses_follow_their_port_back_to_the_pool() {
    both(|db| {
        Box::pin(async move {
            db.create_floating_range("public", "192.0.2.8/30", "br-ex", None)
                .await
                .unwrap();
            let n = db
                .create_network(&net("private", "10.0.0.0/24"))
                .await
                .unwrap();
            let port = db.allocate_port("i1", "p1", &n.id, None).await.unwrap();
            assert!(matches!(
                db.auto_assign_floating("p1", "nowhere", &port.id).await,
                Err(DbError::NotFound(_))
            ));
            assert!(matches!(
                db.auto_assign_floating("p2", "public", &port.id).await,
                Err(DbError::NotFound(_))
            ));
            // The project's usage at its limit does not stop an auto-assignment.
            db.allocate_floating("p1", "public", 1).await.unwrap();
            let f = db
                .auto_assign_floating("p1", "public", &port.id)
                .await
                .unwrap();
            assert!(f.auto_assigned);
            assert_eq!(f.project_id.as_deref(), Some("p1"));
            assert_eq!(f.fixed_address.as_deref(), Some(port.address.as_str()));
            assert_eq!(db.quota_usage("p1").await.unwrap()["floating_ips"], 2);
            // The /30 has two host addresses: the pool is now empty.
            let port2 = db.allocate_port("i2", "p1", &n.id, None).await.unwrap();
            assert!(matches!(
                db.auto_assign_floating("p1", "public", &port2.id).await,
                Err(DbError::FloatingIpsExhausted { .. })
            ));
            assert_eq!(db.quota_usage("p1").await.unwrap()["floating_ips"], 2);
            // The instance goes: its auto-assigned address goes back to the pool.
            db.release_ports_of_instance("i1").await.unwrap();
            let back = db.get_floating(&f.address).await.unwrap();
            assert!(back.project_id.is_none() && back.port_id.is_none() && !back.auto_assigned);
            assert_eq!(db.quota_usage("p1").await.unwrap()["floating_ips"], 1);
            let again = db
                .auto_assign_floating("p1", "public", &port2.id)
                .await
                .unwrap();
            assert_eq!(again.address, f.address);
        })
    })
    .await;
}

fn tcp(min: i64, max: i64) -> NewRule {
    NewRule {
        direction: "ingress".into(),
        protocol: Some("tcp".into()),
        port_min: Some(min),
        port_max: Some(max),
        remote_cidr: Some("0.0.0.0/0".into()),
        ..NewRule::default()
    }
}

#[tokio::test]
async fn security_groups_default_rules_validation_and_use() {
    both(|db| {
        Box::pin(async move {
            let mut tasks = Vec::new();
            for _ in 0..10 {
                let db = db.clone();
                tasks.push(tokio::spawn(
                    async move { db.ensure_default_group("p1").await },
                ));
            }
            let mut ids = BTreeSet::new();
            for t in tasks {
                ids.insert(t.await.unwrap().unwrap().id);
            }
            assert_eq!(ids.len(), 1, "one default group");
            let default = db.ensure_default_group("p1").await.unwrap();
            assert_eq!(db.list_security_groups(Some("p1")).await.unwrap().len(), 1);
            let rules = db.security_group_rules(&default.id).await.unwrap();
            assert_eq!(rules.len(), 2);
            assert!(rules.iter().any(|r| r.direction == "ingress"
                && r.protocol.is_none()
                && r.remote_group_id.as_deref() == Some(default.id.as_str())));
            assert!(rules.iter().any(|r| r.direction == "egress"
                && r.remote_cidr.is_none()
                && r.remote_group_id.is_none()));

            let web = db
                .create_security_group("p1", "web", "web servers", 2)
                .await
                .unwrap();
            assert!(matches!(
                db.create_security_group("p1", "web", "", 5).await,
                Err(DbError::Conflict(_))
            ));
            assert!(matches!(
                db.create_security_group("p1", "default", "", 5).await,
                Err(DbError::Conflict(_))
            ));
            db.create_security_group("p1", "db", "", 2).await.unwrap();
            assert!(matches!(
                db.create_security_group("p1", "more", "", 2).await,
                Err(DbError::QuotaExceeded { .. })
            ));

            let bad = [
                NewRule {
                    direction: "sideways".into(),
                    ..NewRule::default()
                },
                NewRule {
                    protocol: Some("gre".into()),
                    ..tcp(1, 2)
                },
                tcp(0, 22),
                tcp(22, 65536),
                tcp(443, 80),
                NewRule {
                    port_max: None,
                    ..tcp(22, 22)
                },
                NewRule {
                    direction: "ingress".into(),
                    protocol: Some("icmp".into()),
                    icmp_type: Some(256),
                    ..NewRule::default()
                },
                NewRule {
                    direction: "ingress".into(),
                    protocol: Some("icmp".into()),
                    icmp_code: Some(0),
                    ..NewRule::default()
                },
                NewRule {
                    direction: "ingress".into(),
                    port_min: Some(22),
                    port_max: Some(22),
                    ..NewRule::default()
                },
                NewRule {
                    remote_cidr: Some("10.0.0.0/33".into()),
                    ..tcp(22, 22)
                },
                NewRule {
                    remote_cidr: Some("banana".into()),
                    ..tcp(22, 22)
                },
                NewRule {
                    remote_group_id: Some(default.id.clone()),
                    ..tcp(22, 22)
                },
            ];
            for r in &bad {
                let e = db
                    .add_security_group_rule("p1", &web.id, r, -1)
                    .await
                    .unwrap_err();
                assert!(
                    matches!(e, DbError::InvalidSecurityGroupRule(_)),
                    "{r:?}: {e}"
                );
            }
            let ssh = db
                .add_security_group_rule("p1", &web.id, &tcp(22, 22), 3)
                .await
                .unwrap();
            assert_eq!(ssh.protocol.as_deref(), Some("tcp"));
            let e = db
                .add_security_group_rule("p1", &web.id, &tcp(22, 22), 3)
                .await
                .unwrap_err();
            assert!(matches!(e, DbError::SecurityGroupRuleExists { .. }), "{e}");
            let ping = NewRule {
                direction: "ingress".into(),
                protocol: Some("ICMP".into()),
                icmp_type: Some(8),
                icmp_code: Some(0),
                remote_cidr: Some("10.1.2.3/16".into()),
                ..NewRule::default()
            };
            let ping = db
                .add_security_group_rule("p1", &web.id, &ping, 3)
                .await
                .unwrap();
            assert_eq!(ping.remote_cidr.as_deref(), Some("10.1.0.0/16"));
            let from_default = NewRule {
                direction: "ingress".into(),
                remote_group_id: Some(default.id.clone()),
                ..NewRule::default()
            };
            db.add_security_group_rule("p1", &web.id, &from_default, 3)
                .await
                .unwrap();
            assert!(matches!(
                db.add_security_group_rule("p1", &web.id, &tcp(80, 80), 3)
                    .await,
                Err(DbError::QuotaExceeded { .. })
            ));
            assert!(matches!(
                db.add_security_group_rule("p2", &web.id, &tcp(80, 80), -1)
                    .await,
                Err(DbError::NotFound(_))
            ));
            db.remove_security_group_rule("p1", &ssh.id).await.unwrap();
            assert!(matches!(
                db.remove_security_group_rule("p1", &ssh.id).await,
                Err(DbError::NotFound(_))
            ));

            // Members, and what the network worker reads.
            let n = db
                .create_network(&net("private", "10.0.0.0/24"))
                .await
                .unwrap();
            let port = db.allocate_port("i1", "p1", &n.id, None).await.unwrap();
            db.add_instance_to_group("i1", "p1", &web.id).await.unwrap();
            db.add_instance_to_group("i1", "p1", &default.id)
                .await
                .unwrap();
            assert!(matches!(
                db.add_instance_to_group("i1", "p1", &web.id).await,
                Err(DbError::Conflict(_))
            ));
            assert!(matches!(
                db.add_instance_to_group("i1", "p2", &web.id).await,
                Err(DbError::NotFound(_))
            ));
            let names: Vec<String> = db
                .groups_of_instance("i1")
                .await
                .unwrap()
                .into_iter()
                .map(|g| g.name)
                .collect();
            assert_eq!(names, vec!["default".to_string(), "web".into()]);
            let view = db
                .groups_with_members(&[web.id.clone(), "nope".into()])
                .await
                .unwrap();
            assert_eq!(view.len(), 1);
            assert_eq!(view[0].rules.len(), 2);
            assert_eq!(view[0].member_addresses, vec![port.address.clone()]);

            let e = db.delete_security_group("p1", &web.id).await.unwrap_err();
            assert!(matches!(e, DbError::SecurityGroupInUse { .. }), "{e}");
            let e = db
                .delete_security_group("p1", &default.id)
                .await
                .unwrap_err();
            assert!(matches!(e, DbError::SecurityGroupInUse { .. }), "{e}");
            db.remove_instance_from_group("i1", &web.id).await.unwrap();
            assert!(matches!(
                db.remove_instance_from_group("i1", &web.id).await,
                Err(DbError::NotFound(_))
            ));
            db.delete_security_group("p1", &web.id).await.unwrap();
            assert!(matches!(
                db.get_security_group("p1", &web.id).await,
                Err(DbError::NotFound(_))
            ));
            // The group quota has room again.
            db.create_security_group("p1", "more", "", 2).await.unwrap();
            // Names are kept as given, spaces and all; only spaces is refused.
            let spaced = db
                .create_security_group("p1", " spaced ", "", 10)
                .await
                .unwrap();
            assert_eq!(spaced.name, " spaced ");
            assert!(db.create_security_group("p1", "   ", "", 10).await.is_err());
            db.delete_security_group("p1", &spaced.id).await.unwrap();
            // A group other groups' rules name goes with those rules.
            let peer = db
                .create_security_group("p1", "peer", "", 10)
                .await
                .unwrap();
            let from_peer = NewRule {
                remote_group_id: Some(peer.id.clone()),
                remote_cidr: None,
                ..tcp(80, 80)
            };
            db.add_security_group_rule("p1", &default.id, &from_peer, -1)
                .await
                .unwrap();
            let before = db.security_group_rules(&default.id).await.unwrap().len();
            db.delete_security_group("p1", &peer.id).await.unwrap();
            assert_eq!(
                db.security_group_rules(&default.id).await.unwrap().len(),
                before - 1
            );
            db.remove_instance_from_all_groups("i1").await.unwrap();
            assert!(db.groups_of_instance("i1").await.unwrap().is_empty());
        })
    })
    .await;
}

#[tokio::test]
async fn networks_get_subnets_later_and_routers_take_gateway_addresses_of_external_ones() {
    use crate::subnets::{BareNetwork, NewSubnet};
    both(|db| {
        Box::pin(async move {
            // A network without a subnet carries no ports and is no usable network yet.
            let n = db
                .create_bare_network(&BareNetwork {
                    name: "tenant".into(),
                    project_id: Some("p1".into()),
                    driver: "flat-dhcp".into(),
                    ..BareNetwork::default()
                })
                .await
                .unwrap();
            assert!(!n.has_addresses() && n.subnet_id.is_none());
            assert!(db.list_networks(Some("p1")).await.unwrap().is_empty());
            assert_eq!(db.network_records(Some("p1")).await.unwrap().len(), 1);
            assert!(db.network_records(Some("p2")).await.unwrap().is_empty());
            assert!(matches!(
                db.allocate_port("i1", "p1", &n.id, None).await,
                Err(DbError::InvalidNetwork(_))
            ));
            let s = db
                .add_subnet(
                    &n.id,
                    &NewSubnet {
                        name: "tenant-sub".into(),
                        cidr: "10.80.0.0/28".into(),
                        dns: vec!["10.80.0.1".into()],
                        dhcp: true,
                        ..NewSubnet::default()
                    },
                )
                .await
                .unwrap();
            assert_eq!(
                (
                    s.gateway.as_deref(),
                    s.range_start.as_str(),
                    s.range_end.as_str()
                ),
                (Some("10.80.0.1"), "10.80.0.2", "10.80.0.14")
            );
            assert_ne!(s.id, n.id);
            assert!(matches!(
                db.add_subnet(
                    &n.id,
                    &NewSubnet {
                        cidr: "10.81.0.0/28".into(),
                        ..NewSubnet::default()
                    }
                )
                .await,
                Err(DbError::Conflict(_))
            ));
            assert_eq!(db.list_networks(Some("p1")).await.unwrap().len(), 1);
            let port = db.allocate_port("i1", "p1", &n.id, None).await.unwrap();
            assert_eq!(port.address, "10.80.0.2");

            // An external network's subnet is a floating range with an allocation pool.
            let ext = db
                .create_bare_network(&BareNetwork {
                    name: "ext".into(),
                    external: true,
                    ..BareNetwork::default()
                })
                .await
                .unwrap();
            let es = db
                .add_subnet(
                    &ext.id,
                    &NewSubnet {
                        cidr: "192.0.2.0/28".into(),
                        range_start: Some("192.0.2.4".into()),
                        range_end: Some("192.0.2.6".into()),
                        interface: "br-ex".into(),
                        ..NewSubnet::default()
                    },
                )
                .await
                .unwrap();
            assert_eq!(
                (es.range_start.as_str(), es.range_end.as_str()),
                ("192.0.2.4", "192.0.2.6")
            );
            let ext = db.get_network(&ext.id).await.unwrap();
            assert_eq!(ext.pool.as_deref(), Some("ext"));
            assert!(db
                .network_records(Some("p2"))
                .await
                .unwrap()
                .iter()
                .any(|x| x.id == ext.id));
            assert_eq!(
                db.list_subnets(Some("p2")).await.unwrap().len(),
                1,
                "the external one"
            );

            // A router takes the pool's first free address; projects get the others.
            let r = db.create_router("p1", "r", true).await.unwrap();
            let r = db.set_router_gateway(&r.id, Some(&ext.id)).await.unwrap();
            assert_eq!(r.gateway_address.as_deref(), Some("192.0.2.4"));
            let before = db.get_router(&r.id).await.unwrap();
            assert!(matches!(
                db.set_router_gateway(&r.id, Some(&n.id)).await,
                Err(DbError::InvalidNetwork(_))
            ));
            assert_eq!(
                db.get_router(&r.id).await.unwrap(),
                before,
                "a refusal changes nothing"
            );
            let f1 = db.allocate_floating("p1", "ext", -1).await.unwrap();
            let f2 = db.allocate_floating("p1", "ext", -1).await.unwrap();
            assert_eq!(
                (f1.address.as_str(), f2.address.as_str()),
                ("192.0.2.5", "192.0.2.6")
            );
            assert!(matches!(
                db.allocate_floating("p1", "ext", -1).await,
                Err(DbError::FloatingIpsExhausted { .. })
            ));
            let i = db.add_router_interface(&r.id, &s.id).await.unwrap();
            assert_eq!(
                (i.address.as_str(), i.network_id.as_str()),
                ("10.80.0.1", n.id.as_str())
            );
            assert!(matches!(
                db.add_router_interface(&r.id, &s.id).await,
                Err(DbError::Conflict(_))
            ));

            // In use: nothing goes while something depends on it.
            assert!(matches!(
                db.delete_router(&r.id).await,
                Err(DbError::Conflict(_))
            ));
            assert!(matches!(
                db.delete_subnet(&s.id).await,
                Err(DbError::NetworkInUse { .. })
            ));
            assert!(db.delete_external_network(&ext.id).await.is_err());
            db.remove_router_interface(&r.id, Some(&s.id), None)
                .await
                .unwrap();
            db.release_ports_of_instance("i1").await.unwrap();
            db.delete_subnet(&s.id).await.unwrap();
            assert!(db.get_network(&n.id).await.unwrap().cidr.is_empty());
            assert_eq!(db.free_address_count(&n.id).await.unwrap(), 0);
            // Its addresses are free for another network now.
            db.create_network(&net("again", "10.80.0.0/28"))
                .await
                .unwrap();
            db.delete_router(&r.id).await.unwrap();
            let back = db.allocate_floating("p2", "ext", -1).await.unwrap();
            assert_eq!(
                back.address, "192.0.2.4",
                "the router's address went back to the pool"
            );
            for f in ["192.0.2.4", "192.0.2.5", "192.0.2.6"] {
                let project = if f == "192.0.2.4" { "p2" } else { "p1" };
                db.release_floating(f, project).await.unwrap();
            }
            db.delete_external_network(&ext.id).await.unwrap();
            db.delete_network(&n.id).await.unwrap();

            // A pool made the old way has its external network too.
            db.create_floating_range("legacy", "198.51.100.0/30", "eth0", None)
                .await
                .unwrap();
            let legacy: Vec<_> = db
                .network_records(None)
                .await
                .unwrap()
                .into_iter()
                .filter(|x| x.external)
                .collect();
            assert_eq!(legacy.len(), 1);
            assert_eq!(
                (legacy[0].name.as_str(), legacy[0].pool.as_deref()),
                ("legacy", Some("legacy"))
            );
        })
    })
    .await;
}

#[tokio::test]
async fn pools_made_before_the_network_api_become_external_networks_on_migration() {
    for url in [
        scratch::sqlite_url(),
        scratch::create_postgres_database().await.unwrap(),
    ] {
        let db = Db::connect(&url, 5, Duration::from_secs(10)).await.unwrap();
        db.migrate_first(10).await.unwrap();
        let n = db.create_network(&net("old", "10.90.0.0/29")).await;
        assert!(n.is_err(), "0010 has no subnet_id column yet");
        sqlx::query(
            "INSERT INTO floating_ranges (cidr, pool, interface, gateway, first_address, \
             last_address, created_at) VALUES ('203.0.113.0/30', 'nova', 'eth0', NULL, 1, 2, 7), \
             ('203.0.113.8/30', 'nova', 'eth0', NULL, 9, 10, 8), \
             ('203.0.113.16/30', 'other', 'eth0', NULL, 17, 18, 9)",
        )
        .execute(db.pool())
        .await
        .unwrap();
        db.migrate().await.unwrap();
        let ext: Vec<_> = db
            .network_records(Some("anyone"))
            .await
            .unwrap()
            .into_iter()
            .filter(|x| x.external)
            .collect();
        let mut got: Vec<(String, Option<String>)> = ext
            .iter()
            .map(|x| (x.name.clone(), x.pool.clone()))
            .collect();
        got.sort();
        assert_eq!(
            got,
            vec![
                ("nova".to_string(), Some("nova".to_string())),
                ("other".to_string(), Some("other".to_string()))
            ]
        );
        assert!(ext
            .iter()
            .all(|x| x.id.len() == 36 && x.id.split('-').count() == 5));
        let subnets = db.list_subnets(None).await.unwrap();
        assert_eq!(subnets.len(), 3);
        let mut sids: Vec<&str> = subnets.iter().map(|s| s.id.as_str()).collect();
        sids.sort();
        sids.dedup();
        assert_eq!(sids.len(), 3, "each range its own id");
        assert_eq!(subnets[0].range_start, "203.0.113.1");
        db.close().await;
        if url.starts_with("postgres") {
            scratch::drop_postgres_database(&url).await;
        }
    }
}

#[tokio::test]
async fn ports_made_unbound_are_bound_once_and_outlive_their_instance() {
    use crate::ports::{NewPort, PortUpdate};
    both(|db| {
        Box::pin(async move {
            let n = db.create_network(&net("pn", "10.91.0.0/29")).await.unwrap();
            let new = |address: Option<&str>| NewPort {
                project_id: "p1".into(),
                network_id: n.id.clone(),
                name: "mine".into(),
                address: address.map(str::to_string),
                admin_state_up: true,
                group_ids: vec!["g1".into(), "g2".into()],
                ..NewPort::default()
            };
            let p = db.create_port(&new(Some("10.91.0.3"))).await.unwrap();
            assert_eq!(
                (
                    p.instance_id.as_deref(),
                    p.kept,
                    p.group_ids.len(),
                    p.address.as_str()
                ),
                (None, true, 2, "10.91.0.3")
            );
            let taken = db.create_port(&new(Some("10.91.0.3"))).await;
            assert!(
                matches!(taken, Err(DbError::AddressInUse { .. })),
                "{taken:?}"
            );
            let bad_mac = NewPort {
                mac: Some("01:00:5e:00:00:01".into()),
                ..new(None)
            };
            assert!(matches!(
                db.create_port(&bad_mac).await,
                Err(DbError::InvalidNetwork(_))
            ));
            // Another project cannot take it; its project binds it once.
            assert!(matches!(
                db.bind_port(&p.id, "vm-x", "p2").await,
                Err(DbError::NotFound(_))
            ));
            let b = db.bind_port(&p.id, "vm-1", "p1").await.unwrap();
            assert_eq!(b.instance_id.as_deref(), Some("vm-1"));
            assert!(matches!(
                db.bind_port(&p.id, "vm-2", "p1").await,
                Err(DbError::PortInUse { .. })
            ));
            let fixed = db.get_fixed_ip(&n.id, "10.91.0.3").await.unwrap();
            assert_eq!(fixed.instance_id.as_deref(), Some("vm-1"));
            // A port the create made goes with the instance; the kept one is unbound.
            let made = db.allocate_port("vm-1", "p1", &n.id, None).await.unwrap();
            db.set_port_host("vm-1", Some("h1")).await.unwrap();
            let released = db.release_ports_of_instance("vm-1").await.unwrap();
            assert_eq!(released.len(), 2);
            assert!(matches!(
                db.get_port(&made.id).await,
                Err(DbError::NotFound(_))
            ));
            let kept = db.get_port(&p.id).await.unwrap();
            assert_eq!(
                (kept.instance_id, kept.host, kept.address.as_str()),
                (None, None, "10.91.0.3")
            );
            let fixed = db.get_fixed_ip(&n.id, "10.91.0.3").await.unwrap();
            assert_eq!((fixed.allocated, fixed.instance_id), (true, None));
            // A new address frees the old one in the same step.
            let change = PortUpdate {
                name: Some("renamed".into()),
                address: Some("10.91.0.5".into()),
                group_ids: Some(vec![]),
                ..PortUpdate::default()
            };
            let u = db.update_port(&p.id, &change).await.unwrap();
            assert_eq!(
                (u.name.as_str(), u.address.as_str(), u.group_ids.len()),
                ("renamed", "10.91.0.5", 0)
            );
            assert!(!db.get_fixed_ip(&n.id, "10.91.0.3").await.unwrap().allocated);
            db.delete_port(&p.id).await.unwrap();
            assert!(!db.get_fixed_ip(&n.id, "10.91.0.5").await.unwrap().allocated);
        })
    })
    .await;
}

#[tokio::test]
async fn ports_made_before_migration_0012_keep_their_rows_and_go_with_their_instance() {
    for url in [
        scratch::sqlite_url(),
        scratch::create_postgres_database().await.unwrap(),
    ] {
        let db = Db::connect(&url, 5, Duration::from_secs(10)).await.unwrap();
        db.migrate_first(11).await.unwrap();
        let n = db
            .create_network(&net("old", "10.92.0.0/29"))
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO ports (id, instance_id, network_id, project_id, mac, address, device, \
             host, created_at) VALUES ('port-1', 'vm-1', $1, 'p1', 'fa:16:3e:00:00:09', \
             '10.92.0.2', 'tapport-1', 'h1', 5)",
        )
        .bind(&n.id)
        .execute(db.pool())
        .await
        .unwrap();
        db.migrate().await.unwrap();
        let p = db.get_port("port-1").await.unwrap();
        assert_eq!(
            (
                p.instance_id.as_deref(),
                p.host.as_deref(),
                p.kept,
                p.admin_state_up
            ),
            (Some("vm-1"), Some("h1"), false, true)
        );
        assert_eq!(db.release_ports_of_instance("vm-1").await.unwrap().len(), 1);
        assert!(db.get_port("port-1").await.is_err(), "deleted, not kept");
        db.close().await;
        if url.starts_with("postgres") {
            scratch::drop_postgres_database(&url).await;
        }
    }
}
