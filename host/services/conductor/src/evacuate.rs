//! Evacuation: an instance of a host that is down is rebuilt from its image on another
//! host, as Nova's `rebuild_instance` with `recreate`. The scheduler picks the destination
//! (never the source) unless the operator named one; the claim moves in one transaction.

use crate::{rpc_error, Conductor};
use metacloud_db::moves::{status, Evacuation};
use metacloud_rpc::compute;
use metacloud_rpc::objects::{InstanceSpec, TaskState};
use metacloud_rpc::{topics, RpcError};

impl Conductor {
    pub(crate) async fn evacuate(
        &self,
        instance: InstanceSpec,
        source: &str,
        dest: Option<String>,
        stopped: bool,
        requested_by: Option<metacloud_rpc::objects::Requester>,
    ) -> Result<(), RpcError> {
        let uuid = instance.uuid.clone();
        let candidates = match self.destinations(&instance, source, dest).await {
            Ok(hosts) => hosts,
            Err(message) => return self.evacuation_failed(&uuid, source, &message).await,
        };
        for host in &candidates {
            match self
                .db
                .evacuate_instance(&uuid, source, host, requested_by.as_ref())
                .await
                .map_err(rpc_error)?
            {
                Evacuation::Moved(_, migration) => {
                    tracing::info!(instance = %uuid, %source, dest = %host, %migration, "evacuating");
                    let req = compute::Request::RebuildInstance {
                        instance: Box::new(instance),
                        stopped,
                    };
                    return self.rpc.cast(&topics::compute(host), &req).await;
                }
                Evacuation::NoRoom => continue,
                Evacuation::NotEvacuating => {
                    tracing::info!(instance = %uuid, "no longer waiting for evacuation, skipped");
                    return Ok(());
                }
            }
        }
        let message = format!(
            "No valid host was found. No room for the instance on {}",
            candidates.join(", ")
        );
        self.evacuation_failed(&uuid, source, &message).await
    }

    /// No destination: the instance stays where it is, with a fault saying why.
    async fn evacuation_failed(
        &self,
        uuid: &str,
        source: &str,
        message: &str,
    ) -> Result<(), RpcError> {
        tracing::warn!(instance = %uuid, %source, %message, "evacuation failed");
        self.db
            .abandon_evacuation(uuid, source)
            .await
            .map_err(rpc_error)?;
        self.db
            .add_fault(uuid, 500, message, Some(source))
            .await
            .map_err(rpc_error)
    }

    /// A rebuild ended on `host`: closes the evacuation record that brought it there, if any.
    pub(crate) async fn rebuild_ended(&self, uuid: &str, host: &str, failed: bool) {
        let to = if failed { status::FAILED } else { status::DONE };
        if let Err(e) = self.db.finish_evacuation(uuid, host, to).await {
            tracing::error!(instance = %uuid, %host, error = %e, "cannot close the evacuation record");
        }
    }
}

/// Whether an instance update ends a rebuild (and so, perhaps, an evacuation).
pub(crate) fn ends_rebuild(u: &metacloud_rpc::conductor::InstanceUpdate) -> bool {
    u.expected_task_state == Some(Some(TaskState::Rebuilding)) && u.task_state == Some(None)
}
