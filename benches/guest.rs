//! A real guest on `qemu:///system`: from the OpenStack API's `POST /v2.1/servers` to the
//! guest's marker line on its serial console, beside a plain `virsh create` of the same
//! domain XML over the same cached image, in the same run (issue 6).
//!
//! `cargo bench -p metacloud-benches --bench guest` (needs `scripts/setup.sh hypervisor`
//! and the plugins built). `BENCH_RUNS` sets the runs of each (default 7); the two kinds
//! alternate so that drift of the machine hits both alike.
//!
//! `cargo bench -p metacloud-benches --bench guest -- network` measures instead the guest
//! on a flat-DHCP network (issue 14): POST → the guest has its DHCP lease (its
//! `stage=net ip=` line) → its first metadata answer from 169.254.169.254. The guest's own
//! init cannot ask (its busybox crashes on `wget -T` here), so the bench types the request
//! into the guest's serial shell the moment the lease shows, and the guest times the request
//! itself (`/proc/uptime` before and after, 10 ms resolution).

use metacloud::Role;
use metacloud_benches::{dist, embedded_config};
use metacloud_config::Config;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const MARKER: &str = "METACLOUD-GUEST-UP";

fn config(network: bool) -> Config {
    let mut c = embedded_config("guest");
    let dir = c.service.data_dir.clone().expect("a data directory");
    c.compute.libvirt_uri = "qemu:///system".into();
    c.scheduler.plugin_dir = Some(dist());
    if network {
        c.network.driver = "flat-dhcp".into();
        c.network.plugin_dir = Some(dist().join("network"));
        c.network.state_dir = Some(dir.join("network"));
        c.network.networks = vec![metacloud_config::DeclaredNetwork {
            name: "private".into(),
            cidr: "10.94.0.0/24".into(),
            dns: vec![],
            segment: None,
        }];
    }
    c.validate().expect("config");
    c
}

