//! The same checks on SQLite and on PostgreSQL.

use super::*;
use crate::instances::{Instance, NewInstances, ServerFilter, StateChange};
use crate::nodes::Claim;
use crate::quotas::DefaultLimits;
use metacloud_objects::{NodeReport, TaskState, VmState};

async fn both(f: impl Fn(Db) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>) {
    let sqlite = Db::connect(&scratch::sqlite_url(), 5, Duration::from_secs(5))
        .await
        .unwrap();
    sqlite.migrate().await.unwrap();
    sqlite.migrate().await.unwrap();
    f(sqlite).await;
    let url = scratch::create_postgres_database().await.unwrap();
    let pg = Db::connect(&url, 10, Duration::from_secs(5)).await.unwrap();
    pg.migrate().await.unwrap();
    pg.migrate().await.unwrap();
    f(pg.clone()).await;
    pg.close().await;
    scratch::drop_postgres_database(&url).await;
}

fn batch(db_flavor: metacloud_objects::Flavor, count: u32, project: &str) -> NewInstances {
    NewInstances::plain("vm", count, project, "u", db_flavor)
}

async fn add_node(db: &Db, host: &str) {
    db.report_service("metacloud-compute", host, &format!("compute.{host}"))
        .await
        .unwrap();
    let report = NodeReport {
        vcpus: 8,
        memory_mb: 16_000,
        local_gb: 100,
        reserved_memory_mb: 0,
        cpu_allocation_ratio: 1.0,
        ram_allocation_ratio: 1.0,
        disk_allocation_ratio: 1.0,
        hypervisor_type: "test".into(),
        hypervisor_version: 1,
        cpu_arch: "x86_64".into(),
        availability_zone: "nova".into(),
    };
    db.upsert_node(host, &report).await.unwrap();
}

#[tokio::test]
async fn server_groups_track_members_hosts_and_quota() {
    use crate::groups::NewGroup;
    both(|db| {
        Box::pin(async move {
            add_node(&db, "h1").await;
            let limits = DefaultLimits::default();
            let new = |policy: &str| NewGroup {
                name: "g".into(),
                project_id: "p1".into(),
                user_id: "u".into(),
                policy: policy.into(),
                max_server_per_host: None,
            };
            assert!(matches!(
                db.create_server_group(&new("sideways"), &limits).await,
                Err(DbError::Conflict(_))
            ));
            let g = db
                .create_server_group(&new("anti-affinity"), &limits)
                .await
                .unwrap();
            let nano = db.get_flavor("m1.nano").await.unwrap();
            // Another project cannot put instances in it, and nothing is left behind.
            let mut other = batch(nano.clone(), 1, "p2");
            other.server_group = Some(g.uuid.clone());
            assert!(matches!(
                db.create_instances(&other, &limits).await,
                Err(DbError::NotFound(_))
            ));
            assert_eq!(db.list_instances(Some("p2"), None).await.unwrap().len(), 0);
            let mut mine = batch(nano.clone(), 2, "p1");
            mine.server_group = Some(g.uuid.clone());
            let made = db.create_instances(&mine, &limits).await.unwrap();
            let g2 = db.get_server_group(&g.uuid).await.unwrap();
            assert_eq!(g2.members.len(), 2);
            assert_eq!(
                db.place_instance(&made[0].uuid, "h1").await.unwrap(),
                instances::Placement::Placed
            );
            let spec = db.group_spec(&g.uuid).await.unwrap();
            assert_eq!(spec.policy, "anti-affinity");
            assert_eq!(spec.max_server_per_host, 1);
            assert_eq!(spec.members_on("h1"), 1);
            // Members quota (10 by default): 9 more do not fit.
            let mut many = batch(nano, 9, "p1");
            many.server_group = Some(g.uuid.clone());
            assert!(matches!(
                db.create_instances(
                    &many,
                    &DefaultLimits(
                        [
                            ("instances".to_string(), -1),
                            ("cores".into(), -1),
                            ("ram".into(), -1),
                            ("server_group_members".into(), 10)
                        ]
                        .into_iter()
                        .collect()
                    )
                )
                .await,
                Err(DbError::QuotaExceeded { .. })
            ));
            // A deleted instance leaves its group.
            db.delete_instance(&made[0].uuid, None).await.unwrap();
            assert_eq!(db.get_server_group(&g.uuid).await.unwrap().members.len(), 1);
            assert!(db.group_spec(&g.uuid).await.unwrap().hosts.is_empty());
            assert_eq!(db.quota_usage("p1").await.unwrap()["server_groups"], 1);
            db.delete_server_group(&g.uuid).await.unwrap();
            assert_eq!(db.quota_usage("p1").await.unwrap()["server_groups"], 0);
            assert!(db.list_server_groups(Some("p1")).await.unwrap().is_empty());
        })
    })
    .await;
}

