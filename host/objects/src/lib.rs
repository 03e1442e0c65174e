//! The things services pass around: flavors, images, instances, host states, and who is
//! asking ([`Context`]). Plain data at the bottom of the crate graph: the database, the
//! queue's messages and every service share them, and this crate depends on nothing of
//! ours.

mod context;
pub mod diagnostics;
pub use context::{new_request_id, Context};

/// A DNS-safe host name from an instance name (as Nova's `sanitize_hostname`).
pub fn hostname(name: &str, uuid: &str) -> String {
    let mut out = String::new();
    for c in name.to_ascii_lowercase().chars() {
        match c {
            'a'..='z' | '0'..='9' | '-' => out.push(c),
            ' ' | '_' | '.' => out.push('-'),
            _ => {}
        }
    }
    let out: String = out.trim_matches('-').chars().take(63).collect();
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        format!("server-{}", uuid.split('-').next().unwrap_or(uuid))
    } else {
        out
    }
}

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Nova's `vm_state`: the stable state of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VmState {
    Building,
    Active,
    Stopped,
    Paused,
    Suspended,
    /// Resized, waiting for the user to confirm or revert.
    Resized,
    Error,
    Deleted,
}

impl VmState {
    pub fn as_str(self) -> &'static str {
        match self {
            VmState::Building => "building",
            VmState::Active => "active",
            VmState::Stopped => "stopped",
            VmState::Paused => "paused",
            VmState::Suspended => "suspended",
            VmState::Resized => "resized",
            VmState::Error => "error",
            VmState::Deleted => "deleted",
        }
    }

    pub fn parse(s: &str) -> Option<VmState> {
        [
            VmState::Building,
            VmState::Active,
            VmState::Stopped,
            VmState::Paused,
            VmState::Suspended,
            VmState::Resized,
            VmState::Error,
            VmState::Deleted,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// Nova's `task_state`: what is being done to an instance right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TaskState {
    #[serde(rename = "scheduling")]
    Scheduling,
    #[serde(rename = "spawning")]
    Spawning,
    #[serde(rename = "deleting")]
    Deleting,
    #[serde(rename = "powering-off")]
    PoweringOff,
    #[serde(rename = "powering-on")]
    PoweringOn,
    #[serde(rename = "rebooting")]
    Rebooting,
    #[serde(rename = "rebooting_hard")]
    RebootingHard,
    #[serde(rename = "rebuilding")]
    Rebuilding,
    #[serde(rename = "image_snapshot")]
    ImageSnapshot,
    #[serde(rename = "image_backup")]
    ImageBackup,
    #[serde(rename = "resize_prep")]
    ResizePrep,
    #[serde(rename = "resize_migrating")]
    ResizeMigrating,
    #[serde(rename = "resize_reverting")]
    ResizeReverting,
    #[serde(rename = "pausing")]
    Pausing,
    #[serde(rename = "unpausing")]
    Unpausing,
    #[serde(rename = "suspending")]
    Suspending,
    #[serde(rename = "resuming")]
    Resuming,
}

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Scheduling => "scheduling",
            TaskState::Spawning => "spawning",
            TaskState::Deleting => "deleting",
            TaskState::PoweringOff => "powering-off",
            TaskState::PoweringOn => "powering-on",
            TaskState::Rebooting => "rebooting",
            TaskState::RebootingHard => "rebooting_hard",
            TaskState::Rebuilding => "rebuilding",
            TaskState::ImageSnapshot => "image_snapshot",
            TaskState::ImageBackup => "image_backup",
            TaskState::ResizePrep => "resize_prep",
            TaskState::ResizeMigrating => "resize_migrating",
            TaskState::ResizeReverting => "resize_reverting",
            TaskState::Pausing => "pausing",
            TaskState::Unpausing => "unpausing",
            TaskState::Suspending => "suspending",
            TaskState::Resuming => "resuming",
        }
    }

    pub fn parse(s: &str) -> Option<TaskState> {
        [
            TaskState::Scheduling,
            TaskState::Spawning,
            TaskState::Deleting,
            TaskState::PoweringOff,
            TaskState::PoweringOn,
            TaskState::Rebooting,
            TaskState::RebootingHard,
            TaskState::Rebuilding,
            TaskState::ImageSnapshot,
            TaskState::ImageBackup,
            TaskState::ResizePrep,
            TaskState::ResizeMigrating,
            TaskState::ResizeReverting,
            TaskState::Pausing,
            TaskState::Unpausing,
            TaskState::Suspending,
            TaskState::Resuming,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

/// Nova's numeric power states.
pub mod power {
    pub const NOSTATE: i32 = 0;
    pub const RUNNING: i32 = 1;
    pub const PAUSED: i32 = 3;
    pub const SHUTDOWN: i32 = 4;
    pub const CRASHED: i32 = 6;
    pub const SUSPENDED: i32 = 7;
}

/// An instance type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Flavor {
    pub id: String,
    pub name: String,
    pub vcpus: u32,
    pub memory_mb: u64,
    pub root_gb: u64,
    pub ephemeral_gb: u64,
    pub swap_mb: u64,
    #[serde(default)]
    pub extra_specs: BTreeMap<String, String>,
    /// Public flavors are for every project; private ones for the projects given access.
    pub is_public: bool,
}

impl Default for Flavor {
    fn default() -> Flavor {
        Flavor {
            id: String::new(),
            name: String::new(),
            vcpus: 0,
            memory_mb: 0,
            root_gb: 0,
            ephemeral_gb: 0,
            swap_mb: 0,
            extra_specs: BTreeMap::new(),
            is_public: true,
        }
    }
}

/// The image an instance boots from, as the compute host needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageRef {
    pub id: String,
    pub name: String,
    /// Local path or `file://` URL of the image data.
    pub location: Option<String>,
    pub disk_format: String,
    pub sha256: Option<String>,
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// The least RAM (MB) and disk (GB) a flavor must have to boot it.
    #[serde(default)]
    pub min_ram_mb: u64,
    #[serde(default)]
    pub min_disk_gb: u64,
}

