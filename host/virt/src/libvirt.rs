//! [`Driver`] on libvirt: `test:///default` (simulated) and `qemu:///system` (real guests).
//!
//! Files of a real host:
//! - `{image_cache_path}/{image id}`: base images, copied once from the image store, verified
//!   against their SHA-256 and renamed into place atomically (a crash leaves at most a
//!   `.{id}.part-*` temp file, never a half image under the real name);
//! - `{instances_path}/{uuid}/disk`: the guest's qcow2 overlay over its base image;
//! - `{instances_path}/{uuid}/console.log`: the serial console, written by virtlogd.

use crate::{
    domain_name, BootCheck, DomainInfo, Driver, GuestSpec, ImageSource, NodeInfo, PowerState,
    VirtError,
};
use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};
use virt::connect::Connect;
use virt::domain::{
    Domain, DomainCrashedReason, DomainPausedReason, DomainShutoffReason, DomainState,
    DomainStateEnum, DomainStateReason, DomainStateReasonEnum,
};
use virt::error::ErrorNumber;
use virt::sys;

/// Where a libvirt driver keeps files and what it reports.
#[derive(Debug, Clone, Default)]
pub struct LibvirtOptions {
    /// Per-instance directories: overlay disk and console log.
    pub instances_path: PathBuf,
    /// Base images, one file per image id.
    pub image_cache_path: PathBuf,
    /// Domain type: `test` for `test:///`, `qemu` (TCG) or `kvm`; `auto` detects it
    /// ([`crate::detect`]). Empty means `test` on `test:` URIs and `qemu` elsewhere.
    pub domain_type: String,
    /// The compute host this driver serves, written into each domain's metadata: only
    /// domains naming it are this host's to clean up.
    pub owner: String,
    /// Where guests' VNC and SPICE servers listen (empty: 127.0.0.1).
    pub graphics_listen: String,
    /// Replaces the CPU count libvirt reports.
    pub override_vcpus: Option<u64>,
    /// Replaces the memory libvirt reports.
    pub override_memory_mb: Option<u64>,
    /// Replaces the size of the file system holding `instances_path`.
    pub override_disk_gb: Option<u64>,
}

/// A hypervisor reached through libvirt.
///
/// One connection shared by all threads (libvirt connections are thread-safe); it is
/// reopened when libvirt reports it dead (e.g. libvirtd restarted). Operations on one
/// instance are serialized, so two concurrent `spawn`s of the same guest cannot undo
/// each other.
pub struct LibvirtDriver {
    uri: String,
    conn: RwLock<Connect>,
    opts: LibvirtOptions,
    busy: Mutex<HashSet<String>>,
    released: Condvar,
}

/// Holds the per-instance lock until dropped.
struct InstanceLock<'a> {
    driver: &'a LibvirtDriver,
    uuid: String,
}

