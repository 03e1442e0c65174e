//! Security groups: a project's named rule sets and the instances in them.

use crate::networks::in_marks;
use crate::networks::{bump, Cidr};
use crate::quotas::{reserve_limited, unreserve};
use crate::{get, now_ms, Db, DbError};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

/// The quota resource security groups count against (the `default` group does not).
pub const SECURITY_GROUPS: &str = "security_groups";
/// The group every project has, made on first use.
pub const DEFAULT_GROUP: &str = "default";

/// A security group.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SecurityGroup {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub description: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A rule as asked for; [`Db::add_security_group_rule`] checks it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewRule {
    /// `ingress` or `egress`.
    pub direction: String,
    /// `tcp`, `udp`, `icmp`, or `None` for any.
    pub protocol: Option<String>,
    pub port_min: Option<i64>,
    pub port_max: Option<i64>,
    pub icmp_type: Option<i64>,
    pub icmp_code: Option<i64>,
    /// Where traffic may come from (ingress) or go to (egress); with no remote, anywhere.
    pub remote_cidr: Option<String>,
    /// Members of this group instead of a CIDR.
    pub remote_group_id: Option<String>,
}

/// A stored rule.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Rule {
    pub id: String,
    pub group_id: String,
    pub direction: String,
    pub protocol: Option<String>,
    pub port_min: Option<i64>,
    pub port_max: Option<i64>,
    pub icmp_type: Option<i64>,
    pub icmp_code: Option<i64>,
    pub remote_cidr: Option<String>,
    pub remote_group_id: Option<String>,
}

/// A group as the network worker needs it: its rules and the fixed addresses of its
/// members (what `remote_group_id` rules match).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GroupWithMembers {
    pub group: SecurityGroup,
    pub rules: Vec<Rule>,
    pub member_addresses: Vec<String>,
}

/// The rules of a new `default` group (Nova's and Neutron's): IPv4 in from its own
/// members, and out to anywhere.
pub fn default_rules(group_id: &str) -> Vec<NewRule> {
    vec![
        NewRule {
            direction: "ingress".into(),
            remote_group_id: Some(group_id.to_string()),
            ..NewRule::default()
        },
        NewRule {
            direction: "egress".into(),
            ..NewRule::default()
        },
    ]
}

const GROUP_COLUMNS: &str = "id, project_id, name, description, created_at, updated_at";
const RULE_COLUMNS: &str = "id, group_id, direction, protocol, port_min, port_max, icmp_type, \
    icmp_code, remote_cidr, remote_group_id";

fn group_from_row(r: &AnyRow) -> Result<SecurityGroup, DbError> {
    Ok(SecurityGroup {
        id: get(r, "id")?,
        project_id: get(r, "project_id")?,
        name: get(r, "name")?,
        description: get(r, "description")?,
        created_at: get(r, "created_at")?,
        updated_at: get(r, "updated_at")?,
    })
}

fn rule_from_row(r: &AnyRow) -> Result<Rule, DbError> {
    Ok(Rule {
        id: get(r, "id")?,
        group_id: get(r, "group_id")?,
        direction: get(r, "direction")?,
        protocol: get(r, "protocol")?,
        port_min: get(r, "port_min")?,
        port_max: get(r, "port_max")?,
        icmp_type: get(r, "icmp_type")?,
        icmp_code: get(r, "icmp_code")?,
        remote_cidr: get(r, "remote_cidr")?,
        remote_group_id: get(r, "remote_group_id")?,
    })
}

fn bad(s: impl Into<String>) -> DbError {
    DbError::InvalidSecurityGroupRule(s.into())
}

