//! Requests to the conductor: the only path from compute workers to the database.

use crate::objects::{
    double_option, InstanceSpec, InstanceStatus, NodeReport, RequestSpec, TaskState, VmState,
};
use serde::{Deserialize, Serialize};

/// Requests on the `conductor` topic.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "method", content = "args", rename_all = "snake_case")]
pub enum Request {
    /// From the API (cast): schedule and build a batch of instances already in the database.
    BuildInstances {
        spec: RequestSpec,
        instances: Vec<InstanceSpec>,
    },
    /// From every service (cast): heartbeat; compute workers add their node's resources.
    ServiceReport {
        binary: String,
        host: String,
        node: Option<NodeReport>,
    },
    /// From a compute worker (call): the instance changed state.
    InstanceUpdate(InstanceUpdate),
    /// From a compute worker (call): the guest runs on `host`. Replies `true` to keep it,
    /// `false` when the instance no longer belongs there (deleted, failed, moved) and the
    /// guest must be destroyed.
    BuildSucceeded {
        uuid: String,
        host: String,
        power_state: i32,
    },
    /// From a compute worker (cast): spawning failed on `host`; reschedule or fail.
    BuildFailed {
        instance: InstanceSpec,
        host: String,
        reason: String,
    },
    /// From a compute worker (call): the guest is gone; release its resources and quota.
    InstanceDestroyed { uuid: String, host: String },
    /// From a compute worker (call): instances the database places on `host`.
    InstancesOnHost { host: String },
    /// From the API (cast): rebuild `instance`, marked `rebuilding` on the down host
    /// `source`, on `dest` or on a host the scheduler picks.
    Evacuate {
        instance: InstanceSpec,
        source: String,
        dest: Option<String>,
        /// Keep it stopped after the rebuild.
        stopped: bool,
        /// Who asked (recorded on the migration).
        #[serde(default)]
        requested_by: Option<crate::objects::Requester>,
    },
    /// From a compute worker (call): instances evacuated away from `host` whose old guests
    /// there are to be destroyed (a `Vec<String>` of uuids).
    EvacuatedFrom { host: String },
    /// From a compute worker (call): the old guest of an evacuated instance is gone.
    EvacuationCleaned { uuid: String, host: String },
    /// From the API (cast): cold-migrate `instance`, marked `resize_prep` on `source`, to
    /// `dest` or a host the scheduler picks; its disk travels as the image `upload`.
    Migrate {
        instance: InstanceSpec,
        source: String,
        dest: Option<String>,
        running: bool,
        upload: crate::compute::ImageUpload,
        /// Who asked (recorded on the migration).
        #[serde(default)]
        requested_by: Option<crate::objects::Requester>,
    },
    /// From a compute worker (call): the source of a migration uploaded the disk (or
    /// failed to: `error`).
    MigratedOut {
        uuid: String,
        source: String,
        image_id: String,
        running: bool,
        error: Option<String>,
    },
}

/// A state change reported by a compute worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InstanceUpdate {
    pub uuid: String,
    pub host: String,
    pub vm_state: Option<VmState>,
    /// `Some(None)` clears the task state.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub task_state: Option<Option<TaskState>>,
    pub power_state: Option<i32>,
    /// Only apply when the task state is currently this (Nova's expected_task_state).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub expected_task_state: Option<Option<TaskState>>,
    /// Only apply when the vm state is currently this (a report of what was observed must
    /// not undo a change made since).
    #[serde(default)]
    pub expected_vm_state: Option<VmState>,
    /// A fault to record with the change.
    pub fault: Option<String>,
}

/// Reply to [`Request::InstancesOnHost`].
pub type InstancesOnHost = Vec<InstanceStatus>;