impl Drop for InstanceLock<'_> {
    fn drop(&mut self) {
        let mut busy = self.driver.busy.lock().unwrap_or_else(|p| p.into_inner());
        busy.remove(&self.uuid);
        self.driver.released.notify_all();
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn lv(uuid: &str) -> impl Fn(virt::error::Error) -> VirtError + '_ {
    move |e| VirtError::Libvirt {
        uuid: uuid.to_string(),
        reason: one_line(e.message()),
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> VirtError + '_ {
    move |e| VirtError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

fn is_code(e: &virt::error::Error, code: ErrorNumber) -> bool {
    e.code().is(code)
}

/// The canonical (lowercase, hyphenated) form of a UUID, or `None` when `s` is not one.
/// Everything that turns a UUID into a path goes through this, so no `..` or `/` can
/// escape `instances_path`.
pub fn canonical_uuid(s: &str) -> Option<String> {
    let s = s.trim();
    let ok = s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    ok.then(|| s.to_ascii_lowercase())
}

fn power_of(state: &DomainStateEnum) -> PowerState {
    match state.known() {
        Some(DomainState::Running | DomainState::Blocked) => PowerState::Running,
        Some(DomainState::Paused) => PowerState::Paused,
        Some(DomainState::Shutdown | DomainState::Shutoff) => PowerState::Shutdown,
        Some(DomainState::Crashed) => PowerState::Crashed,
        Some(DomainState::PMSuspended) => PowerState::Suspended,
        _ => PowerState::NoState,
    }
}

/// What a domain's state and reason say about a guest that should be booting: a failure
/// in words, or that someone stopped it on purpose.
fn judge(state: &DomainStateEnum, reason: &DomainStateReasonEnum) -> (Option<String>, bool) {
    use virt::enumutil::Enum::Known;
    let Known(reason) = reason else {
        return (None, false);
    };
    match (state.known(), reason) {
        (
            Some(DomainState::Crashed),
            DomainStateReason::Crashed(Known(DomainCrashedReason::Panicked)),
        ) => (Some("the guest kernel panicked".into()), false),
        (Some(DomainState::Crashed), _) => (Some("the guest crashed".into()), false),
        (_, DomainStateReason::Paused(Known(why))) => match why {
            DomainPausedReason::IOError => (
                Some("the hypervisor paused the guest on a disk I/O error".into()),
                false,
            ),
            DomainPausedReason::Watchdog => (Some("the guest's watchdog fired".into()), false),
            DomainPausedReason::Crashed => {
                (Some("the guest panicked and was paused".into()), false)
            }
            DomainPausedReason::Unknown | DomainPausedReason::APIError => (
                Some("the hypervisor paused the guest on an internal error".into()),
                false,
            ),
            _ => (None, true),
        },
        (_, DomainStateReason::Shutoff(Known(why))) => match why {
            DomainShutoffReason::Crashed => {
                (Some("the guest crashed and was stopped".into()), false)
            }
            DomainShutoffReason::Failed => (Some("the guest failed to start".into()), false),
            _ => (None, true),
        },
        (_, DomainStateReason::PMSuspended(_)) => (None, true),
        _ => (None, false),
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&apos;")
        .replace('"', "&quot;")
}

/// The XML namespace of the domain metadata this product writes.
pub const METADATA_NS: &str = "https://metacloud.dev/xmlns/libvirt/instance/1";

/// `<metadata>` naming the compute host that made the domain (empty: none).
fn owner_metadata(owner: &str) -> String {
    if owner.is_empty() {
        return String::new();
    }
    format!(
        "<metadata><metacloud:instance xmlns:metacloud='{METADATA_NS}'>\
         <metacloud:host>{}</metacloud:host></metacloud:instance></metadata>",
        xml_escape(owner)
    )
}

/// The host named in our metadata element (libvirt returns it without the prefix:
/// `<instance><host>…</host></instance>`).
fn owner_of(metadata: &str) -> Option<String> {
    let start = metadata.find("host>")? + "host>".len();
    let end = start + metadata[start..].find("</")?;
    let host = &metadata[start..end];
    let host = host
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&apos;", "'")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    (!host.is_empty()).then_some(host)
}

/// The guest's NICs: for each port a tap libvirt makes (`type='ethernet'`) with the port's
/// MAC, attached to its network by the network worker; without ports, one user-mode NIC.
fn nics_xml(nics: &[crate::Nic]) -> String {
    if nics.is_empty() {
        return "    <interface type='user'>\n      <model type='virtio'/>\n    </interface>"
            .into();
    }
    nics.iter()
        .map(|n| format!("    {}", nic_xml(n)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// One port's interface element, as defined at spawn and hot-plugged later.
fn nic_xml(n: &crate::Nic) -> String {
    format!(
        "<interface type='ethernet'>\n      <mac address='{}'/>\n      \
         <target dev='{}'/>\n      <model type='virtio'/>\n    </interface>",
        xml_escape(&n.mac),
        xml_escape(&n.device)
    )
}

/// Whether the domain's live (or, `live` false, persistent) definition has a NIC with
/// `mac`.
fn has_nic(uuid: &str, dom: &Domain, mac: &str, live: bool) -> Result<bool, VirtError> {
    let flags = if live {
        0
    } else {
        sys::VIR_DOMAIN_XML_INACTIVE
    };
    let xml = dom.xml_desc(flags).map_err(lv(uuid))?;
    Ok(xml.contains(&format!(
        "<mac address='{}'/>",
        xml_escape(&mac.to_ascii_lowercase())
    )))
}

/// A libvirt error, or [`VirtError::Unsupported`] when the driver lacks `what`.
fn lv_or_unsupported<'a>(
    uuid: &'a str,
    what: &'a str,
) -> impl Fn(virt::error::Error) -> VirtError + 'a {
    move |e| {
        if is_code(&e, ErrorNumber::NoSupport) {
            VirtError::Unsupported {
                uuid: uuid.to_string(),
                what: what.to_string(),
            }
        } else {
            lv(uuid)(e)
        }
    }
}

/// The domain XML of a guest.
///
/// `domain_type` `test` gives the minimal domain libvirt's test driver accepts; any other
/// type gives a full QEMU guest: ACPI, serial console logged to `console_log`, VNC and
/// SPICE on `graphics_listen` (default 127.0.0.1), its NICs (a tap per port, or one
/// user-mode NIC) and, when `disk` is given, a virtio qcow2 root disk. No `<cpu>` element:
/// the hypervisor's default model, never host-passthrough.
pub fn domain_xml(
    opts: &LibvirtOptions,
    spec: &GuestSpec,
    disk: Option<&Path>,
    console_log: &Path,
) -> String {
    let domain_type = opts.domain_type.as_str();
    let name = xml_escape(&domain_name(&spec.uuid));
    let uuid = xml_escape(&spec.uuid);
    let metadata = owner_metadata(&opts.owner);
    let listen = xml_escape(if opts.graphics_listen.is_empty() {
        "127.0.0.1"
    } else {
        &opts.graphics_listen
    });
    let memory_kib = spec.memory_mb.saturating_mul(1024);
    let vcpus = spec.vcpus.max(1);
    if domain_type == "test" {
        return format!(
            "<domain type='test'><name>{name}</name><uuid>{uuid}</uuid>{metadata}\
             <memory unit='KiB'>{memory_kib}</memory><vcpu>{vcpus}</vcpu>\
             <os><type>hvm</type></os></domain>"
        );
    }
    let disk = disk
        .map(|d| {
            format!(
                "\n    <disk type='file' device='disk'>\
                 \n      <driver name='qemu' type='qcow2'/>\
                 \n      <source file='{}'/>\
                 \n      <target dev='vda' bus='virtio'/>\
                 \n    </disk>",
                xml_escape(&d.display().to_string())
            )
        })
        .unwrap_or_default();
    let nics = nics_xml(&spec.nics);
    format!(
        "<domain type='{dtype}'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  {metadata}
  <memory unit='KiB'>{memory_kib}</memory>
  <vcpu>{vcpus}</vcpu>
  <os>
    <type arch='{arch}'>hvm</type>
    <boot dev='hd'/>
  </os>
  <features>
    <acpi/>
  </features>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>{disk}
{nics}
    <serial type='pty'>
      <log file='{console}' append='on'/>
      <target port='0'/>
    </serial>
    <console type='pty'>
      <target type='serial' port='0'/>
    </console>
    <graphics type='vnc' autoport='yes' listen='{listen}'/>
    <graphics type='spice' autoport='yes' listen='{listen}'/>
    <video>
      <model type='virtio'/>
    </video>
  </devices>
</domain>
",
        dtype = xml_escape(domain_type),
        arch = std::env::consts::ARCH,
        console = xml_escape(&console_log.display().to_string()),
    )
}

impl LibvirtDriver {
    /// Connects to `uri`; an unreachable or unknown URI is one clear error.
    pub fn open(uri: &str, mut opts: LibvirtOptions) -> Result<LibvirtDriver, VirtError> {
        // libvirt's default handler prints every error itself; ours are returned as values.
        virt::error::clear_error_callback();
        let conn = Connect::open(Some(uri)).map_err(|e| VirtError::Connect {
            uri: uri.to_string(),
            reason: one_line(e.message()),
        })?;
        if uri.starts_with("test:") && matches!(opts.domain_type.as_str(), "" | "auto") {
            opts.domain_type = "test".into();
        } else if opts.domain_type.is_empty() {
            opts.domain_type = "qemu".into();
        } else if opts.domain_type == "auto" {
            let (chosen, why) = crate::detect::choose(&crate::detect::probe(&conn));
            tracing::info!(%uri, virt_type = chosen, reason = %why, "virt type detected");
            opts.domain_type = chosen.into();
        }
        // qemu-img resolves relative backing files against the overlay's directory and
        // libvirt wants absolute paths: make both roots absolute once.
        for p in [&mut opts.instances_path, &mut opts.image_cache_path] {
            if !p.as_os_str().is_empty() {
                *p = std::path::absolute(&*p).map_err(io(p))?;
            }
        }
        Ok(LibvirtDriver {
            uri: uri.to_string(),
            conn: RwLock::new(conn),
            opts,
            busy: Mutex::new(HashSet::new()),
            released: Condvar::new(),
        })
    }

    /// The options in force (paths made absolute, domain type filled in).
    pub fn options(&self) -> &LibvirtOptions {
        &self.opts
    }

    fn simulated(&self) -> bool {
        self.uri.starts_with("test:")
    }

    /// A simulated guest has no serial port: its console log is the driver's own account of
    /// what happened to the domain, one line per event, so the console APIs have the log a
    /// simulated host can honestly give. Real guests write theirs through libvirt.
    fn simulated_console(&self, uuid: &str, event: &str) {
        if !self.simulated() || self.opts.instances_path.as_os_str().is_empty() {
            return;
        }
        let dir = self.instance_dir(uuid);
        let line = format!("[simulated {}] instance-{uuid}: {event}\n", self.uri);
        let written = std::fs::create_dir_all(&dir).and_then(|()| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("console.log"))
                .and_then(|mut f| f.write_all(line.as_bytes()))
        });
        if let Err(e) = written {
            tracing::warn!(instance = %uuid, error = %e, "cannot write the simulated console log");
        }
    }

    fn connect_err(&self) -> impl Fn(virt::error::Error) -> VirtError + '_ {
        move |e| VirtError::Connect {
            uri: self.uri.clone(),
            reason: one_line(e.message()),
        }
    }

    /// The live connection, reopened if libvirt closed it.
    fn conn(&self) -> Result<Connect, VirtError> {
        {
            let c = self.conn.read().unwrap_or_else(|p| p.into_inner());
            if c.is_alive().unwrap_or(false) {
                return Ok(c.clone());
            }
        }
        let mut c = self.conn.write().unwrap_or_else(|p| p.into_inner());
        if c.is_alive().unwrap_or(false) {
            return Ok(c.clone());
        }
        let fresh = Connect::open(Some(&self.uri)).map_err(self.connect_err())?;
        tracing::warn!(uri = %self.uri, "libvirt connection was lost; reconnected");
        *c = fresh.clone();
        Ok(fresh)
    }

    /// Serializes operations on one instance (within this process).
    fn lock(&self, uuid: &str) -> InstanceLock<'_> {
        let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        while busy.contains(uuid) {
            busy = self.released.wait(busy).unwrap_or_else(|p| p.into_inner());
        }
        busy.insert(uuid.to_string());
        InstanceLock {
            driver: self,
            uuid: uuid.to_string(),
        }
    }

    /// The domain of `uuid` (canonical), `None` if libvirt has none.
    fn lookup(&self, uuid: &str) -> Result<Option<Domain>, VirtError> {
        match self.conn()?.lookup_domain_by_uuid_string(uuid) {
            Ok(d) => Ok(Some(d)),
            Err(e) if is_code(&e, ErrorNumber::NoDomain) => Ok(None),
            Err(e) => Err(lv(uuid)(e)),
        }
    }

    /// The domain of `uuid` (as given by the caller), or `NotFound`.
    fn require(&self, uuid: &str) -> Result<(String, Domain), VirtError> {
        let canonical =
            canonical_uuid(uuid).ok_or_else(|| VirtError::NotFound(uuid.to_string()))?;
        let dom = self
            .lookup(&canonical)?
            .ok_or_else(|| VirtError::NotFound(uuid.to_string()))?;
        Ok((canonical, dom))
    }

    fn instance_dir(&self, canonical_uuid: &str) -> PathBuf {
        self.opts.instances_path.join(canonical_uuid)
    }

    /// The cached base image of `image`, fetched once; verified, written atomically.
    fn cached_image(&self, image: &ImageSource) -> Result<PathBuf, VirtError> {
        let err = |reason: String| VirtError::Image {
            id: image.id.clone(),
            reason,
        };
        if image.id.is_empty()
            || image.id.len() > 200
            || image.id.starts_with('.')
            || image.id.contains(['/', '\\', '\0'])
        {
            return Err(err("invalid image id".into()));
        }
        let cache = &self.opts.image_cache_path;
        std::fs::create_dir_all(cache).map_err(io(cache))?;
        let path = cache.join(&image.id);
        if path.is_file() {
            return Ok(path);
        }
        let source = local_path(&image.location);
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let tmp = cache.join(format!(
            ".{}.part-{}-{}",
            image.id,
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let result = (|| {
            let actual = copy_hashing(&source, &tmp)
                .map_err(|e| err(format!("cannot copy {}: {e}", source.display())))?;
            if let Some(expected) = &image.sha256 {
                if !actual.eq_ignore_ascii_case(expected.trim()) {
                    return Err(err(format!(
                        "checksum mismatch: expected sha256 {expected}, got {actual}"
                    )));
                }
            }
            std::fs::rename(&tmp, &path).map_err(io(&path))?;
            // Make the rename itself durable.
            if let Ok(dir) = std::fs::File::open(cache) {
                let _ = dir.sync_all();
            }
            Ok(())
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        tracing::info!(image = %image.id, path = %path.display(), "image cached");
        Ok(path)
    }

    /// A qcow2 overlay over the cached base for one instance, grown to `root_gb`.
    fn make_overlay(&self, spec: &GuestSpec, image: &ImageSource) -> Result<PathBuf, VirtError> {
        let format = match image.disk_format.as_str() {
            "raw" => "raw",
            "qcow2" => "qcow2",
            other => {
                return Err(VirtError::Image {
                    id: image.id.clone(),
                    reason: format!("unsupported disk format {other:?} (raw or qcow2)"),
                })
            }
        };
        let base = self.cached_image(image)?;
        let img_err = |reason: String| VirtError::Image {
            id: image.id.clone(),
            reason,
        };
        let base_size = virtual_size(&base, format).map_err(img_err)?;
        let disk = self.instance_dir(&spec.uuid).join("disk");
        let mut cmd = Command::new("qemu-img");
        cmd.args(["create", "-q", "-f", "qcow2", "-F", format, "-b"])
            .arg(&base)
            .arg(&disk);
        // Only ever grow: without a size the overlay has the base's virtual size.
        if spec.root_gb > 0 && spec.root_gb.saturating_mul(1 << 30) > base_size {
            cmd.arg(format!("{}G", spec.root_gb));
        }
        run(&mut cmd).map_err(img_err)?;
        Ok(disk)
    }

    fn spawn_new(&self, spec: &GuestSpec) -> Result<(), VirtError> {
        let mut disk = None;
        let dir = self.instance_dir(&spec.uuid);
        if !self.simulated() {
            std::fs::create_dir_all(&dir).map_err(io(&dir))?;
            if let Some(image) = &spec.image {
                disk = Some(self.make_overlay(spec, image)?);
            }
        }
        let xml = domain_xml(&self.opts, spec, disk.as_deref(), &dir.join("console.log"));
        tracing::debug!(instance = %spec.uuid, %xml, "defining domain");
        let dom = self
            .conn()?
            .define_domain_xml(&xml)
            .map_err(lv(&spec.uuid))?;
        dom.create().map_err(lv(&spec.uuid))?;
        let image = spec
            .image
            .as_ref()
            .map(|i| format!("image {} ({})", i.id, i.disk_format))
            .unwrap_or_else(|| "no image".into());
        for event in [
            "domain defined".to_string(),
            format!("vCPUs: {}", spec.vcpus),
            format!("memory: {} MB", spec.memory_mb),
            format!("root disk: {} GB from {image}", spec.root_gb),
            "started".to_string(),
        ] {
            self.simulated_console(&spec.uuid, &event);
        }
        tracing::info!(instance = %spec.uuid, uri = %self.uri, "guest started");
        Ok(())
    }

    fn destroy_locked(&self, uuid: &str) -> Result<(), VirtError> {
        if let Some(dom) = self.lookup(uuid)? {
            if dom.is_active().map_err(lv(uuid))? {
                if let Err(e) = dom.destroy() {
                    // It may have stopped by itself meanwhile.
                    if dom.is_active().unwrap_or(true) {
                        return Err(lv(uuid)(e));
                    }
                }
            }
            let all = sys::VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
                | sys::VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
                | sys::VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA
                | sys::VIR_DOMAIN_UNDEFINE_NVRAM;
            let basic =
                sys::VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | sys::VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA;
            // Drivers reject flags they do not know (the test driver knows fewer).
            let undefined = dom
                .undefine_flags(all)
                .or_else(|_| dom.undefine_flags(basic))
                .or_else(|_| dom.undefine());
            if let Err(e) = undefined {
                if !is_code(&e, ErrorNumber::NoDomain) {
                    return Err(lv(uuid)(e));
                }
            }
            tracing::info!(instance = %uuid, uri = %self.uri, "guest destroyed");
        }
        let dir = self.instance_dir(uuid);
        if !self.opts.instances_path.as_os_str().is_empty() {
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&dir)(e)),
            }
        }
        Ok(())
    }
}

/// Asks the guest to shut down (ACPI) and waits up to `timeout` for it to stop; `false`
/// when it is still running then, or refused the request.
fn shut_down_within(uuid: &str, dom: &Domain, timeout: Duration) -> Result<bool, VirtError> {
    if let Err(e) = dom.shutdown() {
        tracing::info!(instance = %uuid, error = %one_line(e.message()), "ACPI shutdown refused");
        return Ok(false);
    }
    let start = Instant::now();
    loop {
        if !dom.is_active().map_err(lv(uuid))? {
            return Ok(true);
        }
        if start.elapsed() >= timeout {
            tracing::info!(instance = %uuid, "guest ignored the ACPI shutdown");
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `location` as a local path: a plain path or a `file://` URL (percent-escapes decoded).
fn local_path(location: &str) -> PathBuf {
    let Some(rest) = location.strip_prefix("file://") else {
        return PathBuf::from(location);
    };
    // file://host/path is not ours to reach; file:///path and file://localhost/path are.
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    let bytes = rest.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    use std::os::unix::ffi::OsStringExt;
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

/// Copies `from` to `to` (created new, synced), returning the hex SHA-256 of the bytes.
fn copy_hashing(from: &Path, to: &Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    let mut src = std::fs::File::open(from)?;
    let mut dst = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        dst.write_all(&buf[..n])?;
    }
    dst.sync_all()?;
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Runs a command; its stderr (one line) on failure.
fn run(cmd: &mut Command) -> Result<Vec<u8>, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "{:?} failed ({}): {}",
            cmd.get_program(),
            out.status,
            one_line(&stderr)
        ));
    }
    Ok(out.stdout)
}

/// The virtual size in bytes of an image, from `qemu-img info`.
fn virtual_size(path: &Path, format: &str) -> Result<u64, String> {
    let stdout = run(Command::new("qemu-img")
        .args(["info", "-U", "--output=json", "-f", format])
        .arg(path))?;
    let info: serde_json::Value =
        serde_json::from_slice(&stdout).map_err(|e| format!("qemu-img info output: {e}"))?;
    info.get("virtual-size")
        .and_then(|v| v.as_u64())
        .ok_or_else(|| "qemu-img info reports no virtual-size".to_string())
}

/// Size in GiB of the file system holding `path` (or its nearest existing ancestor).
fn disk_total_gb(path: &Path) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    let probe = path
        .ancestors()
        .find(|p| !p.as_os_str().is_empty() && p.exists())
        .unwrap_or(Path::new("/"));
    let Ok(c_path) = std::ffi::CString::new(probe.as_os_str().as_bytes()) else {
        return 0;
    };
    // SAFETY: statvfs only writes into the struct we own; the path is NUL-terminated.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut st) } != 0 {
        return 0;
    }
    (st.f_blocks as u64).saturating_mul(st.f_frsize as u64) >> 30
}