/// Checks a rule and puts it in canonical form (lowercase protocol, CIDR network address).
pub fn validate_rule(rule: &NewRule) -> Result<NewRule, DbError> {
    let mut r = rule.clone();
    r.direction = r.direction.trim().to_ascii_lowercase();
    if r.direction != "ingress" && r.direction != "egress" {
        return Err(bad(format!(
            "direction {:?} must be ingress or egress",
            rule.direction
        )));
    }
    r.protocol = r
        .protocol
        .map(|p| p.trim().to_ascii_lowercase())
        .filter(|p| !p.is_empty() && p != "any");
    let ports = r.port_min.is_some() || r.port_max.is_some();
    let icmp = r.icmp_type.is_some() || r.icmp_code.is_some();
    match r.protocol.as_deref() {
        None if ports || icmp => {
            return Err(bad("ports and ICMP type/code need a protocol"));
        }
        None => {}
        Some("tcp") | Some("udp") => {
            if icmp {
                return Err(bad("ICMP type and code apply to protocol icmp only"));
            }
            match (r.port_min, r.port_max) {
                (None, None) => {}
                (Some(min), Some(max)) => {
                    if !(1..=65535).contains(&min) || !(1..=65535).contains(&max) {
                        return Err(bad(format!(
                            "ports {min} to {max}: ports are between 1 and 65535"
                        )));
                    }
                    if min > max {
                        return Err(bad(format!(
                            "the first port {min} is greater than the last {max}"
                        )));
                    }
                }
                _ => return Err(bad("give both the first and the last port, or neither")),
            }
        }
        Some("icmp") => {
            if ports {
                return Err(bad("ports apply to protocols tcp and udp only"));
            }
            for (what, v) in [("type", r.icmp_type), ("code", r.icmp_code)] {
                if let Some(v) = v {
                    if !(0..=255).contains(&v) {
                        return Err(bad(format!("ICMP {what} {v} is not between 0 and 255")));
                    }
                }
            }
            if r.icmp_code.is_some() && r.icmp_type.is_none() {
                return Err(bad("an ICMP code needs an ICMP type"));
            }
        }
        Some(p) => {
            return Err(bad(format!(
                "protocol {p:?} must be tcp, udp or icmp (or none for any)"
            )))
        }
    }
    if r.remote_cidr.is_some() && r.remote_group_id.is_some() {
        return Err(bad("give a remote CIDR or a remote group, not both"));
    }
    if let Some(c) = &r.remote_cidr {
        let c = c.trim();
        let (addr, prefix) = c
            .split_once('/')
            .ok_or_else(|| bad(format!("{c:?} is not a CIDR (expected a.b.c.d/n)")))?;
        let addr: std::net::Ipv4Addr = addr
            .parse()
            .map_err(|_| bad(format!("{c:?} is not an IPv4 CIDR")))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| bad(format!("{c:?} has no prefix length between 0 and 32")))?;
        let mask = if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - prefix as u32)
        };
        let net = std::net::Ipv4Addr::from(u32::from(addr) & mask);
        let cidr = Cidr::parse(&format!("{net}/{prefix}")).map_err(bad)?;
        r.remote_cidr = Some(cidr.to_string_form());
    }
    Ok(r)
}

fn fingerprint(r: &NewRule) -> String {
    let o = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    format!(
        "{}|{}|{}|{}|{}|{}|{}|{}",
        r.direction,
        r.protocol.as_deref().unwrap_or(""),
        o(r.port_min),
        o(r.port_max),
        o(r.icmp_type),
        o(r.icmp_code),
        r.remote_cidr.as_deref().unwrap_or(""),
        r.remote_group_id.as_deref().unwrap_or(""),
    )
}

/// Stores a checked rule inside `tx`.
async fn insert_rule(
    tx: &mut Transaction<'_, Any>,
    group: &SecurityGroup,
    r: &NewRule,
) -> Result<String, DbError> {
    let id = uuid::Uuid::new_v4().to_string();
    let done = sqlx::query(
        "INSERT INTO security_group_rules (id, group_id, direction, protocol, port_min, \
         port_max, icmp_type, icmp_code, remote_cidr, remote_group_id, fingerprint, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (group_id, fingerprint) DO NOTHING",
    )
    .bind(&id)
    .bind(&group.id)
    .bind(&r.direction)
    .bind(&r.protocol)
    .bind(r.port_min)
    .bind(r.port_max)
    .bind(r.icmp_type)
    .bind(r.icmp_code)
    .bind(&r.remote_cidr)
    .bind(&r.remote_group_id)
    .bind(fingerprint(r))
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(DbError::SecurityGroupRuleExists {
            group: group.name.clone(),
        });
    }
    Ok(id)
}

