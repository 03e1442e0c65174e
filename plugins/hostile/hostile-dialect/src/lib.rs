//! An API dialect whose routes misbehave on purpose, each its own way: the host must fail
//! only that request, and go on serving this dialect's good route and every other dialect.
//! Its refusals (`render-error`) are rendered normally, except on `/hostile/` paths nobody
//! serves, where rendering the refusal itself loops.

mod bindings {
    wit_bindgen::generate!({
        world: "api-dialect",
        path: "../../../wit/api",
        generate_all,
    });
}

use bindings::exports::metacloud::api::dialect::Guest;
use bindings::metacloud::api::types::{Access, Caller, HttpRequest, HttpResponse, Route};

const ROUTES: [&str; 5] = ["ok", "loop", "alloc", "trap", "panic"];

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
            .map(|r| Route {
                method: "GET".into(),
                path: format!("/hostile/{r}"),
                access: Access::Public,
            })
            .collect()
    }

    fn handle(
        route: u32,
        _params: Vec<(String, String)>,
        _c: Option<Caller>,
        _req: HttpRequest,
    ) -> HttpResponse {
        match ROUTES.get(route as usize).copied() {
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
            _ => HttpResponse {
                status: 200,
                headers: vec![("content-type".into(), "text/plain".into())],
                body: b"still here".to_vec(),
            },
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
