//! The same checks on SQLite and on PostgreSQL.

use super::*;
use crate::instances::{NewInstances, StateChange};
use crate::nodes::Claim;
use crate::quotas::DefaultLimits;
use metacloud_rpc::objects::{NodeReport, TaskState, VmState};

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

fn batch(db_flavor: metacloud_rpc::objects::Flavor, count: u32, project: &str) -> NewInstances {
    NewInstances {
        name: "vm".into(),
        count,
        project_id: project.into(),
        user_id: "u".into(),
        flavor: db_flavor,
        image_id: None,
        availability_zone: None,
        key_name: None,
        user_data: None,
        metadata: Default::default(),
        request_id: "req-test".into(),
    }
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
