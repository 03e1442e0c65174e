//! The hypervisor seam of the compute worker.
//!
//! [`Driver`] is what the compute worker needs from a hypervisor; [`libvirt::LibvirtDriver`]
//! implements it for any libvirt URI: `test:///default` (libvirt's own simulated driver) and
//! `qemu:///system` (real KVM/QEMU guests, with an image cache, qcow2 overlays through
//! `qemu-img` and the serial console logged to a file).
//!
//! Every method blocks (libvirt's C API is synchronous); async callers use `spawn_blocking`.

pub mod detect;
mod diagnostics;
pub mod libvirt;

use displaydoc::Display;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;
use thiserror::Error;

/// Power state, with Nova's numeric codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PowerState {
    NoState = 0,
    Running = 1,
    Paused = 3,
    Shutdown = 4,
    Crashed = 6,
    Suspended = 7,
}

/// What the host offers, as the hypervisor reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub vcpus: u64,
    pub memory_mb: u64,
    pub disk_gb: u64,
    pub cpu_arch: String,
    /// `test`, `QEMU`, …
    pub hypervisor_type: String,
    pub hypervisor_version: u64,
}

/// Where a guest's root disk comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageSource {
    /// Image id, the cache key.
    pub id: String,
    /// A local path or `file://` URL (the image service's store).
    pub location: String,
    /// Expected hex SHA-256 of the image file, verified when it enters the cache.
    pub sha256: Option<String>,
    /// `qcow2` or `raw`.
    pub disk_format: String,
}

/// Everything needed to define and start one guest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuestSpec {
    /// Instance UUID; also the libvirt domain UUID. The domain is named `instance-<uuid>`.
    pub uuid: String,
    pub vcpus: u32,
    pub memory_mb: u64,
    pub root_gb: u64,
    /// Root disk; `None` boots nothing (simulated hosts only).
    pub image: Option<ImageSource>,
    /// The guest's network interfaces: a tap per port, which the network worker attaches
    /// to the port's network. None: one user-mode NIC (no network worker).
    pub nics: Vec<Nic>,
}

/// One interface: libvirt makes tap `device` and QEMU gives the guest `mac`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nic {
    pub mac: String,
    pub device: String,
}

/// One domain as the hypervisor sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainInfo {
    pub name: String,
    /// The domain UUID (the instance UUID for domains this product made).
    pub uuid: String,
    pub state: PowerState,
    /// The compute host named in the domain's metadata, for domains this product made.
    pub owner: Option<String>,
}

/// How a freshly started guest is doing, as the compute worker's boot watch sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootCheck {
    /// `None`: the domain is gone.
    pub state: Option<PowerState>,
    /// What went wrong, when the hypervisor says the guest failed: it crashed, was paused
    /// on an error, or was stopped by a crash.
    pub failure: Option<String>,
    /// Bytes the guest has written to its serial console; `None` where the hypervisor
    /// keeps no console of the guest's own (simulated hosts).
    pub console_bytes: Option<u64>,
    /// The domain was stopped or paused on purpose (shut down, destroyed, paused by a
    /// user, saved): nothing to judge.
    pub stopped_on_purpose: bool,
}

/// A hypervisor operation that failed.
#[derive(Debug, Display, Error)]
pub enum VirtError {
    /// cannot connect to libvirt at {uri}: {reason}
    Connect { uri: String, reason: String },
    /// domain for instance {0} not found
    NotFound(String),
    /// image {id} failed: {reason}
    Image { id: String, reason: String },
    /// libvirt error on instance {uuid}: {reason}
    Libvirt { uuid: String, reason: String },
    /// I/O error on {path}: {reason}
    Io { path: PathBuf, reason: String },
    /// no network for instance {uuid}: {reason}
    Network { uuid: String, reason: String },
    /// {what} is not supported by this hypervisor (instance {uuid})
    Unsupported { uuid: String, what: String },
    /// instance {0} is not running
    NotRunning(String),
    /// the guest of instance {uuid} did not release interface {mac} within {secs} s
    DetachTimeout {
        uuid: String,
        mac: String,
        secs: u64,
    },
}

