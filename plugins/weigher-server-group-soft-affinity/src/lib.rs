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
}

metacloud_sdk::weigher_plugin!(ServerGroupSoftAffinityWeigher, "../../wit/scheduler");
