//! The `GET /v2.1/servers/detail` shaping of 100 servers (unpack the packed page, build the
//! views, serialise) compiled natively: what the same work costs outside WebAssembly.
//! Compare with "the dialect plugin alone" of `cargo bench -p metacloud-benches --bench api`.

use openstack_api::bindings::metacloud::api::types::{Caller, Flavor, Server};
use openstack_api::views::{pack, unpack, ServerView};
use openstack_api::Request;
use std::time::{Duration, Instant};

fn servers() -> Vec<Server> {
    (0..100)
        .map(|i| Server {
            id: format!("00000000-0000-4000-8000-{i:012}"),
            name: format!("bench-{i}"),
            project_id: "0123456789abcdef0123456789abcdef".into(),
            user_id: "fedcba9876543210fedcba9876543210".into(),
            flavor: Flavor {
                id: "42".into(),
                name: "m1.nano".into(),
                vcpus: 1,
                ram_mb: 64,
                disk_gb: 0,
                ephemeral_gb: 0,
                swap_mb: 0,
                is_public: true,
                extra_specs: vec![],
            },
            image_id: Some("7d9e7e3c-7a4a-4d2a-9c4f-1a2b3c4d5e6f".into()),
            host: Some("compute-1".into()),
            availability_zone: Some("nova".into()),
            vm_state: "active".into(),
            task_state: None,
            power_state: 1,
            key_name: Some("key".into()),
            metadata: vec![("role".into(), "web".into())],
            reservation_id: "r-00000001".into(),
            created_at: 1_764_000_000_000,
            updated_at: 1_764_000_001_000,
            launched_at: Some(1_764_000_001_000),
            terminated_at: None,
            fault: None,
            locked: false,
            access_ipv4: String::new(),
            access_ipv6: String::new(),
        })
        .collect()
}

fn main() {
    let page = pack(&servers());
    let r = Request::new("GET", "/v2.1/servers/detail")
        .with_header("host", "127.0.0.1:8774")
        .with_caller(Caller {
            user_id: "u".into(),
            user_name: "demo".into(),
            project_id: "p".into(),
            project_name: "demo".into(),
            roles: vec!["member".into(), "reader".into()],
            request_id: "req-bench".into(),
        });
    let mut samples = Vec::new();
    let start = Instant::now();
    while samples.len() < 1000 || start.elapsed() < Duration::from_secs(3) {
        let t = Instant::now();
        let rows = unpack(&page).expect("page");
        let mut bytes = Vec::with_capacity(rows.len() * 1600 + 256);
        bytes.extend_from_slice(b"{\"servers\":[");
        for (i, s) in rows.iter().enumerate() {
            if i > 0 {
                bytes.push(b',');
            }
            ServerView::new(&r, s).write_json(&mut bytes);
        }
        bytes.extend_from_slice(b"]}");
        assert!(bytes.len() > 100 * 500);
        samples.push(t.elapsed());
    }
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "shaping 100 servers natively (unpack, views, serialise): median {:.3} ms, p99 {:.3} ms ({} runs)",
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() * 99 / 100]),
        samples.len()
    );
}
