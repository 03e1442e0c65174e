//! Ports: a network interface with its MAC and fixed address. A server create makes one
//! per network it asks for, bound to the instance from the start and deleted with it. The
//! Network API makes unbound ones (`kept`): a server create may take one by id, and when
//! that server goes the port is unbound again, keeping its address, not deleted.

use crate::networks::{
    bump, claim_address, device_name, host_scope, in_marks, parse_ip, random_mac, Want,
};
use crate::{get, now_ms, Db, DbError};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

/// A port: an interface on a network, with its MAC and fixed address.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Port {
    pub id: String,
    /// The server it is plugged into; `None` while unbound.
    pub instance_id: Option<String>,
    pub network_id: String,
    pub project_id: String,
    /// `fa:16:3e:xx:xx:xx`.
    pub mac: String,
    pub address: String,
    /// The tap device: `tap` and the first 11 characters of the id.
    pub device: String,
    pub host: Option<String>,
    pub created_at: i64,
    pub name: String,
    /// Made through the Network API: unbound, not deleted, when its server goes.
    pub kept: bool,
    pub admin_state_up: bool,
    /// An unbound port's security groups (ids); a bound port's are its server's.
    pub group_ids: Vec<String>,
    /// The device tag the server's create or the attach gave it (2.70); none unbound.
    pub tag: Option<String>,
}

/// A port the Network API makes, unbound.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewPort {
    pub project_id: String,
    pub network_id: String,
    pub name: String,
    /// The fixed address wanted; a free one when `None`.
    pub address: Option<String>,
    /// A random `fa:16:3e` MAC when `None`.
    pub mac: Option<String>,
    pub admin_state_up: bool,
    pub group_ids: Vec<String>,
}

/// A change to a port; `None` leaves the field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PortUpdate {
    pub name: Option<String>,
    pub admin_state_up: Option<bool>,
    /// Stored only for an unbound port (a bound port's groups are its server's).
    pub group_ids: Option<Vec<String>>,
    /// A new fixed address on the same network.
    pub address: Option<String>,
}

pub(crate) const PORT_COLUMNS: &str = "id, instance_id, network_id, project_id, mac, address, \
     device, host, created_at, name, kept, admin_state_up, group_ids, tag";

pub(crate) fn port_from_row(r: &AnyRow) -> Result<Port, DbError> {
    let groups: String = get(r, "group_ids")?;
    Ok(Port {
        id: get(r, "id")?,
        instance_id: get(r, "instance_id")?,
        network_id: get(r, "network_id")?,
        project_id: get(r, "project_id")?,
        mac: get(r, "mac")?,
        address: get(r, "address")?,
        device: get(r, "device")?,
        host: get(r, "host")?,
        created_at: get(r, "created_at")?,
        name: get(r, "name")?,
        kept: get::<i64>(r, "kept")? != 0,
        admin_state_up: get::<i64>(r, "admin_state_up")? != 0,
        group_ids: split_ids(&groups),
        tag: get(r, "tag")?,
    })
}

fn split_ids(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

/// Whether `mac` is six colon-separated hex octets, unicast.
pub fn valid_mac(mac: &str) -> bool {
    let octets: Vec<&str> = mac.split(':').collect();
    octets.len() == 6
        && octets
            .iter()
            .all(|o| o.len() == 2 && o.chars().all(|c| c.is_ascii_hexdigit()))
        && u8::from_str_radix(octets[0], 16).is_ok_and(|b| b & 1 == 0)
}

/// The row of a new port, inserted by [`insert_port`].
struct PortRow<'a> {
    id: &'a str,
    instance: Option<&'a str>,
    network: &'a str,
    project: &'a str,
    address: &'a str,
    mac: Option<&'a str>,
    name: &'a str,
    kept: bool,
    admin_state_up: bool,
    group_ids: &'a [String],
}

/// Inserts a port inside `tx`. A random MAC that collides (one in 16 million a port) is
/// drawn again; a given one that is taken is refused.
async fn insert_port(tx: &mut Transaction<'_, Any>, row: &PortRow<'_>) -> Result<(), DbError> {
    let tries = if row.mac.is_some() { 1 } else { 16 };
    for _ in 0..tries {
        let mac = row.mac.map(str::to_lowercase).unwrap_or_else(random_mac);
        let done = sqlx::query(
            "INSERT INTO ports (id, instance_id, network_id, project_id, mac, address, \
             device, host, created_at, name, kept, admin_state_up, group_ids) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8, $9, $10, $11, $12) \
             ON CONFLICT (mac) DO NOTHING",
        )
        .bind(row.id)
        .bind(row.instance)
        .bind(row.network)
        .bind(row.project)
        .bind(&mac)
        .bind(row.address)
        .bind(device_name(row.id))
        .bind(now_ms())
        .bind(row.name)
        .bind(row.kept as i64)
        .bind(row.admin_state_up as i64)
        .bind(row.group_ids.join(","))
        .execute(&mut **tx)
        .await?;
        if done.rows_affected() == 1 {
            return Ok(());
        }
        if row.mac.is_some() {
            return Err(DbError::MacAddressInUse {
                mac,
                network: row.network.to_string(),
            });
        }
    }
    Err(DbError::Conflict(
        "could not find a free MAC address after 16 tries".into(),
    ))
}

