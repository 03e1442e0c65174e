//! Routers of the Network API: a project's own, joining its networks to an external one.

use crate::network::net_error;
use crate::subnets::sees;
use crate::{ApiError, ComputeApi, Context};
use metacloud_db::routers::{Router, RouterInterface};
use metacloud_db::DbError;

impl ComputeApi {
    /// The caller's project's routers (every one for admins with `all_projects`).
    pub async fn list_routers(
        &self,
        ctx: &Context,
        all_projects: bool,
    ) -> Result<Vec<Router>, ApiError> {
        let project = (!(ctx.is_admin() && all_projects)).then_some(ctx.project_id.as_str());
        self.db.list_routers(project).await.map_err(net_error)
    }

    /// A router of the caller's project (any for admins); 404 otherwise.
    pub async fn router(&self, ctx: &Context, id: &str) -> Result<Router, ApiError> {
        let not_found = || ApiError::NotFound(format!("Router {id}"));
        let r = self.db.get_router(id).await.map_err(|e| match e {
            DbError::NotFound(_) => not_found(),
            e => net_error(e),
        })?;
        if !ctx.is_admin() && r.project_id != ctx.project_id {
            return Err(not_found());
        }
        Ok(r)
    }

    /// A router the caller may change.
    async fn own_router(&self, ctx: &Context, id: &str) -> Result<Router, ApiError> {
        let r = self.router(ctx, id).await?;
        Self::require_write(ctx, "update_router")?;
        Ok(r)
    }

    /// Makes a router for `project` (the caller's own unless an admin names another), its
    /// gateway on `gateway` if given.
    pub async fn create_router(
        &self,
        ctx: &Context,
        project: Option<&str>,
        name: &str,
        admin_state_up: bool,
        gateway: Option<&str>,
    ) -> Result<Router, ApiError> {
        Self::require_write(ctx, "create_router")?;
        let project = project.unwrap_or(&ctx.project_id);
        if project != ctx.project_id && !ctx.is_admin() {
            return Err(ApiError::Forbidden("create_router:project_id".into()));
        }
        let r = self
            .db
            .create_router(project, name, admin_state_up)
            .await
            .map_err(net_error)?;
        tracing::info!(router = %r.id, "router created");
        match gateway {
            Some(net) => match self
                .update_router(ctx, &r.id, None, None, Some(Some(net)))
                .await
            {
                Ok(r) => Ok(r),
                Err(e) => {
                    let _ = self.db.delete_router(&r.id).await;
                    Err(e)
                }
            },
            None => Ok(r),
        }
    }

    /// Renames a router, and sets (`Some(Some(net))`) or clears (`Some(None)`) its gateway.
    pub async fn update_router(
        &self,
        ctx: &Context,
        id: &str,
        name: Option<&str>,
        admin_state_up: Option<bool>,
        gateway: Option<Option<&str>>,
    ) -> Result<Router, ApiError> {
        self.own_router(ctx, id).await?;
        if let Some(net) = gateway {
            if let Some(net) = net {
                let n = self.db.get_network(net).await.ok().filter(|n| sees(ctx, n));
                match n {
                    None => return Err(ApiError::NotFound(format!("Network {net}"))),
                    Some(n) if !n.external => {
                        return Err(ApiError::BadRequest(format!(
                            "Bad router request: Network {net} is not an external network."
                        )))
                    }
                    Some(_) => {}
                }
            }
            self.db
                .set_router_gateway(id, net)
                .await
                .map_err(|e| match e {
                    DbError::FloatingIpsExhausted { .. } => ApiError::Conflict(format!(
                        "No more IP addresses available on network {}.",
                        net.unwrap_or_default()
                    )),
                    e => net_error(e),
                })?;
            tracing::info!(router = %id, gateway = ?net, "router gateway set");
        }
        if name.is_some() || admin_state_up.is_some() {
            self.db
                .rename_router(id, name, admin_state_up)
                .await
                .map_err(net_error)?;
        }
        self.router(ctx, id).await
    }

    /// Deletes a router without interfaces.
    pub async fn delete_router(&self, ctx: &Context, id: &str) -> Result<(), ApiError> {
        self.own_router(ctx, id).await?;
        self.db.delete_router(id).await.map_err(|e| match e {
            DbError::Conflict(m) => ApiError::Conflict(format!("Router {id} is in use: {m}")),
            e => net_error(e),
        })?;
        tracing::info!(router = %id, "router deleted");
        Ok(())
    }

    /// Joins a subnet's network to the router (the network must be the router's project's,
    /// or any for admins).
    pub async fn add_router_interface(
        &self,
        ctx: &Context,
        id: &str,
        subnet: &str,
    ) -> Result<RouterInterface, ApiError> {
        let r = self.own_router(ctx, id).await?;
        let s = self.subnet(ctx, subnet).await?;
        let n = self.network_record(ctx, &s.network_id).await?;
        if n.external {
            return Err(ApiError::BadRequest(format!(
                "Bad router request: Subnet {subnet} is on an external network; set it as the \
                 router's gateway instead."
            )));
        }
        if !ctx.is_admin() && n.project_id.as_deref() != Some(r.project_id.as_str()) {
            return Err(ApiError::NotFound(format!("Subnet {subnet}")));
        }
        let i = self
            .db
            .add_router_interface(id, subnet)
            .await
            .map_err(|e| match e {
                DbError::Conflict(m) => ApiError::BadRequest(m),
                e => net_error(e),
            })?;
        tracing::info!(router = %id, subnet = %subnet, "router interface added");
        Ok(i)
    }

    /// Joins the network of an unbound port of the router's project to the router; the
    /// port becomes its interface.
    pub async fn add_router_interface_port(
        &self,
        ctx: &Context,
        id: &str,
        port: &str,
    ) -> Result<RouterInterface, ApiError> {
        let r = self.own_router(ctx, id).await?;
        let p = self.db.get_port(port).await.map_err(|e| match e {
            DbError::NotFound(_) => ApiError::NotFound(format!("Port {port}")),
            e => net_error(e),
        })?;
        if p.project_id != r.project_id || (!ctx.is_admin() && p.project_id != ctx.project_id) {
            return Err(ApiError::NotFound(format!("Port {port}")));
        }
        let i = self
            .db
            .add_router_interface_port(id, port)
            .await
            .map_err(|e| match e {
                DbError::Conflict(m) | DbError::InvalidNetwork(m) => ApiError::BadRequest(m),
                e => net_error(e),
            })?;
        tracing::info!(router = %id, port = %port, "router interface added by port");
        Ok(i)
    }

    /// Takes a subnet (or an interface port) off the router.
    pub async fn remove_router_interface(
        &self,
        ctx: &Context,
        id: &str,
        subnet: Option<&str>,
        port: Option<&str>,
    ) -> Result<RouterInterface, ApiError> {
        self.own_router(ctx, id).await?;
        if subnet.is_none() && port.is_none() {
            return Err(ApiError::BadRequest(
                "Bad router request: Either subnet_id or port_id must be specified.".into(),
            ));
        }
        let i = self
            .db
            .remove_router_interface(id, subnet, port)
            .await
            .map_err(net_error)?;
        tracing::info!(router = %id, network = %i.network_id, "router interface removed");
        Ok(i)
    }
}
