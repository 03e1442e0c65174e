//! The host compute API.

use crate::{ApiError, Context};
use metacloud_db::instances::{Fault, Instance, NewInstances, ServerFilter, StateChange};
use metacloud_db::quotas::DefaultLimits;
use metacloud_db::services::Service;
use metacloud_db::{Db, DbError};
use metacloud_rpc::objects::{
    Flavor, HostState, ImageRef, InstanceSpec, RequestSpec, SchedulerHints, TaskState, VmState,
};
use metacloud_rpc::{compute, conductor, topics, Rpc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A request to boot one or more instances.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    pub name: String,
    /// Flavor id or name.
    pub flavor: String,
    #[serde(default)]
    pub image: Option<ImageRef>,
    #[serde(default)]
    pub min_count: Option<u32>,
    #[serde(default)]
    pub max_count: Option<u32>,
    #[serde(default)]
    pub availability_zone: Option<String>,
    #[serde(default)]
    pub key_name: Option<String>,
    #[serde(default)]
    pub user_data: Option<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub hints: SchedulerHints,
    #[serde(default)]
    pub access_ip_v4: Option<String>,
    #[serde(default)]
    pub access_ip_v6: Option<String>,
    /// The networks to put ports on (the dialects' `networks`).
    #[serde(skip)]
    pub networks: crate::network::NetworkChoice,
    /// Security group names; none: `default`.
    #[serde(default)]
    pub security_groups: Vec<String>,
    /// The tenant's description (the compute API's 2.19).
    #[serde(default)]
    pub description: Option<String>,
    /// Tags (2.52).
    #[serde(default)]
    pub tags: Vec<String>,
    /// The compute host to build on (2.74, admins); the filters still run.
    #[serde(default)]
    pub host: Option<String>,
    /// The hypervisor node to build on (2.74, admins): a host's only node here.
    #[serde(default)]
    pub node: Option<String>,
    /// The guest's hostname (2.90; one server only).
    #[serde(default)]
    pub hostname: Option<String>,
}

/// What a rebuild changes of the data a guest boots with, besides its image (`None`
/// leaves it; `Some(None)` removes it): its key pair (the compute API's 2.54) and user
/// data (2.57). Changed with the rebuild's own state change, so both land or neither.
#[derive(Debug, Clone, Default)]
pub struct RebuildBoot {
    pub key_name: Option<Option<String>>,
    pub user_data: Option<Option<String>>,
}

/// An instance's name and host (for the fixed address view).
#[derive(Debug, Clone)]
pub struct InstanceBrief {
    pub name: String,
    pub host: Option<String>,
}

/// An instance with its latest fault, as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceView {
    #[serde(flatten)]
    pub instance: Instance,
    pub fault: Option<Fault>,
}

/// An access address as given, or 400 when it is not an address of its family.
fn checked_ip(ip: Option<&str>, v6: bool) -> Result<Option<String>, ApiError> {
    let Some(ip) = ip.filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    // Kept in canonical form (`::babe:dc0c:1602`), as Nova stores them.
    match ip.parse::<std::net::IpAddr>() {
        Ok(addr @ std::net::IpAddr::V4(_)) if !v6 => Ok(Some(addr.to_string())),
        Ok(addr @ std::net::IpAddr::V6(_)) if v6 => Ok(Some(addr.to_string())),
        _ => {
            let family = if v6 { "IPv6" } else { "IPv4" };
            Err(ApiError::BadRequest(format!(
                "{ip} is not a valid {family} address"
            )))
        }
    }
}

/// The compute API: every dialect's way into the cloud.
#[derive(Clone)]
pub struct ComputeApi {
    pub(crate) db: Db,
    pub(crate) rpc: Rpc,
    pub(crate) limits: DefaultLimits,
    down_time_ms: i64,
    pub(crate) floating: crate::network::FloatingPolicy,
}

const MAX_BATCH: u32 = 1000;

/// Quotas of Nova's 2.1 API that are recorded and reported per project but limit nothing
/// here (file injection and nova-network resources do not exist; metadata is capped at 128
/// items regardless), with Nova's defaults.
pub(crate) const RECORDED_QUOTAS: [(&str, i64); 8] = [
    ("metadata_items", 128),
    ("injected_files", 5),
    ("injected_file_content_bytes", 10240),
    ("injected_file_path_bytes", 255),
    ("fixed_ips", -1),
    ("floating_ips", 10),
    ("security_groups", 10),
    ("security_group_rules", 20),
];

impl ComputeApi {
    pub fn new(db: Db, rpc: Rpc, limits: DefaultLimits, down_time_ms: i64) -> ComputeApi {
        ComputeApi {
            db,
            rpc,
            limits,
            down_time_ms,
            floating: Default::default(),
        }
    }