impl Db {
    /// The network a port goes on, checked: the project's own or shared, and (when
    /// `addresses`) with a subnet to take an address from.
    async fn port_network(
        &self,
        project: &str,
        network: &str,
        addresses: bool,
    ) -> Result<crate::networks::Network, DbError> {
        let net = self.get_network(network).await?;
        if net.project_id.as_deref().is_some_and(|p| p != project) {
            return Err(DbError::NotFound(format!("Network {network}")));
        }
        if addresses && !net.has_addresses() {
            return Err(DbError::InvalidNetwork(format!(
                "Network {network} has no subnet to take an address from{}",
                if net.external {
                    " (it is external)"
                } else {
                    ""
                }
            )));
        }
        Ok(net)
    }

    /// Makes a port for `instance` on `network` with a free address, or the `requested`
    /// one, in one transaction. The network must be shared or the project's own.
    pub async fn allocate_port(
        &self,
        instance: &str,
        project: &str,
        network: &str,
        requested_address: Option<&str>,
    ) -> Result<Port, DbError> {
        let net = self.port_network(project, network, true).await?;
        let id = uuid::Uuid::new_v4().to_string();
        let mut tx = self.pool.begin().await?;
        let want = match requested_address {
            Some(a) => Want::Address(a),
            None => Want::Any,
        };
        let address = claim_address(&mut tx, &net, &id, Some(instance), want).await?;
        let row = PortRow {
            id: &id,
            instance: Some(instance),
            network,
            project,
            address: &address,
            mac: None,
            name: "",
            kept: false,
            admin_state_up: true,
            group_ids: &[],
        };
        insert_port(&mut tx, &row).await?;
        tx.commit().await?;
        self.get_port(&id).await
    }

    /// Makes an unbound port (the Network API's `POST /ports`).
    pub async fn create_port(&self, new: &NewPort) -> Result<Port, DbError> {
        if let Some(mac) = &new.mac {
            if !valid_mac(mac) {
                return Err(DbError::InvalidNetwork(format!(
                    "'{mac}' is not a valid MAC address"
                )));
            }
        }
        // A network without a subnet takes ports without an address (Neutron's
        // `fixed_ips: []`); asking for one there is refused.
        let with_address = new.address.is_some();
        let net = self
            .port_network(&new.project_id, &new.network_id, with_address)
            .await?;
        let id = uuid::Uuid::new_v4().to_string();
        let mut tx = self.pool.begin().await?;
        let want = match &new.address {
            Some(a) => Want::Address(a),
            None => Want::Any,
        };
        let address = if net.has_addresses() {
            claim_address(&mut tx, &net, &id, None, want).await?
        } else {
            String::new()
        };
        let row = PortRow {
            id: &id,
            instance: None,
            network: &new.network_id,
            project: &new.project_id,
            address: &address,
            mac: new.mac.as_deref(),
            name: &new.name,
            kept: true,
            admin_state_up: new.admin_state_up,
            group_ids: &new.group_ids,
        };
        insert_port(&mut tx, &row).await?;
        tx.commit().await?;
        self.get_port(&id).await
    }