#[tokio::test]
async fn aggregates_reach_host_states() {
    both(|db| {
        Box::pin(async move {
            add_node(&db, "h1").await;
            add_node(&db, "h2").await;
            let a = db.create_aggregate("fast", Some("az-fast")).await.unwrap();
            assert!(matches!(
                db.create_aggregate("fast", None).await,
                Err(DbError::Conflict(_))
            ));
            assert!(matches!(
                db.add_aggregate_host(&a.id.to_string(), "nope").await,
                Err(DbError::NotFound(_))
            ));
            db.add_aggregate_host(&a.uuid, "h1").await.unwrap();
            assert!(matches!(
                db.add_aggregate_host(&a.uuid, "h1").await,
                Err(DbError::Conflict(_))
            ));
            let b = db.create_aggregate("slow", Some("az-slow")).await.unwrap();
            assert!(
                matches!(
                    db.add_aggregate_host(&b.uuid, "h1").await,
                    Err(DbError::Conflict(_))
                ),
                "one host, two availability zones"
            );
            let set: std::collections::BTreeMap<String, Option<String>> =
                [("ssd".to_string(), Some("true".to_string()))]
                    .into_iter()
                    .collect();
            db.set_aggregate_metadata(&a.uuid, &set).await.unwrap();
            let hs = db.host_states(60_000, false).await.unwrap();
            let h1 = hs.iter().find(|h| h.host == "h1").unwrap();
            let h2 = hs.iter().find(|h| h.host == "h2").unwrap();
            assert_eq!(h1.availability_zone, "az-fast");
            assert_eq!(h2.availability_zone, "nova");
            assert_eq!(h1.aggregates.len(), 1);
            assert_eq!(
                h1.aggregates[0].metadata.get("ssd").map(String::as_str),
                Some("true")
            );
            assert!(h2.aggregates.is_empty());
            assert!(matches!(
                db.delete_aggregate(&a.uuid).await,
                Err(DbError::Conflict(_))
            ));
            let unset: std::collections::BTreeMap<String, Option<String>> =
                [("ssd".to_string(), None)].into_iter().collect();
            let a = db.set_aggregate_metadata(&a.uuid, &unset).await.unwrap();
            assert!(!a.metadata.contains_key("ssd"));
            db.remove_aggregate_host(&a.uuid, "h1").await.unwrap();
            db.delete_aggregate(&a.uuid).await.unwrap();
            assert_eq!(db.list_aggregates().await.unwrap().len(), 1);
            let hs = db.host_states(60_000, false).await.unwrap();
            assert!(hs.iter().all(|h| h.availability_zone == "nova"));
        })
    })
    .await;
}

