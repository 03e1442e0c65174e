//! Real guests on `qemu:///system`: the guest of `../shared/guest/build-guest.sh`, uploaded
//! through the image API and booted through the OpenStack API, then driven through its
//! whole life, with libvirt's own view (`virsh`) checked against the API after each step.

use crate::openstack::{config, Cloud};
use metacloud_tests::{guest_dir, wait_for};
use serde_json::{json, Value};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// What the guest prints on its serial console once its init runs.
const MARKER: &str = "METACLOUD-GUEST-UP";

/// Says which step a long test is at (shown when it fails).
fn step(what: &str) {
    eprintln!("[{:?}] {what}", std::time::SystemTime::now());
}

fn skip(test: &str) -> bool {
    if std::env::var("METACLOUD_SKIP_QEMU").as_deref() == Ok("1") {
        eprintln!("!!! SKIPPED {test}: needs qemu:///system (METACLOUD_SKIP_QEMU=1) !!!");
        return true;
    }
    false
}

fn virsh(args: &[&str]) -> String {
    let out = Command::new("virsh")
        .args(["-q", "-c", "qemu:///system"])
        .args(args)
        .output()
        .expect("virsh");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// libvirt's state of the instance's domain (`running`, `shut off`, `paused`), empty when
/// there is no such domain.
fn domstate(uuid: &str) -> String {
    virsh(&["domstate", &format!("instance-{uuid}")])
}

/// The domain's memory in MiB as libvirt defines it.
fn dom_memory_mib(uuid: &str) -> u64 {
    let info = virsh(&["dominfo", &format!("instance-{uuid}")]);
    info.lines()
        .find(|l| l.starts_with("Max memory:"))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|kib| kib.parse::<u64>().ok())
        .map(|kib| kib / 1024)
        .unwrap_or(0)
}

struct Guests {
    cloud: Cloud,
    token: String,
    config: metacloud_config::Config,
    booted: Booted,
    /// Last: dropped after the cloud (fields drop in order), even when a test panics.
    _network: Option<metacloud_tests::NetworkStateGuard>,
}

/// Instances booted, whose domains a failing test must not leave running.
#[derive(Default)]
struct Booted(std::sync::Mutex<Vec<String>>);

impl Drop for Booted {
    fn drop(&mut self) {
        for uuid in self.0.lock().unwrap().iter() {
            let name = format!("instance-{uuid}");
            virsh(&["destroy", &name]);
            virsh(&["undefine", "--managed-save", &name]);
        }
    }
}

impl Guests {
    async fn action(&self, id: &str, body: Value) -> (u16, reqwest::header::HeaderMap, Value) {
        self.cloud
            .call(
                &self.token,
                reqwest::Method::POST,
                &format!("/v2.1/servers/{id}/action"),
                Some(body),
            )
            .await
    }

    async fn act(&self, id: &str, body: Value) {
        let (s, _, b) = self.action(id, body.clone()).await;
        // Nova answers 202, and 204 for confirmResize.
        assert!(s == 202 || s == 204, "{body}: {s} {b}");
    }

    async fn server(&self, id: &str) -> Value {
        self.server_as(&self.token, id).await
    }

    /// The server as the user of `token` sees it (its project's servers only).
    async fn server_as(&self, token: &str, id: &str) -> Value {
        let (s, b) = self.cloud.get(token, &format!("/v2.1/servers/{id}")).await;
        assert_eq!(s, 200, "{b}");
        b["server"].clone()
    }

    /// Waits until the server shows `status` with no task under way; its fault if it went
    /// to ERROR instead.
    async fn wait(&self, id: &str, status: &str) -> Value {
        self.wait_as(&self.token, id, status).await
    }

    async fn wait_as(&self, token: &str, id: &str, status: &str) -> Value {
        wait_for(
            &format!("{id} {status}"),
            Duration::from_secs(180),
            || async {
                let s = self.server_as(token, id).await;
                if s["status"] == "ERROR" && status != "ERROR" {
                    panic!("{id} went to ERROR: {}", s["fault"]);
                }
                (s["status"] == status && s["OS-EXT-STS:task_state"].is_null()).then_some(s)
            },
        )
        .await
    }