    /// Changes a port's name, state, groups (unbound ports) or fixed address (the old one
    /// is freed in the same transaction).
    pub async fn update_port(&self, id: &str, change: &PortUpdate) -> Result<Port, DbError> {
        let port = self.get_port(id).await?;
        // Read before the transaction: SQLite has one connection for writes.
        let net = match &change.address {
            Some(_) => Some(self.get_network(&port.network_id).await?),
            None => None,
        };
        let mut tx = self.pool.begin().await?;
        if let Some(name) = &change.name {
            sqlx::query("UPDATE ports SET name = $1 WHERE id = $2")
                .bind(name)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(up) = change.admin_state_up {
            sqlx::query("UPDATE ports SET admin_state_up = $1 WHERE id = $2")
                .bind(up as i64)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        if let (Some(groups), None) = (&change.group_ids, &port.instance_id) {
            sqlx::query("UPDATE ports SET group_ids = $1 WHERE id = $2")
                .bind(groups.join(","))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        if let (Some(a), Some(net)) = (
            change.address.as_deref().filter(|a| *a != port.address),
            &net,
        ) {
            let wanted = parse_ip("address", a).map_err(|reason| DbError::AddressNotAvailable {
                address: a.to_string(),
                network: net.name.clone(),
                reason,
            })?;
            free_address_of(&mut tx, id).await?;
            let address = claim_address(
                &mut tx,
                net,
                id,
                port.instance_id.as_deref(),
                Want::Address(&wanted.to_string()),
            )
            .await?;
            sqlx::query("UPDATE ports SET address = $1 WHERE id = $2")
                .bind(&address)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            if let Some(h) = &port.host {
                bump(&mut tx, &host_scope(h)).await?;
            }
        }
        tx.commit().await?;
        self.get_port(id).await
    }

    /// Deletes one port: its address is freed, its floating addresses disassociated, and
    /// the host it was placed on replans. Returns it.
    pub async fn delete_port(&self, id: &str) -> Result<Port, DbError> {
        let port = self.get_port(id).await?;
        let mut tx = self.pool.begin().await?;
        remove_port(&mut tx, &port).await?;
        tx.commit().await?;
        Ok(port)
    }

    /// Plugs an unbound port of `project` into `instance` (a server create that names the
    /// port). Refused when another server has it.
    pub async fn bind_port(
        &self,
        id: &str,
        instance: &str,
        project: &str,
    ) -> Result<Port, DbError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE ports SET instance_id = $1 WHERE id = $2 AND project_id = $3 \
             AND instance_id IS NULL",
        )
        .bind(instance)
        .bind(id)
        .bind(project)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            drop(tx);
            let port = self.get_port(id).await?;
            return Err(match port.instance_id {
                Some(server) if port.project_id == project => DbError::PortInUse {
                    port: id.to_string(),
                    server,
                },
                _ => DbError::NotFound(format!("Port {id}")),
            });
        }
        sqlx::query("UPDATE fixed_ips SET instance_id = $1 WHERE port_id = $2")
            .bind(instance)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.get_port(id).await
    }

    /// Gives a bound port the device tag its server's create or attach asked for.
    pub async fn set_port_tag(&self, id: &str, tag: &str) -> Result<(), DbError> {
        let done =
            sqlx::query("UPDATE ports SET tag = $1 WHERE id = $2 AND instance_id IS NOT NULL")
                .bind(tag)
                .bind(id)
                .execute(&self.pool)
                .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::NotFound(format!("Port {id}")));
        }
        Ok(())
    }

    pub async fn get_port(&self, id: &str) -> Result<Port, DbError> {
        let row = sqlx::query(&format!("SELECT {PORT_COLUMNS} FROM ports WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| DbError::NotFound(format!("Port {id}")))?;
        port_from_row(&row)
    }

    async fn ports_where(&self, column: &str, value: &str) -> Result<Vec<Port>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {PORT_COLUMNS} FROM ports WHERE {column} = $1 ORDER BY created_at, id"
        ))
        .bind(value)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(port_from_row).collect()
    }

    pub async fn ports_of_instance(&self, instance: &str) -> Result<Vec<Port>, DbError> {
        self.ports_where("instance_id", instance).await
    }

    /// The ports whose `column` is any of `values` (one query per 500).
    async fn ports_where_in(&self, column: &str, values: &[String]) -> Result<Vec<Port>, DbError> {
        let mut out = Vec::new();
        for chunk in values.chunks(500) {
            let marks = in_marks(chunk.len());
            let sql = format!(
                "SELECT {PORT_COLUMNS} FROM ports WHERE {column} IN ({marks}) \
                 ORDER BY created_at, id"
            );
            let mut q = sqlx::query(&sql);
            for v in chunk {
                q = q.bind(v);
            }
            for r in q.fetch_all(&self.pool).await? {
                out.push(port_from_row(&r)?);
            }
        }
        Ok(out)
    }

    /// The ports of any of `instances`, for a page of servers.
    pub async fn ports_of_instances(&self, instances: &[String]) -> Result<Vec<Port>, DbError> {
        self.ports_where_in("instance_id", instances).await
    }

    /// The ports among `ids` that exist.
    pub async fn ports_by_ids(&self, ids: &[String]) -> Result<Vec<Port>, DbError> {
        self.ports_where_in("id", ids).await
    }

    /// A project's ports, or every port.
    pub async fn list_ports(&self, project: Option<&str>) -> Result<Vec<Port>, DbError> {
        match project {
            Some(p) => self.ports_where("project_id", p).await,
            None => {
                let rows = sqlx::query(&format!(
                    "SELECT {PORT_COLUMNS} FROM ports ORDER BY created_at, id"
                ))
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(port_from_row).collect()
            }
        }
    }

    pub async fn ports_on_host(&self, host: &str) -> Result<Vec<Port>, DbError> {
        self.ports_where("host", host).await
    }

    pub async fn ports_of_network(&self, network: &str) -> Result<Vec<Port>, DbError> {
        self.ports_where("network_id", network).await
    }

    /// Moves an instance's ports to `host` (`None`: nowhere); returns them.
    pub async fn set_port_host(
        &self,
        instance: &str,
        host: Option<&str>,
    ) -> Result<Vec<Port>, DbError> {
        let mut tx = self.pool.begin().await?;
        let before = sqlx::query("SELECT DISTINCT host FROM ports WHERE instance_id = $1")
            .bind(instance)
            .fetch_all(&mut *tx)
            .await?;
        for r in &before {
            if let Some(h) = get::<Option<String>>(r, "host")? {
                bump(&mut tx, &host_scope(&h)).await?;
            }
        }
        sqlx::query("UPDATE ports SET host = $1 WHERE instance_id = $2")
            .bind(host)
            .bind(instance)
            .execute(&mut *tx)
            .await?;
        if let Some(h) = host {
            bump(&mut tx, &host_scope(h)).await?;
        }
        tx.commit().await?;
        self.ports_of_instance(instance).await
    }

    /// Takes an instance's ports away with it: the ports its create made are deleted (their
    /// addresses freed, floating addresses disassociated, auto-assigned ones back to their
    /// pool); ports made through the Network API are unbound and keep their address and
    /// the floating addresses the project associated. Returns every port it had.
    pub async fn release_ports_of_instance(&self, instance: &str) -> Result<Vec<Port>, DbError> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(&format!(
            "SELECT {PORT_COLUMNS} FROM ports WHERE instance_id = $1 ORDER BY created_at, id"
        ))
        .bind(instance)
        .fetch_all(&mut *tx)
        .await?;
        let ports = rows
            .iter()
            .map(port_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        for p in &ports {
            if p.kept {
                unbind_port(&mut tx, p).await?;
            } else {
                remove_port(&mut tx, p).await?;
            }
        }
        tx.commit().await?;
        Ok(ports)
    }

    /// Takes one port away from `instance` (an interface detach), as
    /// [`Db::release_ports_of_instance`] does for all of them: a port the server's create
    /// or an attach by network made is deleted, a port made through the Network API
    /// unbound. Not found when the instance does not have it.
    pub async fn release_port(&self, instance: &str, id: &str) -> Result<Port, DbError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(&format!(
            "SELECT {PORT_COLUMNS} FROM ports WHERE id = $1 AND instance_id = $2"
        ))
        .bind(id)
        .bind(instance)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| DbError::NotFound(format!("Port {id} of instance {instance}")))?;
        let port = port_from_row(&row)?;
        if port.kept {
            unbind_port(&mut tx, &port).await?;
        } else {
            remove_port(&mut tx, &port).await?;
        }
        tx.commit().await?;
        Ok(port)
    }
}

