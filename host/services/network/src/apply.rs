//! Applying a checked plan: namespaces, bridges, segments, uplinks, public legs, taps,
//! DHCP, nftables and metadata proxies, each made to match idempotently; then whatever
//! the product made earlier and the plan no longer has (namespaces, DHCP servers, proxies)
//! is removed. A step that fails is reported and the rest still applied; the next
//! reconciliation tries again.

use crate::check::Checked;
use crate::links::Links;
use crate::nft::{FloatingNat, PortRules, Ruleset};
use crate::{dnsmasq, netns, nft, proxy};
use ipnet::Ipv4Net;
use metacloud_plugins::network::{Bridge, Nat, Network, Port};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Mutex;

/// What an apply did, for the log and the tests.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    pub namespaces: Vec<String>,
    /// Ports whose tap is on its bridge.
    pub attached: Vec<String>,
    /// Ports whose tap does not exist yet (the guest has not started).
    pub waiting: Vec<String>,
    /// Namespaces of networks no longer planned, removed.
    pub removed: Vec<String>,
    /// Steps that failed, as `step: reason`.
    pub errors: Vec<String>,
}

/// How proxies forward (none: no metadata proxies).
#[derive(Clone)]
pub struct ProxyTemplate {
    pub db: metacloud_db::Db,
    pub upstream: SocketAddr,
    pub secret: std::sync::Arc<str>,
}

/// Applies plans on this host.
pub struct Applier {
    pub namespace_prefix: String,
    pub state_dir: PathBuf,
    pub metadata_port: u16,
    pub proxy: Option<ProxyTemplate>,
    proxies: Mutex<HashMap<String, proxy::Running>>,
    client: reqwest::Client,
}

/// The public leg of a namespace: host end on the pool's bridge, namespace end with the
/// floating addresses.
fn public_names(namespace: &str) -> (String, String) {
    let tag = namespace.rsplit('-').next().unwrap_or(namespace);
    (format!("mcp-{tag}"), format!("mcq-{tag}"))
}

fn uplink_names(namespace: &str) -> (String, String) {
    let tag = namespace.rsplit('-').next().unwrap_or(namespace);
    (format!("mcu-{tag}"), format!("mcv-{tag}"))
}

/// A network's parsed CIDR and gateway.
fn net_of(n: &Network) -> Option<Ipv4Net> {
    n.cidr.parse::<Ipv4Net>().ok().map(|c| c.trunc())
}

impl Applier {
    pub fn new(
        namespace_prefix: &str,
        state_dir: PathBuf,
        metadata_port: u16,
        proxy: Option<ProxyTemplate>,
    ) -> Applier {
        Applier {
            namespace_prefix: namespace_prefix.to_string(),
            state_dir,
            metadata_port,
            proxy,
            proxies: Mutex::default(),
            client: reqwest::Client::new(),
        }
    }

    /// Makes this host match `c`.
    pub async fn apply(&self, c: &Checked) -> Report {
        let mut report = Report::default();
        let host = match Links::open(None) {
            Ok(l) => l,
            Err(e) => {
                report.errors.push(format!("netlink: {e}"));
                return report;
            }
        };
        let networks: BTreeMap<&str, &Network> = c
            .desired
            .networks
            .iter()
            .map(|n| (n.id.as_str(), n))
            .collect();
        let ports: BTreeMap<&str, &Port> =
            c.desired.ports.iter().map(|p| (p.id.as_str(), p)).collect();
        let bridges: BTreeMap<&str, &Bridge> = c
            .plan
            .bridges
            .iter()
            .map(|b| (b.network_id.as_str(), b))
            .collect();
        let mut inside: HashMap<String, Links> = HashMap::new();
        for b in &c.plan.bridges {
            if let Some(ns) = &b.namespace {
                report.namespaces.push(ns.clone());
            }
            match self.bridge(&host, b).await {
                Ok(Some(links)) => {
                    inside.insert(b.network_id.clone(), links);
                }
                Ok(None) => {}
                Err(e) => report.errors.push(format!("bridge {}: {e}", b.name)),
            }
        }
        self.segments(c, &host, &inside, &bridges, &mut report)
            .await;
        self.uplinks(c, &host, &inside, &bridges, &mut report).await;
        let public = self
            .public_legs(c, &host, &inside, &bridges, &mut report)
            .await;
        self.attach(c, &host, &inside, &bridges, &ports, &mut report)
            .await;
        self.dhcp(c, &networks, &bridges, &mut report);
        self.filters(c, &networks, &bridges, &ports, &public, &mut report);
        self.proxies(c, &networks, &bridges, &mut report);
        self.remove_stale(c, &mut report);
        report.namespaces.sort();
        let _ = std::fs::create_dir_all(&self.state_dir);
        let record = serde_json::to_vec_pretty(&report).unwrap_or_default();
        let _ = std::fs::write(self.state_dir.join("applied.json"), record);
        report
    }

