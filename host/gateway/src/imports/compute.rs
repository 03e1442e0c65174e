//! The `compute` and `signatures` imports: the compute domain ([`ComputeApi`]) as a
//! dialect sees it, with the conversions between its objects and the WIT records.

use crate::caller::{context, Established};
use crate::sealed::Seals;
use metacloud_api::network::NetworkChoice;
use metacloud_api::snapshots::UploadVia;
use metacloud_api::{ActionEnv, ApiError, ComputeApi, Context, CreateRequest};
use metacloud_db::instances::{Instance, ServerFilter};
use metacloud_identity::{Identity, IdentityError};
use metacloud_plugins::api::compute::{
    CpuDiagnostics, DiskDiagnostics, FixedIp, FloatingIp, FloatingRange, InterfaceAttach, Network,
    NetworkCreate, NetworkRecord, NetworkSpec, NicDiagnostics, Port, PortCreate, PortDetail,
    PortUpdate, RebuildBoot, Router, RouterInterface, SecurityGroup, SecurityGroupRule,
    SecurityGroupRuleCreate, ServerDetails, ServerDiagnostics, ServerExtra, ServerFilters,
    ServerNetworkInfo, ServerNetworking, ServerUsage, Subnet, SubnetCreate, UsageReport,
};
use metacloud_plugins::api::{
    compute, pack_servers, signatures, Aggregate, AvailabilityZone, BackupSpec, Caller,
    Certificate, Fault, Flavor, FlavorCreate, Hypervisor, Image, InstanceAction, Keypair,
    KeypairCreated, Migration, OpError, QuotaError, QuotaUsage, Server, ServerCreate, ServerGroup,
    ServerPage, ServerQuery, Service, ServiceChange,
};
use metacloud_rpc::objects::{ImageRef, SchedulerHints, VmState};
use std::collections::HashMap;
use std::sync::Arc;

/// The host compute API as a dialect's `compute` import. Runs on the plugin's blocking
/// thread and waits there for the async work.
#[derive(Clone)]
pub(crate) struct ComputeHost {
    pub(crate) api: ComputeApi,
    pub(crate) images: metacloud_image::Images,
    pub(crate) handle: tokio::runtime::Handle,
    pub(crate) request_id: String,
    /// The caller's token, handed to a compute that uploads a snapshot for it.
    pub(crate) token: Option<String>,
    /// Base URL of the image API.
    pub(crate) image_url: String,
    /// The caller the host established for this request, if any.
    pub(crate) caller: Established,
    /// Checks EC2 signatures (`signatures` import).
    pub(crate) identity: Identity,
    /// How far an EC2 request's timestamp may be from now.
    pub(crate) ec2_max_skew_ms: i64,
    /// This request's sealed secrets: a certificate's private key goes out through them.
    pub(crate) seals: Arc<Seals>,
}

impl ComputeHost {
    /// The request context of `c`, which must be the caller the host established: a
    /// dialect cannot act as someone else.
    fn context(&self, c: &Caller) -> Result<Context, OpError> {
        self.caller.check_scoped(c).map(|k| context(&k))
    }

    /// [`Self::context`], for the networking functions (`network.rs`).
    pub(super) fn ctx(&self, c: &Caller) -> Result<Context, OpError> {
        self.context(c)
    }
}

fn op_error(e: ApiError) -> OpError {
    match e {
        ApiError::NotFound(_) => OpError::NotFound(e.to_string()),
        ApiError::BadRequest(m) => OpError::BadRequest(m),
        ApiError::Forbidden(_) => OpError::Forbidden(e.to_string()),
        ApiError::Conflict(m) => OpError::Conflict(m),
        ApiError::QuotaExceeded {
            resource,
            requested,
            used,
            limit,
        } => OpError::QuotaExceeded(QuotaError {
            resource,
            requested,
            used,
            limit,
        }),
        ApiError::Unavailable(m) => OpError::Unavailable(m),
        ApiError::Internal(m) => OpError::Internal(m),
    }
}

/// A service as dialects see it: compute services in their host's zone, the others in
/// `internal`, as Nova shows them.
fn wit_service(s: metacloud_db::services::Service, zones: &HashMap<String, String>) -> Service {
    Service {
        id: s.id,
        zone: if s.binary == metacloud_api::hosts::COMPUTE_BINARY {
            zones.get(&s.host).cloned().unwrap_or_else(|| "nova".into())
        } else {
            "internal".into()
        },
        binary: s.binary,
        host: s.host,
        disabled: s.disabled,
        disabled_reason: s.disabled_reason,
        forced_down: s.forced_down,
        up: s.up,
        updated_at: s.last_seen_at,
    }
}

fn wit_group(g: metacloud_db::groups::ServerGroup) -> ServerGroup {
    ServerGroup {
        id: g.uuid,
        name: g.name,
        policy: g.policy,
        max_server_per_host: g.max_server_per_host,
        members: g.members,
        project_id: g.project_id,
        user_id: g.user_id,
    }
}

fn wit_keypair(k: metacloud_db::keypairs::Keypair) -> Keypair {
    Keypair {
        name: k.name,
        user_id: k.user_id,
        key_type: k.key_type,
        fingerprint: k.fingerprint,
        public_key: k.public_key,
        created_at: k.created_at,
    }
}