fn group_not_found(id: &str) -> DbError {
    DbError::NotFound(format!("Security group {id}"))
}

impl Db {
    /// The project's `default` group, made with its default rules on first use; however
    /// many first uses race, there is one.
    pub async fn ensure_default_group(&self, project: &str) -> Result<SecurityGroup, DbError> {
        if let Some(g) = self.security_group_by_name(project, DEFAULT_GROUP).await? {
            return Ok(g);
        }
        let id = uuid::Uuid::new_v4().to_string();
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "INSERT INTO security_groups (id, project_id, name, description, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (project_id, name) DO NOTHING",
        )
        .bind(&id)
        .bind(project)
        .bind(DEFAULT_GROUP)
        .bind("Default security group")
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 1 {
            let group = SecurityGroup {
                id: id.clone(),
                project_id: project.to_string(),
                name: DEFAULT_GROUP.into(),
                description: String::new(),
                created_at: now,
                updated_at: now,
            };
            for r in default_rules(&id) {
                insert_rule(&mut tx, &group, &r).await?;
            }
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
        self.security_group_by_name(project, DEFAULT_GROUP)
            .await?
            .ok_or_else(|| DbError::Corrupt(format!("project {project} lost its default group")))
    }

    /// Creates a group, at most `limit` per project besides `default` (`-1`: no limit).
    pub async fn create_security_group(
        &self,
        project: &str,
        name: &str,
        description: &str,
        limit: i64,
    ) -> Result<SecurityGroup, DbError> {
        // Kept as given, spaces and all (as Nova and Neutron keep it); not only spaces.
        if name.trim().is_empty() || name.len() > 255 {
            return Err(DbError::Conflict(
                "A security group name must be 1 to 255 characters".into(),
            ));
        }
        if name == DEFAULT_GROUP {
            return Err(DbError::Conflict(
                "The name default is reserved for the project's default security group".into(),
            ));
        }
        if description.len() > 255 {
            return Err(DbError::Conflict(
                "A security group description is at most 255 characters".into(),
            ));
        }
        let id = uuid::Uuid::new_v4().to_string();
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        reserve_limited(&mut tx, project, SECURITY_GROUPS, 1, limit).await?;
        let done = sqlx::query(
            "INSERT INTO security_groups (id, project_id, name, description, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (project_id, name) DO NOTHING",
        )
        .bind(&id)
        .bind(project)
        .bind(name)
        .bind(description)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::Conflict(format!(
                "Security group {name} already exists"
            )));
        }
        tx.commit().await?;
        self.get_security_group(project, &id).await
    }

    /// Renames a project's group and changes its description (not `default`'s name).
    pub async fn update_security_group(
        &self,
        project: &str,
        id: &str,
        name: &str,
        description: &str,
    ) -> Result<SecurityGroup, DbError> {
        let group = self.get_security_group(project, id).await?;
        if name.trim().is_empty() || name.len() > 255 || description.len() > 255 {
            return Err(DbError::Conflict(
                "A security group name is 1 to 255 characters, a description at most 255".into(),
            ));
        }
        if (group.name == DEFAULT_GROUP) != (name == DEFAULT_GROUP) {
            return Err(DbError::Conflict(
                "The name default is reserved for the project's default security group".into(),
            ));
        }
        let done = sqlx::query(
            "UPDATE security_groups SET name = $1, description = $2, updated_at = $3 \
             WHERE id = $4 AND project_id = $5 AND NOT EXISTS (SELECT 1 FROM security_groups \
             WHERE project_id = $5 AND name = $1 AND id <> $4)",
        )
        .bind(name)
        .bind(description)
        .bind(now_ms())
        .bind(id)
        .bind(project)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::Conflict(format!(
                "Security group {name} already exists"
            )));
        }
        self.get_security_group(project, id).await
    }

    /// A project's group by id.
    pub async fn get_security_group(
        &self,
        project: &str,
        id: &str,
    ) -> Result<SecurityGroup, DbError> {
        let row = sqlx::query(&format!(
            "SELECT {GROUP_COLUMNS} FROM security_groups WHERE id = $1 AND project_id = $2"
        ))
        .bind(id)
        .bind(project)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| group_not_found(id))?;
        group_from_row(&row)
    }

    /// A project's group by name, if there is one.
    pub async fn security_group_by_name(
        &self,
        project: &str,
        name: &str,
    ) -> Result<Option<SecurityGroup>, DbError> {
        let row = sqlx::query(&format!(
            "SELECT {GROUP_COLUMNS} FROM security_groups WHERE project_id = $1 AND name = $2"
        ))
        .bind(project)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(group_from_row).transpose()
    }

    /// A project's groups, or every group.
    pub async fn list_security_groups(
        &self,
        project: Option<&str>,
    ) -> Result<Vec<SecurityGroup>, DbError> {
        let rows = match project {
            Some(p) => {
                sqlx::query(&format!(
                    "SELECT {GROUP_COLUMNS} FROM security_groups WHERE project_id = $1 \
                     ORDER BY name"
                ))
                .bind(p)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(&format!(
                    "SELECT {GROUP_COLUMNS} FROM security_groups ORDER BY project_id, name"
                ))
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(group_from_row).collect()
    }

    /// Deletes a group and its rules, and the rules of other groups that name it (as Nova
    /// and Neutron do); refused for `default` and while instances are in it.
    pub async fn delete_security_group(&self, project: &str, id: &str) -> Result<(), DbError> {
        let group = self.get_security_group(project, id).await?;
        if group.name == DEFAULT_GROUP {
            return Err(DbError::SecurityGroupInUse {
                group: group.name,
                reason: "the default group cannot be deleted".into(),
            });
        }
        let in_use = |reason: &str| DbError::SecurityGroupInUse {
            group: group.name.clone(),
            reason: reason.into(),
        };
        let mut tx = self.pool.begin().await?;
        let members: i64 = get(
            &sqlx::query("SELECT COUNT(*) AS n FROM security_group_members WHERE group_id = $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?,
            "n",
        )?;
        if members > 0 {
            return Err(in_use(&format!("{members} instance(s) are in it")));
        }
        sqlx::query(
            "DELETE FROM security_group_rules WHERE remote_group_id = $1 AND group_id <> $1",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let done = sqlx::query(
            "DELETE FROM security_groups WHERE id = $1 AND project_id = $2 \
             AND NOT EXISTS (SELECT 1 FROM security_group_members WHERE group_id = $1)",
        )
        .bind(id)
        .bind(project)
        .execute(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
                in_use("instances are in it")
            }
            _ => e.into(),
        })?;
        if done.rows_affected() == 0 {
            return Err(in_use("instances joined it meanwhile"));
        }
        unreserve(&mut tx, project, &[(SECURITY_GROUPS, 1)]).await?;
        bump(&mut tx, "security_groups").await?;
        tx.commit().await?;
        Ok(())
    }

    /// The rules of a group.
    pub async fn security_group_rules(&self, group: &str) -> Result<Vec<Rule>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {RULE_COLUMNS} FROM security_group_rules WHERE group_id = $1 \
             ORDER BY created_at, id"
        ))
        .bind(group)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rule_from_row).collect()
    }

    /// Adds a rule to a project's group, at most `limit` rules per group (`-1`: no limit).
    pub async fn add_security_group_rule(
        &self,
        project: &str,
        group: &str,
        rule: &NewRule,
        limit: i64,
    ) -> Result<Rule, DbError> {
        let rule = validate_rule(rule)?;
        let g = self.get_security_group(project, group).await?;
        if let Some(remote) = &rule.remote_group_id {
            if remote != group {
                self.get_security_group(project, remote)
                    .await
                    .map_err(|_| bad(format!("remote group {remote} is not one of yours")))?;
            }
        }
        let mut tx = self.pool.begin().await?;
        // Touching the group first locks it: concurrent additions count one at a time.
        let done = sqlx::query(
            "UPDATE security_groups SET updated_at = $1 WHERE id = $2 AND project_id = $3",
        )
        .bind(now_ms())
        .bind(group)
        .bind(project)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(group_not_found(group));
        }
        let used: i64 = get(
            &sqlx::query("SELECT COUNT(*) AS n FROM security_group_rules WHERE group_id = $1")
                .bind(group)
                .fetch_one(&mut *tx)
                .await?,
            "n",
        )?;
        if limit >= 0 && used + 1 > limit {
            return Err(DbError::QuotaExceeded {
                resource: "security_group_rules".into(),
                requested: 1,
                used,
                limit,
            });
        }
        let id = insert_rule(&mut tx, &g, &rule).await?;
        bump(&mut tx, "security_groups").await?;
        tx.commit().await?;
        let row = sqlx::query(&format!(
            "SELECT {RULE_COLUMNS} FROM security_group_rules WHERE id = $1"
        ))
        .bind(&id)
        .fetch_one(&self.pool)
        .await?;
        rule_from_row(&row)
    }

    /// Removes a rule from one of the project's groups.
    pub async fn remove_security_group_rule(
        &self,
        project: &str,
        rule: &str,
    ) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "DELETE FROM security_group_rules WHERE id = $1 AND group_id IN \
             (SELECT id FROM security_groups WHERE project_id = $2)",
        )
        .bind(rule)
        .bind(project)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::NotFound(format!("Security group rule {rule}")));
        }
        bump(&mut tx, "security_groups").await?;
        tx.commit().await?;
        Ok(())
    }

    /// Puts an instance in one of its project's groups.
    pub async fn add_instance_to_group(
        &self,
        instance: &str,
        project: &str,
        group: &str,
    ) -> Result<(), DbError> {
        let g = self.get_security_group(project, group).await?;
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "INSERT INTO security_group_members (instance_id, group_id, created_at) \
             SELECT $1, id, $2 FROM security_groups WHERE id = $3 AND project_id = $4 \
             ON CONFLICT (instance_id, group_id) DO NOTHING",
        )
        .bind(instance)
        .bind(now_ms())
        .bind(group)
        .bind(project)
        .execute(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_foreign_key_violation() => group_not_found(group),
            _ => e.into(),
        })?;
        if done.rows_affected() == 0 {
            return Err(DbError::Conflict(format!(
                "Instance {instance} is already in security group {}",
                g.name
            )));
        }
        bump(&mut tx, "security_groups").await?;
        tx.commit().await?;
        Ok(())
    }

    /// Takes an instance out of a group.
    pub async fn remove_instance_from_group(
        &self,
        instance: &str,
        group: &str,
    ) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "DELETE FROM security_group_members WHERE instance_id = $1 AND group_id = $2",
        )
        .bind(instance)
        .bind(group)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::NotFound(format!(
                "Instance {instance} in security group {group}"
            )));
        }
        bump(&mut tx, "security_groups").await?;
        tx.commit().await?;
        Ok(())
    }

    /// Takes an instance out of every group (when it is deleted).
    pub async fn remove_instance_from_all_groups(&self, instance: &str) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM security_group_members WHERE instance_id = $1")
            .bind(instance)
            .execute(&mut *tx)
            .await?;
        bump(&mut tx, "security_groups").await?;
        tx.commit().await?;
        Ok(())
    }

    /// The groups an instance is in.
    pub async fn groups_of_instance(&self, instance: &str) -> Result<Vec<SecurityGroup>, DbError> {
        let rows = sqlx::query(
            "SELECT g.id, g.project_id, g.name, g.description, g.created_at, g.updated_at \
             FROM security_groups g JOIN security_group_members m ON m.group_id = g.id \
             WHERE m.instance_id = $1 ORDER BY g.name",
        )
        .bind(instance)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(group_from_row).collect()
    }

    /// The projects of those of `instances` that exist (one query per 500).
    pub async fn projects_of_instances(
        &self,
        instances: &[String],
    ) -> Result<Vec<(String, String)>, DbError> {
        let mut out = Vec::new();
        for chunk in instances.chunks(500) {
            let marks = in_marks(chunk.len());
            let sql = format!("SELECT uuid, project_id FROM instances WHERE uuid IN ({marks})");
            let mut q = sqlx::query(&sql);
            for i in chunk {
                q = q.bind(i);
            }
            for r in q.fetch_all(&self.pool).await? {
                out.push((get(&r, "uuid")?, get(&r, "project_id")?));
            }
        }
        Ok(out)
    }

    /// The group ids of each of `instances` that is in any (one query per 500), for the
    /// Network API's port listings.
    pub async fn group_ids_of_instances(
        &self,
        instances: &[String],
    ) -> Result<std::collections::HashMap<String, Vec<String>>, DbError> {
        let pairs = self
            .pairs_in(
                |marks| {
                    format!(
                        "SELECT instance_id AS k, group_id AS v FROM security_group_members \
                         WHERE instance_id IN ({marks}) ORDER BY created_at, group_id"
                    )
                },
                instances,
            )
            .await?;
        Ok(pairs.into_iter().collect())
    }

    /// (instance, group project, group name) of every membership of any of `instances`
    /// (one query per 500), for a page of servers.
    pub async fn group_names_of_instances(
        &self,
        instances: &[String],
    ) -> Result<Vec<(String, String, String)>, DbError> {
        let mut out = Vec::new();
        for chunk in instances.chunks(500) {
            let marks = in_marks(chunk.len());
            let sql = format!(
                "SELECT m.instance_id AS instance_id, g.project_id AS project_id, g.name AS name \
                 FROM security_groups g \
                 JOIN security_group_members m ON m.group_id = g.id \
                 WHERE m.instance_id IN ({marks}) ORDER BY g.name"
            );
            let mut q = sqlx::query(&sql);
            for i in chunk {
                q = q.bind(i);
            }
            for r in q.fetch_all(&self.pool).await? {
                out.push((
                    get(&r, "instance_id")?,
                    get(&r, "project_id")?,
                    get(&r, "name")?,
                ));
            }
        }
        Ok(out)
    }

    /// The groups `ids` with their rules and their members' fixed addresses, for the
    /// network worker (unknown ids are left out).
    pub async fn groups_with_members(
        &self,
        ids: &[String],
    ) -> Result<Vec<GroupWithMembers>, DbError> {
        let mut out = Vec::new();
        for id in ids {
            let row = sqlx::query(&format!(
                "SELECT {GROUP_COLUMNS} FROM security_groups WHERE id = $1"
            ))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
            let Some(row) = row else { continue };
            let group = group_from_row(&row)?;
            let rules = self.security_group_rules(id).await?;
            let rows = sqlx::query(
                "SELECT DISTINCT p.address AS address FROM security_group_members m \
                 JOIN ports p ON p.instance_id = m.instance_id WHERE m.group_id = $1 \
                 ORDER BY p.address",
            )
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
            let member_addresses = rows
                .iter()
                .map(|r| get(r, "address"))
                .collect::<Result<Vec<String>, _>>()?;
            out.push(GroupWithMembers {
                group,
                rules,
                member_addresses,
            });
        }
        Ok(out)
    }
}
