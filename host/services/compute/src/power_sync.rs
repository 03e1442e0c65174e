//! The periodic power-state sync: what the hypervisor shows wins over what the database
//! believes, as in Nova's `_sync_power_states`.

use crate::{power_code, ComputeWorker};
use metacloud_rpc::conductor::{self, InstanceUpdate, InstancesOnHost};
use metacloud_rpc::objects::{power, VmState};
use metacloud_rpc::topics;
use std::collections::HashSet;
use std::sync::Arc;

/// Domains the database does not know, as the passes of the sync saw them.
#[derive(Debug, Default)]
pub struct Unknown {
    /// Already logged (once each).
    warned: HashSet<String>,
    /// Seen on the last pass: destroyed when seen again, if configured.
    last_pass: HashSet<String>,
}

impl ComputeWorker {
    pub(crate) async fn power_sync_loop(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.power_sync_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        let mut unknown = Unknown::default();
        loop {
            tick.tick().await;
            if let Err(e) = self.sync_power_states(&mut unknown).await {
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
    /// domains the database does not know (destroying those this host made on their second
    /// sighting with `compute.destroy_unknown_domains`). Domains another compute host made
    /// (several hosts on one libvirt, as in tests) are not this host's business.
    pub async fn sync_power_states(&self, unknown: &mut Unknown) -> anyhow::Result<()> {
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
            // Applied only if nothing changed the instance since it was read: a failed
            // boot put in ERROR meanwhile stays in ERROR.
            let update = InstanceUpdate {
                uuid: inst.uuid.clone(),
                host: self.host.clone(),
                vm_state,
                task_state: None,
                power_state: Some(observed),
                expected_task_state: Some(None),
                expected_vm_state: Some(inst.vm_state),
                fault: None,
            };
            let req = conductor::Request::InstanceUpdate(update);
            if let Err(e) = self
                .rpc
                .call::<_, serde_json::Value>(topics::CONDUCTOR, &req)
                .await
            {
                tracing::warn!(instance = %inst.uuid, error = %e, "state report failed");
            }
        }
        let mut this_pass = HashSet::new();
        for d in &domains {
            let known_here = known.iter().any(|i| i.uuid == d.uuid);
            let another_hosts = d.owner.as_ref().is_some_and(|o| *o != self.host);
            if known_here || another_hosts || !d.name.starts_with("instance-") {
                continue;
            }
            this_pass.insert(d.uuid.clone());
            // Only a domain this host made (its metadata names this host) is destroyed;
            // others named like ours are left to whoever made them.
            let made_here = d.owner.as_deref() == Some(self.host.as_str());
            if self.destroy_unknown && made_here && unknown.last_pass.contains(&d.uuid) {
                let u = d.uuid.clone();
                match self.blocking(move |drv| drv.destroy(&u)).await {
                    Ok(()) => tracing::warn!(domain = %d.name,
                        "destroyed a domain unknown to the database (compute.destroy_unknown_domains)"),
                    Err(e) => tracing::error!(domain = %d.name, error = %e,
                        "cannot destroy a domain unknown to the database"),
                }
                this_pass.remove(&d.uuid);
            } else if unknown.warned.insert(d.uuid.clone()) {
                tracing::warn!(domain = %d.name, "domain unknown to the database");
            }
        }
        unknown.warned.retain(|u| this_pass.contains(u));
        unknown.last_pass = this_pass;
        Ok(())
    }
}
