//! Per-request scheduling latency (filter + weigh + pick, one instance) on synthetic hosts
//! shaped like ../shared/bench/nova-scheduler/sched_bench.py's: the native Rust chain and the
//! same filters and weighers as WASM plugins, side by side in one run.
//!
//! `cargo bench -p metacloud-benches --bench scheduler` (needs scripts/build-plugins.sh first)

use metacloud_config::{Config, SchedulerDriver};
use metacloud_rpc::objects::{Flavor, HostState, ImageRef, RequestSpec};
use metacloud_scheduler::wasm::WasmChain;
use metacloud_scheduler::{Chain, Policy};
use std::path::Path;
use std::time::{Duration, Instant};

/// xorshift: deterministic hosts without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

/// Nova's benchmark cloud: 4 AZs, 5 % aarch64, 2 % disabled, 1 % down, 0-90 % used.
fn hosts(n: usize) -> Vec<HostState> {
    let mut r = Rng(42);
    (0..n)
        .map(|i| {
            let vcpus = r.pick(&[32u64, 48, 64, 96, 128]);
            let mem = r.pick(&[131_072u64, 262_144, 393_216, 524_288, 786_432]);
            let disk = r.pick(&[500u64, 1000, 2000, 4000]);
            let used = r.unit() * 0.9;
            let disabled = r.unit() < 0.02;
            let down = !disabled && r.unit() < 0.01;
            HostState {
                host: format!("compute-{i:05}"),
                availability_zone: format!("az{}", i % 4),
                up: !down,
                disabled,
                vcpus,
                vcpus_used: (vcpus as f64 * 4.0 * used) as u64,
                memory_mb: mem,
                memory_mb_used: (mem as f64 * used) as u64,
                local_gb: disk,
                local_gb_used: (disk as f64 * used) as u64,
                cpu_allocation_ratio: 4.0,
                running_vms: r.next() % 31,
                cpu_arch: if r.unit() < 0.05 { "aarch64" } else { "x86_64" }.into(),
                hypervisor_type: "QEMU".into(),
                ..Default::default()
            }
        })
        .collect()
}

fn spec() -> RequestSpec {
    RequestSpec {
        instance_uuids: vec!["00000000-0000-4000-8000-000000000001".into()],
        project_id: "p".into(),
        flavor: Flavor {
            id: "3".into(),
            name: "m1.medium".into(),
            vcpus: 2,
            memory_mb: 4096,
            root_gb: 40,
            extra_specs: [
                ("hw:cpu_policy".to_string(), "shared".to_string()),
                ("quota:disk_read_bytes_sec".into(), "104857600".into()),
            ]
            .into_iter()
            .collect(),
            ..Default::default()
        },
        image: Some(ImageRef {
            id: "99".into(),
            name: "debian-12".into(),
            location: None,
            disk_format: "qcow2".into(),
            sha256: None,
            properties: [
                ("hw_architecture".to_string(), "x86_64".to_string()),
                ("img_hv_type".into(), "qemu".into()),
            ]
            .into_iter()
            .collect(),
            min_ram_mb: 0,
            min_disk_gb: 0,
        }),
        ..Default::default()
    }
}

/// Median per-request latency over at least `min_time` and 7 runs.
fn measure(policy: &dyn Policy, hosts: &[HostState], min_time: Duration) -> (Duration, usize) {
    let spec = spec();
    let mut samples = Vec::new();
    let start = Instant::now();
    while samples.len() < 7 || start.elapsed() < min_time {
        let input = hosts.to_vec();
        let t = Instant::now();
        policy.select(&spec, input).expect("a host");
        samples.push(t.elapsed());
    }
    samples.sort();
    (samples[samples.len() / 2], samples.len())
}

fn main() {
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/dist");
    let mut config = Config::default();
    config.scheduler.driver = SchedulerDriver::Wasm;
    config.scheduler.plugin_dir = Some(dist);
    config.plugins.cache_dir = None;
    let wasm = WasmChain::load(&config, 0).expect("plugins (run scripts/build-plugins.sh)");
    let native = Chain::from_config(&config.scheduler, 0);
    println!("{}", Policy::describe(&native));
    println!("{}", wasm.describe());
    for n in [1_000usize, 10_000] {
        let hosts = hosts(n);
        let (nat, runs_n) = measure(&native, &hosts, Duration::from_secs(3));
        let (was, runs_w) = measure(&wasm, &hosts, Duration::from_secs(3));
        println!(
            "{n} hosts: native {:.3} ms ({runs_n} runs), wasm {:.3} ms ({runs_w} runs), wasm/native {:.2}x",
            nat.as_secs_f64() * 1e3,
            was.as_secs_f64() * 1e3,
            was.as_secs_f64() / nat.as_secs_f64()
        );
    }
}
