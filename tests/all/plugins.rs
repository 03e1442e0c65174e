//! The scheduler as WASM plugins: the same placements as the native chain, hostile plugins
//! that fail only their own call, and a whole cloud scheduling through plugins.

use metacloud_config::{Config, SchedulerDriver, WeigherConfig, NATIVE_FILTERS, NATIVE_WEIGHERS};
use metacloud_plugins::api::metadata::InstanceData;
use metacloud_plugins::api::{metadata, DialectImports, DialectPlugin, HttpRequest};
use metacloud_plugins::scheduler::SchedulerPlugin;
use metacloud_plugins::{PluginError, PluginLimits, Runtime};
use metacloud_rpc::objects::{
    group_policy, Flavor, GroupSpec, HostAggregate, HostState, ImageRef, RequestSpec,
};
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

/// Hosts with aggregates, I/O ops and group members, for the policies that read them.
fn rich_hosts(n: usize) -> Vec<HostState> {
    let mut hosts = hosts(n);
    for (i, h) in hosts.iter_mut().enumerate() {
        h.io_ops = (i % 4) as u64 * 3;
        if i % 7 == 0 {
            h.cpu_arch = "aarch64".into();
        }
        if i % 3 == 0 {
            h.aggregates.push(HostAggregate {
                name: "fast".into(),
                metadata: [("disk".to_string(), "ssd,nvme".to_string())].into(),
            });
        }
        if i % 5 == 0 {
            h.aggregates.push(HostAggregate {
                name: "private".into(),
                metadata: [("filter_tenant_id".to_string(), "p1, p2".to_string())].into(),
            });
        }
    }
    hosts
}

fn rich_specs() -> Vec<RequestSpec> {
    let group = |policy: &str, on: &[usize]| {
        let mut s = spec(3, None);
        s.server_group = Some(GroupSpec {
            uuid: "g".into(),
            policy: policy.into(),
            max_server_per_host: 1,
            hosts: on.iter().map(|i| (format!("h{i:03}"), 1)).collect(),
        });
        s
    };
    let mut specs = vec![spec(4, None), spec(2, Some("az2"))];
    for policy in group_policy::ALL {
        specs.push(group(policy, &[]));
        specs.push(group(policy, &[3, 8, 12]));
    }
    let mut extra = spec(2, None);
    extra.flavor.extra_specs.insert(
        "aggregate_instance_extra_specs:disk".into(),
        "<or> nvme <or> optane".into(),
    );
    extra
        .flavor
        .extra_specs
        .insert("capabilities:hypervisor_type".into(), "s== QEMU".into());
    specs.push(extra);
    for props in [
        &[("hw_architecture", "aarch64")][..],
        &[("architecture", "X86_64"), ("img_hv_type", "qemu")][..],
        &[("img_hv_type", "xen")][..],
    ] {
        let mut s = spec(2, None);
        s.image = Some(ImageRef {
            id: "i".into(),
            name: "i".into(),
            location: None,
            disk_format: "qcow2".into(),
            sha256: None,
            properties: props
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            min_ram_mb: 0,
            min_disk_gb: 0,
        });
        specs.push(s);
    }
    let mut tenant = spec(2, None);
    tenant.project_id = "p2".into();
    specs.push(tenant);
    specs
}