impl Driver for LibvirtDriver {
    fn node_info(&self) -> Result<NodeInfo, VirtError> {
        let conn = self.conn()?;
        let info = conn.node_info().map_err(self.connect_err())?;
        Ok(NodeInfo {
            vcpus: self.opts.override_vcpus.unwrap_or(u64::from(info.cpus)),
            memory_mb: self.opts.override_memory_mb.unwrap_or(info.memory / 1024),
            disk_gb: self
                .opts
                .override_disk_gb
                .unwrap_or_else(|| disk_total_gb(&self.opts.instances_path)),
            cpu_arch: std::env::consts::ARCH.to_string(),
            hypervisor_type: conn.driver_type().map_err(self.connect_err())?,
            hypervisor_version: u64::from(conn.hyp_version().map_err(self.connect_err())?),
        })
    }

    fn spawn(&self, spec: &GuestSpec) -> Result<(), VirtError> {
        let uuid = canonical_uuid(&spec.uuid).ok_or_else(|| VirtError::Libvirt {
            uuid: spec.uuid.clone(),
            reason: "not a valid UUID".into(),
        })?;
        let spec = GuestSpec {
            uuid: uuid.clone(),
            ..spec.clone()
        };
        let _lock = self.lock(&uuid);
        if let Some(dom) = self.lookup(&uuid)? {
            if dom.is_active().map_err(lv(&uuid))? {
                return Ok(());
            }
            return dom.create().map_err(lv(&uuid));
        }
        let result = self.spawn_new(&spec);
        if let Err(e) = &result {
            tracing::warn!(instance = %uuid, error = %e, "spawn failed; cleaning up");
            if let Err(e2) = self.destroy_locked(&uuid) {
                tracing::warn!(instance = %uuid, error = %e2, "cleanup after failed spawn");
            }
        }
        result
    }

