//! The periodic power-state sync: what the hypervisor shows wins over what the database
//! believes, as in Nova's `_sync_power_states`.

use crate::{power_code, ComputeWorker};
use metacloud_rpc::conductor::{self, InstancesOnHost};
use metacloud_rpc::objects::{power, VmState};
use metacloud_rpc::topics;
use std::collections::HashSet;
use std::sync::Arc;

impl ComputeWorker {
    pub(crate) async fn power_sync_loop(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.power_sync_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        let mut warned = HashSet::new();
        loop {
            tick.tick().await;
            if let Err(e) = self.sync_power_states(&mut warned).await {
                tracing::warn!(error = %e, "power sync failed");
            }
        }
    }

    /// Destroys what is left here of instances evacuated to other hosts while this one was
    /// down (Nova's `_destroy_evacuated_instances`): their guests must never run twice.
    pub async fn destroy_evacuated(&self) -> anyhow::Result<usize> {
        let gone: Vec<String> = self
            .rpc
            .call(
                topics::CONDUCTOR,
                &conductor::Request::EvacuatedFrom {
                    host: self.host.clone(),
                },
            )
            .await?;
        for uuid in &gone {
            let u = uuid.clone();
            self.blocking(move |d| d.destroy(&u)).await?;
            tracing::warn!(instance = %uuid, "destroyed the old guest of an instance evacuated from this host");
            let _: () = self
                .rpc
                .call(
                    topics::CONDUCTOR,
                    &conductor::Request::EvacuationCleaned {
                        uuid: uuid.clone(),
                        host: self.host.clone(),
                    },
                )
                .await?;
        }
        Ok(gone.len())
    }

    /// One pass: report instances whose power state changed behind our back, and log
    /// domains the database does not know.
    pub async fn sync_power_states(&self, warned: &mut HashSet<String>) -> anyhow::Result<()> {
        self.destroy_evacuated().await?;
        let known: InstancesOnHost = self
            .rpc
            .call(
                topics::CONDUCTOR,
                &conductor::Request::InstancesOnHost {
                    host: self.host.clone(),
                },
            )
            .await?;
        let domains = self.blocking(|d| d.list()).await?;
        for inst in known.iter().filter(|i| i.task_state.is_none()) {
            let observed = domains
                .iter()
                .find(|d| d.uuid == inst.uuid)
                .map(|d| power_code(d.state))
                .unwrap_or(power::NOSTATE);
            if observed == inst.power_state {
                continue;
            }
            let vm_state = match (inst.vm_state, observed) {
                (VmState::Active, power::SHUTDOWN | power::CRASHED | power::NOSTATE) => {
                    Some(VmState::Stopped)
                }
                _ => None,
            };
            tracing::warn!(
                instance = %inst.uuid,
                db = inst.power_state,
                hypervisor = observed,
                "power state differs; the hypervisor wins"
            );
            self.report(&inst.uuid, vm_state, Some(observed), None)
                .await;
        }
        for d in &domains {
            let ours = known.iter().any(|i| i.uuid == d.uuid);
            if !ours && d.name.starts_with("instance-") && warned.insert(d.uuid.clone()) {
                tracing::warn!(domain = %d.name, "domain unknown to the database");
            }
        }
        Ok(())
    }
}
