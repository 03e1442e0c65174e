//! The network worker's figures (issue 14):
//!
//! 1. fixed-address allocation under 50 concurrent boots: 50 `allocate_port` at once on a
//!    /24, on SQLite (embedded) and on PostgreSQL (scale), rounds of 50 until 200 ports;
//! 2. a security-group rule change with 100 instances on the host: 100 ports with their taps
//!    (veth ends, as libvirt would make them) attached to a flat-DHCP network in its
//!    namespace; then one rule added to their group and the time until the worker has it in
//!    nftables — `reconcile()` alone (desired state from the database, the WASM driver's
//!    plan, the check, the apply) and through the worker's own loop (which polls the
//!    database's change counter every second).
//!
//! `cargo bench -p metacloud-benches --bench network` (as root; needs nftables, dnsmasq and
//! the plugins built: `scripts/setup.sh && scripts/build-plugins.sh`). `BENCH_RUNS` sets
//! the rounds (default 5).

use metacloud_db::instances::NewInstances;
use metacloud_db::networks::NewNetwork;
use metacloud_db::quotas::DefaultLimits;
use metacloud_db::Db;
use metacloud_network::apply::Applier;
use metacloud_network::check::Policy;
use metacloud_network::service::load_driver;
use metacloud_network::worker::{NetworkWorker, Settings};
use metacloud_plugins::{PluginLimits, Runtime};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn runs() -> usize {
    std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ok(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect(args[0]);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn instances(db: &Db, n: u32, project: &str) -> Vec<String> {
    let flavor = db.get_flavor("m1.tiny").await.unwrap();
    let mut limits = DefaultLimits::default();
    for (k, v) in [
        ("instances", 10_000),
        ("cores", 100_000),
        ("ram", 100_000_000),
    ] {
        limits.0.insert(k.to_string(), v);
    }
    db.create_instances(&NewInstances::plain("vm", n, project, "u", flavor), &limits)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.uuid)
        .collect()
}

async fn network(db: &Db, cidr: &str) -> String {
    db.create_network(&NewNetwork {
        name: "bench".into(),
        project_id: Some("p1".into()),
        cidr: cidr.into(),
        dhcp: true,
        driver: "flat-dhcp".into(),
        ..NewNetwork::default()
    })
    .await
    .unwrap()
    .id
}

/// Rounds of 50 concurrent allocations (200 ports per run); returns each round's time.
async fn allocation(db: &Db) -> Vec<Duration> {
    let mut rounds = Vec::new();
    for _ in 0..runs() {
        let net = network(db, "10.200.0.0/24").await;
        let uuids = instances(db, 200, "p1").await;
        for chunk in uuids.chunks(50) {
            let t0 = Instant::now();
            let tasks: Vec<_> = chunk
                .iter()
                .map(|u| {
                    let (db, u, net) = (db.clone(), u.clone(), net.clone());
                    tokio::spawn(async move { db.allocate_port(&u, "p1", &net, None).await })
                })
                .collect();
            for t in tasks {
                t.await.unwrap().unwrap();
            }
            rounds.push(t0.elapsed());
        }
        for u in &uuids {
            db.release_ports_of_instance(u).await.unwrap();
        }
        db.delete_network(&net).await.unwrap();
    }
    rounds
}

fn report_allocation(backend: &str, rounds: &[Duration]) {
    let m = median(rounds.to_vec());
    println!(
        "allocation, {backend}: 50 concurrent allocate_port in {:.1} ms median ({} rounds, {:.0}/s; min {:.1} ms, max {:.1} ms)",
        m.as_secs_f64() * 1e3,
        rounds.len(),
        50.0 / m.as_secs_f64(),
        rounds.iter().min().unwrap().as_secs_f64() * 1e3,
        rounds.iter().max().unwrap().as_secs_f64() * 1e3,
    );
}

async fn rule_change(dir: &Path) {
    let url = format!("sqlite://{}/db.sqlite", dir.display());
    let db = Db::connect(&url, 5, Duration::from_secs(5)).await.unwrap();
    db.migrate().await.unwrap();
    let net = network(&db, "10.201.0.0/24").await;
    let group = db.ensure_default_group("p1").await.unwrap();
    let mut devices = Vec::new();
    for u in instances(&db, 100, "p1").await {
        let port = db.allocate_port(&u, "p1", &net, None).await.unwrap();
        db.add_instance_to_group(&u, "p1", &group.id).await.unwrap();
        db.set_port_host(&u, Some("bench")).await.unwrap();
        let peer = format!("b{}", &port.id.replace('-', "")[..10]);
        ok(&[
            "ip",
            "link",
            "add",
            &port.device,
            "type",
            "veth",
            "peer",
            "name",
            &peer,
        ]);
        devices.push(peer);
    }
    let runtime = Runtime::new(PluginLimits::default(), None).unwrap();
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/dist/network");
    let driver = load_driver(&runtime, &dist, "flat-dhcp", Default::default()).unwrap();
    let worker = NetworkWorker::new(
        Settings {
            host: "bench".into(),
            multi_host: true,
            underlay_interface: None,
            underlay_address: None,
            peers: vec![],
            reconcile_interval: Duration::from_secs(3600),
        },
        db.clone(),
        runtime,
        Arc::new(driver),
        Policy::default(),
        Applier::new("mcn-", dir.join("network"), 8775, None),
    );
    let t0 = Instant::now();
    let first = worker.reconcile().await.unwrap();
    println!(
        "first apply of 100 ports (namespace, bridge, 100 taps moved and attached, DHCP, rules): {:.0} ms ({} attached)",
        t0.elapsed().as_secs_f64() * 1e3,
        first.attached.len()
    );
    let ns = format!("mcn-{}", &net.replace('-', "")[..8]);
    let mut direct = Vec::new();
    let mut looped = Vec::new();
    for run in 0..runs() {
        let rule = metacloud_db::secgroups::NewRule {
            direction: "ingress".into(),
            protocol: Some("tcp".into()),
            port_min: Some(1000 + run as i64),
            port_max: Some(1000 + run as i64),
            ..Default::default()
        };
        let r = db
            .add_security_group_rule("p1", &group.id, &rule, 1000)
            .await
            .unwrap();
        let t0 = Instant::now();
        worker.reconcile().await.unwrap();
        direct.push(t0.elapsed());
        assert!(rules_have(&ns, 1000 + run), "rule not applied");
        db.remove_security_group_rule("p1", &r.id).await.unwrap();
        worker.reconcile().await.unwrap();
    }
    let looping = worker.spawn();
    tokio::time::sleep(Duration::from_secs(2)).await;
    for run in 0..runs() {
        let port = 2000 + run;
        let rule = metacloud_db::secgroups::NewRule {
            direction: "ingress".into(),
            protocol: Some("tcp".into()),
            port_min: Some(port as i64),
            port_max: Some(port as i64),
            ..Default::default()
        };
        let t0 = Instant::now();
        db.add_security_group_rule("p1", &group.id, &rule, 1000)
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !rules_have(&ns, port) {
            assert!(Instant::now() < deadline, "rule never applied by the loop");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        looped.push(t0.elapsed());
    }
    looping.abort();
    println!(
        "rule change, 100 instances: reconcile {:.0} ms median (min {:.0}, max {:.0}); DB write → in nftables through the worker's loop {:.0} ms median (min {:.0}, max {:.0}); {} runs",
        median(direct.clone()).as_secs_f64() * 1e3,
        direct.iter().min().unwrap().as_secs_f64() * 1e3,
        direct.iter().max().unwrap().as_secs_f64() * 1e3,
        median(looped.clone()).as_secs_f64() * 1e3,
        looped.iter().min().unwrap().as_secs_f64() * 1e3,
        looped.iter().max().unwrap().as_secs_f64() * 1e3,
        runs()
    );
    let _ = Command::new("ip").args(["netns", "del", &ns]).status();
    let pid = std::fs::read_to_string(dir.join("network/dhcp").join(&net).join("pid"))
        .unwrap_or_default();
    let _ = Command::new("kill").arg(pid.trim()).status();
    // The veths went with the namespace their tap ends were moved into; any left go now.
    for d in devices {
        let _ = Command::new("ip").args(["link", "del", &d]).output();
    }
}

/// Whether the namespace's ruleset accepts TCP `port` (the rule under test).
fn rules_have(ns: &str, port: usize) -> bool {
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            "nft",
            "list",
            "table",
            "inet",
            "metacloud",
        ])
        .output()
        .expect("nft");
    String::from_utf8_lossy(&out.stdout).contains(&format!("tcp dport {port} accept"))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = metacloud_tests::scratch_dir("bench-net");
    let url = format!("sqlite://{}/alloc.sqlite", dir.display());
    let sqlite = Db::connect(&url, 5, Duration::from_secs(5)).await.unwrap();
    sqlite.migrate().await.unwrap();
    report_allocation("SQLite", &allocation(&sqlite).await);
    match metacloud_db::scratch::create_postgres_database().await {
        Ok(pg_url) => {
            let pg = Db::connect(&pg_url, 10, Duration::from_secs(5))
                .await
                .unwrap();
            pg.migrate().await.unwrap();
            report_allocation("PostgreSQL (10 connections)", &allocation(&pg).await);
            pg.close().await;
            metacloud_db::scratch::drop_postgres_database(&pg_url).await;
        }
        Err(e) => println!("allocation, PostgreSQL: not measured ({e})"),
    }
    rule_change(&dir).await;
}
