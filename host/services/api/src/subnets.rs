//! Networks and subnets as the Network API makes them: a network first (possibly
//! external or shared), then its subnet. Members make their own project's; external and
//! shared networks, and other projects', are the admins'.

use crate::network::{net_error, DEFAULT_DRIVER, DEFAULT_PUBLIC_INTERFACE};
use crate::{ApiError, ComputeApi, Context};
use metacloud_db::networks::Network;
use metacloud_db::subnets::{BareNetwork, NewSubnet, Subnet};
use metacloud_db::DbError;

const POLICY: &str = "network";

/// Whether `ctx` sees the network: admins every one; others their own, the shared and the
/// external ones.
pub(crate) fn sees(ctx: &Context, n: &Network) -> bool {
    ctx.is_admin() || n.external || n.project_id.as_deref().is_none_or(|p| p == ctx.project_id)
}

/// Whether `ctx` may change the network: admins, or members for their project's own.
fn owns(ctx: &Context, n: &Network) -> bool {
    ctx.is_admin() || (ctx.can_write() && n.project_id.as_deref() == Some(ctx.project_id.as_str()))
}

impl ComputeApi {
    /// The networks the caller sees (every one for admins with `all_projects`).
    pub async fn network_records(
        &self,
        ctx: &Context,
        all_projects: bool,
    ) -> Result<Vec<Network>, ApiError> {
        let project = (!(ctx.is_admin() && all_projects)).then_some(ctx.project_id.as_str());
        self.db.network_records(project).await.map_err(net_error)
    }

    /// A network the caller sees (404 otherwise).
    pub async fn network_record(&self, ctx: &Context, id: &str) -> Result<Network, ApiError> {
        let not_found = || ApiError::NotFound(format!("Network {id}"));
        let n = self.db.get_network(id).await.map_err(|e| match e {
            DbError::NotFound(_) => not_found(),
            e => net_error(e),
        })?;
        if !sees(ctx, &n) {
            return Err(not_found());
        }
        Ok(n)
    }

    /// Makes a network without a subnet: a member's for its own project; external ones,
    /// shared ones (`project_id` none) and other projects' by admins.
    pub async fn create_bare_network(
        &self,
        ctx: &Context,
        mut new: BareNetwork,
    ) -> Result<Network, ApiError> {
        Self::require_write(ctx, "create_network")?;
        let own = new.project_id.as_deref() == Some(ctx.project_id.as_str());
        if !ctx.is_admin() {
            if new.external {
                return Err(ApiError::Forbidden("create_network:router:external".into()));
            }
            if new.uplink.is_some() {
                return Err(ApiError::Forbidden(
                    "create_network:provider:physical_network".into(),
                ));
            }
            if !own {
                return Err(ApiError::Forbidden(if new.project_id.is_none() {
                    "create_network:shared".into()
                } else {
                    "create_network:project_id".into()
                }));
            }
        }
        if new.driver.trim().is_empty() {
            new.driver = DEFAULT_DRIVER.into();
        }
        let n = self.db.create_bare_network(&new).await.map_err(net_error)?;
        tracing::info!(network = %n.id, name = %n.name, external = n.external, "network created");
        Ok(n)
    }

    /// Renames a network; `shared` (admins only) makes it every project's or its owner's.
    pub async fn update_network_record(
        &self,
        ctx: &Context,
        id: &str,
        name: Option<&str>,
        shared: Option<bool>,
    ) -> Result<Network, ApiError> {
        let n = self.network_record(ctx, id).await?;
        if !owns(ctx, &n) {
            return Err(ApiError::Forbidden(format!("{POLICY}:update_network")));
        }
        if shared.is_some_and(|s| s != n.project_id.is_none()) && !ctx.is_admin() {
            return Err(ApiError::Forbidden("update_network:shared".into()));
        }
        self.db
            .update_network(id, name, shared, &ctx.project_id)
            .await
            .map_err(net_error)
    }