    /// The pool used when a request names none, and whether new ports get a floating
    /// address from it (`[network] default_floating_pool`, `auto_assign_floating_ip`).
    pub fn with_floating(mut self, default_pool: &str, auto_assign: bool) -> ComputeApi {
        self.floating = crate::network::FloatingPolicy {
            default_pool: default_pool.to_string(),
            auto_assign,
        };
        self
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// How long a service may stay silent before it counts as down, in ms.
    pub fn down_time_ms(&self) -> i64 {
        self.down_time_ms
    }

    pub(crate) fn require_write(ctx: &Context, action: &str) -> Result<(), ApiError> {
        if ctx.can_write() {
            Ok(())
        } else {
            Err(ApiError::Forbidden(action.to_string()))
        }
    }

    pub(crate) fn require_admin(ctx: &Context, action: &str) -> Result<(), ApiError> {
        if ctx.is_admin() {
            Ok(())
        } else {
            Err(ApiError::Forbidden(action.to_string()))
        }
    }

    /// Applies `change` (a task starting), or the operation's own 409 when the instance is
    /// not in a state it allows.
    pub(crate) async fn begin(
        &self,
        uuid: &str,
        change: &StateChange,
        conflict: impl Fn() -> ApiError,
    ) -> Result<Instance, ApiError> {
        self.db
            .update_instance(uuid, change)
            .await
            .map_err(|e| match e {
                DbError::Conflict(_) => conflict(),
                e => e.into(),
            })
    }

    /// Boots `max_count` instances (or fails as a whole): quota is reserved atomically
    /// with the instance rows, then the conductor is asked to build them.
    pub async fn create(
        &self,
        ctx: &Context,
        req: CreateRequest,
    ) -> Result<Vec<Instance>, ApiError> {
        Self::require_write(ctx, "os_compute_api:servers:create")?;
        if req.name.trim().is_empty() || req.name.len() > 255 {
            return Err(ApiError::BadRequest(
                "name must be 1 to 255 characters".into(),
            ));
        }
        let min = req.min_count.unwrap_or(1);
        let max = req.max_count.unwrap_or(min);
        if min < 1 || max < min || max > MAX_BATCH {
            return Err(ApiError::BadRequest(format!(
                "min_count ({min}) and max_count ({max}) must satisfy 1 <= min <= max <= {MAX_BATCH}"
            )));
        }
        let flavor = match self.flavor(ctx, &req.flavor).await {
            Ok(f) => f,
            Err(ApiError::NotFound(_)) => {
                return Err(ApiError::BadRequest(format!(
                    "Flavor {} could not be found.",
                    req.flavor
                )))
            }
            Err(e) => return Err(e),
        };
        if let Some(image) = &req.image {
            if flavor.memory_mb < image.min_ram_mb {
                return Err(ApiError::BadRequest(format!(
                    "Flavor's memory is too small for requested image ({} MB < {} MB).",
                    flavor.memory_mb, image.min_ram_mb
                )));
            }
            if flavor.root_gb > 0 && flavor.root_gb < image.min_disk_gb {
                return Err(ApiError::BadRequest(format!(
                    "Flavor's disk is too small for requested image ({} GB < {} GB).",
                    flavor.root_gb, image.min_disk_gb
                )));
            }
        }
        if req.metadata.len() > 128 {
            return Err(ApiError::QuotaExceeded {
                resource: "metadata_items".into(),
                requested: req.metadata.len() as i64,
                used: 0,
                limit: 128,
            });
        }
        // The key pair must be the caller's own (Nova: 400 "Invalid key_name provided.").
        if let Some(key) = &req.key_name {
            match self.db.get_keypair(&ctx.user_id, key).await {
                Ok(_) => {}
                Err(DbError::NotFound(_)) => {
                    return Err(ApiError::BadRequest("Invalid key_name provided.".into()))
                }
                Err(e) => return Err(e.into()),
            }
        }
        if let Some(group) = &req.hints.group {
            match self.db.get_server_group(group).await {
                Ok(g) if g.project_id == ctx.project_id => {}
                Ok(_) | Err(DbError::NotFound(_)) => {
                    return Err(ApiError::BadRequest(format!(
                        "Invalid server group {group}: not found in this project"
                    )))
                }
                Err(e) => return Err(e.into()),
            }
        }
        let requested_host = self.requested_destination(ctx, &req).await?;
        if req.hostname.is_some() && max > 1 {
            return Err(ApiError::BadRequest(
                "Unable to allocate a single hostname to multiple instances".into(),
            ));
        }
        let plan = self
            .plan_networking(ctx, &req.networks, &req.security_groups, max)
            .await?;
        let new = NewInstances {
            name: req.name.clone(),
            count: max,
            project_id: ctx.project_id.clone(),
            user_id: ctx.user_id.clone(),
            flavor: flavor.clone(),
            image_id: req.image.as_ref().map(|i| i.id.clone()),
            availability_zone: req.availability_zone.clone(),
            key_name: req.key_name.clone(),
            user_data: req.user_data.clone(),
            metadata: req.metadata.clone(),
            request_id: ctx.request_id.clone(),
            server_group: req.hints.group.clone(),
            access_ip_v4: checked_ip(req.access_ip_v4.as_deref(), false)?,
            access_ip_v6: checked_ip(req.access_ip_v6.as_deref(), true)?,
            description: req.description.clone(),
            tags: req.tags.clone(),
            hostname: req.hostname.clone(),
        };
        let instances = self.db.create_instances(&new, &self.limits).await?;
        // Ports right after the rows, all or nothing: a failure deletes the new instances
        // (their quota comes back) and the ports made so far.
        let uuids: Vec<String> = instances.iter().map(|i| i.uuid.clone()).collect();
        let ports = match crate::network::allocate_ports(&self.db, &ctx.project_id, &uuids, &plan)
            .await
        {
            Ok(ports) => ports,
            Err(e) => {
                for u in &uuids {
                    if let Err(d) = self.db.delete_instance(u, Some(None)).await {
                        tracing::warn!(instance = %u, error = %d, "cannot roll back a new instance");
                    }
                }
                return Err(e);
            }
        };
        if self.floating.auto_assign {
            crate::network::auto_assign_floating(
                &self.db,
                &ctx.project_id,
                &self.floating.default_pool,
                &ports,
            )
            .await;
        }
        let spec = RequestSpec {
            instance_uuids: instances.iter().map(|i| i.uuid.clone()).collect(),
            project_id: ctx.project_id.clone(),
            flavor: flavor.clone(),
            image: req.image.clone(),
            availability_zone: req.availability_zone.clone(),
            hints: req.hints.clone(),
            ignore_hosts: vec![],
            server_group: None,
            requested_host,
        };
        let specs = instances
            .iter()
            .map(|i| InstanceSpec {
                uuid: i.uuid.clone(),
                name: i.name.clone(),
                project_id: i.project_id.clone(),
                user_id: i.user_id.clone(),
                flavor: flavor.clone(),
                image: req.image.clone(),
            })
            .collect();
        let cast = conductor::Request::BuildInstances {
            spec,
            instances: specs,
        };
        if let Err(e) = self.rpc.cast(topics::CONDUCTOR, &cast).await {
            // Nothing will build them: put them in error rather than leave them building.
            for i in &instances {
                let _ = self
                    .db
                    .update_instance(
                        &i.uuid,
                        &StateChange {
                            vm_state: Some(VmState::Error),
                            task_state: Some(None),
                            ..Default::default()
                        },
                    )
                    .await;
                let _ = self
                    .db
                    .add_fault(
                        &i.uuid,
                        500,
                        &format!("cannot reach the conductor: {e}"),
                        None,
                    )
                    .await;
            }
            return Err(ApiError::Unavailable(format!(
                "cannot reach the conductor: {e}"
            )));
        }
        tracing::info!(count = instances.len(), flavor = %flavor.name, "servers requested");
        Ok(instances)
    }

    /// One instance the caller may see (another project's is "not found", as in Nova).
    pub async fn show(&self, ctx: &Context, uuid: &str) -> Result<InstanceView, ApiError> {
        let inst = self.visible(ctx, uuid).await?;
        let fault = if inst.vm_state == VmState::Error {
            self.db.latest_fault(uuid).await?
        } else {
            None
        };
        Ok(InstanceView {
            instance: inst,
            fault,
        })
    }

    pub(crate) async fn visible(&self, ctx: &Context, uuid: &str) -> Result<Instance, ApiError> {
        let not_found = || ApiError::NotFound(format!("Instance {uuid}"));
        let inst = self.db.get_instance(uuid).await.map_err(|e| match e {
            DbError::NotFound(_) => not_found(),
            e => e.into(),
        })?;
        if inst.deleted || (!ctx.is_admin() && inst.project_id != ctx.project_id) {
            return Err(not_found());
        }
        Ok(inst)
    }

    /// An instance the caller may see and change: a locked one is changed by admins only
    /// (Nova's `InstanceIsLocked`, 409).
    pub(crate) async fn changeable(&self, ctx: &Context, uuid: &str) -> Result<Instance, ApiError> {
        let inst = self.visible(ctx, uuid).await?;
        if inst.locked_by.is_some() && !ctx.is_admin() {
            return Err(ApiError::Conflict(format!("Instance {uuid} is locked")));
        }
        Ok(inst)
    }

    /// Locks an instance against changes by non-admins; `owner` or `admin` is recorded,
    /// and the reason when one is given (2.73). Locking a locked instance changes nothing.
    pub async fn lock(
        &self,
        ctx: &Context,
        uuid: &str,
        reason: Option<&str>,
    ) -> Result<(), ApiError> {
        Self::require_write(ctx, "os_compute_api:os-lock-server:lock")?;
        let inst = self.visible(ctx, uuid).await?;
        if inst.locked_by.is_none() {
            let by = if ctx.is_admin() && inst.project_id != ctx.project_id {
                "admin"
            } else {
                "owner"
            };
            self.db.set_instance_lock(uuid, Some(by), reason).await?;
        }
        self.db
            .record_action(uuid, "lock", &ctx.request_id, &ctx.project_id, &ctx.user_id)
            .await?;
        Ok(())
    }

    /// Unlocks an instance; one an admin locked stays locked for its owner (403).
    pub async fn unlock(&self, ctx: &Context, uuid: &str) -> Result<(), ApiError> {
        Self::require_write(ctx, "os_compute_api:os-lock-server:unlock")?;
        let inst = self.visible(ctx, uuid).await?;
        if inst.locked_by.as_deref() == Some("admin") && !ctx.is_admin() {
            return Err(ApiError::Forbidden(
                "os_compute_api:os-lock-server:unlock:unlock_override".into(),
            ));
        }
        if inst.locked_by.is_some() {
            self.db.set_instance_lock(uuid, None, None).await?;
        }
        self.db
            .record_action(
                uuid,
                "unlock",
                &ctx.request_id,
                &ctx.project_id,
                &ctx.user_id,
            )
            .await?;
        Ok(())
    }

    /// Rebuilds an instance from `image` (its disk is replaced; a stopped instance stays
    /// stopped), optionally renaming it and replacing its metadata.
    pub async fn rebuild(
        &self,
        ctx: &Context,
        uuid: &str,
        image: ImageRef,
        name: Option<String>,
        metadata: Option<BTreeMap<String, String>>,
        boot: RebuildBoot,
    ) -> Result<Instance, ApiError> {
        Self::require_write(ctx, "os_compute_api:servers:rebuild")?;
        // A new key pair must be the caller's own (Nova: 400 "Invalid key_name provided.").
        if let Some(Some(key)) = &boot.key_name {
            match self.db.get_keypair(&ctx.user_id, key).await {
                Ok(_) => {}
                Err(DbError::NotFound(_)) => {
                    return Err(ApiError::BadRequest("Invalid key_name provided.".into()))
                }
                Err(e) => return Err(e.into()),
            }
        }
        if let Some(n) = &name {
            if n.trim().is_empty() || n.len() > 255 {
                return Err(ApiError::BadRequest(
                    "name must be 1 to 255 characters".into(),
                ));
            }
        }
        let inst = self.changeable(ctx, uuid).await?;
        let conflict = || {
            ApiError::Conflict(format!(
                "Cannot 'rebuild' instance {uuid} while it is in vm_state {}",
                inst.vm_state.as_str()
            ))
        };
        let Some(host) = inst.host.clone() else {
            return Err(conflict());
        };
        let flavor = self.db.get_flavor(&inst.flavor_id).await?;
        if let Some(m) = metadata {
            self.set_metadata(ctx, uuid, m, true).await?;
        }
        let change = StateChange {
            task_state: Some(Some(TaskState::Rebuilding)),
            expected_task_state: Some(vec![None]),
            expected_vm_state: Some(vec![VmState::Active, VmState::Stopped, VmState::Error]),
            expected_host: Some(host.clone()),
            image_id: Some(Some(image.id.clone())),
            name: name.clone(),
            key_name: boot.key_name,
            user_data: boot.user_data,
            ..Default::default()
        };
        let updated = self.begin(uuid, &change, conflict).await?;
        self.db
            .record_action(
                uuid,
                "rebuild",
                &ctx.request_id,
                &ctx.project_id,
                &ctx.user_id,
            )
            .await?;
        let spec = InstanceSpec {
            uuid: uuid.to_string(),
            name: updated.name.clone(),
            project_id: updated.project_id.clone(),
            user_id: updated.user_id.clone(),
            flavor,
            image: Some(image),
        };
        let req = compute::Request::RebuildInstance {
            instance: Box::new(spec),
            stopped: inst.vm_state == VmState::Stopped,
        };
        self.rpc.cast(&topics::compute(&host), &req).await?;
        Ok(updated)
    }

    /// Resizes an active or stopped instance to another flavor, on its own host (disks do
    /// not move between hosts yet). It ends in `resized` (VERIFY_RESIZE) for the user to
    /// confirm or revert.
    pub async fn resize(&self, ctx: &Context, uuid: &str, flavor: &str) -> Result<(), ApiError> {
        Self::require_write(ctx, "os_compute_api:servers:resize")?;
        let inst = self.changeable(ctx, uuid).await?;
        let flavor = match self.flavor(ctx, flavor).await {
            Ok(f) => f,
            Err(ApiError::NotFound(_)) => {
                return Err(ApiError::BadRequest(format!(
                    "Unable to find flavor {flavor}."
                )))
            }
            Err(e) => return Err(e),
        };
        if flavor.id == inst.flavor_id {
            return Err(ApiError::BadRequest(
                "When resizing, instances must change flavor!".into(),
            ));
        }
        let conflict = |i: &Instance| {
            ApiError::Conflict(format!(
                "Cannot 'resize' instance {uuid} while it is in vm_state {} (task_state {})",
                i.vm_state.as_str(),
                i.task_state.map(|t| t.as_str()).unwrap_or("None")
            ))
        };
        let Some(host) = inst.host.clone() else {
            return Err(conflict(&inst));
        };
        let prep = StateChange {
            task_state: Some(Some(TaskState::ResizePrep)),
            expected_task_state: Some(vec![None]),
            expected_vm_state: Some(vec![VmState::Active, VmState::Stopped]),
            expected_host: Some(host.clone()),
            ..Default::default()
        };
        self.db
            .update_instance(uuid, &prep)
            .await
            .map_err(|e| match e {
                DbError::Conflict(_) => conflict(&inst),
                e => e.into(),
            })?;
        let started = match self.db.start_resize(uuid, &flavor, &self.limits).await {
            Ok(i) => i,
            Err(e) => {
                let back = StateChange {
                    task_state: Some(None),
                    expected_task_state: Some(vec![Some(TaskState::ResizePrep)]),
                    ..Default::default()
                };
                let _ = self.db.update_instance(uuid, &back).await;
                return Err(e.into());
            }
        };
        self.db
            .record_action(
                uuid,
                "resize",
                &ctx.request_id,
                &ctx.project_id,
                &ctx.user_id,
            )
            .await?;
        tracing::info!(instance = %uuid, flavor = %flavor.name, %host, "resize started");
        let req = compute::Request::ResizeInstance {
            instance: Box::new(self.spec_of(&started, flavor).await?),
            running: inst.vm_state == VmState::Active,
            task: TaskState::ResizeMigrating,
            then: VmState::Resized,
        };
        self.rpc.cast(&topics::compute(&host), &req).await?;
        Ok(())
    }

    /// Confirms a resize or migration: the old flavor's resources are freed (and the
    /// source's guest of a migration destroyed). Returns the migration's transfer image,
    /// which is no longer needed.
    pub async fn confirm_resize(
        &self,
        ctx: &Context,
        uuid: &str,
    ) -> Result<Option<String>, ApiError> {
        Self::require_write(ctx, "os_compute_api:servers:confirm_resize")?;
        self.changeable(ctx, uuid).await?;
        let (_, old) = self.db.confirm_resize(uuid).await.map_err(|e| match e {
            DbError::Conflict(m) => ApiError::Conflict(m),
            e => e.into(),
        })?;
        if let Some(source) = &old.source_host {
            self.destroy_left_guest(uuid, source).await;
        }
        self.db
            .record_action(
                uuid,
                "confirmResize",
                &ctx.request_id,
                &ctx.project_id,
                &ctx.user_id,
            )
            .await?;
        Ok(old.transfer_image)
    }

    /// Reverts a resize or migration: the guest gets its old flavor back (on its source
    /// host, after a migration, whose destination guest is destroyed). Returns the
    /// migration's transfer image, which is no longer needed.
    pub async fn revert_resize(
        &self,
        ctx: &Context,
        uuid: &str,
    ) -> Result<Option<String>, ApiError> {
        Self::require_write(ctx, "os_compute_api:servers:revert_resize")?;
        self.changeable(ctx, uuid).await?;
        let (reverted, old, left) = self.db.revert_resize(uuid).await.map_err(|e| match e {
            DbError::Conflict(m) => ApiError::Conflict(m),
            e => e.into(),
        })?;
        let back_to = old.vm_state;
        let host = reverted
            .host
            .clone()
            .ok_or_else(|| ApiError::Conflict(format!("Instance {uuid} has no host")))?;
        if let Some(dest) = &left {
            self.destroy_left_guest(uuid, dest).await;
        }
        self.db
            .record_action(
                uuid,
                "revertResize",
                &ctx.request_id,
                &ctx.project_id,
                &ctx.user_id,
            )
            .await?;
        let flavor = self.db.get_flavor(&reverted.flavor_id).await?;
        let req = compute::Request::ResizeInstance {
            instance: Box::new(self.spec_of(&reverted, flavor).await?),
            running: back_to == VmState::Active,
            task: TaskState::ResizeReverting,
            then: back_to,
        };
        self.rpc.cast(&topics::compute(&host), &req).await?;
        Ok(old.transfer_image)
    }

    /// What the compute worker needs to (re)build an instance's guest.
    async fn spec_of(&self, inst: &Instance, flavor: Flavor) -> Result<InstanceSpec, ApiError> {
        Ok(InstanceSpec {
            uuid: inst.uuid.clone(),
            name: inst.name.clone(),
            project_id: inst.project_id.clone(),
            user_id: inst.user_id.clone(),
            flavor,
            image: None,
        })
    }

    /// Pause, unpause, suspend or resume.
    pub async fn change_power(
        &self,
        ctx: &Context,
        uuid: &str,
        op: compute::PowerOp,
    ) -> Result<(), ApiError> {
        self.power_action(
            ctx,
            uuid,
            op.action(),
            &[op.from_state()],
            &[None],
            op.task(),
            compute::Request::ChangePower {
                uuid: uuid.into(),
                op,
            },
        )
        .await
    }

    /// Merges `metadata` into an instance's (or replaces it); Nova's limits: 128 items,
    /// keys and values of at most 255 characters. Returns the result.
    pub async fn set_metadata(
        &self,
        ctx: &Context,
        uuid: &str,
        metadata: BTreeMap<String, String>,
        replace: bool,
    ) -> Result<BTreeMap<String, String>, ApiError> {
        Self::require_write(ctx, "os_compute_api:server-metadata:update")?;
        if metadata
            .iter()
            .any(|(k, v)| k.is_empty() || k.len() > 255 || v.len() > 255)
        {
            return Err(ApiError::BadRequest(
                "Metadata keys must be 1 to 255 characters and values at most 255".into(),
            ));
        }
        let inst = self.changeable(ctx, uuid).await?;
        let mut merged = if replace {
            BTreeMap::new()
        } else {
            inst.metadata
        };
        merged.extend(metadata);
        if merged.len() > 128 {
            return Err(ApiError::QuotaExceeded {
                resource: "metadata_items".into(),
                requested: merged.len() as i64,
                used: 0,
                limit: 128,
            });
        }
        Ok(self.db.set_instance_metadata(uuid, &merged).await?.metadata)
    }

    /// Removes one metadata key.
    pub async fn delete_metadata(
        &self,
        ctx: &Context,
        uuid: &str,
        key: &str,
    ) -> Result<(), ApiError> {
        Self::require_write(ctx, "os_compute_api:server-metadata:delete")?;
        let mut meta = self.changeable(ctx, uuid).await?.metadata;
        if meta.remove(key).is_none() {
            return Err(ApiError::NotFound(format!("Metadata item {key}")));
        }
        self.db.set_instance_metadata(uuid, &meta).await?;
        Ok(())
    }

    /// Sets or clears (empty string) the access addresses of an instance.
    pub async fn set_access_ips(
        &self,
        ctx: &Context,
        uuid: &str,
        v4: Option<&str>,
        v6: Option<&str>,
    ) -> Result<Instance, ApiError> {
        Self::require_write(ctx, "os_compute_api:servers:update")?;
        let v4 = match v4 {
            Some(ip) => Some(checked_ip(Some(ip), false)?),
            None => None,
        };
        let v6 = match v6 {
            Some(ip) => Some(checked_ip(Some(ip), true)?),
            None => None,
        };
        self.changeable(ctx, uuid).await?;
        Ok(self
            .db
            .set_instance_access_ips(
                uuid,
                v4.as_ref().map(|v| v.as_deref()),
                v6.as_ref().map(|v| v.as_deref()),
            )
            .await?)
    }

    /// Renames an instance the caller may change.
    pub async fn rename(
        &self,
        ctx: &Context,
        uuid: &str,
        name: &str,
    ) -> Result<Instance, ApiError> {
        Self::require_write(ctx, "os_compute_api:servers:update")?;
        if name.trim().is_empty() || name.len() > 255 {
            return Err(ApiError::BadRequest(
                "name must be 1 to 255 characters".into(),
            ));
        }
        self.changeable(ctx, uuid).await?;
        Ok(self.db.rename_instance(uuid, name).await?)
    }

    /// Limits and usage of `project`: (resource, limit, in use), `-1` unlimited.
    pub async fn quota_report(
        &self,
        ctx: &Context,
        project: &str,
    ) -> Result<Vec<(String, i64, i64)>, ApiError> {
        if project != ctx.project_id {
            Self::require_admin(ctx, "os_compute_api:os-quota-sets:show")?;
        }
        let usage = self.db.quota_usage(project).await?;
        let keypairs = self.db.list_keypairs(&ctx.user_id).await?.len() as i64;
        let mut out = Vec::new();
        for resource in [
            metacloud_db::quotas::INSTANCES,
            metacloud_db::quotas::CORES,
            metacloud_db::quotas::RAM,
            metacloud_db::quotas::SERVER_GROUPS,
            metacloud_db::quotas::SERVER_GROUP_MEMBERS,
        ] {
            let limit = self.db.quota_limit(project, resource, &self.limits).await?;
            out.push((
                resource.to_string(),
                limit,
                usage.get(resource).copied().unwrap_or(0),
            ));
        }
        out.push((
            "key_pairs".into(),
            self.keypair_limit(project).await?,
            keypairs,
        ));
        let recorded = DefaultLimits(
            RECORDED_QUOTAS
                .iter()
                .map(|(r, l)| (r.to_string(), *l))
                .collect(),
        );
        for (resource, _) in RECORDED_QUOTAS {
            let limit = self.db.quota_limit(project, resource, &recorded).await?;
            out.push((
                resource.to_string(),
                limit,
                usage.get(resource).copied().unwrap_or(0),
            ));
        }
        Ok(out)
    }

    /// The caller's instances (every project's with `all_projects` for admins).
    pub async fn list(&self, ctx: &Context, all_projects: bool) -> Result<Vec<Instance>, ApiError> {
        let project = if all_projects && ctx.is_admin() {
            None
        } else {
            Some(ctx.project_id.as_str())
        };
        Ok(self.db.list_instances(project, None).await?)
    }

    /// Instances changed since `since` (ms), deleted ones included (`changes-since`).
    pub async fn list_changed(
        &self,
        ctx: &Context,
        all_projects: bool,
        since: i64,
    ) -> Result<Vec<Instance>, ApiError> {
        let project = if all_projects && ctx.is_admin() {
            None
        } else {
            Some(ctx.project_id.as_str())
        };
        Ok(self.db.list_instances_changed(project, since).await?)
    }

    /// One page of instances, filtered, newest first, paged in the database. Every project's
    /// only for an admin asking for all projects (then `filter.project` narrows to one, if
    /// given); anyone else sees their own project's, and asking for another project's finds
    /// none (as filtering the caller's own instances did). An unknown marker and a bad name
    /// filter are 400s.
    pub async fn list_page(
        &self,
        ctx: &Context,
        all_projects: bool,
        mut filter: ServerFilter,
    ) -> Result<Vec<Instance>, ApiError> {
        let bad_request = |e: DbError| match e {
            DbError::MarkerNotFound(marker) => {
                ApiError::BadRequest(format!("marker [{marker}] not found"))
            }
            DbError::InvalidNameFilter { name, reason } => {
                ApiError::BadRequest(format!("Invalid name filter {name:?}: {reason}"))
            }
            e => e.into(),
        };
        if !(all_projects && ctx.is_admin()) {
            match &filter.project {
                Some(p) if *p != ctx.project_id => {
                    filter.name_regex().map_err(bad_request)?;
                    return match filter.marker {
                        Some(m) => Err(bad_request(DbError::MarkerNotFound(m))),
                        None => Ok(Vec::new()),
                    };
                }
                _ => filter.project = Some(ctx.project_id.clone()),
            }
        }
        self.db
            .list_instances_page(&filter)
            .await
            .map_err(bad_request)
    }

    /// Deletes an instance: directly when it has no host (or its host is down, Nova's
    /// "local delete"), otherwise through its compute worker.
    pub async fn delete(&self, ctx: &Context, uuid: &str) -> Result<(), ApiError> {
        Self::require_write(ctx, "os_compute_api:servers:delete")?;
        self.changeable(ctx, uuid).await?;
        // A migration waiting for confirm or revert left a guest on its source.
        let left_on = self
            .db
            .pending_resize(uuid)
            .await
            .ok()
            .flatten()
            .and_then(|old| old.source_host);
        self.delete_here(ctx, uuid).await?;
        // Its addresses go back to their networks and it leaves its groups.
        if let Err(e) = crate::network::release_instance(&self.db, uuid).await {
            tracing::warn!(instance = %uuid, error = %e, "cannot release the instance's ports");
        }
        if let Some(source) = left_on {
            self.destroy_left_guest(uuid, &source).await;
        }
        Ok(())
    }

    /// Asks `host` to destroy the guest a migration left there. The database has moved on
    /// already, so a host that cannot be reached is logged, not an error for the caller.
    async fn destroy_left_guest(&self, uuid: &str, host: &str) {
        let req = compute::Request::DestroyGuest {
            uuid: uuid.to_string(),
        };
        if let Err(e) = self.rpc.cast(&topics::compute(host), &req).await {
            tracing::warn!(instance = %uuid, %host, error = %e, "cannot reach the host to destroy the guest left there");
        }
    }

    async fn delete_here(&self, ctx: &Context, uuid: &str) -> Result<(), ApiError> {
        for _ in 0..5 {
            let inst = self.changeable(ctx, uuid).await?;
            self.db
                .record_action(
                    uuid,
                    "delete",
                    &ctx.request_id,
                    &ctx.project_id,
                    &ctx.user_id,
                )
                .await?;
            let Some(host) = inst.host.clone() else {
                if self.db.delete_instance(uuid, Some(None)).await?.is_some() {
                    return Ok(());
                }
                continue; // placed meanwhile: delete it on its host
            };
            if !self.host_is_up(&host).await? {
                tracing::warn!(instance = %uuid, %host, "compute host down: deleting locally");
                if self
                    .db
                    .delete_instance(uuid, Some(Some(&host)))
                    .await?
                    .is_some()
                {
                    return Ok(());
                }
                continue;
            }
            let change = StateChange {
                task_state: Some(Some(TaskState::Deleting)),
                expected_host: Some(host.clone()),
                ..Default::default()
            };
            match self.db.update_instance(uuid, &change).await {
                Ok(_) => {}
                Err(DbError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
            self.rpc
                .cast(
                    &topics::compute(&host),
                    &compute::Request::TerminateInstance {
                        uuid: uuid.to_string(),
                    },
                )
                .await?;
            return Ok(());
        }
        Err(ApiError::Conflict(format!(
            "Instance {uuid} keeps changing; try the delete again"
        )))
    }

    async fn host_is_up(&self, host: &str) -> Result<bool, ApiError> {
        Ok(self
            .db
            .list_services(self.down_time_ms)
            .await?
            .iter()
            .any(|s| s.binary == "metacloud-compute" && s.host == host && s.up))
    }

    /// Starts a stopped instance.
    pub async fn start(&self, ctx: &Context, uuid: &str) -> Result<(), ApiError> {
        self.power_action(
            ctx,
            uuid,
            "start",
            &[VmState::Stopped],
            &[None],
            TaskState::PoweringOn,
            compute::Request::StartInstance { uuid: uuid.into() },
        )
        .await
    }

    /// Stops an active instance (ACPI, then hard after the compute's timeout).
    pub async fn stop(&self, ctx: &Context, uuid: &str) -> Result<(), ApiError> {
        self.power_action(
            ctx,
            uuid,
            "stop",
            &[VmState::Active, VmState::Error],
            &[None],
            TaskState::PoweringOff,
            compute::Request::StopInstance { uuid: uuid.into() },
        )
        .await
    }

    /// Reboots an instance; a hard reboot may interrupt a soft one.
    pub async fn reboot(&self, ctx: &Context, uuid: &str, hard: bool) -> Result<(), ApiError> {
        let (task, allowed): (TaskState, &[Option<TaskState>]) = if hard {
            (
                TaskState::RebootingHard,
                &[None, Some(TaskState::Rebooting)],
            )
        } else {
            (TaskState::Rebooting, &[None])
        };
        let states: &[VmState] = if hard {
            &[
                VmState::Active,
                VmState::Stopped,
                VmState::Paused,
                VmState::Suspended,
                VmState::Error,
            ]
        } else {
            &[VmState::Active]
        };
        self.power_action(
            ctx,
            uuid,
            // Nova records both kinds as `reboot`.
            "reboot",
            states,
            allowed,
            task,
            compute::Request::RebootInstance {
                uuid: uuid.into(),
                hard,
            },
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn power_action(
        &self,
        ctx: &Context,
        uuid: &str,
        action: &str,
        vm_states: &[VmState],
        task_states: &[Option<TaskState>],
        task: TaskState,
        req: compute::Request,
    ) -> Result<(), ApiError> {
        Self::require_write(ctx, &format!("os_compute_api:servers:{action}"))?;
        let inst = self.changeable(ctx, uuid).await?;
        let Some(host) = inst.host.clone() else {
            return Err(ApiError::Conflict(format!(
                "Cannot '{action}' instance {uuid} while it is in vm_state {}",
                inst.vm_state.as_str()
            )));
        };
        let change = StateChange {
            task_state: Some(Some(task)),
            expected_task_state: Some(task_states.to_vec()),
            expected_vm_state: Some(vm_states.to_vec()),
            expected_host: Some(host.clone()),
            ..Default::default()
        };
        self.db
            .update_instance(uuid, &change)
            .await
            .map_err(|e| match e {
                DbError::Conflict(_) => {
                    let task = inst.task_state.map(|t| t.as_str()).unwrap_or("None");
                    ApiError::Conflict(format!(
                        "Cannot '{action}' instance {uuid} while it is in vm_state {} \
                     (task_state {task})",
                        inst.vm_state.as_str()
                    ))
                }
                e => e.into(),
            })?;
        self.db
            .record_action(uuid, action, &ctx.request_id, &ctx.project_id, &ctx.user_id)
            .await?;
        self.rpc.cast(&topics::compute(&host), &req).await?;
        Ok(())
    }

    /// The actions of an instance the caller may see, with who asked and when.
    pub async fn action_records(
        &self,
        ctx: &Context,
        uuid: &str,
    ) -> Result<Vec<metacloud_db::instances::ActionRecord>, ApiError> {
        self.visible(ctx, uuid).await?;
        Ok(self.db.list_action_records(uuid).await?)
    }

    /// [`ComputeApi::action_records`] of a deleted instance too (the compute API's 2.21).
    pub async fn action_records_of_any(
        &self,
        ctx: &Context,
        uuid: &str,
    ) -> Result<Vec<metacloud_db::instances::ActionRecord>, ApiError> {
        let not_found = || ApiError::NotFound(format!("Instance {uuid}"));
        let inst = self.db.get_instance(uuid).await.map_err(|e| match e {
            DbError::NotFound(_) => not_found(),
            e => e.into(),
        })?;
        if !ctx.is_admin() && inst.project_id != ctx.project_id {
            return Err(not_found());
        }
        Ok(self.db.list_action_records(uuid).await?)
    }

    pub async fn actions(&self, ctx: &Context, uuid: &str) -> Result<Vec<String>, ApiError> {
        self.visible(ctx, uuid).await?;
        Ok(self.db.list_actions(uuid).await?)
    }

    /// The guest's serial console log.
    pub async fn console_output(&self, ctx: &Context, uuid: &str) -> Result<String, ApiError> {
        let inst = self.visible(ctx, uuid).await?;
        let host = inst
            .host
            .ok_or_else(|| ApiError::Conflict(format!("Instance {uuid} has no host yet")))?;
        Ok(self
            .rpc
            .call(
                &topics::compute(&host),
                &compute::Request::ConsoleOutput { uuid: uuid.into() },
            )
            .await?)
    }

    /// A compute host's uptime and load, from the host itself (admin).
    pub async fn host_uptime(&self, ctx: &Context, host: &str) -> Result<String, ApiError> {
        Self::require_admin(ctx, "os_compute_api:os-hypervisors:uptime")?;
        if !self.host_is_up(host).await? {
            return Err(ApiError::Unavailable(format!(
                "Compute service of {host} is unavailable at this time."
            )));
        }
        Ok(self
            .rpc
            .call(&topics::compute(host), &compute::Request::Uptime)
            .await?)
    }

    /// Every service with its up/down state (admin).
    pub async fn services(&self, ctx: &Context) -> Result<Vec<Service>, ApiError> {
        Self::require_admin(ctx, "os_compute_api:os-services:list")?;
        Ok(self.db.list_services(self.down_time_ms).await?)
    }

    /// Compute nodes with their resources and usage (admin).
    pub async fn hypervisors(&self, ctx: &Context) -> Result<Vec<HostState>, ApiError> {
        Self::require_admin(ctx, "os_compute_api:os-hypervisors:list")?;
        Ok(self.db.host_states(self.down_time_ms, true).await?)
    }

    /// The domains a compute host's hypervisor itself lists (admin).
    pub async fn host_domains(
        &self,
        ctx: &Context,
        host: &str,
    ) -> Result<Vec<compute::Domain>, ApiError> {
        Self::require_admin(ctx, "os_compute_api:os-hypervisors:servers")?;
        Ok(self
            .rpc
            .call(&topics::compute(host), &compute::Request::ListDomains)
            .await?)
    }

    /// Asks every scheduler to reload its policy (plugins and config) (admin).
    pub async fn reload_schedulers(&self, ctx: &Context) -> Result<(), ApiError> {
        Self::require_admin(ctx, "metacloud:scheduler:reload")?;
        #[derive(Serialize)]
        struct Reload<'a> {
            reason: &'a str,
        }
        self.rpc
            .fanout(
                "scheduler_reload",
                &Reload {
                    reason: "admin API",
                },
            )
            .await?;
        Ok(())
    }

    /// The scheduler's policy and its plugins' health (admin).
    pub async fn scheduler_report(
        &self,
        ctx: &Context,
    ) -> Result<metacloud_rpc::scheduler::PolicyReport, ApiError> {
        Self::require_admin(ctx, "metacloud:scheduler:show")?;
        Ok(self
            .rpc
            .call(
                topics::SCHEDULER,
                &metacloud_rpc::scheduler::Request::PolicyReport,
            )
            .await?)
    }

    /// Sets a project's quota limit (admin).
    pub async fn set_quota(
        &self,
        ctx: &Context,
        project: &str,
        resource: &str,
        limit: i64,
    ) -> Result<(), ApiError> {
        Self::require_admin(ctx, "os_compute_api:os-quota-sets:update")?;
        if limit < -1 {
            return Err(ApiError::BadRequest(format!(
                "Quota limit {limit} for {resource} must be -1 or greater."
            )));
        }
        if resource == "key_pairs" || RECORDED_QUOTAS.iter().any(|(r, _)| *r == resource) {
            return Ok(self.db.set_quota(project, resource, limit).await?);
        }
        if ![
            metacloud_db::quotas::INSTANCES,
            metacloud_db::quotas::CORES,
            metacloud_db::quotas::RAM,
            metacloud_db::quotas::SERVER_GROUPS,
            metacloud_db::quotas::SERVER_GROUP_MEMBERS,
        ]
        .contains(&resource)
        {
            return Err(ApiError::BadRequest(format!(
                "unknown quota resource {resource}"
            )));
        }
        Ok(self.db.set_quota(project, resource, limit).await?)
    }

    /// Forgets a project's own limits: the defaults apply again.
    pub async fn delete_quotas(&self, ctx: &Context, project: &str) -> Result<(), ApiError> {
        Self::require_admin(ctx, "os_compute_api:os-quota-sets:delete")?;
        self.db.delete_quotas(project).await?;
        tracing::info!(%project, "project quotas reset to defaults");
        Ok(())
    }

    /// Every quota resource with its configured default.
    fn quota_defaults(&self) -> DefaultLimits {
        let mut all = self.limits.0.clone();
        all.insert("key_pairs".into(), crate::keypairs::KEYPAIRS_PER_USER);
        all.extend(RECORDED_QUOTAS.iter().map(|(r, l)| (r.to_string(), *l)));
        DefaultLimits(all)
    }

    /// The default limits (resource, limit): set through the API, else configured.
    pub async fn default_quotas(&self) -> Result<Vec<(String, i64)>, ApiError> {
        let defaults = self.quota_defaults();
        let mut out = Vec::with_capacity(defaults.0.len());
        for resource in defaults.0.keys() {
            out.push((
                resource.clone(),
                self.db.default_limit(resource, &defaults).await?,
            ));
        }
        Ok(out)
    }

    /// Sets the default limit of a resource for every project without its own (admin).
    pub async fn set_default_quota(
        &self,
        ctx: &Context,
        resource: &str,
        limit: i64,
    ) -> Result<(), ApiError> {
        Self::require_admin(ctx, "os_compute_api:os-quota-class-sets:update")?;
        if !self.quota_defaults().0.contains_key(resource) {
            return Err(ApiError::BadRequest(format!(
                "unknown quota resource {resource}"
            )));
        }
        if limit < -1 {
            return Err(ApiError::BadRequest(format!(
                "Quota limit {limit} for {resource} must be -1 or greater."
            )));
        }
        self.db.set_default_limit(resource, limit).await?;
        tracing::info!(%resource, limit, "default quota set");
        Ok(())
    }

    /// A project's usage per resource.
    pub async fn quota_usage(
        &self,
        ctx: &Context,
        project: &str,
    ) -> Result<BTreeMap<String, i64>, ApiError> {
        if project != ctx.project_id {
            Self::require_admin(ctx, "os_compute_api:os-quota-sets:show")?;
        }
        Ok(self.db.quota_usage(project).await?)
    }
}

/// What later microversions show of a server beyond its row.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerExtra {
    pub extra: metacloud_db::instances::InstanceExtra,
    /// Nova's `host_status` (2.16): `UP`, `DOWN`, `MAINTENANCE`, `UNKNOWN`, or empty
    /// without a host. Computed for admins only (empty for others).
    pub host_status: &'static str,
    /// Its flavor (2.47); one made of the instance's own figures when the flavor is gone.
    pub flavor: metacloud_objects::Flavor,
}

/// Nova's `host_status` of a server on `host`, from its compute service (`None`: no
/// such service).
pub fn host_status(host: Option<&str>, service: Option<&Service>) -> &'static str {
    match (host, service) {
        (None, _) => "",
        (Some(_), None) => "UNKNOWN",
        (Some(_), Some(s)) if s.forced_down => "DOWN",
        (Some(_), Some(s)) if s.disabled => "MAINTENANCE",
        (Some(_), Some(s)) if s.up => "UP",
        _ => "UNKNOWN",
    }
}

impl ComputeApi {
    /// What later microversions show of the servers `ids` the caller sees, beyond their
    /// rows (launch index, user data, description, tags; the host's status for admins).
    pub async fn servers_extra(
        &self,
        ctx: &Context,
        ids: &[String],
    ) -> Result<Vec<ServerExtra>, ApiError> {
        let extras: Vec<_> = self
            .db
            .instance_extras(ids)
            .await?
            .into_iter()
            .filter(|e| ctx.is_admin() || e.project_id == ctx.project_id)
            .collect();
        let services = if ctx.is_admin() && extras.iter().any(|e| e.host.is_some()) {
            self.db.list_services(self.down_time_ms).await?
        } else {
            Vec::new()
        };
        let mut flavors: BTreeMap<String, metacloud_objects::Flavor> = BTreeMap::new();
        for e in &extras {
            if !flavors.contains_key(&e.flavor_id) {
                let f = match self.db.get_flavor(&e.flavor_id).await {
                    Ok(f) if f.id == e.flavor_id => f,
                    _ => metacloud_objects::Flavor {
                        id: e.flavor_id.clone(),
                        name: e.flavor_id.clone(),
                        vcpus: e.vcpus.clamp(0, u32::MAX as i64) as u32,
                        memory_mb: e.memory_mb.max(0) as u64,
                        root_gb: e.disk_gb.max(0) as u64,
                        ephemeral_gb: 0,
                        swap_mb: 0,
                        extra_specs: Default::default(),
                        is_public: true,
                    },
                };
                flavors.insert(e.flavor_id.clone(), f);
            }
        }
        Ok(extras
            .into_iter()
            .map(|extra| {
                let status = if ctx.is_admin() {
                    let service = services.iter().find(|s| {
                        s.binary == crate::hosts::COMPUTE_BINARY
                            && Some(s.host.as_str()) == extra.host.as_deref()
                    });
                    host_status(extra.host.as_deref(), service)
                } else {
                    ""
                };
                ServerExtra {
                    flavor: flavors.get(&extra.flavor_id).cloned().unwrap_or_default(),
                    extra,
                    host_status: status,
                }
            })
            .collect())
    }

    /// The host a create names (2.74: `host` and/or `hypervisor_hostname`; a host's node
    /// is named as the host): admins only, and it must be a compute host here (Nova's 400
    /// otherwise). The scheduler still runs its filters on it.
    async fn requested_destination(
        &self,
        ctx: &Context,
        req: &CreateRequest,
    ) -> Result<Option<String>, ApiError> {
        if req.host.is_none() && req.node.is_none() {
            return Ok(None);
        }
        Self::require_admin(ctx, "compute:servers:create:requested_destination")?;
        if let (Some(h), Some(n)) = (&req.host, &req.node) {
            if h != n {
                return Err(ApiError::BadRequest(format!(
                    "Compute host {h} could not be found."
                )));
            }
        }
        let host = req.host.as_ref().or(req.node.as_ref()).cloned();
        if let Some(h) = &host {
            self.compute_service(h).await.map_err(|e| match e {
                ApiError::NotFound(m) => ApiError::BadRequest(m),
                e => e,
            })?;
        }
        Ok(host)
    }

    /// Sets a server's hostname (Nova's update and rebuild, 2.90): the metadata service
    /// and DHCP hand it out from then on.
    pub async fn set_hostname(
        &self,
        ctx: &Context,
        uuid: &str,
        hostname: &str,
    ) -> Result<Instance, ApiError> {
        Self::require_write(ctx, "os_compute_api:servers:update")?;
        self.changeable(ctx, uuid).await?;
        Ok(self.db.set_instance_hostname(uuid, hostname).await?)
    }

    /// Sets (or clears) a server's description (Nova's update, 2.19).
    pub async fn describe(
        &self,
        ctx: &Context,
        uuid: &str,
        description: Option<&str>,
    ) -> Result<Instance, ApiError> {
        Self::require_write(ctx, "os_compute_api:servers:update")?;
        self.changeable(ctx, uuid).await?;
        Ok(self.db.set_instance_description(uuid, description).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    fn ctx(project: &str, role: &str) -> Context {
        Context {
            request_id: "req-test".into(),
            project_id: project.into(),
            user_id: "u".into(),
            roles: vec![role.into()],
        }
    }

    fn bad_request(r: Result<Vec<Instance>, ApiError>) -> String {
        match r {
            Err(ApiError::BadRequest(m)) => m,
            other => panic!("not a 400: {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_page_of_servers_keeps_the_project_rule_and_answers_400s() {
        metacloud_db::scratch::on_both(|url| async move {
            let db = Db::connect(&url, 5, Duration::from_secs(5)).await.unwrap();
            db.migrate().await.unwrap();
            let limits = DefaultLimits(
                [("instances", -1), ("cores", -1), ("ram", -1)]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
            );
            let bus = Arc::new(metacloud_queue::embedded::EmbeddedBus::new(1));
            let api = ComputeApi::new(
                db.clone(),
                Rpc::new(bus, Duration::from_secs(1)),
                limits.clone(),
                60_000,
            );
            let flavor = db.get_flavor("m1.nano").await.unwrap();
            for (project, count) in [("p1", 3), ("p2", 2)] {
                let new = NewInstances::plain("vm", count, project, "u", flavor.clone());
                db.create_instances(&new, &limits).await.unwrap();
            }
            let (member, admin) = (ctx("p1", "member"), ctx("p1", "admin"));
            let page = |c: &Context, all: bool, filter: ServerFilter| {
                let (api, c) = (api.clone(), c.clone());
                async move { api.list_page(&c, all, filter).await }
            };
            let uuids = |v: Vec<Instance>| v.into_iter().map(|i| i.uuid).collect::<Vec<_>>();
            // Newest first: list's instances (oldest first) the other way round.
            let mut newest_first = uuids(api.list(&member, false).await.unwrap());
            newest_first.reverse();
            assert_eq!(newest_first.len(), 3);
            // A member sees their own project's, whatever all_projects says.
            for all in [false, true] {
                let got = page(&member, all, ServerFilter::default()).await.unwrap();
                assert_eq!(uuids(got), newest_first);
            }
            let two = ServerFilter {
                limit: Some(2),
                ..Default::default()
            };
            assert_eq!(
                uuids(page(&member, false, two.clone()).await.unwrap()),
                newest_first[..2]
            );
            // An admin sees every project's only when asking for all of them.
            assert_eq!(
                page(&admin, false, ServerFilter::default())
                    .await
                    .unwrap()
                    .len(),
                3
            );
            assert_eq!(
                page(&admin, true, ServerFilter::default())
                    .await
                    .unwrap()
                    .len(),
                5
            );
            let p2 = ServerFilter {
                project: Some("p2".into()),
                ..Default::default()
            };
            let theirs = page(&admin, true, p2.clone()).await.unwrap();
            assert_eq!(theirs.len(), 2);
            assert!(theirs.iter().all(|i| i.project_id == "p2"));
            // Anyone else asking for another project's finds none…
            assert!(page(&member, true, p2.clone()).await.unwrap().is_empty());
            assert!(page(&admin, false, p2.clone()).await.unwrap().is_empty());
            // …and not its servers as markers either.
            let foreign = theirs[0].uuid.clone();
            let after_foreign = ServerFilter {
                marker: Some(foreign.clone()),
                ..Default::default()
            };
            assert_eq!(
                bad_request(page(&member, false, after_foreign.clone()).await),
                format!("marker [{foreign}] not found")
            );
            assert_eq!(
                bad_request(
                    page(
                        &member,
                        false,
                        ServerFilter {
                            marker: Some(foreign.clone()),
                            ..p2.clone()
                        }
                    )
                    .await
                ),
                format!("marker [{foreign}] not found")
            );
            assert!(page(&admin, true, after_foreign).await.is_ok());
            let next = ServerFilter {
                marker: Some(newest_first[1].clone()),
                ..two
            };
            assert_eq!(
                uuids(page(&member, false, next).await.unwrap()),
                newest_first[2..]
            );
            let m = bad_request(
                page(
                    &member,
                    false,
                    ServerFilter {
                        name: Some("(".into()),
                        ..Default::default()
                    },
                )
                .await,
            );
            assert!(m.starts_with("Invalid name filter \"(\": "), "{m}");
            db.close().await;
        })
        .await;
    }
}
