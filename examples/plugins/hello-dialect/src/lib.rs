//! A complete API dialect: `GET /hello` greets the caller, `GET /hello/{name}` anyone.
use metacloud_sdk::dialect::{Access, Dialect, Fault, Reply, Request, Route, Router};
use serde_json::json;
type Caller = bindings::metacloud::api::types::Caller;

/// The hello API; its errors are `{"error": {"code": N, "message": "..."}}`.
pub struct Hello;

impl Dialect for Hello {
    const NAME: &'static str = "hello";
    type Caller = Caller;
    const ROUTER: Router<Caller> = Router::new(&[
        Route::get("/hello", Access::Reader, greet_caller),
        Route::get("/hello/{name}", Access::Public, greet),
    ]);

    fn fault(status: u16, message: &str) -> Reply {
        let body = json!({"error": {"code": status, "message": message}});
        Reply::json(status, &body)
    }
}

/// The caller by name, and how many flavors it may boot (an import: `compute`).
fn greet_caller(r: &Request<Caller>) -> Result<Reply, Fault> {
    let c = r.caller()?;
    let flavors = imports::compute::list_flavors(c);
    let count = flavors.map_err(|e| Fault::internal(e.to_string()))?.len();
    let body = json!({"hello": c.user_name, "flavors": count});
    Ok(Reply::json(200, &body))
}

/// `{name}`, `?times=N` times (a bad N is the dialect's 400).
fn greet(r: &Request<Caller>) -> Result<Reply, Fault> {
    let times = r.query_u64("times")?.unwrap_or(1).min(10) as usize;
    let body = json!({ "hello": vec![r.param("name"); times] });
    Ok(Reply::json(200, &body))
}

metacloud_sdk::dialect_plugin!(Hello, "../../../wit/api");