    /// The bridge (and, for a managed one, its namespace); returns the namespace's links.
    async fn bridge(&self, host: &Links, b: &Bridge) -> Result<Option<Links>, String> {
        let Some(ns) = &b.namespace else {
            return match host.get(&b.name).await.map_err(|e| e.to_string())? {
                Some(_) => Ok(None),
                None => Err(format!("the operator's bridge {} does not exist", b.name)),
            };
        };
        netns::ensure(ns).map_err(|e| e.to_string())?;
        let links = Links::open(Some(ns)).map_err(|e| e.to_string())?;
        links.up("lo").await.map_err(|e| e.to_string())?;
        links
            .ensure_bridge(&b.name, b.mtu)
            .await
            .map_err(|e| e.to_string())?;
        if let Some(address) = &b.address {
            let a: Ipv4Net = address.parse().map_err(|e| format!("{address}: {e}"))?;
            links
                .ensure_address(&b.name, a.addr(), a.prefix_len())
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(Some(links))
    }

    async fn segments(
        &self,
        c: &Checked,
        host: &Links,
        inside: &HashMap<String, Links>,
        bridges: &BTreeMap<&str, &Bridge>,
        report: &mut Report,
    ) {
        for s in &c.plan.segments {
            let (Some(links), Some(b)) = (
                inside.get(&s.network_id),
                bridges.get(s.network_id.as_str()),
            ) else {
                continue;
            };
            let ns = b.namespace.as_deref().unwrap_or_default();
            let step = async {
                if links.get(&s.name).await?.is_none() {
                    let local: Ipv4Addr = s.local.parse().map_err(|e| crate::links::LinkError {
                        what: format!("local {}", s.local),
                        reason: format!("{e}"),
                    })?;
                    // Every peer through the fdb (below), none as the device's default.
                    host.ensure_vxlan(&s.name, s.vni, &s.underlay_interface, local, None, b.mtu)
                        .await?;
                    host.move_to(&s.name, ns).await?;
                }
                let remotes: Vec<Ipv4Addr> =
                    s.remotes.iter().filter_map(|r| r.parse().ok()).collect();
                links.sync_flood(&s.name, &remotes).await?;
                links.enslave(&s.name, &b.name).await
            };
            if let Err(e) = step.await {
                report.errors.push(format!("segment {}: {e}", s.name));
            }
        }
    }

    async fn uplinks(
        &self,
        c: &Checked,
        host: &Links,
        inside: &HashMap<String, Links>,
        bridges: &BTreeMap<&str, &Bridge>,
        report: &mut Report,
    ) {
        for u in &c.plan.uplinks {
            let (Some(links), Some(b)) = (
                inside.get(&u.network_id),
                bridges.get(u.network_id.as_str()),
            ) else {
                continue;
            };
            let ns = b.namespace.as_deref().unwrap_or_default();
            let (outer, inner) = uplink_names(ns);
            if let Err(e) = self
                .leg(host, links, ns, &outer, &inner, &u.interface, Some(&b.name))
                .await
            {
                report.errors.push(format!("uplink {}: {e}", u.interface));
            }
        }
    }

    /// A veth from bridge `outer_bridge` of the host to the namespace (enslaved there to
    /// `inner_bridge`, if given).
    #[allow(clippy::too_many_arguments)]
    async fn leg(
        &self,
        host: &Links,
        links: &Links,
        ns: &str,
        outer: &str,
        inner: &str,
        outer_bridge: &str,
        inner_bridge: Option<&str>,
    ) -> Result<(), crate::links::LinkError> {
        if links.get(inner).await?.is_none() {
            host.ensure_veth(outer, inner).await?;
            host.move_to(inner, ns).await?;
        }
        host.enslave(outer, outer_bridge).await?;
        match inner_bridge {
            Some(b) => links.enslave(inner, b).await,
            None => links.up(inner).await.map(|_| ()),
        }
    }

    /// Per network with floating addresses or a router's gateway: the public leg, its
    /// addresses and route. Returns the networks that have one, with their public interface.
    async fn public_legs(
        &self,
        c: &Checked,
        host: &Links,
        inside: &HashMap<String, Links>,
        bridges: &BTreeMap<&str, &Bridge>,
        report: &mut Report,
    ) -> BTreeMap<String, String> {
        let mut wanted: BTreeMap<String, (String, Vec<Ipv4Addr>)> = BTreeMap::new();
        for n in &c.plan.nat {
            if let Nat::Floating(f) = n {
                let Some(port) = c.desired.ports.iter().find(|p| p.id == f.port_id) else {
                    continue;
                };
                let entry = wanted
                    .entry(port.network_id.clone())
                    .or_insert_with(|| (f.pool.clone(), Vec::new()));
                if let Ok(a) = f.address.parse() {
                    entry.1.push(a);
                }
            }
        }
        for g in &c.gateways {
            let entry = wanted
                .entry(g.network_id.clone())
                .or_insert_with(|| (g.pool.clone(), Vec::new()));
            if entry.0 != g.pool {
                report.errors.push(format!(
                    "router gateway {} of {}: the network's public leg is on pool {}",
                    g.address, g.network_id, entry.0
                ));
                continue;
            }
            if let Ok(a) = g.address.parse() {
                if !entry.1.contains(&a) {
                    entry.1.push(a);
                }
            }
        }
        let mut public = BTreeMap::new();
        for (network, (pool_name, addresses)) in wanted {
            let (Some(links), Some(b)) = (inside.get(&network), bridges.get(network.as_str()))
            else {
                continue;
            };
            let Some(pool) = c.desired.pools.iter().find(|p| p.name == pool_name) else {
                continue;
            };
            let ns = b.namespace.as_deref().unwrap_or_default();
            let (outer, inner) = public_names(ns);
            let prefix = pool
                .cidr
                .parse::<Ipv4Net>()
                .map(|n| n.prefix_len())
                .unwrap_or(32);
            let step = async {
                self.leg(host, links, ns, &outer, &inner, &pool.interface, None)
                    .await?;
                for a in &addresses {
                    links.ensure_address(&inner, *a, prefix).await?;
                }
                for (a, p) in links.addresses(&inner).await? {
                    if !addresses.contains(&a) {
                        links.remove_address(&inner, a, p).await?;
                        flush_conntrack(ns, a);
                    }
                }
                if let Some(gw) = pool.gateway.as_deref().and_then(|g| g.parse().ok()) {
                    links.default_route(gw).await?;
                }
                Ok::<_, crate::links::LinkError>(())
            };
            match step.await {
                Ok(()) => {
                    public.insert(network, inner);
                }
                Err(e) => report.errors.push(format!("public leg of {network}: {e}")),
            }
        }
        public
    }

    async fn attach(
        &self,
        c: &Checked,
        host: &Links,
        inside: &HashMap<String, Links>,
        bridges: &BTreeMap<&str, &Bridge>,
        ports: &BTreeMap<&str, &Port>,
        report: &mut Report,
    ) {
        for a in &c.plan.attachments {
            let Some(port) = ports.get(a.port_id.as_str()) else {
                continue;
            };
            let Some(b) = bridges.get(port.network_id.as_str()) else {
                continue;
            };
            let step = async {
                match (&b.namespace, inside.get(&port.network_id)) {
                    (Some(ns), Some(links)) => {
                        if links.get(&a.device).await?.is_none() {
                            if host.get(&a.device).await?.is_none() {
                                return Ok(false);
                            }
                            host.move_to(&a.device, ns).await?;
                        }
                        links.enslave(&a.device, &b.name).await?;
                    }
                    _ => {
                        if host.get(&a.device).await?.is_none() {
                            return Ok(false);
                        }
                        host.enslave(&a.device, &b.name).await?;
                    }
                }
                Ok::<_, crate::links::LinkError>(true)
            };
            match step.await {
                Ok(true) => report.attached.push(a.port_id.clone()),
                Ok(false) => report.waiting.push(a.port_id.clone()),
                Err(e) => report.errors.push(format!("attach {}: {e}", a.device)),
            }
        }
    }

    fn dhcp(
        &self,
        c: &Checked,
        networks: &BTreeMap<&str, &Network>,
        bridges: &BTreeMap<&str, &Bridge>,
        report: &mut Report,
    ) {
        for d in &c.plan.dhcp {
            let (Some(n), Some(b)) = (
                networks.get(d.network_id.as_str()),
                bridges.get(d.network_id.as_str()),
            ) else {
                continue;
            };
            let (Some(ns), Some(net)) = (b.namespace.as_deref(), net_of(n)) else {
                continue;
            };
            let server = dnsmasq::Server::new(&self.state_dir, &d.network_id);
            match server.ensure(ns, &b.name, &n.gateway, net.prefix_len(), d) {
                Ok(released) => {
                    for (mac, address) in released {
                        dnsmasq::release(ns, &b.name, &address, &mac);
                    }
                }
                Err(e) => report.errors.push(e.to_string()),
            }
        }
    }

    fn filters(
        &self,
        c: &Checked,
        networks: &BTreeMap<&str, &Network>,
        bridges: &BTreeMap<&str, &Bridge>,
        ports: &BTreeMap<&str, &Port>,
        public: &BTreeMap<String, String>,
        report: &mut Report,
    ) {
        // One ruleset per namespace (the host's, for operators' bridges, included).
        let mut per_ns: BTreeMap<Option<String>, Ruleset<'_>> = BTreeMap::new();
        for b in &c.plan.bridges {
            per_ns.entry(b.namespace.clone()).or_default();
        }
        let ns_of = |network: &str| bridges.get(network).map(|b| b.namespace.clone());
        for f in &c.plan.filters {
            let Some(port) = ports.get(f.port_id.as_str()) else {
                continue;
            };
            if let Some(ns) = ns_of(&port.network_id) {
                per_ns.entry(ns).or_default().ports.push(PortRules {
                    device: &port.device,
                    filter: f,
                });
            }
        }
        for s in &c.plan.segments {
            if let Some(ns) = ns_of(&s.network_id) {
                per_ns.entry(ns).or_default().segments.push(&s.name);
            }
        }
        for m in &c.plan.metadata {
            if let (Some(n), Some(ns)) = (networks.get(m.network_id.as_str()), ns_of(&m.network_id))
            {
                per_ns.entry(ns).or_default().metadata = Some((&n.gateway, self.metadata_port));
            }
        }
        for nat in &c.plan.nat {
            match nat {
                Nat::Floating(f) => {
                    let Some(port) = ports.get(f.port_id.as_str()) else {
                        continue;
                    };
                    let Some(public_if) = public.get(&port.network_id) else {
                        continue;
                    };
                    if let Some(ns) = ns_of(&port.network_id) {
                        let r = per_ns.entry(ns).or_default();
                        r.public = Some(public_if);
                        r.floating.push(FloatingNat {
                            floating: &f.address,
                            fixed: &port.address,
                        });
                    }
                }
                Nat::Masquerade(network) => {
                    let (Some(n), Some(public_if)) =
                        (networks.get(network.as_str()), public.get(network))
                    else {
                        continue;
                    };
                    if let Some(ns) = ns_of(network) {
                        let r = per_ns.entry(ns).or_default();
                        r.public = Some(public_if);
                        r.masquerade = Some(&n.cidr);
                        r.snat_to = c
                            .gateways
                            .iter()
                            .find(|g| &g.network_id == network)
                            .map(|g| g.address.as_str());
                    }
                }
            }
        }
        for (ns, rules) in &per_ns {
            let text = format!("{}{}", nft::render_inet(rules), nft::render_bridge(rules));
            if let Err(e) = nft::apply(ns.as_deref(), &text) {
                report.errors.push(e.to_string());
            }
        }
    }

    fn proxies(
        &self,
        c: &Checked,
        networks: &BTreeMap<&str, &Network>,
        bridges: &BTreeMap<&str, &Bridge>,
        report: &mut Report,
    ) {
        let Some(template) = &self.proxy else {
            return;
        };
        let mut running = self.proxies.lock().expect("proxies lock");
        let wanted: BTreeSet<&str> = c
            .plan
            .metadata
            .iter()
            .map(|m| m.network_id.as_str())
            .collect();
        running.retain(|network, _| wanted.contains(network.as_str()));
        for network in wanted {
            let (Some(n), Some(b)) = (networks.get(network), bridges.get(network)) else {
                continue;
            };
            let Some(ns) = b.namespace.as_deref() else {
                continue;
            };
            let Ok(gw) = n.gateway.parse::<Ipv4Addr>() else {
                continue;
            };
            let address = SocketAddr::from((gw, self.metadata_port));
            if running.get(network).is_some_and(|r| r.address == address) {
                continue;
            }
            let proxy = proxy::Proxy {
                network: network.to_string(),
                db: template.db.clone(),
                upstream: template.upstream,
                secret: template.secret.clone(),
                client: self.client.clone(),
            };
            match proxy.start(ns, address) {
                Ok(r) => {
                    running.insert(network.to_string(), r);
                }
                Err(e) => report
                    .errors
                    .push(format!("metadata proxy of {network}: {e}")),
            }
        }
    }

    /// The namespaces the last apply recorded (`applied.json`).
    fn recorded(&self) -> Vec<String> {
        std::fs::read(self.state_dir.join("applied.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| {
                v.get("namespaces")?.as_array().map(|a| {
                    a.iter()
                        .filter_map(|n| n.as_str().map(str::to_string))
                        .collect()
                })
            })
            .unwrap_or_default()
    }

    /// Removes what this host made earlier (as recorded) and the plan no longer has:
    /// namespaces (with everything in them) and DHCP servers.
    fn remove_stale(&self, c: &Checked, report: &mut Report) {
        let planned: BTreeSet<&str> = c
            .plan
            .bridges
            .iter()
            .filter_map(|b| b.namespace.as_deref())
            .collect();
        let dhcp: BTreeSet<&str> = c.plan.dhcp.iter().map(|d| d.network_id.as_str()).collect();
        if let Ok(dirs) = std::fs::read_dir(self.state_dir.join("dhcp")) {
            for d in dirs.flatten() {
                let network = d.file_name().to_string_lossy().to_string();
                if !dhcp.contains(network.as_str()) {
                    dnsmasq::Server::new(&self.state_dir, &network).stop();
                }
            }
        }
        for ns in self.recorded() {
            if !planned.contains(ns.as_str()) && ns.starts_with(&self.namespace_prefix) {
                match netns::delete(&ns) {
                    Ok(()) => report.removed.push(ns),
                    Err(e) => report.errors.push(e.to_string()),
                }
            }
        }
    }
}

/// Forgets connections to a floating address that left (as nova-network's
/// `conntrack -D`), so an established flow does not outlive its association.
fn flush_conntrack(namespace: &str, address: Ipv4Addr) {
    if let Ok(mut cmd) = netns::command(namespace, "conntrack") {
        let _ = cmd
            .args(["-D", "-d", &address.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}