    /// Deletes a network with its subnet (refused while ports, router interfaces or held
    /// floating addresses use it).
    pub async fn delete_network_record(&self, ctx: &Context, id: &str) -> Result<(), ApiError> {
        let n = self.network_record(ctx, id).await?;
        if !owns(ctx, &n) || (n.external && !ctx.is_admin()) {
            return Err(ApiError::Forbidden(format!("{POLICY}:delete_network")));
        }
        let done = if n.external {
            self.db.delete_external_network(id).await
        } else {
            self.db.delete_network(id).await
        };
        done.map_err(|e| match e {
            DbError::NetworkInUse { network, reason } => ApiError::Conflict(format!(
                "Unable to complete operation on network {network}. There are one or more \
                 ports still in use on the network ({reason})."
            )),
            DbError::Conflict(m) => ApiError::Conflict(m),
            e => net_error(e),
        })?;
        tracing::info!(network = %id, "network deleted");
        Ok(())
    }

    /// The subnets of the networks the caller sees.
    pub async fn list_subnets(
        &self,
        ctx: &Context,
        all_projects: bool,
    ) -> Result<Vec<Subnet>, ApiError> {
        let project = (!(ctx.is_admin() && all_projects)).then_some(ctx.project_id.as_str());
        self.db.list_subnets(project).await.map_err(net_error)
    }

    /// A subnet of a network the caller sees (404 otherwise).
    pub async fn subnet(&self, ctx: &Context, id: &str) -> Result<Subnet, ApiError> {
        let not_found = || ApiError::NotFound(format!("Subnet {id}"));
        let s = self.db.get_subnet(id).await.map_err(|e| match e {
            DbError::NotFound(_) => not_found(),
            e => net_error(e),
        })?;
        self.network_record(ctx, &s.network_id)
            .await
            .map_err(|_| not_found())?;
        Ok(s)
    }

    /// Gives a network its subnet (the network's owner or an admin; an external network's
    /// by admins only: its addresses become a floating range).
    pub async fn create_subnet(
        &self,
        ctx: &Context,
        network: &str,
        mut new: NewSubnet,
    ) -> Result<Subnet, ApiError> {
        let n = self.network_record(ctx, network).await?;
        if !owns(ctx, &n) || (n.external && !ctx.is_admin()) {
            return Err(ApiError::Forbidden(format!("{POLICY}:create_subnet")));
        }
        if new.interface.trim().is_empty() {
            new.interface = n
                .uplink
                .clone()
                .unwrap_or_else(|| DEFAULT_PUBLIC_INTERFACE.into());
        }
        let s = self.db.add_subnet(network, &new).await.map_err(net_error)?;
        tracing::info!(subnet = %s.id, network = %network, cidr = %s.cidr, "subnet created");
        Ok(s)
    }

    /// Renames a subnet and sets its name servers (its network's owner or an admin).
    pub async fn update_subnet(
        &self,
        ctx: &Context,
        id: &str,
        name: Option<&str>,
        dns: Option<&[String]>,
    ) -> Result<Subnet, ApiError> {
        let s = self.subnet(ctx, id).await?;
        let n = self.network_record(ctx, &s.network_id).await?;
        if !owns(ctx, &n) || (n.external && !ctx.is_admin()) {
            return Err(ApiError::Forbidden(format!("{POLICY}:update_subnet")));
        }
        self.db
            .update_subnet(id, name, dns)
            .await
            .map_err(net_error)
    }

    /// Takes a subnet away (refused while ports or routers use its addresses).
    pub async fn delete_subnet(&self, ctx: &Context, id: &str) -> Result<(), ApiError> {
        let s = self.subnet(ctx, id).await?;
        let n = self.network_record(ctx, &s.network_id).await?;
        if !owns(ctx, &n) || (n.external && !ctx.is_admin()) {
            return Err(ApiError::Forbidden(format!("{POLICY}:delete_subnet")));
        }
        self.db.delete_subnet(id).await.map_err(|e| match e {
            DbError::NetworkInUse { reason, .. } => ApiError::Conflict(format!(
                "Unable to complete operation on subnet {id}: {reason}."
            )),
            DbError::Conflict(m) => ApiError::Conflict(m),
            e => net_error(e),
        })?;
        tracing::info!(subnet = %id, "subnet deleted");
        Ok(())
    }
}
