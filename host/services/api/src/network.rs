//! Networking of the compute domain (nova-network's API side): networks, fixed and
//! floating addresses, security groups, and the ports of instances.
//!
//! [`allocate_ports`] and [`release_instance`] are plain functions over the database so
//! that the conductor side can call them too; [`ComputeApi`] adds policy and project
//! scoping for the APIs.

use crate::{ApiError, ComputeApi, Context};
use metacloud_db::floating::{FloatingIp, FloatingRange, FLOATING_IPS};
use metacloud_db::networks::{Cidr, FixedIp, Network, NewNetwork};
use metacloud_db::ports::Port;
use metacloud_db::quotas::DefaultLimits;
use metacloud_db::secgroups::{NewRule, Rule, SecurityGroup, DEFAULT_GROUP, SECURITY_GROUPS};
use metacloud_db::{Db, DbError};
use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

/// The pool an allocation without one draws from (nova-network's `default_floating_pool`).
pub const DEFAULT_POOL: &str = "nova";
/// Where floating addresses live when the operator names no interface
/// (nova-network's `public_interface`).
pub const DEFAULT_PUBLIC_INTERFACE: &str = "eth0";
/// The driver of a network made without a segment (nova-network's FlatDHCPManager).
pub const DEFAULT_DRIVER: &str = "flat-dhcp";
/// The driver of a network made with a VLAN id (VlanManager).
pub const VLAN_DRIVER: &str = "vlan";
/// The quota resource of rules (per group).
pub const SECURITY_GROUP_RULES: &str = "security_group_rules";

/// One requested network of a server create.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
pub struct RequestedNetwork {
    #[serde(default, alias = "uuid")]
    pub network_id: Option<String>,
    #[serde(default)]
    pub fixed_ip: Option<String>,
    #[serde(default, alias = "port")]
    pub port_id: Option<String>,
    /// The device tag the port gets (the compute API's 2.32 and 2.42).
    #[serde(default)]
    pub tag: Option<String>,
}

/// What a server create asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum NetworkChoice {
    /// No `networks` given: a port on every network the project may use (nova-network).
    #[default]
    Default,
    /// `"none"`: no port.
    None,
    /// `"auto"`: as `Default`.
    Auto,
    Given(Vec<RequestedNetwork>),
}

/// One port of a create's plan.
#[derive(Debug, Clone, PartialEq)]
pub enum PlannedPort {
    /// A new port on a network, with the fixed address wanted.
    New {
        network: String,
        fixed: Option<String>,
    },
    /// An unbound port made through the Network API.
    Existing(String),
}

/// A create's networking, checked: the ports to make or take and the security groups
/// (ids) to join (besides the groups of the ports it takes).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetworkPlan {
    pub ports: Vec<PlannedPort>,
    /// The device tag of each of `ports` (none where none was given, or `ports` longer).
    pub tags: Vec<Option<String>>,
    pub groups: Vec<String>,
}

/// Database errors of networking as API errors (Nova's statuses).
pub(crate) fn net_error(e: DbError) -> ApiError {
    match e {
        DbError::InvalidNetwork(m) => ApiError::BadRequest(m),
        DbError::AddressOverlap { .. } => ApiError::Conflict(e.to_string()),
        DbError::AddressesExhausted { .. } => ApiError::Conflict(e.to_string()),
        DbError::AddressInUse { .. } | DbError::AddressNotAvailable { .. } => {
            ApiError::BadRequest(e.to_string())
        }
        DbError::NetworkInUse { .. } => ApiError::Conflict(e.to_string()),
        DbError::FloatingIpsExhausted { pool } => {
            ApiError::NotFound(format!("No more floating IPs in pool {pool}"))
        }
        DbError::FloatingIpAssociated { .. } => ApiError::BadRequest(e.to_string()),
        DbError::InvalidSecurityGroupRule(_) | DbError::SecurityGroupRuleExists { .. } => {
            ApiError::BadRequest(e.to_string())
        }
        DbError::SecurityGroupInUse { .. } => ApiError::BadRequest(e.to_string()),
        DbError::MacAddressInUse { .. } | DbError::PortInUse { .. } => {
            ApiError::Conflict(e.to_string())
        }
        e => e.into(),
    }
}

/// Makes one port per planned network for each instance (the plan's fixed addresses
/// apply to a single instance only), all or nothing: on any failure the ports made so far
/// are released and the error returned. Then puts the instances in the plan's groups.
pub async fn allocate_ports(
    db: &Db,
    project: &str,
    instances: &[String],
    plan: &NetworkPlan,
) -> Result<Vec<Port>, ApiError> {
    let mut made = Vec::new();
    let mut failed = None;
    'all: for inst in instances {
        let mut groups = plan.groups.clone();
        for (i, want) in plan.ports.iter().enumerate() {
            let got = match want {
                PlannedPort::New { network, fixed } => {
                    db.allocate_port(inst, project, network, fixed.as_deref())
                        .await
                }
                PlannedPort::Existing(port) => db.bind_port(port, inst, project).await,
            };
            let got = match (got, plan.tags.get(i).and_then(Option::as_deref)) {
                (Ok(mut p), Some(tag)) => db.set_port_tag(&p.id, tag).await.map(|()| {
                    p.tag = Some(tag.to_string());
                    p
                }),
                (got, _) => got,
            };
            match got {
                Ok(p) => {
                    groups.extend(p.group_ids.iter().cloned());
                    made.push(p)
                }
                Err(e) => {
                    failed = Some(e);
                    break 'all;
                }
            }
        }
        for g in &groups {
            if let Err(e) = db.add_instance_to_group(inst, project, g).await {
                if !matches!(e, DbError::Conflict(_)) {
                    failed = Some(e);
                    break 'all;
                }
            }
        }
    }
    if let Some(e) = failed {
        for inst in instances {
            let _ = release_instance(db, inst).await;
        }
        return Err(net_error(e));
    }
    Ok(made)
}

