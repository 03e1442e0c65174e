//! The conductor: orchestrates builds (scheduler → claim → compute), records what compute
//! workers report, and is their only path to the database.
//!
//! Every handler is idempotent, because a message whose consumer died is delivered again:
//! placing checks the instance is still waiting for a host, a claim and its placement
//! commit together, and late or repeated reports find nothing left to do.

mod build;
mod evacuate;
mod migrate;
mod periodic;

use metacloud_config::Config;
use metacloud_db::instances::StateChange;
use metacloud_db::{Db, DbError};
use metacloud_queue::Consumer;
use metacloud_rpc::conductor::{InstanceUpdate, Request};
use metacloud_rpc::objects::{TaskState, VmState};
use metacloud_rpc::{serve, topics, Rpc, RpcError};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// The conductor service.
pub struct Conductor {
    db: Db,
    rpc: Rpc,
    down_time_ms: i64,
    max_attempts: i64,
    build_timeout: Duration,
    periodic_interval: Duration,
}

/// Maps database errors onto what a remote caller can act on.
pub fn rpc_error(e: DbError) -> RpcError {
    match e {
        DbError::NotFound(m) => RpcError::NotFound(m),
        DbError::Conflict(m) => RpcError::Conflict(m),
        e @ DbError::QuotaExceeded { .. } => RpcError::Conflict(e.to_string()),
        e => RpcError::Remote(e.to_string()),
    }
}

fn json<T: serde::Serialize>(v: T) -> Result<Value, RpcError> {
    serde_json::to_value(v).map_err(|e| RpcError::Codec(e.to_string()))
}

impl Conductor {
    pub fn new(config: &Config, db: Db, rpc: Rpc) -> Arc<Conductor> {
        Arc::new(Conductor {
            db,
            rpc,
            down_time_ms: config.service.service_down_time_secs as i64 * 1000,
            max_attempts: config.conductor.max_attempts as i64,
            build_timeout: Duration::from_secs(config.conductor.build_timeout_secs),
            periodic_interval: Duration::from_secs(config.conductor.periodic_interval_secs),
        })
    }

    /// Starts consuming the `conductor` topic and the periodic checks.
    pub async fn start(self: &Arc<Self>) -> anyhow::Result<Consumer> {
        let me = self.clone();
        let handler = serve("conductor", move |req: Request, redelivered| {
            let me = me.clone();
            async move { me.handle(req, redelivered).await }
        });
        let consumer = self.rpc.bus().serve(topics::CONDUCTOR, handler).await?;
        periodic::spawn(self.clone());
        Ok(consumer)
    }

    async fn handle(&self, req: Request, redelivered: bool) -> Result<Value, RpcError> {
        match req {
            Request::BuildInstances { spec, instances } => {
                self.build_instances(spec, instances, redelivered).await;
                json(())
            }
            Request::ServiceReport { binary, host, node } => {
                let topic = if binary == "metacloud-compute" {
                    topics::compute(&host)
                } else {
                    binary.trim_start_matches("metacloud-").to_string()
                };
                self.db
                    .report_service(&binary, &host, &topic)
                    .await
                    .map_err(rpc_error)?;
                if let Some(node) = node {
                    self.db.upsert_node(&host, &node).await.map_err(rpc_error)?;
                }
                json(())
            }
            Request::InstanceUpdate(update) => json(self.instance_update(update).await?),
            Request::BuildSucceeded {
                uuid,
                host,
                power_state,
            } => json(self.build_succeeded(&uuid, &host, power_state).await?),
            Request::BuildFailed {
                instance,
                host,
                reason,
            } => {
                self.build_failed(instance, &host, &reason).await?;
                json(())
            }
            Request::InstanceDestroyed { uuid, host } => {
                let deleted = self
                    .db
                    .delete_instance(&uuid, Some(Some(&host)))
                    .await
                    .map_err(rpc_error)?;
                if deleted.is_some() {
                    tracing::info!(instance = %uuid, %host, "instance deleted, claim released");
                }
                json(deleted.is_some())
            }
            Request::InstancesOnHost { host } => {
                json(self.db.instances_on_host(&host).await.map_err(rpc_error)?)
            }
            Request::Evacuate {
                instance,
                source,
                dest,
                stopped,
                requested_by,
            } => json(
                self.evacuate(instance, &source, dest, stopped, requested_by)
                    .await?,
            ),
            Request::Migrate {
                instance,
                source,
                dest,
                running,
                upload,
                requested_by,
            } => json(
                self.migrate(instance, &source, dest, running, upload, requested_by)
                    .await?,
            ),
            Request::MigratedOut {
                uuid,
                source,
                image_id,
                running,
                error,
            } => json(
                self.migrated_out(&uuid, &source, &image_id, running, error)
                    .await?,
            ),
            Request::EvacuatedFrom { host } => {
                json(self.db.evacuated_from(&host).await.map_err(rpc_error)?)
            }
            Request::EvacuationCleaned { uuid, host } => {
                self.db
                    .evacuation_cleaned(&uuid, &host)
                    .await
                    .map_err(rpc_error)?;
                tracing::info!(instance = %uuid, %host, "old guest of an evacuated instance destroyed");
                json(())
            }
        }
    }