#[test]
fn every_plugin_decides_like_its_native_twin() {
    let mut config = wasm_config(&dist());
    // Plugins get [scheduler]'s knobs as settings.
    config.scheduler.max_io_ops_per_host = 6;
    config.scheduler.max_instances_per_host = 8;
    let one = |filters: Vec<String>, weighers: Vec<WeigherConfig>| {
        let mut c = config.clone();
        c.scheduler.filters = filters;
        c.scheduler.weighers = weighers;
        c
    };
    let ram = WeigherConfig {
        name: "RAMWeigher".into(),
        multiplier: 1.0,
    };
    let mut cases = Vec::new();
    for f in NATIVE_FILTERS {
        cases.push((f.to_string(), one(vec![f.to_string()], vec![ram.clone()])));
    }
    for w in NATIVE_WEIGHERS {
        for multiplier in [1.0, -1.0] {
            let weigher = WeigherConfig {
                name: w.to_string(),
                multiplier,
            };
            cases.push((format!("{w}x{multiplier}"), one(vec![], vec![weigher])));
        }
    }
    for (name, config) in cases {
        let wasm = WasmChain::load(&config, 2).expect("load plugins");
        let native = Chain::from_config(&config.scheduler, 2);
        for (k, spec) in rich_specs().iter().enumerate() {
            let a = wasm.select(spec, rich_hosts(60));
            let b = Policy::select(&native, spec, rich_hosts(60));
            assert_eq!(a, b, "{name}, spec #{k}");
        }
    }
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

/// A host import that takes longer than the whole deadline: the deadline counts the
/// plugin's own running time, so a slow database or password hash never fails a quick
/// plugin, while a plugin that spins is still stopped.
struct SlowInstance(Duration);

impl metadata::Host for SlowInstance {
    fn current_instance(&mut self) -> Option<InstanceData> {
        std::thread::sleep(self.0);
        None
    }
    fn issue_session_token(&mut self, _ttl_seconds: u32) -> Option<String> {
        None
    }
    fn check_session_token(&mut self, _token: String) -> bool {
        false
    }
}

#[test]
fn time_in_host_imports_does_not_count_against_the_deadline() {
    let limits = PluginLimits {
        deadline: Duration::from_millis(50),
        ..Default::default()
    };
    let rt = Runtime::new(limits, None).unwrap();
    let dialect = DialectPlugin::load(&rt, &hostile("hostile-dialect"), Default::default())
        .expect("hostile dialect loads");
    let route = |name: &str| {
        dialect
            .routes
            .iter()
            .position(|r| r.path == format!("/hostile/{name}"))
            .unwrap() as u32
    };
    let get = |name: &str| HttpRequest {
        method: "GET".into(),
        path: format!("/hostile/{name}"),
        query: vec![],
        headers: vec![],
        body: vec![],
    };
    let imports = || DialectImports {
        metadata: Some(Box::new(SlowInstance(Duration::from_millis(300)))),
        ..DialectImports::none()
    };
    let started = Instant::now();
    let answer = dialect
        .handle(
            &rt,
            imports(),
            route("slow-host"),
            vec![],
            None,
            get("slow-host"),
        )
        .expect("a slow host import is not the plugin's time");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(answer.status, 200);
    assert_eq!(
        String::from_utf8_lossy(&answer.body),
        "host answered: nobody"
    );
    let err = dialect
        .handle(&rt, imports(), route("loop"), vec![], None, get("loop"))
        .expect_err("a spinning plugin is still stopped");
    assert!(matches!(err, PluginError::Timeout { .. }), "{err}");
    // An import the host did not give fails only that call.
    let err = dialect
        .handle(
            &rt,
            DialectImports::none(),
            route("slow-host"),
            vec![],
            None,
            get("slow-host"),
        )
        .expect_err("no metadata import given");
    assert!(
        matches!(&err, PluginError::Trap { reason, .. } if reason.contains("`metadata` import")),
        "{err}"
    );
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
    config.identity.listen = "127.0.0.1:0".parse().unwrap();
    config.api.image_listen = "127.0.0.1:0".parse().unwrap();
    config.api.ec2_listen = "127.0.0.1:0".parse().unwrap();
    config.api.metadata_listen = "127.0.0.1:0".parse().unwrap();
    config.api.network_listen = "127.0.0.1:0".parse().unwrap();
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

fn example(name: &str) -> PathBuf {
    dist().join("examples").join(format!("{name}.wasm"))
}

#[test]
fn the_python_filter_loads_and_filters() {
    let cache = scratch_dir("pycache");
    let rt = Runtime::new(PluginLimits::default(), Some(cache.clone())).unwrap();
    let t0 = Instant::now();
    let settings = [("min_free_ram_mb".to_string(), "8192".to_string())].into();
    let p = SchedulerPlugin::load(&rt, &example("headroom-filter"), settings).expect("load");
    let cold = t0.elapsed();
    assert_eq!(p.name, "HeadroomFilter");
    let hosts = vec![
        HostState {
            host: "roomy".into(),
            memory_mb: 65_536,
            ..Default::default()
        },
        HostState {
            host: "tight".into(),
            memory_mb: 8_192,
            ..Default::default()
        },
    ];
    let report = metacloud_scheduler::wasm::trial(
        &example("headroom-filter"),
        [("min_free_ram_mb".to_string(), "8192".to_string())].into(),
        &hosts,
        &spec(1, None),
    )
    .expect("trial");
    assert_eq!(report.passed, Some(vec!["roomy".to_string()]));
    let rt = Runtime::new(PluginLimits::default(), Some(cache)).unwrap();
    let t1 = Instant::now();
    SchedulerPlugin::load(&rt, &example("headroom-filter"), Default::default()).unwrap();
    eprintln!(
        "python filter load: compile {cold:?}, from cache {:?}",
        t1.elapsed()
    );
}

/// A plugin's own metrics (`metrics.counter-add` and the `gauge-set` added in
/// metacloud:host 1.1.0) are kept per plugin and reported with its health.
#[test]
fn a_plugins_own_metrics_are_reported_with_its_health() {
    let hosts: Vec<HostState> = ["a", "b", "c"]
        .iter()
        .map(|h| HostState {
            host: h.to_string(),
            memory_mb: 8_192,
            ..Default::default()
        })
        .collect();
    let report = metacloud_scheduler::wasm::trial(
        &example("pack-weigher"),
        Default::default(),
        &hosts,
        &spec(1, None),
    )
    .expect("trial");
    assert_eq!(
        report.metrics.get("hosts-weighed"),
        Some(&3.0),
        "{report:?}"
    );
    assert_eq!(
        report.metrics.get("last-candidates"),
        Some(&3.0),
        "{report:?}"
    );
    // A plugin that reports nothing has no metrics.
    let quiet = metacloud_scheduler::wasm::trial(
        &dist().join("weigher-ram.wasm"),
        Default::default(),
        &hosts,
        &spec(1, None),
    )
    .expect("trial");
    assert!(quiet.metrics.is_empty(), "{quiet:?}");
}

/// The SDK's "hello" dialect (`examples/plugins/hello-dialect`, the one in sdk/README.md)
/// loads as a dialect and serves its routes, its 400 and its refusals in its own format.
#[test]
fn the_hello_dialect_written_with_the_sdk_serves() {
    let rt = Runtime::new(PluginLimits::default(), None).unwrap();
    let hello = DialectPlugin::load(&rt, &example("hello-dialect"), Default::default())
        .expect("hello dialect loads");
    assert_eq!(hello.name, "hello");
    let paths: Vec<&str> = hello.routes.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/hello", "/hello/{name}"]);
    let get = |query: Vec<(String, String)>| HttpRequest {
        method: "GET".into(),
        path: "/hello/world".into(),
        query,
        headers: vec![],
        body: vec![],
    };
    let call = |query| {
        hello
            .handle(
                &rt,
                DialectImports::none(),
                1,
                vec![("name".into(), "world".into())],
                None,
                get(query),
            )
            .expect("handled")
    };
    let ok = call(vec![("times".into(), "2".into())]);
    assert_eq!(ok.status, 200);
    let body: serde_json::Value = serde_json::from_slice(&ok.body).unwrap();
    assert_eq!(body, serde_json::json!({"hello": ["world", "world"]}));
    let bad = call(vec![("times".into(), "many".into())]);
    assert_eq!(bad.status, 400);
    let body: serde_json::Value = serde_json::from_slice(&bad.body).unwrap();
    assert_eq!(body["error"]["code"], 400, "{body}");
    let refused = hello.render_error(&rt, 404, "nothing here").unwrap();
    let body: serde_json::Value = serde_json::from_slice(&refused.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"error": {"code": 404, "message": "nothing here"}})
    );
}

