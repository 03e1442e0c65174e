//! Routes and the [`Router`]: method, path template, access level and handler, in the
//! order the host checks them.

use super::{Fault, Reply, Request};

/// Who may call a route (the WIT `access`): `Public` needs no credentials, the others a
/// token whose roles include the named one (admin implies member implies reader). The host
/// checks it before the handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    Reader,
    Member,
    Admin,
}

/// What serves a route: the request in, a reply or a fault out.
pub type Handler<C> = fn(&Request<C>) -> Result<Reply, Fault>;

/// One route: a method, a path template of literal segments and `{name}` parameters
/// (`/v2.1/servers/{server_id}`), its access level and its handler.
pub struct Route<C: 'static> {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
    pub handler: Handler<C>,
}

impl<C> Route<C> {
    /// A route with any method.
    pub const fn new(
        method: &'static str,
        path: &'static str,
        access: Access,
        handler: Handler<C>,
    ) -> Route<C> {
        Route {
            method,
            path,
            access,
            handler,
        }
    }

    /// A `GET` route.
    pub const fn get(path: &'static str, access: Access, handler: Handler<C>) -> Route<C> {
        Route::new("GET", path, access, handler)
    }

    /// A `POST` route.
    pub const fn post(path: &'static str, access: Access, handler: Handler<C>) -> Route<C> {
        Route::new("POST", path, access, handler)
    }

    /// A `PUT` route.
    pub const fn put(path: &'static str, access: Access, handler: Handler<C>) -> Route<C> {
        Route::new("PUT", path, access, handler)
    }

    /// A `PATCH` route.
    pub const fn patch(path: &'static str, access: Access, handler: Handler<C>) -> Route<C> {
        Route::new("PATCH", path, access, handler)
    }

    /// A `DELETE` route.
    pub const fn delete(path: &'static str, access: Access, handler: Handler<C>) -> Route<C> {
        Route::new("DELETE", path, access, handler)
    }

    /// The template's parameters if `path` fits it, else none. A last segment `{*name}`
    /// takes the rest of the path (one character or more), slashes included.
    pub fn matches(&self, path: &str) -> Option<Vec<(String, String)>> {
        let mut template = self.path.split('/');
        let mut given = path;
        let mut params = Vec::new();
        loop {
            let Some(t) = template.next() else {
                return given.is_empty().then_some(params);
            };
            let (segment, rest) = given.split_once('/').unwrap_or((given, ""));
            match Segment::of(t) {
                Segment::Rest(name) if !given.is_empty() => {
                    params.push((name.to_string(), given.to_string()));
                    return Some(params);
                }
                Segment::Param(name) if !segment.is_empty() => {
                    params.push((name.to_string(), segment.to_string()));
                }
                Segment::Literal(l) if l == segment => {}
                _ => return None,
            }
            if template.clone().next().is_some() && !given.contains('/') {
                return None;
            }
            given = rest;
        }
    }
}

/// One segment of a path template.
enum Segment<'a> {
    Literal(&'a str),
    /// `{name}`: one non-empty segment.
    Param(&'a str),
    /// `{*name}`: the rest of the path.
    Rest(&'a str),
}

impl Segment<'_> {
    fn of(t: &str) -> Segment<'_> {
        match t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
            Some(name) => match name.strip_prefix('*') {
                Some(rest) => Segment::Rest(rest),
                None => Segment::Param(name),
            },
            None => Segment::Literal(t),
        }
    }
}

/// The message of the SDK's 404 for a route index the router does not have.
pub const UNKNOWN_ROUTE: &str = "Unknown route";

/// A dialect's routes, in the order the host checks them; the host names a route by its
/// index here.
pub struct Router<C: 'static> {
    routes: &'static [Route<C>],
}

impl<C> Router<C> {
    /// A router over `routes` (usually a `const` slice).
    pub const fn new(routes: &'static [Route<C>]) -> Router<C> {
        Router { routes }
    }

    /// Every route, in order.
    pub fn routes(&self) -> &'static [Route<C>] {
        self.routes
    }

    /// The route the host calls `index`.
    pub fn get(&self, index: u32) -> Option<&'static Route<C>> {
        self.routes.get(usize::try_from(index).ok()?)
    }

    /// The first route for `method` and `path`, with its index and parameters: what the
    /// host does before `handle`, for tests.
    pub fn resolve(&self, method: &str, path: &str) -> Option<(u32, Vec<(String, String)>)> {
        self.routes
            .iter()
            .enumerate()
            .filter(|(_, r)| r.method == method)
            .find_map(|(i, r)| Some((u32::try_from(i).ok()?, r.matches(path)?)))
    }

    /// Runs route `index`'s handler; an unknown index is a 404.
    pub fn dispatch(&self, index: u32, req: &Request<C>) -> Result<Reply, Fault> {
        let route = self
            .get(index)
            .ok_or_else(|| Fault::not_found(UNKNOWN_ROUTE))?;
        (route.handler)(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(_: &Request<()>) -> Result<Reply, Fault> {
        Ok(Reply::empty(204))
    }

    fn echo(r: &Request<()>) -> Result<Reply, Fault> {
        Ok(Reply::text(200, r.param("id")))
    }

    const ROUTER: Router<()> = Router::new(&[
        Route::get("/v1", Access::Public, ok),
        Route::get("/v1/things/{id}", Access::Reader, echo),
        Route::delete("/v1/things/{id}", Access::Admin, ok),
        Route::get("/v1/things/{id}/parts/{part}", Access::Member, ok),
        Route::get("/v1/files/{*rest}", Access::Reader, ok),
    ]);

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn templates_match_literals_and_capture_parameters() {
        assert_eq!(ROUTER.resolve("GET", "/v1"), Some((0, vec![])));
        assert_eq!(
            ROUTER.resolve("GET", "/v1/things/7"),
            Some((1, params(&[("id", "7")])))
        );
        assert_eq!(
            ROUTER.resolve("DELETE", "/v1/things/7"),
            Some((2, params(&[("id", "7")])))
        );
        assert_eq!(
            ROUTER.resolve("GET", "/v1/things/7/parts/x"),
            Some((3, params(&[("id", "7"), ("part", "x")])))
        );
    }

    #[test]
    fn a_catch_all_takes_the_rest_of_the_path() {
        assert_eq!(
            ROUTER.resolve("GET", "/v1/files/a/b/"),
            Some((4, params(&[("rest", "a/b/")])))
        );
        assert_eq!(
            ROUTER.resolve("GET", "/v1/files/a"),
            Some((4, params(&[("rest", "a")])))
        );
        assert_eq!(ROUTER.resolve("GET", "/v1/files/"), None);
        assert_eq!(ROUTER.resolve("GET", "/v1/files"), None);
    }

    #[test]
    fn other_paths_and_methods_do_not_match() {
        for (method, path) in [
            ("GET", "/v2"),
            ("GET", "/v1/things"),
            ("GET", "/v1/things/"),
            ("GET", "/v1/things/7/parts"),
            ("POST", "/v1/things/7"),
            ("GET", "/v1/things/7/extra/x/y"),
        ] {
            assert_eq!(ROUTER.resolve(method, path), None, "{method} {path}");
        }
    }

    #[test]
    fn dispatch_runs_the_indexed_handler() {
        let r = Request::new("GET", "/v1/things/7").with_param("id", "7");
        assert_eq!(ROUTER.dispatch(1, &r).unwrap().body, b"7");
        assert_eq!(ROUTER.dispatch(99, &r).unwrap_err().status, 404);
        assert_eq!(ROUTER.get(2).map(|r| r.access), Some(Access::Admin));
    }
}
