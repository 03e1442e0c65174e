use super::*;
use metacloud_rpc::objects::{Flavor, GroupSpec, HostAggregate, SchedulerHints};

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
        ..Default::default()
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
            is_public: true,
        },
        image: None,
        availability_zone: None,
        hints: SchedulerHints::default(),
        ignore_hosts: vec![],
        server_group: None,
        requested_host: None,
    }
}

fn grouped(n: usize, policy: &str, placed: &[(&str, u32)]) -> RequestSpec {
    let mut s = spec(n, 512);
    s.server_group = Some(GroupSpec {
        uuid: "g".into(),
        policy: policy.into(),
        max_server_per_host: 1,
        hosts: placed.iter().map(|(h, n)| (h.to_string(), *n)).collect(),
    });
    s
}

fn with_aggregate(mut h: HostState, name: &str, meta: &[(&str, &str)]) -> HostState {
    h.aggregates.push(HostAggregate {
        name: name.into(),
        metadata: meta
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    });
    h
}

fn chain_of(filters: &[&str], weighers: &[(&str, f64)]) -> Chain {
    let config = SchedulerConfig {
        filters: filters.iter().map(|f| f.to_string()).collect(),
        weighers: weighers
            .iter()
            .map(|(name, multiplier)| metacloud_config::WeigherConfig {
                name: name.to_string(),
                multiplier: *multiplier,
            })
            .collect(),
        max_io_ops_per_host: 2,
        ..Default::default()
    };
    Chain::from_config(&config, 0)
}

#[test]
fn anti_affinity_puts_each_member_on_its_own_host() {
    let hosts = vec![host("a", 8192), host("b", 8192), host("c", 8192)];
    // "a" already runs a member; a batch of two takes the two others.
    let sel = chain()
        .select(&grouped(2, "anti-affinity", &[("a", 1)]), hosts.clone())
        .unwrap();
    let mut got = sel.hosts.clone();
    got.sort();
    assert_eq!(got, vec!["b", "c"]);
    // A third in the same batch has nowhere to go.
    let err = chain()
        .select(&grouped(3, "anti-affinity", &[("a", 1)]), hosts.clone())
        .unwrap_err();
    assert!(matches!(err, RpcError::NoValidHost(_)), "{err}");
    // max_server_per_host = 2 allows two per host.
    let mut s = grouped(4, "anti-affinity", &[]);
    s.server_group.as_mut().unwrap().max_server_per_host = 2;
    let sel = chain().select(&s, hosts[..2].to_vec()).unwrap();
    assert_eq!(sel.hosts.iter().filter(|h| *h == "a").count(), 2);
}

#[test]
fn affinity_follows_the_first_member() {
    let hosts = vec![host("a", 8192), host("b", 2048), host("c", 8192)];
    // Empty group: the first pick is free (most RAM), the rest follow it.
    let sel = chain()
        .select(&grouped(3, "affinity", &[]), hosts.clone())
        .unwrap();
    assert!(sel.hosts.iter().all(|h| h == &sel.hosts[0]), "{sel:?}");
    // A member on "b": everything goes there although others have more room.
    let sel = chain()
        .select(&grouped(2, "affinity", &[("b", 1)]), hosts)
        .unwrap();
    assert_eq!(sel.hosts, vec!["b", "b"]);
}

#[test]
fn soft_policies_weigh_rather_than_filter() {
    let hosts = vec![host("a", 8192), host("b", 4096)];
    let weighers = [
        ("RAMWeigher", 1.0),
        ("ServerGroupSoftAffinityWeigher", 2.0),
        ("ServerGroupSoftAntiAffinityWeigher", 2.0),
    ];
    let chain = chain_of(&["ComputeFilter"], &weighers);
    let sel = chain
        .select(&grouped(2, "soft-affinity", &[("b", 1)]), hosts.clone())
        .unwrap();
    assert_eq!(sel.hosts, vec!["b", "b"]);
    let sel = chain
        .select(
            &grouped(2, "soft-anti-affinity", &[("a", 1)]),
            hosts.clone(),
        )
        .unwrap();
    assert_eq!(sel.hosts, vec!["b", "a"], "spread away from members");
    // Plain "anti-affinity" is not the soft weigher's business.
    let plain = chain_of(&["ComputeFilter"], &weighers)
        .select(&grouped(1, "anti-affinity", &[("a", 1)]), hosts)
        .unwrap();
    assert_eq!(plain.hosts, vec!["a"]);
}

#[test]
fn aggregate_extra_specs_need_matching_metadata() {
    let ssd = with_aggregate(host("ssd", 2048), "fast", &[("disk", "ssd,nvme")]);
    let hdd = with_aggregate(host("hdd", 8192), "slow", &[("disk", "hdd")]);
    let bare = host("bare", 8192);
    let chain = chain_of(
        &["AggregateInstanceExtraSpecsFilter"],
        &[("RAMWeigher", 1.0)],
    );
    let mut s = spec(1, 512);
    s.flavor.extra_specs.insert(
        "aggregate_instance_extra_specs:disk".into(),
        "<or> nvme <or> optane".into(),
    );
    let sel = chain
        .select(&s, vec![hdd.clone(), bare.clone(), ssd.clone()])
        .unwrap();
    assert_eq!(sel.hosts, vec!["ssd"]);
    // Other scopes are not this filter's; no specs, every host.
    let mut s = spec(1, 512);
    s.flavor
        .extra_specs
        .insert("hw:cpu_policy".into(), "dedicated".into());
    assert_eq!(
        chain.select(&s, vec![hdd, bare, ssd]).unwrap().hosts.len(),
        1
    );
}

