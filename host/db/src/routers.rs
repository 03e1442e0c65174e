//! Routers (the Network API's): a project's router joins its networks to an external
//! network through a gateway address taken from that network's floating range; each
//! joined network's gateway address is the router's interface on it.

use crate::networks::bump;
use crate::{get, now_ms, Db, DbError};
use serde::Serialize;
use sqlx::any::AnyRow;

/// A router's interface on one network.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RouterInterface {
    pub port_id: String,
    pub network_id: String,
    pub subnet_id: String,
    /// The network's gateway address.
    pub address: String,
    pub created_at: i64,
}

/// A router with its gateway and interfaces.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Router {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub admin_state_up: bool,
    pub external_network_id: Option<String>,
    /// Its address on the external network.
    pub gateway_address: Option<String>,
    pub interfaces: Vec<RouterInterface>,
    pub created_at: i64,
    pub updated_at: i64,
}

const ROUTER_COLUMNS: &str = "id, project_id, name, admin_state_up, external_network_id, \
    gateway_address, created_at, updated_at";

fn router_from_row(r: &AnyRow) -> Result<Router, DbError> {
    Ok(Router {
        id: get(r, "id")?,
        project_id: get(r, "project_id")?,
        name: get(r, "name")?,
        admin_state_up: get::<i64>(r, "admin_state_up")? != 0,
        external_network_id: get(r, "external_network_id")?,
        gateway_address: get(r, "gateway_address")?,
        interfaces: Vec::new(),
        created_at: get(r, "created_at")?,
        updated_at: get(r, "updated_at")?,
    })
}

fn not_found(id: &str) -> DbError {
    DbError::NotFound(format!("Router {id}"))
}

impl Db {
    async fn with_interfaces(&self, mut routers: Vec<Router>) -> Result<Vec<Router>, DbError> {
        let rows = sqlx::query(
            "SELECT i.router_id, i.port_id, i.network_id, i.created_at, n.subnet_id, n.gateway \
             FROM router_interfaces i JOIN networks n ON n.id = i.network_id \
             ORDER BY i.created_at, i.port_id",
        )
        .fetch_all(&self.pool)
        .await?;
        for r in &rows {
            let router: String = get(r, "router_id")?;
            if let Some(x) = routers.iter_mut().find(|x| x.id == router) {
                x.interfaces.push(RouterInterface {
                    port_id: get(r, "port_id")?,
                    network_id: get(r, "network_id")?,
                    subnet_id: get::<Option<String>>(r, "subnet_id")?.unwrap_or_default(),
                    address: get(r, "gateway")?,
                    created_at: get(r, "created_at")?,
                });
            }
        }
        Ok(routers)
    }

    /// A project's routers, or every one.
    pub async fn list_routers(&self, project: Option<&str>) -> Result<Vec<Router>, DbError> {
        let rows = match project {
            Some(p) => {
                sqlx::query(&format!(
                    "SELECT {ROUTER_COLUMNS} FROM routers WHERE project_id = $1 \
                     ORDER BY created_at, id"
                ))
                .bind(p)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(&format!(
                    "SELECT {ROUTER_COLUMNS} FROM routers ORDER BY created_at, id"
                ))
                .fetch_all(&self.pool)
                .await?
            }
        };
        let routers = rows.iter().map(router_from_row).collect::<Result<_, _>>()?;
        self.with_interfaces(routers).await
    }