fn virsh(args: &[&str]) -> String {
    let out = Command::new("virsh")
        .args(["-q", "-c", "qemu:///system"])
        .args(args)
        .output()
        .expect("virsh");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Polls until the domain's QEMU process exists (libvirt writes its pid file when it
/// spawns QEMU) and until `log` contains the marker; both times from `t0`.
async fn watch(domain: &str, log: &Path, t0: Instant) -> (Duration, Duration) {
    let pid_file = Path::new("/run/libvirt/qemu").join(format!("{domain}.pid"));
    let mut spawned = None;
    loop {
        if spawned.is_none() && pid_file.exists() {
            spawned = Some(t0.elapsed());
        }
        if let Ok(text) = std::fs::read(log) {
            if text.windows(MARKER.len()).any(|w| w == MARKER.as_bytes()) {
                return (spawned.unwrap_or_default(), t0.elapsed());
            }
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "no marker in {}",
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

struct Cloud {
    http: reqwest::Client,
    nova: String,
    token: String,
}

impl Cloud {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.nova))
            .header("x-auth-token", &self.token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    async fn delete(&self, id: &str) {
        self.call(
            reqwest::Method::DELETE,
            &format!("/v2.1/servers/{id}"),
            None,
        )
        .await;
        for _ in 0..600 {
            if self
                .call(reqwest::Method::GET, &format!("/v2.1/servers/{id}"), None)
                .await
                .0
                == 404
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{id} not deleted");
    }
}

struct Run {
    started: Duration,
    marker: Duration,
}

/// One boot through the API: POST → QEMU spawned → marker.
async fn through_api(cloud: &Cloud, image: &str, instances: &Path) -> (Run, String) {
    let body = json!({"server": {"name": "bench", "imageRef": image, "flavorRef": "1"}});
    let t0 = Instant::now();
    let (s, b) = cloud
        .call(reqwest::Method::POST, "/v2.1/servers", Some(body))
        .await;
    assert_eq!(s, 202, "{b}");
    let id = b["server"]["id"].as_str().unwrap().to_string();
    let log = instances.join(&id).join("console.log");
    let (started, marker) = watch(&format!("instance-{id}"), &log, t0).await;
    (Run { started, marker }, id)
}

/// The same domain XML and cached image, started by `virsh create` (overlay made first,
/// outside the timing).
async fn plain_virsh(xml: &str, cache: &Path, image: &str, scratch: &Path) -> Run {
    let uuid = uuid::Uuid::new_v4().to_string();
    let dir = scratch.join(&uuid);
    std::fs::create_dir_all(&dir).unwrap();
    let disk = dir.join("disk");
    let ok = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-F", "raw", "-b"])
        .arg(cache.join(image))
        .arg(&disk)
        .status()
        .unwrap();
    assert!(ok.success());
    let log = dir.join("console.log");
    let xml = retarget(xml, &uuid, &disk, &log);
    let file = dir.join("domain.xml");
    std::fs::write(&file, xml).unwrap();
    let t0 = Instant::now();
    // Spawned, not waited for: the QEMU process is watched for while virsh runs.
    let mut virsh_create = Command::new("virsh")
        .args(["-q", "-c", "qemu:///system", "create"])
        .arg(&file)
        .spawn()
        .unwrap();
    let (started, marker) = watch(&format!("plain-{uuid}"), &log, t0).await;
    assert!(virsh_create.wait().unwrap().success(), "virsh create");
    virsh(&["destroy", &format!("plain-{uuid}")]);
    Run { started, marker }
}

/// The instance's domain XML with its own name, UUID, disk and console log.
fn retarget(xml: &str, uuid: &str, disk: &Path, log: &Path) -> String {
    let mut out = String::new();
    for line in xml.lines() {
        let t = line.trim_start();
        let line = if t.starts_with("<name>") {
            format!("<name>plain-{uuid}</name>")
        } else if t.starts_with("<uuid>") {
            format!("<uuid>{uuid}</uuid>")
        } else if t.starts_with("<source file=") && t.contains("/disk'") {
            format!("<source file='{}'/>", disk.display())
        } else if t.starts_with("<log file=") {
            format!("<log file='{}' append='on'/>", log.display())
        } else if t.starts_with("<source path=") || t.starts_with("<alias") {
            continue;
        } else {
            line.to_string()
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    let network = std::env::args().any(|a| a == "network");
    let guest = metacloud_tests::guest_dir().join("guest.raw");
    let config = config(network);
    let running = metacloud::start(&config, &Role::ALL).await.expect("start");
    let http = reqwest::Client::new();
    let keystone = format!("http://{}/v3", running.identity_addr.unwrap());
    let r = http
        .post(format!("{keystone}/auth/tokens"))
        .json(
            &json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "demo", "domain": {"id": "default"}, "password": "demo-pw"}}},
            "scope": {"project": {"name": "demo", "domain": {"id": "default"}}}}}),
        )
        .send()
        .await
        .unwrap();
    let token = r.headers()["x-subject-token"].to_str().unwrap().to_string();
    let glance = format!("http://{}", running.image_addr.unwrap());
    let r = http
        .post(format!("{glance}/v2/images"))
        .header("x-auth-token", &token)
        .json(&json!({"name": "guest", "disk_format": "raw", "container_format": "bare"}))
        .send()
        .await
        .unwrap();
    let image = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = http
        .put(format!("{glance}/v2/images/{image}/file"))
        .header("x-auth-token", &token)
        .header("content-type", "application/octet-stream")
        .body(std::fs::read(&guest).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let cloud = Cloud {
        http,
        nova: format!("http://{}", running.compute_addr.unwrap()),
        token,
    };
    let instances = config.compute.instances_path.clone().unwrap();
    if network {
        let state = config.network.state_dir.clone().unwrap();
        let cleanup = metacloud_tests::NetworkStateGuard(state);
        network_runs(&cloud, &image, &instances, runs).await;
        running.stop();
        // The network's DHCP server and namespace, before their state files go.
        drop(cleanup);
        let _ = std::fs::remove_dir_all(config.data_dir());
        return;
    }
    let cache = config.compute.image_cache_path.clone().unwrap();
    let scratch = config.data_dir().join("plain");

    // Warm-up: the image enters the cache; its domain XML is the one virsh starts.
    let (_, id) = through_api(&cloud, &image, &instances).await;
    let xml = virsh(&["dumpxml", "--inactive", &format!("instance-{id}")]);
    cloud.delete(&id).await;

    let (mut api, mut plain) = (Vec::new(), Vec::new());
    // A first virsh run too, so that neither kind pays a cold start in the figures.
    plain_virsh(&xml, &cache, &image, &scratch).await;
    for _ in 0..runs {
        let (run, id) = through_api(&cloud, &image, &instances).await;
        api.push(run);
        cloud.delete(&id).await;
        plain.push(plain_virsh(&xml, &cache, &image, &scratch).await);
    }
    let col = |v: &[Run], f: fn(&Run) -> Duration| median(v.iter().map(|r| ms(f(r))).collect());
    let (a_start, a_marker) = (col(&api, |r| r.started), col(&api, |r| r.marker));
    let (p_start, p_marker) = (col(&plain, |r| r.started), col(&plain, |r| r.marker));
    println!(
        "guest boot, {runs} runs each (medians; {}):",
        config.compute.libvirt_uri
    );
    println!("  API POST -> QEMU spawned {a_start:.0} ms, -> marker {a_marker:.0} ms");
    println!("  virsh create -> QEMU spawned {p_start:.0} ms, -> marker {p_marker:.0} ms");
    println!(
        "  orchestration: {:+.0} ms to QEMU's spawn, {:+.0} ms to the marker",
        a_start - p_start,
        a_marker - p_marker
    );
    for (i, (a, p)) in api.iter().zip(&plain).enumerate() {
        println!(
            "  run {i}: api {:.0}/{:.0} ms, virsh {:.0}/{:.0} ms",
            ms(a.started),
            ms(a.marker),
            ms(p.started),
            ms(p.marker)
        );
    }
    running.stop();
    let _ = std::fs::remove_dir_all(config.data_dir());
}

/// One networked boot: POST → `stage=net ip=` on the console (lease), then the metadata
/// request typed into the guest's shell, timed by the guest.
struct NetRun {
    spawned: Duration,
    lease: Duration,
    lease_uptime_s: f64,
    metadata_ms: f64,
    typed_to_seen: Duration,
}

/// The console log's text, empty while it does not exist.
fn read_log(log: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(log).unwrap_or_default()).into_owned()
}

