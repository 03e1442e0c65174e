//! Nova's `ServerGroupAffinityFilter` as a plugin: once a member of an affinity group is
//! placed, the others go to its host.

use metacloud_sdk::{Filter, Request, Snapshot};

pub struct ServerGroupAffinityFilter;

impl Filter for ServerGroupAffinityFilter {
    const NAME: &'static str = "ServerGroupAffinityFilter";

    fn passes(_snap: &Snapshot, host: usize, req: &Request) -> bool {
        match req.group_with_policy("affinity") {
            Some(g) => g.hosts.is_empty() || g.members_on(host) > 0,
            None => true,
        }
    }

    fn filter(snap: &Snapshot, candidates: Vec<u32>, req: &Request) -> Vec<u32> {
        match req.group_with_policy("affinity") {
            Some(_) => metacloud_sdk::each_host::<Self>(snap, candidates, req),
            None => candidates,
        }
    }
}

metacloud_sdk::filter_plugin!(ServerGroupAffinityFilter, "../../wit/scheduler");
