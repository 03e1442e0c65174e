use super::*;
use metacloud_rpc::objects::{Flavor, SchedulerHints};

fn host(name: &str, free_ram_mb: u64) -> HostState {
    HostState {
        host: name.into(),
        availability_zone: "nova".into(),
        up: true,
        disabled: false,
        vcpus: 16,
        vcpus_used: 0,
        memory_mb: free_ram_mb,
        memory_mb_used: 0,
        reserved_memory_mb: 0,
        local_gb: 100,
        local_gb_used: 0,
        cpu_allocation_ratio: 4.0,
        ram_allocation_ratio: 1.0,
        disk_allocation_ratio: 1.0,
        running_vms: 0,
        failed_builds: 0,
        hypervisor_type: "test".into(),
        cpu_arch: "x86_64".into(),
        instances: vec![],
    }
}

fn spec(n: usize, memory_mb: u64) -> RequestSpec {
    RequestSpec {
        instance_uuids: (0..n).map(|i| format!("u{i}")).collect(),
        project_id: "p".into(),
        flavor: Flavor {
            id: "f".into(),
            name: "f".into(),
            vcpus: 1,
            memory_mb,
            root_gb: 1,
            ephemeral_gb: 0,
            swap_mb: 0,
            extra_specs: Default::default(),
        },
        image: None,
        availability_zone: None,
        hints: SchedulerHints::default(),
        ignore_hosts: vec![],
    }
}

fn chain() -> Chain {
    Chain::from_config(&SchedulerConfig::default(), 2)
}

#[test]
fn spreads_a_batch_over_hosts_by_free_ram() {
    let hosts = vec![host("a", 4096), host("b", 4096), host("c", 4096)];
    let sel = chain().select(&spec(6, 512), hosts).unwrap();
    for h in ["a", "b", "c"] {
        assert_eq!(sel.hosts.iter().filter(|x| *x == h).count(), 2, "{sel:?}");
    }
    assert_eq!(sel.alternates[0].len(), 2);
}

#[test]
fn down_disabled_and_full_hosts_are_filtered() {
    let mut down = host("down", 8192);
    down.up = false;
    let mut disabled = host("disabled", 8192);
    disabled.disabled = true;
    let full = host("full", 256);
    let ok = host("ok", 1024);
    let sel = chain()
        .select(&spec(2, 512), vec![down, disabled, full, ok])
        .unwrap();
    assert_eq!(sel.hosts, vec!["ok", "ok"]);
}

#[test]
fn not_enough_room_is_no_valid_host() {
    let err = chain()
        .select(&spec(3, 512), vec![host("a", 1024)])
        .unwrap_err();
    assert!(matches!(err, RpcError::NoValidHost(_)), "{err}");
}

#[test]
fn negative_ram_multiplier_packs() {
    let config = SchedulerConfig {
        weighers: vec![metacloud_config::WeigherConfig {
            name: "RAMWeigher".into(),
            multiplier: -1.0,
        }],
        ..Default::default()
    };
    let chain = Chain::from_config(&config, 0);
    let sel = chain
        .select(&spec(3, 512), vec![host("a", 4096), host("b", 8192)])
        .unwrap();
    assert_eq!(sel.hosts, vec!["a", "a", "a"]);
}

#[test]
fn ignored_hosts_and_availability_zones() {
    let mut s = spec(1, 512);
    s.ignore_hosts = vec!["a".into()];
    let sel = chain()
        .select(&s, vec![host("a", 8192), host("b", 1024)])
        .unwrap();
    assert_eq!(sel.hosts, vec!["b"]);
    let mut s = spec(1, 512);
    s.availability_zone = Some("other".into());
    let mut other = host("c", 1024);
    other.availability_zone = "other".into();
    let sel = chain().select(&s, vec![host("a", 8192), other]).unwrap();
    assert_eq!(sel.hosts, vec!["c"]);
}

#[test]
fn build_failures_sink_a_host() {
    let mut bad = host("bad", 8192);
    bad.failed_builds = 3;
    let sel = chain()
        .select(&spec(1, 512), vec![bad, host("good", 2048)])
        .unwrap();
    assert_eq!(sel.hosts, vec!["good"]);
}

#[test]
fn extra_spec_operators() {
    assert!(filters::spec_matches("16", ">= 8"));
    assert!(!filters::spec_matches("4", "= 8"));
    assert!(filters::spec_matches("QEMU", "s== QEMU"));
    assert!(filters::spec_matches("x86_64", "<or> aarch64 <or> x86_64"));
    assert!(filters::spec_matches("test", "test"));
    assert!(!filters::spec_matches("test", "QEMU"));
}

#[test]
fn capabilities_filter_matches_hypervisor_type() {
    let mut s = spec(1, 512);
    s.flavor
        .extra_specs
        .insert("capabilities:hypervisor_type".into(), "s== QEMU".into());
    let mut qemu = host("q", 1024);
    qemu.hypervisor_type = "QEMU".into();
    let sel = chain().select(&s, vec![host("t", 8192), qemu]).unwrap();
    assert_eq!(sel.hosts, vec!["q"]);
}

#[test]
fn pending_selections_spread_concurrent_requests_until_claimed() {
    let chain = chain();
    let mut pending = Pending::default();
    let snapshot = vec![host("a", 4096), host("b", 4096)];
    // Two requests on the same stale snapshot: the second sees the first's selection.
    let mut hosts = snapshot.clone();
    pending.apply(&mut hosts);
    let first = chain.select(&spec(1, 1024), hosts).unwrap();
    pending.record(&spec(1, 1024), &first);
    let mut hosts = snapshot.clone();
    pending.apply(&mut hosts);
    let mut second_spec = spec(1, 1024);
    second_spec.instance_uuids = vec!["v0".into()];
    let second = chain.select(&second_spec, hosts).unwrap();
    assert_ne!(
        first.hosts, second.hosts,
        "second request piled onto the same host"
    );
    // Once the database shows the claim, the selection is not counted twice.
    let mut claimed = snapshot.clone();
    let i = claimed
        .iter()
        .position(|h| h.host == first.hosts[0])
        .unwrap();
    claimed[i].consume(&spec(1, 1024).flavor, "u0");
    let mut hosts = claimed.clone();
    pending.apply(&mut hosts);
    assert_eq!(hosts[i].memory_mb_used, 1024);
}
