//! Per-plugin health: calls and failures, whether the plugin keeps failing, and the
//! metrics the plugin reports itself through its `metrics` import.

use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Counters of one loaded plugin.
#[derive(Debug, Default)]
pub struct Health {
    calls: AtomicU64,
    failures: AtomicU64,
    consecutive_failures: AtomicU64,
    metrics: Mutex<BTreeMap<String, f64>>,
}

/// A snapshot of [`Health`] for the admin API and logs.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HealthReport {
    pub calls: u64,
    pub failures: u64,
    pub consecutive_failures: u64,
    pub healthy: bool,
    /// The plugin's own counters and gauges, by name.
    pub metrics: BTreeMap<String, f64>,
}

/// Failures in a row after which a plugin is reported unhealthy.
pub const UNHEALTHY_AFTER: u64 = 3;

/// Distinct metric names one plugin may keep (more are dropped, with a log line).
pub const MAX_METRICS: usize = 256;

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

    /// Adds `value` to the counter `name` (`add`), or sets the gauge `name` to it.
    pub fn metric(&self, name: &str, value: f64, add: bool) -> bool {
        let mut metrics = self.metrics.lock().unwrap_or_else(|e| e.into_inner());
        if !metrics.contains_key(name) && metrics.len() >= MAX_METRICS {
            return false;
        }
        let slot = metrics.entry(name.to_string()).or_insert(0.0);
        *slot = if add { *slot + value } else { value };
        true
    }

    pub fn report(&self) -> HealthReport {
        let consecutive_failures = self.consecutive_failures.load(Ordering::Relaxed);
        HealthReport {
            calls: self.calls.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            consecutive_failures,
            healthy: consecutive_failures < UNHEALTHY_AFTER,
            metrics: self
                .metrics
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_add_gauges_set_and_names_are_bounded() {
        let h = Health::default();
        assert!(h.metric("hits", 2.0, true));
        assert!(h.metric("hits", 3.0, true));
        assert!(h.metric("depth", 7.0, false));
        assert!(h.metric("depth", 4.0, false));
        let m = h.report().metrics;
        assert_eq!(m["hits"], 5.0);
        assert_eq!(m["depth"], 4.0);
        for i in 0..MAX_METRICS {
            h.metric(&format!("m{i}"), 1.0, true);
        }
        assert!(!h.metric("one-too-many", 1.0, true));
        assert!(h.metric("hits", 1.0, true), "known names still count");
        assert_eq!(h.report().metrics.len(), MAX_METRICS);
    }
}
