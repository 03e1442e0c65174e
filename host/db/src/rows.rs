//! An instance row as every module reads it: its columns, how a row becomes an
//! [`Instance`], and the claim it holds on its host.

use crate::nodes::Claim;
use crate::{get, DbError};
use metacloud_objects::{TaskState, VmState};
use serde::Serialize;
use sqlx::any::AnyRow;
use std::collections::BTreeMap;

/// An instance row.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Instance {
    pub uuid: String,
    pub name: String,
    pub project_id: String,
    pub user_id: String,
    pub flavor_id: String,
    pub image_id: Option<String>,
    pub host: Option<String>,
    pub availability_zone: Option<String>,
    pub vm_state: VmState,
    pub task_state: Option<TaskState>,
    pub power_state: i32,
    pub vcpus: i64,
    pub memory_mb: i64,
    pub disk_gb: i64,
    /// Placements tried so far.
    pub attempts: i64,
    /// Hosts that failed to build it.
    pub tried_hosts: Vec<String>,
    pub reservation_id: String,
    pub key_name: Option<String>,
    pub user_data: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub launched_at: Option<i64>,
    pub terminated_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted: bool,
    /// Who locked it (`owner` or `admin`); `None` when unlocked.
    pub locked_by: Option<String>,
    pub access_ip_v4: Option<String>,
    pub access_ip_v6: Option<String>,
    /// The hostname the tenant chose (2.90); none: made from the name (see
    /// [`Instance::hostname`]).
    pub chosen_hostname: Option<String>,
}

/// A state change, applied only if the task state is as expected.
#[derive(Debug, Clone, Default)]
pub struct StateChange {
    pub vm_state: Option<VmState>,
    /// `Some(None)` clears the task state.
    pub task_state: Option<Option<TaskState>>,
    pub power_state: Option<i32>,
    /// Apply only when the current task state is one of these.
    pub expected_task_state: Option<Vec<Option<TaskState>>>,
    /// Apply only when the current vm state is one of these.
    pub expected_vm_state: Option<Vec<VmState>>,
    /// Only when the instance is on this host (reports from a compute worker).
    pub expected_host: Option<String>,
    pub host: Option<Option<String>>,
    pub launched: bool,
    /// A new image (rebuild).
    pub image_id: Option<Option<String>>,
    /// A new name (rebuild).
    pub name: Option<String>,
    /// A new key pair name, `Some(None)` none (rebuild, the compute API's 2.54).
    pub key_name: Option<Option<String>>,
    /// New user data, `Some(None)` none (rebuild, 2.57).
    pub user_data: Option<Option<String>>,
}

pub(crate) fn claim_of(inst: &Instance) -> Claim {
    Claim {
        vcpus: inst.vcpus,
        memory_mb: inst.memory_mb,
        disk_gb: inst.disk_gb,
    }
}

impl Instance {
    /// The guest's hostname: the one chosen, else one made from the name.
    pub fn hostname(&self) -> String {
        self.chosen_hostname
            .clone()
            .unwrap_or_else(|| metacloud_objects::hostname(&self.name, &self.uuid))
    }
}

pub(crate) const COLUMNS: &str = "uuid, name, project_id, user_id, flavor_id, image_id, host, \
    availability_zone, vm_state, task_state, power_state, vcpus, memory_mb, disk_gb, attempts, \
    tried_hosts, reservation_id, key_name, user_data, metadata, launched_at, terminated_at, \
    created_at, updated_at, deleted, locked_by, access_ip_v4, access_ip_v6, hostname";

pub(crate) fn instance_from_row(r: &AnyRow) -> Result<Instance, DbError> {
    let vm_state: String = get(r, "vm_state")?;
    let task_state: Option<String> = get(r, "task_state")?;
    let tried: String = get(r, "tried_hosts")?;
    let metadata: String = get(r, "metadata")?;
    Ok(Instance {
        uuid: get(r, "uuid")?,
        name: get(r, "name")?,
        project_id: get(r, "project_id")?,
        user_id: get(r, "user_id")?,
        flavor_id: get(r, "flavor_id")?,
        image_id: get(r, "image_id")?,
        host: get(r, "host")?,
        availability_zone: get(r, "availability_zone")?,
        vm_state: VmState::parse(&vm_state)
            .ok_or_else(|| DbError::Corrupt(format!("vm_state {vm_state:?}")))?,
        task_state: match task_state {
            Some(t) => Some(
                TaskState::parse(&t)
                    .ok_or_else(|| DbError::Corrupt(format!("task_state {t:?}")))?,
            ),
            None => None,
        },
        power_state: get::<i64>(r, "power_state")? as i32,
        vcpus: get(r, "vcpus")?,
        memory_mb: get(r, "memory_mb")?,
        disk_gb: get(r, "disk_gb")?,
        attempts: get(r, "attempts")?,
        tried_hosts: tried
            .split(',')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        reservation_id: get(r, "reservation_id")?,
        key_name: get(r, "key_name")?,
        user_data: get(r, "user_data")?,
        metadata: serde_json::from_str(&metadata)
            .map_err(|e| DbError::Corrupt(format!("metadata: {e}")))?,
        launched_at: get(r, "launched_at")?,
        terminated_at: get(r, "terminated_at")?,
        created_at: get(r, "created_at")?,
        updated_at: get(r, "updated_at")?,
        deleted: get::<i64>(r, "deleted")? != 0,
        locked_by: get(r, "locked_by")?,
        access_ip_v4: get(r, "access_ip_v4")?,
        access_ip_v6: get(r, "access_ip_v6")?,
        chosen_hostname: get(r, "hostname")?,
    })
}