#[tokio::test]
async fn building_instances_count_as_io_ops() {
    both(|db| {
        Box::pin(async move {
            add_node(&db, "h1").await;
            let nano = db.get_flavor("m1.nano").await.unwrap();
            let made = db
                .create_instances(&batch(nano, 2, "p1"), &DefaultLimits::default())
                .await
                .unwrap();
            for i in &made {
                db.place_instance(&i.uuid, "h1").await.unwrap();
            }
            let hs = db.host_states(60_000, false).await.unwrap();
            assert_eq!(hs[0].io_ops, 2);
            db.update_instance(
                &made[0].uuid,
                &StateChange {
                    vm_state: Some(VmState::Active),
                    task_state: Some(None),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
            let hs = db.host_states(60_000, false).await.unwrap();
            assert_eq!(hs[0].io_ops, 1);
        })
    })
    .await;
}

#[tokio::test]
async fn quota_is_atomic_under_concurrency() {
    both(|db| {
        Box::pin(async move {
            let nano = db.get_flavor("m1.nano").await.unwrap();
            let limits = DefaultLimits::default();
            let mut tasks = Vec::new();
            for _ in 0..30 {
                let db = db.clone();
                let nano = nano.clone();
                let limits = limits.clone();
                tasks.push(tokio::spawn(async move {
                    db.create_instances(&batch(nano, 1, "p1"), &limits).await
                }));
            }
            let mut ok = 0;
            let mut exceeded = 0;
            for t in tasks {
                match t.await.unwrap() {
                    Ok(_) => ok += 1,
                    Err(DbError::QuotaExceeded { resource, .. }) => {
                        assert_eq!(resource, "instances");
                        exceeded += 1
                    }
                    Err(e) => panic!("unexpected {e}"),
                }
            }
            assert_eq!((ok, exceeded), (10, 20));
            assert_eq!(db.list_instances(Some("p1"), None).await.unwrap().len(), 10);
            for i in db.list_instances(Some("p1"), None).await.unwrap() {
                assert!(db.delete_instance(&i.uuid, None).await.unwrap().is_some());
                assert!(db.delete_instance(&i.uuid, None).await.unwrap().is_none());
            }
            let usage = db.quota_usage("p1").await.unwrap();
            assert_eq!(usage["instances"], 0);
            assert_eq!(usage["ram"], 0);
        })
    })
    .await;
}

#[tokio::test]
async fn a_batch_over_quota_leaves_nothing_behind() {
    both(|db| {
        Box::pin(async move {
            let nano = db.get_flavor("42").await.unwrap();
            let err = db
                .create_instances(&batch(nano, 11, "p2"), &DefaultLimits::default())
                .await
                .unwrap_err();
            assert!(
                matches!(err, DbError::QuotaExceeded { requested: 11, .. }),
                "{err}"
            );
            assert!(db
                .list_instances(Some("p2"), None)
                .await
                .unwrap()
                .is_empty());
            assert_eq!(db.quota_usage("p2").await.unwrap().get("instances"), None);
        })
    })
    .await;
}

#[tokio::test]
async fn claims_respect_allocation_ratio_atomically() {
    both(|db| {
        Box::pin(async move {
            db.report_service("metacloud-compute", "h1", "compute.h1")
                .await
                .unwrap();
            let report = NodeReport {
                vcpus: 4,
                memory_mb: 100_000,
                local_gb: 100,
                reserved_memory_mb: 0,
                cpu_allocation_ratio: 2.0,
                ram_allocation_ratio: 1.0,
                disk_allocation_ratio: 1.0,
                hypervisor_type: "test".into(),
                hypervisor_version: 1,
                cpu_arch: "x86_64".into(),
                availability_zone: "nova".into(),
            };
            db.upsert_node("h1", &report).await.unwrap();
            let c = Claim {
                vcpus: 1,
                memory_mb: 10,
                disk_gb: 1,
            };
            let mut tasks = Vec::new();
            for _ in 0..20 {
                let db = db.clone();
                tasks.push(tokio::spawn(
                    async move { db.claim("h1", c).await.unwrap() },
                ));
            }
            let mut taken = 0;
            for t in tasks {
                taken += t.await.unwrap() as usize;
            }
            assert_eq!(taken, 8, "4 vcpus x ratio 2.0");
            let hs = db.host_states(60_000, false).await.unwrap();
            assert_eq!(hs.len(), 1);
            assert!(hs[0].up);
            assert_eq!(hs[0].vcpus_used, 8);
            for _ in 0..8 {
                db.release("h1", c).await.unwrap();
            }
            db.release("h1", c).await.unwrap();
            let hs = db.host_states(60_000, false).await.unwrap();
            assert_eq!((hs[0].vcpus_used, hs[0].running_vms), (0, 0));
        })
    })
    .await;
}

#[tokio::test]
async fn state_changes_check_expectations() {
    both(|db| {
        Box::pin(async move {
            let nano = db.get_flavor("m1.nano").await.unwrap();
            let inst = db
                .create_instances(&batch(nano, 1, "p3"), &DefaultLimits::default())
                .await
                .unwrap()
                .remove(0);
            assert_eq!(inst.vm_state, VmState::Building);
            assert_eq!(inst.task_state, Some(TaskState::Scheduling));
            let wrong = StateChange {
                vm_state: Some(VmState::Active),
                expected_task_state: Some(vec![Some(TaskState::Deleting)]),
                ..Default::default()
            };
            assert!(matches!(
                db.update_instance(&inst.uuid, &wrong).await,
                Err(DbError::Conflict(_))
            ));
            let right = StateChange {
                vm_state: Some(VmState::Active),
                task_state: Some(None),
                power_state: Some(1),
                expected_task_state: Some(vec![Some(TaskState::Scheduling)]),
                launched: true,
                ..Default::default()
            };
            let after = db.update_instance(&inst.uuid, &right).await.unwrap();
            assert_eq!(after.vm_state, VmState::Active);
            assert_eq!(after.task_state, None);
            assert!(after.launched_at.is_some());
            let stored = db.get_instance(&inst.uuid).await.unwrap();
            assert_eq!(stored.vm_state, VmState::Active);
            assert_eq!(stored.power_state, 1);
        })
    })
    .await;
}

#[tokio::test]
async fn unreachable_postgres_is_one_clear_error() {
    let err = Db::connect(
        "postgres://postgres@127.0.0.1:1/test",
        1,
        Duration::from_secs(2),
    )
    .await
    .err()
    .expect("must fail");
    let msg = err.to_string();
    assert!(
        msg.starts_with("cannot connect to the database at postgres://"),
        "{msg}"
    );
    assert!(!msg.contains('\n'));
}

#[test]
fn passwords_are_redacted() {
    assert_eq!(
        redact_url("postgres://u:secret@h:5432/db"),
        "postgres://u:***@h:5432/db"
    );
    assert_eq!(redact_url("sqlite:///x.db"), "sqlite:///x.db");
}

#[tokio::test]
async fn a_resize_holds_both_claims_until_confirmed_or_reverted() {
    both(|db| {
        Box::pin(async move {
            add_node(&db, "rh").await;
            let limits = DefaultLimits::default();
            let nano = db.get_flavor("m1.nano").await.unwrap();
            let small = db.get_flavor("m1.small").await.unwrap();
            let inst = db
                .create_instances(&batch(nano.clone(), 1, "pr"), &limits)
                .await
                .unwrap()
                .remove(0);
            db.place_instance(&inst.uuid, "rh").await.unwrap();
            let running = StateChange {
                vm_state: Some(VmState::Active),
                task_state: Some(None),
                ..Default::default()
            };
            db.update_instance(&inst.uuid, &running).await.unwrap();
            let used = |db: Db| async move {
                let hs = db.host_states(60_000, false).await.unwrap();
                let q = db.quota_usage("pr").await.unwrap();
                (hs[0].vcpus_used, hs[0].memory_mb_used, q["cores"], q["ram"])
            };
            assert_eq!(used(db.clone()).await, (1, 64, 1, 64));
            let prep = StateChange {
                task_state: Some(Some(TaskState::ResizePrep)),
                ..Default::default()
            };
            let resize = |db: Db, f: metacloud_objects::Flavor| {
                let limits = limits.clone();
                let uuid = inst.uuid.clone();
                let prep = prep.clone();
                async move {
                    db.update_instance(&uuid, &prep).await.unwrap();
                    db.start_resize(&uuid, &f, &limits).await.unwrap();
                    let done = StateChange {
                        vm_state: Some(VmState::Resized),
                        task_state: Some(None),
                        ..Default::default()
                    };
                    db.update_instance(&uuid, &done).await.unwrap();
                }
            };
            // Up to m1.small (1 vCPU, 2048 MB): both claims held, quota of the larger.
            resize(db.clone(), small.clone()).await;
            assert_eq!(used(db.clone()).await, (2, 64 + 2048, 1, 2048));
            let (confirmed, _) = db.confirm_resize(&inst.uuid).await.unwrap();
            assert_eq!(
                (confirmed.vm_state, confirmed.flavor_id.as_str()),
                (VmState::Active, "2")
            );
            assert_eq!(used(db.clone()).await, (1, 2048, 1, 2048));
            assert!(db.pending_resize(&inst.uuid).await.unwrap().is_none());
            assert!(matches!(
                db.confirm_resize(&inst.uuid).await,
                Err(DbError::Conflict(_))
            ));
            // Down to nano and revert: back to small, nano's claim gone.
            resize(db.clone(), nano.clone()).await;
            assert_eq!(used(db.clone()).await, (2, 2048 + 64, 1, 2048));
            let (reverted, old, left) = db.revert_resize(&inst.uuid).await.unwrap();
            assert_eq!(
                (old.vm_state, reverted.flavor_id.as_str()),
                (VmState::Active, "2")
            );
            assert_eq!(left, None, "a resize on one host leaves no host");
            assert_eq!(reverted.task_state, Some(TaskState::ResizeReverting));
            assert_eq!(used(db.clone()).await, (1, 2048, 1, 2048));
            // Deleting mid-resize frees both flavors' claims and all quota.
            let done = StateChange {
                vm_state: Some(VmState::Active),
                task_state: Some(None),
                ..Default::default()
            };
            db.update_instance(&inst.uuid, &done).await.unwrap();
            resize(db.clone(), nano).await;
            db.delete_instance(&inst.uuid, None).await.unwrap().unwrap();
            assert_eq!(used(db.clone()).await, (0, 0, 0, 0));
        })
    })
    .await;
}

#[tokio::test]
async fn an_evacuation_moves_the_claim_in_one_step_and_is_cleaned_up_once() {
    use crate::moves::{status, Evacuation};
    both(|db| {
        Box::pin(async move {
            add_node(&db, "ev-src").await;
            add_node(&db, "ev-dst").await;
            db.report_service("metacloud-compute", "ev-tiny", "compute.ev-tiny")
                .await
                .unwrap();
            let tiny = NodeReport {
                vcpus: 1,
                memory_mb: 32,
                local_gb: 1,
                reserved_memory_mb: 0,
                cpu_allocation_ratio: 1.0,
                ram_allocation_ratio: 1.0,
                disk_allocation_ratio: 1.0,
                hypervisor_type: "test".into(),
                hypervisor_version: 1,
                cpu_arch: "x86_64".into(),
                availability_zone: "nova".into(),
            };
            db.upsert_node("ev-tiny", &tiny).await.unwrap();
            let nano = db.get_flavor("m1.nano").await.unwrap();
            let inst = db
                .create_instances(&batch(nano, 1, "pe"), &DefaultLimits::default())
                .await
                .unwrap()
                .remove(0);
            db.place_instance(&inst.uuid, "ev-src").await.unwrap();
            let active = StateChange {
                vm_state: Some(VmState::Active),
                task_state: Some(None),
                ..Default::default()
            };
            db.update_instance(&inst.uuid, &active).await.unwrap();
            let used = |db: Db| async move {
                let hs = db.host_states(60_000, false).await.unwrap();
                let mem = |h: &str| hs.iter().find(|s| s.host == h).unwrap().memory_mb_used;
                (mem("ev-src"), mem("ev-dst"), mem("ev-tiny"))
            };
            assert_eq!(used(db.clone()).await, (64, 0, 0));
            // Not marked for evacuation: nothing moves.
            assert_eq!(
                db.evacuate_instance(&inst.uuid, "ev-src", "ev-dst", None)
                    .await
                    .unwrap(),
                Evacuation::NotEvacuating
            );
            let mark = StateChange {
                task_state: Some(Some(TaskState::Rebuilding)),
                ..Default::default()
            };
            db.update_instance(&inst.uuid, &mark).await.unwrap();
            // No room on the tiny host: nothing moves either.
            assert_eq!(
                db.evacuate_instance(&inst.uuid, "ev-src", "ev-tiny", None)
                    .await
                    .unwrap(),
                Evacuation::NoRoom
            );
            assert_eq!(used(db.clone()).await, (64, 0, 0));
            let Evacuation::Moved(moved, _) = db
                .evacuate_instance(&inst.uuid, "ev-src", "ev-dst", None)
                .await
                .unwrap()
            else {
                panic!("not moved");
            };
            assert_eq!(moved.host.as_deref(), Some("ev-dst"));
            assert_eq!(used(db.clone()).await, (0, 64, 0));
            // A repeated message finds nothing to do (the instance left the source).
            assert_eq!(
                db.evacuate_instance(&inst.uuid, "ev-src", "ev-dst", None)
                    .await
                    .unwrap(),
                Evacuation::NotEvacuating
            );
            assert_eq!(used(db.clone()).await, (0, 64, 0));
            assert_eq!(
                db.evacuated_from("ev-src").await.unwrap(),
                vec![inst.uuid.clone()]
            );
            db.finish_evacuation(&inst.uuid, "ev-dst", status::DONE)
                .await
                .unwrap();
            let m = db.list_migrations(Some(&inst.uuid)).await.unwrap();
            assert_eq!(
                (m.len(), m[0].status.as_str(), m[0].source_host.as_str()),
                (1, status::DONE, "ev-src")
            );
            db.evacuation_cleaned(&inst.uuid, "ev-src").await.unwrap();
            assert!(db.evacuated_from("ev-src").await.unwrap().is_empty());
            assert_eq!(
                db.list_migrations(None).await.unwrap()[0].status,
                status::COMPLETED
            );
        })
    })
    .await;
}

#[tokio::test]
async fn a_forced_down_service_is_down_whatever_its_heartbeat() {
    use crate::services::ServiceChange;
    both(|db| {
        Box::pin(async move {
            add_node(&db, "fd-1").await;
            let id = db
                .list_services(60_000)
                .await
                .unwrap()
                .iter()
                .find(|s| s.host == "fd-1")
                .unwrap()
                .id;
            let force = ServiceChange {
                forced_down: Some(true),
                ..Default::default()
            };
            let s = db.update_service(id, &force, 60_000).await.unwrap();
            assert!(s.forced_down && !s.up && !s.disabled);
            let h = db.host_states(60_000, false).await.unwrap();
            assert!(!h.iter().find(|h| h.host == "fd-1").unwrap().up);
            let disable = ServiceChange {
                disabled: Some(true),
                disabled_reason: Some("disk".into()),
                forced_down: Some(false),
            };
            let s = db.update_service(id, &disable, 60_000).await.unwrap();
            assert!(s.up && s.disabled && s.disabled_reason.as_deref() == Some("disk"));
            // Enabling clears the reason.
            let enable = ServiceChange {
                disabled: Some(false),
                ..Default::default()
            };
            let s = db.update_service(id, &enable, 60_000).await.unwrap();
            assert_eq!((s.disabled, s.disabled_reason), (false, None));
            assert!(matches!(
                db.update_service(id + 1000, &enable, 60_000).await,
                Err(DbError::NotFound(_))
            ));
        })
    })
    .await;
}

#[tokio::test]
async fn a_migration_holds_claims_on_both_hosts_until_confirmed_or_reverted() {
    both(|db| {
        Box::pin(async move {
            add_node(&db, "mg-src").await;
            add_node(&db, "mg-dst").await;
            let nano = db.get_flavor("m1.nano").await.unwrap();
            let inst = db
                .create_instances(&batch(nano, 1, "pm"), &DefaultLimits::default())
                .await
                .unwrap()
                .remove(0);
            db.place_instance(&inst.uuid, "mg-src").await.unwrap();
            let active = StateChange {
                vm_state: Some(VmState::Active),
                task_state: Some(None),
                ..Default::default()
            };
            db.update_instance(&inst.uuid, &active).await.unwrap();
            let used = |db: Db| async move {
                let hs = db.host_states(60_000, false).await.unwrap();
                let mem = |h: &str| hs.iter().find(|s| s.host == h).unwrap().memory_mb_used;
                (
                    mem("mg-src"),
                    mem("mg-dst"),
                    db.quota_usage("pm").await.unwrap()["ram"],
                )
            };
            let prep = StateChange {
                task_state: Some(Some(TaskState::ResizePrep)),
                ..Default::default()
            };
            // Not prepared: refused.
            assert!(matches!(
                db.start_migration(&inst.uuid, "mg-src", "mg-dst", "img", None)
                    .await,
                Err(DbError::Conflict(_))
            ));
            db.update_instance(&inst.uuid, &prep).await.unwrap();
            assert!(db
                .start_migration(&inst.uuid, "mg-src", "mg-dst", "img", None)
                .await
                .unwrap());
            let moved = db.get_instance(&inst.uuid).await.unwrap();
            assert_eq!(moved.host.as_deref(), Some("mg-dst"));
            assert_eq!(moved.task_state, Some(TaskState::ResizeMigrating));
            assert_eq!(
                used(db.clone()).await,
                (64, 64, 64),
                "both claims, one quota"
            );
            let m = db.list_migrations(Some(&inst.uuid)).await.unwrap();
            assert_eq!(
                (m[0].migration_type.as_str(), m[0].status.as_str()),
                ("migration", "migrating")
            );
            // The disk never arrived: undone, back on the source.
            db.abort_migration(&inst.uuid, "mg-src").await.unwrap();
            let back = db.get_instance(&inst.uuid).await.unwrap();
            assert_eq!(
                (back.host.as_deref(), back.task_state),
                (Some("mg-src"), None)
            );
            assert_eq!(used(db.clone()).await, (64, 0, 64));
            assert!(db.pending_resize(&inst.uuid).await.unwrap().is_none());
            // Again, arrived (resized), then reverted: back on the source, destination freed.
            let arrived = StateChange {
                vm_state: Some(VmState::Resized),
                task_state: Some(None),
                ..Default::default()
            };
            db.update_instance(&inst.uuid, &prep).await.unwrap();
            assert!(db
                .start_migration(&inst.uuid, "mg-src", "mg-dst", "img", None)
                .await
                .unwrap());
            db.update_instance(&inst.uuid, &arrived).await.unwrap();
            let (reverted, old, left) = db.revert_resize(&inst.uuid).await.unwrap();
            assert_eq!(reverted.host.as_deref(), Some("mg-src"));
            assert_eq!(
                (left.as_deref(), old.transfer_image.as_deref()),
                (Some("mg-dst"), Some("img"))
            );
            assert_eq!(used(db.clone()).await, (64, 0, 64));
            // And once more, confirmed: only the destination holds it.
            db.update_instance(&inst.uuid, &active).await.unwrap();
            db.update_instance(&inst.uuid, &prep).await.unwrap();
            assert!(db
                .start_migration(&inst.uuid, "mg-src", "mg-dst", "img", None)
                .await
                .unwrap());
            db.update_instance(&inst.uuid, &arrived).await.unwrap();
            let (confirmed, old) = db.confirm_resize(&inst.uuid).await.unwrap();
            assert_eq!(
                (confirmed.host.as_deref(), confirmed.vm_state),
                (Some("mg-dst"), VmState::Active)
            );
            assert_eq!(old.source_host.as_deref(), Some("mg-src"));
            assert_eq!(used(db.clone()).await, (0, 64, 64));
            let statuses: Vec<String> = db
                .list_migrations(Some(&inst.uuid))
                .await
                .unwrap()
                .into_iter()
                .map(|m| m.status)
                .collect();
            assert_eq!(statuses, ["confirmed", "reverted", "error"]);
            // Deleting mid-migration frees both hosts.
            db.update_instance(&inst.uuid, &prep).await.unwrap();
            assert!(db
                .start_migration(&inst.uuid, "mg-dst", "mg-src", "img", None)
                .await
                .unwrap());
            db.delete_instance(&inst.uuid, None).await.unwrap().unwrap();
            assert_eq!(used(db.clone()).await, (0, 0, 0));
        })
    })
    .await;
}

#[tokio::test]
async fn a_project_gets_one_ca_however_many_first_uses_race() {
    use crate::certificates::{IssuedCertificate, ProjectCa};
    both(|db| {
        Box::pin(async move {
            assert_eq!(db.get_project_ca("pc").await.unwrap(), None);
            let ca = |n: usize| ProjectCa {
                project_id: "pc".into(),
                cert_pem: format!("cert-{n}"),
                key_pem: format!("key-{n}"),
                created_at: 0,
            };
            let mut tasks = Vec::new();
            for n in 0..10 {
                let db = db.clone();
                let ca = ca(n);
                tasks.push(tokio::spawn(async move { db.insert_project_ca(&ca).await }));
            }
            let mut stood = Vec::new();
            for t in tasks {
                stood.push(t.await.unwrap().unwrap());
            }
            let first = stood[0].clone();
            assert!(stood.iter().all(|c| *c == first), "one CA for all");
            assert_eq!(first.key_pem.replace("key", "cert"), first.cert_pem);
            assert!(first.created_at > 0);
            assert_eq!(db.get_project_ca("pc").await.unwrap(), Some(first.clone()));
            // A later insert changes nothing; another project has its own.
            assert_eq!(db.insert_project_ca(&ca(99)).await.unwrap(), first);
            let other = ProjectCa {
                project_id: "pd".into(),
                ..ca(7)
            };
            assert_eq!(
                db.insert_project_ca(&other).await.unwrap().cert_pem,
                "cert-7"
            );
            assert_eq!(db.get_project_ca("pc").await.unwrap(), Some(first));

            let issued = IssuedCertificate {
                project_id: "pc".into(),
                user_id: "u1".into(),
                serial: "0a1b".into(),
                fingerprint: "ff".repeat(32),
                cert_pem: "user-cert".into(),
            };
            db.record_certificate(&issued).await.unwrap();
            assert!(matches!(
                db.record_certificate(&issued).await,
                Err(DbError::Conflict(_))
            ));
            let second = IssuedCertificate {
                serial: "0c".into(),
                ..issued.clone()
            };
            db.record_certificate(&second).await.unwrap();
            assert_eq!(
                db.list_certificates("pc", "u1").await.unwrap(),
                vec![issued, second]
            );
            assert!(db.list_certificates("pd", "u1").await.unwrap().is_empty());
        })
    })
    .await;
}

/// A small deterministic pseudo-random sequence (xorshift64) for the paging checks.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<T: Clone>(&mut self, v: &[T]) -> T {
        v[self.below(v.len())].clone()
    }
}

