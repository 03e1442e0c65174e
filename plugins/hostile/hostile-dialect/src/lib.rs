//! An API dialect whose routes misbehave on purpose, each its own way: the host must fail
//! only that request, and go on serving this dialect's good route and every other dialect.
//! Its refusals (`render-error`) are rendered normally, except on `/hostile/` paths nobody
//! serves, where rendering the refusal itself loops. Two routes probe the host's guards
//! instead: `echo` sends back what the plugin was given (secrets must arrive sealed, and
//! stay sealed on the way out), `forge` calls imports as an admin it made up, and
//! `slow-host` only waits for a host import, whatever time the host takes.

metacloud_sdk::dialect_plugin!(Hostile, "../../../wit/api");

use bindings::metacloud::api::types::{Caller, FlavorCreate};
use bindings::metacloud::api::{compute, identity, metadata};
use metacloud_sdk::dialect::{Access, Dialect, Fault, Reply, Route, Router};

type Request = metacloud_sdk::dialect::Request<Caller>;

/// The misbehaving dialect.
struct Hostile;

impl Dialect for Hostile {
    const NAME: &'static str = "hostile-dialect";
    type Caller = Caller;
    const ROUTER: Router<Caller> = Router::new(&[
        Route::get("/hostile/ok", Access::Public, ok),
        Route::get("/hostile/loop", Access::Public, spins),
        Route::get("/hostile/alloc", Access::Public, alloc),
        Route::get("/hostile/trap", Access::Public, trap),
        Route::get("/hostile/panic", Access::Public, panics),
        Route::post("/hostile/echo", Access::Public, echo),
        Route::get("/hostile/forge", Access::Public, forge),
        Route::get("/hostile/slow-host", Access::Public, slow_host),
    ]);

    /// Plain text, except that refusing a `/hostile/` path nobody serves loops.
    fn fault(status: u16, message: &str) -> Reply {
        if message.contains("/hostile/") {
            spin();
        }
        Reply::text(status, format!("hostile refusal {status}: {message}"))
    }
}

fn text(status: u16, body: String) -> Result<Reply, Fault> {
    Ok(Reply::text(status, body))
}

/// The good route.
fn ok(_: &Request) -> Result<Reply, Fault> {
    text(200, "still here".into())
}

/// The request as the plugin got it: headers, a blank line, the body.
fn echo(req: &Request) -> Result<Reply, Fault> {
    let mut out = String::new();
    for (k, v) in &req.headers {
        out.push_str(&format!("{k}: {v}\n"));
    }
    out.push('\n');
    out.push_str(&String::from_utf8_lossy(&req.body));
    text(200, out)
}

/// Admin operations asked for with a caller the plugin made up.
fn forge(req: &Request) -> Result<Reply, Fault> {
    let forged = Caller {
        user_id: "forged".into(),
        user_name: "forged".into(),
        project_id: req
            .caller
            .as_ref()
            .map(|c| c.project_id.clone())
            .unwrap_or_default(),
        project_name: "forged".into(),
        roles: vec!["admin".into(), "member".into(), "reader".into()],
        request_id: "forged".into(),
    };
    let users = match identity::list_users(&forged, None) {
        Ok(u) => format!("identity: {} users", u.len()),
        Err(_) => "identity: refused".to_string(),
    };
    let hypervisors = match compute::list_hypervisors(&forged) {
        Ok(h) => format!("compute: {} hypervisors", h.len()),
        Err(_) => "compute: refused".to_string(),
    };
    let flavor = FlavorCreate {
        id: None,
        name: "forged".into(),
        vcpus: 1,
        ram_mb: 64,
        disk_gb: 1,
        ephemeral_gb: 0,
        swap_mb: 0,
        is_public: true,
    };
    let flavor = match compute::create_flavor(&forged, &flavor) {
        Ok(f) => format!("flavor: created {}", f.id),
        Err(_) => "flavor: refused".to_string(),
    };
    let zones = match compute::list_availability_zones(&forged) {
        Ok(z) => format!(
            "zones: {} hosts shown",
            z.iter().map(|z| z.hosts.len()).sum::<usize>()
        ),
        Err(_) => "zones: refused".to_string(),
    };
    text(200, format!("{users}\n{hypervisors}\n{flavor}\n{zones}\n"))
}

/// Only waits for a host import.
fn slow_host(_: &Request) -> Result<Reply, Fault> {
    let who = metadata::current_instance().map(|i| i.id);
    text(
        200,
        format!("host answered: {}", who.as_deref().unwrap_or("nobody")),
    )
}

fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

/// Never answers.
fn spins(_: &Request) -> Result<Reply, Fault> {
    spin()
}

/// Far past any memory cap, touched so that it is really asked for.
fn alloc(_: &Request) -> Result<Reply, Fault> {
    let mut v: Vec<u8> = std::hint::black_box(Vec::with_capacity(1 << 30));
    v.resize(1 << 30, 1);
    let v = std::hint::black_box(v);
    Ok(Reply {
        status: 200,
        headers: Vec::new(),
        content_type: None,
        body: v[..16].to_vec(),
    })
}

/// A WebAssembly trap.
fn trap(_: &Request) -> Result<Reply, Fault> {
    core::arch::wasm32::unreachable()
}

/// A Rust panic.
fn panics(_: &Request) -> Result<Reply, Fault> {
    panic!("hostile dialect panics")
}
