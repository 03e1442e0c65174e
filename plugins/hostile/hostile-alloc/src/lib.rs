//! A filter that misbehaves in `filter` (its `info` and `sync` work): the host must fail
//! only this call.

use metacloud_sdk::{Filter, Request, Snapshot};

pub struct HostileAlloc;

impl Filter for HostileAlloc {
    const NAME: &'static str = "HostileAlloc";

    fn passes(_snap: &Snapshot, host: usize, _req: &Request) -> bool {
        // 4 GiB in 64 MiB pieces (a wasm32 address space holds at most 4 GiB), all kept.
        let mut pieces: Vec<Vec<u8>> = Vec::new();
        for _ in 0..64 {
            let mut piece = vec![0u8; 64 << 20];
            piece[host % (64 << 20)] = 1;
            pieces.push(std::hint::black_box(piece));
        }
        pieces.len() == 64
    }
}

metacloud_sdk::filter_plugin!(HostileAlloc, "../../../wit/scheduler");