/// `n` instances over three projects, written straight into the table: few distinct
/// `created_at` values (many ties), some deleted, varied names, states, flavors, images,
/// hosts and `updated_at`.
async fn seed_instances(db: &Db, n: usize, seed: u64) {
    let mut rng = Rng(seed);
    let mut tx = db.pool().begin().await.unwrap();
    for i in 0..n {
        let deleted = rng.below(5) == 0;
        let vm_state = if deleted {
            "deleted".to_string()
        } else {
            rng.pick(&["active", "stopped", "error", "building"])
                .to_string()
        };
        let created = (rng.below(n / 8 + 1)) as i64;
        let name = format!("{}-{i}", rng.pick(&["web", "db", "Web", "cache", "web-db"]));
        sqlx::query(
            "INSERT INTO instances (uuid, name, project_id, user_id, flavor_id, image_id, host, \
             vm_state, vcpus, memory_mb, disk_gb, reservation_id, created_at, updated_at, \
             deleted) VALUES ($1, $2, $3, 'u', $4, $5, $6, $7, 1, 64, 1, 'r-1', $8, $9, $10)",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(name)
        .bind(rng.pick(&["p1", "p2", "p3"]))
        .bind(rng.pick(&["1", "42"]))
        .bind(rng.pick(&[None, Some("img-a"), Some("img-b")]))
        .bind(rng.pick(&[None, Some("h1"), Some("h2")]))
        .bind(vm_state)
        .bind(created)
        .bind(created + rng.below(30) as i64)
        .bind(deleted as i64)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
}

/// What the API computed before paging moved into SQL: every visible instance loaded, then
/// filtered, sorted newest first and paged in memory (as `query` in the API's dialect.rs).
async fn paged_in_memory(db: &Db, f: &ServerFilter) -> Result<Vec<Instance>, &'static str> {
    let mut all = match f.changes_since {
        Some(since) => db
            .list_instances_changed(f.project.as_deref(), since)
            .await
            .unwrap(),
        None => db.list_instances(f.project.as_deref(), None).await.unwrap(),
    };
    let name = match &f.name {
        Some(n) => Some(
            regex::RegexBuilder::new(n)
                .size_limit(1 << 20)
                .build()
                .map_err(|_| "bad name")?,
        ),
        None => None,
    };
    all.retain(|i| {
        name.as_ref().is_none_or(|re| re.is_match(&i.name))
            && (f.vm_states.is_empty() || f.vm_states.iter().any(|s| s == i.vm_state.as_str()))
            && f.flavor_id.as_ref().is_none_or(|x| &i.flavor_id == x)
            && f.image_id
                .as_ref()
                .is_none_or(|x| i.image_id.as_ref() == Some(x))
            && f.host.as_ref().is_none_or(|x| i.host.as_ref() == Some(x))
    });
    all.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.uuid.cmp(&a.uuid)));
    if let Some(marker) = &f.marker {
        let at = all.iter().position(|i| &i.uuid == marker).ok_or("marker")?;
        all.drain(..=at);
    }
    if let Some(limit) = f.limit {
        all.truncate(limit as usize);
    }
    Ok(all)
}

