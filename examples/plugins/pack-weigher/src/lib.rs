//! PackWeigher: prefer the host with the least free RAM that still fits, so hosts fill up
//! one after another and whole hosts stay free (for maintenance or power saving).

use metacloud_sdk::{Request, Snapshot, Weigher};

pub struct Pack;

impl Weigher for Pack {
    const NAME: &'static str = "PackWeigher";

    fn weigh(snap: &Snapshot, host: usize, _req: &Request) -> f64 {
        -snap.free_ram_mb[host]
    }

    fn weigh_all(snap: &Snapshot, candidates: &[u32], req: &Request) -> Vec<f64> {
        // Its own metrics, for the operator: how much it weighed, and the last batch.
        counter("hosts-weighed", candidates.len() as u64);
        gauge("last-candidates", candidates.len() as f64);
        candidates
            .iter()
            .map(|&h| Self::weigh(snap, h as usize, req))
            .collect()
    }
}

metacloud_sdk::weigher_plugin!(Pack, "../../../wit/scheduler");
