//! What a hypervisor reports about one guest (Nova's server diagnostics): its state,
//! CPU time per vCPU, memory, and the counters of each NIC and disk.

use serde::{Deserialize, Serialize};

/// One guest's figures as its hypervisor reports them; `None` where it reports nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GuestDiagnostics {
    /// Nova's diagnostics state: `running`, `paused`, `shutdown`, `crashed`,
    /// `suspended` or `pending`.
    pub state: String,
    /// The hypervisor's kind (`qemu`, `kvm`, `test`).
    pub hypervisor: String,
    pub cpus: Vec<CpuStats>,
    /// Memory the guest may use and uses, in KiB.
    pub memory_max_kib: Option<u64>,
    pub memory_used_kib: Option<u64>,
    pub nics: Vec<NicStats>,
    pub disks: Vec<DiskStats>,
}

/// One vCPU: its index and the CPU time it used (ns).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuStats {
    pub id: u32,
    pub time_ns: Option<u64>,
}

/// One NIC's counters since the guest started.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NicStats {
    pub mac: Option<String>,
    /// The host's device for it (a tap).
    pub device: String,
    pub rx_octets: Option<i64>,
    pub rx_errors: Option<i64>,
    pub rx_drop: Option<i64>,
    pub rx_packets: Option<i64>,
    pub tx_octets: Option<i64>,
    pub tx_errors: Option<i64>,
    pub tx_drop: Option<i64>,
    pub tx_packets: Option<i64>,
}

/// One disk's counters since the guest started.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiskStats {
    /// The guest's name for it (`vda`).
    pub device: String,
    pub read_bytes: Option<i64>,
    pub read_requests: Option<i64>,
    pub write_bytes: Option<i64>,
    pub write_requests: Option<i64>,
    pub errors: Option<i64>,
}
