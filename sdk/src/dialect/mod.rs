//! API dialects: an HTTP API (OpenStack Compute, EC2, an admin API, …) as a WebAssembly
//! component behind the WIT world `api-dialect` (`wit/api/api.wit`).
//!
//! The host owns the listener, authentication and the access check, matches the request
//! to a route and calls the dialect with the route's index and parameters. A dialect
//! declares its routes in a [`Router`], writes handlers from a [`Request`] to a [`Reply`]
//! or a [`Fault`], says once how its errors look ([`Dialect::fault`]), and ends with
//! [`dialect_plugin!`](crate::dialect_plugin), which generates the bindings in the plugin
//! crate and exports the `dialect` interface from the router.

mod fault;
mod plugin;
mod query;
mod reply;
mod request;
mod route;
mod status;

pub use fault::Fault;
pub use query::{nova_bool, Paging, QueryError};
pub use reply::{Reply, JSON};
pub use request::{BodyError, Request, NEEDS_AUTHENTICATION};
pub use route::{Access, Handler, Route, Router, UNKNOWN_ROUTE};
pub use status::error_title;

/// A dialect: its name, its routes, and how its errors look.
pub trait Dialect {
    /// The name the host logs it by (the `name` export).
    const NAME: &'static str;
    /// The `caller` record of the generated bindings.
    type Caller: 'static;
    /// The routes, in the order the host checks them.
    const ROUTER: Router<Self::Caller>;
    /// The message of the 404 for a route index the router does not have.
    const UNKNOWN_ROUTE: &'static str = UNKNOWN_ROUTE;

    /// An error in this dialect's format: for handlers' faults, for the SDK's own refusals
    /// (an unknown route, a malformed body, …) and for the host's (`render-error`).
    fn fault(status: u16, message: &str) -> Reply;

    /// A check before every handler (a version header, …); a fault answers instead of the
    /// handler. None by default.
    fn admit(_req: &Request<Self::Caller>) -> Result<(), Fault> {
        Ok(())
    }

    /// The last touch on every response: handled (`Some` request) or refused by the host
    /// (`None`). Unchanged by default.
    fn finish(_req: Option<&Request<Self::Caller>>, reply: Reply) -> Reply {
        reply
    }
}

/// Serves route `index`: the admission check, the handler, faults in the dialect's
/// format, then [`Dialect::finish`]. What `handle` runs.
pub fn serve<D: Dialect>(index: u32, req: &Request<D::Caller>) -> Reply {
    let reply = D::admit(req)
        .and_then(|()| {
            let route = D::ROUTER
                .get(index)
                .ok_or_else(|| Fault::not_found(D::UNKNOWN_ROUTE))?;
            (route.handler)(req)
        })
        .unwrap_or_else(|f| D::fault(f.status, &f.message));
    D::finish(Some(req), reply)
}

/// A refusal the host decided, in the dialect's format. What `render-error` runs.
pub fn refuse<D: Dialect>(status: u16, message: &str) -> Reply {
    D::finish(None, D::fault(status, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Hello;

    fn hello(r: &Request<String>) -> Result<Reply, Fault> {
        let who = r.caller()?;
        Ok(Reply::text(200, format!("hello {who}")))
    }

    fn body(r: &Request<String>) -> Result<Reply, Fault> {
        let v: serde_json::Value = r.json()?;
        Ok(Reply::json(200, &v))
    }

    impl Dialect for Hello {
        const NAME: &'static str = "hello";
        type Caller = String;
        const ROUTER: Router<String> = Router::new(&[
            Route::get("/hello", Access::Reader, hello),
            Route::post("/echo", Access::Public, body),
        ]);

        fn fault(status: u16, message: &str) -> Reply {
            Reply::json(status, &serde_json::json!({"error": message}))
        }

        fn admit(req: &Request<String>) -> Result<(), Fault> {
            match req.header("x-version") {
                Some("2") => Err(Fault::new(406, "version 2 is not served")),
                _ => Ok(()),
            }
        }

        fn finish(_req: Option<&Request<String>>, reply: Reply) -> Reply {
            reply.with_header("x-dialect", "hello")
        }
    }

    #[test]
    fn handlers_answer_and_faults_take_the_dialects_format() {
        let r = Request::new("GET", "/hello").with_caller("ann".to_string());
        let reply = serve::<Hello>(0, &r);
        assert_eq!(
            (reply.status, reply.body.as_slice()),
            (200, &b"hello ann"[..])
        );
        assert_eq!(reply.header("x-dialect"), Some("hello"));

        let reply = serve::<Hello>(0, &Request::new("GET", "/hello"));
        assert_eq!(reply.status, 401);
        assert_eq!(
            reply.json_body(),
            serde_json::json!({"error": NEEDS_AUTHENTICATION})
        );
    }

    #[test]
    fn the_sdks_refusals_use_the_dialects_format() {
        let reply = serve::<Hello>(1, &Request::new("POST", "/echo").with_body("{"));
        assert_eq!(reply.status, 400);
        assert!(reply.json_body()["error"]
            .as_str()
            .unwrap()
            .starts_with("Invalid request body"));

        let reply = serve::<Hello>(7, &Request::new("GET", "/nowhere"));
        assert_eq!(reply.status, 404);
        assert_eq!(
            reply.json_body(),
            serde_json::json!({"error": "Unknown route"})
        );

        let r = Request::new("GET", "/hello").with_header("x-version", "2");
        assert_eq!(serve::<Hello>(0, &r).status, 406);

        let reply = refuse::<Hello>(413, "too large");
        assert_eq!(reply.json_body(), serde_json::json!({"error": "too large"}));
        assert_eq!(reply.header("x-dialect"), Some("hello"));
    }
}
