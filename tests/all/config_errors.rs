//! Bad configuration and unreachable dependencies: the binary exits non-zero with one line
//! that names the cause.

use metacloud_tests::{run, scratch_dir};

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Exactly one line on stderr, and the exit code.
fn fails_with_one_line(args: &[&str], env: &[(&str, String)]) -> String {
    let (code, _out, err) = run(args, env);
    assert_ne!(code, 0, "must fail: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected, got:\n{err}");
    lines[0].to_string()
}

#[test]
fn unknown_key_names_key_file_and_line() {
    let dir = scratch_dir("cfg");
    let file = write(
        &dir,
        "bad.toml",
        "[service]\nhost = \"a\"\n\n[queue]\nbakend = \"amqp\"\n",
    );
    let line = fails_with_one_line(&["--config", &file, "config", "check"], &[]);
    assert!(line.contains(&file), "{line}");
    assert!(line.contains("line 5"), "{line}");
    assert!(line.contains("bakend"), "{line}");
}

#[test]
fn wrong_type_names_key_file_and_line() {
    let dir = scratch_dir("cfg");
    let file = write(
        &dir,
        "bad.toml",
        "[compute]\ncpu_allocation_ratio = \"lots\"\n",
    );
    let line = fails_with_one_line(&["--config", &file, "all"], &[]);
    assert!(line.contains(&file) && line.contains("line 2"), "{line}");
}

#[test]
fn impossible_value_names_the_key() {
    let dir = scratch_dir("cfg");
    let file = write(
        &dir,
        "bad.toml",
        "[scheduler]\nfilters = [\"ComputeFilter\", \"Nope\"]\n",
    );
    let line = fails_with_one_line(&["--config", &file, "scheduler"], &[]);
    assert!(
        line.contains("scheduler.filters[1]") && line.contains("Nope"),
        "{line}"
    );
}

#[test]
fn unreachable_postgres_is_one_line() {
    let dir = scratch_dir("cfg");
    let file = write(
        &dir,
        "pg.toml",
        "[database]\nurl = \"postgres://postgres@127.0.0.1:1/test\"\nconnect_timeout_secs = 2\n",
    );
    let line = fails_with_one_line(&["--config", &file, "db", "sync"], &[]);
    assert!(
        line.contains("cannot connect to the database at postgres://"),
        "{line}"
    );
}

#[test]
fn unreachable_rabbitmq_is_one_line() {
    let dir = scratch_dir("cfg");
    let file = write(
        &dir,
        "mq.toml",
        "[queue]\nbackend = \"amqp\"\nurl = \"amqp://guest:guest@127.0.0.1:1/%2f\"\n",
    );
    let line = fails_with_one_line(&["--config", &file, "scheduler"], &[]);
    assert!(line.contains("cannot connect to RabbitMQ"), "{line}");
    assert!(!line.contains("guest:guest"), "password leaked: {line}");
}

#[test]
fn unreachable_libvirt_is_one_line() {
    let dir = scratch_dir("cfg");
    let file = write(
        &dir,
        "lv.toml",
        &format!(
            "[service]\ndata_dir = \"{}\"\n[compute]\nlibvirt_uri = \"qemu+tcp://127.0.0.1:1/system\"\n",
            dir.display()
        ),
    );
    let line = fails_with_one_line(&["--config", &file, "compute"], &[]);
    assert!(
        line.contains("cannot connect to libvirt at qemu+tcp://127.0.0.1:1/system"),
        "{line}"
    );
}

#[test]
fn without_a_config_the_scheduler_runs_the_built_plugins() {
    // The test command builds plugins/dist before the tests.
    let dir = scratch_dir("cfg");
    let (code, out, err) = run(
        &["config", "check"],
        &[("METACLOUD_DATA", dir.display().to_string())],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("scheduler wasm plugins from") && out.contains("plugins/dist"),
        "{out}"
    );
    // A config file decides for itself (driver native by default).
    let file = write(&dir, "native.toml", "[scheduler]\ndriver = \"native\"\n");
    let (code, out, err) = run(&["--config", &file, "config", "check"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("scheduler native chain"), "{out}");
}