/// Who asked for a move (recorded on its migration, the compute API's 2.80).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requester {
    pub user_id: String,
    pub project_id: String,
}

/// One instance as the compute worker builds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceSpec {
    pub uuid: String,
    pub name: String,
    pub project_id: String,
    pub user_id: String,
    pub flavor: Flavor,
    pub image: Option<ImageRef>,
}

/// Scheduler hints Nova understands.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SchedulerHints {
    /// Place on a host that runs one of these instances.
    #[serde(default)]
    pub same_host: Vec<String>,
    /// Place on hosts that run none of these instances.
    #[serde(default)]
    pub different_host: Vec<String>,
    /// The server group the instances join (uuid).
    #[serde(default)]
    pub group: Option<String>,
}

/// Nova's server-group policies.
pub mod group_policy {
    pub const AFFINITY: &str = "affinity";
    pub const ANTI_AFFINITY: &str = "anti-affinity";
    pub const SOFT_AFFINITY: &str = "soft-affinity";
    pub const SOFT_ANTI_AFFINITY: &str = "soft-anti-affinity";
    pub const ALL: [&str; 4] = [AFFINITY, ANTI_AFFINITY, SOFT_AFFINITY, SOFT_ANTI_AFFINITY];
}

/// A server group as the scheduler needs it: its policy and where its members are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupSpec {
    pub uuid: String,
    /// One of [`group_policy::ALL`].
    pub policy: String,
    /// Anti-affinity: members allowed per host (Nova's `max_server_per_host` rule, 1).
    pub max_server_per_host: u32,
    /// Host -> members on it (claimed, and picked earlier in the batch).
    pub hosts: BTreeMap<String, u32>,
}

impl GroupSpec {
    /// Members of the group on `host`.
    pub fn members_on(&self, host: &str) -> u32 {
        self.hosts.get(host).copied().unwrap_or(0)
    }
}

/// An aggregate a host belongs to, with its metadata.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HostAggregate {
    pub name: String,
    pub metadata: BTreeMap<String, String>,
}

/// What is asked of the scheduler for a batch of instances.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RequestSpec {
    pub instance_uuids: Vec<String>,
    pub project_id: String,
    pub flavor: Flavor,
    pub image: Option<ImageRef>,
    pub availability_zone: Option<String>,
    #[serde(default)]
    pub hints: SchedulerHints,
    /// Hosts that already failed these instances (reschedules).
    #[serde(default)]
    pub ignore_hosts: Vec<String>,
    /// The server group of `hints.group`, filled in by the conductor before scheduling.
    #[serde(default)]
    pub server_group: Option<GroupSpec>,
    /// The only host to consider (the compute API's 2.74); the filters still run on it.
    #[serde(default)]
    pub requested_host: Option<String>,
}

