//! An API dialect whose routes misbehave on purpose, each its own way: the host must fail
//! only that request, and go on serving this dialect's good route and every other dialect.
//! Its refusals (`render-error`) are rendered normally, except on `/hostile/` paths nobody
//! serves, where rendering the refusal itself loops. Two routes probe the host's guards
//! instead: `echo` sends back what the plugin was given (secrets must arrive sealed, and
//! stay sealed on the way out), `forge` calls imports as an admin it made up, and
//! `slow-host` only waits for a host import, whatever time the host takes.

mod bindings {
    wit_bindgen::generate!({
        world: "api-dialect",
        path: "../../../wit/api",
        generate_all,
    });
}

use bindings::exports::metacloud::api::dialect::Guest;
use bindings::metacloud::api::types::{Access, Caller, HttpRequest, HttpResponse, Route};
use bindings::metacloud::api::{compute, identity, metadata};

const ROUTES: [(&str, &str); 8] = [
    ("GET", "ok"),
    ("GET", "loop"),
    ("GET", "alloc"),
    ("GET", "trap"),
    ("GET", "panic"),
    ("POST", "echo"),
    ("GET", "forge"),
    ("GET", "slow-host"),
];

fn text(status: u16, body: String) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![("content-type".into(), "text/plain".into())],
        body: body.into_bytes(),
    }
}

/// The request as the plugin got it: headers, a blank line, the body.
fn echo(req: &HttpRequest) -> HttpResponse {
    let mut out = String::new();
    for (k, v) in &req.headers {
        out.push_str(&format!("{k}: {v}\n"));
    }
    out.push('\n');
    out.push_str(&String::from_utf8_lossy(&req.body));
    text(200, out)
}

/// Admin operations asked for with a caller the plugin made up.
fn forge(c: Option<Caller>) -> HttpResponse {
    let forged = Caller {
        user_id: "forged".into(),
        user_name: "forged".into(),
        project_id: c.map(|c| c.project_id).unwrap_or_default(),
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
    text(200, format!("{users}\n{hypervisors}\n"))
}

struct Hostile;

fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

impl Guest for Hostile {
    fn name() -> String {
        "hostile-dialect".into()
    }

    fn routes() -> Vec<Route> {
        ROUTES
            .iter()
            .map(|(method, r)| Route {
                method: method.to_string(),
                path: format!("/hostile/{r}"),
                access: Access::Public,
            })
            .collect()
    }

    fn handle(
        route: u32,
        _params: Vec<(String, String)>,
        c: Option<Caller>,
        req: HttpRequest,
    ) -> HttpResponse {
        match ROUTES.get(route as usize).map(|(_, r)| *r) {
            Some("echo") => echo(&req),
            Some("forge") => forge(c),
            Some("slow-host") => {
                let who = metadata::current_instance().map(|i| i.id);
                text(
                    200,
                    format!("host answered: {}", who.as_deref().unwrap_or("nobody")),
                )
            }
            Some("loop") => spin(),
            Some("alloc") => {
                // Far past any memory cap, touched so that it is really asked for.
                let mut v: Vec<u8> = std::hint::black_box(Vec::with_capacity(1 << 30));
                v.resize(1 << 30, 1);
                let v = std::hint::black_box(v);
                HttpResponse {
                    status: 200,
                    headers: Vec::new(),
                    body: v[..16].to_vec(),
                }
            }
            Some("trap") => core::arch::wasm32::unreachable(),
            Some("panic") => panic!("hostile dialect panics"),
            _ => text(200, "still here".into()),
        }
    }

    fn render_error(status: u16, message: String) -> HttpResponse {
        if message.contains("/hostile/") {
            spin();
        }
        HttpResponse {
            status,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: format!("hostile refusal {status}: {message}").into_bytes(),
        }
    }
}

bindings::export!(Hostile with_types_in bindings);
