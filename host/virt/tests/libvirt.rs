//! The libvirt driver against libvirt itself: `test:///default` always, `qemu:///system`
//! (libvirtd must be running) unless `METACLOUD_SKIP_QEMU=1`.

use metacloud_virt::libvirt::{LibvirtDriver, LibvirtOptions};
use metacloud_virt::{Driver, GuestSpec, ImageSource, Nic, PowerState, VirtError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

fn scratch(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mc-virt-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A UUID unique to this process and `n`.
fn uuid(n: u32) -> String {
    format!(
        "6b8f0f1e-0000-4000-8000-{:012x}",
        (std::process::id() as u64) << 16 | n as u64
    )
}

fn guest(uuid: String) -> GuestSpec {
    GuestSpec {
        uuid,
        vcpus: 1,
        memory_mb: 64,
        root_gb: 0,
        image: None,
        nics: vec![],
    }
}

fn opts(dir: &Path, domain_type: &str) -> LibvirtOptions {
    LibvirtOptions {
        instances_path: dir.join("instances"),
        image_cache_path: dir.join("cache"),
        domain_type: domain_type.into(),
        ..Default::default()
    }
}

fn not_found<T: std::fmt::Debug>(r: Result<T, VirtError>) -> bool {
    matches!(r, Err(VirtError::NotFound(_)))
}

#[test]
fn driver_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<LibvirtDriver>();
    let _: Box<dyn Driver> =
        Box::new(LibvirtDriver::open("test:///default", LibvirtOptions::default()).unwrap());
}

#[test]
fn node_info_and_overrides() {
    let dir = scratch("node");
    let d = LibvirtDriver::open("test:///default", opts(&dir, "test")).unwrap();
    assert_eq!(d.describe(), "libvirt test:///default");
    let node = d.node_info().unwrap();
    assert_eq!(node.vcpus, 16);
    assert!(node.memory_mb > 0);
    assert!(node.disk_gb > 0, "statvfs of the temp dir");
    assert_eq!(node.cpu_arch, std::env::consts::ARCH);
    assert!(
        node.hypervisor_type.eq_ignore_ascii_case("test"),
        "{node:?}"
    );
    let mut o = opts(&dir, "test");
    o.override_vcpus = Some(3);
    o.override_memory_mb = Some(65536);
    o.override_disk_gb = Some(7);
    let d = LibvirtDriver::open("test:///default", o).unwrap();
    let node = d.node_info().unwrap();
    assert_eq!((node.vcpus, node.memory_mb, node.disk_gb), (3, 65536, 7));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn simulated_guests_full_lifecycle() {
    let dir = scratch("test");
    let d = LibvirtDriver::open("test:///default", opts(&dir, "test")).unwrap();
    let before = d.list().unwrap();
    let test_dom = before
        .iter()
        .find(|x| x.name == "test")
        .expect("libvirt's own domain")
        .clone();
    let uuids: Vec<String> = (0..20).map(uuid).collect();
    for u in &uuids {
        d.spawn(&guest(u.clone())).unwrap();
    }
    for u in &uuids {
        d.spawn(&guest(u.clone())).unwrap(); // idempotent
    }
    let listed = d.list().unwrap();
    for u in &uuids {
        assert_eq!(
            listed.iter().filter(|x| &x.uuid == u).count(),
            1,
            "{u} listed once"
        );
        let dom = listed.iter().find(|x| &x.uuid == u).unwrap();
        assert_eq!(dom.state, PowerState::Running);
        assert_eq!(dom.name, format!("instance-{u}"));
        assert_eq!(d.power_state(u).unwrap(), Some(PowerState::Running));
    }
    // An image on a simulated host is not fetched (nor validated).
    let with_image = GuestSpec {
        image: Some(ImageSource {
            id: "nowhere".into(),
            location: "/no/such/image".into(),
            sha256: Some("00".repeat(32)),
            disk_format: "qcow2".into(),
        }),
        ..guest(uuid(100))
    };
    d.spawn(&with_image).unwrap();
    assert_eq!(
        d.power_state(&uuid(100)).unwrap(),
        Some(PowerState::Running)
    );
    d.destroy(&uuid(100)).unwrap();

    let u = &uuids[0];
    d.power_off(u, None).unwrap();
    assert_eq!(d.power_state(u).unwrap(), Some(PowerState::Shutdown));
    assert!(
        d.list().unwrap().iter().any(|x| &x.uuid == u),
        "still defined when off"
    );
    d.power_off(u, None).unwrap(); // already off
    d.power_on(u).unwrap();
    assert_eq!(d.power_state(u).unwrap(), Some(PowerState::Running));
    d.power_on(u).unwrap(); // already on
    d.reboot(u, Some(Duration::from_secs(5))).unwrap();
    assert_eq!(d.power_state(u).unwrap(), Some(PowerState::Running));
    d.reboot(u, None).unwrap();
    assert_eq!(d.power_state(u).unwrap(), Some(PowerState::Running));
    d.power_off(u, Some(Duration::from_secs(1))).unwrap();
    assert_eq!(d.power_state(u).unwrap(), Some(PowerState::Shutdown));
    d.spawn(&guest(u.clone())).unwrap(); // a defined, stopped guest is started
    assert_eq!(d.power_state(u).unwrap(), Some(PowerState::Running));
    // Upper-case UUIDs name the same guest.
    assert_eq!(
        d.power_state(&u.to_uppercase()).unwrap(),
        Some(PowerState::Running)
    );
    // A simulated guest's console is the driver's account of what happened to it.
    let console = d.console_log(u).unwrap();
    assert!(
        console.contains("vCPUs: 1") && console.contains("started"),
        "{console}"
    );

    // Pause/unpause keep it in memory; suspend saves it and resume restores it.
    d.pause(u).unwrap();
    assert_eq!(d.power_state(u).unwrap(), Some(PowerState::Paused));
    d.pause(u).unwrap(); // already paused
    d.unpause(u).unwrap();
    assert_eq!(d.power_state(u).unwrap(), Some(PowerState::Running));
    d.suspend(u).unwrap();
    assert_eq!(d.power_state(u).unwrap(), Some(PowerState::Shutdown));
    d.resume(u).unwrap();
    assert_eq!(d.power_state(u).unwrap(), Some(PowerState::Running));
    // Resize redefines the same domain with new resources, running or not.
    let bigger = GuestSpec {
        vcpus: 2,
        memory_mb: 128,
        ..guest(u.clone())
    };
    d.resize(&bigger, true).unwrap();
    assert_eq!(d.power_state(u).unwrap(), Some(PowerState::Running));
    d.resize(&guest(u.clone()), false).unwrap();
    assert_eq!(d.power_state(u).unwrap(), Some(PowerState::Shutdown));
    assert!(d
        .console_log(u)
        .unwrap()
        .contains("resized to 2 vCPU, 128 MB"));
    d.power_on(u).unwrap();
    // A snapshot of a guest without an image has nothing to copy.
    assert!(d.snapshot(u, None, &dir.join("snap")).is_err());
    // With its base image, the snapshot is a copy of that image (nothing writes to a
    // simulated disk).
    let base = dir.join("base.img");
    std::fs::write(&base, b"simulated disk bytes").unwrap();
    let src = ImageSource {
        id: "img-sim".into(),
        location: base.display().to_string(),
        sha256: None,
        disk_format: "raw".into(),
    };
    let format = d.snapshot(u, Some(&src), &dir.join("snap")).unwrap();
    assert_eq!(format, "raw");
    assert_eq!(
        std::fs::read(dir.join("snap")).unwrap(),
        b"simulated disk bytes"
    );

    for u in &uuids {
        d.destroy(u).unwrap();
        d.destroy(u).unwrap(); // twice is fine
    }
    let listed = d.list().unwrap();
    assert!(listed.iter().all(|x| !uuids.contains(&x.uuid)));
    let test_after = listed
        .iter()
        .find(|x| x.name == "test")
        .expect("test domain kept");
    assert_eq!(test_after, &test_dom, "libvirt's own domain untouched");

    assert_eq!(d.power_state(u).unwrap(), None);
    assert!(not_found(d.power_on(u)));
    assert!(not_found(d.power_off(u, None)));
    assert!(not_found(d.power_off(u, Some(Duration::from_millis(10)))));
    assert!(not_found(d.reboot(u, Some(Duration::from_secs(5)))));
    assert!(not_found(d.reboot(u, None)));
    // Garbage is never a path: not found, and destroy has nothing to do.
    assert!(not_found(d.power_on("../../etc")));
    assert_eq!(d.power_state("../../etc").unwrap(), None);
    d.destroy("../..").unwrap();
    assert!(dir.exists());
    assert!(matches!(
        d.spawn(&guest("not-a-uuid".into())),
        Err(VirtError::Libvirt { .. })
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn concurrent_spawns_of_one_guest_make_one_domain() {
    let dir = scratch("race");
    let d = Arc::new(LibvirtDriver::open("test:///default", opts(&dir, "test")).unwrap());
    let u = uuid(500);
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (d, u) = (d.clone(), u.clone());
            std::thread::spawn(move || d.spawn(&guest(u)))
        })
        .collect();
    for t in threads {
        t.join().unwrap().unwrap();
    }
    let listed = d.list().unwrap();
    assert_eq!(listed.iter().filter(|x| x.uuid == u).count(), 1);
    assert_eq!(d.power_state(&u).unwrap(), Some(PowerState::Running));
    d.destroy(&u).unwrap();
    assert_eq!(d.power_state(&u).unwrap(), None);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn simulated_guests_cannot_hot_plug_interfaces_but_take_nmis() {
    let dir = scratch("test-nic");
    let d = LibvirtDriver::open("test:///default", opts(&dir, "test")).unwrap();
    let u = uuid(900);
    d.spawn(&guest(u.clone())).unwrap();
    let nic = Nic {
        mac: "fa:16:3e:00:09:00".into(),
        device: "tapmctest900".into(),
    };
    // libvirt's test driver has no device hot-plug: said so, not a libvirt failure.
    match d.attach_interface(&u, &nic) {
        Err(e @ VirtError::Unsupported { .. }) => {
            assert!(e.to_string().contains("attaching interfaces"), "{e}")
        }
        other => panic!("attach on test:///default: {other:?}"),
    }
    // Diagnostics: its state, one entry per vCPU, its memory; nothing more is simulated.
    let diag = d.diagnostics(&u).unwrap();
    assert_eq!(
        (diag.state.as_str(), diag.hypervisor.as_str()),
        ("running", "test")
    );
    assert_eq!(diag.cpus.len(), 1, "{diag:?}");
    assert_eq!(diag.memory_max_kib, Some(64 * 1024), "{diag:?}");
    assert!(not_found(d.diagnostics(&uuid(901))));
    // It takes NMIs (and drops them) while the guest runs; a stopped guest has none.
    d.inject_nmi(&u).unwrap();
    d.power_off(&u, None).unwrap();
    assert!(matches!(d.inject_nmi(&u), Err(VirtError::NotRunning(_))));
    // The guest has no such NIC: nothing to unplug.
    d.detach_interface(&u, &nic, Duration::from_secs(1))
        .unwrap();
    assert!(not_found(d.attach_interface(&uuid(901), &nic)));
    d.destroy(&u).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unknown_uri_is_a_connect_error() {
    let err = LibvirtDriver::open("nosuch:///x", LibvirtOptions::default())
        .err()
        .expect("must fail");
    assert!(matches!(err, VirtError::Connect { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.starts_with("cannot connect to libvirt at nosuch:///x: "),
        "{text}"
    );
    assert!(!text.contains('\n'), "one line: {text}");
}

// ---- qemu:///system ------------------------------------------------------------------

fn skip_qemu(test: &str) -> bool {
    if std::env::var("METACLOUD_SKIP_QEMU").as_deref() == Ok("1") {
        // Straight to stderr: the test harness captures only the print macros.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {test}: qemu:///system tests (METACLOUD_SKIP_QEMU=1)"
        );
        return true;
    }
    false
}

const QEMU: &str = "qemu:///system";

fn virsh(args: &[&str]) -> String {
    let out = Command::new("virsh")
        .args(["-c", QEMU])
        .args(args)
        .output()
        .expect("virsh");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Destroys its guests even when a test fails half-way (libvirtd is shared).
struct Cleanup<'a>(&'a LibvirtDriver, Vec<String>);
impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        for u in &self.1 {
            let _ = self.0.destroy(u);
        }
    }
}

fn qemu_img_info(path: &Path) -> serde_json::Value {
    let out = Command::new("qemu-img")
        .args(["info", "-U", "--output=json"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn sha256_hex(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(std::fs::read(path).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn real_qemu_guest_without_disk() {
    if skip_qemu("real_qemu_guest_without_disk") {
        return;
    }
    let dir = scratch("qemu");
    let d = LibvirtDriver::open(QEMU, opts(&dir, "qemu")).unwrap();
    let node = d.node_info().unwrap();
    assert_eq!(node.hypervisor_type, "QEMU");
    assert!(
        node.vcpus >= 1 && node.memory_mb > 0 && node.disk_gb > 0,
        "{node:?}"
    );
    let u = uuid(1000);
    let name = format!("instance-{u}");
    let _cleanup = Cleanup(&d, vec![u.clone()]);
    d.spawn(&guest(u.clone())).unwrap();
    d.spawn(&guest(u.clone())).unwrap(); // idempotent
    assert_eq!(d.power_state(&u).unwrap(), Some(PowerState::Running));
    assert_eq!(virsh(&["domstate", &name]).trim(), "running");
    let xml = virsh(&["dumpxml", &name]);
    assert!(xml.contains("type='qemu'"), "{xml}");
    assert!(xml.contains("console.log"), "{xml}");
    assert!(xml.contains("graphics type='vnc'") && xml.contains("graphics type='spice'"));
    let instance_dir = dir.join("instances").join(&u);
    assert!(instance_dir.is_dir(), "console.log's directory");
    assert!(d
        .list()
        .unwrap()
        .iter()
        .any(|x| x.uuid == u && x.state == PowerState::Running));
    // virtlogd creates the log once the chardev is up.
    assert!(instance_dir.join("console.log").exists());
    d.console_log(&u).unwrap();

    // Nothing answers ACPI in the BIOS: the graceful stop falls back to a hard one.
    d.power_off(&u, Some(Duration::from_secs(1))).unwrap();
    assert_eq!(d.power_state(&u).unwrap(), Some(PowerState::Shutdown));
    assert_eq!(virsh(&["domstate", &name]).trim(), "shut off");
    d.power_on(&u).unwrap();
    assert_eq!(d.power_state(&u).unwrap(), Some(PowerState::Running));
    d.reboot(&u, None).unwrap();
    d.reboot(&u, Some(Duration::from_secs(5))).unwrap();
    assert_eq!(d.power_state(&u).unwrap(), Some(PowerState::Running));
    // Nova's trigger_crash_dump: an NMI reaches a running guest; a stopped one has none.
    d.inject_nmi(&u).unwrap();
    assert_eq!(d.power_state(&u).unwrap(), Some(PowerState::Running));

    d.power_off(&u, None).unwrap();
    assert!(matches!(d.inject_nmi(&u), Err(VirtError::NotRunning(_))));
    d.destroy(&u).unwrap();
    assert_eq!(d.power_state(&u).unwrap(), None);
    let all = virsh(&["list", "--all", "--name"]);
    assert!(!all.contains(&name), "virsh list --all still has it: {all}");
    assert!(!instance_dir.exists());
    d.destroy(&u).unwrap();
    assert!(not_found(d.power_on(&u)));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A port's NIC plugged into a running QEMU guest and its definition, its tap made; with
/// no OS to acknowledge the unplug (a BIOS only), a live detach times out and leaves the
/// NIC; once the guest is off, the detach takes it out of the definition.
#[test]
fn real_qemu_guests_take_hot_plugged_interfaces() {
    if skip_qemu("real_qemu_guests_take_hot_plugged_interfaces") {
        return;
    }
    let dir = scratch("qemu-nic");
    let d = LibvirtDriver::open(QEMU, opts(&dir, "qemu")).unwrap();
    let u = uuid(1100);
    let name = format!("instance-{u}");
    let _cleanup = Cleanup(&d, vec![u.clone()]);
    d.spawn(&guest(u.clone())).unwrap();
    let tap = format!("tapmc{:06x}", std::process::id() & 0xff_ffff);
    let nic = Nic {
        mac: "fa:16:3e:00:11:00".into(),
        device: tap.clone(),
    };
    d.attach_interface(&u, &nic).unwrap();
    d.attach_interface(&u, &nic).unwrap(); // already there: a no-op
    let live = virsh(&["dumpxml", &name]);
    assert_eq!(live.matches("fa:16:3e:00:11:00").count(), 1, "{live}");
    assert!(live.contains(&format!("<target dev='{tap}'/>")), "{live}");
    let config = virsh(&["dumpxml", "--inactive", &name]);
    assert!(config.contains("fa:16:3e:00:11:00"), "{config}");
    assert!(
        Path::new("/sys/class/net").join(&tap).exists(),
        "libvirt made the tap {tap}"
    );
    // Diagnostics name the NIC by its MAC and tap, with the counters the tap keeps.
    let diag = d.diagnostics(&u).unwrap();
    assert_eq!(diag.state, "running");
    let n = diag
        .nics
        .iter()
        .find(|n| n.device == tap)
        .unwrap_or_else(|| panic!("no {tap} in {diag:?}"));
    assert_eq!(n.mac.as_deref(), Some("fa:16:3e:00:11:00"));
    assert!(n.rx_packets.is_some() && n.tx_octets.is_some(), "{n:?}");
    assert!(diag.cpus.iter().all(|c| c.time_ns.is_some()), "{diag:?}");
    match d.detach_interface(&u, &nic, Duration::from_secs(2)) {
        Err(VirtError::DetachTimeout { .. }) => {}
        other => panic!("a BIOS cannot let a NIC go: {other:?}"),
    }
    d.power_off(&u, None).unwrap();
    d.detach_interface(&u, &nic, Duration::from_secs(2))
        .unwrap();
    let config = virsh(&["dumpxml", "--inactive", &name]);
    assert!(!config.contains("fa:16:3e:00:11:00"), "{config}");
    d.power_on(&u).unwrap();
    assert!(!virsh(&["dumpxml", &name]).contains("fa:16:3e:00:11:00"));
    d.destroy(&u).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn images_are_cached_verified_and_overlaid() {
    if skip_qemu("images_are_cached_verified_and_overlaid") {
        return;
    }
    let dir = scratch("image");
    let base = dir.join("base.img");
    let ok = Command::new("qemu-img")
        .args(["create", "-q", "-f", "raw"])
        .arg(&base)
        .arg("16M")
        .status()
        .unwrap();
    assert!(ok.success());
    let d = LibvirtDriver::open(QEMU, opts(&dir, "qemu")).unwrap();
    let cache = dir.join("cache");

    // A wrong checksum: an Image error, and nothing left behind.
    let bad_uuid = uuid(2000);
    let bad = GuestSpec {
        image: Some(ImageSource {
            id: "img-bad".into(),
            location: base.display().to_string(),
            sha256: Some("00".repeat(32)),
            disk_format: "raw".into(),
        }),
        ..guest(bad_uuid.clone())
    };
    let err = d.spawn(&bad).unwrap_err();
    assert!(matches!(err, VirtError::Image { .. }), "{err}");
    assert!(err.to_string().contains("checksum mismatch"), "{err}");
    assert!(!cache.join("img-bad").exists(), "no half image left");
    let leftovers: Vec<_> = std::fs::read_dir(&cache).unwrap().collect();
    assert!(leftovers.is_empty(), "no temp files: {leftovers:?}");
    assert!(!dir.join("instances").join(&bad_uuid).exists());
    assert_eq!(d.power_state(&bad_uuid).unwrap(), None);

    // A missing image file and an unknown format are Image errors too.
    let missing = GuestSpec {
        image: Some(ImageSource {
            id: "img-missing".into(),
            location: dir.join("nope.img").display().to_string(),
            sha256: None,
            disk_format: "raw".into(),
        }),
        ..guest(uuid(2003))
    };
    assert!(matches!(d.spawn(&missing), Err(VirtError::Image { .. })));
    assert!(!cache.join("img-missing").exists());

    // The right checksum, a file:// URL, the base's own size (root_gb 0).
    let u = uuid(2001);
    let u_big = uuid(2002);
    let _cleanup = Cleanup(&d, vec![u.clone(), u_big.clone()]);
    let image = ImageSource {
        id: "img-good".into(),
        location: format!("file://{}", base.display()),
        sha256: Some(sha256_hex(&base)),
        disk_format: "raw".into(),
    };
    d.spawn(&GuestSpec {
        image: Some(image.clone()),
        ..guest(u.clone())
    })
    .unwrap();
    assert_eq!(d.power_state(&u).unwrap(), Some(PowerState::Running));
    let cached = cache.join("img-good");
    assert!(cached.is_file());
    assert_eq!(sha256_hex(&cached), sha256_hex(&base));
    let disk = dir.join("instances").join(&u).join("disk");
    let info = qemu_img_info(&disk);
    assert_eq!(info["format"], "qcow2", "{info}");
    assert_eq!(
        info["backing-filename"],
        cached.display().to_string(),
        "{info}"
    );
    assert_eq!(info["backing-filename-format"], "raw", "{info}");
    assert_eq!(
        info["virtual-size"],
        16 << 20,
        "never smaller than the base: {info}"
    );
    let xml = virsh(&["dumpxml", &format!("instance-{u}")]);
    assert!(xml.contains(&disk.display().to_string()), "{xml}");

    // A second guest of the same image reuses the cache and grows to root_gb.
    d.spawn(&GuestSpec {
        root_gb: 1,
        image: Some(image),
        ..guest(u_big.clone())
    })
    .unwrap();
    let disk_big = dir.join("instances").join(&u_big).join("disk");
    let info = qemu_img_info(&disk_big);
    assert_eq!(info["virtual-size"], 1u64 << 30, "{info}");
    assert_eq!(
        info["backing-filename"],
        cached.display().to_string(),
        "{info}"
    );
    let cache_files: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(cache_files, vec![std::ffi::OsString::from("img-good")]);

    d.destroy(&u).unwrap();
    d.destroy(&u_big).unwrap();
    assert!(!disk.exists() && !disk_big.exists());
    assert!(cached.is_file(), "the cache outlives its guests");
    let all = virsh(&["list", "--all", "--name"]);
    assert!(!all.contains(&u) && !all.contains(&u_big), "{all}");
    let _ = std::fs::remove_dir_all(&dir);
}
