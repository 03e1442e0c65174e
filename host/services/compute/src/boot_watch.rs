//! The boot watch: a guest the hypervisor started is not yet a guest that runs. Some hosts
//! accept a domain and then never run it (a KVM module that stalls the kernel, QEMU paused
//! on an internal error), so after each start of a new guest the worker watches it until it
//! writes to its serial console. A guest that crashes, is paused on an error, or stays
//! silent past `compute.boot_timeout_secs` is stopped and its instance put in ERROR with a
//! fault that says which.

use crate::ComputeWorker;
use metacloud_rpc::objects::VmState;
use metacloud_virt::BootCheck;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What one look at a booting guest concludes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// It wrote to its console: it runs.
    Alive,
    /// Nothing to judge: the domain is gone, was stopped or paused on purpose, or the
    /// hypervisor keeps no console of it.
    NotWatched,
    /// Look again later.
    Wait,
    /// It failed; the words go into the instance's fault.
    Failed(String),
}

/// Judges one [`BootCheck`] of a guest started `elapsed` ago with an empty console log
/// (each spawn makes a fresh one).
pub(crate) fn verdict(check: &BootCheck, elapsed: Duration, timeout: Duration) -> Verdict {
    if check.state.is_none() {
        return Verdict::NotWatched;
    }
    if let Some(failure) = &check.failure {
        return Verdict::Failed(format!("Guest failed to boot: {failure}"));
    }
    if check.stopped_on_purpose {
        return Verdict::NotWatched;
    }
    match check.console_bytes {
        None => Verdict::NotWatched,
        Some(n) if n > 0 => Verdict::Alive,
        Some(_) if elapsed >= timeout => Verdict::Failed(format!(
            "Guest failed to boot: no console output within {} s (compute.boot_timeout_secs); \
             the guest was stopped",
            timeout.as_secs()
        )),
        Some(_) => Verdict::Wait,
    }
}

impl ComputeWorker {
    /// Watches the guest of `uuid`, just started, in the background.
    pub(crate) fn watch_boot(self: &Arc<Self>, uuid: &str) {
        if self.boot_timeout.is_zero() {
            return;
        }
        let me = self.clone();
        let uuid = uuid.to_string();
        tokio::spawn(async move { me.boot_watch(uuid).await });
    }

    async fn boot_check(&self, uuid: &str) -> Option<BootCheck> {
        let u = uuid.to_string();
        match self.blocking(move |d| d.boot_check(&u)).await {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(instance = %uuid, error = %e, "boot watch cannot see the guest; giving up");
                None
            }
        }
    }

    async fn boot_watch(&self, uuid: String) {
        let started = Instant::now();
        let Some(first) = self.boot_check(&uuid).await else {
            return;
        };
        let mut check = first;
        let mut pause = Duration::from_millis(100);
        loop {
            match verdict(&check, started.elapsed(), self.boot_timeout) {
                Verdict::Alive => {
                    tracing::info!(instance = %uuid, after_ms = started.elapsed().as_millis() as u64,
                        "guest is writing to its console");
                    return;
                }
                Verdict::NotWatched => return,
                Verdict::Failed(fault) => return self.fail_boot(&uuid, fault).await,
                Verdict::Wait => {}
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(1));
            match self.boot_check(&uuid).await {
                Some(c) => check = c,
                None => return,
            }
        }
    }

    /// Stops a guest that failed to boot and puts its instance in ERROR.
    async fn fail_boot(&self, uuid: &str, fault: String) {
        tracing::error!(instance = %uuid, %fault, "guest failed to boot");
        let u = uuid.to_string();
        if let Err(e) = self.blocking(move |d| d.power_off(&u, None)).await {
            tracing::warn!(instance = %uuid, error = %e, "cannot stop the failed guest");
        }
        let power = self.current_power(uuid).await;
        self.report(uuid, Some(VmState::Error), Some(power), Some(fault))
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metacloud_virt::PowerState;

    fn check(state: Option<PowerState>, bytes: Option<u64>) -> BootCheck {
        BootCheck {
            state,
            failure: None,
            console_bytes: bytes,
            stopped_on_purpose: false,
        }
    }

    const T: Duration = Duration::from_secs(60);

    #[test]
    fn console_output_means_alive() {
        let c = check(Some(PowerState::Running), Some(120));
        assert_eq!(verdict(&c, Duration::ZERO, T), Verdict::Alive);
    }

    #[test]
    fn silence_past_the_deadline_fails_with_the_key_named() {
        let c = check(Some(PowerState::Running), Some(0));
        assert_eq!(verdict(&c, Duration::from_secs(59), T), Verdict::Wait);
        let Verdict::Failed(f) = verdict(&c, T, T) else {
            panic!("must fail")
        };
        assert!(f.contains("no console output within 60 s"), "{f}");
        assert!(f.contains("compute.boot_timeout_secs"), "{f}");
    }

    #[test]
    fn a_reported_failure_wins_at_once() {
        let mut c = check(Some(PowerState::Paused), Some(0));
        c.failure = Some("the hypervisor paused the guest on an internal error".into());
        let Verdict::Failed(f) = verdict(&c, Duration::ZERO, T) else {
            panic!("must fail")
        };
        assert!(f.ends_with("paused the guest on an internal error"), "{f}");
    }

    #[test]
    fn gone_stopped_or_unwatchable_guests_are_left_alone() {
        let gone = check(None, None);
        assert_eq!(verdict(&gone, T, T), Verdict::NotWatched);
        let mut stopped = check(Some(PowerState::Shutdown), Some(0));
        stopped.stopped_on_purpose = true;
        assert_eq!(verdict(&stopped, T, T), Verdict::NotWatched);
        let simulated = check(Some(PowerState::Running), None);
        assert_eq!(verdict(&simulated, T, T), Verdict::NotWatched);
    }
}