    pub async fn get_router(&self, id: &str) -> Result<Router, DbError> {
        let row = sqlx::query(&format!(
            "SELECT {ROUTER_COLUMNS} FROM routers WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| not_found(id))?;
        let r = router_from_row(&row)?;
        Ok(self.with_interfaces(vec![r]).await?.remove(0))
    }

    pub async fn create_router(
        &self,
        project: &str,
        name: &str,
        admin_state_up: bool,
    ) -> Result<Router, DbError> {
        let id = uuid::Uuid::new_v4().to_string();
        let now = now_ms();
        sqlx::query(
            "INSERT INTO routers (id, project_id, name, admin_state_up, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(&id)
        .bind(project)
        .bind(name.trim())
        .bind(admin_state_up as i64)
        .bind(now)
        .execute(&self.pool)
        .await?;
        self.get_router(&id).await
    }

    pub async fn rename_router(
        &self,
        id: &str,
        name: Option<&str>,
        admin_state_up: Option<bool>,
    ) -> Result<Router, DbError> {
        let r = self.get_router(id).await?;
        sqlx::query(
            "UPDATE routers SET name = $1, admin_state_up = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(name.map(str::trim).unwrap_or(&r.name))
        .bind(admin_state_up.unwrap_or(r.admin_state_up) as i64)
        .bind(now_ms())
        .bind(id)
        .execute(&self.pool)
        .await?;
        self.get_router(id).await
    }

    /// Points the router's gateway at `network` (an external network with a free floating
    /// address, which the router takes) or clears it (`None`, giving the address back).
    pub async fn set_router_gateway(
        &self,
        id: &str,
        network: Option<&str>,
    ) -> Result<Router, DbError> {
        let r = self.get_router(id).await?;
        if r.external_network_id.as_deref() == network {
            return Ok(r);
        }
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        bump(&mut tx, "networks").await?;
        sqlx::query(
            "UPDATE floating_ips SET router_id = NULL, updated_at = $1 WHERE router_id = $2",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let address = match network {
            None => None,
            Some(net) => {
                let row = sqlx::query(
                    "SELECT f.id, f.address FROM floating_ips f \
                     JOIN floating_ranges r ON r.cidr = f.range_cidr \
                     JOIN networks n ON n.id = r.network_id \
                     WHERE n.id = $1 AND n.external = 1 AND f.project_id IS NULL \
                     AND f.router_id IS NULL ORDER BY f.id LIMIT 1",
                )
                .bind(net)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    let ext = sqlx::query("SELECT external FROM networks WHERE id = $1")
                        .bind(net)
                        .fetch_optional(&mut *tx)
                        .await?;
                    return Err(match ext {
                        None => DbError::NotFound(format!("Network {net}")),
                        Some(e) if get::<i64>(&e, "external")? == 0 => DbError::InvalidNetwork(
                            format!("Network {net} is not an external network"),
                        ),
                        Some(_) => DbError::FloatingIpsExhausted {
                            pool: net.to_string(),
                        },
                    });
                };
                let fid: i64 = get(&row, "id")?;
                sqlx::query(
                    "UPDATE floating_ips SET router_id = $1, updated_at = $2 WHERE id = $3",
                )
                .bind(id)
                .bind(now)
                .bind(fid)
                .execute(&mut *tx)
                .await?;
                Some(get::<String>(&row, "address")?)
            }
        };
        sqlx::query(
            "UPDATE routers SET external_network_id = $1, gateway_address = $2, updated_at = $3 \
             WHERE id = $4",
        )
        .bind(network)
        .bind(&address)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.get_router(id).await
    }

    /// Joins a network (by its subnet) to a router: the network's gateway address becomes
    /// the router's interface. A network joins at most one router.
    pub async fn add_router_interface(
        &self,
        id: &str,
        subnet: &str,
    ) -> Result<RouterInterface, DbError> {
        self.join_router(id, subnet, None).await
    }

    /// Joins the network of an unbound port to a router: the port becomes the router's
    /// interface (its id kept, its address given back: a router's address on a network
    /// is the subnet's gateway here).
    pub async fn add_router_interface_port(
        &self,
        id: &str,
        port: &str,
    ) -> Result<RouterInterface, DbError> {
        let p = self.get_port(port).await?;
        if let Some(server) = p.instance_id {
            return Err(DbError::PortInUse {
                port: port.to_string(),
                server,
            });
        }
        let net = self.get_network(&p.network_id).await?;
        let with_addresses = net.has_addresses();
        let subnet = net
            .subnet_id
            .filter(|_| with_addresses)
            .ok_or_else(|| DbError::InvalidNetwork(format!("Port {port} has no subnet")))?;
        self.join_router(id, &subnet, Some(&p)).await
    }

    async fn join_router(
        &self,
        id: &str,
        subnet: &str,
        port: Option<&crate::ports::Port>,
    ) -> Result<RouterInterface, DbError> {
        self.get_router(id).await?;
        let row = sqlx::query("SELECT id FROM networks WHERE subnet_id = $1 AND external = 0")
            .bind(subnet)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| DbError::NotFound(format!("Subnet {subnet}")))?;
        let network: String = get(&row, "id")?;
        let mut tx = self.pool.begin().await?;
        bump(&mut tx, "networks").await?;
        let port = match port {
            Some(p) => {
                crate::ports::remove_port(&mut tx, p).await?;
                p.id.clone()
            }
            None => uuid::Uuid::new_v4().to_string(),
        };
        let done = sqlx::query(
            "INSERT INTO router_interfaces (network_id, router_id, port_id, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (network_id) DO NOTHING",
        )
        .bind(&network)
        .bind(id)
        .bind(&port)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::Conflict(format!(
                "Subnet {subnet} is already joined to a router"
            )));
        }
        tx.commit().await?;
        self.get_router(id)
            .await?
            .interfaces
            .into_iter()
            .find(|i| i.port_id == port)
            .ok_or_else(|| not_found(id))
    }

    /// Takes a network (by its subnet or the interface's port) off a router.
    pub async fn remove_router_interface(
        &self,
        id: &str,
        subnet: Option<&str>,
        port: Option<&str>,
    ) -> Result<RouterInterface, DbError> {
        let r = self.get_router(id).await?;
        let found = r
            .interfaces
            .into_iter()
            .find(|i| Some(i.subnet_id.as_str()) == subnet || Some(i.port_id.as_str()) == port)
            .ok_or_else(|| {
                DbError::NotFound(format!(
                    "Router {id} has no interface on {}",
                    subnet.or(port).unwrap_or("that subnet")
                ))
            })?;
        let mut tx = self.pool.begin().await?;
        bump(&mut tx, "networks").await?;
        sqlx::query("DELETE FROM router_interfaces WHERE port_id = $1")
            .bind(&found.port_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(found)
    }

    /// Deletes a router without interfaces, giving its gateway address back.
    pub async fn delete_router(&self, id: &str) -> Result<(), DbError> {
        let r = self.get_router(id).await?;
        if !r.interfaces.is_empty() {
            return Err(DbError::Conflict(format!(
                "Router {id} still has {} interface(s)",
                r.interfaces.len()
            )));
        }
        let mut tx = self.pool.begin().await?;
        bump(&mut tx, "networks").await?;
        sqlx::query(
            "UPDATE floating_ips SET router_id = NULL, updated_at = $1 WHERE router_id = $2",
        )
        .bind(now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM routers WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
