//! Hot-plugging ports into servers (Nova's `os-interface` attach and detach).
//!
//! Attach binds a free port of the server's project (or makes one on a network) in the
//! database, places it on the server's host, and asks that host's compute worker to plug
//! its NIC; when the plug fails the port is put back as it was. Detach asks the compute
//! worker to unplug first and releases the port only once the guest has let it go, so a
//! port is never unbound while a guest still uses its address.

use crate::network::net_error;
use crate::{ApiError, ComputeApi, Context};
use metacloud_db::instances::Instance;
use metacloud_db::networks::Cidr;
use metacloud_db::ports::{Port, PortUpdate};
use metacloud_db::DbError;
use metacloud_rpc::compute::{self, Interface};
use metacloud_rpc::objects::VmState;
use metacloud_rpc::topics;
use std::net::Ipv4Addr;

/// What an attach asks for: a port, or a network (with the fixed address wanted), or
/// neither (the project's only network).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InterfaceRequest {
    pub port_id: Option<String>,
    pub net_id: Option<String>,
    pub fixed_ip: Option<String>,
    /// The device tag the port gets (the compute API's 2.49).
    pub tag: Option<String>,
}

/// The states a server may have a port plugged in (Nova's); the guest must be defined.
const ATTACH_STATES: [VmState; 3] = [VmState::Active, VmState::Paused, VmState::Stopped];
/// The states a port may be unplugged in: a paused guest cannot acknowledge an unplug.
const DETACH_STATES: [VmState; 2] = [VmState::Active, VmState::Stopped];

/// Where a port to attach came from, to put it back when the plug fails.
enum Taken {
    /// Made for this attach: deleted again.
    Made,
    /// An unbound port of the project: unbound again, with its own groups.
    Bound { groups: Vec<String> },
}

/// The host of a server in one of `states` with no task running, or Nova's 409.
fn plug_host(inst: &Instance, action: &str, states: &[VmState]) -> Result<String, ApiError> {
    match (&inst.host, inst.task_state) {
        (Some(host), None) if states.contains(&inst.vm_state) => Ok(host.clone()),
        _ => Err(ApiError::Conflict(format!(
            "Cannot '{action}' instance {} while it is in vm_state {} (task_state {})",
            inst.uuid,
            inst.vm_state.as_str(),
            inst.task_state.map(|t| t.as_str()).unwrap_or("None")
        ))),
    }
}

fn nic(port: &Port) -> Interface {
    Interface {
        port_id: port.id.clone(),
        mac: port.mac.clone(),
        device: port.device.clone(),
    }
}

impl ComputeApi {
    /// Plugs a port into a server and returns it, bound, with whether the server is
    /// active (the port is up then).
    pub async fn attach_interface(
        &self,
        ctx: &Context,
        uuid: &str,
        req: &InterfaceRequest,
    ) -> Result<(Port, bool), ApiError> {
        Self::require_write(ctx, "os_compute_api:os-attach-interfaces:create")?;
        let inst = self.changeable(ctx, uuid).await?;
        let host = plug_host(&inst, "attach_interface", &ATTACH_STATES)?;
        let (port, taken) = self.take_port(&inst, req).await?;
        if let Some(tag) = &req.tag {
            if let Err(e) = self.db.set_port_tag(&port.id, tag).await {
                self.give_back(&inst, &port, &taken, &[]).await;
                return Err(net_error(e));
            }
        }
        let joined = match self.join_port_groups(&inst, &port).await {
            Ok(j) => j,
            Err(e) => {
                self.give_back(&inst, &port, &taken, &[]).await;
                return Err(e);
            }
        };
        if let Err(e) = self.plug(&inst, &host, &port).await {
            tracing::warn!(instance = %uuid, port = %port.id, error = %e, "interface attach failed");
            self.give_back(&inst, &port, &taken, &joined).await;
            return Err(e);
        }
        self.db
            .record_action(
                uuid,
                "attach_interface",
                &ctx.request_id,
                &ctx.project_id,
                &ctx.user_id,
            )
            .await?;
        tracing::info!(instance = %uuid, port = %port.id, address = %port.address, "interface attached");
        let port = self.db.get_port(&port.id).await.map_err(net_error)?;
        Ok((port, inst.vm_state == VmState::Active))
    }

    /// Unplugs a port from a server; the port is released as a server delete releases it
    /// (deleted when the server's create or an attach by network made it, else unbound).
    pub async fn detach_interface(
        &self,
        ctx: &Context,
        uuid: &str,
        port_id: &str,
    ) -> Result<(), ApiError> {
        Self::require_write(ctx, "os_compute_api:os-attach-interfaces:delete")?;
        let inst = self.changeable(ctx, uuid).await?;
        let port = self
            .db
            .ports_of_instance(uuid)
            .await
            .map_err(net_error)?
            .into_iter()
            .find(|p| p.id == port_id)
            .ok_or_else(|| {
                ApiError::NotFound(format!("Port {port_id} attached to instance {uuid}"))
            })?;
        let host = plug_host(&inst, "detach_interface", &DETACH_STATES)?;
        let req = compute::Request::DetachInterface {
            uuid: uuid.into(),
            nic: nic(&port),
        };
        self.rpc
            .call::<_, ()>(&topics::compute(&host), &req)
            .await?;
        self.db
            .release_port(uuid, port_id)
            .await
            .map_err(net_error)?;
        self.db
            .record_action(
                uuid,
                "detach_interface",
                &ctx.request_id,
                &ctx.project_id,
                &ctx.user_id,
            )
            .await?;
        tracing::info!(instance = %uuid, port = %port_id, "interface detached");
        Ok(())
    }