    fn destroy(&self, uuid: &str) -> Result<(), VirtError> {
        // No such UUID can name a domain (nor a directory of ours).
        let Some(uuid) = canonical_uuid(uuid) else {
            return Ok(());
        };
        let _lock = self.lock(&uuid);
        self.destroy_locked(&uuid)
    }

    fn power_on(&self, uuid: &str) -> Result<(), VirtError> {
        let (uuid, dom) = self.require(uuid)?;
        let _lock = self.lock(&uuid);
        if dom.is_active().map_err(lv(&uuid))? {
            return Ok(());
        }
        dom.create().map_err(lv(&uuid))
    }

    fn power_off(&self, uuid: &str, graceful: Option<Duration>) -> Result<(), VirtError> {
        let (uuid, dom) = self.require(uuid)?;
        let _lock = self.lock(&uuid);
        if !dom.is_active().map_err(lv(&uuid))? {
            return Ok(());
        }
        if let Some(timeout) = graceful {
            if shut_down_within(&uuid, &dom, timeout)? {
                return Ok(());
            }
        }
        match dom.destroy() {
            Ok(()) => Ok(()),
            Err(_) if !dom.is_active().unwrap_or(true) => Ok(()),
            Err(e) => Err(lv(&uuid)(e)),
        }
    }

