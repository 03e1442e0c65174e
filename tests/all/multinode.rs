//! The split deployment of `examples/multi-node/` on PostgreSQL and RabbitMQ: api,
//! conductor, scheduler and three compute workers, each its own OS process.

use metacloud_tests::{free_port, run, scratch_dir, wait_for, Client, Proc};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/multi-node");

struct Deployment {
    dir: PathBuf,
    db_url: String,
    env: Vec<(&'static str, String)>,
    procs: BTreeMap<String, Proc>,
    client: Client,
}

impl Deployment {
    /// Copies the example configs with a private database, queue namespace, API port and
    /// data directories, plus `compute_extra` appended to the compute files.
    async fn new(compute_extra: &str) -> Deployment {
        let dir = scratch_dir("multinode");
        let db_url = metacloud_db::scratch::create_postgres_database()
            .await
            .expect("scratch database");
        let namespace = format!("mc-test-{}", uuid::Uuid::new_v4().simple());
        let port = free_port();
        for entry in std::fs::read_dir(EXAMPLES).expect("examples/multi-node") {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let mut text = std::fs::read_to_string(&path).unwrap();
            text = text
                .replace(
                    "namespace = \"metacloud\"",
                    &format!("namespace = \"{namespace}\""),
                )
                .replace("127.0.0.1:8780", &format!("127.0.0.1:{port}"))
                .replace("127.0.0.1:5000", "127.0.0.1:0")
                .replace("127.0.0.1:9292", "127.0.0.1:0")
                .replace("127.0.0.1:8774", "127.0.0.1:0")
                .replace("127.0.0.1:8773", "127.0.0.1:0")
                .replace("127.0.0.1:8775", "127.0.0.1:0")
                .replace("127.0.0.1:9696", "127.0.0.1:0")
                .replace(
                    "plugin_dir = \"../../plugins/dist/api\"",
                    &format!(
                        "plugin_dir = \"{}\"",
                        crate::plugins::dist().join("api").display()
                    ),
                )
                .replace(
                    "plugin_dir = \"../../plugins/dist\"",
                    &format!("plugin_dir = \"{}\"", crate::plugins::dist().display()),
                )
                .replace(
                    "/var/lib/metacloud",
                    &dir.join(name.trim_end_matches(".toml"))
                        .display()
                        .to_string(),
                );
            if name.starts_with("compute") {
                text.push_str(compute_extra);
            }
            std::fs::write(dir.join(&name), text).unwrap();
        }
        let token = uuid::Uuid::new_v4().simple().to_string();
        let env = vec![
            ("METACLOUD_DATABASE_URL", db_url.clone()),
            ("METACLOUD_API_TOKEN", token.clone()),
        ];
        let client = Client::new(format!("http://127.0.0.1:{port}"), token, "demo");
        Deployment {
            dir,
            db_url,
            env,
            procs: BTreeMap::new(),
            client,
        }
    }

    fn config(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.toml"))
    }

    async fn start(&mut self, name: &str, file: &str, role: &str) {
        let mut proc = Proc::start(name, &self.config(file), &[role], &self.env);
        proc.wait_ready(Duration::from_secs(60)).await;
        self.procs.insert(name.to_string(), proc);
    }

    /// db sync, then conductor, scheduler, api and compute-1..3.
    async fn start_all(&mut self) {
        let (code, out, err) = run(
            &[
                "--config",
                &self.config("controller").display().to_string(),
                "db",
                "sync",
            ],
            &self.env,
        );
        assert_eq!(code, 0, "db sync failed: {out}{err}");
        self.start("conductor", "controller", "conductor").await;
        self.start("scheduler", "controller", "scheduler").await;
        self.start("api", "controller", "api").await;
        for n in 1..=3 {
            self.start(&format!("compute-{n}"), &format!("compute-{n}"), "compute")
                .await;
        }
        self.wait_computes_up(3).await;
        let (status, body) = self
            .client
            .put("/v1/quotas/demo/instances", json!({"limit": 100}))
            .await;
        assert_eq!(status, 204, "{body}");
    }

    async fn services(&self) -> Vec<Value> {
        let (status, body) = self.client.get("/v1/services").await;
        assert_eq!(status, 200, "{body}");
        body["services"].as_array().cloned().unwrap_or_default()
    }

    async fn compute_up(&self, host: &str) -> Option<bool> {
        self.services()
            .await
            .iter()
            .find(|s| s["binary"] == "metacloud-compute" && s["host"] == host)
            .map(|s| s["up"] == true)
    }

    async fn wait_computes_up(&self, n: usize) {
        wait_for("compute services up", Duration::from_secs(30), || async {
            let up = self
                .services()
                .await
                .iter()
                .filter(|s| s["binary"] == "metacloud-compute" && s["up"] == true)
                .count();
            (up >= n).then_some(())
        })
        .await;
    }