    async fn instance_update(&self, u: InstanceUpdate) -> Result<(), RpcError> {
        let change = StateChange {
            vm_state: u.vm_state,
            task_state: u.task_state,
            power_state: u.power_state,
            expected_task_state: u.expected_task_state.map(|t| vec![t]),
            expected_vm_state: u.expected_vm_state.map(|v| vec![v]),
            expected_host: Some(u.host.clone()),
            ..Default::default()
        };
        self.db
            .update_instance(&u.uuid, &change)
            .await
            .map_err(rpc_error)?;
        if let Some(fault) = &u.fault {
            self.db
                .add_fault(&u.uuid, 500, fault, Some(&u.host))
                .await
                .map_err(rpc_error)?;
        }
        let failed = u.vm_state == Some(VmState::Error);
        if evacuate::ends_rebuild(&u) || failed {
            self.rebuild_ended(&u.uuid, &u.host, failed).await;
        }
        Ok(())
    }

    /// Decides whether a guest that now runs on `host` is still wanted there.
    async fn build_succeeded(
        &self,
        uuid: &str,
        host: &str,
        power_state: i32,
    ) -> Result<bool, RpcError> {
        let inst = match self.db.get_instance(uuid).await {
            Ok(inst) => inst,
            Err(DbError::NotFound(_)) => return Ok(false),
            Err(e) => return Err(rpc_error(e)),
        };
        if inst.deleted || inst.host.as_deref() != Some(host) || inst.vm_state == VmState::Error {
            return Ok(false);
        }
        if inst.vm_state != VmState::Building || inst.task_state == Some(TaskState::Deleting) {
            // Already active (a repeated report) or being deleted: the terminate that
            // follows cleans up.
            return Ok(true);
        }
        let change = StateChange {
            vm_state: Some(VmState::Active),
            task_state: Some(None),
            power_state: Some(power_state),
            expected_task_state: Some(vec![Some(TaskState::Spawning)]),
            expected_host: Some(host.to_string()),
            launched: true,
            ..Default::default()
        };
        match self.db.update_instance(uuid, &change).await {
            Ok(_) => {
                self.db
                    .record_build_result(host, false)
                    .await
                    .map_err(rpc_error)?;
                tracing::info!(instance = %uuid, %host, "instance active");
                Ok(true)
            }
            // Changed meanwhile: keep it only if it is being deleted (terminate follows).
            Err(DbError::Conflict(_)) => Ok(matches!(
                self.db.get_instance(uuid).await,
                Ok(i) if !i.deleted && i.task_state == Some(TaskState::Deleting)
            )),
            Err(DbError::NotFound(_)) => Ok(false),
            Err(e) => Err(rpc_error(e)),
        }
    }

    /// Puts an instance that has no host into `error` with a fault.
    async fn fail_instance(&self, uuid: &str, message: &str) {
        let change = StateChange {
            vm_state: Some(VmState::Error),
            task_state: Some(None),
            expected_vm_state: Some(vec![VmState::Building]),
            ..Default::default()
        };
        match self.db.update_instance(uuid, &change).await {
            Ok(_) => {
                if let Err(e) = self.db.add_fault(uuid, 500, message, None).await {
                    tracing::error!(instance = %uuid, error = %e, "cannot record fault");
                }
                tracing::warn!(instance = %uuid, reason = %message, "instance in error");
            }
            Err(DbError::NotFound(_)) | Err(DbError::Conflict(_)) => {}
            Err(e) => tracing::error!(instance = %uuid, error = %e, "cannot set error state"),
        }
    }
}
