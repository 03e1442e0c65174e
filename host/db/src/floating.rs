//! Floating addresses: ranges the operator makes in named pools (`nova-manage floating
//! create`), which projects allocate against their quota and associate with ports.

use crate::networks::in_marks;
use crate::networks::{
    bump, host_scope, overlapping, parse_ip, value_rows, Cidr, MAX_RANGE_ADDRESSES,
};
use crate::quotas::{reserve_limited, unreserve};
use crate::{get, now_ms, Db, DbError};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};
use std::net::Ipv4Addr;

/// The quota resource floating addresses count against.
pub const FLOATING_IPS: &str = "floating_ips";

/// A range of floating addresses.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FloatingRange {
    pub cidr: String,
    pub pool: String,
    /// The operator's bridge or interface the addresses live on.
    pub interface: String,
    pub gateway: Option<String>,
    pub created_at: i64,
    /// The Network API's view: the range is a subnet of an external network.
    pub id: String,
    pub name: String,
    pub network_id: Option<String>,
    /// The addresses handed out (the allocation pool), inside `cidr`.
    pub range_start: String,
    pub range_end: String,
    pub dns: Vec<String>,
}

/// A new floating range; `None`s take the defaults.
#[derive(Debug, Clone, Default)]
pub struct NewRange {
    pub pool: String,
    pub cidr: String,
    pub interface: String,
    pub gateway: Option<String>,
    /// The external network it belongs to; `None`: the pool's (made if the pool is new).
    pub network_id: Option<String>,
    pub name: String,
    /// Default: every host address but the gateway.
    pub range_start: Option<String>,
    pub range_end: Option<String>,
    pub dns: Vec<String>,
}

pub(crate) const RANGE_COLUMNS: &str = "cidr, pool, interface, gateway, created_at, id, name, \
    network_id, first_address, last_address, range_start, range_end, dns";

/// A floating address, with where it points when associated.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FloatingIp {
    pub address: String,
    pub pool: String,
    pub interface: String,
    /// `None`: free in its pool.
    pub project_id: Option<String>,
    pub port_id: Option<String>,
    /// The fixed address of the associated port.
    pub fixed_address: Option<String>,
    /// The host of the associated port.
    pub host: Option<String>,
    pub auto_assigned: bool,
}

const FLOATING_SELECT: &str = "SELECT f.address, f.pool, r.interface, f.project_id, \
    f.port_id, p.address AS fixed_address, p.host AS host, f.auto_assigned \
    FROM floating_ips f JOIN floating_ranges r ON r.cidr = f.range_cidr \
    LEFT JOIN ports p ON p.id = f.port_id";

fn floating_from_row(r: &AnyRow) -> Result<FloatingIp, DbError> {
    Ok(FloatingIp {
        address: get(r, "address")?,
        pool: get(r, "pool")?,
        interface: get(r, "interface")?,
        project_id: get(r, "project_id")?,
        port_id: get(r, "port_id")?,
        fixed_address: get(r, "fixed_address")?,
        host: get(r, "host")?,
        auto_assigned: get::<i64>(r, "auto_assigned")? != 0,
    })
}

pub(crate) fn range_from_row(r: &AnyRow) -> Result<FloatingRange, DbError> {
    let c = Cidr::parse(&get::<String>(r, "cidr")?).map_err(DbError::InvalidNetwork)?;
    let (first, last) = host_span(&c);
    let dns: String = get(r, "dns")?;
    Ok(FloatingRange {
        cidr: get(r, "cidr")?,
        pool: get(r, "pool")?,
        interface: get(r, "interface")?,
        gateway: get(r, "gateway")?,
        created_at: get(r, "created_at")?,
        id: get::<Option<String>>(r, "id")?.unwrap_or_else(|| c.to_string_form()),
        name: get(r, "name")?,
        network_id: get(r, "network_id")?,
        range_start: get::<Option<String>>(r, "range_start")?
            .unwrap_or_else(|| Ipv4Addr::from(first).to_string()),
        range_end: get::<Option<String>>(r, "range_end")?
            .unwrap_or_else(|| Ipv4Addr::from(last).to_string()),
        dns: dns
            .split(',')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
    })
}