/// How floating addresses are handed out (`[network]` of the configuration).
#[derive(Debug, Clone, PartialEq)]
pub struct FloatingPolicy {
    /// The pool of a request that names none.
    pub default_pool: String,
    /// nova-network's `auto_assign_floating_ip`.
    pub auto_assign: bool,
}

impl Default for FloatingPolicy {
    fn default() -> Self {
        FloatingPolicy {
            default_pool: DEFAULT_POOL.to_string(),
            auto_assign: false,
        }
    }
}

/// nova-network's `auto_assign_floating_ip`: each instance's first port gets a floating
/// address of `pool`, given back with the port. An empty or missing pool does not fail
/// the boot (the instance keeps its fixed address); it is logged as a warning.
pub async fn auto_assign_floating(db: &Db, project: &str, pool: &str, ports: &[Port]) {
    let mut seen = std::collections::BTreeSet::new();
    for port in ports.iter().filter(|p| seen.insert(p.instance_id.clone())) {
        match db.auto_assign_floating(project, pool, &port.id).await {
            Ok(f) => tracing::info!(
                instance = port.instance_id.as_deref().unwrap_or_default(),
                address = %f.address, fixed = %port.address,
                "floating address auto-assigned"
            ),
            Err(e) => tracing::warn!(
                instance = port.instance_id.as_deref().unwrap_or_default(), %pool, error = %e,
                "no floating address auto-assigned"
            ),
        }
    }
}

/// Releases an instance's ports (their fixed addresses back to their networks, floating
/// ones disassociated) and takes it out of its security groups.
pub async fn release_instance(db: &Db, instance: &str) -> Result<Vec<Port>, ApiError> {
    let ports = db
        .release_ports_of_instance(instance)
        .await
        .map_err(net_error)?;
    db.remove_instance_from_all_groups(instance)
        .await
        .map_err(net_error)?;
    Ok(ports)
}

/// One address of a server, as its views show it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerAddress {
    pub network: String,
    pub addr: String,
    /// `fixed` or `floating`.
    pub kind: &'static str,
    pub mac: String,
}

/// The addresses and security group names of a server.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerNetworking {
    pub addresses: Vec<ServerAddress>,
    pub security_groups: Vec<String>,
}

/// A group with its rules, for the views.
#[derive(Debug, Clone)]
pub struct GroupView {
    pub group: SecurityGroup,
    pub rules: Vec<Rule>,
    /// Names of the groups rules name as their remote.
    pub remote_names: HashMap<String, String>,
}

fn visible_network(ctx: &Context, n: &Network) -> bool {
    crate::subnets::sees(ctx, n)
}

impl ComputeApi {
    fn limit_defaults() -> DefaultLimits {
        DefaultLimits(
            crate::compute::RECORDED_QUOTAS
                .iter()
                .map(|(r, l)| (r.to_string(), *l))
                .collect(),
        )
    }

    /// A project's limit of a networking quota (`floating_ips`, `security_groups`,
    /// `security_group_rules`).
    pub async fn network_quota(&self, project: &str, resource: &str) -> Result<i64, ApiError> {
        Ok(self
            .db
            .quota_limit(project, resource, &Self::limit_defaults())
            .await?)
    }