/// One compute host as the scheduler sees it. Missing fields read as zero / empty (handy
/// for hand-written test inputs); ratios default to 1.0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HostState {
    pub host: String,
    pub availability_zone: String,
    /// Heartbeat recent enough.
    pub up: bool,
    /// Disabled by an operator.
    pub disabled: bool,
    pub vcpus: u64,
    pub vcpus_used: u64,
    pub memory_mb: u64,
    pub memory_mb_used: u64,
    pub reserved_memory_mb: u64,
    pub local_gb: u64,
    pub local_gb_used: u64,
    pub cpu_allocation_ratio: f64,
    pub ram_allocation_ratio: f64,
    pub disk_allocation_ratio: f64,
    pub running_vms: u64,
    /// Instances in I/O-heavy states (building, resizing, snapshotting).
    pub io_ops: u64,
    pub failed_builds: u64,
    pub hypervisor_type: String,
    pub cpu_arch: String,
    /// Instances placed here (for same-host / different-host hints).
    #[serde(default)]
    pub instances: Vec<String>,
    /// Aggregates the host is in.
    #[serde(default)]
    pub aggregates: Vec<HostAggregate>,
}

impl Default for HostState {
    fn default() -> Self {
        HostState {
            host: String::new(),
            availability_zone: "nova".into(),
            up: true,
            disabled: false,
            vcpus: 0,
            vcpus_used: 0,
            memory_mb: 0,
            memory_mb_used: 0,
            reserved_memory_mb: 0,
            local_gb: 0,
            local_gb_used: 0,
            cpu_allocation_ratio: 1.0,
            ram_allocation_ratio: 1.0,
            disk_allocation_ratio: 1.0,
            running_vms: 0,
            io_ops: 0,
            failed_builds: 0,
            hypervisor_type: "QEMU".into(),
            cpu_arch: "x86_64".into(),
            instances: vec![],
            aggregates: vec![],
        }
    }
}

impl HostState {
    /// vCPUs still claimable under the allocation ratio.
    pub fn free_vcpus(&self) -> f64 {
        self.vcpus as f64 * self.cpu_allocation_ratio - self.vcpus_used as f64
    }

    /// RAM still claimable under the allocation ratio, in MB.
    pub fn free_ram_mb(&self) -> f64 {
        (self.memory_mb.saturating_sub(self.reserved_memory_mb)) as f64 * self.ram_allocation_ratio
            - self.memory_mb_used as f64
    }

    /// Disk still claimable under the allocation ratio, in GB.
    pub fn free_disk_gb(&self) -> f64 {
        self.local_gb as f64 * self.disk_allocation_ratio - self.local_gb_used as f64
    }

    /// Takes one instance of `flavor` into account (Nova consumes per pick within a batch).
    pub fn consume(&mut self, flavor: &Flavor, uuid: &str) {
        self.vcpus_used += flavor.vcpus as u64;
        self.memory_mb_used += flavor.memory_mb;
        self.local_gb_used += flavor.root_gb + flavor.ephemeral_gb;
        self.running_vms += 1;
        self.io_ops += 1;
        self.instances.push(uuid.to_string());
    }
}

/// What a compute worker reports about its node with each heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeReport {
    pub vcpus: u64,
    pub memory_mb: u64,
    pub local_gb: u64,
    pub reserved_memory_mb: u64,
    pub cpu_allocation_ratio: f64,
    pub ram_allocation_ratio: f64,
    pub disk_allocation_ratio: f64,
    pub hypervisor_type: String,
    pub hypervisor_version: u64,
    pub cpu_arch: String,
    pub availability_zone: String,
}

/// An instance's states as the conductor knows them (for the compute's power sync).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceStatus {
    pub uuid: String,
    pub vm_state: VmState,
    pub task_state: Option<TaskState>,
    pub power_state: i32,
}

/// Serde for `Option<Option<T>>` fields: absent = `None` (leave as is), `null` =
/// `Some(None)` (clear), a value = `Some(Some(v))`. Use with
/// `#[serde(default, skip_serializing_if = "Option::is_none", with = "double_option")]`.
pub mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, T: Serialize>(
        value: &Option<Option<T>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(inner) => inner.serialize(s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}
