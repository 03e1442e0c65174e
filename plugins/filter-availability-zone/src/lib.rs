//! Nova's `AvailabilityZoneFilter` as a plugin.

use metacloud_sdk::{Filter, Request, Snapshot};

pub struct AvailabilityZoneFilter;

impl Filter for AvailabilityZoneFilter {
    const NAME: &'static str = "AvailabilityZoneFilter";

    fn passes(snap: &Snapshot, host: usize, req: &Request) -> bool {
        match req.availability_zone.as_deref() {
            None | Some("") => true,
            Some(az) => match az.split_once(':') {
                // Nova's "zone:host" form forces a host.
                Some((zone, h)) => {
                    (zone.is_empty() || zone == snap.az(host))
                        && (h.is_empty() || h == snap.hostname(host))
                }
                None => az == snap.az(host),
            },
        }
    }

    fn filter(snap: &Snapshot, candidates: Vec<u32>, req: &Request) -> Vec<u32> {
        match req.availability_zone.as_deref() {
            None | Some("") => candidates,
            Some(az) if !az.contains(':') => {
                // One string comparison per zone name, then an index comparison per host.
                match snap.az_names.iter().position(|n| n == az) {
                    Some(want) => candidates
                        .into_iter()
                        .filter(|&i| snap.az_index[i as usize] as usize == want)
                        .collect(),
                    None => Vec::new(),
                }
            }
            Some(_) => metacloud_sdk::each_host::<Self>(snap, candidates, req),
        }
    }
}

metacloud_sdk::filter_plugin!(AvailabilityZoneFilter, "../../wit/scheduler");
