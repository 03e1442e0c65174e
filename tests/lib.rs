//! Harness for the workspace tests: the `metacloud` binary as OS processes, scratch
//! databases and queue namespaces, a client for the native API, and waiting.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The `metacloud` binary next to the test executable (built by the test command).
pub fn bin() -> PathBuf {
    if let Ok(p) = std::env::var("METACLOUD_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let path = dir.join("metacloud");
    assert!(
        path.exists(),
        "{} is missing: build it first (cargo build -p metacloud), or set METACLOUD_BIN",
        path.display()
    );
    path
}

/// A fresh scratch directory.
pub fn scratch_dir(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mc-{label}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Polls `check` until it returns `Some`, or panics after `timeout` saying `what`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One `metacloud` OS process; killed when dropped. Its stderr is kept.
pub struct Proc {
    pub name: String,
    child: Child,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    /// Starts `metacloud --config CONFIG ARGS…` with extra environment.
    pub fn start(name: &str, config: &Path, args: &[&str], env: &[(&str, String)]) -> Proc {
        Proc::start_in(name, &[], config, args, env)
    }

    /// Starts `WRAPPER… metacloud --config CONFIG ARGS…` (a wrapper such as `ip netns exec
    /// NS` that execs its command, so that the process is still the one killed).
    pub fn start_in(
        name: &str,
        wrapper: &[&str],
        config: &Path,
        args: &[&str],
        env: &[(&str, String)],
    ) -> Proc {
        let mut cmd = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(bin());
                c
            }
            None => Command::new(bin()),
        };
        cmd.arg("--config").arg(config).args(args);
        cmd.env(
            "METACLOUD_LOG",
            "info,sqlx=warn,lapin=warn,netlink_packet_route=error",
        );
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn metacloud");
        let log = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let log = log.clone();
            let name = name.to_string();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if std::env::var("METACLOUD_TEST_ECHO").is_ok() {
                        eprintln!("[{name}] {line}");
                    }
                    log.lock().unwrap().push(line);
                }
            });
        }
        Proc {
            name: name.into(),
            child,
            log,
        }
    }

    /// Whether any output line contains `needle`.
    pub fn logged(&self, needle: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| l.contains(needle))
    }

    /// Waits until the process printed `ready`, or fails with its output.
    pub async fn wait_ready(&mut self, timeout: Duration) {
        let start = Instant::now();
        while !self.logged("ready") {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited with {status} before it was ready:\n{}",
                    self.name,
                    self.log.lock().unwrap().join("\n")
                );
            }
            if start.elapsed() > timeout {
                panic!(
                    "{} not ready after {timeout:?}:\n{}",
                    self.name,
                    self.log.lock().unwrap().join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `metacloud ARGS…` to completion: (exit code, stdout, stderr).
pub fn run(args: &[&str], env: &[(&str, String)]) -> (i32, String, String) {
    let mut cmd = Command::new(bin());
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run metacloud");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A client of the native API.
#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub token: String,
    pub project: String,
    /// `X-Roles`; none sent means the API's default (admin).
    pub roles: Option<String>,
    http: reqwest::Client,
}

impl Client {
    pub fn new(base: impl Into<String>, token: impl Into<String>, project: &str) -> Client {
        Client {
            base: base.into(),
            token: token.into(),
            project: project.into(),
            roles: None,
            http: reqwest::Client::new(),
        }
    }

    /// The same client acting with `roles` (comma-separated).
    pub fn with_roles(&self, roles: &str) -> Client {
        Client {
            roles: Some(roles.into()),
            ..self.clone()
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> (u16, Value) {
        let mut req = req
            .header("x-auth-token", &self.token)
            .header("x-project-id", &self.project);
        if let Some(roles) = &self.roles {
            req = req.header("x-roles", roles);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let body = resp.json::<Value>().await.unwrap_or(Value::Null);
        (status, body)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(self.http.post(format!("{}{path}", self.base)).json(&body))
            .await
    }

    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(self.http.put(format!("{}{path}", self.base)).json(&body))
            .await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.send(self.http.delete(format!("{}{path}", self.base)))
            .await
    }

    /// The caller's live servers.
    pub async fn servers(&self) -> Vec<Value> {
        let (status, body) = self.get("/v1/servers").await;
        assert_eq!(status, 200, "{body}");
        body["servers"].as_array().cloned().unwrap_or_default()
    }
}

/// The test guest of `../shared/guest/build-guest.sh` (a bootable raw disk that prints
/// `METACLOUD-GUEST-UP` on its serial console), built once into `target/guest` (never
/// committed); the directory holding `guest.raw`.
pub fn guest_dir() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let dir = root.join("target/guest");
        if !dir.join("guest.raw").exists() {
            let script = root.join("../shared/guest/build-guest.sh");
            let out = Command::new("bash")
                .arg(&script)
                .arg(&dir)
                .output()
                .expect("run build-guest.sh");
            assert!(
                out.status.success(),
                "{} failed: {}",
                script.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        dir
    })
}

/// Removes what a network worker made under `state_dir` (its DHCP servers and the
/// namespaces it recorded): networks outlive their worker by design, tests' must not.
pub fn remove_network_state(state_dir: &Path) {
    if let Ok(dirs) = std::fs::read_dir(state_dir.join("dhcp")) {
        for d in dirs.flatten() {
            if let Ok(pid) = std::fs::read_to_string(d.path().join("pid")) {
                let _ = Command::new("kill").arg(pid.trim()).output();
            }
        }
    }
    let applied = std::fs::read_to_string(state_dir.join("applied.json")).unwrap_or_default();
    if let Ok(v) = serde_json::from_str::<Value>(&applied) {
        for ns in v["namespaces"].as_array().into_iter().flatten() {
            if let Some(ns) = ns.as_str() {
                let _ = Command::new("ip").args(["netns", "del", ns]).output();
            }
        }
    }
}

/// Removes what a network worker made under its state directory when dropped, so that a
/// failing test leaves no namespace or DHCP server behind. Drop it after the cloud: it
/// first gives the worker's reconciliation loop, which ends within a second of its
/// service, time to stop, so nothing is made again after the clean-up.
pub struct NetworkStateGuard(pub PathBuf);

impl Drop for NetworkStateGuard {
    fn drop(&mut self) {
        std::thread::sleep(std::time::Duration::from_millis(1500));
        remove_network_state(&self.0);
    }
}