async fn paged_in_sql(db: &Db, f: &ServerFilter) -> Result<Vec<Instance>, &'static str> {
    match db.list_instances_page(f).await {
        Ok(v) => Ok(v),
        Err(DbError::MarkerNotFound(m)) => {
            assert_eq!(Some(&m), f.marker.as_ref());
            Err("marker")
        }
        Err(DbError::InvalidNameFilter { name, .. }) => {
            assert_eq!(Some(&name), f.name.as_ref());
            Err("bad name")
        }
        Err(e) => panic!("{f:?}: {e}"),
    }
}

#[tokio::test]
async fn paging_in_sql_lists_what_paging_in_memory_did() {
    both(|db| {
        Box::pin(async move {
            seed_instances(&db, 400, 0x9e37_79b9_7f4a_7c15).await;
            let every = db.list_instances_changed(None, i64::MIN).await.unwrap();
            assert_eq!(every.len(), 400);
            let mut rng = Rng(0x2545_f491_4f6c_dd1d);
            let (mut pages, mut markers_missing) = (0, 0);
            for _ in 0..600 {
                let mut f = ServerFilter {
                    project: rng
                        .pick(&[None, None, Some("p1"), Some("p2"), Some("nobody")])
                        .map(String::from),
                    name: rng
                        .pick(&[
                            None,
                            None,
                            Some("^web"),
                            Some("1$"),
                            Some("(?i-u)WEB"),
                            Some("zzz"),
                            Some("["),
                        ])
                        .map(String::from),
                    vm_states: rng
                        .pick(&[
                            &[][..],
                            &["active"][..],
                            &["active", "error"][..],
                            &["deleted"][..],
                        ])
                        .iter()
                        .map(|s| s.to_string())
                        .collect(),
                    flavor_id: rng.pick(&[None, None, Some("42")]).map(String::from),
                    image_id: rng.pick(&[None, None, Some("img-a")]).map(String::from),
                    host: rng.pick(&[None, None, Some("h1")]).map(String::from),
                    changes_since: rng.pick(&[None, None, Some(20), Some(i64::MIN)]),
                    marker: None,
                    limit: rng.pick(&[None, Some(0), Some(1), Some(7), Some(60), Some(1000)]),
                    ..Default::default()
                };
                let unpaged = paged_in_memory(
                    &db,
                    &ServerFilter {
                        limit: None,
                        ..f.clone()
                    },
                )
                .await
                .unwrap_or_default();
                f.marker = match rng.below(5) {
                    0 | 1 => None,
                    // One of the listed: the page starts after it (ties in created_at too).
                    2 | 3 if !unpaged.is_empty() => {
                        Some(unpaged[rng.below(unpaged.len())].uuid.clone())
                    }
                    // Any instance, often one the filter does not list.
                    3 | 4 if rng.below(2) == 0 => Some(rng.pick(&every).uuid),
                    _ => Some("no-such-server".into()),
                };
                let want = paged_in_memory(&db, &f).await;
                let got = paged_in_sql(&db, &f).await;
                assert_eq!(got, want, "{f:?}");
                match want {
                    Ok(v) if !v.is_empty() => pages += 1,
                    Err("marker") => markers_missing += 1,
                    _ => {}
                }
            }
            // The mix really covered non-empty pages and unknown markers.
            assert!(
                pages > 150 && markers_missing > 30,
                "{pages} {markers_missing}"
            );
            // A bad regular expression is its own error, before the marker is looked at.
            let bad = ServerFilter {
                name: Some("(".into()),
                marker: Some("no-such-server".into()),
                ..Default::default()
            };
            assert_eq!(paged_in_sql(&db, &bad).await, Err("bad name"));
            // Walking every page by its last uuid lists each instance once, in order.
            for f in [
                ServerFilter::default(),
                ServerFilter {
                    project: Some("p1".into()),
                    ..Default::default()
                },
                ServerFilter {
                    name: Some("^web".into()),
                    ..Default::default()
                },
                ServerFilter {
                    name: Some("7".into()),
                    changes_since: Some(10),
                    project: Some("p2".into()),
                    ..Default::default()
                },
            ] {
                let whole = paged_in_memory(&db, &f).await.unwrap();
                for limit in [1, 7, 100] {
                    let mut walked: Vec<Instance> = Vec::new();
                    loop {
                        let page = db
                            .list_instances_page(&ServerFilter {
                                marker: walked.last().map(|i| i.uuid.clone()),
                                limit: Some(limit),
                                ..f.clone()
                            })
                            .await
                            .unwrap();
                        assert!(page.len() <= limit as usize);
                        if page.is_empty() {
                            break;
                        }
                        walked.extend(page);
                    }
                    assert_eq!(walked, whole, "{f:?} by {limit}");
                }
            }
        })
    })
    .await;
}