    async fn boot(&self, name: &str, count: u32) -> Vec<String> {
        let (status, body) = self
            .client
            .post(
                "/v1/servers",
                json!({"name": name, "flavor": "m1.nano", "min_count": count, "max_count": count}),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        body["servers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["uuid"].as_str().unwrap().to_string())
            .collect()
    }

    /// Waits until none of `uuids` is building; returns uuid → (vm_state, host).
    async fn settle(
        &self,
        uuids: &[String],
        timeout: Duration,
    ) -> BTreeMap<String, (String, String)> {
        wait_for("instances settled", timeout, || async {
            let servers = self.client.servers().await;
            let mut out = BTreeMap::new();
            for s in servers {
                let uuid = s["uuid"].as_str().unwrap_or_default().to_string();
                if !uuids.contains(&uuid) {
                    continue;
                }
                let state = s["vm_state"].as_str().unwrap_or_default().to_string();
                if state == "building" || !s["task_state"].is_null() {
                    return None;
                }
                out.insert(
                    uuid,
                    (state, s["host"].as_str().unwrap_or_default().to_string()),
                );
            }
            (out.len() == uuids.len()).then_some(out)
        })
        .await
    }

    async fn domains(&self, host: &str) -> Vec<Value> {
        let (status, body) = self
            .client
            .get(&format!("/v1/hypervisors/{host}/domains"))
            .await;
        assert_eq!(status, 200, "{body}");
        body["domains"].as_array().cloned().unwrap_or_default()
    }

    async fn teardown(mut self) {
        for (_, mut p) in std::mem::take(&mut self.procs) {
            p.kill();
        }
        metacloud_db::scratch::drop_postgres_database(&self.db_url).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_instances_over_three_compute_processes_then_a_host_dies() {
    let mut d = Deployment::new("").await;
    d.start_all().await;

    let uuids = d.boot("vm", 20).await;
    let settled = d.settle(&uuids, Duration::from_secs(60)).await;
    let mut per_host: BTreeMap<String, usize> = BTreeMap::new();
    for (uuid, (state, host)) in &settled {
        assert_eq!(state, "active", "{uuid} on {host}");
        *per_host.entry(host.clone()).or_default() += 1;
    }
    assert_eq!(
        per_host.keys().cloned().collect::<Vec<_>>(),
        vec!["compute-1", "compute-2", "compute-3"],
        "instances must land on all three hosts: {per_host:?}"
    );
    // Each host's libvirt runs exactly the instances placed there.
    for (host, n) in &per_host {
        let domains = d.domains(host).await;
        let ours: HashSet<&str> = domains
            .iter()
            .filter(|x| x["power_state"] == 1)
            .filter_map(|x| x["uuid"].as_str())
            .collect();
        let placed: HashSet<&str> = settled
            .iter()
            .filter(|(_, (_, h))| h == host)
            .map(|(u, _)| u.as_str())
            .collect();
        assert_eq!(placed.len(), *n);
        assert!(
            placed.is_subset(&ours),
            "{host}: {placed:?} not all running in {ours:?}"
        );
    }

    for uuid in &uuids {
        let (status, body) = d.client.delete(&format!("/v1/servers/{uuid}")).await;
        assert_eq!(status, 204, "{body}");
    }
    wait_for("all deleted", Duration::from_secs(60), || async {
        d.client.servers().await.is_empty().then_some(())
    })
    .await;
    for host in per_host.keys() {
        let left: Vec<Value> = d
            .domains(host)
            .await
            .into_iter()
            .filter(|x| uuids.iter().any(|u| x["uuid"] == u.as_str()))
            .collect();
        assert!(left.is_empty(), "{host} still has {left:?}");
    }
    let (_, hyp) = d.client.get("/v1/hypervisors").await;
    for h in hyp["hypervisors"].as_array().unwrap() {
        assert_eq!(h["running_vms"], 0, "{h}");
        assert_eq!(h["memory_mb_used"], 0, "{h}");
    }

    // SIGKILL compute-3: it shows down after the heartbeat timeout, and gets nothing new.
    d.procs.get_mut("compute-3").unwrap().kill();
    assert_eq!(d.compute_up("compute-3").await, Some(true));
    wait_for("compute-3 down", Duration::from_secs(30), || async {
        (d.compute_up("compute-3").await == Some(false)).then_some(())
    })
    .await;
    let more = d.boot("after", 6).await;
    let settled = d.settle(&more, Duration::from_secs(60)).await;
    for (uuid, (state, host)) in &settled {
        assert_eq!(state, "active", "{uuid}");
        assert_ne!(host, "compute-3", "{uuid} scheduled to a dead host");
    }
    d.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compute_killed_mid_build_gets_its_message_again() {
    let mut d = Deployment::new("debug_spawn_delay_ms = 3000\n").await;
    d.start_all().await;
    let uuids = d.boot("slow", 9).await;
    // Kill compute-1 while it holds a build it has not finished.
    wait_for("compute-1 building", Duration::from_secs(30), || async {
        d.procs["compute-1"]
            .logged("building instance")
            .then_some(())
    })
    .await;
    let old = d.procs.remove("compute-1").unwrap();
    let pid = old.pid();
    drop(old); // SIGKILL
    d.start("compute-1", "compute-1", "compute").await;
    assert_ne!(d.procs["compute-1"].pid(), pid);
    let settled = d.settle(&uuids, Duration::from_secs(90)).await;
    for (uuid, (state, host)) in &settled {
        assert!(
            state == "active" || state == "error",
            "{uuid} on {host} is {state}"
        );
    }
    assert!(
        settled.values().all(|(s, _)| s == "active"),
        "every build should have finished: {settled:?}"
    );
    assert!(
        d.procs["compute-1"].logged("redelivered"),
        "the restarted compute-1 should have received the unfinished build again"
    );
    d.teardown().await;
}

impl Deployment {
    async fn boot_with(&self, name: &str, count: u32, extra: Value) -> Vec<String> {
        let mut req =
            json!({"name": name, "flavor": "m1.nano", "min_count": count, "max_count": count});
        for (k, v) in extra.as_object().unwrap() {
            req[k] = v.clone();
        }
        let (status, body) = self.client.post("/v1/servers", req).await;
        assert_eq!(status, 202, "{body}");
        body["servers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["uuid"].as_str().unwrap().to_string())
            .collect()
    }

    async fn group(&self, policy: &str) -> String {
        let (status, body) = self
            .client
            .post(
                "/v1/server-groups",
                json!({"name": policy, "policy": policy}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["server_group"]["uuid"].as_str().unwrap().to_string()
    }
}

fn hosts_of(settled: &BTreeMap<String, (String, String)>) -> Vec<String> {
    settled.values().map(|(_, h)| h.clone()).collect()
}

/// Server groups and aggregates reach the WASM plugins of the split deployment: the
/// conductor fills in where a group's members are, the scheduler's plugins act on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_groups_and_aggregates_steer_placement_across_processes() {
    let mut d = Deployment::new("").await;
    d.start_all().await;
    let t = Duration::from_secs(60);

    // Anti-affinity: two now and one later, each on its own host; a fourth has no room.
    let anti = d.group("anti-affinity").await;
    let mut uuids = d
        .boot_with("anti", 2, json!({"hints": {"group": anti}}))
        .await;
    d.settle(&uuids, t).await;
    uuids.extend(
        d.boot_with("anti", 1, json!({"hints": {"group": anti}}))
            .await,
    );
    let settled = d.settle(&uuids, t).await;
    let mut hosts = hosts_of(&settled);
    hosts.sort();
    assert_eq!(
        hosts,
        vec!["compute-1", "compute-2", "compute-3"],
        "{settled:?}"
    );
    assert!(settled.values().all(|(s, _)| s == "active"), "{settled:?}");
    let fourth = d
        .boot_with("anti", 1, json!({"hints": {"group": anti}}))
        .await;
    let settled = d.settle(&fourth, t).await;
    assert_eq!(settled[&fourth[0]].0, "error", "{settled:?}");
    let (_, group) = d.client.get(&format!("/v1/server-groups/{anti}")).await;
    assert_eq!(
        group["server_group"]["members"].as_array().unwrap().len(),
        4
    );

    // Affinity: a later boot joins the host of the first members.
    let aff = d.group("affinity").await;
    let mut uuids = d
        .boot_with("aff", 2, json!({"hints": {"group": aff}}))
        .await;
    d.settle(&uuids, t).await;
    uuids.extend(
        d.boot_with("aff", 1, json!({"hints": {"group": aff}}))
            .await,
    );
    let settled = d.settle(&uuids, t).await;
    let hosts = hosts_of(&settled);
    assert!(hosts.iter().all(|h| h == &hosts[0]), "{settled:?}");

    // Another project cannot use the group, and cannot see it.
    let other =
        Client::new(d.client.base.clone(), d.client.token.clone(), "other").with_roles("member");
    let (status, body) = other
        .post(
            "/v1/servers",
            json!({"name": "x", "flavor": "m1.nano", "hints": {"group": aff}}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = other.get(&format!("/v1/server-groups/{aff}")).await;
    assert_eq!(status, 404);

    // An aggregate that makes compute-2 availability zone "fast".
    let (status, body) = d
        .client
        .post(
            "/v1/aggregates",
            json!({"name": "fast", "availability_zone": "fast"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let id = body["aggregate"]["id"].to_string();
    let (status, body) = d
        .client
        .post(
            &format!("/v1/aggregates/{id}/action"),
            json!({"add_host": {"host": "compute-2"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = other.post("/v1/aggregates", json!({"name": "mine"})).await;
    assert_eq!(status, 403, "aggregates are for admins");
    let reader = other.with_roles("reader");
    let (status, _) = reader.get("/v1/aggregates").await;
    assert_eq!(status, 403);
    // Plenty of room elsewhere, yet every instance asking for zone "fast" lands there.
    let fast = d
        .boot_with("fast", 3, json!({"availability_zone": "fast"}))
        .await;
    let settled = d.settle(&fast, t).await;
    assert!(
        settled
            .values()
            .all(|(s, h)| s == "active" && h == "compute-2"),
        "{settled:?}"
    );
    d.teardown().await;
}