fn wit_flavor(f: &metacloud_rpc::objects::Flavor) -> Flavor {
    Flavor {
        id: f.id.clone(),
        name: f.name.clone(),
        vcpus: f.vcpus,
        ram_mb: f.memory_mb,
        disk_gb: f.root_gb,
        ephemeral_gb: f.ephemeral_gb,
        swap_mb: f.swap_mb,
        is_public: f.is_public,
        extra_specs: f
            .extra_specs
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}

impl ComputeHost {
    pub(super) fn run<T>(
        &self,
        fut: impl std::future::Future<Output = Result<T, ApiError>>,
    ) -> Result<T, OpError> {
        self.handle
            .block_on(metacloud_rpc::with_request_id(self.request_id.clone(), fut))
            .map_err(op_error)
    }

    /// Instances as the dialect sees them; flavors looked up once per request.
    fn servers(&self, ctx: &Context, instances: Vec<Instance>) -> Result<Vec<Server>, OpError> {
        self.run(async {
            let mut flavors: HashMap<String, Flavor> = HashMap::new();
            let mut out = Vec::with_capacity(instances.len());
            for inst in instances {
                if !flavors.contains_key(&inst.flavor_id) {
                    let f = match self.api.db().get_flavor(&inst.flavor_id).await {
                        Ok(f) => wit_flavor(&f),
                        Err(_) => Flavor {
                            id: inst.flavor_id.clone(),
                            name: inst.flavor_id.clone(),
                            vcpus: inst.vcpus as u32,
                            ram_mb: inst.memory_mb as u64,
                            disk_gb: inst.disk_gb as u64,
                            ephemeral_gb: 0,
                            swap_mb: 0,
                            is_public: true,
                            extra_specs: vec![],
                        },
                    };
                    flavors.insert(inst.flavor_id.clone(), f);
                }
                let fault = if inst.vm_state == VmState::Error {
                    self.api
                        .show(ctx, &inst.uuid)
                        .await
                        .ok()
                        .and_then(|v| v.fault)
                } else {
                    None
                };
                out.push(server(
                    inst.clone(),
                    flavors[&inst.flavor_id].clone(),
                    fault,
                ));
            }
            Ok(out)
        })
    }
}

fn server(i: Instance, flavor: Flavor, fault: Option<metacloud_db::instances::Fault>) -> Server {
    Server {
        id: i.uuid,
        name: i.name,
        project_id: i.project_id,
        user_id: i.user_id,
        flavor,
        image_id: i.image_id,
        host: i.host,
        availability_zone: i.availability_zone,
        vm_state: i.vm_state.as_str().to_string(),
        task_state: i.task_state.map(|t| t.as_str().to_string()),
        power_state: i.power_state.clamp(0, 255) as u8,
        key_name: i.key_name,
        metadata: i.metadata.into_iter().collect(),
        reservation_id: i.reservation_id,
        created_at: i.created_at,
        updated_at: i.updated_at,
        launched_at: i.launched_at,
        terminated_at: i.terminated_at,
        fault: fault.map(|f| Fault {
            code: f.code.clamp(0, u32::MAX as i64) as u32,
            message: f.message,
            created_at: f.created_at,
        }),
        locked: i.locked_by.is_some(),
        access_ipv4: i.access_ip_v4.unwrap_or_default(),
        access_ipv6: i.access_ip_v6.unwrap_or_default(),
    }
}

fn wit_image(i: metacloud_db::images::Image) -> Image {
    Image {
        id: i.id,
        name: i.name,
        status: i.status,
        size: i.size.map(|s| s.max(0) as u64),
        min_disk: i.min_disk.max(0) as u64,
        min_ram: i.min_ram.max(0) as u64,
        created_at: i.created_at,
        updated_at: i.updated_at,
        metadata: i.properties.into_iter().collect(),
    }
}

fn wit_aggregate(a: metacloud_db::aggregates::Aggregate) -> Aggregate {
    Aggregate {
        availability_zone: a.availability_zone().map(String::from),
        id: a.id,
        uuid: a.uuid,
        name: a.name,
        hosts: a.hosts,
        metadata: a.metadata.into_iter().collect(),
        created_at: a.created_at,
        updated_at: a.updated_at,
    }
}

impl ComputeHost {
    /// The availability zone of each compute host.
    fn zones(&self) -> Result<HashMap<String, String>, OpError> {
        Ok(self
            .run(async {
                Ok(self
                    .api
                    .db()
                    .host_states(self.api.down_time_ms(), false)
                    .await?)
            })?
            .into_iter()
            .map(|h| (h.host, h.availability_zone))
            .collect())
    }

    /// Runs an image-service operation, its errors as the compute API's.
    fn run_image<T>(
        &self,
        fut: impl std::future::Future<Output = Result<T, metacloud_image::ImageError>>,
    ) -> Result<T, OpError> {
        self.run(async { fut.await.map_err(metacloud_api::snapshots::image_error) })
    }

    /// An image the caller may boot from (400 when there is none such).
    fn boot_image(&self, c: &Caller, id: &str) -> Result<ImageRef, OpError> {
        let who = context(c);
        self.run(async {
            self.images.for_boot(&who, id).await.map_err(|e| match e {
                metacloud_image::ImageError::NotFound(_) => {
                    ApiError::BadRequest(format!("Image {id} could not be found."))
                }
                metacloud_image::ImageError::Internal(m) => ApiError::Internal(m),
                other => ApiError::BadRequest(other.to_string()),
            })
        })
    }
}

fn instance_action(a: metacloud_db::instances::ActionRecord) -> InstanceAction {
    InstanceAction {
        action: a.action,
        request_id: a.request_id,
        user_id: a.user_id,
        project_id: a.project_id,
        start_time: a.start_time,
    }
}

impl ComputeHost {
    /// The `server` record of one instance (`id` names it in the 404).
    fn server_of(&self, ctx: &Context, inst: Instance, id: &str) -> Result<Server, OpError> {
        self.servers(ctx, vec![inst])?
            .pop()
            .ok_or_else(|| OpError::NotFound(format!("Instance {id} could not be found.")))
    }

    /// A page of servers: filtered, ordered and paged by the database; with
    /// `changes-since`, deleted servers are listed too (as Nova does).
    fn list_filtered(
        &self,
        c: Caller,
        q: ServerQuery,
        more: ServerFilters,
    ) -> Result<Vec<Server>, OpError> {
        let ctx = self.context(&c)?;
        let known = metacloud_db::instances::EXACT_FILTERS;
        if let Some((f, _)) = more
            .exact
            .iter()
            .find(|(f, _)| !known.iter().any(|(n, _)| n == f))
        {
            let e = ApiError::BadRequest(format!("Unknown server filter {f}"));
            return self.run(async { Err(e) });
        }
        let filter = ServerFilter {
            project: q.project_id,
            name: q.name,
            vm_states: q.vm_states,
            flavor_id: q.flavor_id,
            image_id: q.image_id,
            host: q.host,
            changes_since: q.changes_since,
            changes_before: more.changes_before,
            marker: q.marker,
            limit: q.limit,
            tags: more.tags,
            tags_any: more.tags_any,
            not_tags: more.not_tags,
            not_tags_any: more.not_tags_any,
            locked: more.locked,
            exact: more.exact,
        };
        let page = self.run(self.api.list_page(&ctx, q.all_projects, filter))?;
        self.servers(&ctx, page)
    }

    /// A server create with its networking (`create-servers` asks for the defaults) and
    /// the details of later microversions.
    fn create_with(
        &self,
        c: Caller,
        req: ServerCreate,
        networks: NetworkChoice,
        security_groups: Vec<String>,
        details: ServerDetails,
    ) -> Result<Vec<Server>, OpError> {
        let ctx = self.context(&c)?;
        let image = match &req.image_ref {
            Some(id) => Some(self.boot_image(&c, id)?),
            None => None,
        };
        let create = CreateRequest {
            name: req.name,
            flavor: req.flavor_ref,
            image,
            min_count: Some(req.min_count),
            max_count: Some(req.max_count),
            availability_zone: req.availability_zone,
            key_name: req.key_name,
            user_data: req.user_data,
            metadata: req.metadata.into_iter().collect(),
            hints: SchedulerHints {
                same_host: req.hints.same_host,
                different_host: req.hints.different_host,
                group: req.hints.group,
            },
            access_ip_v4: req.access_ipv4,
            access_ip_v6: req.access_ipv6,
            networks,
            security_groups,
            description: details.description,
            tags: details.tags,
            host: details.host,
            node: details.hypervisor_hostname,
            hostname: details.hostname,
        };
        let made = self.run(self.api.create(&ctx, create))?;
        self.servers(&ctx, made)
    }
}

impl compute::Host for ComputeHost {
    fn create_servers(&mut self, c: Caller, req: ServerCreate) -> Result<Vec<Server>, OpError> {
        self.create_with(
            c,
            req,
            NetworkChoice::Default,
            Vec::new(),
            ServerDetails {
                description: None,
                tags: Vec::new(),
                host: None,
                hypervisor_hostname: None,
                hostname: None,
            },
        )
    }

    fn create_servers_networked(
        &mut self,
        c: Caller,
        req: ServerCreate,
        net: ServerNetworking,
        details: ServerDetails,
    ) -> Result<Vec<Server>, OpError> {
        let (choice, groups) = ComputeHost::net_choice(net);
        self.create_with(c, req, choice, groups, details)
    }

    fn servers_network_info(
        &mut self,
        c: Caller,
        ids: Vec<String>,
    ) -> Result<Vec<ServerNetworkInfo>, OpError> {
        self.net_server_info(&c, ids)
    }

    fn servers_extra(&mut self, c: Caller, ids: Vec<String>) -> Result<Vec<ServerExtra>, OpError> {
        let ctx = self.context(&c)?;
        let extras = self.run(self.api.servers_extra(&ctx, &ids))?;
        Ok(extras
            .into_iter()
            .map(|x| {
                let e = x.extra;
                ServerExtra {
                    hostname: e.hostname,
                    id: e.uuid,
                    reservation_id: e.reservation_id,
                    launch_index: e.launch_index,
                    user_data: e.user_data,
                    host_status: x.host_status.to_string(),
                    flavor: wit_flavor(&x.flavor),
                    description: e.description,
                    tags: e.tags,
                    server_groups: e.server_groups,
                    locked_reason: e.locked_reason,
                }
            })
            .collect())
    }

    fn list_networks(&mut self, c: Caller, all_projects: bool) -> Result<Vec<Network>, OpError> {
        self.net_list_networks(&c, all_projects)
    }

    fn get_network(&mut self, c: Caller, id: String) -> Result<Network, OpError> {
        self.net_get_network(&c, &id)
    }

    fn create_network(&mut self, c: Caller, n: NetworkCreate) -> Result<Network, OpError> {
        self.net_create_network(&c, n)
    }

    fn delete_network(&mut self, c: Caller, id: String) -> Result<(), OpError> {
        self.net_delete_network(&c, &id)
    }

    fn network_action(
        &mut self,
        c: Caller,
        id: String,
        action: String,
        project: Option<String>,
    ) -> Result<Network, OpError> {
        self.net_network_action(&c, &id, &action, project.as_deref())
    }

    fn network_free_addresses(&mut self, c: Caller, id: String) -> Result<i64, OpError> {
        self.net_free(&c, &id)
    }

    fn list_floating_pools(&mut self, c: Caller) -> Result<Vec<String>, OpError> {
        self.net_pools(&c)
    }

    fn list_floating_ips(&mut self, c: Caller) -> Result<Vec<FloatingIp>, OpError> {
        self.net_list_floating(&c)
    }

    fn get_floating_ip(&mut self, c: Caller, address: String) -> Result<FloatingIp, OpError> {
        self.net_get_floating(&c, &address)
    }

    fn allocate_floating_ip(
        &mut self,
        c: Caller,
        pool: Option<String>,
    ) -> Result<FloatingIp, OpError> {
        self.net_allocate_floating(&c, pool.as_deref())
    }

    fn release_floating_ip(&mut self, c: Caller, address: String) -> Result<(), OpError> {
        self.net_release_floating(&c, &address)
    }

    fn set_floating_ip_port(
        &mut self,
        c: Caller,
        address: String,
        port_id: Option<String>,
    ) -> Result<FloatingIp, OpError> {
        self.net_set_floating_port(&c, &address, port_id.as_deref())
    }

    fn associate_floating_ip(
        &mut self,
        c: Caller,
        server_id: String,
        address: String,
        fixed_address: Option<String>,
    ) -> Result<FloatingIp, OpError> {
        self.net_associate_floating(&c, &server_id, &address, fixed_address.as_deref())
    }

    fn disassociate_floating_ip(
        &mut self,
        c: Caller,
        server_id: String,
        address: String,
    ) -> Result<(), OpError> {
        self.net_disassociate_floating(&c, &server_id, &address)
    }

    fn list_all_floating_ips(&mut self, c: Caller) -> Result<Vec<FloatingIp>, OpError> {
        self.net_all_floating(&c)
    }

    fn list_floating_ranges(&mut self, c: Caller) -> Result<Vec<FloatingRange>, OpError> {
        self.net_ranges(&c)
    }

    fn create_floating_range(
        &mut self,
        c: Caller,
        pool: Option<String>,
        cidr: String,
        interface: Option<String>,
        gateway: Option<String>,
    ) -> Result<FloatingRange, OpError> {
        self.net_create_range(
            &c,
            pool.as_deref(),
            &cidr,
            interface.as_deref(),
            gateway.as_deref(),
        )
    }

    fn delete_floating_range(&mut self, c: Caller, cidr: String) -> Result<(), OpError> {
        self.net_delete_range(&c, &cidr)
    }

    fn get_fixed_ip(&mut self, c: Caller, address: String) -> Result<FixedIp, OpError> {
        self.net_fixed_ip(&c, &address)
    }

    fn reserve_fixed_ip(
        &mut self,
        c: Caller,
        address: String,
        reserved: bool,
    ) -> Result<(), OpError> {
        self.net_reserve_fixed_ip(&c, &address, reserved)
    }

    fn list_security_groups(
        &mut self,
        c: Caller,
        all_projects: bool,
    ) -> Result<Vec<SecurityGroup>, OpError> {
        self.net_list_groups(&c, all_projects)
    }

    fn get_security_group(&mut self, c: Caller, id: String) -> Result<SecurityGroup, OpError> {
        self.net_get_group(&c, &id)
    }

    fn create_security_group(
        &mut self,
        c: Caller,
        name: String,
        description: String,
    ) -> Result<SecurityGroup, OpError> {
        self.net_create_group(&c, &name, &description)
    }

    fn update_security_group(
        &mut self,
        c: Caller,
        id: String,
        name: String,
        description: String,
    ) -> Result<SecurityGroup, OpError> {
        self.net_update_group(&c, &id, &name, &description)
    }

    fn delete_security_group(&mut self, c: Caller, id: String) -> Result<(), OpError> {
        self.net_delete_group(&c, &id)
    }

    fn create_security_group_rule(
        &mut self,
        c: Caller,
        r: SecurityGroupRuleCreate,
    ) -> Result<SecurityGroupRule, OpError> {
        self.net_create_rule(&c, "ingress", r)
    }

    fn create_security_group_rule_directed(
        &mut self,
        c: Caller,
        direction: String,
        r: SecurityGroupRuleCreate,
    ) -> Result<SecurityGroupRule, OpError> {
        self.net_create_rule(&c, &direction, r)
    }

    fn delete_security_group_rule(&mut self, c: Caller, id: String) -> Result<(), OpError> {
        self.net_delete_rule(&c, &id)
    }

    fn server_security_groups(
        &mut self,
        c: Caller,
        server_id: String,
    ) -> Result<Vec<SecurityGroup>, OpError> {
        self.net_server_groups(&c, &server_id)
    }

    fn add_server_security_group(
        &mut self,
        c: Caller,
        server_id: String,
        name: String,
    ) -> Result<(), OpError> {
        self.net_add_server_group(&c, &server_id, &name, true)
    }

    fn remove_server_security_group(
        &mut self,
        c: Caller,
        server_id: String,
        name: String,
    ) -> Result<(), OpError> {
        self.net_add_server_group(&c, &server_id, &name, false)
    }

    fn server_ports(&mut self, c: Caller, server_id: String) -> Result<Vec<Port>, OpError> {
        self.net_server_ports(&c, &server_id)
    }

    fn attach_interface(
        &mut self,
        c: Caller,
        server_id: String,
        a: InterfaceAttach,
    ) -> Result<Port, OpError> {
        self.net_attach_interface(&c, &server_id, a)
    }

    fn detach_interface(
        &mut self,
        c: Caller,
        server_id: String,
        port_id: String,
    ) -> Result<(), OpError> {
        self.net_detach_interface(&c, &server_id, &port_id)
    }

    fn list_ports(&mut self, c: Caller, all_projects: bool) -> Result<Vec<PortDetail>, OpError> {
        self.na_list_ports(&c, all_projects)
    }

    fn find_ports(
        &mut self,
        c: Caller,
        all_projects: bool,
        port_ids: Vec<String>,
        server_ids: Vec<String>,
    ) -> Result<Vec<PortDetail>, OpError> {
        self.na_find_ports(&c, all_projects, &port_ids, &server_ids)
    }

    fn create_port(&mut self, c: Caller, p: PortCreate) -> Result<PortDetail, OpError> {
        self.na_create_port(&c, p)
    }

    fn update_port(&mut self, c: Caller, id: String, u: PortUpdate) -> Result<PortDetail, OpError> {
        self.na_update_port(&c, &id, u)
    }

    fn delete_port(&mut self, c: Caller, id: String) -> Result<(), OpError> {
        self.na_delete_port(&c, &id)
    }

    fn list_network_records(
        &mut self,
        c: Caller,
        all_projects: bool,
    ) -> Result<Vec<NetworkRecord>, OpError> {
        self.na_list_networks(&c, all_projects)
    }

    fn create_network_record(
        &mut self,
        c: Caller,
        n: NetworkSpec,
    ) -> Result<NetworkRecord, OpError> {
        self.na_create_network(&c, n)
    }

    fn update_network_record(
        &mut self,
        c: Caller,
        id: String,
        name: Option<String>,
        shared: Option<bool>,
    ) -> Result<NetworkRecord, OpError> {
        self.na_update_network(&c, &id, name.as_deref(), shared)
    }

    fn delete_network_record(&mut self, c: Caller, id: String) -> Result<(), OpError> {
        self.na_delete_network(&c, &id)
    }

    fn list_subnets(&mut self, c: Caller, all_projects: bool) -> Result<Vec<Subnet>, OpError> {
        self.na_list_subnets(&c, all_projects)
    }

    fn create_subnet(&mut self, c: Caller, s: SubnetCreate) -> Result<Subnet, OpError> {
        self.na_create_subnet(&c, s)
    }

    fn update_subnet(
        &mut self,
        c: Caller,
        id: String,
        name: Option<String>,
        dns: Option<Vec<String>>,
    ) -> Result<Subnet, OpError> {
        self.na_update_subnet(&c, &id, name.as_deref(), dns.as_deref())
    }

    fn delete_subnet(&mut self, c: Caller, id: String) -> Result<(), OpError> {
        self.na_delete_subnet(&c, &id)
    }

    fn list_routers(&mut self, c: Caller, all_projects: bool) -> Result<Vec<Router>, OpError> {
        self.na_list_routers(&c, all_projects)
    }

    fn create_router(
        &mut self,
        c: Caller,
        project_id: Option<String>,
        name: String,
        admin_state_up: bool,
        gateway: Option<String>,
    ) -> Result<Router, OpError> {
        self.na_create_router(
            &c,
            project_id.as_deref(),
            &name,
            admin_state_up,
            gateway.as_deref(),
        )
    }

    fn update_router(
        &mut self,
        c: Caller,
        id: String,
        name: Option<String>,
        admin_state_up: Option<bool>,
        gateway: Option<Option<String>>,
    ) -> Result<Router, OpError> {
        let gateway = gateway.as_ref().map(|g| g.as_deref());
        self.na_update_router(&c, &id, name.as_deref(), admin_state_up, gateway)
    }

    fn delete_router(&mut self, c: Caller, id: String) -> Result<(), OpError> {
        self.na_delete_router(&c, &id)
    }

    fn add_router_interface_port(
        &mut self,
        c: Caller,
        id: String,
        port_id: String,
    ) -> Result<RouterInterface, OpError> {
        self.na_router_interface_port(&c, &id, &port_id)
    }

    fn add_router_interface(
        &mut self,
        c: Caller,
        id: String,
        subnet_id: String,
    ) -> Result<RouterInterface, OpError> {
        self.na_router_interface(&c, &id, Some(&subnet_id), (None, None))
    }

    fn remove_router_interface(
        &mut self,
        c: Caller,
        id: String,
        subnet_id: Option<String>,
        port_id: Option<String>,
    ) -> Result<RouterInterface, OpError> {
        self.na_router_interface(&c, &id, None, (subnet_id.as_deref(), port_id.as_deref()))
    }

    fn list_servers(&mut self, c: Caller, q: ServerQuery) -> Result<Vec<Server>, OpError> {
        let none = ServerFilters {
            tags: Vec::new(),
            tags_any: Vec::new(),
            not_tags: Vec::new(),
            not_tags_any: Vec::new(),
            changes_before: None,
            locked: None,
            exact: Vec::new(),
        };
        self.list_filtered(c, q, none)
    }

    fn list_servers_page(&mut self, c: Caller, q: ServerQuery) -> Result<ServerPage, OpError> {
        self.list_servers(c, q).map(|s| pack_servers(&s))
    }

    fn list_servers_page_filtered(
        &mut self,
        c: Caller,
        q: ServerQuery,
        more: ServerFilters,
    ) -> Result<ServerPage, OpError> {
        self.list_filtered(c, q, more).map(|s| pack_servers(&s))
    }

    fn describe_server(
        &mut self,
        c: Caller,
        id: String,
        description: Option<String>,
    ) -> Result<Server, OpError> {
        let ctx = self.context(&c)?;
        let inst = self.run(self.api.describe(&ctx, &id, description.as_deref()))?;
        self.server_of(&ctx, inst, &id)
    }

    fn set_server_hostname(
        &mut self,
        c: Caller,
        id: String,
        hostname: String,
    ) -> Result<Server, OpError> {
        let ctx = self.context(&c)?;
        let inst = self.run(self.api.set_hostname(&ctx, &id, &hostname))?;
        self.server_of(&ctx, inst, &id)
    }

    fn server_tags(&mut self, c: Caller, id: String) -> Result<Vec<String>, OpError> {
        self.run(self.api.server_tags(&self.context(&c)?, &id))
    }

    fn set_server_tags(
        &mut self,
        c: Caller,
        id: String,
        tags: Vec<String>,
    ) -> Result<Vec<String>, OpError> {
        self.run(self.api.set_server_tags(&self.context(&c)?, &id, &tags))
    }

    fn add_server_tag(&mut self, c: Caller, id: String, tag: String) -> Result<bool, OpError> {
        self.run(self.api.add_server_tag(&self.context(&c)?, &id, &tag))
    }

    fn remove_server_tag(&mut self, c: Caller, id: String, tag: String) -> Result<(), OpError> {
        self.run(self.api.remove_server_tag(&self.context(&c)?, &id, &tag))
    }

    fn set_flavor_description(
        &mut self,
        c: Caller,
        id: String,
        description: Option<String>,
    ) -> Result<(), OpError> {
        self.run(
            self.api
                .set_flavor_description(&self.context(&c)?, &id, description.as_deref()),
        )
    }

    fn flavor_descriptions(&mut self, c: Caller) -> Result<Vec<(String, String)>, OpError> {
        let d = self.run(self.api.flavor_descriptions(&self.context(&c)?))?;
        Ok(d.into_iter().collect())
    }

    fn delete_service(&mut self, c: Caller, id: i64) -> Result<(), OpError> {
        self.run(self.api.delete_service(&self.context(&c)?, id))
    }

    fn get_server_diagnostics(
        &mut self,
        c: Caller,
        id: String,
    ) -> Result<ServerDiagnostics, OpError> {
        let ctx = self.context(&c)?;
        let (d, uptime) = self.run(self.api.diagnostics(&ctx, &id))?;
        Ok(ServerDiagnostics {
            state: d.state,
            hypervisor: d.hypervisor,
            uptime_secs: uptime,
            cpus: d
                .cpus
                .into_iter()
                .map(|c| CpuDiagnostics {
                    id: c.id,
                    time_ns: c.time_ns,
                })
                .collect(),
            memory_max_kib: d.memory_max_kib,
            memory_used_kib: d.memory_used_kib,
            nics: d
                .nics
                .into_iter()
                .map(|n| NicDiagnostics {
                    mac: n.mac,
                    device: n.device,
                    rx_octets: n.rx_octets,
                    rx_errors: n.rx_errors,
                    rx_drop: n.rx_drop,
                    rx_packets: n.rx_packets,
                    tx_octets: n.tx_octets,
                    tx_errors: n.tx_errors,
                    tx_drop: n.tx_drop,
                    tx_packets: n.tx_packets,
                })
                .collect(),
            disks: d
                .disks
                .into_iter()
                .map(|k| DiskDiagnostics {
                    device: k.device,
                    read_bytes: k.read_bytes,
                    read_requests: k.read_requests,
                    write_bytes: k.write_bytes,
                    write_requests: k.write_requests,
                    errors: k.errors,
                })
                .collect(),
        })
    }

    fn server_usages(
        &mut self,
        c: Caller,
        project: Option<String>,
        start: Option<i64>,
        end: Option<i64>,
    ) -> Result<UsageReport, OpError> {
        let ctx = self.context(&c)?;
        let now = metacloud_db::now_ms();
        let (start, end) = (start.unwrap_or(now), end.unwrap_or(now));
        let usages = self.run(self.api.server_usages(&ctx, project.as_deref(), start, end))?;
        Ok(UsageReport {
            start,
            end,
            now,
            servers: usages
                .into_iter()
                .map(|u| {
                    let i = u.instance;
                    ServerUsage {
                        vm_state: if i.deleted {
                            "deleted".into()
                        } else {
                            i.vm_state.as_str().into()
                        },
                        id: i.uuid,
                        name: i.name,
                        project_id: i.project_id,
                        flavor: u.flavor,
                        vcpus: i.vcpus.clamp(0, u32::MAX as i64) as u32,
                        ram_mb: i.memory_mb.max(0) as u64,
                        disk_gb: i.disk_gb.max(0) as u64,
                        launched_at: i.launched_at.unwrap_or(i.created_at),
                        terminated_at: i.terminated_at,
                    }
                })
                .collect(),
        })
    }

    fn list_instance_actions_of_any(
        &mut self,
        c: Caller,
        server_id: String,
    ) -> Result<Vec<InstanceAction>, OpError> {
        let records = self.run(
            self.api
                .action_records_of_any(&self.context(&c)?, &server_id),
        )?;
        Ok(records.into_iter().map(instance_action).collect())
    }

    fn get_server(&mut self, c: Caller, id: String) -> Result<Server, OpError> {
        let ctx = self.context(&c)?;
        let view = self.run(self.api.show(&ctx, &id))?;
        let mut s = self.servers(&ctx, vec![view.instance])?;
        let mut server = s
            .pop()
            .ok_or_else(|| OpError::NotFound(format!("Instance {id} could not be found.")))?;
        if let Some(f) = view.fault {
            server.fault = Some(Fault {
                code: f.code.clamp(0, u32::MAX as i64) as u32,
                message: f.message,
                created_at: f.created_at,
            });
        }
        Ok(server)
    }

    fn update_server(
        &mut self,
        c: Caller,
        id: String,
        name: Option<String>,
        access_ipv4: Option<String>,
        access_ipv6: Option<String>,
    ) -> Result<Server, OpError> {
        let ctx = self.context(&c)?;
        let inst = self.run(async {
            let mut inst = None;
            if let Some(name) = &name {
                inst = Some(self.api.rename(&ctx, &id, name).await?);
            }
            if access_ipv4.is_some() || access_ipv6.is_some() {
                inst = Some(
                    self.api
                        .set_access_ips(&ctx, &id, access_ipv4.as_deref(), access_ipv6.as_deref())
                        .await?,
                );
            }
            match inst {
                Some(i) => Ok(i),
                None => Ok(self.api.show(&ctx, &id).await?.instance),
            }
        })?;
        self.server_of(&ctx, inst, &id)
    }

    fn rebuild_server(
        &mut self,
        c: Caller,
        id: String,
        image_ref: String,
        name: Option<String>,
        metadata: Option<Vec<(String, String)>>,
    ) -> Result<Server, OpError> {
        let boot = RebuildBoot {
            key_name: None,
            user_data: None,
        };
        self.rebuild_server_with(c, id, image_ref, name, metadata, boot)
    }

    fn rebuild_server_with(
        &mut self,
        c: Caller,
        id: String,
        image_ref: String,
        name: Option<String>,
        metadata: Option<Vec<(String, String)>>,
        boot: RebuildBoot,
    ) -> Result<Server, OpError> {
        let ctx = self.context(&c)?;
        let image = self.boot_image(&c, &image_ref)?;
        let metadata = metadata.map(|m| m.into_iter().collect());
        let boot = metacloud_api::RebuildBoot {
            key_name: boot.key_name,
            user_data: boot.user_data,
        };
        let inst = self.run(self.api.rebuild(&ctx, &id, image, name, metadata, boot))?;
        self.server_of(&ctx, inst, &id)
    }

    fn create_image(
        &mut self,
        c: Caller,
        id: String,
        name: String,
        metadata: Vec<(String, String)>,
        backup: Option<BackupSpec>,
    ) -> Result<String, OpError> {
        let token = self
            .token
            .clone()
            .ok_or_else(|| OpError::Forbidden("a token is needed to upload a snapshot".into()))?;
        let via = metacloud_api::snapshots::UploadVia {
            image_url: self.image_url.clone(),
            token,
        };
        let backup = backup.map(|b| metacloud_api::snapshots::Backup {
            kind: b.kind,
            rotation: b.rotation,
        });
        let req = metacloud_api::snapshots::SnapshotRequest {
            name,
            metadata: metadata.into_iter().collect(),
            backup,
        };
        self.run(
            self.api
                .snapshot(&self.context(&c)?, &self.images, &id, req, via),
        )
    }

    fn image_endpoint(&mut self) -> String {
        self.image_url.clone()
    }

    fn list_images(&mut self, c: Caller) -> Result<Vec<Image>, OpError> {
        let who = context(&c);
        let all = self.run_image(self.images.list(&who, None, None))?;
        Ok(all.into_iter().map(wit_image).collect())
    }

    fn get_image(&mut self, c: Caller, id: String) -> Result<Image, OpError> {
        let who = context(&c);
        self.run_image(self.images.get(&who, &id)).map(wit_image)
    }

    fn delete_image(&mut self, c: Caller, id: String) -> Result<(), OpError> {
        let who = context(&c);
        self.run_image(self.images.delete(&who, &id))
    }

    fn set_image_metadata(
        &mut self,
        c: Caller,
        id: String,
        metadata: Vec<(String, String)>,
        replace: bool,
    ) -> Result<Vec<(String, String)>, OpError> {
        let who = context(&c);
        let img = self.run_image(self.images.update(&who, &id, |img| {
            if replace {
                img.properties.clear();
            }
            img.properties.extend(metadata);
            Ok(())
        }))?;
        Ok(img.properties.into_iter().collect())
    }

    fn delete_image_metadata(&mut self, c: Caller, id: String, key: String) -> Result<(), OpError> {
        let who = context(&c);
        self.run_image(
            self.images
                .update(&who, &id, |img| match img.properties.remove(&key) {
                    Some(_) => Ok(()),
                    None => Err(metacloud_image::ImageError::NotFound(format!(
                        "Metadata item {key} was not found"
                    ))),
                }),
        )
        .map(|_| ())
    }

    fn delete_server(&mut self, c: Caller, id: String) -> Result<(), OpError> {
        let ctx = self.context(&c)?;
        self.run(self.api.delete_server(&ctx, &id, &self.images))
    }

    fn server_action(
        &mut self,
        c: Caller,
        id: String,
        action: String,
        args: Vec<(String, String)>,
    ) -> Result<(), OpError> {
        let ctx = self.context(&c)?;
        let env = ActionEnv {
            images: &self.images,
            upload: self.token.clone().map(|token| UploadVia {
                image_url: self.image_url.clone(),
                token,
            }),
        };
        self.run(self.api.server_action(&ctx, &id, &action, &args, env))
    }

    fn console_output(&mut self, c: Caller, id: String) -> Result<String, OpError> {
        self.run(self.api.console_output(&self.context(&c)?, &id))
    }

    fn list_flavors(&mut self, c: Caller) -> Result<Vec<Flavor>, OpError> {
        let flavors = self.run(self.api.list_flavors(&self.context(&c)?))?;
        Ok(flavors.iter().map(wit_flavor).collect())
    }

    fn get_flavor(&mut self, c: Caller, id: String) -> Result<Flavor, OpError> {
        self.run(self.api.flavor(&self.context(&c)?, &id))
            .map(|f| wit_flavor(&f))
    }

    fn create_flavor(&mut self, c: Caller, f: FlavorCreate) -> Result<Flavor, OpError> {
        let ctx = self.context(&c)?;
        let flavor = metacloud_objects::Flavor {
            id: f.id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            name: f.name,
            vcpus: f.vcpus,
            memory_mb: f.ram_mb,
            root_gb: f.disk_gb,
            ephemeral_gb: f.ephemeral_gb,
            swap_mb: f.swap_mb,
            extra_specs: Default::default(),
            is_public: f.is_public,
        };
        self.run(self.api.create_flavor(&ctx, flavor))
            .map(|f| wit_flavor(&f))
    }

    fn delete_flavor(&mut self, c: Caller, id: String) -> Result<(), OpError> {
        let ctx = self.context(&c)?;
        self.run(self.api.delete_flavor(&ctx, &id))
    }

    fn list_keypairs(&mut self, c: Caller) -> Result<Vec<Keypair>, OpError> {
        self.list_keypairs_of(c, None)
    }

    fn get_keypair(&mut self, c: Caller, name: String) -> Result<Keypair, OpError> {
        self.get_keypair_of(c, None, name)
    }

    fn create_keypair(
        &mut self,
        c: Caller,
        name: String,
        key_type: String,
        public_key: Option<String>,
    ) -> Result<KeypairCreated, OpError> {
        self.create_keypair_for(c, None, name, key_type, public_key)
    }

    fn delete_keypair(&mut self, c: Caller, name: String) -> Result<(), OpError> {
        self.delete_keypair_of(c, None, name)
    }

    fn list_keypairs_of(
        &mut self,
        c: Caller,
        user_id: Option<String>,
    ) -> Result<Vec<Keypair>, OpError> {
        let ks = self.run(
            self.api
                .list_keypairs(&self.context(&c)?, user_id.as_deref()),
        )?;
        Ok(ks.into_iter().map(wit_keypair).collect())
    }

    fn get_keypair_of(
        &mut self,
        c: Caller,
        user_id: Option<String>,
        name: String,
    ) -> Result<Keypair, OpError> {
        self.run(
            self.api
                .get_keypair(&self.context(&c)?, user_id.as_deref(), &name),
        )
        .map(wit_keypair)
    }

    fn create_keypair_for(
        &mut self,
        c: Caller,
        user_id: Option<String>,
        name: String,
        key_type: String,
        public_key: Option<String>,
    ) -> Result<KeypairCreated, OpError> {
        let (k, private) = self.run(self.api.create_keypair(
            &self.context(&c)?,
            user_id.as_deref(),
            &name,
            &key_type,
            public_key.as_deref(),
        ))?;
        Ok(KeypairCreated {
            keypair: wit_keypair(k),
            private_key: private,
        })
    }

    fn delete_keypair_of(
        &mut self,
        c: Caller,
        user_id: Option<String>,
        name: String,
    ) -> Result<(), OpError> {
        self.run(
            self.api
                .delete_keypair(&self.context(&c)?, user_id.as_deref(), &name),
        )
    }

    fn get_quotas(&mut self, c: Caller, project: String) -> Result<Vec<QuotaUsage>, OpError> {
        let report = self.run(self.api.quota_report(&self.context(&c)?, &project))?;
        Ok(report
            .into_iter()
            .map(|(resource, limit, in_use)| QuotaUsage {
                resource,
                limit,
                in_use,
            })
            .collect())
    }

    fn set_quota(
        &mut self,
        c: Caller,
        project: String,
        resource: String,
        limit: i64,
    ) -> Result<(), OpError> {
        self.run(
            self.api
                .set_quota(&self.context(&c)?, &project, &resource, limit),
        )
    }

    fn list_availability_zones(&mut self, c: Caller) -> Result<Vec<AvailabilityZone>, OpError> {
        let admin = self.context(&c)?.is_admin();
        let hosts = self.run(async {
            Ok(self
                .api
                .db()
                .host_states(self.api.down_time_ms(), false)
                .await?)
        })?;
        let mut zones: Vec<AvailabilityZone> = Vec::new();
        for h in hosts {
            let ok = h.up && !h.disabled;
            match zones.iter_mut().find(|z| z.name == h.availability_zone) {
                Some(z) => {
                    z.available |= ok;
                    if admin {
                        z.hosts.push(h.host);
                    }
                }
                None => zones.push(AvailabilityZone {
                    name: h.availability_zone,
                    available: ok,
                    hosts: if admin { vec![h.host] } else { vec![] },
                }),
            }
        }
        Ok(zones)
    }

    fn list_services(&mut self, c: Caller) -> Result<Vec<Service>, OpError> {
        let ctx = self.context(&c)?;
        let services = self.run(self.api.services(&ctx))?;
        let zones = self.zones()?;
        Ok(services
            .into_iter()
            .map(|s| wit_service(s, &zones))
            .collect())
    }

    fn update_service(
        &mut self,
        c: Caller,
        id: i64,
        change: ServiceChange,
    ) -> Result<Service, OpError> {
        let change = metacloud_db::services::ServiceChange {
            disabled: change.disabled,
            disabled_reason: change.disabled_reason,
            forced_down: change.forced_down,
        };
        let s = self.run(self.api.update_service(&self.context(&c)?, id, &change))?;
        Ok(wit_service(s, &self.zones()?))
    }

    fn list_migrations(
        &mut self,
        c: Caller,
        instance_id: Option<String>,
    ) -> Result<Vec<Migration>, OpError> {
        let all = self.run(
            self.api
                .migrations(&self.context(&c)?, instance_id.as_deref()),
        )?;
        Ok(all
            .into_iter()
            .map(|m| Migration {
                id: m.id,
                uuid: m.uuid,
                instance_id: m.instance_uuid,
                migration_type: m.migration_type,
                source_host: m.source_host,
                dest_host: m.dest_host,
                status: m.status,
                flavor_id: m.flavor_id,
                created_at: m.created_at,
                updated_at: m.updated_at,
                user_id: m.user_id,
                project_id: m.project_id,
            })
            .collect())
    }

    fn set_flavor_extra_specs(
        &mut self,
        c: Caller,
        id: String,
        specs: Vec<(String, String)>,
    ) -> Result<Vec<(String, String)>, OpError> {
        let all = self.run(self.api.set_flavor_extra_specs(
            &self.context(&c)?,
            &id,
            specs.into_iter().collect(),
        ))?;
        Ok(all.into_iter().collect())
    }

    fn delete_flavor_extra_spec(
        &mut self,
        c: Caller,
        id: String,
        key: String,
    ) -> Result<(), OpError> {
        self.run(
            self.api
                .delete_flavor_extra_spec(&self.context(&c)?, &id, &key),
        )
    }

    fn list_flavor_access(&mut self, c: Caller, id: String) -> Result<Vec<String>, OpError> {
        self.run(self.api.flavor_access(&self.context(&c)?, &id))
    }

    fn add_flavor_access(
        &mut self,
        c: Caller,
        id: String,
        project: String,
    ) -> Result<Vec<String>, OpError> {
        self.run(
            self.api
                .add_flavor_access(&self.context(&c)?, &id, &project),
        )
    }

    fn remove_flavor_access(
        &mut self,
        c: Caller,
        id: String,
        project: String,
    ) -> Result<Vec<String>, OpError> {
        self.run(
            self.api
                .remove_flavor_access(&self.context(&c)?, &id, &project),
        )
    }

    fn delete_quotas(&mut self, c: Caller, project: String) -> Result<(), OpError> {
        self.run(self.api.delete_quotas(&self.context(&c)?, &project))
    }

    fn set_default_quota(
        &mut self,
        c: Caller,
        resource: String,
        limit: i64,
    ) -> Result<(), OpError> {
        self.run(
            self.api
                .set_default_quota(&self.context(&c)?, &resource, limit),
        )
    }

    fn default_quotas(&mut self, _c: Caller) -> Result<Vec<QuotaUsage>, OpError> {
        Ok(self
            .run(self.api.default_quotas())?
            .into_iter()
            .map(|(resource, limit)| QuotaUsage {
                resource,
                limit,
                in_use: 0,
            })
            .collect())
    }

    fn list_aggregates(&mut self, c: Caller) -> Result<Vec<Aggregate>, OpError> {
        let all = self.run(self.api.list_aggregates(&self.context(&c)?))?;
        Ok(all.into_iter().map(wit_aggregate).collect())
    }

    fn cache_aggregate_images(
        &mut self,
        c: Caller,
        id: String,
        image_ids: Vec<String>,
    ) -> Result<(), OpError> {
        let ctx = self.context(&c)?;
        self.run(self.api.show_aggregate(&ctx, &id))?;
        let images = image_ids
            .iter()
            .map(|i| self.boot_image(&c, i))
            .collect::<Result<Vec<_>, _>>()?;
        self.run(self.api.cache_images(&ctx, &id, images))
    }

    fn get_aggregate(&mut self, c: Caller, id: String) -> Result<Aggregate, OpError> {
        self.run(self.api.show_aggregate(&self.context(&c)?, &id))
            .map(wit_aggregate)
    }

    fn create_aggregate(
        &mut self,
        c: Caller,
        name: String,
        availability_zone: Option<String>,
    ) -> Result<Aggregate, OpError> {
        self.run(
            self.api
                .create_aggregate(&self.context(&c)?, &name, availability_zone.as_deref()),
        )
        .map(wit_aggregate)
    }

    fn update_aggregate(
        &mut self,
        c: Caller,
        id: String,
        name: Option<String>,
        availability_zone: Option<String>,
    ) -> Result<Aggregate, OpError> {
        self.run(self.api.update_aggregate(
            &self.context(&c)?,
            &id,
            name.as_deref(),
            availability_zone.as_deref(),
        ))
        .map(wit_aggregate)
    }

    fn delete_aggregate(&mut self, c: Caller, id: String) -> Result<(), OpError> {
        self.run(self.api.delete_aggregate(&self.context(&c)?, &id))
    }

    fn aggregate_add_host(
        &mut self,
        c: Caller,
        id: String,
        host: String,
    ) -> Result<Aggregate, OpError> {
        self.run(self.api.add_aggregate_host(&self.context(&c)?, &id, &host))
            .map(wit_aggregate)
    }

    fn aggregate_remove_host(
        &mut self,
        c: Caller,
        id: String,
        host: String,
    ) -> Result<Aggregate, OpError> {
        self.run(
            self.api
                .remove_aggregate_host(&self.context(&c)?, &id, &host),
        )
        .map(wit_aggregate)
    }

    fn set_aggregate_metadata(
        &mut self,
        c: Caller,
        id: String,
        metadata: Vec<(String, Option<String>)>,
    ) -> Result<Aggregate, OpError> {
        self.run(self.api.set_aggregate_metadata(
            &self.context(&c)?,
            &id,
            &metadata.into_iter().collect(),
        ))
        .map(wit_aggregate)
    }

    fn hypervisor_uptime(&mut self, c: Caller, hostname: String) -> Result<String, OpError> {
        self.run(self.api.host_uptime(&self.context(&c)?, &hostname))
    }

    fn list_hypervisors(&mut self, c: Caller) -> Result<Vec<Hypervisor>, OpError> {
        let hosts = self.run(self.api.hypervisors(&self.context(&c)?))?;
        Ok(hosts
            .into_iter()
            .enumerate()
            .map(|(i, h)| Hypervisor {
                id: i as i64 + 1,
                hostname: h.host,
                state_up: h.up,
                enabled: !h.disabled,
                hypervisor_type: h.hypervisor_type,
                vcpus: h.vcpus,
                vcpus_used: h.vcpus_used,
                memory_mb: h.memory_mb,
                memory_mb_used: h.memory_mb_used,
                local_gb: h.local_gb,
                local_gb_used: h.local_gb_used,
                running_vms: h.running_vms,
            })
            .collect())
    }

    fn set_server_metadata(
        &mut self,
        c: Caller,
        id: String,
        metadata: Vec<(String, String)>,
        replace: bool,
    ) -> Result<Vec<(String, String)>, OpError> {
        let all = self.run(self.api.set_metadata(
            &self.context(&c)?,
            &id,
            metadata.into_iter().collect(),
            replace,
        ))?;
        Ok(all.into_iter().collect())
    }

    fn delete_server_metadata(
        &mut self,
        c: Caller,
        id: String,
        key: String,
    ) -> Result<(), OpError> {
        self.run(self.api.delete_metadata(&self.context(&c)?, &id, &key))
    }

    fn create_server_group(
        &mut self,
        c: Caller,
        name: String,
        policy: String,
        max_server_per_host: Option<u32>,
    ) -> Result<ServerGroup, OpError> {
        let req = metacloud_api::CreateGroupRequest {
            name,
            policy,
            max_server_per_host,
        };
        self.run(self.api.create_group(&self.context(&c)?, req))
            .map(wit_group)
    }

    fn list_server_groups(
        &mut self,
        c: Caller,
        all_projects: bool,
    ) -> Result<Vec<ServerGroup>, OpError> {
        let groups = self.run(self.api.list_groups(&self.context(&c)?, all_projects))?;
        Ok(groups.into_iter().map(wit_group).collect())
    }

    fn get_server_group(&mut self, c: Caller, id: String) -> Result<ServerGroup, OpError> {
        self.run(self.api.show_group(&self.context(&c)?, &id))
            .map(wit_group)
    }

    fn delete_server_group(&mut self, c: Caller, id: String) -> Result<(), OpError> {
        self.run(self.api.delete_group(&self.context(&c)?, &id))
    }

    fn list_instance_actions(
        &mut self,
        c: Caller,
        server_id: String,
    ) -> Result<Vec<InstanceAction>, OpError> {
        let records = self.run(self.api.action_records(&self.context(&c)?, &server_id))?;
        Ok(records.into_iter().map(instance_action).collect())
    }

    fn create_certificate(&mut self, c: Caller) -> Result<Certificate, OpError> {
        let (data, key_pem) = self.run(self.api.create_certificate(&self.context(&c)?))?;
        Ok(Certificate {
            data,
            private_key: self.seals.seal(key_pem, true),
        })
    }

    fn root_certificate(&mut self, c: Caller) -> Result<String, OpError> {
        self.run(self.api.root_certificate(&self.context(&c)?))
    }
}

impl signatures::Host for ComputeHost {
    fn verify_signature(
        &mut self,
        access_key: String,
        string_to_sign: String,
        signature: String,
        scope: String,
    ) -> Option<Caller> {
        let req = metacloud_identity::ec2_signature::SignedRequest {
            access_key: &access_key,
            string_to_sign: &string_to_sign,
            signature: &signature,
            scope: &scope,
        };
        let verified = self.handle.block_on(
            self.identity
                .verify_ec2_signature(&req, self.ec2_max_skew_ms),
        );
        match verified {
            Ok(auth) => {
                let caller = Caller {
                    user_id: auth.user.id,
                    user_name: auth.user.name,
                    project_id: auth
                        .project
                        .as_ref()
                        .map(|p| p.id.clone())
                        .unwrap_or_default(),
                    project_name: auth.project.map(|p| p.name).unwrap_or_default(),
                    roles: auth.roles.into_iter().map(|r| r.name).collect(),
                    request_id: self.request_id.clone(),
                };
                tracing::info!(access = %access_key, user = %caller.user_name, project = %caller.project_name, "EC2 signature verified");
                self.caller.set(caller.clone());
                Some(caller)
            }
            Err(IdentityError::Internal(e)) => {
                tracing::error!(error = %e, "EC2 signature check failed");
                None
            }
            Err(e) => {
                tracing::info!(access = %access_key, reason = %e, "EC2 signature refused");
                None
            }
        }
    }
}
