//! Requests to one compute worker (topic `compute.<host>`).

use crate::objects::{ImageRef, InstanceSpec, TaskState, VmState};
use serde::{Deserialize, Serialize};

/// Requests on `compute.<host>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "method", content = "args", rename_all = "snake_case")]
pub enum Request {
    /// (cast) Spawn the instance; resources are already claimed on this host.
    BuildAndRunInstance { instance: Box<InstanceSpec> },
    /// (cast) Destroy the guest and report it gone.
    TerminateInstance { uuid: String },
    /// (cast)
    StartInstance { uuid: String },
    /// (cast) Graceful stop, then hard after the configured timeout.
    StopInstance { uuid: String },
    /// (cast)
    RebootInstance { uuid: String, hard: bool },
    /// (cast) Replace the guest's disk with a fresh one from `instance.image` and boot it;
    /// `stopped` guests are left stopped afterwards.
    RebuildInstance {
        instance: Box<InstanceSpec>,
        stopped: bool,
    },
    /// (cast) Give the guest `instance.flavor`'s resources on this host, keeping its disk;
    /// it runs afterwards when `running`. Reported as `task` done, in `then`.
    ResizeInstance {
        instance: Box<InstanceSpec>,
        running: bool,
        task: TaskState,
        then: VmState,
    },
    /// (cast) Pause, unpause, suspend or resume the guest.
    ChangePower { uuid: String, op: PowerOp },
    /// (call) The hypervisor's own list of domains. Replies `Vec<Domain>`.
    ListDomains,
    /// (call) Snapshot the guest's disk and upload it as the data of image `upload.image_id`;
    /// `base` is the image it booted from. Reports `task` done either way; replies
    /// [`Snapshot`].
    SnapshotInstance {
        uuid: String,
        base: Option<Box<ImageRef>>,
        upload: ImageUpload,
        task: TaskState,
    },
    /// (cast) A cold migration leaves this host: power the guest off, upload its disk as
    /// the data of the transfer image `upload.image_id`, and tell the conductor
    /// (`MigratedOut`). On failure the guest is powered on again if it ran.
    MigrateOut {
        uuid: String,
        base: Option<Box<ImageRef>>,
        upload: ImageUpload,
        running: bool,
    },
    /// (cast) A cold migration arrives: make the guest from its transfer image
    /// (`instance.image`), running or not, and report `resized` (VERIFY_RESIZE).
    FinishMigration {
        instance: Box<InstanceSpec>,
        running: bool,
    },
    /// (cast) Destroy what is left here of a guest that lives on another host now (the
    /// source of a confirmed migration, the destination of a reverted one); nothing is
    /// reported.
    DestroyGuest { uuid: String },
    /// (call) The host's uptime and load, as `uptime` prints them. Replies `String`.
    Uptime,
    /// (call) The serial console log. Replies `String`.
    ConsoleOutput { uuid: String },
    /// (call) Plug a port's NIC into the guest (hot-plug when it runs) and tell the network
    /// worker its tap exists. The port is already bound to the instance and placed on this
    /// host. Replies null; `Invalid` when the hypervisor or host cannot plug NICs.
    AttachInterface { uuid: String, nic: Interface },
    /// (call) Unplug a port's NIC from the guest, waiting for the guest to release it.
    /// Replies null; `Conflict` when the guest keeps it.
    DetachInterface { uuid: String, nic: Interface },
    /// (call) Send the guest a non-maskable interrupt (Nova's `trigger_crash_dump`).
    /// Replies null; `Invalid` when the hypervisor cannot, `Conflict` when the guest does
    /// not run.
    InjectNmi { uuid: String },
    /// (call) What the hypervisor says of the guest now. Replies
    /// [`metacloud_objects::diagnostics::GuestDiagnostics`].
    Diagnostics { uuid: String },
    /// (cast) Fetch these images into the host's image cache (the compute API's 2.81);
    /// each outcome is logged, nothing is reported.
    CacheImages { images: Vec<ImageRef> },
}

/// A port's NIC on a guest: the tap `device` libvirt makes, with the port's `mac`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interface {
    pub port_id: String,
    pub mac: String,
    pub device: String,
}

/// Where a snapshot goes: the image service's data URL for the image, and a token that
/// may write it (the requesting user's, as Nova hands it to its computes).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageUpload {
    /// Base URL of the image API, e.g. `http://127.0.0.1:9292`.
    pub url: String,
    pub image_id: String,
    pub token: String,
}

/// What a snapshot produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    pub disk_format: String,
    pub size: u64,
}

/// A domain as the hypervisor lists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Domain {
    pub name: String,
    pub uuid: String,
    pub power_state: i32,
}

/// Power changes that keep the guest's memory: pause/unpause keep it in RAM, suspend saves
/// it to disk and resume restores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PowerOp {
    Pause,
    Unpause,
    Suspend,
    Resume,
}

impl PowerOp {
    /// The API's name for the action.
    pub fn action(self) -> &'static str {
        match self {
            PowerOp::Pause => "pause",
            PowerOp::Unpause => "unpause",
            PowerOp::Suspend => "suspend",
            PowerOp::Resume => "resume",
        }
    }

    /// The vm_state the instance must be in.
    pub fn from_state(self) -> VmState {
        match self {
            PowerOp::Pause | PowerOp::Suspend => VmState::Active,
            PowerOp::Unpause => VmState::Paused,
            PowerOp::Resume => VmState::Suspended,
        }
    }

    /// The vm_state once done.
    pub fn to_state(self) -> VmState {
        match self {
            PowerOp::Pause => VmState::Paused,
            PowerOp::Suspend => VmState::Suspended,
            PowerOp::Unpause | PowerOp::Resume => VmState::Active,
        }
    }

    /// The task_state while it runs.
    pub fn task(self) -> TaskState {
        match self {
            PowerOp::Pause => TaskState::Pausing,
            PowerOp::Unpause => TaskState::Unpausing,
            PowerOp::Suspend => TaskState::Suspending,
            PowerOp::Resume => TaskState::Resuming,
        }
    }

    /// Parses the API's name.
    pub fn parse(action: &str) -> Option<PowerOp> {
        [
            PowerOp::Pause,
            PowerOp::Unpause,
            PowerOp::Suspend,
            PowerOp::Resume,
        ]
        .into_iter()
        .find(|op| op.action() == action)
    }
}
