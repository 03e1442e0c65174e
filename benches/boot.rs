//! Boot latency end to end: from the compute API's create call until every instance of the
//! request is ACTIVE (placed, claimed, spawned in libvirt, reported through the conductor).
//!
//! `cargo bench -p metacloud-benches [-- embedded|distributed|fleet]`
//! - embedded: batches of 20 on SQLite + the in-process bus + test:///default;
//! - distributed: batches of 20 on PostgreSQL + RabbitMQ (all roles in this process, every
//!   message through the broker);
//! - fleet: 1,000 instances (50 concurrent requests of 20) over 100 simulated compute hosts.

use metacloud::Role;
use metacloud_api::{ComputeApi, Context, CreateRequest};
use metacloud_config::{Config, QueueBackend};
use metacloud_rpc::objects::VmState;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn config(label: &str) -> Config {
    let dir = std::env::temp_dir().join(format!(
        "mc-bench-{label}-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let mut c = Config::default();
    c.service.data_dir = Some(dir.clone());
    c.service.host = Some(format!("{label}-0"));
    c.database.url = Some(format!("sqlite://{}/metacloud.db", dir.display()));
    c.compute.instances_path = Some(dir.join("instances"));
    c.compute.image_cache_path = Some(dir.join("cache"));
    c.compute.override_memory_mb = Some(262_144);
    c.compute.override_vcpus = Some(256);
    c.compute.override_disk_gb = Some(10_000);
    c.api.listen = "127.0.0.1:0".parse().unwrap();
    c.identity.listen = "127.0.0.1:0".parse().unwrap();
    c.api.image_listen = "127.0.0.1:0".parse().unwrap();
    c.api.ec2_listen = "127.0.0.1:0".parse().unwrap();
    c.api.metadata_listen = "127.0.0.1:0".parse().unwrap();
    c.api.network_listen = "127.0.0.1:0".parse().unwrap();
    c
}

async fn unlimited(api: &ComputeApi, ctx: &Context) {
    for r in ["instances", "cores", "ram"] {
        api.set_quota(ctx, &ctx.project_id, r, -1).await.unwrap();
    }
}

/// Creates `count` instances and returns the time until all are ACTIVE.
async fn boot(api: &ComputeApi, ctx: &Context, count: u32) -> (Duration, Vec<String>) {
    let start = Instant::now();
    let created = api
        .create(
            ctx,
            CreateRequest {
                name: "bench".into(),
                flavor: "m1.nano".into(),
                min_count: Some(count),
                max_count: Some(count),
                ..Default::default()
            },
        )
        .await
        .expect("create");
    let uuids: Vec<String> = created.into_iter().map(|i| i.uuid).collect();
    wait_active(api, ctx, &uuids).await;
    (start.elapsed(), uuids)
}

async fn wait_active(api: &ComputeApi, ctx: &Context, uuids: &[String]) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let list = api.list(ctx, false).await.expect("list");
        let active = list
            .iter()
            .filter(|i| i.vm_state == VmState::Active && uuids.contains(&i.uuid))
            .count();
        let errors = list.iter().filter(|i| i.vm_state == VmState::Error).count();
        assert_eq!(errors, 0, "instances in error");
        if active == uuids.len() {
            return;
        }
        assert!(Instant::now() < deadline, "not all ACTIVE after 120 s");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn delete_all(api: &ComputeApi, ctx: &Context) {
    for i in api.list(ctx, false).await.unwrap() {
        api.delete(ctx, &i.uuid).await.unwrap();
    }
    while !api.list(ctx, false).await.unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name}: median {:.1} ms, min {:.1} ms, max {:.1} ms ({} runs)",
        ms(samples[samples.len() / 2]),
        ms(samples[0]),
        ms(samples[samples.len() - 1]),
        samples.len()
    );
}

async fn batches(name: &str, config: Config, runs: usize) {
    let running = metacloud::start(&config, &Role::ALL).await.expect("start");
    let api = running.api.clone().unwrap();
    let ctx = Context::admin("bench");
    unlimited(&api, &ctx).await;
    boot(&api, &ctx, 20).await; // warm-up
    delete_all(&api, &ctx).await;
    let mut samples = Vec::new();
    for _ in 0..runs {
        let (t, _) = boot(&api, &ctx, 20).await;
        samples.push(t);
        delete_all(&api, &ctx).await;
    }
    report(name, samples);
    running.stop();
}

async fn fleet(hosts: usize, requests: usize, per_request: u32) {
    let config = config("fleet");
    let control = metacloud::start(&config, &[Role::Api, Role::Conductor, Role::Scheduler])
        .await
        .expect("start control plane");
    let api = control.api.clone().unwrap();
    let mut computes = Vec::new();
    for n in 0..hosts {
        let mut c = config.clone();
        c.service.host = Some(format!("sim-{n:03}"));
        computes.push(
            metacloud::start_on(&c, &[Role::Compute], control.bus.clone())
                .await
                .expect("start compute"),
        );
    }
    let ctx = Context::admin("fleet");
    unlimited(&api, &ctx).await;
    let start = Instant::now();
    let tasks: Vec<_> = (0..requests)
        .map(|_| {
            let api = api.clone();
            let ctx = ctx.clone();
            tokio::spawn(async move {
                api.create(
                    &ctx,
                    CreateRequest {
                        name: "fleet".into(),
                        flavor: "m1.nano".into(),
                        min_count: Some(per_request),
                        max_count: Some(per_request),
                        ..Default::default()
                    },
                )
                .await
                .expect("create")
                .into_iter()
                .map(|i| i.uuid)
                .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut uuids = Vec::new();
    for t in tasks {
        uuids.extend(t.await.unwrap());
    }
    let accepted = start.elapsed();
    wait_active(&api, &ctx, &uuids).await;
    let total = start.elapsed();
    let per_host = api.hypervisors(&ctx).await.unwrap();
    let busiest = per_host.iter().map(|h| h.running_vms).max().unwrap_or(0);
    let idlest = per_host.iter().map(|h| h.running_vms).min().unwrap_or(0);
    println!(
        "fleet: {} instances ({requests} requests x {per_request}) over {hosts} hosts: all ACTIVE in {:.2} s (requests accepted in {:.2} s; {idlest}-{busiest} instances per host)",
        uuids.len(),
        total.as_secs_f64(),
        accepted.as_secs_f64()
    );
    drop(computes);
    control.stop();
}

fn main() {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wants = |name: &str| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        if wants("embedded") {
            batches(
                "embedded: batch of 20 to ACTIVE (SQLite, in-process bus, test:///default)",
                config("embedded"),
                20,
            )
            .await;
        }
        if wants("distributed") {
            let url = metacloud_db::scratch::create_postgres_database()
                .await
                .expect("postgres");
            let mut c = config("distributed");
            c.database.url = Some(url.clone());
            c.queue.backend = QueueBackend::Amqp;
            c.queue.namespace = format!("mc-bench-{}", uuid::Uuid::new_v4().simple());
            batches(
                "distributed: batch of 20 to ACTIVE (PostgreSQL, RabbitMQ, test:///default)",
                c,
                20,
            )
            .await;
            metacloud_db::scratch::drop_postgres_database(&url).await;
        }
        if wants("fleet") {
            fleet(100, 50, 20).await;
        }
    });
    let _ = Arc::new(());
}