#[tokio::test]
async fn a_page_reads_the_list_index_instead_of_sorting() {
    both(|db| {
        Box::pin(async move {
            seed_instances(&db, 300, 7).await;
            sqlx::query("ANALYZE").execute(db.pool()).await.unwrap();
            let marker = db.list_instances(None, None).await.unwrap()[5].uuid.clone();
            for project in [Some("p1".to_string()), None] {
                let f = ServerFilter {
                    project,
                    marker: Some(marker.clone()),
                    limit: Some(100),
                    ..Default::default()
                };
                let after = Some((3, marker.as_str()));
                let select = instances::Select::page(&f, after, Some(100));
                let plan = explain(&db, &select, true).await;
                let index = if f.project.is_some() {
                    "instances_project_created"
                } else {
                    "instances_deleted_created"
                };
                // PostgreSQL picks by cost between the two on a small table.
                match db.backend() {
                    Backend::Sqlite => assert!(plan.contains(index), "{plan}"),
                    Backend::Postgres => assert!(plan.contains("Index Scan"), "{plan}"),
                }
                assert!(
                    !plan.contains("TEMP B-TREE") && !plan.contains("Sort"),
                    "{plan}"
                );
                println!("{}:\n{plan}", select.sql());
            }
        })
    })
    .await;
}