    /// Checks a create's networks and groups before anything is made.
    pub async fn plan_networking(
        &self,
        ctx: &Context,
        choice: &NetworkChoice,
        groups: &[String],
        count: u32,
    ) -> Result<NetworkPlan, ApiError> {
        let usable = self
            .db
            .list_networks(Some(&ctx.project_id))
            .await
            .map_err(net_error)?;
        let usable = match choice {
            NetworkChoice::Auto => auto_network(&ctx.project_id, usable)?,
            _ => usable,
        };
        let tags = match choice {
            NetworkChoice::Given(list) => list.iter().map(|r| r.tag.clone()).collect(),
            _ => Vec::new(),
        };
        let ports = match choice {
            NetworkChoice::None => Vec::new(),
            NetworkChoice::Default | NetworkChoice::Auto => usable
                .iter()
                .map(|n| PlannedPort::New {
                    network: n.id.clone(),
                    fixed: None,
                })
                .collect(),
            NetworkChoice::Given(list) => {
                let mut out: Vec<PlannedPort> = Vec::new();
                for r in list {
                    if let Some(port) = &r.port_id {
                        self.check_free_port(ctx, port, count).await?;
                        if out.contains(&PlannedPort::Existing(port.clone())) {
                            return Err(ApiError::BadRequest(format!(
                                "Port {port} is given twice."
                            )));
                        }
                        out.push(PlannedPort::Existing(port.clone()));
                        continue;
                    }
                    let Some(id) = &r.network_id else {
                        return Err(ApiError::BadRequest(
                            "A network needs a uuid or a port".into(),
                        ));
                    };
                    let Some(net) = usable.iter().find(|n| &n.id == id) else {
                        return Err(ApiError::BadRequest(format!(
                            "Network {id} could not be found."
                        )));
                    };
                    if let Some(ip) = &r.fixed_ip {
                        if count > 1 {
                            return Err(ApiError::BadRequest(
                                "max_count cannot be greater than 1 if an fixed_ip is specified."
                                    .into(),
                            ));
                        }
                        let a: Ipv4Addr = ip.parse().map_err(|_| {
                            ApiError::BadRequest(format!("Invalid fixed IP address ({ip})"))
                        })?;
                        let cidr = Cidr::parse(&net.cidr).map_err(ApiError::Internal)?;
                        if !cidr.contains(a) {
                            return Err(ApiError::BadRequest(format!(
                                "Fixed IP address {ip} is not in network {} ({})",
                                net.name, net.cidr
                            )));
                        }
                    }
                    out.push(PlannedPort::New {
                        network: id.clone(),
                        fixed: r.fixed_ip.clone(),
                    });
                }
                out
            }
        };
        let mut group_ids = Vec::new();
        let only_ports =
            !ports.is_empty() && ports.iter().all(|p| matches!(p, PlannedPort::Existing(_)));
        let names: Vec<String> = if groups.is_empty() && only_ports {
            Vec::new()
        } else if groups.is_empty() {
            vec![DEFAULT_GROUP.to_string()]
        } else {
            groups.to_vec()
        };
        for name in names {
            let g = self
                .group_by_name_or_id(ctx, &name)
                .await
                .map_err(|e| match e {
                    ApiError::NotFound(_) => ApiError::BadRequest(format!(
                        "Security group {name} not found for project {}.",
                        ctx.project_id
                    )),
                    e => e,
                })?;
            if !group_ids.contains(&g.id) {
                group_ids.push(g.id);
            }
        }
        Ok(NetworkPlan {
            ports,
            tags,
            groups: group_ids,
        })
    }

    /// Checks a port a create names: the project's, unbound, and for one server only.
    async fn check_free_port(&self, ctx: &Context, id: &str, count: u32) -> Result<(), ApiError> {
        self.free_port(&ctx.project_id, id).await?;
        if count > 1 {
            return Err(ApiError::BadRequest(
                "Unable to launch multiple instances with a single configured port ID. \
                 Please launch your instance one by one with different ports."
                    .into(),
            ));
        }
        Ok(())
    }

    /// A port of `project` that no server has and that has an address (for a create or
    /// an interface attach to take).
    pub(crate) async fn free_port(&self, project: &str, id: &str) -> Result<Port, ApiError> {
        let port = match self.db.get_port(id).await {
            Ok(p) if p.project_id == project => p,
            Ok(_) | Err(DbError::NotFound(_)) => {
                return Err(ApiError::NotFound(format!("Port id {id}")))
            }
            Err(e) => return Err(net_error(e)),
        };
        if let Some(server) = &port.instance_id {
            return Err(ApiError::Conflict(format!(
                "Port {id} is still in use (by server {server})."
            )));
        }
        if port.address.is_empty() {
            return Err(ApiError::BadRequest(format!(
                "Port {id} requires a FixedIP in order to be used."
            )));
        }
        Ok(port)
    }

    /// The project's group named `name` (or with that id); `default` is made on first use.
    async fn group_by_name_or_id(
        &self,
        ctx: &Context,
        name: &str,
    ) -> Result<SecurityGroup, ApiError> {
        if name == DEFAULT_GROUP {
            return self
                .db
                .ensure_default_group(&ctx.project_id)
                .await
                .map_err(net_error);
        }
        if let Some(g) = self
            .db
            .security_group_by_name(&ctx.project_id, name)
            .await?
        {
            return Ok(g);
        }
        if let Ok(g) = self.db.get_security_group(&ctx.project_id, name).await {
            return Ok(g);
        }
        Err(ApiError::NotFound(format!("Security group {name}")))
    }

