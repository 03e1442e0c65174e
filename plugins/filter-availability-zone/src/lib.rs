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
}

metacloud_sdk::filter_plugin!(AvailabilityZoneFilter, "../../wit/scheduler");
