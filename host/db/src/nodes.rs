//! Compute nodes: what each host offers, what is claimed on it, and the scheduler's view.

use crate::{get, now_ms, Db, DbError};
use metacloud_objects::{HostState, NodeReport};
use sqlx::{Any, Transaction};
use std::collections::HashMap;

/// Resources one instance claims on a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    pub vcpus: i64,
    pub memory_mb: i64,
    pub disk_gb: i64,
}

impl Db {
    /// Creates or refreshes a node's totals from its compute worker's report. Usage columns
    /// are owned by claims and left alone.
    pub async fn upsert_node(&self, host: &str, r: &NodeReport) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO compute_nodes (host, availability_zone, vcpus, memory_mb, local_gb, \
             reserved_memory_mb, cpu_allocation_ratio, ram_allocation_ratio, \
             disk_allocation_ratio, hypervisor_type, hypervisor_version, cpu_arch, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             ON CONFLICT (host) DO UPDATE SET availability_zone = excluded.availability_zone, \
             vcpus = excluded.vcpus, memory_mb = excluded.memory_mb, \
             local_gb = excluded.local_gb, reserved_memory_mb = excluded.reserved_memory_mb, \
             cpu_allocation_ratio = excluded.cpu_allocation_ratio, \
             ram_allocation_ratio = excluded.ram_allocation_ratio, \
             disk_allocation_ratio = excluded.disk_allocation_ratio, \
             hypervisor_type = excluded.hypervisor_type, \
             hypervisor_version = excluded.hypervisor_version, \
             cpu_arch = excluded.cpu_arch, updated_at = excluded.updated_at",
        )
        .bind(host)
        .bind(&r.availability_zone)
        .bind(r.vcpus as i64)
        .bind(r.memory_mb as i64)
        .bind(r.local_gb as i64)
        .bind(r.reserved_memory_mb as i64)
        .bind(r.cpu_allocation_ratio)
        .bind(r.ram_allocation_ratio)
        .bind(r.disk_allocation_ratio)
        .bind(&r.hypervisor_type)
        .bind(r.hypervisor_version as i64)
        .bind(&r.cpu_arch)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every compute node as the scheduler needs it, `up` computed from the compute
    /// service's heartbeat. With `with_instances`, each carries the uuids placed on it.
    pub async fn host_states(
        &self,
        down_time_ms: i64,
        with_instances: bool,
    ) -> Result<Vec<HostState>, DbError> {
        let now = now_ms();
        let rows = sqlx::query(
            "SELECT n.host, n.availability_zone, n.vcpus, n.memory_mb, n.local_gb, \
             n.reserved_memory_mb, n.vcpus_used, n.memory_mb_used, n.local_gb_used, \
             n.running_vms, n.cpu_allocation_ratio, n.ram_allocation_ratio, \
             n.disk_allocation_ratio, n.hypervisor_type, n.cpu_arch, n.failed_builds, \
             s.last_seen_at, s.disabled, s.forced_down \
             FROM compute_nodes n JOIN services s \
             ON s.host = n.host AND s.binary_name = 'metacloud-compute' \
             ORDER BY n.host",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut placed: HashMap<String, Vec<String>> = HashMap::new();
        if with_instances {
            let rows = sqlx::query(
                "SELECT uuid, host FROM instances WHERE deleted = 0 AND host IS NOT NULL",
            )
            .fetch_all(&self.pool)
            .await?;
            for r in &rows {
                placed
                    .entry(get(r, "host")?)
                    .or_default()
                    .push(get(r, "uuid")?);
            }
        }
        // Nova counts building, resizing, snapshotting... as I/O ops; here instances are
        // I/O-heavy while they build.
        let mut io_ops: HashMap<String, u64> = HashMap::new();
        for r in &sqlx::query(
            "SELECT host, COUNT(*) AS n FROM instances \
             WHERE deleted = 0 AND host IS NOT NULL AND vm_state = 'building' GROUP BY host",
        )
        .fetch_all(&self.pool)
        .await?
        {
            io_ops.insert(get(r, "host")?, get::<i64>(r, "n")? as u64);
        }
        let mut aggregates = self.host_aggregates().await?;
        rows.iter()
            .map(|r| {
                let host: String = get(r, "host")?;
                let aggregates = aggregates.remove(&host).unwrap_or_default();
                // An aggregate's availability zone overrides the one the compute reports.
                let availability_zone = aggregates
                    .iter()
                    .find_map(|a| a.metadata.get(crate::aggregates::AZ_KEY).cloned())
                    .map_or_else(|| get(r, "availability_zone"), Ok)?;
                Ok(HostState {
                    availability_zone,
                    io_ops: io_ops.get(&host).copied().unwrap_or(0),
                    aggregates,
                    up: get::<i64>(r, "forced_down")? == 0
                        && now - get::<i64>(r, "last_seen_at")? <= down_time_ms,
                    disabled: get::<i64>(r, "disabled")? != 0,
                    vcpus: get::<i64>(r, "vcpus")? as u64,
                    vcpus_used: get::<i64>(r, "vcpus_used")? as u64,
                    memory_mb: get::<i64>(r, "memory_mb")? as u64,
                    memory_mb_used: get::<i64>(r, "memory_mb_used")? as u64,
                    reserved_memory_mb: get::<i64>(r, "reserved_memory_mb")? as u64,
                    local_gb: get::<i64>(r, "local_gb")? as u64,
                    local_gb_used: get::<i64>(r, "local_gb_used")? as u64,
                    cpu_allocation_ratio: get(r, "cpu_allocation_ratio")?,
                    ram_allocation_ratio: get(r, "ram_allocation_ratio")?,
                    disk_allocation_ratio: get(r, "disk_allocation_ratio")?,
                    running_vms: get::<i64>(r, "running_vms")? as u64,
                    failed_builds: get::<i64>(r, "failed_builds")? as u64,
                    hypervisor_type: get(r, "hypervisor_type")?,
                    cpu_arch: get(r, "cpu_arch")?,
                    instances: placed.remove(&host).unwrap_or_default(),
                    host,
                })
            })
            .collect()
    }

    /// Claims `c` on `host` if it still fits under the allocation ratios, atomically.
    /// Returns whether the claim was taken.
    pub async fn claim(&self, host: &str, c: Claim) -> Result<bool, DbError> {
        let mut tx = self.pool.begin().await?;
        let taken = claim_in(&mut tx, host, c).await?;
        tx.commit().await?;
        Ok(taken)
    }

    /// Gives back a claim (never below zero).
    pub async fn release(&self, host: &str, c: Claim) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        release_in(&mut tx, host, c).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Counts a failed build on `host` (the BuildFailureWeigher's input); a success resets it.
    pub async fn record_build_result(&self, host: &str, failed: bool) -> Result<(), DbError> {
        let sql = if failed {
            "UPDATE compute_nodes SET failed_builds = failed_builds + 1 WHERE host = $1"
        } else {
            "UPDATE compute_nodes SET failed_builds = 0 WHERE host = $1 AND failed_builds <> 0"
        };
        sqlx::query(sql).bind(host).execute(&self.pool).await?;
        Ok(())
    }
}

/// Claims `c` on `host` inside `tx` if it fits; one conditional UPDATE, so atomic.
pub(crate) async fn claim_in(
    tx: &mut Transaction<'_, Any>,
    host: &str,
    c: Claim,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE compute_nodes SET vcpus_used = vcpus_used + $1, \
         memory_mb_used = memory_mb_used + $2, local_gb_used = local_gb_used + $3, \
         running_vms = running_vms + 1 \
         WHERE host = $4 \
         AND vcpus_used + $1 <= vcpus * cpu_allocation_ratio \
         AND memory_mb_used + $2 <= (memory_mb - reserved_memory_mb) * ram_allocation_ratio \
         AND local_gb_used + $3 <= local_gb * disk_allocation_ratio",
    )
    .bind(c.vcpus)
    .bind(c.memory_mb)
    .bind(c.disk_gb)
    .bind(host)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Gives back `c` on `host` inside `tx` (never below zero).
pub(crate) async fn release_in(
    tx: &mut Transaction<'_, Any>,
    host: &str,
    c: Claim,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE compute_nodes SET \
         vcpus_used = CASE WHEN vcpus_used > $1 THEN vcpus_used - $1 ELSE 0 END, \
         memory_mb_used = CASE WHEN memory_mb_used > $2 THEN memory_mb_used - $2 ELSE 0 END, \
         local_gb_used = CASE WHEN local_gb_used > $3 THEN local_gb_used - $3 ELSE 0 END, \
         running_vms = CASE WHEN running_vms > 0 THEN running_vms - 1 ELSE 0 END \
         WHERE host = $4",
    )
    .bind(c.vcpus)
    .bind(c.memory_mb)
    .bind(c.disk_gb)
    .bind(host)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