    /// Addresses and groups of the servers `ids` the caller may see, in three queries.
    pub async fn server_networking(
        &self,
        ctx: &Context,
        ids: &[String],
    ) -> Result<BTreeMap<String, ServerNetworking>, ApiError> {
        let mut out: BTreeMap<String, ServerNetworking> = BTreeMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        // Every server the caller sees has an entry, an empty one when it has no port and
        // is in no group (the view shows no groups then, not a guessed `default`).
        for (inst, project) in self
            .db
            .projects_of_instances(ids)
            .await
            .map_err(net_error)?
        {
            if ctx.is_admin() || project == ctx.project_id {
                out.insert(inst, ServerNetworking::default());
            }
        }
        let ports = self.db.ports_of_instances(ids).await.map_err(net_error)?;
        let ports: Vec<Port> = ports
            .into_iter()
            .filter(|p| ctx.is_admin() || p.project_id == ctx.project_id)
            .collect();
        let labels: HashMap<String, String> = if ports.is_empty() {
            HashMap::new()
        } else {
            self.db
                .list_networks(None)
                .await
                .map_err(net_error)?
                .into_iter()
                .map(|n| (n.id, n.name))
                .collect()
        };
        let floating = self
            .db
            .floating_of_ports(&ports.iter().map(|p| p.id.clone()).collect::<Vec<_>>())
            .await
            .map_err(net_error)?;
        for p in &ports {
            let label = labels
                .get(&p.network_id)
                .cloned()
                .unwrap_or_else(|| p.network_id.clone());
            let Some(instance) = &p.instance_id else {
                continue;
            };
            let entry = out.entry(instance.clone()).or_default();
            entry.addresses.push(ServerAddress {
                network: label.clone(),
                addr: p.address.clone(),
                kind: "fixed",
                mac: p.mac.clone(),
            });
            for f in floating
                .iter()
                .filter(|f| f.port_id.as_deref() == Some(&p.id))
            {
                entry.addresses.push(ServerAddress {
                    network: label.clone(),
                    addr: f.address.clone(),
                    kind: "floating",
                    mac: p.mac.clone(),
                });
            }
        }
        for (inst, project, name) in self
            .db
            .group_names_of_instances(ids)
            .await
            .map_err(net_error)?
        {
            if ctx.is_admin() || project == ctx.project_id {
                out.entry(inst).or_default().security_groups.push(name);
            }
        }
        Ok(out)
    }

    // --- networks ------------------------------------------------------------------------

    pub async fn list_networks(
        &self,
        ctx: &Context,
        all_projects: bool,
    ) -> Result<Vec<Network>, ApiError> {
        let project = if ctx.is_admin() && all_projects {
            None
        } else {
            Some(ctx.project_id.as_str())
        };
        self.db.list_networks(project).await.map_err(net_error)
    }

    pub async fn get_network(&self, ctx: &Context, id: &str) -> Result<Network, ApiError> {
        let not_found = || ApiError::NotFound(format!("Network {id}"));
        let n = self.db.get_network(id).await.map_err(|e| match e {
            DbError::NotFound(_) => not_found(),
            e => net_error(e),
        })?;
        if !visible_network(ctx, &n) {
            return Err(not_found());
        }
        Ok(n)
    }

    /// Creates a network: admins for any project (or shared), members for their own
    /// project only (os-tenant-networks).
    pub async fn create_network(
        &self,
        ctx: &Context,
        mut new: NewNetwork,
    ) -> Result<Network, ApiError> {
        if !ctx.is_admin() {
            Self::require_write(ctx, "os_compute_api:os-tenant-networks")?;
            if new.project_id.as_deref() != Some(ctx.project_id.as_str()) {
                return Err(ApiError::Forbidden("os_compute_api:os-networks".into()));
            }
        }
        if new.driver.trim().is_empty() {
            new.driver = if new.segment.is_some() {
                VLAN_DRIVER
            } else {
                DEFAULT_DRIVER
            }
            .into();
        }
        let n = self.db.create_network(&new).await.map_err(net_error)?;
        tracing::info!(network = %n.id, cidr = %n.cidr, "network created");
        Ok(n)
    }

    /// Deletes a network (admins; members their own project's).
    pub async fn delete_network(&self, ctx: &Context, id: &str) -> Result<(), ApiError> {
        let n = self.get_network(ctx, id).await?;
        if !ctx.is_admin() {
            Self::require_write(ctx, "os_compute_api:os-tenant-networks")?;
            if n.project_id.as_deref() != Some(ctx.project_id.as_str()) {
                return Err(ApiError::Forbidden("os_compute_api:os-networks".into()));
            }
        }
        self.db.delete_network(id).await.map_err(|e| match e {
            DbError::NetworkInUse { network, .. } => {
                ApiError::Conflict(format!("Network {network} is still in use."))
            }
            e => net_error(e),
        })?;
        tracing::info!(network = %id, "network deleted");
        Ok(())
    }

    /// os-networks actions (admin): `associate` (with `project`), `disassociate`,
    /// `disassociate-host` (nothing to undo: networks are not bound to hosts here) and
    /// `disassociate-project`.
    pub async fn network_action(
        &self,
        ctx: &Context,
        id: &str,
        action: &str,
        project: Option<&str>,
    ) -> Result<Network, ApiError> {
        Self::require_admin(ctx, "os_compute_api:os-networks:associate")?;
        self.get_network(ctx, id).await?;
        match action {
            "associate" => {
                let p = project.unwrap_or(&ctx.project_id);
                self.db.associate_network(id, p).await.map_err(net_error)
            }
            "disassociate" | "disassociate-project" => {
                self.db.disassociate_network(id).await.map_err(net_error)
            }
            "disassociate-host" => self.get_network(ctx, id).await,
            other => Err(ApiError::BadRequest(format!(
                "unknown network action {other}"
            ))),
        }
    }

    pub async fn network_free_addresses(&self, ctx: &Context, id: &str) -> Result<i64, ApiError> {
        self.get_network(ctx, id).await?;
        self.db.free_address_count(id).await.map_err(net_error)
    }

    // --- fixed addresses -----------------------------------------------------------------

