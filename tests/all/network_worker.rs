//! The network worker on real namespaces, bridges, nftables and dnsmasq, with the real
//! driver plugins. "Guests" are network namespaces this test makes, each behind a veth
//! whose host end is named as libvirt would name the port's tap; busybox's udhcpc asks
//! for the address. Nothing crosses a physical interface: every namespace, bridge and veth
//! here is made by the test or by the worker, and removed at the end.

use metacloud_db::instances::NewInstances;
use metacloud_db::networks::NewNetwork;
use metacloud_db::ports::Port;
use metacloud_db::quotas::DefaultLimits;
use metacloud_db::Db;
use metacloud_network::apply::{Applier, ProxyTemplate};
use metacloud_network::check::Policy;
use metacloud_network::service::load_driver;
use metacloud_network::worker::{NetworkWorker, ReconcileError, Settings};
use metacloud_plugins::{PluginLimits, Runtime};
use metacloud_tests::scratch_dir;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

fn dist(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../plugins/dist")
        .join(file)
}

/// Runs a scaffolding command of the test (never the product's own work).
fn sh(args: &[&str]) -> std::process::Output {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    out
}

fn ok(args: &[&str]) -> String {
    let out = sh(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// A guest: a namespace with `eth0` carrying the port's MAC, its other end in the host
/// namespace named as the port's tap.
struct Guest {
    ns: String,
}

impl Guest {
    fn new(port: &Port) -> Guest {
        let ns = format!("mct-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        ok(&["ip", "netns", "add", &ns]);
        let peer = format!("g{}", &ns[4..]);
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
        ok(&["ip", "link", "set", &peer, "netns", &ns]);
        ok(&["ip", "-n", &ns, "link", "set", &peer, "name", "eth0"]);
        ok(&["ip", "-n", &ns, "link", "set", "eth0", "address", &port.mac]);
        ok(&["ip", "-n", &ns, "link", "set", "eth0", "up"]);
        ok(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
        Guest { ns }
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        let mut full = vec!["ip", "netns", "exec", &self.ns];
        full.extend_from_slice(args);
        sh(&full)
    }

    /// Asks for an address by DHCP (bounded: 5 tries, 1 s apart) and returns it.
    fn dhcp(&self) -> Option<String> {
        let out = self.run(&[
            "busybox",
            "udhcpc",
            "-i",
            "eth0",
            "-n",
            "-q",
            "-f",
            "-t",
            "5",
            "-T",
            "1",
            "-s",
            "/bin/true",
        ]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // "udhcpc: lease of 10.77.0.2 obtained from 10.77.0.1, lease time 86400"
        let lease = text
            .split("lease of ")
            .nth(1)?
            .split_whitespace()
            .next()?
            .to_string();
        // "… obtained from 10.77.0.1": the server is the network's gateway.
        let server = text
            .split("obtained from ")
            .nth(1)?
            .split([',', ' '])
            .next()?
            .to_string();
        self.run(&["ip", "addr", "add", &format!("{lease}/24"), "dev", "eth0"]);
        self.run(&["ip", "route", "add", "default", "via", &server]);
        Some(lease)
    }

    fn ping(&self, address: &str) -> bool {
        self.run(&["busybox", "ping", "-c", "1", "-W", "2", address])
            .status
            .success()
    }

    /// Fetches `url` with curl (bounded: 3 s), off the runtime's threads so the
    /// worker's proxy in this process keeps serving.
    async fn get(&self, url: &str) -> Option<String> {
        let (ns, url) = (self.ns.clone(), url.to_string());
        tokio::task::spawn_blocking(move || fetch(&ns, &url))
            .await
            .unwrap()
    }
}

pub(crate) fn fetch(ns: &str, url: &str) -> Option<String> {
    {
        let out = sh(&["ip", "netns", "exec", ns, "curl", "-sf", "-m", "3", url]);
        if !out.status.success() {
            eprintln!(
                "curl {url} from {ns}: {:?} {} {}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).to_string())
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        let pids = sh(&["ip", "netns", "pids", &self.ns]);
        for pid in String::from_utf8_lossy(&pids.stdout).split_whitespace() {
            let _ = sh(&["kill", pid]);
        }
        let _ = sh(&["ip", "netns", "del", &self.ns]);
    }
}

/// A metadata service stand-in: answers with the instance id the proxy named, after
/// checking its signature.
async fn metadata_upstream(secret: &'static str) -> SocketAddr {
    use axum::http::HeaderMap;
    let app = axum::Router::new().fallback(move |headers: HeaderMap| async move {
        let id = headers
            .get("x-instance-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let sig = headers
            .get("x-instance-id-signature")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if sig == metacloud_network::proxy::sign(secret, id) {
            format!("METACLOUD-GUEST-IID {id}\n")
        } else {
            "bad signature\n".to_string()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

struct Cloud {
    db: Db,
    dir: PathBuf,
    runtime: Runtime,
}

impl Cloud {
    async fn new() -> Cloud {
        for tool in ["nft", "dnsmasq", "busybox"] {
            assert!(
                sh(&["sh", "-c", &format!("command -v {tool}")])
                    .status
                    .success(),
                "{tool} is missing: scripts/setup.sh installs it"
            );
        }
        let dir = scratch_dir("netw");
        let url = format!("sqlite://{}/db.sqlite", dir.display());
        Cloud::on(dir, &url).await
    }

    /// The same on a scratch PostgreSQL database (the scale column).
    async fn on_postgres() -> (Cloud, String) {
        let url = metacloud_db::scratch::create_postgres_database()
            .await
            .expect("scratch PostgreSQL database");
        (Cloud::on(scratch_dir("netw"), &url).await, url)
    }

    async fn on(dir: PathBuf, url: &str) -> Cloud {
        let db = Db::connect(url, 5, Duration::from_secs(5)).await.unwrap();
        db.migrate().await.unwrap();
        let runtime = Runtime::new(PluginLimits::default(), None).unwrap();
        Cloud { db, dir, runtime }
    }

    async fn network(&self, name: &str, cidr: &str, project: &str) -> String {
        self.segmented(name, cidr, project, None).await
    }

    async fn segmented(
        &self,
        name: &str,
        cidr: &str,
        project: &str,
        segment: Option<i64>,
    ) -> String {
        let n = self
            .db
            .create_network(&NewNetwork {
                name: name.into(),
                project_id: Some(project.into()),
                cidr: cidr.into(),
                dhcp: true,
                segment,
                driver: if segment.is_some() {
                    "vlan"
                } else {
                    "flat-dhcp"
                }
                .into(),
                ..NewNetwork::default()
            })
            .await
            .unwrap();
        n.id
    }

    /// An instance with a port on `network`, placed on host `h1`.
    async fn port(&self, network: &str, project: &str, name: &str) -> Port {
        self.port_on(network, project, name, "h1").await
    }

    /// An instance with a port on `network`, placed on `host`.
    async fn port_on(&self, network: &str, project: &str, name: &str, host: &str) -> Port {
        let flavor = self.db.get_flavor("m1.tiny").await.unwrap();
        let i = self
            .db
            .create_instances(
                &NewInstances::plain(name, 1, project, "u", flavor),
                &DefaultLimits::default(),
            )
            .await
            .unwrap()
            .remove(0);
        self.db
            .allocate_port(&i.uuid, project, network, None)
            .await
            .unwrap();
        self.db.ensure_default_group(project).await.unwrap();
        let g = self
            .db
            .security_group_by_name(project, "default")
            .await
            .unwrap()
            .unwrap();
        self.db
            .add_instance_to_group(&i.uuid, project, &g.id)
            .await
            .unwrap();
        self.db
            .set_port_host(&i.uuid, Some(host))
            .await
            .unwrap()
            .remove(0)
    }

    async fn worker(&self, driver: &str, upstream: Option<SocketAddr>) -> Arc<NetworkWorker> {
        self.worker_allowing(driver, upstream, &[]).await
    }

    async fn worker_allowing(
        &self,
        driver: &str,
        upstream: Option<SocketAddr>,
        allowed: &[&str],
    ) -> Arc<NetworkWorker> {
        let (dir, name) = match driver.split_once('/') {
            Some((d, n)) => (dist(d), n.to_string()),
            None => (dist("network"), driver.to_string()),
        };
        let plugin = load_driver(&self.runtime, &dir, &name, Default::default()).unwrap();
        let applier = Applier::new(
            "mcn-",
            self.dir.join("network"),
            8775,
            upstream.map(|u| ProxyTemplate {
                db: self.db.clone(),
                upstream: u,
                secret: "s3cret".into(),
            }),
        );
        NetworkWorker::new(
            Settings {
                host: "h1".into(),
                multi_host: true,
                underlay_interface: None,
                underlay_address: None,
                peers: vec![],
                reconcile_interval: Duration::from_secs(60),
            },
            self.db.clone(),
            self.runtime.clone(),
            Arc::new(plugin),
            Policy {
                allowed_interfaces: allowed.iter().map(|s| s.to_string()).collect(),
                ..Policy::default()
            },
            applier,
        )
    }
}

impl Drop for Cloud {
    /// Whatever a failed test left: the worker's namespaces and DHCP servers.
    fn drop(&mut self) {
        metacloud_tests::remove_network_state(&self.dir.join("network"));
    }
}

pub(crate) fn namespace_of(network: &str) -> String {
    format!("mcn-{}", &network.replace('-', "")[..8])
}

fn count_rules(ns: &str) -> usize {
    ok(&["ip", "netns", "exec", ns, "nft", "list", "ruleset"])
        .lines()
        .filter(|l| {
            l.contains("accept")
                || l.contains("drop")
                || l.contains("jump")
                || l.contains("dnat")
                || l.contains("return")
        })
        .count()
}

fn dnsmasq_count(dir: &Path) -> usize {
    let needle = dir.display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            std::fs::read(e.path().join("cmdline"))
                .map(|c| {
                    String::from_utf8_lossy(&c).contains(&needle)
                        && String::from_utf8_lossy(&c).starts_with("dnsmasq")
                })
                .unwrap_or(false)
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flat_dhcp_guests_lease_reach_each_other_and_their_metadata_and_a_restart_duplicates_nothing(
) {
    let cloud = Cloud::new().await;
    let net = cloud.network("private", "10.77.0.0/24", "p1").await;
    let (a, b) = (
        cloud.port(&net, "p1", "vm-a").await,
        cloud.port(&net, "p1", "vm-b").await,
    );
    let (ga, gb) = (Guest::new(&a), Guest::new(&b));
    let upstream = metadata_upstream("s3cret").await;
    let worker = cloud.worker("flat-dhcp", Some(upstream)).await;
    let report = worker.reconcile().await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.attached.len(), 2, "{report:?}");
    let ns = namespace_of(&net);
    assert_eq!(report.namespaces, vec![ns.clone()]);
    // The host's namespace got no address on the guest network, and the taps left it.
    let host_addrs = ok(&["ip", "-4", "addr"]);
    assert!(!host_addrs.contains("10.77.0."), "{host_addrs}");
    assert!(sh(&["ip", "link", "show", &a.device]).status.code() != Some(0));

    assert_eq!(
        ga.dhcp().as_deref(),
        Some(a.address.as_str()),
        "guest a's lease"
    );
    assert_eq!(
        gb.dhcp().as_deref(),
        Some(b.address.as_str()),
        "guest b's lease"
    );
    assert!(ga.ping(&b.address), "a reaches b (same default group)");
    let iid = ga
        .get("http://169.254.169.254/latest/meta-data/instance-id")
        .await;
    assert_eq!(
        iid.as_deref(),
        Some(
            format!(
                "METACLOUD-GUEST-IID {}\n",
                a.instance_id.as_deref().unwrap()
            )
            .as_str()
        )
    );
    let iid = gb.get("http://169.254.169.254/").await;
    assert_eq!(
        iid.as_deref(),
        Some(
            format!(
                "METACLOUD-GUEST-IID {}\n",
                b.instance_id.as_deref().unwrap()
            )
            .as_str()
        )
    );

    // A guest that spoofs b's address gets nothing through.
    ga.run(&["ip", "addr", "flush", "dev", "eth0"]);
    ga.run(&[
        "ip",
        "addr",
        "add",
        &format!("{}/24", b.address),
        "dev",
        "eth0",
    ]);
    assert!(
        !ga.ping("10.77.0.1"),
        "a spoofing b's address reached the gateway"
    );

    // A restarted worker (a new applier over the same state) reconciles to the same state.
    let rules = count_rules(&ns);
    let state = cloud.dir.join("network");
    assert_eq!(dnsmasq_count(&state), 1);
    drop(worker);
    let again = cloud.worker("flat-dhcp", Some(upstream)).await;
    let report = again.reconcile().await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let report = again.reconcile().await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(count_rules(&ns), rules, "rules after a restart");
    assert_eq!(dnsmasq_count(&state), 1, "DHCP servers after a restart");

    // Deleting the ports removes what they owned: their DHCP entries, and (multi-host:
    // no port of the network is left on this host) the network's namespace and server.
    cloud
        .db
        .release_ports_of_instance(a.instance_id.as_deref().unwrap())
        .await
        .unwrap();
    let report = again.reconcile().await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let hosts = std::fs::read_to_string(state.join("dhcp").join(&net).join("hosts")).unwrap();
    assert!(!hosts.contains(&a.mac) && hosts.contains(&b.mac), "{hosts}");
    cloud
        .db
        .release_ports_of_instance(b.instance_id.as_deref().unwrap())
        .await
        .unwrap();
    let report = again.reconcile().await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.removed, vec![ns.clone()]);
    assert!(!Path::new("/run/netns").join(&ns).exists());
    assert_eq!(dnsmasq_count(&state), 0);
    assert!(!state.join("dhcp").join(&net).exists());
    assert_eq!(cloud.db.free_address_count(&net).await.unwrap(), 253);
    cloud.db.delete_network(&net).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_driver_plans_are_refused_whole_and_nothing_is_applied() {
    let cloud = Cloud::new().await;
    let net = cloud.network("private", "10.78.0.0/24", "p1").await;
    let a = cloud.port(&net, "p1", "vm-a").await;
    let _g = Guest::new(&a);
    for (driver, reason) in [
        (
            "hostile/hostile-net-uplink",
            "eth0 is not in network.allowed_interfaces",
        ),
        ("hostile/hostile-net-address", "is not inside 10.78.0.0/24"),
        ("hostile/hostile-net-rule", "is not in the desired state"),
    ] {
        let worker = cloud.worker(driver, None).await;
        match worker.reconcile().await {
            Err(ReconcileError::Refused { refusal, .. }) => {
                let all = refusal.reasons.join("; ");
                assert!(all.contains(reason), "{driver}: {all}");
            }
            other => panic!("{driver}: not refused: {other:?}"),
        }
        assert!(
            !Path::new("/run/netns").join(namespace_of(&net)).exists(),
            "{driver}: namespace made"
        );
        assert!(
            sh(&["ip", "link", "show", &a.device]).status.success(),
            "{driver}: tap moved"
        );
    }
    let _ = sh(&["ip", "link", "del", &a.device]);
}

/// An "outside" network of the test: a bridge in the host's namespace (the floating pool's
/// interface, as an operator would name it) and a namespace on it at `address`.
pub(crate) struct Outside {
    pub(crate) bridge: String,
    pub(crate) ns: String,
}

impl Outside {
    pub(crate) fn new(address: &str) -> Outside {
        let tag = &uuid::Uuid::new_v4().simple().to_string()[..6];
        let (bridge, ns, veth) = (
            format!("mctp-{tag}"),
            format!("mcto-{tag}"),
            format!("mcto-{tag}"),
        );
        ok(&["ip", "link", "add", &bridge, "type", "bridge"]);
        ok(&["ip", "link", "set", &bridge, "up"]);
        ok(&["ip", "netns", "add", &ns]);
        ok(&[
            "ip",
            "link",
            "add",
            &veth,
            "type",
            "veth",
            "peer",
            "name",
            &format!("{veth}i"),
        ]);
        ok(&["ip", "link", "set", &veth, "master", &bridge, "up"]);
        ok(&["ip", "link", "set", &format!("{veth}i"), "netns", &ns]);
        ok(&[
            "ip",
            "-n",
            &ns,
            "link",
            "set",
            &format!("{veth}i"),
            "name",
            "eth0",
        ]);
        ok(&["ip", "-n", &ns, "addr", "add", address, "dev", "eth0"]);
        ok(&["ip", "-n", &ns, "link", "set", "eth0", "up"]);
        Outside { bridge, ns }
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = sh(&["ip", "netns", "del", &self.ns]);
        let _ = sh(&["ip", "link", "del", &self.bridge]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vlan_projects_are_isolated_floating_addresses_answer_and_rules_reach_running_guests() {
    let cloud = Cloud::new().await;
    let net1 = cloud
        .segmented("p1-net", "10.80.0.0/24", "p1", Some(801))
        .await;
    let net2 = cloud
        .segmented("p2-net", "10.81.0.0/24", "p2", Some(802))
        .await;
    let a1 = cloud.port(&net1, "p1", "a1").await;
    let a2 = cloud.port(&net1, "p1", "a2").await;
    let b1 = cloud.port(&net2, "p2", "b1").await;
    let (ga1, ga2, gb1) = (Guest::new(&a1), Guest::new(&a2), Guest::new(&b1));
    let outside = Outside::new("172.30.0.250/24");
    cloud
        .db
        .create_floating_range("public", "172.30.0.0/24", &outside.bridge, None)
        .await
        .unwrap();
    let worker = cloud
        .worker_allowing("vlan", None, &[&outside.bridge])
        .await;
    let report = worker.reconcile().await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(
        report.namespaces.len(),
        2,
        "a namespace per project network"
    );
    for (g, p) in [(&ga1, &a1), (&ga2, &a2), (&gb1, &b1)] {
        assert_eq!(g.dhcp().as_deref(), Some(p.address.as_str()));
    }
    assert!(
        ga1.ping(&a2.address),
        "guests of one project reach each other"
    );
    assert!(!ga1.ping(&b1.address), "p1's guest reached p2's network");
    assert!(!gb1.ping(&a1.address), "p2's guest reached p1's network");

    // a1 serves HTTP; its floating address is reachable from outside once a rule allows it.
    let www = cloud.dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("index.html"), "METACLOUD-GUEST-HTTP\n").unwrap();
    ok(&[
        "ip",
        "netns",
        "exec",
        &ga1.ns,
        "busybox",
        "httpd",
        "-p",
        "80",
        "-h",
        www.to_str().unwrap(),
    ]);
    let fip = cloud
        .db
        .allocate_floating("p1", "public", 10)
        .await
        .unwrap()
        .address;
    cloud
        .db
        .associate_floating(&fip, "p1", &a1.id)
        .await
        .unwrap();
    let report = worker.reconcile().await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let url = format!("http://{fip}/");
    assert_eq!(
        fetch(&outside.ns, &url),
        None,
        "the default group let outside traffic in"
    );

    // The rule change reaches the running guest through the worker's own loop.
    let looping = worker.spawn();
    let group = cloud
        .db
        .security_group_by_name("p1", "default")
        .await
        .unwrap()
        .unwrap();
    let asked = std::time::Instant::now();
    let rule = metacloud_db::secgroups::NewRule {
        direction: "ingress".into(),
        protocol: Some("tcp".into()),
        port_min: Some(80),
        port_max: Some(80),
        remote_cidr: Some("0.0.0.0/0".into()),
        ..Default::default()
    };
    cloud
        .db
        .add_security_group_rule("p1", &group.id, &rule, 20)
        .await
        .unwrap();
    let ns = outside.ns.clone();
    let page = metacloud_tests::wait_for(
        "the floating address to answer",
        Duration::from_secs(5),
        || {
            let (ns, url) = (ns.clone(), url.clone());
            async move {
                tokio::task::spawn_blocking(move || fetch(&ns, &url))
                    .await
                    .unwrap()
            }
        },
    )
    .await;
    assert_eq!(page, "METACLOUD-GUEST-HTTP\n");
    eprintln!("rule took effect in {:?}", asked.elapsed());

    // Disassociated: the address answers no more.
    cloud.db.disassociate_floating(&fip, "p1").await.unwrap();
    let ns = outside.ns.clone();
    metacloud_tests::wait_for("the floating address to go", Duration::from_secs(5), || {
        let (ns, url) = (ns.clone(), url.clone());
        async move {
            let gone = tokio::task::spawn_blocking(move || fetch(&ns, &url))
                .await
                .unwrap()
                .is_none();
            gone.then_some(())
        }
    })
    .await;
    // The loop ends with its worker: nothing is re-made after a stopped service's clean-up.
    drop(worker);
    tokio::time::timeout(Duration::from_secs(5), looping)
        .await
        .expect("the reconciliation loop ends once its worker is dropped")
        .unwrap();
}

/// What a worker recorded as attached, once it has applied at least once.
fn attached(state: &Path) -> Option<usize> {
    let text = std::fs::read_to_string(state.join("applied.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some(v["attached"].as_array()?.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_worker_killed_mid_way_and_restarted_duplicates_no_rule_or_server() {
    let cloud = Cloud::new().await;
    let net = cloud.network("private", "10.79.0.0/24", "p1").await;
    let mut guests = Vec::new();
    for name in ["k1", "k2", "k3"] {
        let p = cloud.port(&net, "p1", name).await;
        guests.push(Guest::new(&p));
    }
    let state = cloud.dir.join("network");
    let config = cloud.dir.join("network.toml");
    std::fs::write(
        &config,
        format!(
            "[service]\nhost = \"h1\"\ndata_dir = \"{d}\"\n\
             [database]\nurl = \"sqlite://{d}/db.sqlite\"\n\
             [plugins]\ncache_dir = \"{d}/plugin-cache\"\n\
             [network]\ndriver = \"flat-dhcp\"\nmulti_host = true\n\
             plugin_dir = \"{p}\"\nstate_dir = \"{s}\"\n",
            d = cloud.dir.display(),
            p = dist("network").display(),
            s = state.display(),
        ),
    )
    .unwrap();
    // Killed as soon as it says it starts: mid-way through its first apply, or before.
    let mut first = metacloud_tests::Proc::start("network-1", &config, &["network"], &[]);
    metacloud_tests::wait_for("the worker to start", Duration::from_secs(60), || async {
        first.logged("network worker starting").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    first.kill();
    // Restarted: it reconciles whatever the first left.
    let mut second = metacloud_tests::Proc::start("network-2", &config, &["network"], &[]);
    let st = state.clone();
    metacloud_tests::wait_for("three ports attached", Duration::from_secs(60), || {
        let st = st.clone();
        async move { (attached(&st) == Some(3)).then_some(()) }
    })
    .await;
    let ns = namespace_of(&net);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (rules, servers) = (count_rules(&ns), dnsmasq_count(&state));
    assert_eq!(servers, 1, "DHCP servers after kill and restart");
    // A clean restart of the same state: the same rules, the same one server.
    second.kill();
    let _third = metacloud_tests::Proc::start("network-3", &config, &["network"], &[]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(attached(&state), Some(3));
    assert_eq!(count_rules(&ns), rules, "rules after a second restart");
    assert_eq!(
        dnsmasq_count(&state),
        1,
        "DHCP servers after a second restart"
    );
    // The guests still lease their addresses.
    assert!(guests[0].dhcp().is_some(), "no lease after the restarts");
}

/// One "host" of the two-host test: a network namespace the test made (the worker's own
/// root namespace as far as it knows) with a leg on the test's underlay, and a mount
/// namespace of its own (kept in a file, so it outlives a worker) whose `/run/netns` is
/// private, as on a second machine: both hosts name their network's namespace `mcn-<tag>`
/// without meeting, and a restarted worker finds what the last one made.
struct Host {
    ns: String,
    mounts: PathBuf,
    state: PathBuf,
    config: PathBuf,
    worker: Option<metacloud_tests::Proc>,
}

impl Host {
    fn new(cloud: &Cloud, name: &str, underlay: &str, peers: &[&str], db: &str) -> Host {
        let tag = &uuid::Uuid::new_v4().simple().to_string()[..6];
        let ns = format!("mch-{tag}{name}");
        ok(&["ip", "netns", "add", &ns]);
        let dir = cloud.dir.join(name);
        let state = dir.join("network");
        let config = dir.join("network.toml");
        let holder = dir.join("mnt");
        std::fs::create_dir_all(&holder).unwrap();
        let mounts = holder.join("ns");
        std::fs::write(&mounts, "").unwrap();
        let holder = holder.to_str().unwrap();
        ok(&["mount", "--bind", holder, holder]);
        ok(&["mount", "--make-private", holder]);
        ok(&[
            "unshare",
            &format!("--mount={}", mounts.display()),
            "--propagation",
            "private",
            "mount",
            "-t",
            "tmpfs",
            "mcnetns",
            "/run/netns",
        ]);
        let peers: Vec<String> = peers.iter().map(|p| format!("\"{p}\"")).collect();
        std::fs::write(
            &config,
            format!(
                "[service]\nhost = \"{name}\"\ndata_dir = \"{d}\"\n\
                 [database]\nurl = \"{db}\"\n\
                 [plugins]\ncache_dir = \"{d}/plugin-cache\"\n\
                 [network]\ndriver = \"vlan\"\nmulti_host = true\n\
                 plugin_dir = \"{p}\"\nstate_dir = \"{s}\"\n\
                 allowed_interfaces = [\"{underlay}\"]\nunderlay_interface = \"{underlay}\"\n\
                 underlay_address = \"{local}\"\npeers = [{peers}]\n",
                d = dir.display(),
                p = dist("network").display(),
                s = state.display(),
                local = "UNDERLAY",
                peers = peers.join(", "),
            ),
        )
        .unwrap();
        Host {
            ns,
            mounts,
            state,
            config,
            worker: None,
        }
    }

    /// Puts the underlay leg `dev` (made in the test's namespace) into the host with
    /// `address`, and names that address in the config.
    fn underlay(&self, dev: &str, address: &str) {
        ok(&["ip", "link", "set", dev, "netns", &self.ns]);
        ok(&[
            "ip",
            "-n",
            &self.ns,
            "addr",
            "add",
            &format!("{address}/24"),
            "dev",
            dev,
        ]);
        ok(&["ip", "-n", &self.ns, "link", "set", dev, "up"]);
        let text = std::fs::read_to_string(&self.config).unwrap();
        std::fs::write(&self.config, text.replace("UNDERLAY", address)).unwrap();
    }

    /// Moves a guest's tap (made in the test's namespace) onto this host.
    fn plug(&self, port: &Port) {
        ok(&["ip", "link", "set", &port.device, "netns", &self.ns]);
    }

    fn start(&mut self, label: &str) {
        self.worker = Some(metacloud_tests::Proc::start_in(
            label,
            &[
                "nsenter",
                &format!("--mount={}", self.mounts.display()),
                &format!("--net=/run/netns/{}", self.ns),
            ],
            &self.config,
            &["network"],
            &[],
        ));
    }

    /// Runs `args` in the worker's namespaces (its mount namespace sees its `/run/netns`),
    /// inside the network namespace `inner`.
    fn run_inside(&self, inner: &str, args: &[&str]) -> String {
        let pid = self
            .worker
            .as_ref()
            .expect("a running worker")
            .pid()
            .to_string();
        let mut full = vec![
            "nsenter", "-t", &pid, "-m", "-n", "ip", "netns", "exec", inner,
        ];
        full.extend_from_slice(args);
        ok(&full)
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(mut w) = self.worker.take() {
            w.kill();
        }
        metacloud_tests::remove_network_state(&self.state);
        let _ = sh(&["umount", self.mounts.to_str().unwrap()]);
        let _ = sh(&["umount", self.mounts.parent().unwrap().to_str().unwrap()]);
        let _ = sh(&["ip", "netns", "del", &self.ns]);
    }
}

/// The MAC a guest has for `address` in its neighbour table.
fn neighbour_mac(guest: &Guest, address: &str) -> Option<String> {
    let out = guest.run(&["ip", "neigh", "show", address]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let rest = text.split("lladdr ").nth(1)?;
    Some(rest.split_whitespace().next()?.to_ascii_lowercase())
}

/// The `vlan` driver between two hosts (each a namespace with its own `metacloud network`
/// process, on PostgreSQL): a project's network is one VXLAN segment flooded to every peer
/// (head-end replication: one fdb entry per peer, a third peer that does not exist
/// included); guests on the two hosts lease their addresses from their own host and reach
/// each other across the segment; each guest's gateway is its own host's (the namespace's
/// stack — gateway, DHCP, metadata — does not answer across the segment); a restart of one
/// worker keeps one fdb entry per peer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vlan_segments_join_two_hosts_with_a_local_gateway_on_each() {
    let (cloud, url) = Cloud::on_postgres().await;
    // The workers live in namespaces of their own, where 127.0.0.1 is not the test's:
    // they reach the same database through PostgreSQL's Unix socket.
    let socket = "/var/run/postgresql";
    assert!(
        Path::new(socket).join(".s.PGSQL.5432").exists(),
        "PostgreSQL's socket in {socket}"
    );
    let db_name = url.rsplit('/').next().unwrap();
    let worker_url = format!("postgres://postgres@localhost/{db_name}?host={socket}");
    let net = cloud
        .segmented("p1-net", "10.78.0.0/24", "p1", Some(778))
        .await;
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..6];
    let (ua, ub) = (format!("mcu{tag}a"), format!("mcu{tag}b"));
    let peers = ["10.200.78.1", "10.200.78.2", "10.200.78.3"];
    let mut a = Host::new(&cloud, "ha", &ua, &peers, &worker_url);
    let mut b = Host::new(&cloud, "hb", &ub, &peers, &worker_url);
    ok(&[
        "ip", "link", "add", &ua, "type", "veth", "peer", "name", &ub,
    ]);
    a.underlay(&ua, peers[0]);
    b.underlay(&ub, peers[1]);
    let pa = cloud.port_on(&net, "p1", "ga", "ha").await;
    let pb = cloud.port_on(&net, "p1", "gb", "hb").await;
    let (ga, gb) = (Guest::new(&pa), Guest::new(&pb));
    a.plug(&pa);
    b.plug(&pb);
    a.start("network-ha");
    b.start("network-hb");
    for h in [&a, &b] {
        let st = h.state.clone();
        metacloud_tests::wait_for("the host's port attached", Duration::from_secs(60), || {
            let st = st.clone();
            async move { (attached(&st) == Some(1)).then_some(()) }
        })
        .await;
    }

    let ns = namespace_of(&net);
    let tagged = &ns["mcn-".len()..];
    let (bridge, segment) = (format!("mcbr-{tagged}"), format!("mcvx-{tagged}"));
    let flood = |h: &Host| -> Vec<String> {
        let text = h.run_inside(&ns, &["bridge", "fdb", "show", "dev", &segment]);
        let mut dsts: Vec<String> = text
            .lines()
            .filter(|l| l.starts_with("00:00:00:00:00:00"))
            .filter_map(|l| {
                l.split("dst ")
                    .nth(1)?
                    .split_whitespace()
                    .next()
                    .map(String::from)
            })
            .collect();
        dsts.sort();
        dsts
    };
    assert_eq!(
        flood(&a),
        ["10.200.78.2", "10.200.78.3"],
        "host a floods to both peers"
    );
    assert_eq!(
        flood(&b),
        ["10.200.78.1", "10.200.78.3"],
        "host b floods to both peers"
    );

    assert_eq!(ga.dhcp().as_deref(), Some(pa.address.as_str()));
    assert_eq!(gb.dhcp().as_deref(), Some(pb.address.as_str()));
    assert!(
        ga.ping(&pb.address),
        "a guest on host a reached none on host b"
    );
    assert!(
        gb.ping(&pa.address),
        "a guest on host b reached none on host a"
    );

    // Each guest's gateway is its own host's bridge.
    let gateway = "10.78.0.1";
    for (g, h) in [(&ga, &a), (&gb, &b)] {
        assert!(g.ping(gateway));
        let own = h
            .run_inside(&ns, &["cat", &format!("/sys/class/net/{bridge}/address")])
            .trim()
            .to_ascii_lowercase();
        assert_eq!(
            neighbour_mac(g, gateway),
            Some(own),
            "the other host's gateway answered"
        );
    }

    // A restart of host a's worker: still one entry per peer, guests still connected.
    a.worker.take().unwrap().kill();
    a.start("network-ha-2");
    let st = a.state.clone();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(attached(&st), Some(1));
    assert_eq!(flood(&a), ["10.200.78.2", "10.200.78.3"], "after a restart");
    assert!(ga.ping(&pb.address), "after a restart");
    drop((ga, gb));
    drop((a, b));
    metacloud_db::scratch::drop_postgres_database(&url).await;
}

/// A network joined to a router whose gateway is on an external network reaches the outside
/// as the router's address (the router's SNAT), with no floating address anywhere; taken off
/// the router, it does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_routers_networks_reach_the_outside_as_its_gateway_address() {
    use metacloud_db::subnets::{BareNetwork, NewSubnet};
    let cloud = Cloud::new().await;
    let net = cloud.network("r-net", "10.84.0.0/24", "p1").await;
    let a = cloud.port(&net, "p1", "a").await;
    let g = Guest::new(&a);
    let outside = Outside::new("172.29.0.250/24");
    let ext = cloud
        .db
        .create_bare_network(&BareNetwork {
            name: "ext".into(),
            external: true,
            uplink: Some(outside.bridge.clone()),
            ..BareNetwork::default()
        })
        .await
        .unwrap();
    cloud
        .db
        .add_subnet(
            &ext.id,
            &NewSubnet {
                cidr: "172.29.0.0/24".into(),
                range_start: Some("172.29.0.10".into()),
                range_end: Some("172.29.0.20".into()),
                interface: outside.bridge.clone(),
                ..NewSubnet::default()
            },
        )
        .await
        .unwrap();
    let worker = cloud
        .worker_allowing("flat-dhcp", None, &[&outside.bridge])
        .await;
    let report = worker.reconcile().await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(g.dhcp().as_deref(), Some(a.address.as_str()));
    assert!(
        !g.ping("172.29.0.250"),
        "out without a router or a floating address"
    );

    let router = cloud.db.create_router("p1", "r", true).await.unwrap();
    let router = cloud
        .db
        .set_router_gateway(&router.id, Some(&ext.id))
        .await
        .unwrap();
    let gw = router.gateway_address.clone().unwrap();
    assert_eq!(gw, "172.29.0.10");
    let subnet = cloud.db.get_network(&net).await.unwrap().subnet_id.unwrap();
    cloud
        .db
        .add_router_interface(&router.id, &subnet)
        .await
        .unwrap();
    let report = worker.reconcile().await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let rules = ok(&[
        "ip",
        "netns",
        "exec",
        &namespace_of(&net),
        "nft",
        "list",
        "table",
        "inet",
        "metacloud",
    ]);
    assert!(
        rules.contains("ip saddr 10.84.0.0/24 oifname")
            && rules.contains(&format!("snat ip to {gw}")),
        "{rules}"
    );
    assert!(
        g.ping("172.29.0.250"),
        "the guest reaches the outside through its router"
    );
    // The outside saw the router's address: its neighbour table has it, not the guest's.
    let seen = ok(&["ip", "-n", &outside.ns, "neigh", "show"]);
    assert!(seen.contains(&gw), "{seen}");
    assert!(!seen.contains(&a.address), "{seen}");

    cloud
        .db
        .remove_router_interface(&router.id, Some(&subnet), None)
        .await
        .unwrap();
    let report = worker.reconcile().await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(!g.ping("172.29.0.250"), "off the router, no way out");
}
