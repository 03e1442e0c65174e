//! Nova's `ServerGroupSoftAffinityWeigher` as a plugin: hosts with more members of the
//! soft-affinity group weigh more.

use metacloud_sdk::{Request, Snapshot, Weigher};

pub struct ServerGroupSoftAffinityWeigher;

impl Weigher for ServerGroupSoftAffinityWeigher {
    const NAME: &'static str = "ServerGroupSoftAffinityWeigher";
    const DEFAULT_MULTIPLIER: f64 = 1.0;

    fn weigh(_snap: &Snapshot, host: usize, req: &Request) -> f64 {
        req.group_with_policy("soft-affinity")
            .map_or(0.0, |g| g.members_on(host) as f64)
    }

    fn weigh_all(snap: &Snapshot, candidates: &[u32], req: &Request) -> Vec<f64> {
        match req.group_with_policy("soft-affinity") {
            Some(_) => candidates
                .iter()
                .map(|&i| Self::weigh(snap, i as usize, req))
                .collect(),
            None => vec![0.0; candidates.len()],
        }
    }
}

metacloud_sdk::weigher_plugin!(ServerGroupSoftAffinityWeigher, "../../wit/scheduler");
