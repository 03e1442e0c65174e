//! Nova's `AggregateMultiTenancyIsolation` as a plugin: hosts in aggregates with
//! `filter_tenant_id*` metadata take only those projects.

use metacloud_sdk::{Filter, Request, Snapshot};

pub struct AggregateMultiTenancyIsolation;

impl Filter for AggregateMultiTenancyIsolation {
    const NAME: &'static str = "AggregateMultiTenancyIsolation";

    fn passes(snap: &Snapshot, host: usize, req: &Request) -> bool {
        let mut allowed = snap
            .aggregates_of(host)
            .flat_map(|a| a.metadata.iter())
            .filter(|(k, _)| k.starts_with("filter_tenant_id"))
            .flat_map(|(_, v)| v.split(',').map(str::trim))
            .peekable();
        allowed.peek().is_none() || allowed.any(|p| p == req.project_id)
    }

    fn filter(snap: &Snapshot, candidates: Vec<u32>, req: &Request) -> Vec<u32> {
        let isolating = snap.aggregates.iter().any(|a| {
            a.metadata
                .iter()
                .any(|(k, _)| k.starts_with("filter_tenant_id"))
        });
        if isolating {
            metacloud_sdk::each_host::<Self>(snap, candidates, req)
        } else {
            candidates
        }
    }
}

metacloud_sdk::filter_plugin!(AggregateMultiTenancyIsolation, "../../wit/scheduler");