    /// The network whose CIDR holds `address`.
    async fn network_of_address(&self, address: &str) -> Result<Network, ApiError> {
        let bad = || ApiError::BadRequest(format!("Fixed IP address {address} is invalid."));
        let a: Ipv4Addr = address.parse().map_err(|_| bad())?;
        for n in self.db.list_networks(None).await.map_err(net_error)? {
            if Cidr::parse(&n.cidr).is_ok_and(|c| c.contains(a)) {
                return Ok(n);
            }
        }
        Err(ApiError::NotFound(format!(
            "Fixed IP associated with address {address}"
        )))
    }

    /// A fixed address with its network and instance (admin).
    pub async fn get_fixed_ip(
        &self,
        ctx: &Context,
        address: &str,
    ) -> Result<(FixedIp, Network, Option<crate::compute::InstanceBrief>), ApiError> {
        Self::require_admin(ctx, "os_compute_api:os-fixed-ips")?;
        let net = self.network_of_address(address).await?;
        let ip = self.db.get_fixed_ip(&net.id, address).await.map_err(|_| {
            ApiError::NotFound(format!("Fixed IP associated with address {address}"))
        })?;
        let inst = match &ip.instance_id {
            Some(i) => self
                .db
                .get_instance(i)
                .await
                .ok()
                .map(|i| crate::compute::InstanceBrief {
                    name: i.name,
                    host: i.host,
                }),
            None => None,
        };
        Ok((ip, net, inst))
    }

    /// Reserves or unreserves a fixed address (admin); never the gateway.
    pub async fn reserve_fixed_ip(
        &self,
        ctx: &Context,
        address: &str,
        reserved: bool,
    ) -> Result<(), ApiError> {
        let (_, net, _) = self.get_fixed_ip(ctx, address).await?;
        if net.gateway == address {
            return Err(ApiError::BadRequest(format!(
                "Fixed IP address {address} is the gateway of network {}",
                net.name
            )));
        }
        self.db
            .set_fixed_ip_reserved(&net.id, address, reserved)
            .await
            .map_err(net_error)?;
        Ok(())
    }

    // --- floating addresses --------------------------------------------------------------

    pub async fn floating_pools(&self, _ctx: &Context) -> Result<Vec<String>, ApiError> {
        self.db.list_pools().await.map_err(net_error)
    }

    pub async fn list_floating(&self, ctx: &Context) -> Result<Vec<FloatingIp>, ApiError> {
        self.db
            .list_floating(Some(&ctx.project_id))
            .await
            .map_err(net_error)
    }

    /// A floating address of the caller's project.
    pub async fn get_floating(&self, ctx: &Context, address: &str) -> Result<FloatingIp, ApiError> {
        let not_found = || ApiError::NotFound(format!("Floating IP {address}"));
        let f = self.db.get_floating(address).await.map_err(|e| match e {
            DbError::NotFound(_) => not_found(),
            e => net_error(e),
        })?;
        if f.project_id.as_deref() != Some(ctx.project_id.as_str()) {
            return Err(not_found());
        }
        Ok(f)
    }

    pub async fn allocate_floating(
        &self,
        ctx: &Context,
        pool: Option<&str>,
    ) -> Result<FloatingIp, ApiError> {
        Self::require_write(ctx, "os_compute_api:os-floating-ips")?;
        let pool = pool.unwrap_or(&self.floating.default_pool);
        // Clients that speak the Network API name the pool by its external network's id.
        let by_network = match self.db.get_network(pool).await {
            Ok(n) if n.external => n.pool,
            _ => None,
        };
        let pool = by_network.as_deref().unwrap_or(pool);
        let limit = self.network_quota(&ctx.project_id, FLOATING_IPS).await?;
        let f = self
            .db
            .allocate_floating(&ctx.project_id, pool, limit)
            .await
            .map_err(|e| match e {
                DbError::NotFound(_) => {
                    ApiError::NotFound(format!("Floating IP pool not found: {pool}"))
                }
                DbError::QuotaExceeded { .. } => {
                    ApiError::Forbidden(format!("IP allocation over quota in pool {pool}."))
                }
                e => net_error(e),
            })?;
        tracing::info!(address = %f.address, %pool, "floating address allocated");
        Ok(f)
    }

    pub async fn release_floating(&self, ctx: &Context, address: &str) -> Result<(), ApiError> {
        Self::require_write(ctx, "os_compute_api:os-floating-ips")?;
        self.get_floating(ctx, address).await?;
        self.db
            .release_floating(address, &ctx.project_id)
            .await
            .map_err(net_error)
    }

