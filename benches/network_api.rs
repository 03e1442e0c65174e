//! The Network API (issue 15) with 1,000 ports: `POST /v2.0/ports` (latency, then requests
//! per second with 8 clients while the 1,000 are made), then `GET /v2.0/ports?device_id=…`
//! and `GET /v2.0/networks` with them in place, and `PUT /v2.0/floatingips/{id}` moving one
//! floating address between servers' ports. `metacloud all` in this process on the
//! embedded defaults (SQLite, in-process bus, `test:///default`), over loopback HTTP.
//!
//! `scripts/build-plugins.sh && cargo bench -p metacloud-benches --bench network_api`

use metacloud::Role;
use metacloud_config::Config;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Ports in place for the read measures.
const PORTS: usize = 1_000;
/// Servers booted on the network (their ports count among the 1,000).
const SERVERS: usize = 10;
/// Requests a sequential measure makes.
const ROUNDS: usize = 200;
/// Clients of a concurrent measure, and how long it runs.
const CLIENTS: usize = 8;
const WINDOW: Duration = Duration::from_secs(5);

fn config() -> Config {
    let mut c = metacloud_benches::embedded_config("net");
    c.compute.override_memory_mb = Some(262_144);
    c.compute.override_vcpus = Some(256);
    c.api.network_dialects = vec!["openstack-network".into()];
    c
}

#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("x-auth-token", &self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.expect("request");
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    /// Calls and insists on `want`; returns the body.
    async fn must(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        want: u16,
    ) -> Value {
        let (s, b) = self.call(method, path, body).await;
        assert_eq!(s, want, "{path}: {b}");
        b
    }
}

async fn token(http: &reqwest::Client, keystone: &str, user: &str, pw: &str) -> String {
    let r = http
        .post(format!("{keystone}/auth/tokens"))
        .json(
            &json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"id": "default"}, "password": pw}}},
            "scope": {"project": {"name": user, "domain": {"id": "default"}}}}}),
        )
        .send()
        .await
        .unwrap();
    r.headers()["x-subject-token"].to_str().unwrap().to_string()
}

fn stats(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    (ms(v[v.len() / 2]), ms(v[v.len() * 99 / 100]))
}

/// `ROUNDS` sequential calls of `f`: median and p99 in ms.
async fn latency<F, Fut>(mut f: F) -> (f64, f64)
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut times = Vec::with_capacity(ROUNDS);
    for i in 0..ROUNDS {
        let t = Instant::now();
        f(i).await;
        times.push(t.elapsed());
    }
    stats(times)
}

