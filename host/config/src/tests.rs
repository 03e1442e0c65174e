use super::*;

#[test]
fn defaults_are_valid_and_embedded() {
    let c = Config::default();
    assert!(c.validate().is_ok());
    assert_eq!(c.queue.backend, QueueBackend::Embedded);
    assert_eq!(c.compute.libvirt_uri, "test:///default");
}

#[test]
fn unknown_key_names_key_file_and_line() {
    let text = "[service]\nhost = \"a\"\n\n[queue]\nbakend = \"amqp\"\n";
    let err = Config::parse(text, "x.toml").unwrap_err().to_string();
    assert!(err.contains("x.toml, line 5"), "{err}");
    assert!(err.contains("bakend"), "{err}");
}

#[test]
fn wrong_type_names_line() {
    let text = "[service]\nreport_interval_secs = \"ten\"\n";
    let err = Config::parse(text, "y.toml").unwrap_err().to_string();
    assert!(err.contains("y.toml, line 2"), "{err}");
}

#[test]
fn impossible_value_names_key_and_line() {
    let dir = std::env::temp_dir().join(format!("mc-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(
        &path,
        "[service]\nreport_interval_secs = 10\nservice_down_time_secs = 5\n",
    )
    .unwrap();
    let err = Config::load(Some(&path)).unwrap_err().to_string();
    assert!(err.contains("service.service_down_time_secs"), "{err}");
    assert!(err.contains("line 3"), "{err}");
}

#[test]
fn unknown_filter_is_refused() {
    let mut c = Config::default();
    c.scheduler.filters.push("NoSuchFilter".into());
    let (key, reason) = c.validate().unwrap_err();
    assert_eq!(
        key,
        format!("scheduler.filters[{}]", c.scheduler.filters.len() - 1)
    );
    assert!(reason.contains("NoSuchFilter"));
}

#[test]
fn environment_overrides_secrets_and_host() {
    let mut c = Config::default();
    c.apply_env(|k| match k {
        "METACLOUD_DATABASE_URL" => Some("postgres://127.0.0.1/test".into()),
        "METACLOUD_HOST" => Some("compute-9".into()),
        _ => None,
    });
    assert_eq!(c.database.url.as_deref(), Some("postgres://127.0.0.1/test"));
    assert_eq!(c.host(), "compute-9");
}

#[test]
fn line_of_key_finds_nested_keys() {
    let text = "[queue]\nurl = \"x\"\n[compute]\nlibvirt_uri = \"bad\"\n";
    assert_eq!(locate::line_of_key(text, "compute.libvirt_uri"), Some(4));
    assert_eq!(locate::line_of_key(text, "queue.url"), Some(2));
    assert_eq!(locate::line_of_key(text, "queue.prefetch"), None);
}

#[test]
fn network_settings_are_checked_with_the_key_named() {
    let check = |text: &str| {
        Config::parse(text, "n.toml")
            .unwrap()
            .validate()
            .map_err(|(key, reason)| format!("{key}: {reason}"))
    };
    assert!(
        check("[network]\n").is_ok(),
        "no driver: no worker, nothing to check"
    );
    let err = check("[network]\ndriver = \"flat-dhcp\"\n").unwrap_err();
    assert!(err.starts_with("network.plugin_dir"), "{err}");
    let err = check("[network]\nallowed_interfaces = [\"eth0; rm\"]\n").unwrap_err();
    assert!(err.starts_with("network.allowed_interfaces"), "{err}");
    let err = check("[network]\nunderlay_interface = \"u0\"\nunderlay_address = \"192.0.2.1\"\n")
        .unwrap_err();
    assert!(err.starts_with("network.underlay_interface"), "{err}");
    let ok = "[network]\ndriver = \"vlan\"\nplugin_dir = \"p\"\nallowed_interfaces = [\"u0\"]\n\
              underlay_interface = \"u0\"\nunderlay_address = \"192.0.2.1\"\n\
              [[network.networks]]\nname = \"private\"\ncidr = \"10.0.0.0/24\"\n";
    assert_eq!(check(ok), Ok(()));
}
