//! The Network API's shapes over the same tables: a network made before its subnet, the
//! one IPv4 subnet of a network (its addresses, as nova-network's network carried them),
//! and the subnets of an external network (its floating ranges).

use crate::floating::{range_from_row, NewRange, RANGE_COLUMNS};
use crate::networks::{
    bump, insert_fixed_ips, network_from_row, overlapping, plan_network, Network, NewNetwork,
    NETWORK_COLUMNS,
};
use crate::{get, now_ms, Db, DbError};
use serde::Serialize;
use std::net::Ipv4Addr;

/// A network without addresses yet (the Network API's `POST /networks`).
#[derive(Debug, Clone, Default)]
pub struct BareNetwork {
    pub name: String,
    /// `None`: shared by every project.
    pub project_id: Option<String>,
    pub external: bool,
    /// Default 1500.
    pub mtu: Option<i64>,
    /// The driver that will serve it once it has a subnet (ignored for external ones).
    pub driver: String,
    /// The operator's bridge it lives on; for an external network, where its floating
    /// addresses are.
    pub uplink: Option<String>,
}

/// A subnet: the one IPv4 range of a network, or a floating range of an external network.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Subnet {
    pub id: String,
    pub name: String,
    pub network_id: String,
    /// The network's project (`None`: shared).
    pub project_id: Option<String>,
    pub cidr: String,
    pub gateway: Option<String>,
    /// The allocation pool.
    pub range_start: String,
    pub range_end: String,
    pub dns: Vec<String>,
    pub dhcp: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A new subnet; `None`s take the defaults.
#[derive(Debug, Clone, Default)]
pub struct NewSubnet {
    pub name: String,
    pub cidr: String,
    pub gateway: Option<String>,
    pub range_start: Option<String>,
    pub range_end: Option<String>,
    pub dns: Vec<String>,
    pub dhcp: bool,
    /// Where the floating addresses of an external network's subnet live.
    pub interface: String,
}

fn network_subnet(n: &Network) -> Option<Subnet> {
    Some(Subnet {
        id: n.subnet_id.clone()?,
        name: n.subnet_name.clone(),
        network_id: n.id.clone(),
        project_id: n.project_id.clone(),
        cidr: n.cidr.clone(),
        gateway: Some(n.gateway.clone()),
        range_start: n.range_start.clone(),
        range_end: n.range_end.clone(),
        dns: n.dns.clone(),
        dhcp: n.dhcp,
        created_at: n.created_at,
        updated_at: n.updated_at,
    })
    .filter(|_| !n.cidr.is_empty())
}

fn range_subnet(r: crate::floating::FloatingRange, net: &Network) -> Subnet {
    Subnet {
        id: r.id,
        name: r.name,
        network_id: net.id.clone(),
        project_id: net.project_id.clone(),
        cidr: r.cidr,
        gateway: r.gateway,
        range_start: r.range_start,
        range_end: r.range_end,
        dns: r.dns,
        dhcp: false,
        created_at: r.created_at,
        updated_at: r.created_at,
    }
}

impl Db {
    /// Makes a network with no subnet yet.
    pub async fn create_bare_network(&self, new: &BareNetwork) -> Result<Network, DbError> {
        let name = new.name.trim();
        if let Some(m) = new.mtu {
            if !(576..=9216).contains(&m) {
                return Err(DbError::InvalidNetwork(format!(
                    "MTU {m} is not between 576 and 9216"
                )));
            }
        }
        let id = uuid::Uuid::new_v4().to_string();
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        bump(&mut tx, "networks").await?;
        sqlx::query(
            "INSERT INTO networks (id, name, project_id, cidr, first_address, last_address, \
             gateway, range_start, range_end, dns, mtu, dhcp, driver, multi_host, created_at, \
             updated_at, external, uplink) VALUES ($1, $2, $3, '', 1, 0, '', '', '', '', $4, 0, \
             $5, 0, $6, $6, $7, $8)",
        )
        .bind(&id)
        .bind(name)
        .bind(&new.project_id)
        .bind(new.mtu.unwrap_or(1500))
        .bind(if new.external {
            "external"
        } else {
            new.driver.trim()
        })
        .bind(now)
        .bind(new.external as i64)
        .bind(&new.uplink)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.get_network(&id).await
    }

