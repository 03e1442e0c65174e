//! The scheduler as WASM plugins: the same placements as the native chain, hostile plugins
//! that fail only their own call, and a whole cloud scheduling through plugins.

use metacloud_config::{Config, SchedulerDriver, WeigherConfig};
use metacloud_plugins::scheduler::SchedulerPlugin;
use metacloud_plugins::{PluginError, PluginLimits, Runtime};
use metacloud_rpc::objects::{Flavor, HostState, RequestSpec};
use metacloud_rpc::RpcError;
use metacloud_scheduler::wasm::WasmChain;
use metacloud_scheduler::{Chain, Policy};
use metacloud_tests::scratch_dir;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// First-party plugins, built by scripts/build-plugins.sh (part of the test command).
pub fn dist() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/dist");
    assert!(
        dir.join("filter-ram.wasm").exists(),
        "{} has no plugins: run scripts/build-plugins.sh",
        dir.display()
    );
    dir
}

fn hostile(name: &str) -> PathBuf {
    dist().join("hostile").join(format!("{name}.wasm"))
}

/// A config whose scheduler runs the default filters and weighers from `dir`.
pub fn wasm_config(dir: &Path) -> Config {
    let data = scratch_dir("plugins");
    let mut c = Config::default();
    c.service.data_dir = Some(data.clone());
    c.plugins.cache_dir = Some(data.join("plugin-cache"));
    c.scheduler.driver = SchedulerDriver::Wasm;
    c.scheduler.plugin_dir = Some(dir.to_path_buf());
    c.validate().unwrap();
    c
}

fn hosts(n: usize) -> Vec<HostState> {
    (0..n)
        .map(|i| HostState {
            host: format!("h{i:03}"),
            availability_zone: if i % 2 == 0 { "nova" } else { "az2" }.into(),
            up: i % 17 != 5,
            vcpus: 16 + (i % 5) as u64 * 8,
            memory_mb: 16_384 + (i % 7) as u64 * 4096,
            memory_mb_used: (i % 3) as u64 * 2048,
            local_gb: 200 + (i % 4) as u64 * 100,
            local_gb_used: (i % 9) as u64 * 10,
            cpu_allocation_ratio: 4.0,
            running_vms: (i % 11) as u64,
            failed_builds: (i % 23 == 7) as u64,
            ..Default::default()
        })
        .collect()
}

fn spec(n: usize, az: Option<&str>) -> RequestSpec {
    RequestSpec {
        instance_uuids: (0..n)
            .map(|i| format!("00000000-0000-4000-8000-{i:012}"))
            .collect(),
        project_id: "p".into(),
        flavor: Flavor {
            id: "1".into(),
            name: "m1.small".into(),
            vcpus: 2,
            memory_mb: 2048,
            root_gb: 20,
            ..Default::default()
        },
        availability_zone: az.map(String::from),
        ..Default::default()
    }
}

#[test]
fn wasm_chain_places_exactly_like_the_native_chain() {
    let config = wasm_config(&dist());
    let wasm = WasmChain::load(&config, 2).expect("load plugins");
    let native = Chain::from_config(&config.scheduler, 2);
    for (n, az) in [(1, None), (20, None), (10, Some("az2")), (50, Some("nova"))] {
        let a = wasm.select(&spec(n, az), hosts(100)).expect("wasm");
        let b = Policy::select(&native, &spec(n, az), hosts(100)).expect("native");
        assert_eq!(a, b, "{n} instances in {az:?}");
    }
    let err = wasm
        .select(&spec(1, Some("nowhere")), hosts(10))
        .unwrap_err();
    assert!(matches!(err, RpcError::NoValidHost(_)), "{err}");
}

/// A plugin directory with the compute filter and one hostile plugin; returns the chain
/// and the hostile plugin's own name.
fn chain_with(hostile_path: &Path) -> (WasmChain, String) {
    let dir = scratch_dir("hostile");
    std::fs::copy(
        dist().join("filter-compute.wasm"),
        dir.join("filter-compute.wasm"),
    )
    .unwrap();
    std::fs::copy(
        dist().join("weigher-ram.wasm"),
        dir.join("weigher-ram.wasm"),
    )
    .unwrap();
    std::fs::copy(hostile_path, dir.join("hostile.wasm")).unwrap();
    let rt = Runtime::new(PluginLimits::default(), None).unwrap();
    let name = SchedulerPlugin::load(&rt, hostile_path, Default::default())
        .expect("hostile plugins load; they misbehave only in filter")
        .name;
    let mut config = wasm_config(&dir);
    config.scheduler.filters = vec!["ComputeFilter".into(), name.clone()];
    config.scheduler.weighers = vec![WeigherConfig {
        name: "RAMWeigher".into(),
        multiplier: 1.0,
    }];
    (WasmChain::load(&config, 0).expect("chain"), name)
}