    /// Points a floating address at one of the server's ports: the one with
    /// `fixed_address`, or its first.
    pub async fn associate_floating(
        &self,
        ctx: &Context,
        server: &str,
        address: &str,
        fixed_address: Option<&str>,
    ) -> Result<FloatingIp, ApiError> {
        Self::require_write(ctx, "os_compute_api:os-floating-ips")?;
        let inst = self.changeable(ctx, server).await?;
        let current = self.get_floating(ctx, address).await?;
        let ports = self
            .db
            .ports_of_instance(&inst.uuid)
            .await
            .map_err(net_error)?;
        let port = match fixed_address {
            Some(fa) => ports.iter().find(|p| p.address == fa).ok_or_else(|| {
                ApiError::BadRequest("Specified fixed address not assigned to instance".into())
            })?,
            None => ports.first().ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "Instance {server} has no fixed address to associate a floating IP with"
                ))
            })?,
        };
        // Associated elsewhere: it moves (Nova's answer with a network service).
        if current.port_id.as_deref().is_some_and(|p| p != port.id) {
            self.db
                .disassociate_floating(address, &inst.project_id)
                .await
                .map_err(net_error)?;
        }
        let f = self
            .db
            .associate_floating(address, &inst.project_id, &port.id)
            .await
            .map_err(|e| match e {
                DbError::FloatingIpAssociated { address, .. } => ApiError::BadRequest(format!(
                    "Floating IP {address} is already associated with another port"
                )),
                e => net_error(e),
            })?;
        Ok(f)
    }

    /// Points a floating address at a port of its project, bound or not (moving it from
    /// the port it was on), or at nothing; returns it with the port's server, if any.
    pub async fn set_floating_port(
        &self,
        ctx: &Context,
        address: &str,
        port: Option<&str>,
    ) -> Result<(FloatingIp, Option<String>), ApiError> {
        Self::require_write(ctx, "update_floatingip")?;
        let f = self.get_floating(ctx, address).await?;
        let project = f.project_id.clone().unwrap_or_default();
        if f.port_id.as_deref() == port {
            let server = self.server_of_port(port).await;
            return Ok((f, server));
        }
        if let Some(p) = port {
            let target = self.db.get_port(p).await.map_err(net_error)?;
            if target.project_id != project {
                return Err(ApiError::NotFound(format!("Port {p}")));
            }
            if target.address.is_empty() {
                return Err(ApiError::BadRequest(format!(
                    "Port {p} does not have any fixed IPs to associate a floating IP with."
                )));
            }
        }
        if f.port_id.is_some() {
            self.db
                .disassociate_floating(address, &project)
                .await
                .map_err(net_error)?;
        }
        let f = match port {
            Some(p) => self
                .db
                .associate_floating(address, &project, p)
                .await
                .map_err(net_error)?,
            None => self.db.get_floating(address).await.map_err(net_error)?,
        };
        tracing::info!(%address, port = port.unwrap_or("none"), "floating address pointed");
        let server = self.server_of_port(port).await;
        Ok((f, server))
    }

    async fn server_of_port(&self, port: Option<&str>) -> Option<String> {
        self.db.get_port(port?).await.ok()?.instance_id
    }

    pub async fn disassociate_floating(
        &self,
        ctx: &Context,
        server: &str,
        address: &str,
    ) -> Result<(), ApiError> {
        Self::require_write(ctx, "os_compute_api:os-floating-ips")?;
        let inst = self.changeable(ctx, server).await?;
        let f = self.get_floating(ctx, address).await?;
        let ports = self
            .db
            .ports_of_instance(&inst.uuid)
            .await
            .map_err(net_error)?;
        if !f
            .port_id
            .as_deref()
            .is_some_and(|p| ports.iter().any(|x| x.id == p))
        {
            return Err(ApiError::Conflict(format!(
                "Floating IP {address} is not associated with instance {server}."
            )));
        }
        self.db
            .disassociate_floating(address, &inst.project_id)
            .await
            .map_err(net_error)?;
        Ok(())
    }

    /// Every floating address, free ones included, with the instance of associated ones
    /// (admin; os-floating-ips-bulk).
    pub async fn all_floating(
        &self,
        ctx: &Context,
    ) -> Result<Vec<(FloatingIp, Option<String>)>, ApiError> {
        Self::require_admin(ctx, "os_compute_api:os-floating-ips-bulk")?;
        let held: HashMap<String, FloatingIp> = self
            .db
            .list_floating(None)
            .await
            .map_err(net_error)?
            .into_iter()
            .map(|f| (f.address.clone(), f))
            .collect();
        let mut out = Vec::new();
        for r in self.db.list_floating_ranges().await.map_err(net_error)? {
            let Ok(c) = Cidr::parse(&r.cidr) else {
                continue;
            };
            let (first, last) = if c.prefix >= 31 {
                (c.first(), c.last())
            } else {
                (c.first() + 1, c.last() - 1)
            };
            for a in first..=last {
                let addr = Ipv4Addr::from(a).to_string();
                if r.gateway.as_deref() == Some(addr.as_str()) {
                    continue;
                }
                let f = held.get(&addr).cloned().unwrap_or(FloatingIp {
                    address: addr,
                    pool: r.pool.clone(),
                    interface: r.interface.clone(),
                    project_id: None,
                    port_id: None,
                    fixed_address: None,
                    host: None,
                    auto_assigned: false,
                });
                let instance = match &f.port_id {
                    Some(p) => self.db.get_port(p).await.ok().and_then(|p| p.instance_id),
                    None => None,
                };
                out.push((f, instance));
            }
        }
        Ok(out)
    }

    pub async fn floating_ranges(&self, ctx: &Context) -> Result<Vec<FloatingRange>, ApiError> {
        Self::require_admin(ctx, "os_compute_api:os-floating-ips-bulk")?;
        self.db.list_floating_ranges().await.map_err(net_error)
    }

    /// Makes a floating range (admin; `nova-manage floating create`, os-floating-ips-bulk).
    pub async fn create_floating_range(
        &self,
        ctx: &Context,
        pool: Option<&str>,
        cidr: &str,
        interface: Option<&str>,
        gateway: Option<&str>,
    ) -> Result<FloatingRange, ApiError> {
        Self::require_admin(ctx, "os_compute_api:os-floating-ips-bulk")?;
        // A single address is a /32.
        let cidr = if cidr.contains('/') {
            cidr.to_string()
        } else {
            format!("{cidr}/32")
        };
        let r = self
            .db
            .create_floating_range(
                pool.unwrap_or(&self.floating.default_pool),
                &cidr,
                interface.unwrap_or(DEFAULT_PUBLIC_INTERFACE),
                gateway,
            )
            .await
            .map_err(net_error)?;
        tracing::info!(cidr = %r.cidr, pool = %r.pool, "floating range created");
        Ok(r)
    }

    pub async fn delete_floating_range(&self, ctx: &Context, cidr: &str) -> Result<(), ApiError> {
        Self::require_admin(ctx, "os_compute_api:os-floating-ips-bulk")?;
        let cidr = if cidr.contains('/') {
            cidr.to_string()
        } else {
            format!("{cidr}/32")
        };
        self.db
            .delete_floating_range(&cidr)
            .await
            .map_err(net_error)
    }

    // --- security groups -----------------------------------------------------------------

    async fn group_view(&self, group: SecurityGroup) -> Result<GroupView, ApiError> {
        let rules = self
            .db
            .security_group_rules(&group.id)
            .await
            .map_err(net_error)?;
        let mut remote_names = HashMap::new();
        for r in &rules {
            if let Some(g) = &r.remote_group_id {
                if remote_names.contains_key(g) {
                    continue;
                }
                let name = if *g == group.id {
                    group.name.clone()
                } else {
                    match self.db.get_security_group(&group.project_id, g).await {
                        Ok(x) => x.name,
                        Err(_) => g.clone(),
                    }
                };
                remote_names.insert(g.clone(), name);
            }
        }
        Ok(GroupView {
            group,
            rules,
            remote_names,
        })
    }

    /// The caller's project's groups (`default` made on first use); every project's for
    /// admins with `all_projects`.
    pub async fn list_security_groups(
        &self,
        ctx: &Context,
        all_projects: bool,
    ) -> Result<Vec<GroupView>, ApiError> {
        self.db
            .ensure_default_group(&ctx.project_id)
            .await
            .map_err(net_error)?;
        let project = if ctx.is_admin() && all_projects {
            None
        } else {
            Some(ctx.project_id.as_str())
        };
        let mut out = Vec::new();
        for g in self
            .db
            .list_security_groups(project)
            .await
            .map_err(net_error)?
        {
            out.push(self.group_view(g).await?);
        }
        Ok(out)
    }

    async fn own_group(&self, ctx: &Context, id: &str) -> Result<SecurityGroup, ApiError> {
        self.db
            .ensure_default_group(&ctx.project_id)
            .await
            .map_err(net_error)?;
        self.db
            .get_security_group(&ctx.project_id, id)
            .await
            .map_err(|e| match e {
                DbError::NotFound(_) => ApiError::NotFound(format!("Security group {id}")),
                e => net_error(e),
            })
    }

    pub async fn get_security_group(&self, ctx: &Context, id: &str) -> Result<GroupView, ApiError> {
        let g = self.own_group(ctx, id).await?;
        self.group_view(g).await
    }

    pub async fn create_security_group(
        &self,
        ctx: &Context,
        name: &str,
        description: &str,
    ) -> Result<GroupView, ApiError> {
        Self::require_write(ctx, "os_compute_api:os-security-groups")?;
        self.db
            .ensure_default_group(&ctx.project_id)
            .await
            .map_err(net_error)?;
        let limit = self.network_quota(&ctx.project_id, SECURITY_GROUPS).await?;
        let g = self
            .db
            .create_security_group(&ctx.project_id, name, description, limit)
            .await
            .map_err(|e| match e {
                DbError::Conflict(m) => ApiError::BadRequest(m),
                DbError::QuotaExceeded { .. } => {
                    ApiError::Forbidden("Quota exceeded, too many security groups.".into())
                }
                e => net_error(e),
            })?;
        self.group_view(g).await
    }

    pub async fn update_security_group(
        &self,
        ctx: &Context,
        id: &str,
        name: &str,
        description: &str,
    ) -> Result<GroupView, ApiError> {
        Self::require_write(ctx, "os_compute_api:os-security-groups")?;
        self.own_group(ctx, id).await?;
        let g = self
            .db
            .update_security_group(&ctx.project_id, id, name, description)
            .await
            .map_err(|e| match e {
                DbError::Conflict(m) => ApiError::BadRequest(m),
                e => net_error(e),
            })?;
        self.group_view(g).await
    }

    pub async fn delete_security_group(&self, ctx: &Context, id: &str) -> Result<(), ApiError> {
        Self::require_write(ctx, "os_compute_api:os-security-groups")?;
        self.own_group(ctx, id).await?;
        self.db
            .delete_security_group(&ctx.project_id, id)
            .await
            .map_err(net_error)
    }

    /// Adds an ingress rule (Nova's os-security-group-rules); returns it and its group.
    pub async fn create_security_group_rule(
        &self,
        ctx: &Context,
        group: &str,
        rule: NewRule,
    ) -> Result<(Rule, GroupView), ApiError> {
        Self::require_write(ctx, "os_compute_api:os-security-groups")?;
        let g = self.own_group(ctx, group).await?;
        if let Some(remote) = &rule.remote_group_id {
            self.own_group(ctx, remote)
                .await
                .map_err(|_| ApiError::NotFound(format!("Security group {remote}")))?;
        }
        let limit = self
            .network_quota(&ctx.project_id, SECURITY_GROUP_RULES)
            .await?;
        let r = self
            .db
            .add_security_group_rule(&ctx.project_id, &g.id, &rule, limit)
            .await
            .map_err(|e| match e {
                DbError::QuotaExceeded { .. } => {
                    ApiError::Forbidden("Quota exceeded, too many security group rules.".into())
                }
                e => net_error(e),
            })?;
        let view = self.group_view(g).await?;
        Ok((r, view))
    }

    pub async fn delete_security_group_rule(
        &self,
        ctx: &Context,
        id: &str,
    ) -> Result<(), ApiError> {
        Self::require_write(ctx, "os_compute_api:os-security-groups")?;
        self.db
            .remove_security_group_rule(&ctx.project_id, id)
            .await
            .map_err(|e| match e {
                DbError::NotFound(_) => ApiError::NotFound(format!("Rule ({id})")),
                e => net_error(e),
            })
    }

    /// The groups a server is in.
    pub async fn server_security_groups(
        &self,
        ctx: &Context,
        server: &str,
    ) -> Result<Vec<GroupView>, ApiError> {
        let inst = self.show(ctx, server).await?.instance;
        let mut out = Vec::new();
        for g in self
            .db
            .groups_of_instance(&inst.uuid)
            .await
            .map_err(net_error)?
        {
            out.push(self.group_view(g).await?);
        }
        Ok(out)
    }

    /// addSecurityGroup: the server joins its project's group `name`.
    pub async fn add_server_security_group(
        &self,
        ctx: &Context,
        server: &str,
        name: &str,
    ) -> Result<(), ApiError> {
        Self::require_write(ctx, "os_compute_api:os-security-groups")?;
        let inst = self.changeable(ctx, server).await?;
        let owner = ctx.as_admin_of(&inst.project_id);
        let g = self.group_by_name_or_id(&owner, name).await.map_err(|_| {
            ApiError::NotFound(format!(
                "Security group {name} not found for project {}.",
                inst.project_id
            ))
        })?;
        self.db
            .add_instance_to_group(&inst.uuid, &inst.project_id, &g.id)
            .await
            .map_err(|e| match e {
                DbError::Conflict(_) => ApiError::BadRequest(format!(
                    "Security group {name} is already associated with the instance {server}"
                )),
                e => net_error(e),
            })
    }

    /// removeSecurityGroup: the server leaves its project's group `name`.
    pub async fn remove_server_security_group(
        &self,
        ctx: &Context,
        server: &str,
        name: &str,
    ) -> Result<(), ApiError> {
        Self::require_write(ctx, "os_compute_api:os-security-groups")?;
        let inst = self.changeable(ctx, server).await?;
        let owner = ctx.as_admin_of(&inst.project_id);
        let g = self.group_by_name_or_id(&owner, name).await.map_err(|_| {
            ApiError::NotFound(format!(
                "Security group {name} not found for project {}.",
                inst.project_id
            ))
        })?;
        self.db
            .remove_instance_from_group(&inst.uuid, &g.id)
            .await
            .map_err(|e| match e {
                DbError::NotFound(_) => ApiError::BadRequest(format!(
                    "Security group {name} not associated with the instance {server}"
                )),
                e => net_error(e),
            })
    }

    /// The caller's project's ports; every project's for an admin asking for all.
    pub async fn list_ports(
        &self,
        ctx: &Context,
        all_projects: bool,
    ) -> Result<Vec<Port>, ApiError> {
        let project = (!(all_projects && ctx.is_admin())).then_some(ctx.project_id.as_str());
        self.db.list_ports(project).await.map_err(net_error)
    }

    /// A server's ports, with whether they are up (the server active).
    pub async fn server_ports(
        &self,
        ctx: &Context,
        server: &str,
    ) -> Result<(Vec<Port>, bool), ApiError> {
        let inst = self.show(ctx, server).await?.instance;
        let ports = self
            .db
            .ports_of_instance(&inst.uuid)
            .await
            .map_err(net_error)?;
        Ok((
            ports,
            inst.vm_state == metacloud_rpc::objects::VmState::Active,
        ))
    }
}

/// The network `auto` (the compute API's 2.37) picks among those a project may use: the
/// project's own when it has exactly one, else the only one there is; none when there is
/// none. Several to choose from: Nova's NetworkAmbiguous (409).
fn auto_network(
    project: &str,
    usable: Vec<metacloud_db::networks::Network>,
) -> Result<Vec<metacloud_db::networks::Network>, ApiError> {
    let own: Vec<_> = usable
        .iter()
        .filter(|n| n.project_id.as_deref() == Some(project))
        .cloned()
        .collect();
    match (own.len(), usable.len()) {
        (1, _) => Ok(own),
        (_, 0 | 1) => Ok(usable),
        _ => Err(ApiError::Conflict(
            "Multiple possible networks found, use a Network ID to be more specific.".into(),
        )),
    }
}