    /// Every network a project sees through the Network API (its own, the shared and the
    /// external ones, with or without a subnet), or every one.
    pub async fn network_records(&self, project: Option<&str>) -> Result<Vec<Network>, DbError> {
        let rows = match project {
            Some(p) => {
                sqlx::query(&format!(
                    "SELECT {NETWORK_COLUMNS} FROM networks WHERE project_id = $1 \
                     OR project_id IS NULL OR external = 1 ORDER BY created_at, id"
                ))
                .bind(p)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(&format!(
                    "SELECT {NETWORK_COLUMNS} FROM networks ORDER BY created_at, id"
                ))
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(network_from_row).collect()
    }

    /// Renames a network and/or makes it shared (`Some(true)`) or the `owner`'s.
    pub async fn update_network(
        &self,
        id: &str,
        name: Option<&str>,
        shared: Option<bool>,
        owner: &str,
    ) -> Result<Network, DbError> {
        let net = self.get_network(id).await?;
        let project = match shared {
            Some(true) => None,
            Some(false) => net.project_id.clone().or_else(|| Some(owner.to_string())),
            None => net.project_id.clone(),
        };
        let mut tx = self.pool.begin().await?;
        bump(&mut tx, "networks").await?;
        if project.is_some() && net.project_id.is_none() {
            let other = sqlx::query(
                "SELECT COUNT(*) AS n FROM ports WHERE network_id = $1 AND project_id <> $2",
            )
            .bind(id)
            .bind(&project)
            .fetch_one(&mut *tx)
            .await?;
            if get::<i64>(&other, "n")? > 0 {
                return Err(DbError::NetworkInUse {
                    network: id.to_string(),
                    reason: "other projects have ports on it".into(),
                });
            }
        }
        sqlx::query(
            "UPDATE networks SET name = $1, project_id = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(name.map(str::trim).unwrap_or(&net.name))
        .bind(&project)
        .bind(now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.get_network(id).await
    }

    /// The subnets a project sees (those of the networks [`Db::network_records`] gives).
    pub async fn list_subnets(&self, project: Option<&str>) -> Result<Vec<Subnet>, DbError> {
        let nets = self.network_records(project).await?;
        let ranges = sqlx::query(&format!(
            "SELECT {RANGE_COLUMNS} FROM floating_ranges ORDER BY created_at, cidr"
        ))
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<Subnet> = nets.iter().filter_map(network_subnet).collect();
        for r in &ranges {
            let r = range_from_row(r)?;
            if let Some(n) = nets.iter().find(|n| Some(&n.id) == r.network_id.as_ref()) {
                out.push(range_subnet(r, n));
            }
        }
        out.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(out)
    }

    /// One subnet, whoever's it is.
    pub async fn get_subnet(&self, id: &str) -> Result<Subnet, DbError> {
        self.list_subnets(None)
            .await?
            .into_iter()
            .find(|s| s.id == id)
            .ok_or_else(|| DbError::NotFound(format!("Subnet {id}")))
    }

    /// Gives a network its subnet: its fixed addresses (one subnet per network here), or,
    /// for an external network, a floating range in its pool.
    pub async fn add_subnet(&self, network: &str, new: &NewSubnet) -> Result<Subnet, DbError> {
        let net = self.get_network(network).await?;
        if net.external {
            return self.add_external_subnet(&net, new).await;
        }
        let (cidr, gateway, start, end) = plan_network(&NewNetwork {
            name: net.name.clone(),
            cidr: new.cidr.clone(),
            gateway: new.gateway.clone(),
            range_start: new.range_start.clone(),
            range_end: new.range_end.clone(),
            dns: new.dns.clone(),
            driver: net.driver.clone(),
            ..NewNetwork::default()
        })?;
        if !net.cidr.is_empty() {
            return Err(DbError::Conflict(format!(
                "Network {network} already has its subnet; a network has one IPv4 subnet here"
            )));
        }
        let subnet_id = uuid::Uuid::new_v4().to_string();
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        bump(&mut tx, "networks").await?;
        if let Some(other) = overlapping(&mut tx, cidr.first(), cidr.last()).await? {
            return Err(DbError::AddressOverlap {
                cidr: cidr.to_string_form(),
                other,
            });
        }
        let done = sqlx::query(
            "UPDATE networks SET cidr = $1, first_address = $2, last_address = $3, \
             gateway = $4, range_start = $5, range_end = $6, dns = $7, dhcp = $8, \
             subnet_id = $9, subnet_name = $10, updated_at = $11 WHERE id = $12 AND cidr = ''",
        )
        .bind(cidr.to_string_form())
        .bind(cidr.first() as i64)
        .bind(cidr.last() as i64)
        .bind(Ipv4Addr::from(gateway).to_string())
        .bind(Ipv4Addr::from(start).to_string())
        .bind(Ipv4Addr::from(end).to_string())
        .bind(new.dns.join(","))
        .bind(new.dhcp as i64)
        .bind(&subnet_id)
        .bind(new.name.trim())
        .bind(now)
        .bind(network)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::Conflict(format!(
                "Network {network} already has its subnet"
            )));
        }
        insert_fixed_ips(&mut tx, network, start, end, gateway, now).await?;
        tx.commit().await?;
        self.get_subnet(&subnet_id).await
    }

    async fn add_external_subnet(&self, net: &Network, new: &NewSubnet) -> Result<Subnet, DbError> {
        let pool = match &net.pool {
            Some(p) => p.clone(),
            None => {
                let taken = self.list_pools().await?;
                if taken.contains(&net.name) || net.name.trim().is_empty() {
                    net.id.clone()
                } else {
                    net.name.clone()
                }
            }
        };
        let r = self
            .create_range(&NewRange {
                pool,
                cidr: new.cidr.clone(),
                interface: new.interface.clone(),
                gateway: new.gateway.clone(),
                network_id: Some(net.id.clone()),
                name: new.name.clone(),
                range_start: new.range_start.clone(),
                range_end: new.range_end.clone(),
                dns: new.dns.clone(),
            })
            .await?;
        Ok(range_subnet(r, net))
    }

    /// Renames a subnet and sets its name servers.
    pub async fn update_subnet(
        &self,
        id: &str,
        name: Option<&str>,
        dns: Option<&[String]>,
    ) -> Result<Subnet, DbError> {
        let s = self.get_subnet(id).await?;
        for d in dns.unwrap_or_default() {
            crate::networks::parse_ip("name server", d).map_err(DbError::InvalidNetwork)?;
        }
        let name = name.map(str::trim).unwrap_or(&s.name).to_string();
        let dns = dns.map(|d| d.join(",")).unwrap_or_else(|| s.dns.join(","));
        let mut tx = self.pool.begin().await?;
        bump(&mut tx, "networks").await?;
        let on_network = sqlx::query(
            "UPDATE networks SET subnet_name = $1, dns = $2, updated_at = $3 WHERE subnet_id = $4",
        )
        .bind(&name)
        .bind(&dns)
        .bind(now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if on_network.rows_affected() == 0 {
            sqlx::query("UPDATE floating_ranges SET name = $1, dns = $2 WHERE id = $3")
                .bind(&name)
                .bind(&dns)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.get_subnet(id).await
    }

    /// Takes a subnet away: a network's addresses (refused while a port or a router
    /// interface uses them), or an external network's floating range (refused while a
    /// project or a router holds one of its addresses).
    pub async fn delete_subnet(&self, id: &str) -> Result<(), DbError> {
        let s = self.get_subnet(id).await?;
        let net = self.get_network(&s.network_id).await?;
        if net.external {
            return self.delete_floating_range(&s.cidr).await;
        }
        let mut tx = self.pool.begin().await?;
        bump(&mut tx, "networks").await?;
        let users = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM ports WHERE network_id = $1) AS ports, \
             (SELECT COUNT(*) FROM router_interfaces WHERE network_id = $1) AS routers",
        )
        .bind(&net.id)
        .fetch_one(&mut *tx)
        .await?;
        let (ports, routers): (i64, i64) = (get(&users, "ports")?, get(&users, "routers")?);
        if ports > 0 || routers > 0 {
            return Err(DbError::NetworkInUse {
                network: net.id.clone(),
                reason: format!(
                    "subnet {id} has {ports} port(s) and {routers} router interface(s)"
                ),
            });
        }
        sqlx::query("DELETE FROM fixed_ips WHERE network_id = $1")
            .bind(&net.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE networks SET cidr = '', first_address = 1, last_address = 0, gateway = '', \
             range_start = '', range_end = '', dns = '', subnet_id = NULL, subnet_name = '', \
             updated_at = $1 WHERE id = $2",
        )
        .bind(now_ms())
        .bind(&net.id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes an external network with its floating ranges (refused while an address of
    /// one is held or a router uses it as its gateway).
    pub async fn delete_external_network(&self, id: &str) -> Result<(), DbError> {
        let ranges = sqlx::query("SELECT cidr FROM floating_ranges WHERE network_id = $1")
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        let routers =
            sqlx::query("SELECT COUNT(*) AS n FROM routers WHERE external_network_id = $1")
                .bind(id)
                .fetch_one(&self.pool)
                .await?;
        if get::<i64>(&routers, "n")? > 0 {
            return Err(DbError::NetworkInUse {
                network: id.to_string(),
                reason: "a router has its gateway on it".into(),
            });
        }
        for r in &ranges {
            self.delete_floating_range(&get::<String>(r, "cidr")?)
                .await?;
        }
        self.delete_network(id).await
    }
}