/// `CLIENTS` clients calling `GET path` for `WINDOW`: requests per second.
async fn throughput(c: &Client, path: &str) -> f64 {
    let done = Arc::new(AtomicUsize::new(0));
    let until = Instant::now() + WINDOW;
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let (c, done, path) = (c.clone(), done.clone(), path.to_string());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < until {
                c.must(reqwest::Method::GET, &path, None, 200).await;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / WINDOW.as_secs_f64()
}

fn row(what: &str, (p50, p99): (f64, f64)) {
    println!("{what}: median {p50:.2} ms, p99 {p99:.2} ms ({ROUNDS} requests)");
}

#[tokio::main]
async fn main() {
    let config = config();
    let running = metacloud::start(&config, &Role::ALL).await.expect("start");
    let http = reqwest::Client::new();
    let keystone = format!("http://{}/v3", running.identity_addr.unwrap());
    let net_base = format!("http://{}", running.network_addr.expect("the Network API"));
    let nova = format!("http://{}", running.compute_addr.expect("the compute API"));
    let admin = Client {
        http: http.clone(),
        base: net_base.clone(),
        token: token(&http, &keystone, "admin", "admin-pw").await,
    };
    let demo = Client {
        token: token(&http, &keystone, "demo", "demo-pw").await,
        ..admin.clone()
    };
    let demo_nova = Client {
        base: nova,
        ..demo.clone()
    };
    use reqwest::Method as M;
    let net = demo
        .must(
            M::POST,
            "/v2.0/networks",
            Some(json!({"network": {"name": "bench"}})),
            201,
        )
        .await["network"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    demo.must(
        M::POST,
        "/v2.0/subnets",
        Some(json!({"subnet": {"network_id": net, "cidr": "10.80.0.0/21", "ip_version": 4}})),
        201,
    )
    .await;
    let ext = admin
        .must(
            M::POST,
            "/v2.0/networks",
            Some(json!({"network": {"name": "bench-ext", "router:external": true}})),
            201,
        )
        .await["network"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    admin
        .must(
            M::POST,
            "/v2.0/subnets",
            Some(
                json!({"subnet": {"network_id": ext, "cidr": "198.51.100.0/24",
                "ip_version": 4, "enable_dhcp": false}}),
            ),
            201,
        )
        .await;

    // Servers first: their ports are the ones `device_id` finds and floating addresses
    // move between.
    demo_nova
        .must(
            M::POST,
            "/v2.1/servers",
            Some(
                json!({"server": {"name": "nb", "flavorRef": "42", "min_count": SERVERS,
                "max_count": SERVERS, "networks": [{"uuid": net}]}}),
            ),
            202,
        )
        .await;
    let servers: Vec<String> = loop {
        let b = demo_nova
            .must(M::GET, "/v2.1/servers/detail", None, 200)
            .await;
        let all = b["servers"].as_array().cloned().unwrap_or_default();
        if all.len() == SERVERS && all.iter().all(|s| s["status"] == "ACTIVE") {
            break all
                .iter()
                .map(|s| s["id"].as_str().unwrap().to_string())
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    // Port create: ROUNDS one after the other, then the rest by CLIENTS clients at once.
    let create = |c: Client, net: String, i: usize| async move {
        c.must(
            M::POST,
            "/v2.0/ports",
            Some(json!({"port": {"network_id": net, "name": format!("p{i}")}})),
            201,
        )
        .await;
    };
    let made = SERVERS;
    row(
        "POST /v2.0/ports (one client)",
        latency(|i| create(demo.clone(), net.clone(), i)).await,
    );
    let next = Arc::new(AtomicUsize::new(made + ROUNDS));
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let (c, net, next) = (demo.clone(), net.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= PORTS {
                    return;
                }
                create(c.clone(), net.clone(), i).await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let n = PORTS - made - ROUNDS;
    println!(
        "POST /v2.0/ports ({CLIENTS} clients): {:.0} requests/s ({n} ports)",
        n as f64 / t.elapsed().as_secs_f64()
    );
    let all = demo.must(M::GET, "/v2.0/ports", None, 200).await;
    let count = all["ports"].as_array().map_or(0, Vec::len);
    assert_eq!(count, PORTS, "the ports in place");

    // Reads with the 1,000 ports in place.
    let by_device = format!("/v2.0/ports?device_id={}", servers[0]);
    let b = demo.must(M::GET, &by_device, None, 200).await;
    assert_eq!(b["ports"].as_array().map_or(0, Vec::len), 1, "{b}");
    row(
        "GET /v2.0/ports?device_id= (one client)",
        latency(|_| {
            let (c, p) = (demo.clone(), by_device.clone());
            async move {
                c.must(M::GET, &p, None, 200).await;
            }
        })
        .await,
    );
    println!(
        "GET /v2.0/ports?device_id= ({CLIENTS} clients): {:.0} requests/s",
        throughput(&demo, &by_device).await
    );
    row(
        "GET /v2.0/networks (one client)",
        latency(|_| {
            let c = demo.clone();
            async move {
                c.must(M::GET, "/v2.0/networks", None, 200).await;
            }
        })
        .await,
    );
    println!(
        "GET /v2.0/networks ({CLIENTS} clients): {:.0} requests/s",
        throughput(&demo, "/v2.0/networks").await
    );

    // A floating address moved from server port to server port.
    let ports: Vec<String> = {
        let mut out = Vec::new();
        for s in &servers {
            let b = demo
                .must(M::GET, &format!("/v2.0/ports?device_id={s}"), None, 200)
                .await;
            out.push(b["ports"][0]["id"].as_str().unwrap().to_string());
        }
        out
    };
    let fip = demo
        .must(
            M::POST,
            "/v2.0/floatingips",
            Some(json!({"floatingip": {"floating_network_id": ext}})),
            201,
        )
        .await["floatingip"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    row(
        "PUT /v2.0/floatingips/{id} port_id (one client)",
        latency(|i| {
            let (c, path) = (demo.clone(), format!("/v2.0/floatingips/{fip}"));
            let port = ports[i % ports.len()].clone();
            async move {
                c.must(
                    M::PUT,
                    &path,
                    Some(json!({"floatingip": {"port_id": port}})),
                    200,
                )
                .await;
            }
        })
        .await,
    );
    running.stop();
}