    fn reboot(&self, uuid: &str, graceful: Option<Duration>) -> Result<(), VirtError> {
        let (uuid, dom) = self.require(uuid)?;
        let _lock = self.lock(&uuid);
        if !dom.is_active().map_err(lv(&uuid))? {
            // Nothing to reboot: bring it up.
            return dom.create().map_err(lv(&uuid));
        }
        // As Nova's soft reboot: an ACPI shutdown and a fresh start once the guest is off;
        // a guest that ignores it (no ACPI daemon yet, a hung kernel) is reset instead.
        if let Some(timeout) = graceful {
            if shut_down_within(&uuid, &dom, timeout)? {
                return dom.create().map_err(lv(&uuid));
            }
        }
        match dom.reset() {
            Ok(_) => Ok(()),
            Err(e) if is_code(&e, ErrorNumber::NoSupport) => {
                // Drivers without reset (the test driver): stop and start again.
                dom.destroy().map_err(lv(&uuid))?;
                dom.create().map_err(lv(&uuid))
            }
            Err(e) => Err(lv(&uuid)(e)),
        }
    }

    fn resize(&self, spec: &GuestSpec, running: bool) -> Result<(), VirtError> {
        let (uuid, dom) = self.require(&spec.uuid)?;
        let spec = GuestSpec {
            uuid: uuid.clone(),
            ..spec.clone()
        };
        let _lock = self.lock(&uuid);
        if dom.is_active().map_err(lv(&uuid))? {
            dom.destroy().map_err(lv(&uuid))?;
        }
        let dir = self.instance_dir(&uuid);
        let disk = dir.join("disk");
        let disk = (!self.simulated() && disk.exists()).then_some(disk);
        if let Some(disk) = &disk {
            let current = virtual_size(disk, "qcow2").map_err(|reason| VirtError::Image {
                id: uuid.clone(),
                reason,
            })?;
            if spec.root_gb.saturating_mul(1 << 30) > current {
                run(Command::new("qemu-img")
                    .args(["resize", "-q", "-f", "qcow2"])
                    .arg(disk)
                    .arg(format!("{}G", spec.root_gb)))
                .map_err(|reason| VirtError::Image {
                    id: uuid.clone(),
                    reason,
                })?;
            }
        }
        let xml = domain_xml(&self.opts, &spec, disk.as_deref(), &dir.join("console.log"));
        // Defining a domain with the same name and UUID replaces its definition.
        let dom = self.conn()?.define_domain_xml(&xml).map_err(lv(&uuid))?;
        self.simulated_console(
            &uuid,
            &format!(
                "resized to {} vCPU, {} MB RAM, {} GB disk",
                spec.vcpus, spec.memory_mb, spec.root_gb
            ),
        );
        if running {
            dom.create().map_err(lv(&uuid))?;
        }
        Ok(())
    }

