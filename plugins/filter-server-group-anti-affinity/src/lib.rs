//! Nova's `ServerGroupAntiAffinityFilter` as a plugin: at most `max_server_per_host`
//! members of an anti-affinity group per host.

use metacloud_sdk::{Filter, Request, Snapshot};

pub struct ServerGroupAntiAffinityFilter;

impl Filter for ServerGroupAntiAffinityFilter {
    const NAME: &'static str = "ServerGroupAntiAffinityFilter";

    fn passes(_snap: &Snapshot, host: usize, req: &Request) -> bool {
        match req.group_with_policy("anti-affinity") {
            Some(g) => g.members_on(host) < g.max_per_host.max(1),
            None => true,
        }
    }

    fn filter(snap: &Snapshot, candidates: Vec<u32>, req: &Request) -> Vec<u32> {
        match req.group_with_policy("anti-affinity") {
            Some(_) => metacloud_sdk::each_host::<Self>(snap, candidates, req),
            None => candidates,
        }
    }
}

metacloud_sdk::filter_plugin!(ServerGroupAntiAffinityFilter, "../../wit/scheduler");
