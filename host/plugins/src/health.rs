//! Per-plugin health: calls and failures, and whether the plugin keeps failing.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of one loaded plugin.
#[derive(Debug, Default)]
pub struct Health {
    calls: AtomicU64,
    failures: AtomicU64,
    consecutive_failures: AtomicU64,
}

/// A snapshot of [`Health`] for the admin API and logs.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HealthReport {
    pub calls: u64,
    pub failures: u64,
    pub consecutive_failures: u64,
    pub healthy: bool,
}

/// Failures in a row after which a plugin is reported unhealthy.
pub const UNHEALTHY_AFTER: u64 = 3;

impl Health {
    pub fn record(&self, ok: bool) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if ok {
            self.consecutive_failures.store(0, Ordering::Relaxed);
        } else {
            self.failures.fetch_add(1, Ordering::Relaxed);
            self.consecutive_failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn report(&self) -> HealthReport {
        let consecutive_failures = self.consecutive_failures.load(Ordering::Relaxed);
        HealthReport {
            calls: self.calls.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            consecutive_failures,
            healthy: consecutive_failures < UNHEALTHY_AFTER,
        }
    }
}