    /// Binds the port asked for, or makes one on the network asked for (or the project's
    /// only one), for the server.
    async fn take_port(
        &self,
        inst: &Instance,
        req: &InterfaceRequest,
    ) -> Result<(Port, Taken), ApiError> {
        let project = &inst.project_id;
        if let Some(id) = &req.port_id {
            if req.net_id.is_some() {
                return Err(ApiError::BadRequest(
                    "Must not input both network_id and port_id".into(),
                ));
            }
            let port = self.free_port(project, id).await?;
            let bound = self
                .db
                .bind_port(id, &inst.uuid, project)
                .await
                .map_err(net_error)?;
            let taken = Taken::Bound {
                groups: port.group_ids,
            };
            return Ok((bound, taken));
        }
        if req.fixed_ip.is_some() && req.net_id.is_none() {
            return Err(ApiError::BadRequest(
                "Must input network_id when request IP address".into(),
            ));
        }
        let network = self.attach_network(project, req).await?;
        let port = self
            .db
            .allocate_port(&inst.uuid, project, &network, req.fixed_ip.as_deref())
            .await
            .map_err(|e| match e {
                DbError::AddressInUse { .. } => ApiError::Conflict(e.to_string()),
                e => net_error(e),
            })?;
        Ok((port, Taken::Made))
    }

    /// The network a port is made on: the one asked for (the project's or shared, with
    /// the fixed address inside it), or the project's only network.
    async fn attach_network(
        &self,
        project: &str,
        req: &InterfaceRequest,
    ) -> Result<String, ApiError> {
        let usable: Vec<_> = self
            .db
            .list_networks(Some(project))
            .await
            .map_err(net_error)?
            .into_iter()
            .filter(|n| !n.external)
            .collect();
        let Some(id) = &req.net_id else {
            return match usable.as_slice() {
                [only] => Ok(only.id.clone()),
                [] => Err(ApiError::BadRequest(format!(
                    "No specific network was requested and none are available for project \
                     '{project}'."
                ))),
                _ => Err(ApiError::BadRequest(
                    "Multiple possible networks found, use a Network ID to be more specific."
                        .into(),
                )),
            };
        };
        let net = usable
            .iter()
            .find(|n| &n.id == id)
            .ok_or_else(|| ApiError::NotFound(format!("Network {id}")))?;
        if let Some(ip) = &req.fixed_ip {
            let a: Ipv4Addr = ip
                .parse()
                .map_err(|_| ApiError::BadRequest(format!("Invalid fixed IP address ({ip})")))?;
            let cidr = Cidr::parse(&net.cidr).map_err(ApiError::Internal)?;
            if !cidr.contains(a) {
                return Err(ApiError::BadRequest(format!(
                    "Fixed IP address {ip} is not in network {} ({})",
                    net.name, net.cidr
                )));
            }
        }
        Ok(net.id.clone())
    }

    /// Puts the server in the groups an unbound port carried (a bound port's groups are
    /// its server's); returns the groups it was not in before.
    async fn join_port_groups(
        &self,
        inst: &Instance,
        port: &Port,
    ) -> Result<Vec<String>, ApiError> {
        let mut joined = Vec::new();
        for g in &port.group_ids {
            match self
                .db
                .add_instance_to_group(&inst.uuid, &inst.project_id, g)
                .await
            {
                Ok(()) => joined.push(g.clone()),
                Err(DbError::Conflict(_)) => {}
                Err(e) => {
                    self.leave_groups(inst, &joined).await;
                    return Err(net_error(e));
                }
            }
        }
        Ok(joined)
    }

    /// Places the port on the server's host and has the host plug it.
    async fn plug(&self, inst: &Instance, host: &str, port: &Port) -> Result<(), ApiError> {
        self.db
            .set_port_host(&inst.uuid, Some(host))
            .await
            .map_err(net_error)?;
        let req = compute::Request::AttachInterface {
            uuid: inst.uuid.clone(),
            nic: nic(port),
        };
        self.rpc.call::<_, ()>(&topics::compute(host), &req).await?;
        Ok(())
    }

    /// Undoes a failed attach: the port deleted or unbound with its own groups again, and
    /// the server out of the groups it joined for it. Failures are logged: the attach's
    /// own error is the one answered.
    async fn give_back(&self, inst: &Instance, port: &Port, taken: &Taken, joined: &[String]) {
        self.leave_groups(inst, joined).await;
        let undone = match taken {
            Taken::Made => self.db.delete_port(&port.id).await.map(|_| ()),
            Taken::Bound { groups } => match self.db.release_port(&inst.uuid, &port.id).await {
                Ok(_) => {
                    let restore = PortUpdate {
                        group_ids: Some(groups.clone()),
                        ..Default::default()
                    };
                    self.db.update_port(&port.id, &restore).await.map(|_| ())
                }
                Err(e) => Err(e),
            },
        };
        if let Err(e) = undone {
            tracing::error!(instance = %inst.uuid, port = %port.id, error = %e, "a failed attach left its port behind");
        }
    }

    async fn leave_groups(&self, inst: &Instance, groups: &[String]) {
        for g in groups {
            if let Err(e) = self.db.remove_instance_from_group(&inst.uuid, g).await {
                tracing::warn!(instance = %inst.uuid, group = %g, error = %e, "cannot leave a group");
            }
        }
    }
}