#[test]
fn multi_tenancy_isolation_reserves_hosts() {
    let private = with_aggregate(
        host("private", 8192),
        "p",
        &[("filter_tenant_id", "p1, p2")],
    );
    let public = host("public", 2048);
    let chain = chain_of(&["AggregateMultiTenancyIsolation"], &[("RAMWeigher", 1.0)]);
    let mut s = spec(1, 512);
    s.project_id = "p2".into();
    assert_eq!(
        chain
            .select(&s, vec![private.clone(), public.clone()])
            .unwrap()
            .hosts,
        vec!["private"]
    );
    s.project_id = "p3".into();
    assert_eq!(
        chain.select(&s, vec![private, public]).unwrap().hosts,
        vec!["public"]
    );
}

#[test]
fn io_ops_filter_and_weigher() {
    let mut busy = host("busy", 8192);
    busy.io_ops = 2;
    let mut calm = host("calm", 8192);
    calm.io_ops = 1;
    let quiet = host("quiet", 8192);
    let filter = chain_of(&["IoOpsFilter"], &[]);
    let sel = filter
        .select(&spec(1, 512), vec![busy.clone(), calm.clone()])
        .unwrap();
    assert_eq!(sel.hosts, vec!["calm"], "max_io_ops_per_host = 2");
    // Picks count as I/O: the batch's second goes elsewhere.
    let err = filter.select(&spec(2, 512), vec![busy.clone(), calm.clone()]);
    assert!(err.is_err());
    let weigh = chain_of(&[], &[("IoOpsWeigher", -1.0)]);
    let sel = weigh
        .select(&spec(1, 512), vec![busy, calm, quiet])
        .unwrap();
    assert_eq!(sel.hosts, vec!["quiet"]);
}

#[test]
fn pending_selections_count_as_group_members() {
    let chain = chain();
    let mut pending = Pending::default();
    let snapshot = vec![host("a", 8192), host("b", 8192)];
    let s1 = grouped(1, "anti-affinity", &[]);
    let mut hosts = snapshot.clone();
    pending.apply(&mut hosts);
    let first = chain.select(&s1, hosts).unwrap();
    pending.record(&s1, &first);
    // A second request of the same group before the first is claimed.
    let mut s2 = grouped(1, "anti-affinity", &[]);
    s2.instance_uuids = vec!["v0".into()];
    let mut hosts = snapshot.clone();
    pending.apply(&mut hosts);
    pending.apply_group(&mut s2);
    assert_eq!(
        s2.server_group
            .as_ref()
            .unwrap()
            .members_on(&first.hosts[0]),
        1
    );
    let second = chain.select(&s2, hosts).unwrap();
    assert_ne!(first.hosts, second.hosts);
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
fn a_requested_host_is_the_only_one_considered_and_still_filtered() {
    let mut s = spec(1, 512);
    s.requested_host = Some("b".into());
    let sel = chain()
        .select(&s, vec![host("a", 8192), host("b", 1024)])
        .unwrap();
    assert_eq!(sel.hosts, vec!["b"]);
    assert!(sel.alternates.iter().flatten().all(|h| h == "b"));
    // Too small for the request: no other host is taken instead.
    let mut s = spec(1, 4096);
    s.requested_host = Some("b".into());
    assert!(chain()
        .select(&s, vec![host("a", 8192), host("b", 1024)])
        .is_err());
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

#[test]
fn a_selection_whose_claim_never_shows_is_forgotten_after_the_ttl() {
    // An instance claimed and deleted before the next request never appears as claimed:
    // its selection must stop counting once the TTL is over, not hold the host's memory.
    let chain = chain();
    let mut pending = Pending::default();
    let snapshot = vec![host("a", 4096)];
    let first = chain.select(&spec(1, 1024), snapshot.clone()).unwrap();
    pending.record(&spec(1, 1024), &first);
    let mut hosts = snapshot.clone();
    pending.apply(&mut hosts);
    assert_eq!(hosts[0].memory_mb_used, 1024, "counted while fresh");
    for p in pending.placed.values_mut() {
        p.at -= crate::PENDING_TTL + std::time::Duration::from_secs(1);
    }
    let mut hosts = snapshot.clone();
    pending.apply(&mut hosts);
    assert_eq!(hosts[0].memory_mb_used, 0, "forgotten after the TTL");
}

#[test]
fn pick_ranks_like_a_full_sort() {
    // Reference: sort by weight (best first), ties to the lower index.
    let mut seed = 7u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..200 {
        let n = 1 + (next() % 40) as usize;
        let candidates: Vec<usize> = (0..n).map(|i| i * 3).collect();
        // Few distinct values, so ties are common.
        let weights: Vec<f64> = (0..n).map(|_| (next() % 5) as f64 - 2.0).collect();
        let mut reference: Vec<(usize, f64)> = candidates
            .iter()
            .copied()
            .zip(weights.iter().copied())
            .collect();
        reference.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let alternates = (round % 4) as usize;
        let (chosen, rest) = pick(&candidates, &weights, 1, alternates);
        assert_eq!(chosen, reference[0].0, "round {round}");
        let expected: Vec<usize> = reference[1..]
            .iter()
            .take(alternates)
            .map(|(i, _)| *i)
            .collect();
        assert_eq!(rest, expected, "round {round}");
    }
}