/// Polls `log` every 2 ms until `want` is in it; the time since `t0`.
async fn seen(log: &Path, want: &str, t0: Instant) -> Duration {
    loop {
        if read_log(log).contains(want) {
            return t0.elapsed();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "no {want:?} in {}",
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Writes `line` to the domain's serial pty (held open 1.5 s first: QEMU notices a client
/// once a second); the instant of the write, and the pty, to be held open until the
/// answer shows.
async fn type_line(domain: &str, line: &str) -> (Instant, std::fs::File) {
    use std::io::Write;
    let pts = virsh(&["ttyconsole", domain]);
    let mut tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(pts.trim())
        .expect("serial pty");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let at = Instant::now();
    // busybox's line editor asks where the cursor is (ESC [6n): answer, then the line.
    tty.write_all(format!("\x1b[1;1R{line}\r").as_bytes())
        .expect("write to the serial pty");
    (at, tty)
}

/// The number after `key` in `text` (`uptime=2.31` → 2.31).
fn number_after(text: &str, key: &str) -> Option<f64> {
    let rest = text.split(key).nth(1)?;
    rest.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .next()?
        .parse()
        .ok()
}

async fn network_run(cloud: &Cloud, image: &str, instances: &Path) -> (NetRun, String) {
    let body = json!({"server": {"name": "bench", "imageRef": image, "flavorRef": "1"}});
    let t0 = Instant::now();
    let (s, b) = cloud
        .call(reqwest::Method::POST, "/v2.1/servers", Some(body))
        .await;
    assert_eq!(s, 202, "{b}");
    let id = b["server"]["id"].as_str().unwrap().to_string();
    let log = instances.join(&id).join("console.log");
    let pid_file = Path::new("/run/libvirt/qemu").join(format!("instance-{id}.pid"));
    while !pid_file.exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "QEMU never started"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let spawned = t0.elapsed();
    let lease = seen(&log, "stage=net ip=", t0).await;
    let text = read_log(&log);
    let line = text.split("stage=net ip=").nth(1).unwrap_or_default();
    assert!(!line.starts_with("none"), "the guest got no lease:\n{text}");
    let lease_uptime_s = number_after(line, "uptime=").unwrap_or(f64::NAN);
    // Wait for the shell on ttyS0 (the init's last line), then ask.
    seen(&log, "stage=ready", t0).await;
    let (typed, _tty) = type_line(
        &format!("instance-{id}"),
        "a=$(cut -d' ' -f1 /proc/uptime); i=$(wget -q -O - http://169.254.169.254/latest/meta-data/instance-id); b=$(cut -d' ' -f1 /proc/uptime); echo MD-ANSWER $i $a $b",
    )
    .await;
    let answered = seen(&log, "MD-ANSWER i-", typed).await;
    let text = read_log(&log);
    let answer = text.split("MD-ANSWER ").last().unwrap_or_default();
    let mut words = answer.split_whitespace().skip(1);
    let (a, b): (f64, f64) = (
        words
            .next()
            .and_then(|w| w.parse().ok())
            .unwrap_or(f64::NAN),
        words
            .next()
            .and_then(|w| w.parse().ok())
            .unwrap_or(f64::NAN),
    );
    let run = NetRun {
        spawned,
        lease,
        lease_uptime_s,
        metadata_ms: (b - a) * 1e3,
        typed_to_seen: answered,
    };
    (run, id)
}

async fn network_runs(cloud: &Cloud, image: &str, instances: &Path, runs: usize) {
    // Warm-up: the image enters the cache and the metadata dialect is instantiated.
    let (_, id) = network_run(cloud, image, instances).await;
    cloud.delete(&id).await;
    let mut all = Vec::new();
    for _ in 0..runs {
        let (run, id) = network_run(cloud, image, instances).await;
        cloud.delete(&id).await;
        all.push(run);
    }
    let spawned = median(all.iter().map(|r| ms(r.spawned)).collect());
    let lease = median(all.iter().map(|r| ms(r.lease)).collect());
    let uptime = median(all.iter().map(|r| r.lease_uptime_s * 1e3).collect());
    let md = median(all.iter().map(|r| r.metadata_ms).collect());
    let seen = median(all.iter().map(|r| ms(r.typed_to_seen)).collect());
    println!("guest on a flat-DHCP network, {runs} runs (medians):");
    println!("  API POST -> QEMU spawned {spawned:.0} ms -> DHCP lease on the console {lease:.0} ms (guest uptime then {uptime:.0} ms)");
    println!("  first metadata request, timed in the guest: {md:.0} ms (typed -> answer on the console {seen:.0} ms)");
    println!(
        "  POST -> lease + first metadata answer: {:.0} ms",
        lease + md
    );
    for (i, r) in all.iter().enumerate() {
        println!(
            "  run {i}: spawned {:.0} ms, lease {:.0} ms (uptime {:.2} s), metadata {:.0} ms, typed->seen {:.0} ms",
            ms(r.spawned),
            ms(r.lease),
            r.lease_uptime_s,
            r.metadata_ms,
            ms(r.typed_to_seen)
        );
    }
}