    fn snapshot(
        &self,
        uuid: &str,
        base: Option<&ImageSource>,
        out: &Path,
    ) -> Result<String, VirtError> {
        let (uuid, dom) = self.require(uuid)?;
        let img_err = |reason: String| VirtError::Image {
            id: uuid.clone(),
            reason,
        };
        if self.simulated() {
            let base = base.ok_or_else(|| img_err("the guest has no disk to snapshot".into()))?;
            let cached = self.cached_image(base)?;
            std::fs::copy(&cached, out).map_err(io(out))?;
            self.simulated_console(&uuid, "disk snapshot taken");
            return Ok(base.disk_format.clone());
        }
        let _lock = self.lock(&uuid);
        let disk = self.instance_dir(&uuid).join("disk");
        let running = dom.is_active().map_err(lv(&uuid))?
            && matches!(
                dom.state().map_err(lv(&uuid))?.0.known(),
                Some(DomainState::Running | DomainState::Blocked)
            );
        if running {
            dom.suspend().map_err(lv(&uuid))?;
        }
        let copied = run(Command::new("qemu-img")
            .args(["convert", "-U", "-f", "qcow2", "-O", "qcow2"])
            .arg(&disk)
            .arg(out))
        .map_err(img_err);
        if running {
            if let Err(e) = dom.resume() {
                tracing::error!(instance = %uuid, error = %one_line(e.message()), "guest not resumed after snapshot");
            }
        }
        copied.map(|_| "qcow2".to_string())
    }

    fn pause(&self, uuid: &str) -> Result<(), VirtError> {
        let (uuid, dom) = self.require(uuid)?;
        let _lock = self.lock(&uuid);
        match dom.state().map_err(lv(&uuid))?.0.known() {
            Some(DomainState::Paused) => Ok(()),
            Some(DomainState::Running | DomainState::Blocked) => {
                dom.suspend().map(|_| ()).map_err(lv(&uuid))
            }
            _ => Err(VirtError::Libvirt {
                uuid,
                reason: "the guest is not running".into(),
            }),
        }
    }

    fn unpause(&self, uuid: &str) -> Result<(), VirtError> {
        let (uuid, dom) = self.require(uuid)?;
        let _lock = self.lock(&uuid);
        match dom.state().map_err(lv(&uuid))?.0.known() {
            Some(DomainState::Running | DomainState::Blocked) => Ok(()),
            Some(DomainState::Paused) => dom.resume().map(|_| ()).map_err(lv(&uuid)),
            _ => Err(VirtError::Libvirt {
                uuid,
                reason: "the guest is not paused".into(),
            }),
        }
    }

    fn suspend(&self, uuid: &str) -> Result<(), VirtError> {
        let (uuid, dom) = self.require(uuid)?;
        let _lock = self.lock(&uuid);
        if !dom.is_active().map_err(lv(&uuid))? {
            return Ok(());
        }
        dom.managed_save(0).map(|_| ()).map_err(lv(&uuid))
    }

