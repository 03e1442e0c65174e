//! Networks, their fixed addresses and ports (virtual interfaces), for the network worker.
//!
//! A network's allocatable addresses are rows made with the network (as nova-network did),
//! so allocating one is a single conditional `UPDATE` that only one caller can win:
//! concurrent allocations get distinct addresses on both backends. IPv4 only; addresses are
//! handled with `std::net::Ipv4Addr` and `u32` arithmetic.

use crate::{get, now_ms, Db, DbError};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};
use std::net::Ipv4Addr;

/// The most addresses one network (or floating range) makes rows for: a /16.
pub const MAX_RANGE_ADDRESSES: u64 = 65_536;

/// An IPv4 network: its address and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub network: Ipv4Addr,
    pub prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n`; the address must be the network's own (no host bits set).
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (addr, prefix) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not a CIDR (expected a.b.c.d/n)"))?;
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| format!("{addr:?} in {s:?} is not an IPv4 address"))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| format!("{prefix:?} in {s:?} is not a prefix length (0 to 32)"))?;
        let cidr = Cidr {
            network: Ipv4Addr::from(u32::from(addr) & mask(prefix)),
            prefix,
        };
        if cidr.network != addr {
            return Err(format!(
                "{s} has host bits set; the network is {}",
                cidr.to_string_form()
            ));
        }
        Ok(cidr)
    }

    /// The network address as an integer.
    pub fn first(&self) -> u32 {
        u32::from(self.network)
    }

    /// The broadcast address as an integer.
    pub fn last(&self) -> u32 {
        self.first() | !mask(self.prefix)
    }

    pub fn contains(&self, a: Ipv4Addr) -> bool {
        u32::from(a) & mask(self.prefix) == self.first()
    }

    /// `a.b.c.d/n`.
    pub fn to_string_form(&self) -> String {
        format!("{}/{}", self.network, self.prefix)
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix as u32)
    }
}

pub(crate) fn parse_ip(what: &str, s: &str) -> Result<Ipv4Addr, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("{what} {s:?} is not an IPv4 address"))
}

/// A network.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Network {
    pub id: String,
    pub name: String,
    /// `None`: shared by every project.
    pub project_id: Option<String>,
    pub cidr: String,
    pub gateway: String,
    /// First and last address handed out.
    pub range_start: String,
    pub range_end: String,
    pub dns: Vec<String>,
    /// VLAN id or VNI.
    pub segment: Option<i64>,
    /// The operator's bridge, if the driver uses one it did not make.
    pub bridge: Option<String>,
    pub uplink: Option<String>,
    pub mtu: i64,
    pub dhcp: bool,
    pub driver: String,
    /// The host that serves it when it is not multi-host.
    pub host: Option<String>,
    pub multi_host: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// An external network (the Network API's `router:external`): no fixed addresses; its
    /// subnets are floating ranges of `pool`.
    pub external: bool,
    /// The floating pool of an external network once it has a range.
    pub pool: Option<String>,
    /// The id of the network's one IPv4 subnet; `None` until one is made (then `cidr` is
    /// empty and no port can be made on it).
    pub subnet_id: Option<String>,
    pub subnet_name: String,
}

impl Network {
    /// Whether ports can be made on it: a subnet, and not external.
    pub fn has_addresses(&self) -> bool {
        !self.external && !self.cidr.is_empty()
    }
}

/// What a new network is made of; `None`s take the defaults.
#[derive(Debug, Clone, Default)]
pub struct NewNetwork {
    pub name: String,
    pub project_id: Option<String>,
    /// IPv4, prefix 8 to 30.
    pub cidr: String,
    /// Default: the first host address.
    pub gateway: Option<String>,
    /// Default: the address after the gateway.
    pub range_start: Option<String>,
    /// Default: the address before the broadcast address.
    pub range_end: Option<String>,
    pub dns: Vec<String>,
    pub segment: Option<i64>,
    pub bridge: Option<String>,
    pub uplink: Option<String>,
    /// Default 1500.
    pub mtu: Option<i64>,
    pub dhcp: bool,
    pub driver: String,
    pub host: Option<String>,
    pub multi_host: bool,
}

/// One fixed address row.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FixedIp {
    pub network_id: String,
    pub address: String,
    pub port_id: Option<String>,
    pub instance_id: Option<String>,
    pub allocated: bool,
    pub leased: bool,
    pub reserved: bool,
    pub updated_at: i64,
}

pub(crate) const NETWORK_COLUMNS: &str = "id, name, project_id, cidr, gateway, range_start, \
    range_end, dns, segment, bridge, uplink, mtu, dhcp, driver, host, multi_host, created_at, \
    updated_at, external, subnet_id, subnet_name, (SELECT MIN(r.pool) FROM floating_ranges r \
    WHERE r.network_id = networks.id) AS pool";

/// Networks that carry fixed addresses (the others exist for the Network API only).
pub(crate) const WITH_ADDRESSES: &str = "external = 0 AND cidr <> ''";

pub(crate) fn network_from_row(r: &AnyRow) -> Result<Network, DbError> {
    let dns: String = get(r, "dns")?;
    Ok(Network {
        id: get(r, "id")?,
        name: get(r, "name")?,
        project_id: get(r, "project_id")?,
        cidr: get(r, "cidr")?,
        gateway: get(r, "gateway")?,
        range_start: get(r, "range_start")?,
        range_end: get(r, "range_end")?,
        dns: dns
            .split(',')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        segment: get(r, "segment")?,
        bridge: get(r, "bridge")?,
        uplink: get(r, "uplink")?,
        mtu: get(r, "mtu")?,
        dhcp: get::<i64>(r, "dhcp")? != 0,
        driver: get(r, "driver")?,
        host: get(r, "host")?,
        multi_host: get::<i64>(r, "multi_host")? != 0,
        created_at: get(r, "created_at")?,
        updated_at: get(r, "updated_at")?,
        external: get::<i64>(r, "external")? != 0,
        pool: get(r, "pool")?,
        subnet_id: get(r, "subnet_id")?,
        subnet_name: get(r, "subnet_name")?,
    })
}

fn fixed_from_row(r: &AnyRow) -> Result<FixedIp, DbError> {
    Ok(FixedIp {
        network_id: get(r, "network_id")?,
        address: get(r, "address")?,
        port_id: get(r, "port_id")?,
        instance_id: get(r, "instance_id")?,
        allocated: get::<i64>(r, "allocated")? != 0,
        leased: get::<i64>(r, "leased")? != 0,
        reserved: get::<i64>(r, "reserved")? != 0,
        updated_at: get(r, "updated_at")?,
    })
}

/// A random MAC in the `fa:16:3e` prefix Nova and Neutron use.
pub fn random_mac() -> String {
    let b = uuid::Uuid::new_v4().into_bytes();
    format!("fa:16:3e:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2])
}

/// The tap device of a port: at most 15 characters, the kernel's limit.
pub fn device_name(port_id: &str) -> String {
    format!("tap{}", port_id.chars().take(11).collect::<String>())
}

/// Bumps a change counter inside `tx`. On PostgreSQL the row stays locked until commit,
/// so bumping `networks` first also serialises network and floating range creation.
pub(crate) async fn bump(tx: &mut Transaction<'_, Any>, scope: &str) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO network_generations (scope, generation) VALUES ($1, 1) \
         ON CONFLICT (scope) DO UPDATE SET generation = network_generations.generation + 1",
    )
    .bind(scope)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The change counter scope of a host's ports and floating addresses.
pub fn host_scope(host: &str) -> String {
    format!("host:{host}")
}

/// The first live network or floating range whose addresses overlap `first..=last`.
pub(crate) async fn overlapping(
    tx: &mut Transaction<'_, Any>,
    first: u32,
    last: u32,
) -> Result<Option<String>, DbError> {
    let row = sqlx::query(
        "SELECT 'network ' || name || ' (' || cidr || ')' AS what FROM networks \
         WHERE cidr <> '' AND first_address <= $1 AND last_address >= $2 \
         UNION ALL SELECT 'floating range ' || cidr || ' of pool ' || pool AS what \
         FROM floating_ranges WHERE first_address <= $1 AND last_address >= $2",
    )
    .bind(last as i64)
    .bind(first as i64)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|r| get(&r, "what")).transpose()
}

fn invalid(s: impl Into<String>) -> DbError {
    DbError::InvalidNetwork(s.into())
}

/// Checks a new network and works out its defaults: (cidr, gateway, range start, end).
pub(crate) fn plan_network(new: &NewNetwork) -> Result<(Cidr, u32, u32, u32), DbError> {
    if new.name.trim().is_empty() {
        return Err(invalid("a network needs a name"));
    }
    if new.driver.trim().is_empty() {
        return Err(invalid("a network needs a driver"));
    }
    let cidr = Cidr::parse(new.cidr.trim()).map_err(invalid)?;
    if !(8..=30).contains(&cidr.prefix) {
        return Err(invalid(format!(
            "the prefix length of {} must be between 8 and 30",
            new.cidr
        )));
    }
    let (first_host, last_host) = (cidr.first() + 1, cidr.last() - 1);
    let host_in = |what: &str, s: &str| -> Result<u32, DbError> {
        let a = parse_ip(what, s).map_err(invalid)?;
        let n = u32::from(a);
        if !cidr.contains(a) || n < first_host || n > last_host {
            return Err(invalid(format!(
                "{what} {a} is not a host address of {}",
                cidr.to_string_form()
            )));
        }
        Ok(n)
    };
    let gateway = match &new.gateway {
        Some(g) => host_in("gateway", g)?,
        None => first_host,
    };
    let start = match &new.range_start {
        Some(s) => host_in("range start", s)?,
        None => gateway + 1,
    };
    let end = match &new.range_end {
        Some(s) => host_in("range end", s)?,
        None => last_host,
    };
    if start > end {
        return Err(invalid(format!(
            "the range {} to {} is empty",
            Ipv4Addr::from(start),
            Ipv4Addr::from(end)
        )));
    }
    if (end - start) as u64 + 1 > MAX_RANGE_ADDRESSES {
        return Err(invalid(format!(
            "the range {} to {} holds {} addresses; at most {MAX_RANGE_ADDRESSES} are allowed",
            Ipv4Addr::from(start),
            Ipv4Addr::from(end),
            (end - start) as u64 + 1
        )));
    }
    if start == end && start == gateway {
        return Err(invalid("the range holds only the gateway"));
    }
    for d in &new.dns {
        parse_ip("name server", d).map_err(invalid)?;
    }
    if let Some(m) = new.mtu {
        if !(576..=9216).contains(&m) {
            return Err(invalid(format!("MTU {m} is not between 576 and 9216")));
        }
    }
    if let Some(s) = new.segment {
        if !(1..=16_777_215).contains(&s) {
            return Err(invalid(format!(
                "segment {s} is not a VLAN id or VNI (1 to 16777215)"
            )));
        }
    }
    Ok((cidr, gateway, start, end))
}

/// `$1, $2, …, $n`: the placeholders of an `IN (…)` list.
pub(crate) fn in_marks(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Db {
    /// The `(k, v)` rows of the query `sql(marks)` makes for `ids` (its `IN ({marks})`
    /// takes them, 500 at a time), each `k`'s values in row order.
    pub(crate) async fn pairs_in(
        &self,
        sql: impl Fn(&str) -> String,
        ids: &[String],
    ) -> Result<std::collections::BTreeMap<String, Vec<String>>, DbError> {
        let mut out: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for chunk in ids.chunks(500) {
            let text = sql(&in_marks(chunk.len()));
            let mut q = sqlx::query(&text);
            for id in chunk {
                q = q.bind(id);
            }
            for r in q.fetch_all(&self.pool).await? {
                out.entry(get(&r, "k")?).or_default().push(get(&r, "v")?);
            }
        }
        Ok(out)
    }
}

/// `($1, $2, …), (…)`: the VALUES of a multi-row INSERT of `rows` rows of `cols`
/// parameters each.
pub(crate) fn value_rows(rows: usize, cols: usize) -> String {
    (0..rows)
        .map(|r| {
            let marks: Vec<String> = (1..=cols).map(|c| format!("${}", r * cols + c)).collect();
            format!("({})", marks.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The fixed address rows of a network's range (the gateway reserved if it falls inside).
pub(crate) async fn insert_fixed_ips(
    tx: &mut Transaction<'_, Any>,
    id: &str,
    start: u32,
    end: u32,
    gateway: u32,
    now: i64,
) -> Result<(), DbError> {
    // 200 rows (800 parameters) a statement: under SQLite's oldest limit of 999.
    let addresses: Vec<u32> = (start..=end).collect();
    for chunk in addresses.chunks(200) {
        let values = value_rows(chunk.len(), 4);
        let sql = format!(
            "INSERT INTO fixed_ips (network_id, address, reserved, updated_at) VALUES {values}"
        );
        let mut q = sqlx::query(&sql);
        for a in chunk {
            q = q
                .bind(id)
                .bind(Ipv4Addr::from(*a).to_string())
                .bind((*a == gateway) as i64)
                .bind(now);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Where an address allocation comes from.
pub(crate) enum Want<'a> {
    Any,
    Address(&'a str),
}

impl Db {
    /// Creates a network and its fixed address rows (one per address of the range, the
    /// gateway reserved if it falls inside). Refuses a CIDR that overlaps another network or
    /// a floating range, and a segment another network uses.
    pub async fn create_network(&self, new: &NewNetwork) -> Result<Network, DbError> {
        let (cidr, gateway, start, end) = plan_network(new)?;
        let id = uuid::Uuid::new_v4().to_string();
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        bump(&mut tx, "networks").await?;
        if let Some(other) = overlapping(&mut tx, cidr.first(), cidr.last()).await? {
            return Err(DbError::AddressOverlap {
                cidr: cidr.to_string_form(),
                other,
            });
        }
        if let Some(seg) = new.segment {
            let row = sqlx::query("SELECT name FROM networks WHERE segment = $1")
                .bind(seg)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(r) = row {
                let other: String = get(&r, "name")?;
                return Err(DbError::Conflict(format!(
                    "Segment {seg} is already used by network {other}"
                )));
            }
        }
        sqlx::query(
            "INSERT INTO networks (id, name, project_id, cidr, first_address, last_address, \
             gateway, range_start, range_end, dns, segment, bridge, uplink, mtu, dhcp, driver, \
             host, multi_host, created_at, updated_at, subnet_id) VALUES ($1, $2, $3, $4, $5, \
             $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)",
        )
        .bind(&id)
        .bind(new.name.trim())
        .bind(&new.project_id)
        .bind(cidr.to_string_form())
        .bind(cidr.first() as i64)
        .bind(cidr.last() as i64)
        .bind(Ipv4Addr::from(gateway).to_string())
        .bind(Ipv4Addr::from(start).to_string())
        .bind(Ipv4Addr::from(end).to_string())
        .bind(
            new.dns
                .iter()
                .map(|d| d.trim())
                .collect::<Vec<_>>()
                .join(","),
        )
        .bind(new.segment)
        .bind(&new.bridge)
        .bind(&new.uplink)
        .bind(new.mtu.unwrap_or(1500))
        .bind(new.dhcp as i64)
        .bind(new.driver.trim())
        .bind(&new.host)
        .bind(new.multi_host as i64)
        .bind(now)
        .bind(now)
        .bind(uuid::Uuid::new_v4().to_string())
        .execute(&mut *tx)
        .await?;
        insert_fixed_ips(&mut tx, &id, start, end, gateway, now).await?;
        tx.commit().await?;
        self.get_network(&id).await
    }

    pub async fn get_network(&self, id: &str) -> Result<Network, DbError> {
        let row = sqlx::query(&format!(
            "SELECT {NETWORK_COLUMNS} FROM networks WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| DbError::NotFound(format!("Network {id}")))?;
        network_from_row(&row)
    }

    /// The networks with addresses a project may use (its own and the shared ones), or all
    /// of them.
    pub async fn list_networks(&self, project: Option<&str>) -> Result<Vec<Network>, DbError> {
        let rows = match project {
            Some(p) => {
                sqlx::query(&format!(
                    "SELECT {NETWORK_COLUMNS} FROM networks WHERE {WITH_ADDRESSES} \
                     AND (project_id = $1 OR project_id IS NULL) ORDER BY created_at, id"
                ))
                .bind(p)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(&format!(
                    "SELECT {NETWORK_COLUMNS} FROM networks WHERE {WITH_ADDRESSES} \
                     ORDER BY created_at, id"
                ))
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(network_from_row).collect()
    }

    /// Deletes a network and its addresses; refused while it has ports.
    pub async fn delete_network(&self, id: &str) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        bump(&mut tx, "networks").await?;
        let done = sqlx::query(
            "DELETE FROM networks WHERE id = $1 \
             AND NOT EXISTS (SELECT 1 FROM ports WHERE network_id = $1)",
        )
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_foreign_key_violation() => DbError::NetworkInUse {
                network: id.to_string(),
                reason: "instances have ports on it".into(),
            },
            _ => e.into(),
        })?;
        if done.rows_affected() == 0 {
            tx.rollback().await?;
            let ports = self.ports_of_network(id).await?;
            if ports.is_empty() {
                return Err(DbError::NotFound(format!("Network {id}")));
            }
            return Err(DbError::NetworkInUse {
                network: id.to_string(),
                reason: format!("{} port(s) are on it", ports.len()),
            });
        }
        tx.commit().await?;
        Ok(())
    }

    /// Gives a shared network to `project` (Nova's os-networks associate). Refused if
    /// another project owns it or has ports on it.
    pub async fn associate_network(&self, id: &str, project: &str) -> Result<Network, DbError> {
        let mut tx = self.pool.begin().await?;
        bump(&mut tx, "networks").await?;
        let done = sqlx::query(
            "UPDATE networks SET project_id = $1, updated_at = $2 WHERE id = $3 \
             AND (project_id IS NULL OR project_id = $1) AND NOT EXISTS \
             (SELECT 1 FROM ports WHERE network_id = $3 AND project_id <> $1)",
        )
        .bind(project)
        .bind(now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            tx.rollback().await?;
            let net = self.get_network(id).await?;
            return Err(DbError::Conflict(match net.project_id {
                Some(p) if p != project => {
                    format!("Network {id} is already associated with project {p}")
                }
                _ => format!("Network {id} has ports of other projects"),
            }));
        }
        tx.commit().await?;
        self.get_network(id).await
    }

    /// Makes a network shared again.
    pub async fn disassociate_network(&self, id: &str) -> Result<Network, DbError> {
        let mut tx = self.pool.begin().await?;
        bump(&mut tx, "networks").await?;
        let done =
            sqlx::query("UPDATE networks SET project_id = NULL, updated_at = $1 WHERE id = $2")
                .bind(now_ms())
                .bind(id)
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::NotFound(format!("Network {id}")));
        }
        tx.commit().await?;
        self.get_network(id).await
    }

    /// How many addresses of the network can still be allocated.
    pub async fn free_address_count(&self, network: &str) -> Result<i64, DbError> {
        self.get_network(network).await?;
        get(
            &sqlx::query(
                "SELECT COUNT(*) AS n FROM fixed_ips \
                 WHERE network_id = $1 AND allocated = 0 AND reserved = 0",
            )
            .bind(network)
            .fetch_one(&self.pool)
            .await?,
            "n",
        )
    }

    /// One fixed address row.
    pub async fn get_fixed_ip(&self, network: &str, address: &str) -> Result<FixedIp, DbError> {
        let row = sqlx::query(
            "SELECT network_id, address, port_id, instance_id, allocated, leased, reserved, \
             updated_at FROM fixed_ips WHERE network_id = $1 AND address = $2",
        )
        .bind(network)
        .bind(address)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| DbError::NotFound(format!("Fixed IP {address} on network {network}")))?;
        fixed_from_row(&row)
    }

    /// Takes a fixed address out of allocation (or gives it back): Nova's os-fixed-ips
    /// reserve and unreserve.
    pub async fn set_fixed_ip_reserved(
        &self,
        network: &str,
        address: &str,
        reserved: bool,
    ) -> Result<FixedIp, DbError> {
        let done = sqlx::query(
            "UPDATE fixed_ips SET reserved = $1, updated_at = $2 \
             WHERE network_id = $3 AND address = $4",
        )
        .bind(reserved as i64)
        .bind(now_ms())
        .bind(network)
        .bind(address)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::NotFound(format!(
                "Fixed IP {address} on network {network}"
            )));
        }
        self.get_fixed_ip(network, address).await
    }

    /// Records that the DHCP server leased (or released) an allocated address.
    pub async fn mark_leased(
        &self,
        address: &str,
        network: &str,
        leased: bool,
    ) -> Result<(), DbError> {
        let done = sqlx::query(
            "UPDATE fixed_ips SET leased = $1, updated_at = $2 \
             WHERE network_id = $3 AND address = $4 AND allocated = 1",
        )
        .bind(leased as i64)
        .bind(now_ms())
        .bind(network)
        .bind(address)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::NotFound(format!(
                "Allocated fixed IP {address} on network {network}"
            )));
        }
        Ok(())
    }

    /// The sum of every change counter: it changes whenever anything a network worker
    /// plans from changes, on any host (what a central worker watches).
    pub async fn network_generations_total(&self) -> Result<i64, DbError> {
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(generation), 0) AS BIGINT) AS total FROM network_generations",
        )
        .fetch_one(&self.pool)
        .await?;
        get(&row, "total")
    }

    /// The value of a change counter (`networks`, `security_groups`, or
    /// [`host_scope`]`(host)`): 0 until the first change.
    pub async fn network_generation(&self, scope: &str) -> Result<i64, DbError> {
        let row = sqlx::query("SELECT generation FROM network_generations WHERE scope = $1")
            .bind(scope)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => get(&r, "generation")?,
            None => 0,
        })
    }
}

/// Claims an address for `port` inside `tx` with one conditional `UPDATE`; a lost race
/// (another transaction took the same row first) tries the next free one.
pub(crate) async fn claim_address(
    tx: &mut Transaction<'_, Any>,
    net: &Network,
    port: &str,
    instance: Option<&str>,
    want: Want<'_>,
) -> Result<String, DbError> {
    let now = now_ms();
    match want {
        Want::Address(a) => {
            let addr = parse_ip("address", a)
                .map_err(|reason| DbError::AddressNotAvailable {
                    address: a.to_string(),
                    network: net.name.clone(),
                    reason,
                })?
                .to_string();
            let done = sqlx::query(
                "UPDATE fixed_ips SET port_id = $1, instance_id = $2, allocated = 1, \
                 leased = 0, updated_at = $3 WHERE network_id = $4 AND address = $5 \
                 AND allocated = 0 AND reserved = 0",
            )
            .bind(port)
            .bind(instance)
            .bind(now)
            .bind(&net.id)
            .bind(&addr)
            .execute(&mut **tx)
            .await?;
            if done.rows_affected() == 1 {
                return Ok(addr);
            }
            let row = sqlx::query(
                "SELECT reserved FROM fixed_ips WHERE network_id = $1 AND address = $2",
            )
            .bind(&net.id)
            .bind(&addr)
            .fetch_optional(&mut **tx)
            .await?;
            Err(match row {
                None => DbError::AddressNotAvailable {
                    address: addr,
                    network: net.name.clone(),
                    reason: format!(
                        "it is outside the allocation range {} to {}",
                        net.range_start, net.range_end
                    ),
                },
                Some(r) if get::<i64>(&r, "reserved")? != 0 => DbError::AddressNotAvailable {
                    address: addr,
                    network: net.name.clone(),
                    reason: "it is reserved (the gateway)".into(),
                },
                Some(_) => DbError::AddressInUse {
                    address: addr,
                    network: net.name.clone(),
                },
            })
        }
        Want::Any => loop {
            let done = sqlx::query(
                "UPDATE fixed_ips SET port_id = $1, instance_id = $2, allocated = 1, \
                 leased = 0, updated_at = $3 WHERE id = (SELECT id FROM fixed_ips \
                 WHERE network_id = $4 AND allocated = 0 AND reserved = 0 ORDER BY id LIMIT 1) \
                 AND allocated = 0",
            )
            .bind(port)
            .bind(instance)
            .bind(now)
            .bind(&net.id)
            .execute(&mut **tx)
            .await?;
            if done.rows_affected() == 1 {
                let row = sqlx::query("SELECT address FROM fixed_ips WHERE port_id = $1")
                    .bind(port)
                    .fetch_one(&mut **tx)
                    .await?;
                return get(&row, "address");
            }
            let free: i64 = get(
                &sqlx::query(
                    "SELECT COUNT(*) AS n FROM fixed_ips \
                     WHERE network_id = $1 AND allocated = 0 AND reserved = 0",
                )
                .bind(&net.id)
                .fetch_one(&mut **tx)
                .await?,
                "n",
            )?;
            if free == 0 {
                return Err(DbError::AddressesExhausted {
                    network: net.name.clone(),
                });
            }
            tokio::task::yield_now().await;
        },
    }
}
