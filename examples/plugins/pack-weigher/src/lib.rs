//! PackWeigher: prefer the host with the least free RAM that still fits, so hosts fill up
//! one after another and whole hosts stay free (for maintenance or power saving).

use metacloud_sdk::{Request, Snapshot, Weigher};

pub struct Pack;

impl Weigher for Pack {
    const NAME: &'static str = "PackWeigher";

    fn weigh(snap: &Snapshot, host: usize, _req: &Request) -> f64 {
        -snap.free_ram_mb[host]
    }
}

metacloud_sdk::weigher_plugin!(Pack, "../../../wit/scheduler");