    fn resume(&self, uuid: &str) -> Result<(), VirtError> {
        let (uuid, dom) = self.require(uuid)?;
        let _lock = self.lock(&uuid);
        if dom.is_active().map_err(lv(&uuid))? {
            return Ok(());
        }
        // Starting a domain with a managed save image restores it.
        dom.create().map(|_| ()).map_err(lv(&uuid))
    }

    fn power_state(&self, uuid: &str) -> Result<Option<PowerState>, VirtError> {
        let Some(uuid) = canonical_uuid(uuid) else {
            return Ok(None);
        };
        match self.lookup(&uuid)? {
            Some(dom) => match dom.state() {
                Ok((state, _)) => Ok(Some(power_of(&state))),
                Err(e) if is_code(&e, ErrorNumber::NoDomain) => Ok(None),
                Err(e) => Err(lv(&uuid)(e)),
            },
            None => Ok(None),
        }
    }

    fn list(&self) -> Result<Vec<DomainInfo>, VirtError> {
        let domains = self
            .conn()?
            .list_all_domains(0)
            .map_err(self.connect_err())?;
        let mut out = Vec::with_capacity(domains.len());
        for d in domains {
            let (Ok(name), Ok(uuid), Ok((state, _))) = (d.name(), d.uuid_string(), d.state())
            else {
                continue; // vanished while listing
            };
            let owner = d
                .metadata(
                    sys::VIR_DOMAIN_METADATA_ELEMENT as i32,
                    Some(METADATA_NS),
                    0,
                )
                .ok()
                .and_then(|m| owner_of(&m));
            out.push(DomainInfo {
                name,
                uuid,
                state: power_of(&state),
                owner,
            });
        }
        Ok(out)
    }

    fn boot_check(&self, uuid: &str) -> Result<BootCheck, VirtError> {
        let gone = BootCheck {
            state: None,
            failure: None,
            console_bytes: None,
            stopped_on_purpose: false,
        };
        let Some(uuid) = canonical_uuid(uuid) else {
            return Ok(gone);
        };
        let Some(dom) = self.lookup(&uuid)? else {
            return Ok(gone);
        };
        let (state, reason) = match dom.state() {
            Ok(s) => s,
            Err(e) if is_code(&e, ErrorNumber::NoDomain) => return Ok(gone),
            Err(e) => return Err(lv(&uuid)(e)),
        };
        let (failure, stopped_on_purpose) = judge(&state, &reason);
        let console_bytes = (!self.simulated()).then(|| {
            std::fs::metadata(self.instance_dir(&uuid).join("console.log"))
                .map(|m| m.len())
                .unwrap_or(0)
        });
        Ok(BootCheck {
            state: Some(power_of(&state)),
            failure,
            console_bytes,
            stopped_on_purpose,
        })
    }

    fn attach_interface(&self, uuid: &str, nic: &crate::Nic) -> Result<(), VirtError> {
        let (uuid, dom) = self.require(uuid)?;
        let _lock = self.lock(&uuid);
        let live = dom.is_active().map_err(lv(&uuid))?;
        if has_nic(&uuid, &dom, &nic.mac, live)? {
            return Ok(());
        }
        let mut flags = sys::VIR_DOMAIN_AFFECT_CONFIG;
        if live {
            flags |= sys::VIR_DOMAIN_AFFECT_LIVE;
        }
        dom.attach_device_flags(&nic_xml(nic), flags)
            .map_err(lv_or_unsupported(&uuid, "attaching interfaces"))?;
        tracing::info!(instance = %uuid, mac = %nic.mac, tap = %nic.device, live, "interface attached");
        Ok(())
    }