/// 200 and more builds in flight while the weigher is swapped from spread (RAMWeigher) to pack
/// (the example PackWeigher) by dropping its file and editing the TOML: not one request
/// fails, and placements after the swap pack.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn swapping_spread_for_pack_under_load_loses_nothing() {
    use metacloud_api::{Context, CreateRequest};
    use metacloud_rpc::objects::VmState;
    let dir = scratch_dir("swap");
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    for f in [
        "filter-compute",
        "filter-ram",
        "filter-vcpu",
        "filter-disk",
        "weigher-ram",
    ] {
        std::fs::copy(
            dist().join(format!("{f}.wasm")),
            plugins.join(format!("{f}.wasm")),
        )
        .unwrap();
    }
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let toml = |weigher: &str| {
        format!(
            "[service]\nhost = \"swap-0-{tag}\"\ndata_dir = \"{data}\"\n\
             [api]\nlisten = \"127.0.0.1:0\"\nimage_listen = \"127.0.0.1:0\"\nec2_listen = \"127.0.0.1:0\"\nmetadata_listen = \"127.0.0.1:0\"\nnetwork_listen = \"127.0.0.1:0\"\n[identity]\nlisten = \"127.0.0.1:0\"\n\
             [compute]\noverride_memory_mb = 65536\noverride_vcpus = 512\ndebug_spawn_delay_ms = 500\n\
             [scheduler]\ndriver = \"wasm\"\nplugin_dir = \"{plugins}\"\n\
             filters = [\"ComputeFilter\", \"RamFilter\", \"VCPUFilter\", \"DiskFilter\"]\n\
             weighers = [{{ name = \"{weigher}\", multiplier = 1.0 }}]\n",
            data = dir.display(),
            plugins = plugins.display(),
        )
    };
    let config_path = dir.join("metacloud.toml");
    std::fs::write(&config_path, toml("RAMWeigher")).unwrap();
    let config = Config::load(Some(&config_path)).expect("config");
    let running = metacloud::start(&config, &metacloud::Role::ALL)
        .await
        .expect("start");
    let mut extra = Vec::new();
    for n in 1..4 {
        let mut c = config.clone();
        c.service.host = Some(format!("swap-{n}-{tag}"));
        extra.push(
            metacloud::start_on(&c, &[metacloud::Role::Compute], running.bus.clone())
                .await
                .unwrap(),
        );
    }
    let api = running.api.clone().unwrap();
    let scheduler = running.scheduler.clone().unwrap();
    let ctx = Context::admin("swap");
    for r in ["instances", "cores", "ram"] {
        api.set_quota(&ctx, "swap", r, -1).await.unwrap();
    }
    let boot = |name: String, count: u32| {
        let api = api.clone();
        let ctx = ctx.clone();
        tokio::spawn(async move {
            api.create(
                &ctx,
                CreateRequest {
                    name,
                    flavor: "m1.nano".into(),
                    min_count: Some(count),
                    max_count: Some(count),
                    ..Default::default()
                },
            )
            .await
        })
    };
    // 40 requests of 5 arrive 50 ms apart, each build taking 500 ms on its compute; after the
    // 10th the weigher is swapped (file dropped in, TOML edited). Requests go on arriving
    // (one a second once the 40 are in) until the watcher has switched policies and five
    // more came after it.
    let mut inflight = Vec::new();
    let mut after_swap = 0;
    let started = Instant::now();
    for i in 0.. {
        if i == 10 {
            std::fs::copy(example("pack-weigher"), plugins.join("pack-weigher.wasm")).unwrap();
            std::fs::write(&config_path, toml("PackWeigher")).unwrap();
        }
        if scheduler.describe().contains("PackWeigher") {
            after_swap += 1;
        }
        if (i >= 40 && after_swap >= 5) || started.elapsed() > Duration::from_secs(90) {
            break;
        }
        inflight.push(boot(format!("load-{i}"), 5));
        let pause = if i < 40 { 50 } else { 1000 };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
    assert!(after_swap >= 5, "the new policy never took over");
    let mut uuids = Vec::new();
    for t in inflight {
        let created = t.await.unwrap().expect("no request may fail");
        uuids.extend(created.into_iter().map(|i| i.uuid));
    }
    assert!(uuids.len() >= 200, "{} builds", uuids.len());
    let total = uuids.len();
    metacloud_tests::wait_for("pack policy loaded", Duration::from_secs(30), || async {
        scheduler.describe().contains("PackWeigher").then_some(())
    })
    .await;
    metacloud_tests::wait_for("all ACTIVE", Duration::from_secs(120), || async {
        let list = api.list(&ctx, false).await.ok()?;
        if std::env::var("METACLOUD_TEST_ECHO").is_ok() {
            let mut by: std::collections::BTreeMap<String, usize> = Default::default();
            for i in &list {
                *by.entry(format!("{:?}/{:?}", i.vm_state, i.task_state))
                    .or_default() += 1;
            }
            eprintln!("swap: {total} wanted, {by:?}");
        }
        let errors: Vec<_> = list
            .iter()
            .filter(|i| i.vm_state == VmState::Error)
            .collect();
        assert!(errors.is_empty(), "builds failed: {errors:?}");
        (list
            .iter()
            .filter(|i| i.vm_state == VmState::Active)
            .count()
            == total)
            .then_some(())
    })
    .await;
    // After the swap: new instances pile onto the fullest host instead of spreading.
    let nodes = api.hypervisors(&ctx).await.unwrap();
    let ours: Vec<_> = nodes.iter().filter(|n| n.host.ends_with(tag)).collect();
    let most = ours.iter().map(|n| n.memory_mb_used).max().unwrap();
    let fullest: Vec<String> = ours
        .iter()
        .filter(|n| n.memory_mb_used == most)
        .map(|n| n.host.clone())
        .collect();
    let later = boot("after".into(), 8).await.unwrap().unwrap();
    let later: Vec<String> = later.into_iter().map(|i| i.uuid).collect();
    let hosts = metacloud_tests::wait_for("placed", Duration::from_secs(30), || async {
        let list = api.list(&ctx, false).await.ok()?;
        let placed: Vec<String> = list
            .iter()
            .filter(|i| later.contains(&i.uuid) && i.vm_state == VmState::Active)
            .filter_map(|i| i.host.clone())
            .collect();
        (placed.len() == later.len()).then_some(placed)
    })
    .await;
    assert!(
        hosts.iter().all(|h| *h == hosts[0]) && fullest.contains(&hosts[0]),
        "pack should fill one of the fullest hosts {fullest:?}: {hosts:?}"
    );
    drop(extra);
    running.stop();
}
