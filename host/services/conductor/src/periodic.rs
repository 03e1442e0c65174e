//! Periodic checks: builds that never finished are failed rather than left stuck.

use crate::Conductor;
use std::sync::Arc;

pub(crate) fn spawn(conductor: Arc<Conductor>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(conductor.periodic_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            conductor.fail_stuck_builds().await;
        }
    });
}

impl Conductor {
    /// Instances still building after `build_timeout` go to `error` (their claim released).
    pub(crate) async fn fail_stuck_builds(&self) {
        let before = metacloud_db::now_ms() - self.build_timeout.as_millis() as i64;
        let stuck = match self.db.builds_older_than(before).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot look for stuck builds");
                return;
            }
        };
        for inst in stuck {
            let reason = match &inst.host {
                Some(host) => {
                    if let Err(e) = self.db.unplace_instance(&inst.uuid, host).await {
                        tracing::error!(instance = %inst.uuid, error = %e, "cannot release claim");
                        continue;
                    }
                    format!(
                        "Build timed out after {} s on host {host}",
                        self.build_timeout.as_secs()
                    )
                }
                None => format!(
                    "Build timed out after {} s while scheduling",
                    self.build_timeout.as_secs()
                ),
            };
            self.fail_instance(&inst.uuid, &reason).await;
        }
    }
}