    async fn console(&self, id: &str) -> String {
        self.console_as(&self.token, id).await
    }

    async fn console_as(&self, token: &str, id: &str) -> String {
        let (s, _, b) = self
            .cloud
            .call(
                token,
                reqwest::Method::POST,
                &format!("/v2.1/servers/{id}/action"),
                Some(json!({"os-getConsoleOutput": {"length": null}})),
            )
            .await;
        assert_eq!(s, 200, "{b}");
        b["output"].as_str().unwrap_or_default().to_string()
    }

    /// Waits until the console shows the marker `n` times (each boot prints it once).
    async fn wait_marker(&self, id: &str, n: usize) {
        wait_for(
            &format!("{id}: marker x{n}"),
            Duration::from_secs(180),
            || async { (self.console(id).await.matches(MARKER).count() >= n).then_some(()) },
        )
        .await;
    }

    /// Polls the console until `done` holds; on timeout fails with the console and the
    /// network worker's last report.
    async fn console_until(
        &self,
        id: &str,
        timeout: Duration,
        done: impl Fn(&str) -> bool,
    ) -> String {
        self.console_until_as(&self.token, id, timeout, done).await
    }

    async fn console_until_as(
        &self,
        token: &str,
        id: &str,
        timeout: Duration,
        done: impl Fn(&str) -> bool,
    ) -> String {
        let start = std::time::Instant::now();
        loop {
            let c = self.console_as(token, id).await;
            if done(&c) {
                return c;
            }
            if start.elapsed() > timeout {
                let applied = self
                    .config
                    .network
                    .state_dir
                    .as_ref()
                    .and_then(|d| std::fs::read_to_string(d.join("applied.json")).ok());
                panic!("{id}: timed out after {timeout:?}; console:\n{c}\nnetwork: {applied:?}");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn boot(&self, name: &str, image: &str, flavor: &str) -> String {
        self.boot_as(&self.token, name, image, flavor).await
    }

    async fn boot_as(&self, token: &str, name: &str, image: &str, flavor: &str) -> String {
        let server = json!({"name": name, "imageRef": image, "flavorRef": flavor});
        self.create(token, server).await
    }

    /// Boots with `user_data` (given base64-encoded, as Nova takes it).
    async fn boot_with_user_data(
        &self,
        name: &str,
        image: &str,
        flavor: &str,
        user_data: &str,
    ) -> String {
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode(user_data);
        let server = json!({"name": name, "imageRef": image, "flavorRef": flavor,
            "user_data": encoded});
        self.create(&self.token, server).await
    }

    async fn create(&self, token: &str, server: Value) -> String {
        let (s, _, b) = self
            .cloud
            .call(
                token,
                reqwest::Method::POST,
                "/v2.1/servers",
                Some(json!({ "server": server })),
            )
            .await;
        assert_eq!(s, 202, "{b}");
        let id = b["server"]["id"].as_str().unwrap().to_string();
        self.booted.0.lock().unwrap().push(id.clone());
        id
    }

    async fn delete(&self, id: &str) {
        self.delete_as(&self.token, id).await
    }

    async fn delete_as(&self, token: &str, id: &str) {
        let (s, b) = self.cloud.delete_server(token, id).await;
        assert_eq!(s, 204, "{b}");
        wait_for(
            &format!("{id} deleted"),
            Duration::from_secs(120),
            || async {
                let (s, _) = self.cloud.get(token, &format!("/v2.1/servers/{id}")).await;
                (s == 404).then_some(())
            },
        )
        .await;
    }

    /// Uploads a file as a raw image through the image API; returns its id.
    async fn upload(&self, name: &str, file: &Path) -> String {
        let data = std::fs::read(file).unwrap();
        self.cloud.upload_raw_image(&self.token, name, data).await
    }

    async fn image_status(&self, id: &str) -> String {
        let r = self
            .cloud
            .http
            .get(format!("{}/v2/images/{id}", self.cloud.glance))
            .header("x-auth-token", &self.token)
            .send()
            .await
            .unwrap();
        r.json::<Value>().await.unwrap()["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

async fn start(label: &str, tweak: impl FnOnce(&mut metacloud_config::Config)) -> Guests {
    let mut c = config();
    c.compute.libvirt_uri = "qemu:///system".into();
    c.compute.virt_type = metacloud_config::VirtType::Auto;
    // A guest still booting has no ACPI daemon yet: soft stops and reboots fall back to
    // hard ones after this.
    c.compute.shutdown_timeout_secs = 10;
    c.compute.power_sync_interval_secs = 2;
    c.service.host = Some(format!(
        "{label}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    ));
    tweak(&mut c);
    c.validate().unwrap();
    let cloud = Cloud::start_with(c.clone()).await;
    let token = cloud.token("demo", "demo-pw", "demo").await;
    let network = (!c.network.driver.is_empty())
        .then(|| c.network.state_dir.clone())
        .flatten()
        .map(metacloud_tests::NetworkStateGuard);
    Guests {
        cloud,
        token,
        config: c,
        booted: Default::default(),
        _network: network,
    }
}

/// Every file the instance left under the compute worker's directories.
fn leftovers(c: &metacloud_config::Config, uuid: &str) -> Vec<PathBuf> {
    let dir = c.compute.instances_path.clone().unwrap().join(uuid);
    dir.exists().then_some(dir).into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_real_guest_lives_its_whole_life_through_the_api() {
    if skip("a_real_guest_lives_its_whole_life_through_the_api") {
        return;
    }
    let g = start("qemu", |_| {}).await;
    let cfg = g.config.clone();
    let image = g.upload("guest", &guest_dir().join("guest.raw")).await;

    step("boot");
    // Boot: ACTIVE, running in libvirt, and the guest's own marker on its console.
    let id = g.boot("life", &image, "1").await;
    g.wait(&id, "ACTIVE").await;
    assert_eq!(domstate(&id), "running");
    g.wait_marker(&id, 1).await;
    let cached = cfg.compute.image_cache_path.clone().unwrap().join(&image);
    let first_fetch = std::fs::metadata(&cached).expect("image cached");

    step("stop and start");
    // Stop (ACPI: the guest runs acpid), start.
    g.act(&id, json!({"os-stop": null})).await;
    g.wait(&id, "SHUTOFF").await;
    assert_eq!(domstate(&id), "shut off");
    g.act(&id, json!({"os-start": null})).await;
    g.wait(&id, "ACTIVE").await;
    assert_eq!(domstate(&id), "running");
    g.wait_marker(&id, 2).await;

    step("reboots");
    // Soft and hard reboots each boot the guest again.
    g.act(&id, json!({"reboot": {"type": "SOFT"}})).await;
    g.wait(&id, "ACTIVE").await;
    g.wait_marker(&id, 3).await;
    g.act(&id, json!({"reboot": {"type": "HARD"}})).await;
    g.wait(&id, "ACTIVE").await;
    g.wait_marker(&id, 4).await;
    assert_eq!(domstate(&id), "running");

    step("pause, suspend");
    // Pause/unpause, suspend/resume.
    g.act(&id, json!({"pause": null})).await;
    g.wait(&id, "PAUSED").await;
    assert_eq!(domstate(&id), "paused");
    g.act(&id, json!({"unpause": null})).await;
    g.wait(&id, "ACTIVE").await;
    assert_eq!(domstate(&id), "running");
    g.act(&id, json!({"suspend": null})).await;
    g.wait(&id, "SUSPENDED").await;
    assert_eq!(
        domstate(&id),
        "shut off",
        "a suspended guest is saved to disk"
    );
    g.act(&id, json!({"resume": null})).await;
    g.wait(&id, "ACTIVE").await;
    assert_eq!(domstate(&id), "running");

    step("snapshot");
    // Snapshot to a new image, which boots again.
    let (s, headers, b) = g
        .action(&id, json!({"createImage": {"name": "life-snap"}}))
        .await;
    assert_eq!(s, 202, "{b}");
    let snap = b["image_id"]
        .as_str()
        .map(str::to_string)
        .or_else(|| {
            headers
                .get("location")
                .and_then(|l| l.to_str().ok())
                .and_then(|l| l.rsplit('/').next())
                .map(str::to_string)
        })
        .expect("snapshot image id");
    wait_for("snapshot active", Duration::from_secs(120), || async {
        (g.image_status(&snap).await == "active").then_some(())
    })
    .await;
    g.wait(&id, "ACTIVE").await;
    let from_snap = g.boot("from-snap", &snap, "1").await;
    g.wait(&from_snap, "ACTIVE").await;
    g.wait_marker(&from_snap, 1).await;
    g.delete(&from_snap).await;
    assert_eq!(domstate(&from_snap), "");

    step("resize");
    // Resize to a bigger flavor and revert: the domain is back as it was.
    let before = dom_memory_mib(&id);
    assert_eq!(before, 512);
    g.act(&id, json!({"resize": {"flavorRef": "2"}})).await;
    g.wait(&id, "VERIFY_RESIZE").await;
    assert_eq!(dom_memory_mib(&id), 2048);
    g.wait_marker(&id, 5).await;
    g.act(&id, json!({"revertResize": null})).await;
    g.wait(&id, "ACTIVE").await;
    assert_eq!(g.server(&id).await["flavor"]["id"], "1");
    assert_eq!(dom_memory_mib(&id), 512, "libvirt's memory after revert");
    assert_eq!(domstate(&id), "running");
    g.wait_marker(&id, 6).await;
    // Again, and confirm: the domain keeps its new memory.
    g.act(&id, json!({"resize": {"flavorRef": "2"}})).await;
    g.wait(&id, "VERIFY_RESIZE").await;
    let flavor: Value = g.server(&id).await["flavor"].clone();
    assert_eq!(flavor["id"], "2", "{flavor}");
    assert_eq!(dom_memory_mib(&id), 2048, "libvirt's memory (was {before})");
    assert_eq!(domstate(&id), "running");
    g.act(&id, json!({"confirmResize": null})).await;
    g.wait(&id, "ACTIVE").await;
    assert_eq!(dom_memory_mib(&id), 2048);
    g.wait_marker(&id, 7).await;

    step("rebuild");
    // Rebuild from the same image: a fresh disk and a fresh console.
    g.act(&id, json!({"rebuild": {"imageRef": image}})).await;
    g.wait(&id, "ACTIVE").await;
    g.wait_marker(&id, 1).await;

    step("delete");
    // Delete: no domain, no overlay, no console log left.
    g.delete(&id).await;
    assert_eq!(domstate(&id), "", "libvirt still has the domain");
    assert_eq!(leftovers(&cfg, &id), Vec::<PathBuf>::new());

    step("second boot from the cache");
    // A second server from the same image boots from the cache: the cached file is the
    // one the first boot fetched, not fetched again.
    let second = g.boot("second", &image, "1").await;
    g.wait(&second, "ACTIVE").await;
    g.wait_marker(&second, 1).await;
    let now = std::fs::metadata(&cached).unwrap();
    assert_eq!(
        (now.ino(), now.mtime(), now.mtime_nsec()),
        (
            first_fetch.ino(),
            first_fetch.mtime(),
            first_fetch.mtime_nsec()
        ),
        "the image was fetched again"
    );
    g.delete(&second).await;
    assert_eq!(leftovers(&cfg, &second), Vec::<PathBuf>::new());
    g.cloud.running.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_guest_that_never_speaks_is_an_error_with_a_fault() {
    if skip("a_guest_that_never_speaks_is_an_error_with_a_fault") {
        return;
    }
    let g = start("silent", |c| c.compute.boot_timeout_secs = 5).await;
    // A disk of zeros: the firmware finds nothing to boot and the serial console stays
    // silent.
    let blank = metacloud_tests::scratch_dir("blank").join("blank.raw");
    std::fs::write(&blank, vec![0u8; 1 << 20]).unwrap();
    let image = g.upload("blank", &blank).await;
    let id = g.boot("silent", &image, "1").await;
    let server = g.wait(&id, "ERROR").await;
    let fault = server["fault"]["message"].as_str().unwrap_or_default();
    assert!(
        fault.contains("no console output within 5 s"),
        "fault: {}",
        server["fault"]
    );
    assert_eq!(domstate(&id), "shut off", "the silent guest is stopped");
    g.delete(&id).await;
    assert_eq!(domstate(&id), "");
    g.cloud.running.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_domain_the_database_does_not_know_is_destroyed_when_configured() {
    if skip("a_domain_the_database_does_not_know_is_destroyed_when_configured") {
        return;
    }
    let g = start("stray", |c| c.compute.destroy_unknown_domains = true).await;
    // A domain named like ours that no instance owns (as if left by a lost database).
    let stray = uuid::Uuid::new_v4().to_string();
    let domain = |uuid: &str, host: &str| {
        format!(
            "<domain type='qemu'><name>instance-{uuid}</name><uuid>{uuid}</uuid>\
             <metadata><metacloud:instance xmlns:metacloud='{}'>\
             <metacloud:host>{host}</metacloud:host></metacloud:instance></metadata>\
             <memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type>hvm</type></os>\
             <features><acpi/></features></domain>",
            metacloud_virt::libvirt::METADATA_NS
        )
    };
    let host = g.config.host();
    // And one another compute host made: not this host's to destroy.
    let foreign = uuid::Uuid::new_v4().to_string();
    let dir = metacloud_tests::scratch_dir("stray");
    for (uuid, owner) in [(&foreign, "another-host"), (&stray, host.as_str())] {
        let file = dir.join(format!("{uuid}.xml"));
        std::fs::write(&file, domain(uuid, owner)).unwrap();
        g.booted.0.lock().unwrap().push(uuid.clone());
        let out = Command::new("virsh")
            .args(["-q", "-c", "qemu:///system", "create"])
            .arg(&file)
            .output()
            .expect("virsh");
        assert!(
            out.status.success(),
            "virsh create: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(domstate(&foreign), "running");
    wait_for("stray destroyed", Duration::from_secs(30), || async {
        domstate(&stray).is_empty().then_some(())
    })
    .await;
    // Several more passes (every 2 s) leave the other host's domain alone.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(domstate(&foreign), "running");
    virsh(&["destroy", &format!("instance-{foreign}")]);
    g.cloud.running.stop();
}

/// The first `stage=net ip=<address>` the guest printed (without the prefix length).
fn guest_ip(console: &str) -> Option<String> {
    let rest = console.split("stage=net ip=").nth(1)?;
    let ip = rest.split(['/', ' ', '\r', '\n']).next()?;
    (ip != "none" && !ip.is_empty()).then(|| ip.to_string())
}

/// Types `line` into the guest's serial console (its root shell on ttyS0), through the
/// pty libvirt gives the domain's serial port; what the guest prints lands in the console
/// log the API serves.
/// QEMU reads a pty only once it has seen a client on it (it checks every second), so the
/// pty is held open around the write.
async fn console_type(uuid: &str, line: &str) {
    use std::io::Write;
    let pts = virsh(&["ttyconsole", &format!("instance-{uuid}")]);
    let mut tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(pts.trim())
        .unwrap_or_else(|e| panic!("serial console {pts:?} of {uuid}: {e}"));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // busybox's line editor asks the terminal where its cursor is (ESC [6n) and reads
    // input until the answer: answer first, then the line.
    tty.write_all(format!("\x1b[1;1R{line}\r").as_bytes())
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
}

/// Two guests of `../shared/guest/build-guest.sh` on a flat-DHCP network. Each leases its
/// address from the network's DHCP server (`stage=net ip=…`); each then reads its own id
/// from 169.254.169.254, and the second runs its user data (given at create, served by
/// the metadata service), which pings the first and fetches its `METACLOUD-GUEST-HTTP`
/// page. The guest's init would do the metadata read and run the user data itself, but
/// its busybox (Debian's busybox-static 1.35.0-4+deb12u1+b1) crashes in option parsing on
/// `wget -T` (SIGSEGV before any system call, on the host too), so the test types the
/// init's own commands, without `-T`, into the guest's root shell on its serial console.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_real_guests_on_a_flat_dhcp_network_lease_read_their_metadata_and_reach_each_other() {
    let test =
        "two_real_guests_on_a_flat_dhcp_network_lease_read_their_metadata_and_reach_each_other";
    if skip(test) {
        return;
    }
    let g = start("net", |c| {
        c.network.driver = "flat-dhcp".into();
        c.network.plugin_dir = Some(crate::plugins::dist().join("network"));
        c.network.state_dir = Some(c.data_dir().join("network"));
        c.network.networks = vec![metacloud_config::DeclaredNetwork {
            name: "private".into(),
            cidr: "10.91.0.0/24".into(),
            dns: vec![],
            segment: None,
        }];
    })
    .await;
    let image = g.upload("guest", &guest_dir().join("guest.raw")).await;

    step("boot two guests, the second with user data that reaches the first");
    let web = g.boot("web", &image, "1").await;
    // Ports are made at create: the first guest's address is known before it boots.
    let web_ip = g.server(&web).await["addresses"]["private"][0]["addr"]
        .as_str()
        .expect("an address at create")
        .to_string();
    let user_data = format!(
        "#!/bin/sh\nping -c 3 {web_ip} >/dev/null && echo ping-$((40+2))\nwget -q -O - http://{web_ip}/\n"
    );
    let client = g
        .boot_with_user_data("client", &image, "1", &user_data)
        .await;
    let mut ips = Vec::new();
    for id in [&web, &client] {
        g.wait(id, "ACTIVE").await;
        let console = g
            .console_until(id, Duration::from_secs(240), |c| c.contains("stage=ready"))
            .await;
        let ip = guest_ip(&console).unwrap_or_else(|| panic!("{id} got no address:\n{console}"));
        assert!(ip.starts_with("10.91.0."), "{console}");
        let shown = g.server(id).await;
        assert_eq!(
            shown["addresses"]["private"][0]["addr"],
            ip.as_str(),
            "{shown}"
        );
        ips.push(ip);
    }
    assert_ne!(ips[0], ips[1]);

    step("each reads its id from 169.254.169.254");
    for id in [&web, &client] {
        console_type(
            id,
            "echo METACLOUD-GUEST-IID $(wget -q -O - http://169.254.169.254/latest/meta-data/instance-id)",
        )
        .await;
        // The EC2 metadata's instance-id: the EC2 form of the UUID (`i-` and 17 hex digits).
        let ec2_id = format!("i-{}", &id.replace('-', "")[..17]);
        g.console_until(id, Duration::from_secs(60), |c| {
            c.contains(&format!("METACLOUD-GUEST-IID {ec2_id}\r"))
                || c.contains(&format!("METACLOUD-GUEST-IID {ec2_id}\n"))
        })
        .await;
    }

    step("the client runs its user data: it pings the web guest and fetches its page");
    assert_eq!(&ips[0], &web_ip);
    console_type(
        &client,
        "wget -q -O /tmp/user-data http://169.254.169.254/latest/user-data && chmod 755 /tmp/user-data && (/tmp/user-data 2>&1 | while IFS= read -r l; do echo \"GUEST-USERDATA $l\"; done; echo GUEST-USERDATA-$((0))END)",
    )
    .await;
    g.console_until(&client, Duration::from_secs(60), |c| {
        c.contains("GUEST-USERDATA ping-42")
            && c.contains(&format!(
                "GUEST-USERDATA METACLOUD-GUEST-HTTP unknown {web_ip}"
            ))
            && c.contains("GUEST-USERDATA-0END")
    })
    .await;

    step("delete both");
    g.delete(&client).await;
    g.delete(&web).await;
}

/// Asks guest `from` (typing into its serial shell) to ping `to`; whether it answered.
/// The typed line is echoed on the console, so the result word is computed in the guest
/// (`$((…))`) and appears only when the command ran.
async fn guest_reaches(g: &Guests, token: &str, from: &str, to: &str, tag: &str) -> bool {
    console_type(
        from,
        &format!(
            "ping -c 2 -W 2 {to} >/dev/null 2>&1 && echo REACH-$((40+2))-{tag} || echo REACH-$((0))-{tag}"
        ),
    )
    .await;
    let console = g
        .console_until_as(token, from, Duration::from_secs(60), |c| {
            c.contains(&format!("REACH-42-{tag}")) || c.contains(&format!("REACH-0-{tag}"))
        })
        .await;
    console.contains(&format!("REACH-42-{tag}"))
}

/// The `inet metacloud` table of a network's namespace, as nft lists it.
fn namespace_rules(network: &str) -> String {
    let ns = crate::network_worker::namespace_of(network);
    let out = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns,
            "nft",
            "list",
            "table",
            "inet",
            "metacloud",
        ])
        .output()
        .expect("nft");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Issue 14's VLAN case with real guests of `../shared/guest/build-guest.sh`: two projects,
/// each with its own segmented network (a VXLAN segment on these machines, which have no
/// 802.1Q). Guests of one project reach each other and not the other project's; a floating
/// address of one guest, on an "outside" bridge and namespace the test made, answers its
/// `METACLOUD-GUEST-HTTP` page only once a TCP 80 rule is added to its security group (the
/// rule reaches the running guest within 5 s); a guest that takes an address it was not
/// given gets nothing through. Commands run in the guests through their serial shells (see
/// the flat-DHCP test above for why).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn real_guests_of_two_projects_on_vlan_networks_are_isolated_and_rules_reach_them() {
    let test = "real_guests_of_two_projects_on_vlan_networks_are_isolated_and_rules_reach_them";
    if skip(test) {
        return;
    }
    let outside = crate::network_worker::Outside::new("172.31.9.250/24");
    let bridge = outside.bridge.clone();
    let g = start("vlan", |c| {
        c.network.driver = "vlan".into();
        c.network.plugin_dir = Some(crate::plugins::dist().join("network"));
        c.network.state_dir = Some(c.data_dir().join("network"));
        c.network.allowed_interfaces = vec![bridge.clone()];
    })
    .await;
    let admin = g.cloud.token("admin", "admin-pw", "admin").await;
    let demo = g.token.clone();
    let other = g
        .cloud
        .user_in_new_project(&admin, "vlanother", "member")
        .await;
    let post = |token: &str, path: &str, body: Value| {
        let (token, path) = (token.to_string(), path.to_string());
        let cloud = &g.cloud;
        async move {
            let (s, _, b) = cloud
                .call(&token, reqwest::Method::POST, &path, Some(body))
                .await;
            (s, b)
        }
    };

    step("a network per project and a floating range on the outside bridge");
    let mut networks = Vec::new();
    for (token, label, cidr, vlan) in [
        (&demo, "p1", "10.92.0.0/24", 921),
        (&other, "p2", "10.93.0.0/24", 922),
    ] {
        let project = g.cloud.project_of(token).await;
        let (s, b) = post(
            &admin,
            "/v2.1/os-networks",
            json!({"network": {"label": label, "cidr": cidr, "vlan": vlan,
                "project_id": project}}),
        )
        .await;
        assert_eq!(s, 200, "{b}");
        networks.push(b["network"]["id"].as_str().unwrap().to_string());
    }
    let (s, b) = post(
        &admin,
        "/v2.1/os-floating-ips-bulk",
        json!({"floating_ips_bulk_create": {"ip_range": "172.31.9.0/24", "pool": "public",
            "interface": bridge}}),
    )
    .await;
    assert_eq!(s, 200, "{b}");

    step("boot a1 and a2 in the first project, b1 in the second");
    let raw = guest_dir().join("guest.raw");
    let image = g.upload("guest", &raw).await;
    let other_image = g
        .cloud
        .upload_raw_image(&other, "guest", std::fs::read(&raw).unwrap())
        .await;
    let a1 = g.boot_as(&demo, "a1", &image, "1").await;
    let a2 = g.boot_as(&demo, "a2", &image, "1").await;
    let b1 = g.boot_as(&other, "b1", &other_image, "1").await;
    let mut ips = Vec::new();
    for (token, id, prefix) in [
        (&demo, &a1, "10.92.0."),
        (&demo, &a2, "10.92.0."),
        (&other, &b1, "10.93.0."),
    ] {
        g.wait_as(token, id, "ACTIVE").await;
        let console = g
            .console_until_as(token, id, Duration::from_secs(240), |c| {
                c.contains("stage=ready")
            })
            .await;
        let ip = guest_ip(&console).unwrap_or_else(|| panic!("{id} got no address:\n{console}"));
        assert!(ip.starts_with(prefix), "{id}: {ip}\n{console}");
        ips.push(ip);
    }
    let (a1_ip, a2_ip, b1_ip) = (ips[0].clone(), ips[1].clone(), ips[2].clone());

    step("guests of one project reach each other, not the other project's");
    assert!(
        guest_reaches(&g, &demo, &a1, &a2_ip, "a1a2").await,
        "a1 → a2"
    );
    assert!(
        !guest_reaches(&g, &demo, &a1, &b1_ip, "a1b1").await,
        "a1 reached p2's b1"
    );
    assert!(
        !guest_reaches(&g, &other, &b1, &a1_ip, "b1a1").await,
        "b1 reached p1's a1"
    );

    step("a floating address for a1: closed by the default group");
    let (s, b) = post(&demo, "/v2.1/os-floating-ips", json!({"pool": "public"})).await;
    assert_eq!(s, 200, "{b}");
    let fip = b["floating_ip"]["ip"].as_str().unwrap().to_string();
    let (s, b) = post(
        &demo,
        &format!("/v2.1/servers/{a1}/action"),
        json!({"addFloatingIp": {"address": fip}}),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    let net1 = networks[0].clone();
    let fip2 = fip.clone();
    wait_for(
        "the floating address's NAT",
        Duration::from_secs(10),
        || {
            let (net1, fip) = (net1.clone(), fip2.clone());
            async move { namespace_rules(&net1).contains(&fip).then_some(()) }
        },
    )
    .await;
    let url = format!("http://{fip}/");
    let ns = outside.ns.clone();
    let (ns2, url2) = (ns.clone(), url.clone());
    let closed = tokio::task::spawn_blocking(move || crate::network_worker::fetch(&ns2, &url2))
        .await
        .unwrap();
    assert_eq!(closed, None, "the default group let TCP 80 in from outside");

    step("a TCP 80 rule opens it on the running guest within 5 s");
    let (_, b) = g.cloud.get(&demo, "/v2.1/os-security-groups").await;
    let default = b["security_groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|sg| sg["name"] == "default")
        .unwrap_or_else(|| panic!("no default group: {b}"))["id"]
        .clone();
    let asked = std::time::Instant::now();
    let (s, b) = post(
        &demo,
        "/v2.1/os-security-group-rules",
        json!({"security_group_rule": {"parent_group_id": default, "ip_protocol": "tcp",
            "from_port": 80, "to_port": 80, "cidr": "0.0.0.0/0"}}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let page = wait_for(
        "the floating address to answer",
        Duration::from_secs(5),
        || {
            let (ns, url) = (ns.clone(), url.clone());
            async move {
                tokio::task::spawn_blocking(move || crate::network_worker::fetch(&ns, &url))
                    .await
                    .unwrap()
            }
        },
    )
    .await;
    assert_eq!(
        page.trim(),
        format!("METACLOUD-GUEST-HTTP unknown {a1_ip}/24")
    );
    eprintln!("the rule took effect in {:?}", asked.elapsed());

    step("a2 takes an address it was not given: nothing gets through");
    console_type(
        &a2,
        "ip addr flush dev eth0 && ip addr add 10.92.0.200/24 dev eth0 && echo SPOOF-$((1+1))",
    )
    .await;
    g.console_until_as(&demo, &a2, Duration::from_secs(30), |c| {
        c.contains("SPOOF-2")
    })
    .await;
    assert!(
        !guest_reaches(&g, &demo, &a2, &a1_ip, "spoof").await,
        "a2 got through with a spoofed address"
    );

    step("delete them");
    g.delete_as(&demo, &a1).await;
    g.delete_as(&demo, &a2).await;
    g.delete_as(&other, &b1).await;
}
