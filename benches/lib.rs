//! What the benchmarks share: where the built plugins are and the all-in-one configuration
//! they start from. The load harness lives in `boot.rs` (`cargo bench -p metacloud-benches`).

use metacloud_config::Config;
use std::path::{Path, PathBuf};

/// The built plugins (`scripts/build-plugins.sh` writes them).
pub fn dist() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/dist")
}

/// `metacloud all` on the embedded defaults for one benchmark run: a fresh data directory
/// (`mc-bench-<label>-<uuid>` under the temporary directory, SQLite in it), every listener
/// on a free loopback port, the API dialects from [`dist`], host `<label>-bench`, and the
/// identity service's `admin`/`demo` users with the passwords `admin-pw`/`demo-pw`.
pub fn embedded_config(label: &str) -> Config {
    let dir = std::env::temp_dir().join(format!(
        "mc-bench-{label}-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let any = || "127.0.0.1:0".parse().expect("a loopback address");
    let mut c = Config::default();
    c.service.data_dir = Some(dir.clone());
    c.service.host = Some(format!("{label}-bench"));
    c.database.url = Some(format!("sqlite://{}/metacloud.db", dir.display()));
    c.compute.instances_path = Some(dir.join("instances"));
    c.compute.image_cache_path = Some(dir.join("cache"));
    c.api.listen = any();
    c.api.compute_listen = any();
    c.api.image_listen = any();
    c.api.ec2_listen = any();
    c.api.metadata_listen = any();
    c.api.network_listen = any();
    c.api.plugin_dir = Some(dist().join("api"));
    c.identity.listen = any();
    c.identity.admin_password = Some("admin-pw".into());
    c.identity.demo_password = Some("demo-pw".into());
    c
}
