//! Ports as the Network API makes them: unbound until a server create names one, kept
//! when their server goes. Members make, change and delete their project's; admins any
//! project's. A port's security groups are its server's once it is bound.

use crate::network::net_error;
use crate::{ApiError, ComputeApi, Context};
use metacloud_db::ports::{NewPort, Port, PortUpdate};
use metacloud_db::DbError;
use std::collections::HashMap;

/// A port create as the Network API asks it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PortRequest {
    /// Another project's (admins only); the caller's when `None`.
    pub project_id: Option<String>,
    pub network_id: String,
    pub name: String,
    pub address: Option<String>,
    pub mac: Option<String>,
    pub admin_state_up: bool,
    /// Security group ids; the project's `default` group when `None`.
    pub security_groups: Option<Vec<String>>,
}

/// A port with the security groups it has (its server's once bound).
#[derive(Debug, Clone, PartialEq)]
pub struct PortView {
    pub port: Port,
    pub group_ids: Vec<String>,
}

/// Database errors of ports in the Network API's terms: a taken address is a conflict.
fn port_error(e: DbError) -> ApiError {
    match e {
        DbError::AddressInUse { .. } => ApiError::Conflict(e.to_string()),
        DbError::NotFound(m) => ApiError::NotFound(m),
        e => net_error(e),
    }
}

fn port_not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("Port {id}"))
}

impl ComputeApi {
    /// The ports the caller sees (every project's for admins with `all_projects`), each
    /// with its security group ids.
    pub async fn port_views(
        &self,
        ctx: &Context,
        all_projects: bool,
    ) -> Result<Vec<PortView>, ApiError> {
        let ports = self.list_ports(ctx, all_projects).await?;
        self.with_groups(ports).await
    }

    /// The ports among `port_ids`, and those of the servers `server_ids`, that the caller
    /// sees (another project's only for admins with `all_projects`).
    pub async fn find_port_views(
        &self,
        ctx: &Context,
        all_projects: bool,
        port_ids: &[String],
        server_ids: &[String],
    ) -> Result<Vec<PortView>, ApiError> {
        let mut ports = self.db.ports_by_ids(port_ids).await.map_err(net_error)?;
        for p in self
            .db
            .ports_of_instances(server_ids)
            .await
            .map_err(net_error)?
        {
            if !ports.iter().any(|x| x.id == p.id) {
                ports.push(p);
            }
        }
        let every = all_projects && ctx.is_admin();
        ports.retain(|p| every || p.project_id == ctx.project_id);
        self.with_groups(ports).await
    }

    /// Each port with its security group ids (its server's once bound).
    async fn with_groups(&self, ports: Vec<Port>) -> Result<Vec<PortView>, ApiError> {
        let bound: Vec<String> = ports.iter().filter_map(|p| p.instance_id.clone()).collect();
        let groups: HashMap<String, Vec<String>> = self
            .db
            .group_ids_of_instances(&bound)
            .await
            .map_err(net_error)?;
        Ok(ports
            .into_iter()
            .map(|port| {
                let group_ids = match &port.instance_id {
                    Some(i) => groups.get(i).cloned().unwrap_or_default(),
                    None => port.group_ids.clone(),
                };
                PortView { port, group_ids }
            })
            .collect())
    }

    /// One port the caller may change: its project's (any for admins); 404 otherwise.
    async fn own_port(&self, ctx: &Context, id: &str, action: &str) -> Result<Port, ApiError> {
        let port = self.db.get_port(id).await.map_err(|e| match e {
            DbError::NotFound(_) => port_not_found(id),
            e => net_error(e),
        })?;
        if !ctx.is_admin() && port.project_id != ctx.project_id {
            return Err(port_not_found(id));
        }
        Self::require_write(ctx, action)?;
        Ok(port)
    }