/// The plan of a page query. With `avoid_sort`, PostgreSQL is told to avoid sorts, so that
/// on a small table the plan shows whether an index can give the order at all.
async fn explain(db: &Db, select: &instances::Select<'_>, avoid_sort: bool) -> String {
    use sqlx::Row;
    let mut conn = db.pool().acquire().await.unwrap();
    let (prefix, column) = match db.backend() {
        Backend::Sqlite => ("EXPLAIN QUERY PLAN ", 3),
        Backend::Postgres if avoid_sort => {
            sqlx::query("SET enable_sort = off")
                .execute(&mut *conn)
                .await
                .unwrap();
            ("EXPLAIN ", 0)
        }
        Backend::Postgres => ("EXPLAIN ", 0),
    };
    let text = format!("{prefix}{}", select.sql());
    let rows = select
        .query_with(&text)
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    if avoid_sort && db.backend() == Backend::Postgres {
        sqlx::query("RESET enable_sort")
            .execute(&mut *conn)
            .await
            .unwrap();
    }
    rows.iter()
        .map(|r| r.try_get::<String, _>(column).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// 10,000 servers in one project (and 2,000 in another): how long a page takes and how it is
/// planned, on both backends. Timing depends on the machine, so it is printed, not asserted:
/// `cargo test -p metacloud-db -- --ignored --nocapture ten_thousand`.
#[tokio::test]
#[ignore = "a measurement, not a check: prints page times and plans (BENCHMARKS.md has the HTTP figures)"]
async fn ten_thousand_servers_one_page() {
    both(|db| {
        Box::pin(async move {
            let mut tx = db.pool().begin().await.unwrap();
            for i in 0..12_000i64 {
                sqlx::query(
                    "INSERT INTO instances (uuid, name, project_id, user_id, flavor_id, \
                     vm_state, vcpus, memory_mb, disk_gb, reservation_id, created_at, \
                     updated_at, deleted) VALUES ($1, $2, $3, 'u', '42', 'active', 1, 64, 1, \
                     'r-1', $4, $4, $5)",
                )
                .bind(uuid::Uuid::new_v4().to_string())
                .bind(format!("vm-{i}"))
                .bind(if i % 6 == 5 { "p2" } else { "p1" })
                .bind(1_700_000_000_000 + i / 3)
                .bind((i % 50 == 0) as i64)
                .execute(&mut *tx)
                .await
                .unwrap();
            }
            tx.commit().await.unwrap();
            sqlx::query("ANALYZE").execute(db.pool()).await.unwrap();
            let first = db
                .list_instances_page(&ServerFilter {
                    project: Some("p1".into()),
                    limit: Some(100),
                    ..Default::default()
                })
                .await
                .unwrap();
            let marker = first.last().unwrap().uuid.clone();
            for (what, f) in [
                (
                    "p1, limit 100",
                    ServerFilter {
                        project: Some("p1".into()),
                        limit: Some(100),
                        ..Default::default()
                    },
                ),
                (
                    "p1, marker, limit 100",
                    ServerFilter {
                        project: Some("p1".into()),
                        marker: Some(marker.clone()),
                        limit: Some(100),
                        ..Default::default()
                    },
                ),
                (
                    "all projects, marker, limit 100",
                    ServerFilter {
                        marker: Some(marker.clone()),
                        limit: Some(100),
                        ..Default::default()
                    },
                ),
                (
                    "p1, name ^vm-1, limit 100",
                    ServerFilter {
                        project: Some("p1".into()),
                        name: Some("^vm-1".into()),
                        limit: Some(100),
                        ..Default::default()
                    },
                ),
                (
                    "p2 (a sixth), limit 100",
                    ServerFilter {
                        project: Some("p2".into()),
                        limit: Some(100),
                        ..Default::default()
                    },
                ),
                (
                    "p1, name 9999$ (one match), limit 100",
                    ServerFilter {
                        project: Some("p1".into()),
                        name: Some("9999$".into()),
                        limit: Some(100),
                        ..Default::default()
                    },
                ),
            ] {
                // The best of three, the first one also warming up the connection.
                let mut took = Duration::MAX;
                let mut page = Vec::new();
                for _ in 0..3 {
                    let start = std::time::Instant::now();
                    page = db.list_instances_page(&f).await.unwrap();
                    took = took.min(start.elapsed());
                }
                let after = f
                    .marker
                    .as_ref()
                    .map(|m| (1_700_000_000_000 + 3_000, m.as_str()));
                let select = instances::Select::page(&f, after, Some(100));
                let plan = explain(&db, &select, false).await;
                println!(
                    "{:?} {what}: {} rows in {took:?}\n{plan}\n",
                    db.backend(),
                    page.len()
                );
            }
        })
    })
    .await;
}

#[tokio::test]
async fn descriptions_and_tags_are_kept_and_filter_pages() {
    both(|db| {
        Box::pin(async move {
            let nano = db.get_flavor("42").await.unwrap();
            let limits = DefaultLimits::default();
            let mut new = batch(nano.clone(), 1, "pt");
            new.description = Some("first".into());
            new.tags = vec!["b".into(), "a".into(), "a".into()];
            let a = db.create_instances(&new, &limits).await.unwrap().remove(0);
            let b = db
                .create_instances(&batch(nano, 1, "pt"), &limits)
                .await
                .unwrap()
                .remove(0);
            assert_eq!(db.instance_tags(&a.uuid).await.unwrap(), ["a", "b"]);
            let extras = db
                .instance_extras(std::slice::from_ref(&a.uuid))
                .await
                .unwrap();
            assert_eq!(extras[0].description.as_deref(), Some("first"));
            assert_eq!(extras[0].tags, ["a", "b"]);
            db.set_instance_description(&a.uuid, None).await.unwrap();
            let extras = db
                .instance_extras(std::slice::from_ref(&a.uuid))
                .await
                .unwrap();
            assert_eq!(extras[0].description, None);

            // One by one: a repeat is no change, a missing one NotFound, 50 at most.
            assert!(db.add_instance_tag(&b.uuid, "c").await.unwrap());
            assert!(!db.add_instance_tag(&b.uuid, "c").await.unwrap());
            assert!(matches!(
                db.remove_instance_tag(&b.uuid, "zz").await,
                Err(DbError::NotFound(_))
            ));
            let fifty: Vec<String> = (0..50).map(|i| format!("t{i}")).collect();
            assert_eq!(
                db.set_instance_tags(&b.uuid, &fifty).await.unwrap().len(),
                50
            );
            assert!(matches!(
                db.add_instance_tag(&b.uuid, "one-more").await,
                Err(DbError::TooManyTags { limit: 50 })
            ));
            let mut over = fifty.clone();
            over.push("t50".into());
            assert!(matches!(
                db.set_instance_tags(&b.uuid, &over).await,
                Err(DbError::TooManyTags { .. })
            ));
            db.set_instance_tags(&b.uuid, &["b".into(), "c".into()])
                .await
                .unwrap();

            let page = |f: ServerFilter| {
                let db = db.clone();
                async move {
                    let mut ids: Vec<String> = db
                        .list_instances_page(&ServerFilter {
                            project: Some("pt".into()),
                            ..f
                        })
                        .await
                        .unwrap()
                        .into_iter()
                        .map(|i| i.uuid)
                        .collect();
                    ids.sort();
                    ids
                }
            };
            let tags = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
            let (ua, ub) = (vec![a.uuid.clone()], vec![b.uuid.clone()]);
            let mut both_ids = vec![a.uuid.clone(), b.uuid.clone()];
            both_ids.sort();
            // a: {a, b}; b: {b, c}.
            let f = |all: &[&str], any: &[&str], not: &[&str], not_any: &[&str]| ServerFilter {
                tags: tags(all),
                tags_any: tags(any),
                not_tags: tags(not),
                not_tags_any: tags(not_any),
                ..Default::default()
            };
            assert_eq!(page(f(&["b"], &[], &[], &[])).await, both_ids);
            assert_eq!(page(f(&["a", "b"], &[], &[], &[])).await, ua);
            assert_eq!(page(f(&[], &["a", "c"], &[], &[])).await, both_ids);
            assert_eq!(page(f(&[], &[], &["b", "c"], &[])).await, ua);
            assert_eq!(page(f(&[], &[], &[], &["a"])).await, ub);
            assert_eq!(
                page(f(&["b"], &[], &[], &["c"])).await,
                ua,
                "filters combine"
            );
        })
    })
    .await;
}
