//! Building: ask the scheduler, claim on the chosen host, cast the build to its compute.

use crate::{rpc_error, Conductor};
use metacloud_db::instances::Placement;
use metacloud_rpc::compute;
use metacloud_rpc::objects::{InstanceSpec, RequestSpec, TaskState};
use metacloud_rpc::scheduler::{self, Selection};
use metacloud_rpc::{topics, RpcError};

impl Conductor {
    /// Schedules and starts a batch. On a redelivered message, instances an earlier try
    /// already placed get their build cast again (spawning is idempotent on the compute).
    pub(crate) async fn build_instances(
        &self,
        spec: RequestSpec,
        instances: Vec<InstanceSpec>,
        redelivered: bool,
    ) {
        let mut pending = instances;
        if redelivered {
            pending = self.resume(pending).await;
        }
        if pending.is_empty() {
            return;
        }
        let spec = RequestSpec {
            instance_uuids: pending.iter().map(|i| i.uuid.clone()).collect(),
            ..spec
        };
        self.schedule_and_cast(spec, pending).await;
    }

    /// Re-casts builds of instances that were placed before a crash; returns the ones
    /// still waiting for a host.
    async fn resume(&self, instances: Vec<InstanceSpec>) -> Vec<InstanceSpec> {
        let mut pending = Vec::new();
        for inst in instances {
            match self.db.get_instance(&inst.uuid).await {
                Ok(row) if row.deleted => {}
                Ok(row) if row.task_state == Some(TaskState::Scheduling) => pending.push(inst),
                Ok(row) if row.task_state == Some(TaskState::Spawning) => {
                    if let Some(host) = row.host {
                        tracing::info!(instance = %inst.uuid, %host, "re-sending build after redelivery");
                        self.cast_build(&host, inst).await;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(instance = %inst.uuid, error = %e, "cannot read instance")
                }
            }
        }
        pending
    }

    /// One scheduler call for the batch, then a claim per instance on its host (or on its
    /// alternates when the host filled up meanwhile), then the cast to the compute.
    pub(crate) async fn schedule_and_cast(&self, spec: RequestSpec, instances: Vec<InstanceSpec>) {
        let selection = match self.select(&spec).await {
            Ok(s) => s,
            Err(e) => {
                let message = match &e {
                    RpcError::NoValidHost(m) => format!("No valid host was found. {m}"),
                    other => format!("Scheduling failed: {other}"),
                };
                for inst in &instances {
                    self.fail_instance(&inst.uuid, &message).await;
                }
                return;
            }
        };
        for (i, inst) in instances.into_iter().enumerate() {
            let candidates = std::iter::once(&selection.hosts[i])
                .chain(selection.alternates.get(i).into_iter().flatten());
            let mut placed = None;
            for host in candidates {
                match self.db.place_instance(&inst.uuid, host).await {
                    Ok(Placement::Placed) => {
                        placed = Some(host.clone());
                        break;
                    }
                    Ok(Placement::NoRoom) => continue,
                    Ok(Placement::NotSchedulable) => {
                        placed = Some(String::new());
                        break;
                    }
                    Err(e) => {
                        tracing::error!(instance = %inst.uuid, %host, error = %e, "claim failed");
                        continue;
                    }
                }
            }
            match placed {
                Some(host) if host.is_empty() => {
                    tracing::info!(instance = %inst.uuid, "no longer waiting for a host, skipped")
                }
                Some(host) => self.cast_build(&host, inst).await,
                None => {
                    self.fail_instance(
                        &inst.uuid,
                        "No valid host was found. Every selected host ran out of resources.",
                    )
                    .await
                }
            }
        }
    }

    /// What the scheduler needs to place one existing instance again (a reschedule, a
    /// move): its flavor, image, zone and server group, never on `ignore_hosts`.
    pub(crate) async fn spec_for_one(
        &self,
        instance: &InstanceSpec,
        availability_zone: Option<String>,
        ignore_hosts: Vec<String>,
    ) -> Result<RequestSpec, RpcError> {
        let group = self
            .db
            .group_of_instance(&instance.uuid)
            .await
            .map_err(rpc_error)?;
        Ok(RequestSpec {
            instance_uuids: vec![instance.uuid.clone()],
            project_id: instance.project_id.clone(),
            flavor: instance.flavor.clone(),
            image: instance.image.clone(),
            availability_zone,
            hints: metacloud_rpc::objects::SchedulerHints {
                group,
                ..Default::default()
            },
            ignore_hosts,
            server_group: None,
            requested_host: None,
        })
    }

    pub(crate) async fn select(&self, spec: &RequestSpec) -> Result<Selection, RpcError> {
        // Instances per host serve the same/different-host hints and tell the scheduler
        // which of its recent selections are claimed already.
        let hosts = self
            .db
            .host_states(self.down_time_ms, true)
            .await
            .map_err(rpc_error)?;
        let mut spec = spec.clone();
        if let Some(group) = spec.hints.group.clone() {
            // Where the members are now (reschedules see the latest picture).
            spec.server_group = match self.db.group_spec(&group).await {
                Ok(g) => Some(g),
                Err(metacloud_db::DbError::NotFound(_)) => {
                    tracing::warn!(%group, "server group is gone; scheduling without it");
                    None
                }
                Err(e) => return Err(rpc_error(e)),
            };
        }
        self.rpc
            .call(
                topics::SCHEDULER,
                &scheduler::Request::SelectDestinations { spec, hosts },
            )
            .await
    }

    async fn cast_build(&self, host: &str, instance: InstanceSpec) {
        let uuid = instance.uuid.clone();
        let req = compute::Request::BuildAndRunInstance {
            instance: Box::new(instance),
        };
        if let Err(e) = self.rpc.cast(&topics::compute(host), &req).await {
            tracing::error!(instance = %uuid, %host, error = %e, "cannot cast build");
            if let Ok(Some(_)) = self.db.unplace_instance(&uuid, host).await {
                self.fail_instance(&uuid, &format!("Cannot reach compute host {host}: {e}"))
                    .await;
            }
        } else {
            tracing::info!(instance = %uuid, %host, "build sent to compute");
        }
    }

    /// A spawn failed on `host`: release the claim there and try another host, until the
    /// attempts run out.
    pub(crate) async fn build_failed(
        &self,
        instance: InstanceSpec,
        host: &str,
        reason: &str,
    ) -> Result<(), RpcError> {
        self.db
            .record_build_result(host, true)
            .await
            .map_err(rpc_error)?;
        let Some(row) = self
            .db
            .unplace_instance(&instance.uuid, host)
            .await
            .map_err(rpc_error)?
        else {
            return Ok(()); // stale or repeated report
        };
        if row.attempts >= self.max_attempts {
            self.fail_instance(
                &instance.uuid,
                &format!(
                    "Exceeded maximum number of retries. Exhausted all hosts available for \
                     retrying build failures for instance {}. Last error on {host}: {reason}",
                    instance.uuid
                ),
            )
            .await;
            return Ok(());
        }
        tracing::warn!(instance = %instance.uuid, %host, %reason, attempt = row.attempts, "build failed, rescheduling");
        let spec = self
            .spec_for_one(
                &instance,
                row.availability_zone.clone(),
                row.tried_hosts.clone(),
            )
            .await?;
        self.schedule_and_cast(spec, vec![instance]).await;
        Ok(())
    }
}