    /// Checks security group ids against the port's project; `None`: its `default` group.
    async fn port_groups(
        &self,
        project: &str,
        ids: Option<&[String]>,
    ) -> Result<Vec<String>, ApiError> {
        let Some(ids) = ids else {
            let g = self
                .db
                .ensure_default_group(project)
                .await
                .map_err(net_error)?;
            return Ok(vec![g.id]);
        };
        let mut out = Vec::new();
        for id in ids {
            let g = self
                .db
                .get_security_group(project, id)
                .await
                .map_err(|e| match e {
                    DbError::NotFound(_) => {
                        ApiError::NotFound(format!("Security group {id} does not exist"))
                    }
                    e => net_error(e),
                })?;
            if !out.contains(&g.id) {
                out.push(g.id);
            }
        }
        Ok(out)
    }

    /// Makes an unbound port on a network the project may use.
    pub async fn create_api_port(&self, ctx: &Context, req: PortRequest) -> Result<Port, ApiError> {
        Self::require_write(ctx, "create_port")?;
        let project = req.project_id.clone().unwrap_or(ctx.project_id.clone());
        if project != ctx.project_id && !ctx.is_admin() {
            return Err(ApiError::Forbidden("create_port:project_id".into()));
        }
        // Neutron's default policy: a MAC is chosen by admins or the network's owner.
        if req.mac.is_some() && !ctx.is_admin() {
            let owner = self
                .db
                .get_network(&req.network_id)
                .await
                .map_err(port_error)?
                .project_id;
            if owner.as_deref() != Some(ctx.project_id.as_str()) {
                return Err(ApiError::Forbidden("create_port:mac_address".into()));
            }
        }
        let group_ids = self
            .port_groups(&project, req.security_groups.as_deref())
            .await?;
        let new = NewPort {
            project_id: project,
            network_id: req.network_id,
            name: req.name,
            address: req.address,
            mac: req.mac,
            admin_state_up: req.admin_state_up,
            group_ids,
        };
        let port = self.db.create_port(&new).await.map_err(port_error)?;
        tracing::info!(port = %port.id, network = %port.network_id, address = %port.address,
            project = %port.project_id, "port created");
        Ok(port)
    }

    /// Changes a port. New security groups of a bound port become its server's.
    pub async fn update_api_port(
        &self,
        ctx: &Context,
        id: &str,
        mut change: PortUpdate,
    ) -> Result<Port, ApiError> {
        let port = self.own_port(ctx, id, "update_port").await?;
        if let Some(ids) = change.group_ids.take() {
            let groups = self.port_groups(&port.project_id, Some(&ids)).await?;
            match &port.instance_id {
                Some(server) => self.set_server_groups(server, &port, &groups).await?,
                None => change.group_ids = Some(groups),
            }
        }
        let port = self.db.update_port(id, &change).await.map_err(port_error)?;
        tracing::info!(port = %port.id, address = %port.address, "port updated");
        Ok(port)
    }

    /// Makes `groups` the server's security groups.
    async fn set_server_groups(
        &self,
        server: &str,
        port: &Port,
        groups: &[String],
    ) -> Result<(), ApiError> {
        let now: Vec<String> = self
            .db
            .groups_of_instance(server)
            .await
            .map_err(net_error)?
            .into_iter()
            .map(|g| g.id)
            .collect();
        for g in groups.iter().filter(|g| !now.contains(g)) {
            self.db
                .add_instance_to_group(server, &port.project_id, g)
                .await
                .map_err(net_error)?;
        }
        for g in now.iter().filter(|g| !groups.contains(g)) {
            self.db
                .remove_instance_from_group(server, g)
                .await
                .map_err(net_error)?;
        }
        Ok(())
    }

    /// Deletes an unbound port; a server's port is detached through its server.
    pub async fn delete_api_port(&self, ctx: &Context, id: &str) -> Result<(), ApiError> {
        let port = self.own_port(ctx, id, "delete_port").await?;
        if let Some(server) = &port.instance_id {
            return Err(ApiError::Conflict(format!(
                "Port {id} is plugged into server {server}; detach it from the server \
                 (DELETE /servers/{server}/os-interface/{id}) or delete the server first"
            )));
        }
        self.db.delete_port(id).await.map_err(net_error)?;
        tracing::info!(port = %id, "port deleted");
        Ok(())
    }
}
