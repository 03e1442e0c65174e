//! The routes of the dialects one listener serves, as one table: which dialect's which
//! route a request matches, with its path parameters. Tables are built whole (at start and
//! on every reload) and refuse dialects whose routes overlap.

use metacloud_plugins::api::{DialectPlugin, Route};
use std::collections::HashMap;
use std::sync::Arc;

/// Two routes that cannot be served side by side.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("API dialect `{second}` declares {path}, which `{first}` already serves as {existing}")]
pub struct RouteConflict {
    pub first: String,
    pub existing: String,
    pub second: String,
    pub path: String,
}

/// A path template with its parameter names erased: `/v2.1/servers/{}`.
pub(crate) fn route_shape(path: &str) -> String {
    path.split('/')
        .map(|seg| if seg.starts_with('{') { "{}" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

/// Refuses dialects whose routes overlap: the same path shape in two dialects, or one
/// shape spelled with different parameter names.
pub fn check_routes(dialects: &[(&str, &[Route])]) -> Result<(), RouteConflict> {
    let mut seen: HashMap<String, (&str, &str)> = HashMap::new();
    for (name, routes) in dialects {
        for route in routes.iter() {
            match seen.get(&route_shape(&route.path)) {
                Some((owner, existing)) if owner != name || *existing != route.path => {
                    return Err(RouteConflict {
                        first: owner.to_string(),
                        existing: existing.to_string(),
                        second: name.to_string(),
                        path: route.path.clone(),
                    });
                }
                Some(_) => {}
                None => {
                    seen.insert(route_shape(&route.path), (name, route.path.as_str()));
                }
            }
        }
    }
    Ok(())
}

/// Which dialect's which route a request matched.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RouteAt {
    pub dialect: usize,
    pub route: u32,
}

/// What a request finds in a [`DialectSet`].
#[derive(Debug, PartialEq)]
pub enum Found {
    /// A route, with its parameters (percent-decoded).
    Route(RouteAt, Vec<(String, String)>),
    /// A known path, but not with this method: the owner answers 405.
    OtherMethod(usize),
    /// No such path: the dialect nearest to it answers 404.
    Nothing(usize),
}

/// The dialects served on a listener and their routes.
pub struct DialectSet {
    /// In configured order; the first one renders refusals of paths nobody claims.
    pub plugins: Vec<Arc<DialectPlugin>>,
    by_method: HashMap<String, matchit::Router<RouteAt>>,
    by_path: matchit::Router<usize>,
}

impl DialectSet {
    /// The table of `plugins`' routes, or why they cannot be served together.
    pub fn new(plugins: Vec<DialectPlugin>) -> Result<DialectSet, RouteConflict> {
        let declared: Vec<(&str, &[Route])> = plugins
            .iter()
            .map(|d| (d.name.as_str(), d.routes.as_slice()))
            .collect();
        check_routes(&declared)?;
        let mut by_method: HashMap<String, matchit::Router<RouteAt>> = HashMap::new();
        let mut by_path = matchit::Router::new();
        for (d, dialect) in plugins.iter().enumerate() {
            for (i, route) in dialect.routes.iter().enumerate() {
                let at = RouteAt {
                    dialect: d,
                    route: i as u32,
                };
                let conflict = |e: matchit::InsertError| RouteConflict {
                    first: dialect.name.clone(),
                    existing: e.to_string(),
                    second: dialect.name.clone(),
                    path: route.path.clone(),
                };
                let method = route.method.to_ascii_uppercase();
                match by_method.entry(method).or_default().insert(&route.path, at) {
                    Ok(()) => {}
                    // The same method and path twice: the first declaration serves.
                    Err(matchit::InsertError::Conflict { .. }) => {
                        tracing::warn!(dialect = %dialect.name, method = %route.method, path = %route.path, "route declared twice; the first one serves")
                    }
                    Err(e) => return Err(conflict(e)),
                }
                match by_path.insert(&route.path, d) {
                    Ok(()) | Err(matchit::InsertError::Conflict { .. }) => {}
                    Err(e) => return Err(conflict(e)),
                }
            }
        }
        Ok(DialectSet {
            plugins: plugins.into_iter().map(Arc::new).collect(),
            by_method,
            by_path,
        })
    }

    /// Where `method path` goes (HEAD falls back on GET).
    pub fn find(&self, method: &str, path: &str) -> Found {
        let lookup = |m: &str| {
            self.by_method
                .get(m)
                .and_then(|r| r.at(path).ok())
                .map(|hit| {
                    let params = hit
                        .params
                        .iter()
                        .map(|(k, v)| {
                            let v = percent_encoding::percent_decode_str(v).decode_utf8_lossy();
                            (k.to_string(), v.into_owned())
                        })
                        .collect();
                    Found::Route(*hit.value, params)
                })
        };
        if let Some(found) = lookup(method).or_else(|| {
            if method == "HEAD" {
                lookup("GET")
            } else {
                None
            }
        }) {
            return found;
        }
        match self.by_path.at(path) {
            Ok(hit) => Found::OtherMethod(*hit.value),
            Err(_) => Found::Nothing(self.nearest(path)),
        }
    }

    /// The dialect whose routes share the longest literal prefix with `path` (the first
    /// dialect when none shares any).
    fn nearest(&self, path: &str) -> usize {
        let wanted: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let mut best = (0, 0);
        for (i, d) in self.plugins.iter().enumerate() {
            for r in &d.routes {
                let common = r
                    .path
                    .split('/')
                    .filter(|s| !s.is_empty())
                    .zip(&wanted)
                    .take_while(|(a, b)| !a.starts_with('{') && a == *b)
                    .count();
                if common > best.1 {
                    best = (i, common);
                }
            }
        }
        best.0
    }

    /// Names of the dialects, in order.
    pub fn names(&self) -> Vec<String> {
        self.plugins.iter().map(|p| p.name.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metacloud_plugins::api::Access;

    fn route(method: &str, path: &str) -> Route {
        Route {
            method: method.into(),
            path: path.into(),
            access: Access::Admin,
        }
    }

    #[test]
    fn dialects_may_not_claim_the_same_path() {
        let nova = [
            route("GET", "/v2.1/servers/{server_id}"),
            route("DELETE", "/v2.1/servers/{server_id}"),
            route("GET", "/v2.1/servers/detail"),
        ];
        let admin = [route("GET", "/admin/v1/hosts/{host}")];
        assert_eq!(check_routes(&[("nova", &nova), ("admin", &admin)]), Ok(()));
        // The same shape in another dialect, whatever the method or parameter name.
        let greedy = [route("POST", "/v2.1/servers/{id}")];
        let e = check_routes(&[("nova", &nova), ("greedy", &greedy)]).unwrap_err();
        assert_eq!((e.first.as_str(), e.second.as_str()), ("nova", "greedy"));
        assert!(e.to_string().contains("/v2.1/servers/{id}"), "{e}");
        // One dialect spelling one shape two ways would confuse the router.
        let sloppy = [route("GET", "/x/{a}"), route("PUT", "/x/{b}")];
        assert!(check_routes(&[("sloppy", &sloppy)]).is_err());
    }

    #[test]
    fn shapes_erase_parameter_names_only() {
        assert_eq!(route_shape("/a/{x}/b/{y}"), "/a/{}/b/{}");
        assert_ne!(route_shape("/a/{x}"), route_shape("/a/detail"));
    }
}
