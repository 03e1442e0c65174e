//! The service catalog: as tokens and `/v3/auth/catalog` carry it, and the
//! administrative views of it (`/v3/services`, `/v3/endpoints`, `/v3/regions`).

use crate::bindings::metacloud::api::identity::{self, Catalog};
use crate::{base_of, collection, Fault, Reply, Request};
use serde_json::{json, Value};

/// Every service is reached at its one URL on each of these.
const INTERFACES: [&str; 3] = ["public", "internal", "admin"];

/// The catalog as a token's `catalog`: services with their endpoints.
pub fn catalog_json(cat: &Catalog) -> Value {
    let region = &cat.region;
    Value::Array(
        cat.services
            .iter()
            .map(|s| {
                let endpoints: Vec<Value> = INTERFACES
                    .iter()
                    .map(|iface| {
                        json!({"id": format!("{}-{iface}", s.id), "interface": iface,
                               "region": region, "region_id": region, "url": s.url})
                    })
                    .collect();
                json!({"id": s.id, "type": s.kind, "name": s.name, "endpoints": endpoints})
            })
            .collect(),
    )
}

/// `GET /v3/services`.
pub fn services_json(cat: &Catalog) -> Value {
    let b = base_of(cat);
    let items = cat
        .services
        .iter()
        .map(|s| {
            json!({"id": s.id, "type": s.kind, "name": s.name, "enabled": true,
                   "links": {"self": format!("{b}/services/{}", s.id)}})
        })
        .collect();
    collection(&b, "services", "services", items)
}

/// `GET /v3/endpoints`: three per service.
pub fn endpoints_json(cat: &Catalog) -> Value {
    let b = base_of(cat);
    let region = &cat.region;
    let mut items = Vec::new();
    for s in &cat.services {
        for iface in INTERFACES {
            items.push(
                json!({"id": format!("{}-{iface}", s.id), "interface": iface, "region": region,
                       "region_id": region, "service_id": s.id, "url": s.url, "enabled": true,
                       "links": {"self": format!("{b}/endpoints/{}-{iface}", s.id)}}),
            );
        }
    }
    collection(&b, "endpoints", "endpoints", items)
}

/// `GET /v3/regions`: the one region.
pub fn regions_json(cat: &Catalog) -> Value {
    let b = base_of(cat);
    let r = &cat.region;
    collection(
        &b,
        "regions",
        "regions",
        vec![json!({"id": r, "description": "", "parent_region_id": null,
                    "links": {"self": format!("{b}/regions/{r}")}})],
    )
}

pub fn services(r: &Request) -> Result<Reply, Fault> {
    r.caller()?;
    Ok(Reply::json(200, &services_json(&identity::get_catalog())))
}

pub fn endpoints(r: &Request) -> Result<Reply, Fault> {
    r.caller()?;
    Ok(Reply::json(200, &endpoints_json(&identity::get_catalog())))
}

pub fn regions(r: &Request) -> Result<Reply, Fault> {
    r.caller()?;
    Ok(Reply::json(200, &regions_json(&identity::get_catalog())))
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::bindings::metacloud::api::identity::CatalogService;

    pub fn sample() -> Catalog {
        Catalog {
            region: "RegionOne".into(),
            services: vec![
                CatalogService {
                    id: "svc-compute".into(),
                    kind: "compute".into(),
                    name: "nova".into(),
                    url: "http://127.0.0.1:8774/v2.1".into(),
                },
                CatalogService {
                    id: "svc-identity".into(),
                    kind: "identity".into(),
                    name: "keystone".into(),
                    url: "http://127.0.0.1:5000/v3".into(),
                },
            ],
            identity_url: "http://127.0.0.1:5000/v3".into(),
        }
    }

    #[test]
    fn token_catalogs_list_three_endpoints_per_service() {
        let c = catalog_json(&sample());
        assert_eq!(c.as_array().map(Vec::len), Some(2));
        assert_eq!(
            c[0],
            json!({"id": "svc-compute", "type": "compute", "name": "nova", "endpoints": [
                {"id": "svc-compute-public", "interface": "public", "region": "RegionOne",
                 "region_id": "RegionOne", "url": "http://127.0.0.1:8774/v2.1"},
                {"id": "svc-compute-internal", "interface": "internal", "region": "RegionOne",
                 "region_id": "RegionOne", "url": "http://127.0.0.1:8774/v2.1"},
                {"id": "svc-compute-admin", "interface": "admin", "region": "RegionOne",
                 "region_id": "RegionOne", "url": "http://127.0.0.1:8774/v2.1"},
            ]})
        );
    }

    #[test]
    fn services_endpoints_and_regions_link_below_the_base() {
        let cat = sample();
        let s = services_json(&cat);
        assert_eq!(
            s["services"][1],
            json!({"id": "svc-identity", "type": "identity", "name": "keystone",
                   "enabled": true,
                   "links": {"self": "http://127.0.0.1:5000/v3/services/svc-identity"}})
        );
        assert_eq!(s["links"]["self"], "http://127.0.0.1:5000/v3/services");
        let e = endpoints_json(&cat);
        assert_eq!(e["endpoints"].as_array().map(Vec::len), Some(6));
        assert_eq!(e["endpoints"][4]["id"], "svc-identity-internal");
        assert_eq!(e["endpoints"][4]["service_id"], "svc-identity");
        assert_eq!(
            e["endpoints"][4]["links"]["self"],
            "http://127.0.0.1:5000/v3/endpoints/svc-identity-internal"
        );
        let r = regions_json(&cat);
        assert_eq!(
            r["regions"],
            json!([{"id": "RegionOne", "description": "", "parent_region_id": null,
                    "links": {"self": "http://127.0.0.1:5000/v3/regions/RegionOne"}}])
        );
    }

    #[test]
    fn links_fall_back_on_v3() {
        let cat = Catalog {
            identity_url: String::new(),
            ..sample()
        };
        assert_eq!(regions_json(&cat)["links"]["self"], "/v3/regions");
    }
}