/// The host addresses of a floating range's CIDR (all of a /31 or /32).
fn host_span(c: &Cidr) -> (u32, u32) {
    if c.prefix >= 31 {
        (c.first(), c.last())
    } else {
        (c.first() + 1, c.last() - 1)
    }
}

/// The external network of `pool`, made (shared, named after the pool) if the pool has
/// none yet.
async fn pool_network(
    tx: &mut Transaction<'_, Any>,
    pool: &str,
    now: i64,
) -> Result<String, DbError> {
    let row = sqlx::query(
        "SELECT network_id FROM floating_ranges WHERE pool = $1 AND network_id IS NOT NULL \
         LIMIT 1",
    )
    .bind(pool)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(r) = row {
        return get(&r, "network_id");
    }
    let id = uuid::Uuid::new_v4().to_string();
    sqlx::query(
        "INSERT INTO networks (id, name, project_id, cidr, first_address, last_address, \
         gateway, range_start, range_end, dns, mtu, dhcp, driver, multi_host, created_at, \
         updated_at, external) VALUES ($1, $2, NULL, '', 1, 0, '', '', '', '', 1500, 0, \
         'external', 0, $3, $3, 1)",
    )
    .bind(&id)
    .bind(pool)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// Disassociates the floating addresses of `port` inside `tx`; auto-assigned ones go back
/// to their pool and the project's quota.
pub(crate) async fn detach_port(
    tx: &mut Transaction<'_, Any>,
    port: &str,
    now: i64,
) -> Result<(), DbError> {
    return_auto_assigned(tx, port, now).await?;
    sqlx::query("UPDATE floating_ips SET port_id = NULL, updated_at = $1 WHERE port_id = $2")
        .bind(now)
        .bind(port)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Gives a port's auto-assigned floating address back to its pool (and its project's
/// quota); addresses the project allocated itself stay associated.
pub(crate) async fn return_auto_assigned(
    tx: &mut Transaction<'_, Any>,
    port: &str,
    now: i64,
) -> Result<(), DbError> {
    let autos = sqlx::query(
        "SELECT project_id FROM floating_ips WHERE port_id = $1 AND auto_assigned = 1 \
         AND project_id IS NOT NULL",
    )
    .bind(port)
    .fetch_all(&mut **tx)
    .await?;
    for r in &autos {
        let project: String = get(r, "project_id")?;
        unreserve(tx, &project, &[(FLOATING_IPS, 1)]).await?;
    }
    sqlx::query(
        "UPDATE floating_ips SET project_id = NULL, auto_assigned = 0, port_id = NULL, \
         updated_at = $1 WHERE port_id = $2 AND auto_assigned = 1",
    )
    .bind(now)
    .bind(port)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn not_found(address: &str) -> DbError {
    DbError::NotFound(format!("Floating IP {address}"))
}

impl Db {
    /// Makes a floating range in `pool` with a row per host address (the gateway, if any,
    /// left out), as a subnet of the pool's external network (made with the pool). Refuses a
    /// range overlapping a network or another floating range.
    pub async fn create_floating_range(
        &self,
        pool: &str,
        cidr: &str,
        interface: &str,
        gateway: Option<&str>,
    ) -> Result<FloatingRange, DbError> {
        self.create_range(&NewRange {
            pool: pool.to_string(),
            cidr: cidr.to_string(),
            interface: interface.to_string(),
            gateway: gateway.map(String::from),
            ..NewRange::default()
        })
        .await
    }

    /// [`Db::create_floating_range`] with every attribute of the Network API's subnet.
    pub async fn create_range(&self, new: &NewRange) -> Result<FloatingRange, DbError> {
        let invalid = |s: String| DbError::InvalidNetwork(s);
        let (pool, cidr, interface) = (new.pool.trim(), new.cidr.trim(), new.interface.trim());
        if pool.is_empty() || interface.is_empty() {
            return Err(invalid(
                "a floating range needs a pool and an interface".into(),
            ));
        }
        let c = Cidr::parse(cidr).map_err(invalid)?;
        if c.prefix < 8 {
            return Err(invalid(format!(
                "the prefix length of {cidr} must be at least 8"
            )));
        }
        let in_range = |what: &str, s: &str| -> Result<u32, DbError> {
            let a = parse_ip(what, s).map_err(invalid)?;
            if !c.contains(a) {
                return Err(invalid(format!("{what} {a} is not in {cidr}")));
            }
            Ok(u32::from(a))
        };
        let (mut first, mut last) = host_span(&c);
        if let Some(s) = &new.range_start {
            first = in_range("allocation pool start", s)?;
        }
        if let Some(e) = &new.range_end {
            last = in_range("allocation pool end", e)?;
        }
        if first > last {
            return Err(invalid(format!(
                "the allocation pool {} to {} is empty",
                Ipv4Addr::from(first),
                Ipv4Addr::from(last)
            )));
        }
        if (last - first) as u64 + 1 > MAX_RANGE_ADDRESSES {
            return Err(invalid(format!(
                "{cidr} holds more than {MAX_RANGE_ADDRESSES} addresses"
            )));
        }
        let gateway = match &new.gateway {
            Some(g) => Some(Ipv4Addr::from(in_range("gateway", g)?)),
            None => None,
        };
        for d in &new.dns {
            parse_ip("name server", d).map_err(invalid)?;
        }
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        bump(&mut tx, "networks").await?;
        if let Some(other) = overlapping(&mut tx, c.first(), c.last()).await? {
            return Err(DbError::AddressOverlap {
                cidr: c.to_string_form(),
                other,
            });
        }
        let network_id = match &new.network_id {
            Some(n) => n.clone(),
            None => pool_network(&mut tx, pool, now).await?,
        };
        let id = uuid::Uuid::new_v4().to_string();
        sqlx::query(
            "INSERT INTO floating_ranges (cidr, pool, interface, gateway, first_address, \
             last_address, created_at, id, name, network_id, range_start, range_end, dns) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(c.to_string_form())
        .bind(pool)
        .bind(interface)
        .bind(gateway.map(|g| g.to_string()))
        .bind(c.first() as i64)
        .bind(c.last() as i64)
        .bind(now)
        .bind(&id)
        .bind(new.name.trim())
        .bind(&network_id)
        .bind(Ipv4Addr::from(first).to_string())
        .bind(Ipv4Addr::from(last).to_string())
        .bind(new.dns.join(","))
        .execute(&mut *tx)
        .await?;
        let addresses: Vec<u32> = (first..=last)
            .filter(|a| Some(Ipv4Addr::from(*a)) != gateway)
            .collect();
        for chunk in addresses.chunks(200) {
            let values = value_rows(chunk.len(), 4);
            let sql = format!(
                "INSERT INTO floating_ips (address, range_cidr, pool, updated_at) VALUES {values}"
            );
            let mut q = sqlx::query(&sql);
            for a in chunk {
                q = q
                    .bind(Ipv4Addr::from(*a).to_string())
                    .bind(c.to_string_form())
                    .bind(pool)
                    .bind(now);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        let row = sqlx::query(&format!(
            "SELECT {RANGE_COLUMNS} FROM floating_ranges WHERE cidr = $1"
        ))
        .bind(c.to_string_form())
        .fetch_one(&self.pool)
        .await?;
        range_from_row(&row)
    }

    /// Deletes a floating range and its addresses; refused while a project holds one.
    pub async fn delete_floating_range(&self, cidr: &str) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        bump(&mut tx, "networks").await?;
        let done = sqlx::query(
            "DELETE FROM floating_ranges WHERE cidr = $1 AND NOT EXISTS \
             (SELECT 1 FROM floating_ips WHERE range_cidr = $1 \
             AND (project_id IS NOT NULL OR router_id IS NOT NULL))",
        )
        .bind(cidr)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            let held: i64 = get(
                &sqlx::query(
                    "SELECT COUNT(*) AS n FROM floating_ips WHERE range_cidr = $1 \
                     AND (project_id IS NOT NULL OR router_id IS NOT NULL)",
                )
                .bind(cidr)
                .fetch_one(&mut *tx)
                .await?,
                "n",
            )?;
            if held == 0 {
                return Err(DbError::NotFound(format!("Floating IP range {cidr}")));
            }
            return Err(DbError::Conflict(format!(
                "Floating IP range {cidr} still has {held} address(es) allocated to projects \
                 or routers"
            )));
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn list_floating_ranges(&self) -> Result<Vec<FloatingRange>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {RANGE_COLUMNS} FROM floating_ranges ORDER BY pool, first_address"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(range_from_row).collect()
    }

    /// The names of the floating pools.
    pub async fn list_pools(&self) -> Result<Vec<String>, DbError> {
        let rows = sqlx::query("SELECT DISTINCT pool FROM floating_ranges ORDER BY pool")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| get(r, "pool")).collect()
    }

    /// Gives `project` a free address of `pool`, at most `quota_limit` per project (`-1`:
    /// no limit; checked atomically with the allocation).
    pub async fn allocate_floating(
        &self,
        project: &str,
        pool: &str,
        quota_limit: i64,
    ) -> Result<FloatingIp, DbError> {
        self.claim_floating(project, pool, quota_limit, None).await
    }

    /// nova-network's `auto_assign_floating_ip`: gives `project` a free address of `pool`
    /// already pointed at `port`, marked auto-assigned so that it goes back to the pool
    /// (and out of the project's usage) when the port is released. Counted in the
    /// project's `floating_ips` usage but not held to its limit, as Nova did.
    pub async fn auto_assign_floating(
        &self,
        project: &str,
        pool: &str,
        port: &str,
    ) -> Result<FloatingIp, DbError> {
        self.claim_floating(project, pool, -1, Some(port)).await
    }

    /// One free address of `pool` to `project` in one transaction; with `port`, pointed
    /// at it and auto-assigned.
    async fn claim_floating(
        &self,
        project: &str,
        pool: &str,
        quota_limit: i64,
        port: Option<&str>,
    ) -> Result<FloatingIp, DbError> {
        let mut tx = self.pool.begin().await?;
        let known = sqlx::query("SELECT 1 AS one FROM floating_ranges WHERE pool = $1 LIMIT 1")
            .bind(pool)
            .fetch_optional(&mut *tx)
            .await?;
        if known.is_none() {
            return Err(DbError::NotFound(format!("Floating IP pool {pool}")));
        }
        let host = match port {
            Some(port) => {
                let row = sqlx::query("SELECT host FROM ports WHERE id = $1 AND project_id = $2")
                    .bind(port)
                    .bind(project)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or_else(|| DbError::NotFound(format!("Port {port}")))?;
                get::<Option<String>>(&row, "host")?
            }
            None => None,
        };
        reserve_limited(&mut tx, project, FLOATING_IPS, 1, quota_limit).await?;
        let now = now_ms();
        loop {
            let row = sqlx::query(
                "SELECT id FROM floating_ips WHERE pool = $1 AND project_id IS NULL \
                 AND router_id IS NULL ORDER BY id LIMIT 1",
            )
            .bind(pool)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else {
                return Err(DbError::FloatingIpsExhausted {
                    pool: pool.to_string(),
                });
            };
            let id: i64 = get(&row, "id")?;
            let done = sqlx::query(
                "UPDATE floating_ips SET project_id = $1, auto_assigned = $2, port_id = $3, \
                 updated_at = $4 WHERE id = $5 AND project_id IS NULL AND router_id IS NULL",
            )
            .bind(project)
            .bind(i64::from(port.is_some()))
            .bind(port)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 1 {
                if let Some(h) = &host {
                    bump(&mut tx, &host_scope(h)).await?;
                }
                let row = sqlx::query(&format!("{FLOATING_SELECT} WHERE f.id = $1"))
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
                let ip = floating_from_row(&row)?;
                tx.commit().await?;
                return Ok(ip);
            }
            tokio::task::yield_now().await;
        }
    }

    /// One floating address.
    pub async fn get_floating(&self, address: &str) -> Result<FloatingIp, DbError> {
        let row = sqlx::query(&format!("{FLOATING_SELECT} WHERE f.address = $1"))
            .bind(address)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| not_found(address))?;
        floating_from_row(&row)
    }

    /// Points a project's floating address at one of its ports. Refused while it points at
    /// another port.
    pub async fn associate_floating(
        &self,
        address: &str,
        project: &str,
        port: &str,
    ) -> Result<FloatingIp, DbError> {
        let mut tx = self.pool.begin().await?;
        let port_row = sqlx::query("SELECT host FROM ports WHERE id = $1 AND project_id = $2")
            .bind(port)
            .bind(project)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| DbError::NotFound(format!("Port {port}")))?;
        let done = sqlx::query(
            "UPDATE floating_ips SET port_id = $1, updated_at = $2 WHERE address = $3 \
             AND project_id = $4 AND (port_id IS NULL OR port_id = $1)",
        )
        .bind(port)
        .bind(now_ms())
        .bind(address)
        .bind(project)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            let row = sqlx::query(
                "SELECT port_id FROM floating_ips WHERE address = $1 AND project_id = $2",
            )
            .bind(address)
            .bind(project)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| not_found(address))?;
            return Err(DbError::FloatingIpAssociated {
                address: address.to_string(),
                port: get::<Option<String>>(&row, "port_id")?.unwrap_or_default(),
            });
        }
        if let Some(h) = get::<Option<String>>(&port_row, "host")? {
            bump(&mut tx, &host_scope(&h)).await?;
        }
        tx.commit().await?;
        self.get_floating(address).await
    }

    /// Unpoints a project's floating address (nothing happens if it points nowhere).
    pub async fn disassociate_floating(
        &self,
        address: &str,
        project: &str,
    ) -> Result<FloatingIp, DbError> {
        let mut tx = self.pool.begin().await?;
        disassociate_in(&mut tx, address, project).await?;
        tx.commit().await?;
        self.get_floating(address).await
    }

    /// Gives a project's floating address back to its pool (disassociating it first).
    pub async fn release_floating(&self, address: &str, project: &str) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        disassociate_in(&mut tx, address, project).await?;
        let done = sqlx::query(
            "UPDATE floating_ips SET project_id = NULL, auto_assigned = 0, updated_at = $1 \
             WHERE address = $2 AND project_id = $3",
        )
        .bind(now_ms())
        .bind(address)
        .bind(project)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(not_found(address));
        }
        unreserve(&mut tx, project, &[(FLOATING_IPS, 1)]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A project's floating addresses, or every allocated one.
    pub async fn list_floating(&self, project: Option<&str>) -> Result<Vec<FloatingIp>, DbError> {
        let rows = match project {
            Some(p) => {
                sqlx::query(&format!(
                    "{FLOATING_SELECT} WHERE f.project_id = $1 ORDER BY f.id"
                ))
                .bind(p)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(&format!(
                    "{FLOATING_SELECT} WHERE f.project_id IS NOT NULL ORDER BY f.id"
                ))
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(floating_from_row).collect()
    }

    /// The floating addresses associated with any of `ports`.
    pub async fn floating_of_ports(&self, ports: &[String]) -> Result<Vec<FloatingIp>, DbError> {
        if ports.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for chunk in ports.chunks(500) {
            let marks = in_marks(chunk.len());
            let sql = format!("{FLOATING_SELECT} WHERE f.port_id IN ({marks}) ORDER BY f.id");
            let mut q = sqlx::query(&sql);
            for p in chunk {
                q = q.bind(p);
            }
            for r in q.fetch_all(&self.pool).await? {
                out.push(floating_from_row(&r)?);
            }
        }
        Ok(out)
    }
}

async fn disassociate_in(
    tx: &mut Transaction<'_, Any>,
    address: &str,
    project: &str,
) -> Result<(), DbError> {
    let row = sqlx::query(
        "SELECT p.host AS host FROM floating_ips f LEFT JOIN ports p ON p.id = f.port_id \
         WHERE f.address = $1 AND f.project_id = $2",
    )
    .bind(address)
    .bind(project)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| not_found(address))?;
    sqlx::query(
        "UPDATE floating_ips SET port_id = NULL, updated_at = $1 \
         WHERE address = $2 AND project_id = $3",
    )
    .bind(now_ms())
    .bind(address)
    .bind(project)
    .execute(&mut **tx)
    .await?;
    if let Some(h) = get::<Option<String>>(&row, "host")? {
        bump(tx, &host_scope(&h)).await?;
    }
    Ok(())
}