    fn detach_interface(
        &self,
        uuid: &str,
        nic: &crate::Nic,
        wait: Duration,
    ) -> Result<(), VirtError> {
        let (uuid, dom) = self.require(uuid)?;
        let _lock = self.lock(&uuid);
        // Matched by MAC: the tap name is libvirt's to keep.
        let xml = format!(
            "<interface type='ethernet'><mac address='{}'/></interface>",
            xml_escape(&nic.mac)
        );
        let unsupported = lv_or_unsupported(&uuid, "detaching interfaces");
        if dom.is_active().map_err(lv(&uuid))? && has_nic(&uuid, &dom, &nic.mac, true)? {
            // The guest acknowledges an unplug (ACPI eject); until it does, the device stays.
            dom.detach_device_flags(&xml, sys::VIR_DOMAIN_AFFECT_LIVE)
                .map_err(&unsupported)?;
            let deadline = Instant::now() + wait;
            while has_nic(&uuid, &dom, &nic.mac, true)? {
                if Instant::now() >= deadline {
                    return Err(VirtError::DetachTimeout {
                        uuid: uuid.clone(),
                        mac: nic.mac.clone(),
                        secs: wait.as_secs(),
                    });
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        if has_nic(&uuid, &dom, &nic.mac, false)? {
            dom.detach_device_flags(&xml, sys::VIR_DOMAIN_AFFECT_CONFIG)
                .map_err(&unsupported)?;
        }
        tracing::info!(instance = %uuid, mac = %nic.mac, "interface detached");
        Ok(())
    }

    fn cache_image(&self, image: &ImageSource) -> Result<(), VirtError> {
        self.cached_image(image).map(|_| ())
    }

    fn inject_nmi(&self, uuid: &str) -> Result<(), VirtError> {
        let (uuid, dom) = self.require(uuid)?;
        let _lock = self.lock(&uuid);
        if !dom.is_active().map_err(lv(&uuid))? {
            return Err(VirtError::NotRunning(uuid));
        }
        // The `virt` crate has no wrapper for virDomainInjectNMI: called through its sys
        // bindings, on the domain pointer `dom` keeps alive for the call.
        // SAFETY: `dom` is a valid domain handle for the duration of the call, and flags 0
        // is the only value libvirt defines.
        let rc = unsafe { sys::virDomainInjectNMI(dom.as_ptr(), 0) };
        if rc < 0 {
            return Err(lv_or_unsupported(&uuid, "injecting an NMI")(
                virt::error::Error::last_error(),
            ));
        }
        tracing::info!(instance = %uuid, "NMI injected");
        Ok(())
    }

    fn diagnostics(
        &self,
        uuid: &str,
    ) -> Result<metacloud_objects::diagnostics::GuestDiagnostics, VirtError> {
        let (uuid, dom) = self.require(uuid)?;
        let xml = dom.xml_desc(0).map_err(lv(&uuid))?;
        crate::diagnostics::of(&dom, &xml, &self.opts.domain_type).map_err(lv(&uuid))
    }

    fn console_log(&self, uuid: &str) -> Result<String, VirtError> {
        let uuid = canonical_uuid(uuid).ok_or_else(|| VirtError::NotFound(uuid.to_string()))?;
        let path = self.instance_dir(&uuid).join("console.log");
        match std::fs::read(&path) {
            Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(io(&path)(e)),
        }
    }

    fn describe(&self) -> String {
        format!("libvirt {}", self.uri)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(domain_type: &str, owner: &str) -> LibvirtOptions {
        LibvirtOptions {
            domain_type: domain_type.into(),
            owner: owner.into(),
            ..Default::default()
        }
    }

    fn spec() -> GuestSpec {
        GuestSpec {
            uuid: "0a2b4c6d-8e0f-4a1b-9c2d-3e4f5a6b7c8d".into(),
            vcpus: 2,
            memory_mb: 512,
            root_gb: 1,
            image: None,
            nics: vec![],
        }
    }

    #[test]
    fn uuids_are_canonicalized_and_paths_cannot_escape() {
        assert_eq!(
            canonical_uuid("0A2B4C6D-8E0F-4A1B-9C2D-3E4F5A6B7C8D").as_deref(),
            Some("0a2b4c6d-8e0f-4a1b-9c2d-3e4f5a6b7c8d")
        );
        for bad in ["", "..", "/", "../../etc/passwd-000000000000000000000", "x"] {
            assert_eq!(canonical_uuid(bad), None, "{bad}");
        }
        assert_eq!(canonical_uuid("0a2b4c6d/8e0f-4a1b-9c2d-3e4f5a6b7c8d"), None);
    }

    #[test]
    fn the_owner_is_read_back_from_metadata() {
        let xml = owner_metadata("h1 & <b>");
        let inner = &xml["<metadata>".len()..xml.len() - "</metadata>".len()];
        assert_eq!(owner_of(inner).as_deref(), Some("h1 & <b>"));
        let as_libvirt_returns_it = "<instance>\n  <host>h1 &amp; &lt;b&gt;</host>\n</instance>";
        assert_eq!(owner_of(as_libvirt_returns_it).as_deref(), Some("h1 & <b>"));
        assert_eq!(owner_of("<x/>"), None);
        assert_eq!(owner_metadata(""), "");
    }

    #[test]
    fn test_driver_xml_is_minimal() {
        let xml = domain_xml(
            &opts("test", ""),
            &spec(),
            None,
            Path::new("/x/console.log"),
        );
        assert!(xml.starts_with("<domain type='test'>"));
        assert!(xml.contains("<name>instance-0a2b4c6d-8e0f-4a1b-9c2d-3e4f5a6b7c8d</name>"));
        assert!(xml.contains("<memory unit='KiB'>524288</memory>"));
        assert!(xml.contains("<vcpu>2</vcpu>"));
        assert!(!xml.contains("<devices>"));
    }

    #[test]
    fn qemu_xml_has_console_graphics_nic_and_disk() {
        let mut o = opts("qemu", "compute-1 & <2>");
        o.graphics_listen = "0.0.0.0".into();
        let xml = domain_xml(
            &o,
            &spec(),
            Some(Path::new("/i/u/disk")),
            Path::new("/i/u/console.log"),
        );
        for part in [
            "<domain type='qemu'>",
            "<metacloud:host>compute-1 &amp; &lt;2&gt;</metacloud:host>",
            "<features>\n    <acpi/>\n  </features>",
            "<on_poweroff>destroy</on_poweroff>",
            "<log file='/i/u/console.log' append='on'/>",
            "<console type='pty'>",
            "<graphics type='vnc' autoport='yes' listen='0.0.0.0'/>",
            "<graphics type='spice' autoport='yes' listen='0.0.0.0'/>",
            "<interface type='user'>\n      <model type='virtio'/>",
            "<driver name='qemu' type='qcow2'/>",
            "<source file='/i/u/disk'/>",
            "<target dev='vda' bus='virtio'/>",
        ] {
            assert!(xml.contains(part), "missing {part:?} in\n{xml}");
        }
        assert!(!xml.contains("host-passthrough"));
        let diskless = domain_xml(&opts("kvm", ""), &spec(), None, Path::new("/c.log"));
        assert!(diskless.starts_with("<domain type='kvm'>"));
        assert!(!diskless.contains("<disk"));
    }

    #[test]
    fn file_urls_become_paths() {
        assert_eq!(local_path("/a/b"), PathBuf::from("/a/b"));
        assert_eq!(local_path("file:///a/b"), PathBuf::from("/a/b"));
        assert_eq!(local_path("file://localhost/a/b"), PathBuf::from("/a/b"));
        assert_eq!(local_path("file:///a%20b/c%"), PathBuf::from("/a b/c%"));
    }
}