/// What the compute worker needs from a hypervisor.
pub trait Driver: Send + Sync {
    /// Resources of this host.
    fn node_info(&self) -> Result<NodeInfo, VirtError>;
    /// Defines and starts the guest. Idempotent: a guest already running is left as is.
    fn spawn(&self, spec: &GuestSpec) -> Result<(), VirtError>;
    /// Stops and undefines the guest and removes its files. A missing guest is not an error.
    fn destroy(&self, uuid: &str) -> Result<(), VirtError>;
    /// Starts a defined, stopped guest.
    fn power_on(&self, uuid: &str) -> Result<(), VirtError>;
    /// Stops the guest: ACPI shutdown waiting up to `graceful`, then a hard stop;
    /// `None` stops it hard at once.
    fn power_off(&self, uuid: &str, graceful: Option<Duration>) -> Result<(), VirtError>;
    /// Reboots. Soft (`graceful` given): an ACPI shutdown, then a fresh start once the
    /// guest is off, or a reset if it is still running after `graceful`. Hard (`None`): a
    /// reset at once.
    fn reboot(&self, uuid: &str, graceful: Option<Duration>) -> Result<(), VirtError>;
    /// Gives an existing guest the resources of `spec` (vCPUs, memory; a root disk only
    /// ever grows), keeping its disk; it runs afterwards when `running`.
    fn resize(&self, spec: &GuestSpec, running: bool) -> Result<(), VirtError>;
    /// Writes a copy of the guest's root disk to `out` and returns its format (`qcow2`,
    /// `raw`). A running guest is paused for the copy. A simulated guest's disk is its
    /// `base` image, which is what it copies.
    fn snapshot(
        &self,
        uuid: &str,
        base: Option<&ImageSource>,
        out: &std::path::Path,
    ) -> Result<String, VirtError>;
    /// Freezes a running guest in memory.
    fn pause(&self, uuid: &str) -> Result<(), VirtError>;
    /// Lets a paused guest run again.
    fn unpause(&self, uuid: &str) -> Result<(), VirtError>;
    /// Saves a running guest's memory to disk and stops it.
    fn suspend(&self, uuid: &str) -> Result<(), VirtError>;
    /// Restores a suspended guest from its saved memory.
    fn resume(&self, uuid: &str) -> Result<(), VirtError>;
    /// Current power state, `None` when no such domain exists.
    fn power_state(&self, uuid: &str) -> Result<Option<PowerState>, VirtError>;
    /// Every domain on this hypervisor, including ones this product did not make.
    fn list(&self) -> Result<Vec<DomainInfo>, VirtError>;
    /// How a just-started guest is doing: failures the hypervisor reports and how much it
    /// has written to its console.
    fn boot_check(&self, uuid: &str) -> Result<BootCheck, VirtError>;
    /// Plugs `nic` into the guest: into the running guest at once (hot-plug) and into its
    /// definition, so it stays across restarts. Plugging a NIC the guest has is a no-op.
    fn attach_interface(&self, uuid: &str, nic: &Nic) -> Result<(), VirtError>;
    /// Unplugs the NIC with `nic.mac`: from the running guest, waiting up to `wait` for it
    /// to let the device go (a guest acknowledges the unplug), then from its definition.
    /// A NIC the guest does not have is not an error.
    fn detach_interface(&self, uuid: &str, nic: &Nic, wait: Duration) -> Result<(), VirtError>;
    /// Sends a non-maskable interrupt to a running guest (Nova's `trigger_crash_dump`: a
    /// guest configured for it dumps its kernel's memory and reboots). A guest that is
    /// not running: [`VirtError::NotRunning`].
    fn inject_nmi(&self, uuid: &str) -> Result<(), VirtError>;
    /// What the hypervisor says of a guest now: state, CPU time per vCPU, memory, and the
    /// counters of its NICs and disks (Nova's server diagnostics).
    fn diagnostics(
        &self,
        uuid: &str,
    ) -> Result<metacloud_objects::diagnostics::GuestDiagnostics, VirtError>;
    /// The serial console log of a guest (empty where the hypervisor keeps none).
    fn console_log(&self, uuid: &str) -> Result<String, VirtError>;
    /// Fetches an image into this host's image cache ahead of any boot from it (Nova's
    /// image pre-caching); one already cached is left as it is.
    fn cache_image(&self, image: &ImageSource) -> Result<(), VirtError>;
    /// e.g. `libvirt test:///default`.
    fn describe(&self) -> String;
}

/// The libvirt domain name of an instance.
pub fn domain_name(uuid: &str) -> String {
    format!("instance-{uuid}")
}
