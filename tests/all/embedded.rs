//! The embedded defaults in one process: SQLite, the in-process bus, `test:///default`.

use metacloud::Role;
use metacloud_api::{Context, CreateRequest};
use metacloud_config::Config;
use metacloud_rpc::objects::VmState;
use metacloud_tests::{scratch_dir, wait_for};
use std::time::Duration;

/// Boots one instance and returns its uuid.
async fn boot_one(
    api: &metacloud_api::ComputeApi,
    ctx: &Context,
    name: &str,
    flavor: &str,
    image: Option<metacloud_rpc::objects::ImageRef>,
) -> String {
    api.create(
        ctx,
        CreateRequest {
            name: name.into(),
            flavor: flavor.into(),
            image,
            ..Default::default()
        },
    )
    .await
    .expect("create")
    .remove(0)
    .uuid
}

fn embedded_config() -> Config {
    let dir = scratch_dir("embedded");
    let mut config = Config::default();
    config.service.data_dir = Some(dir.clone());
    config.service.host = Some(format!(
        "sim-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    ));
    config.service.report_interval_secs = 1;
    config.service.service_down_time_secs = 5;
    config.database.url = Some(format!("sqlite://{}/metacloud.db", dir.display()));
    config.compute.instances_path = Some(dir.join("instances"));
    config.compute.image_cache_path = Some(dir.join("image-cache"));
    config.api.listen = "127.0.0.1:0".parse().unwrap();
    config.identity.listen = "127.0.0.1:0".parse().unwrap();
    config.api.image_listen = "127.0.0.1:0".parse().unwrap();
    config.api.ec2_listen = "127.0.0.1:0".parse().unwrap();
    config.api.metadata_listen = "127.0.0.1:0".parse().unwrap();
    config.api.network_listen = "127.0.0.1:0".parse().unwrap();
    config.validate().unwrap();
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_instances_boot_run_and_go_away() {
    let config = embedded_config();
    let running = metacloud::start(&config, &Role::ALL)
        .await
        .expect("start all");
    let api = running.api.clone().unwrap();
    let host = config.host();
    let ctx = Context::admin("demo");
    api.set_quota(&ctx, "demo", "instances", 20).await.unwrap();

    let created = api
        .create(
            &ctx,
            CreateRequest {
                name: "vm".into(),
                flavor: "m1.nano".into(),
                min_count: Some(20),
                max_count: Some(20),
                ..Default::default()
            },
        )
        .await
        .expect("create 20");
    assert_eq!(created.len(), 20);
    let uuids: Vec<String> = created.iter().map(|i| i.uuid.clone()).collect();

    wait_for("20 ACTIVE", Duration::from_secs(30), || async {
        let list = api.list(&ctx, false).await.ok()?;
        let active = list
            .iter()
            .filter(|i| i.vm_state == VmState::Active && i.task_state.is_none())
            .count();
        (active == 20).then_some(())
    })
    .await;
    for uuid in &uuids {
        let view = api.show(&ctx, uuid).await.unwrap();
        assert_eq!(view.instance.host.as_deref(), Some(host.as_str()));
        assert_eq!(view.instance.power_state, 1);
    }

    // libvirt's own view, through the compute worker.
    let domains = api.host_domains(&ctx, &host).await.unwrap();
    for uuid in &uuids {
        let d = domains
            .iter()
            .find(|d| &d.uuid == uuid)
            .unwrap_or_else(|| panic!("no libvirt domain for {uuid}"));
        assert_eq!(d.power_state, 1, "domain {} not running", d.name);
    }
    let node = api.hypervisors(&ctx).await.unwrap();
    let node = node.iter().find(|n| n.host == host).unwrap();
    assert_eq!(node.running_vms, 20);
    assert_eq!(node.memory_mb_used, 20 * 64);
    assert_eq!(node.vcpus_used, 20);

    for uuid in &uuids {
        api.delete(&ctx, uuid).await.unwrap();
    }
    wait_for("all deleted", Duration::from_secs(30), || async {
        api.list(&ctx, false).await.ok()?.is_empty().then_some(())
    })
    .await;
    let domains = api.host_domains(&ctx, &host).await.unwrap();
    for uuid in &uuids {
        assert!(
            !domains.iter().any(|d| &d.uuid == uuid),
            "domain of {uuid} still defined"
        );
    }
    let node = api.hypervisors(&ctx).await.unwrap();
    let node = node.iter().find(|n| n.host == host).unwrap();
    assert_eq!(
        (
            node.running_vms,
            node.vcpus_used,
            node.memory_mb_used,
            node.local_gb_used
        ),
        (0, 0, 0, 0),
        "node resources released"
    );
    let usage = api.quota_usage(&ctx, "demo").await.unwrap();
    assert_eq!(usage["instances"], 0);
    running.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stop_start_reboot_follow_libvirt() {
    let config = embedded_config();
    let running = metacloud::start(&config, &Role::ALL)
        .await
        .expect("start all");
    let api = running.api.clone().unwrap();
    let host = config.host();
    let ctx = Context::admin("demo");
    let uuid = boot_one(&api, &ctx, "one", "m1.nano", None).await;
    let state_is = |want: VmState, power: i32| {
        let api = api.clone();
        let ctx = ctx.clone();
        let uuid = uuid.clone();
        move || {
            let api = api.clone();
            let ctx = ctx.clone();
            let uuid = uuid.clone();
            async move {
                let i = api.show(&ctx, &uuid).await.ok()?.instance;
                if std::env::var("METACLOUD_TEST_ECHO").is_ok() {
                    eprintln!("{:?} {:?} {}", i.vm_state, i.task_state, i.power_state);
                }
                (i.vm_state == want && i.task_state.is_none() && i.power_state == power)
                    .then_some(())
            }
        }
    };
    let libvirt_power = || async {
        api.host_domains(&ctx, &host)
            .await
            .unwrap()
            .into_iter()
            .find(|d| d.uuid == uuid)
            .map(|d| d.power_state)
    };
    wait_for(
        "active",
        Duration::from_secs(20),
        state_is(VmState::Active, 1),
    )
    .await;

    // Starting an active instance is a conflict, as in Nova.
    assert!(matches!(
        api.start(&ctx, &uuid).await,
        Err(metacloud_api::ApiError::Conflict(_))
    ));
    api.stop(&ctx, &uuid).await.unwrap();
    wait_for(
        "stopped",
        Duration::from_secs(20),
        state_is(VmState::Stopped, 4),
    )
    .await;
    assert_eq!(libvirt_power().await, Some(4));
    api.start(&ctx, &uuid).await.unwrap();
    wait_for(
        "started",
        Duration::from_secs(20),
        state_is(VmState::Active, 1),
    )
    .await;
    assert_eq!(libvirt_power().await, Some(1));
    api.reboot(&ctx, &uuid, false).await.unwrap();
    wait_for(
        "soft rebooted",
        Duration::from_secs(20),
        state_is(VmState::Active, 1),
    )
    .await;
    api.reboot(&ctx, &uuid, true).await.unwrap();
    wait_for(
        "hard rebooted",
        Duration::from_secs(20),
        state_is(VmState::Active, 1),
    )
    .await;
    let actions = api.actions(&ctx, &uuid).await.unwrap();
    assert_eq!(actions, vec!["create", "stop", "start", "reboot", "reboot"]);
    // Another project sees nothing.
    let other = Context {
        project_id: "other".into(),
        roles: vec!["member".into()],
        ..Context::admin("other")
    };
    assert!(matches!(
        api.show(&other, &uuid).await,
        Err(metacloud_api::ApiError::NotFound(_))
    ));
    api.delete(&ctx, &uuid).await.unwrap();
    wait_for("deleted", Duration::from_secs(20), || async {
        api.show(&ctx, &uuid).await.is_err().then_some(())
    })
    .await;
    assert_eq!(libvirt_power().await, None);
    running.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_room_is_error_with_fault_and_quota_counts_it() {
    let config = embedded_config();
    let running = metacloud::start(&config, &Role::ALL)
        .await
        .expect("start all");
    let api = running.api.clone().unwrap();
    let ctx = Context::admin("big");
    api.set_quota(&ctx, "big", "ram", -1).await.unwrap();
    api.set_quota(&ctx, "big", "cores", -1).await.unwrap();
    let uuid = boot_one(&api, &ctx, "huge", "m1.xlarge", None).await;
    let view = wait_for("error", Duration::from_secs(20), || async {
        let v = api.show(&ctx, &uuid).await.ok()?;
        (v.instance.vm_state == VmState::Error).then_some(v)
    })
    .await;
    let fault = view.fault.expect("fault recorded");
    assert!(
        fault.message.starts_with("No valid host was found"),
        "{}",
        fault.message
    );
    assert_eq!(view.instance.host, None);
    api.delete(&ctx, &uuid).await.unwrap();
    assert_eq!(api.quota_usage(&ctx, "big").await.unwrap()["instances"], 0);
    running.stop();
}

/// A second compute host in this process, on the same bus.
async fn add_compute(
    base: &Config,
    bus: std::sync::Arc<dyn metacloud_queue::Bus>,
    host: &str,
    uri: &str,
    memory_mb: u64,
) -> metacloud::Running {
    let mut c = base.clone();
    c.service.host = Some(host.into());
    c.compute.libvirt_uri = uri.into();
    c.compute.virt_type = metacloud_config::VirtType::Qemu;
    c.compute.override_memory_mb = Some(memory_mb);
    c.compute.instances_path = Some(base.data_dir().join(host));
    metacloud::start_on(&c, &[Role::Compute], bus)
        .await
        .expect("start compute")
}

fn missing_image() -> metacloud_rpc::objects::ImageRef {
    metacloud_rpc::objects::ImageRef {
        id: format!("missing-{}", uuid::Uuid::new_v4().simple()),
        name: "missing".into(),
        location: Some("/nonexistent/metacloud/image.qcow2".into()),
        disk_format: "qcow2".into(),
        sha256: None,
        properties: Default::default(),
        min_ram_mb: 0,
        min_disk_gb: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_spawn_is_rescheduled_to_another_host() {
    if std::env::var("METACLOUD_SKIP_QEMU").as_deref() == Ok("1") {
        eprintln!("SKIPPED: needs qemu:///system (METACLOUD_SKIP_QEMU=1)");
        return;
    }
    let mut config = embedded_config();
    config.compute.override_memory_mb = Some(4096);
    let running = metacloud::start(&config, &Role::ALL)
        .await
        .expect("start all");
    let api = running.api.clone().unwrap();
    // A real-QEMU host with the most free RAM is chosen first; the image it is asked for
    // does not exist, so its spawn fails and the build must move on.
    let bad = format!("bad-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let _bad = add_compute(&config, running.bus.clone(), &bad, "qemu:///system", 65536).await;
    let ctx = Context::admin("resched");
    let uuid = boot_one(&api, &ctx, "r", "m1.nano", Some(missing_image())).await;
    let view = wait_for(
        "active after reschedule",
        Duration::from_secs(30),
        || async {
            let v = api.show(&ctx, &uuid).await.ok()?;
            (v.instance.vm_state != VmState::Building).then_some(v)
        },
    )
    .await;
    assert_eq!(view.instance.vm_state, VmState::Active, "{:?}", view.fault);
    assert_eq!(view.instance.attempts, 2);
    assert_eq!(view.instance.tried_hosts, vec![bad.clone(), config.host()]);
    assert_eq!(view.instance.host.as_deref(), Some(config.host().as_str()));
    // The failed host's claim was given back.
    let nodes = api.hypervisors(&ctx).await.unwrap();
    let bad_node = nodes.iter().find(|n| n.host == bad).unwrap();
    assert_eq!((bad_node.running_vms, bad_node.failed_builds), (0, 1));
    running.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn builds_failing_everywhere_end_in_error_after_max_attempts() {
    if std::env::var("METACLOUD_SKIP_QEMU").as_deref() == Ok("1") {
        eprintln!("SKIPPED: needs qemu:///system (METACLOUD_SKIP_QEMU=1)");
        return;
    }
    let mut config = embedded_config();
    config.conductor.max_attempts = 2;
    // Only real-QEMU hosts, each asked for an image that does not exist.
    let control = metacloud::start(&config, &[Role::Api, Role::Conductor, Role::Scheduler])
        .await
        .expect("control plane");
    let api = control.api.clone().unwrap();
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let mut hosts = Vec::new();
    for n in 0..3 {
        let host = format!("q{n}-{tag}");
        hosts.push(add_compute(&config, control.bus.clone(), &host, "qemu:///system", 8192).await);
    }
    let ctx = Context::admin("doomed");
    let uuid = boot_one(&api, &ctx, "d", "m1.nano", Some(missing_image())).await;
    let view = wait_for("error", Duration::from_secs(30), || async {
        let v = api.show(&ctx, &uuid).await.ok()?;
        (v.instance.vm_state == VmState::Error).then_some(v)
    })
    .await;
    let fault = view.fault.expect("fault");
    assert!(
        fault
            .message
            .starts_with("Exceeded maximum number of retries"),
        "{}",
        fault.message
    );
    assert!(fault.message.contains("image"), "{}", fault.message);
    assert_eq!(view.instance.attempts, 2);
    assert_eq!(view.instance.host, None, "no claim held in error");
    for n in api.hypervisors(&ctx).await.unwrap() {
        assert_eq!(n.running_vms, 0, "{}", n.host);
    }
    drop(hosts);
    control.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn power_sync_reports_a_guest_stopped_behind_our_back() {
    let mut config = embedded_config();
    config.compute.power_sync_interval_secs = 1;
    let running = metacloud::start(&config, &Role::ALL)
        .await
        .expect("start all");
    let api = running.api.clone().unwrap();
    let ctx = Context::admin("sync");
    let uuid = boot_one(&api, &ctx, "s", "m1.nano", None).await;
    wait_for("active", Duration::from_secs(20), || async {
        let i = api.show(&ctx, &uuid).await.ok()?.instance;
        (i.vm_state == VmState::Active).then_some(())
    })
    .await;
    // test:///default is shared inside this process: a second connection stops the guest
    // as an operator with virsh would on a real host.
    use metacloud_virt::Driver;
    let other = metacloud_virt::libvirt::LibvirtDriver::open(
        "test:///default",
        metacloud_virt::libvirt::LibvirtOptions::default(),
    )
    .unwrap();
    other.power_off(&uuid, None).unwrap();
    wait_for("stopped by sync", Duration::from_secs(20), || async {
        let i = api.show(&ctx, &uuid).await.ok()?.instance;
        (i.vm_state == VmState::Stopped && i.power_state == 4).then_some(())
    })
    .await;
    running.stop();
}