/// Frees the fixed address a port holds, inside `tx`.
async fn free_address_of(tx: &mut Transaction<'_, Any>, port: &str) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE fixed_ips SET port_id = NULL, instance_id = NULL, allocated = 0, \
         leased = 0, updated_at = $1 WHERE port_id = $2",
    )
    .bind(now_ms())
    .bind(port)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Deletes a port inside `tx`, with its address and floating associations.
pub(crate) async fn remove_port(tx: &mut Transaction<'_, Any>, p: &Port) -> Result<(), DbError> {
    if let Some(h) = &p.host {
        bump(tx, &host_scope(h)).await?;
    }
    crate::floating::detach_port(tx, &p.id, now_ms()).await?;
    free_address_of(tx, &p.id).await?;
    sqlx::query("DELETE FROM ports WHERE id = $1")
        .bind(&p.id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Unplugs a kept port from its server inside `tx`: no server, no host, the address kept
/// (no longer leased), the server's groups kept as the port's own.
async fn unbind_port(tx: &mut Transaction<'_, Any>, p: &Port) -> Result<(), DbError> {
    if let Some(h) = &p.host {
        bump(tx, &host_scope(h)).await?;
    }
    let now = now_ms();
    crate::floating::return_auto_assigned(tx, &p.id, now).await?;
    sqlx::query(
        "UPDATE fixed_ips SET instance_id = NULL, leased = 0, updated_at = $1 \
         WHERE port_id = $2",
    )
    .bind(now)
    .bind(&p.id)
    .execute(&mut **tx)
    .await?;
    let groups = sqlx::query(
        "SELECT group_id FROM security_group_members WHERE instance_id = $1 \
         ORDER BY group_id",
    )
    .bind(p.instance_id.as_deref().unwrap_or_default())
    .fetch_all(&mut **tx)
    .await?;
    let ids = groups
        .iter()
        .map(|r| get::<String>(r, "group_id"))
        .collect::<Result<Vec<_>, _>>()?;
    sqlx::query(
        "UPDATE ports SET instance_id = NULL, host = NULL, tag = NULL, group_ids = $1 \
         WHERE id = $2",
    )
    .bind(ids.join(","))
    .bind(&p.id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