fn fails_only_its_call(plugin: &str, check: impl Fn(&RpcError) -> bool) {
    let (chain, name) = chain_with(&hostile(plugin));
    let started = Instant::now();
    let err = chain.select(&spec(1, None), hosts(20)).unwrap_err();
    assert!(check(&err), "{plugin}: unexpected error {err}");
    assert!(err.to_string().contains(&name), "{err} should name {name}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{plugin} was not stopped in time"
    );
    // The host is fine and keeps scheduling: the same runtime runs a good chain next.
    let good = WasmChain::load(&wasm_config(&dist()), 0).unwrap();
    good.select(&spec(5, None), hosts(20))
        .expect("scheduling goes on");
    let health = chain.health();
    let (_, h) = health.iter().find(|(n, _)| n == &name).unwrap();
    assert!(h.failures >= 1, "{plugin} failure not counted: {h:?}");
}

#[test]
fn an_endless_loop_hits_the_deadline() {
    fails_only_its_call("hostile-loop", |e| e.to_string().contains("deadline"));
}

#[test]
fn a_4_gib_allocation_hits_the_memory_cap() {
    fails_only_its_call("hostile-alloc", |e| e.to_string().contains("memory limit"));
}

#[test]
fn a_trap_fails_the_call() {
    fails_only_its_call("hostile-trap", |e| e.to_string().contains("trapped"));
}

#[test]
fn a_panic_fails_the_call() {
    fails_only_its_call("hostile-panic", |e| e.to_string().contains("trapped"));
}

#[test]
fn another_wit_major_is_refused_at_load() {
    let rt = Runtime::new(PluginLimits::default(), None).unwrap();
    let err = SchedulerPlugin::load(&rt, &hostile("hostile-v2"), Default::default())
        .err()
        .expect("must be refused");
    assert!(matches!(err, PluginError::Incompatible { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("metacloud:scheduler") && msg.contains("@2"),
        "{msg}"
    );
    assert!(
        msg.contains("metacloud:scheduler@1"),
        "served versions named: {msg}"
    );
}

#[test]
fn compiled_components_are_cached_on_disk() {
    let cache = scratch_dir("cache");
    let rt = Runtime::new(PluginLimits::default(), Some(cache.clone())).unwrap();
    let t0 = Instant::now();
    SchedulerPlugin::load(&rt, &dist().join("filter-ram.wasm"), Default::default()).unwrap();
    let cold = t0.elapsed();
    assert_eq!(
        std::fs::read_dir(&cache).unwrap().count(),
        1,
        "one artifact cached"
    );
    let rt = Runtime::new(PluginLimits::default(), Some(cache.clone())).unwrap();
    let t1 = Instant::now();
    let p =
        SchedulerPlugin::load(&rt, &dist().join("filter-ram.wasm"), Default::default()).unwrap();
    let warm = t1.elapsed();
    assert_eq!(p.name, "RamFilter");
    eprintln!("filter-ram load: compile {cold:?}, from cache {warm:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cloud_schedules_through_wasm_plugins() {
    use metacloud_api::{Context, CreateRequest};
    use metacloud_rpc::objects::VmState;
    let mut config = wasm_config(&dist());
    let data = config.data_dir();
    config.service.host = Some(format!(
        "wasm-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    ));
    config.database.url = Some(format!("sqlite://{}/metacloud.db", data.display()));
    config.compute.instances_path = Some(data.join("instances"));
    config.api.listen = "127.0.0.1:0".parse().unwrap();
    let running = metacloud::start(&config, &metacloud::Role::ALL)
        .await
        .expect("start all");
    let described = running.scheduler.as_ref().unwrap().describe();
    assert!(
        described.starts_with("WASM filters [ComputeFilter"),
        "{described}"
    );
    let api = running.api.clone().unwrap();
    let ctx = Context::admin("wasm");
    api.set_quota(&ctx, "wasm", "instances", 20).await.unwrap();
    api.create(
        &ctx,
        CreateRequest {
            name: "w".into(),
            flavor: "m1.nano".into(),
            min_count: Some(20),
            max_count: Some(20),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    metacloud_tests::wait_for("20 ACTIVE via WASM", Duration::from_secs(30), || async {
        let list = api.list(&ctx, false).await.ok()?;
        (list
            .iter()
            .filter(|i| i.vm_state == VmState::Active)
            .count()
            == 20)
            .then_some(())
    })
    .await;
    running.stop();
}
