//! Nova's `ServerGroupSoftAntiAffinityWeigher` as a plugin: hosts with fewer members of
//! the soft-anti-affinity group weigh more.

use metacloud_sdk::{Request, Snapshot, Weigher};

pub struct ServerGroupSoftAntiAffinityWeigher;

impl Weigher for ServerGroupSoftAntiAffinityWeigher {
    const NAME: &'static str = "ServerGroupSoftAntiAffinityWeigher";
    const DEFAULT_MULTIPLIER: f64 = 1.0;

    fn weigh(_snap: &Snapshot, host: usize, req: &Request) -> f64 {
        req.group_with_policy("soft-anti-affinity")
            .map_or(0.0, |g| -(g.members_on(host) as f64))
    }

    fn weigh_all(snap: &Snapshot, candidates: &[u32], req: &Request) -> Vec<f64> {
        match req.group_with_policy("soft-anti-affinity") {
            Some(_) => candidates
                .iter()
                .map(|&i| Self::weigh(snap, i as usize, req))
                .collect(),
            None => vec![0.0; candidates.len()],
        }
    }
}

metacloud_sdk::weigher_plugin!(ServerGroupSoftAntiAffinityWeigher, "../../wit/scheduler");
