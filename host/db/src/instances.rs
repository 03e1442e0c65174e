//! Instances, their actions and faults.

use crate::groups;
use crate::nodes::{self, Claim};
use crate::quotas::{self, DefaultLimits, CORES, INSTANCES, RAM};
pub(crate) use crate::rows::{claim_of, instance_from_row, COLUMNS};
pub use crate::rows::{Instance, StateChange};
use crate::{get, now_ms, Db, DbError};
use metacloud_objects::{Flavor, InstanceStatus, TaskState};
use serde::Serialize;
use std::collections::BTreeMap;

/// The latest fault of an instance.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Fault {
    pub code: i64,
    pub message: String,
    pub host: Option<String>,
    pub created_at: i64,
}

/// One action taken on an instance (create, start, stop, reboot, delete…).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ActionRecord {
    pub action: String,
    pub request_id: String,
    pub project_id: String,
    pub user_id: String,
    pub start_time: i64,
}

/// What [`Db::place_instance`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Claimed and moved to `spawning` on the host.
    Placed,
    /// The host has no room left (another request took it first).
    NoRoom,
    /// The instance is no longer waiting for a host (deleted, or placed by an earlier try).
    NotSchedulable,
}

/// A batch of instances to create in one request.
#[derive(Debug, Clone)]
pub struct NewInstances {
    pub name: String,
    pub count: u32,
    pub project_id: String,
    pub user_id: String,
    pub flavor: Flavor,
    pub image_id: Option<String>,
    pub availability_zone: Option<String>,
    pub key_name: Option<String>,
    pub user_data: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub request_id: String,
    /// Server group the instances join (must be the project's).
    pub server_group: Option<String>,
    pub access_ip_v4: Option<String>,
    pub access_ip_v6: Option<String>,
    /// The tenant's description (2.19).
    pub description: Option<String>,
    /// Tags (2.52), at most [`crate::details::MAX_TAGS`].
    pub tags: Vec<String>,
    /// The hostname chosen (2.90; one instance only).
    pub hostname: Option<String>,
}

impl NewInstances {
    /// `count` instances of `flavor` named `name` for a user of `project`, with nothing
    /// else asked for (no image, zone, key, user data, metadata, group or access address).
    pub fn plain(name: &str, count: u32, project: &str, user: &str, flavor: Flavor) -> Self {
        NewInstances {
            name: name.into(),
            count,
            project_id: project.into(),
            user_id: user.into(),
            flavor,
            image_id: None,
            availability_zone: None,
            key_name: None,
            user_data: None,
            metadata: BTreeMap::new(),
            request_id: metacloud_objects::new_request_id(),
            server_group: None,
            access_ip_v4: None,
            access_ip_v6: None,
            description: None,
            tags: Vec::new(),
            hostname: None,
        }
    }
}

/// One page of a server list (Nova's `GET /servers` filters): every filter given must hold,
/// and the instances come newest first (`created_at DESC, uuid DESC`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerFilter {
    /// Only this project's instances; `None`: every project's.
    pub project: Option<String>,
    /// A regular expression the name must match somewhere (Nova's `name`).
    pub name: Option<String>,
    /// Any of these vm states; empty: any state.
    pub vm_states: Vec<String>,
    pub flavor_id: Option<String>,
    pub image_id: Option<String>,
    pub host: Option<String>,
    /// Changed at or after this time (ms), deleted instances included; `None`: live
    /// instances only.
    pub changes_since: Option<i64>,
    /// Changed at or before this time (ms), deleted instances included too.
    pub changes_before: Option<i64>,
    /// Start after this instance, which the same filter must list (else
    /// [`DbError::MarkerNotFound`]).
    pub marker: Option<String>,
    /// At most this many.
    pub limit: Option<u32>,
    /// Tag filters (2.26): every one of `tags`, any of `tags_any`, not all of `not_tags`,
    /// none of `not_tags_any`; empty lists filter nothing.
    pub tags: Vec<String>,
    pub tags_any: Vec<String>,
    pub not_tags: Vec<String>,
    pub not_tags_any: Vec<String>,
    /// Only locked (`true`) or unlocked (`false`) instances (2.73).
    pub locked: Option<bool>,
    /// Exact matches on the fields of [`EXACT_FILTERS`] (name, value).
    pub exact: Vec<(String, String)>,
}

/// The fields an exact-match filter may name, and their columns (SQL of this list only).
pub const EXACT_FILTERS: &[(&str, &str)] = &[
    ("user-id", "user_id"),
    ("key-name", "key_name"),
    // Shown as `nova` when none was asked for or given by the host (the API's view).
    ("availability-zone", "COALESCE(availability_zone, 'nova')"),
    ("vm-state", "vm_state"),
    ("task-state", "task_state"),
    ("power-state", "power_state"),
];

impl ServerFilter {
    /// The name filter compiled as the API always has (400-class error when invalid).
    pub fn name_regex(&self) -> Result<Option<regex::Regex>, DbError> {
        self.name
            .as_ref()
            .map(|n| {
                regex::RegexBuilder::new(n)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| DbError::InvalidNameFilter {
                        name: n.clone(),
                        reason: e.to_string(),
                    })
            })
            .transpose()
    }
}

/// Rows read at a time while a name filter is applied here: the first read is sized by the
/// limit, then each doubles, within these bounds.
const NAME_SCAN_MIN: i64 = 64;
const NAME_SCAN_MAX: i64 = 1024;

/// A value bound to a placeholder.
enum Arg<'a> {
    Text(&'a str),
    Int(i64),
}

/// A `SELECT` on `instances` built with numbered placeholders (`$n`, which both backends
/// take through the `Any` driver; sqlx's `QueryBuilder` writes `?` for it): user values are
/// only ever bound, never written into the text.
pub(crate) struct Select<'a> {
    sql: String,
    args: Vec<Arg<'a>>,
}

impl<'a> Select<'a> {
    fn new(columns: &str) -> Self {
        Select {
            sql: format!("SELECT {columns} FROM instances WHERE "),
            args: Vec::new(),
        }
    }

    /// The placeholder of a newly bound value.
    fn arg(&mut self, a: Arg<'a>) -> String {
        self.args.push(a);
        format!("${}", self.args.len())
    }

    /// The conditions of `f` (all but the marker and the name).
    fn filtered(columns: &str, f: &'a ServerFilter) -> Self {
        let mut s = Select::new(columns);
        match (f.changes_since, f.changes_before) {
            (None, None) => s.sql.push_str("deleted = 0"),
            (since, before) => {
                // Deleted instances are listed too, as Nova lists them with either bound.
                s.sql.push_str("1 = 1");
                if let Some(t) = since {
                    let p = s.arg(Arg::Int(t));
                    s.sql.push_str(&format!(" AND updated_at >= {p}"));
                }
                if let Some(t) = before {
                    let p = s.arg(Arg::Int(t));
                    s.sql.push_str(&format!(" AND updated_at <= {p}"));
                }
            }
        }
        for (column, value) in [
            ("project_id", &f.project),
            ("flavor_id", &f.flavor_id),
            ("image_id", &f.image_id),
            ("host", &f.host),
        ] {
            if let Some(v) = value {
                let p = s.arg(Arg::Text(v));
                s.sql.push_str(&format!(" AND {column} = {p}"));
            }
        }
        if !f.vm_states.is_empty() {
            let ps: Vec<String> = f.vm_states.iter().map(|v| s.arg(Arg::Text(v))).collect();
            s.sql
                .push_str(&format!(" AND vm_state IN ({})", ps.join(", ")));
        }
        for (field, value) in &f.exact {
            // Names outside the list match nothing (the gateway refuses them first).
            let Some((_, column)) = EXACT_FILTERS.iter().find(|(n, _)| n == field) else {
                s.sql.push_str(" AND 1 = 0");
                continue;
            };
            let p = if *column == "power_state" {
                match value.trim().parse::<i64>() {
                    Ok(n) => s.arg(Arg::Int(n)),
                    Err(_) => {
                        s.sql.push_str(" AND 1 = 0");
                        continue;
                    }
                }
            } else {
                s.arg(Arg::Text(value))
            };
            s.sql.push_str(&format!(" AND {column} = {p}"));
        }
        match f.locked {
            Some(true) => s.sql.push_str(" AND locked_by IS NOT NULL"),
            Some(false) => s.sql.push_str(" AND locked_by IS NULL"),
            None => {}
        }
        s.tag_filters(f);
        s
    }

    /// The tag filters of `f`, as conditions on `instance_tags`.
    fn tag_filters(&mut self, f: &'a ServerFilter) {
        const HAS: &str = "uuid IN (SELECT instance_uuid FROM instance_tags WHERE tag";
        let all = |s: &mut Self, tags: &'a [String]| -> Vec<String> {
            tags.iter()
                .map(|t| format!("{HAS} = {})", s.arg(Arg::Text(t))))
                .collect()
        };
        let any = |s: &mut Self, tags: &'a [String]| -> String {
            let ps: Vec<String> = tags.iter().map(|t| s.arg(Arg::Text(t))).collect();
            format!("{HAS} IN ({}))", ps.join(", "))
        };
        if !f.tags.is_empty() {
            let c = all(self, &f.tags);
            self.sql.push_str(&format!(" AND {}", c.join(" AND ")));
        }
        if !f.tags_any.is_empty() {
            let c = any(self, &f.tags_any);
            self.sql.push_str(&format!(" AND {c}"));
        }
        if !f.not_tags.is_empty() {
            let c = all(self, &f.not_tags);
            self.sql
                .push_str(&format!(" AND NOT ({})", c.join(" AND ")));
        }
        if !f.not_tags_any.is_empty() {
            let c = any(self, &f.not_tags_any);
            self.sql.push_str(&format!(" AND NOT {c}"));
        }
    }

    /// Instances of `f` after `after` (`created_at`, `uuid`), newest first, at most `limit`.
    pub(crate) fn page(
        f: &'a ServerFilter,
        after: Option<(i64, &'a str)>,
        limit: Option<i64>,
    ) -> Self {
        Select::page_of(COLUMNS, f, after, limit)
    }

    /// [`Select::page`] reading only `columns`.
    fn page_of(
        columns: &str,
        f: &'a ServerFilter,
        after: Option<(i64, &'a str)>,
        limit: Option<i64>,
    ) -> Self {
        let mut s = Select::filtered(columns, f);
        if let Some((created, uuid)) = after {
            let (c, u) = (s.arg(Arg::Int(created)), s.arg(Arg::Text(uuid)));
            // The first bound is implied by the second; spelled out, it bounds the index scan.
            s.sql.push_str(&format!(
                " AND created_at <= {c} AND (created_at < {c} OR (created_at = {c} AND uuid < {u}))"
            ));
        }
        s.sql.push_str(" ORDER BY created_at DESC, uuid DESC");
        if let Some(n) = limit {
            let p = s.arg(Arg::Int(n));
            s.sql.push_str(&format!(" LIMIT {p}"));
        }
        s
    }

    #[cfg(test)]
    pub(crate) fn sql(&self) -> &str {
        &self.sql
    }

    pub(crate) fn query(&self) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments<'_>> {
        self.query_with(&self.sql)
    }

    /// Another text (such as this one explained) with this one's values bound.
    pub(crate) fn query_with<'q>(
        &'q self,
        sql: &'q str,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        let mut q = sqlx::query(sql);
        for a in &self.args {
            q = match a {
                Arg::Text(t) => q.bind(*t),
                Arg::Int(i) => q.bind(*i),
            };
        }
        q
    }
}

fn usage_of(count: i64, vcpus: i64, memory_mb: i64) -> [(&'static str, i64); 3] {
    [
        (INSTANCES, count),
        (CORES, count * vcpus),
        (RAM, count * memory_mb),
    ]
}

impl Db {
    /// Creates a batch of instances in `building`/`scheduling`, reserving quota for all of
    /// them in the same transaction: either every row and the usage land, or nothing does.
    pub async fn create_instances(
        &self,
        new: &NewInstances,
        limits: &DefaultLimits,
    ) -> Result<Vec<Instance>, DbError> {
        let now = now_ms();
        let count = new.count.max(1) as i64;
        let f = &new.flavor;
        let (vcpus, memory_mb, disk_gb) = (
            f.vcpus as i64,
            f.memory_mb as i64,
            (f.root_gb + f.ephemeral_gb) as i64,
        );
        let reservation_id = format!("r-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let metadata = serde_json::to_string(&new.metadata)
            .map_err(|e| DbError::Corrupt(format!("metadata: {e}")))?;
        let mut tx = self.pool.begin().await?;
        quotas::reserve(
            &mut tx,
            &new.project_id,
            &usage_of(count, vcpus, memory_mb),
            limits,
        )
        .await?;
        let mut uuids = Vec::with_capacity(count as usize);
        for i in 1..=count {
            let uuid = uuid::Uuid::new_v4().to_string();
            let name = if count > 1 {
                format!("{}-{i}", new.name)
            } else {
                new.name.clone()
            };
            sqlx::query(
                "INSERT INTO instances (uuid, name, project_id, user_id, flavor_id, image_id, \
                 availability_zone, vm_state, task_state, power_state, vcpus, memory_mb, disk_gb, \
                 reservation_id, key_name, user_data, metadata, created_at, updated_at, \
                 access_ip_v4, access_ip_v6, description, hostname) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'building', 'scheduling', 0, $8, $9, $10, \
                 $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)",
            )
            .bind(&uuid)
            .bind(&name)
            .bind(&new.project_id)
            .bind(&new.user_id)
            .bind(&f.id)
            .bind(&new.image_id)
            .bind(&new.availability_zone)
            .bind(vcpus)
            .bind(memory_mb)
            .bind(disk_gb)
            .bind(&reservation_id)
            .bind(&new.key_name)
            .bind(&new.user_data)
            .bind(&metadata)
            .bind(now)
            .bind(now)
            .bind(&new.access_ip_v4)
            .bind(&new.access_ip_v6)
            .bind(&new.description)
            .bind(&new.hostname)
            .execute(&mut *tx)
            .await?;
            crate::details::insert_tags(&mut tx, &uuid, &new.tags).await?;
            insert_action(&mut tx, &uuid, "create", new, now).await?;
            uuids.push(uuid);
        }
        if let Some(group) = &new.server_group {
            groups::join_in(&mut tx, group, &new.project_id, &uuids, limits).await?;
        }
        tx.commit().await?;
        let mut out = Vec::with_capacity(uuids.len());
        for uuid in &uuids {
            out.push(self.get_instance(uuid).await?);
        }
        Ok(out)
    }

    /// Sets text columns of a live instance (`None` stores NULL) and moves `updated_at`
    /// forward; the column names are this module's own.
    pub(crate) async fn set_columns(
        &self,
        uuid: &str,
        columns: &[(&'static str, Option<&str>)],
    ) -> Result<Instance, DbError> {
        let sets: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(i, (c, _))| format!("{c} = ${}", i + 1))
            .collect();
        let (now, id) = (columns.len() + 1, columns.len() + 2);
        let sql = format!(
            "UPDATE instances SET {}, \
             updated_at = CASE WHEN ${now} > updated_at THEN ${now} ELSE updated_at + 1 END \
             WHERE uuid = ${id} AND deleted = 0",
            sets.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for (_, v) in columns {
            q = q.bind(*v);
        }
        let done = q.bind(now_ms()).bind(uuid).execute(&self.pool).await?;
        if done.rows_affected() == 0 {
            return Err(DbError::NotFound(format!("instance {uuid}")));
        }
        self.get_instance(uuid).await
    }

    /// Replaces an instance's metadata.
    pub async fn set_instance_metadata(
        &self,
        uuid: &str,
        metadata: &BTreeMap<String, String>,
    ) -> Result<Instance, DbError> {
        let text = serde_json::to_string(metadata)
            .map_err(|e| DbError::Corrupt(format!("metadata: {e}")))?;
        self.set_columns(uuid, &[("metadata", Some(&text))]).await
    }

    /// Sets the hostname the tenant chose (2.90).
    pub async fn set_instance_hostname(
        &self,
        uuid: &str,
        hostname: &str,
    ) -> Result<Instance, DbError> {
        self.set_columns(uuid, &[("hostname", Some(hostname))])
            .await
    }

    /// Locks (`Some("owner" | "admin")`, with the reason given, 2.73) or unlocks (`None`:
    /// the reason goes too) an instance.
    pub async fn set_instance_lock(
        &self,
        uuid: &str,
        locked_by: Option<&str>,
        reason: Option<&str>,
    ) -> Result<Instance, DbError> {
        let reason = locked_by.and(reason);
        self.set_columns(uuid, &[("locked_by", locked_by), ("locked_reason", reason)])
            .await
    }

    /// Sets the access addresses (`Some(None)` clears one, `None` leaves it).
    pub async fn set_instance_access_ips(
        &self,
        uuid: &str,
        v4: Option<Option<&str>>,
        v6: Option<Option<&str>>,
    ) -> Result<Instance, DbError> {
        let current = self.get_instance(uuid).await?;
        let v4 = v4.unwrap_or(current.access_ip_v4.as_deref());
        let v6 = v6.unwrap_or(current.access_ip_v6.as_deref());
        self.set_columns(uuid, &[("access_ip_v4", v4), ("access_ip_v6", v6)])
            .await
    }

    /// Renames a live instance.
    pub async fn rename_instance(&self, uuid: &str, name: &str) -> Result<Instance, DbError> {
        self.set_columns(uuid, &[("name", Some(name))]).await
    }

    /// One instance (deleted ones too, so late reports can be recognised).
    pub async fn get_instance(&self, uuid: &str) -> Result<Instance, DbError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM instances WHERE uuid = $1"))
            .bind(uuid)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| DbError::NotFound(format!("instance {uuid}")))?;
        instance_from_row(&row)
    }

    /// Instances changed at or after `since` (ms), deleted ones included, optionally of one
    /// project, oldest first (Nova's `changes-since`).
    pub async fn list_instances_changed(
        &self,
        project: Option<&str>,
        since: i64,
    ) -> Result<Vec<Instance>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM instances WHERE updated_at >= $1 \
             AND ($2 = '' OR project_id = $2) ORDER BY created_at, uuid"
        ))
        .bind(since)
        .bind(project.unwrap_or(""))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(instance_from_row).collect()
    }

    /// Instances that ran within [`start`, `end`) (ms): launched before `end` and not
    /// terminated before `start`, deleted ones included; of one project or of all, oldest
    /// first (Nova's `instance_get_active_by_window_joined`).
    pub async fn instances_in_window(
        &self,
        project: Option<&str>,
        start: i64,
        end: i64,
    ) -> Result<Vec<Instance>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM instances WHERE launched_at IS NOT NULL AND launched_at < $1 \
             AND (terminated_at IS NULL OR terminated_at > $2) \
             AND ($3 = '' OR project_id = $3) ORDER BY created_at, uuid"
        ))
        .bind(end)
        .bind(start)
        .bind(project.unwrap_or(""))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(instance_from_row).collect()
    }

    /// Live instances, optionally of one project or on one host, oldest first.
    pub async fn list_instances(
        &self,
        project: Option<&str>,
        host: Option<&str>,
    ) -> Result<Vec<Instance>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM instances WHERE deleted = 0 \
             AND ($1 = '' OR project_id = $1) AND ($2 = '' OR host = $2) \
             ORDER BY created_at, uuid"
        ))
        .bind(project.unwrap_or(""))
        .bind(host.unwrap_or(""))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(instance_from_row).collect()
    }

    /// One page of instances: filtered, ordered newest first (`created_at DESC, uuid DESC`)
    /// and paged in SQL, the marker as a keyset condition. A name filter (a regular
    /// expression, which SQLite cannot evaluate) is applied here to rows read in bounded
    /// chunks until `limit` match; without one the SQL `LIMIT` does it all.
    pub async fn list_instances_page(&self, f: &ServerFilter) -> Result<Vec<Instance>, DbError> {
        let name = f.name_regex()?;
        let after = match &f.marker {
            Some(marker) => {
                // The marker must be listed by the same filter (as the in-memory paging
                // required): its position is where the page starts.
                let mut s = Select::filtered("created_at, name", f);
                let p = s.arg(Arg::Text(marker));
                s.sql.push_str(&format!(" AND uuid = {p}"));
                let row = s.query().fetch_optional(&self.pool).await?;
                let created: i64 = match row {
                    Some(r)
                        if name.as_ref().is_none_or(|re| {
                            get::<String>(&r, "name").is_ok_and(|n| re.is_match(&n))
                        }) =>
                    {
                        get(&r, "created_at")?
                    }
                    _ => return Err(DbError::MarkerNotFound(marker.clone())),
                };
                Some((created, marker.as_str()))
            }
            None => None,
        };
        let limit = f.limit.map(i64::from);
        if limit == Some(0) {
            return Ok(Vec::new());
        }
        let Some(re) = name else {
            let rows = Select::page(f, after, limit)
                .query()
                .fetch_all(&self.pool)
                .await?;
            return rows.iter().map(instance_from_row).collect();
        };
        let mut out = Vec::new();
        let mut chunk = limit
            .unwrap_or(NAME_SCAN_MAX)
            .clamp(NAME_SCAN_MIN, NAME_SCAN_MAX);
        let mut after: Option<(i64, String)> = after.map(|(c, u)| (c, u.to_string()));
        loop {
            // Only what the name test and the next chunk need is read for every row…
            let rows = Select::page_of(
                "uuid, name, created_at",
                f,
                after.as_ref().map(|(c, u)| (*c, u.as_str())),
                Some(chunk),
            )
            .query()
            .fetch_all(&self.pool)
            .await?;
            let (mut matched, mut seen) = (Vec::new(), 0);
            for r in &rows {
                seen += 1;
                if re.is_match(&get::<String>(r, "name")?) {
                    matched.push(get::<String>(r, "uuid")?);
                    if limit == Some((out.len() + matched.len()) as i64) {
                        break;
                    }
                }
            }
            // …and whole rows only for those that matched, under the same filter (a row
            // changed in between drops out, as if it had changed just before the read).
            if !matched.is_empty() {
                let mut s = Select::filtered(COLUMNS, f);
                let ps: Vec<String> = matched.iter().map(|u| s.arg(Arg::Text(u))).collect();
                s.sql.push_str(&format!(
                    " AND uuid IN ({}) ORDER BY created_at DESC, uuid DESC",
                    ps.join(", ")
                ));
                for r in s.query().fetch_all(&self.pool).await? {
                    let inst = instance_from_row(&r)?;
                    if re.is_match(&inst.name) {
                        out.push(inst);
                    }
                }
                if limit.is_some_and(|l| out.len() as i64 >= l) {
                    return Ok(out);
                }
            }
            // Go on after the last row looked at, while there may be more.
            let more = seen < rows.len() || rows.len() as i64 == chunk;
            match seen.checked_sub(1).map(|i| &rows[i]) {
                Some(last) if more => {
                    after = Some((get(last, "created_at")?, get(last, "uuid")?));
                }
                _ => return Ok(out),
            }
            chunk = (chunk * 2).min(NAME_SCAN_MAX);
        }
    }

    /// Applies `change` if its expectations hold; `Conflict` names what did not match.
    /// A concurrent writer in between makes it re-read and re-check, a few times.
    pub async fn update_instance(
        &self,
        uuid: &str,
        change: &StateChange,
    ) -> Result<Instance, DbError> {
        for _ in 0..5 {
            if let Some(inst) = self.try_update_instance(uuid, change).await? {
                return Ok(inst);
            }
        }
        Err(DbError::Conflict(format!(
            "instance {uuid} keeps changing concurrently"
        )))
    }

    async fn try_update_instance(
        &self,
        uuid: &str,
        change: &StateChange,
    ) -> Result<Option<Instance>, DbError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM instances WHERE uuid = $1 AND deleted = 0"
        ))
        .bind(uuid)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| DbError::NotFound(format!("instance {uuid}")))?;
        let mut inst = instance_from_row(&row)?;
        if let Some(expected) = &change.expected_task_state {
            if !expected.contains(&inst.task_state) {
                return Err(DbError::Conflict(format!(
                    "instance {uuid} is in task_state {}",
                    inst.task_state.map(|t| t.as_str()).unwrap_or("None")
                )));
            }
        }
        if let Some(expected) = &change.expected_vm_state {
            if !expected.contains(&inst.vm_state) {
                return Err(DbError::Conflict(format!(
                    "instance {uuid} is in vm_state {}",
                    inst.vm_state.as_str()
                )));
            }
        }
        if let Some(host) = &change.expected_host {
            if inst.host.as_deref() != Some(host) {
                return Err(DbError::Conflict(format!(
                    "instance {uuid} is not on host {host}"
                )));
            }
        }
        let now = now_ms();
        if let Some(v) = change.vm_state {
            inst.vm_state = v;
        }
        if let Some(t) = change.task_state {
            inst.task_state = t;
        }
        if let Some(p) = change.power_state {
            inst.power_state = p;
        }
        if let Some(h) = &change.host {
            inst.host = h.clone();
        }
        if let Some(i) = &change.image_id {
            inst.image_id = i.clone();
        }
        if let Some(n) = &change.name {
            inst.name = n.clone();
        }
        if let Some(k) = &change.key_name {
            inst.key_name = k.clone();
        }
        if let Some(u) = &change.user_data {
            inst.user_data = u.clone();
        }
        if change.launched && inst.launched_at.is_none() {
            inst.launched_at = Some(now);
        }
        inst.updated_at = now;
        // Guarded by the previous updated_at, which every write strictly increases: a
        // concurrent change in between makes this attempt fail instead of overwriting it.
        let done = sqlx::query(
            "UPDATE instances SET vm_state = $1, task_state = $2, power_state = $3, host = $4, \
             launched_at = $5, \
             updated_at = CASE WHEN $6 > updated_at THEN $6 ELSE updated_at + 1 END, \
             image_id = $9, name = $10, key_name = $11, user_data = $12 \
             WHERE uuid = $7 AND updated_at = $8 AND deleted = 0",
        )
        .bind(inst.vm_state.as_str())
        .bind(inst.task_state.map(|t| t.as_str()))
        .bind(inst.power_state as i64)
        .bind(&inst.host)
        .bind(inst.launched_at)
        .bind(now)
        .bind(uuid)
        .bind(get::<i64>(&row, "updated_at")?)
        .bind(&inst.image_id)
        .bind(&inst.name)
        .bind(&inst.key_name)
        .bind(&inst.user_data)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(None);
        }
        tx.commit().await?;
        Ok(Some(inst))
    }

    /// Places a `scheduling` instance on `host`: claims its resources there and moves it to
    /// `spawning`, in one transaction. The invariant kept here, in [`Db::unplace_instance`]
    /// and in [`Db::delete_instance`]: an instance has a host exactly when it holds a claim
    /// there.
    pub async fn place_instance(&self, uuid: &str, host: &str) -> Result<Placement, DbError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "SELECT vcpus, memory_mb, disk_gb FROM instances \
             WHERE uuid = $1 AND deleted = 0 AND task_state = 'scheduling' AND host IS NULL",
        )
        .bind(uuid)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(Placement::NotSchedulable);
        };
        let claim = Claim {
            vcpus: get(&row, "vcpus")?,
            memory_mb: get(&row, "memory_mb")?,
            disk_gb: get(&row, "disk_gb")?,
        };
        if !nodes::claim_in(&mut tx, host, claim).await? {
            return Ok(Placement::NoRoom);
        }
        let done = sqlx::query(
            "UPDATE instances SET host = $1, task_state = 'spawning', attempts = attempts + 1, \
             tried_hosts = CASE WHEN tried_hosts = '' THEN $1 ELSE tried_hosts || ',' || $1 END, \
             updated_at = CASE WHEN $2 > updated_at THEN $2 ELSE updated_at + 1 END \
             WHERE uuid = $3 AND deleted = 0 AND task_state = 'scheduling' AND host IS NULL",
        )
        .bind(host)
        .bind(now)
        .bind(uuid)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(Placement::NotSchedulable);
        }
        tx.commit().await?;
        Ok(Placement::Placed)
    }

    /// Takes a building instance back off `host` (failed spawn, dead host): releases the
    /// claim and returns it to `scheduling`, in one transaction. Returns the instance if it
    /// was there (idempotent: a repeated report finds nothing to do).
    pub async fn unplace_instance(
        &self,
        uuid: &str,
        host: &str,
    ) -> Result<Option<Instance>, DbError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM instances WHERE uuid = $1 AND deleted = 0 AND host = $2 \
             AND vm_state = 'building'"
        ))
        .bind(uuid)
        .bind(host)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut inst = instance_from_row(&row)?;
        sqlx::query(
            "UPDATE instances SET host = NULL, task_state = 'scheduling', \
             updated_at = CASE WHEN $1 > updated_at THEN $1 ELSE updated_at + 1 END \
             WHERE uuid = $2",
        )
        .bind(now)
        .bind(uuid)
        .execute(&mut *tx)
        .await?;
        nodes::release_in(&mut tx, host, claim_of(&inst)).await?;
        tx.commit().await?;
        inst.host = None;
        inst.task_state = Some(TaskState::Scheduling);
        Ok(Some(inst))
    }

    /// Marks an instance deleted, gives its quota back and releases its claim on its host,
    /// in one transaction. With `only_if_host`, only when the instance is on that host
    /// (`Some(None)`: only when it is on no host). Returns the instance as it was, or `None`
    /// when there was nothing to delete (idempotent).
    pub async fn delete_instance(
        &self,
        uuid: &str,
        only_if_host: Option<Option<&str>>,
    ) -> Result<Option<Instance>, DbError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM instances WHERE uuid = $1 AND deleted = 0"
        ))
        .bind(uuid)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let inst = instance_from_row(&row)?;
        if let Some(expected) = only_if_host {
            if inst.host.as_deref() != expected {
                return Ok(None);
            }
        }
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE instances SET deleted = 1, vm_state = 'deleted', task_state = NULL, \
             power_state = 0, terminated_at = $1, \
             updated_at = CASE WHEN $1 > updated_at THEN $1 ELSE updated_at + 1 END \
             WHERE uuid = $2 AND deleted = 0 AND updated_at = $3",
        )
        .bind(now)
        .bind(uuid)
        .bind(inst.updated_at)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(DbError::Conflict(format!(
                "instance {uuid} changed while being deleted"
            )));
        }
        quotas::unreserve(
            &mut tx,
            &inst.project_id,
            &usage_of(1, inst.vcpus, inst.memory_mb),
        )
        .await?;
        if let Some(host) = &inst.host {
            nodes::release_in(&mut tx, host, claim_of(&inst)).await?;
            // A resize never confirmed also holds the old flavor's claim and quota.
            crate::resize::abandon_in(&mut tx, &inst, host).await?;
        }
        groups::leave_in(&mut tx, uuid).await?;
        tx.commit().await?;
        Ok(Some(inst))
    }

    /// Records a fault (shown with the instance while it is in `error`).
    pub async fn add_fault(
        &self,
        uuid: &str,
        code: i64,
        message: &str,
        host: Option<&str>,
    ) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO instance_faults (instance_uuid, code, message, host, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(uuid)
        .bind(code)
        .bind(message)
        .bind(host)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The latest fault of an instance.
    pub async fn latest_fault(&self, uuid: &str) -> Result<Option<Fault>, DbError> {
        let row = sqlx::query(
            "SELECT code, message, host, created_at FROM instance_faults \
             WHERE instance_uuid = $1 ORDER BY id DESC LIMIT 1",
        )
        .bind(uuid)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(Fault {
                code: get(&r, "code")?,
                message: get(&r, "message")?,
                host: get(&r, "host")?,
                created_at: get(&r, "created_at")?,
            })
        })
        .transpose()
    }

    /// Starts an instance action record (`create`, `delete`, `stop`, …).
    pub async fn record_action(
        &self,
        uuid: &str,
        action: &str,
        request_id: &str,
        project_id: &str,
        user_id: &str,
    ) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO instance_actions (instance_uuid, request_id, action, project_id, \
             user_id, start_time) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(uuid)
        .bind(request_id)
        .bind(action)
        .bind(project_id)
        .bind(user_id)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Names of the actions recorded for an instance, oldest first.
    pub async fn list_actions(&self, uuid: &str) -> Result<Vec<String>, DbError> {
        let rows =
            sqlx::query("SELECT action FROM instance_actions WHERE instance_uuid = $1 ORDER BY id")
                .bind(uuid)
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(|r| get(r, "action")).collect()
    }

    /// Every recorded action of an instance, oldest first.
    pub async fn list_action_records(&self, uuid: &str) -> Result<Vec<ActionRecord>, DbError> {
        let rows = sqlx::query(
            "SELECT action, request_id, project_id, user_id, start_time FROM instance_actions \
             WHERE instance_uuid = $1 ORDER BY id",
        )
        .bind(uuid)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ActionRecord {
                    action: get(r, "action")?,
                    request_id: get(r, "request_id")?,
                    project_id: get(r, "project_id")?,
                    user_id: get(r, "user_id")?,
                    start_time: get(r, "start_time")?,
                })
            })
            .collect()
    }

    /// Live instances placed on `host`, for the compute worker's power sync.
    pub async fn instances_on_host(&self, host: &str) -> Result<Vec<InstanceStatus>, DbError> {
        Ok(self
            .list_instances(None, Some(host))
            .await?
            .into_iter()
            .map(|i| InstanceStatus {
                uuid: i.uuid,
                vm_state: i.vm_state,
                task_state: i.task_state,
                power_state: i.power_state,
            })
            .collect())
    }

    /// Instances still `building` whose last change is older than `before_ms`.
    pub async fn builds_older_than(&self, before_ms: i64) -> Result<Vec<Instance>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM instances WHERE deleted = 0 AND vm_state = 'building' \
             AND updated_at < $1"
        ))
        .bind(before_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(instance_from_row).collect()
    }
}

async fn insert_action(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    uuid: &str,
    action: &str,
    new: &NewInstances,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO instance_actions (instance_uuid, request_id, action, project_id, user_id, \
         start_time) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(uuid)
    .bind(&new.request_id)
    .bind(action)
    .bind(&new.project_id)
    .bind(&new.user_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// What the compute API's later microversions show of a server beyond its row: its place
/// in the create that made it (Nova's `launch_index`) and its user data.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceExtra {
    pub uuid: String,
    pub project_id: String,
    pub name: String,
    pub reservation_id: String,
    /// 0 for the first server of its create, by creation, then name and id (deleted
    /// siblings keep their places, so a server's index never changes).
    pub launch_index: u32,
    pub user_data: Option<String>,
    pub host: Option<String>,
    pub description: Option<String>,
    /// Why it is locked (2.73); none when unlocked or no reason was given.
    pub locked_reason: Option<String>,
    /// The guest's hostname (chosen, else made from the name).
    pub hostname: String,
    /// Sorted.
    pub tags: Vec<String>,
    /// The server groups it is a member of (at most one; 2.71).
    pub server_groups: Vec<String>,
    pub flavor_id: String,
    pub vcpus: i64,
    pub memory_mb: i64,
    /// Root and ephemeral.
    pub disk_gb: i64,
}

impl Db {
    /// [`InstanceExtra`] of those of `ids` that exist, any project (two queries per 500).
    pub async fn instance_extras(&self, ids: &[String]) -> Result<Vec<InstanceExtra>, DbError> {
        let mut out = Vec::new();
        for chunk in ids.chunks(500) {
            let marks = crate::networks::in_marks(chunk.len());
            let sql = format!(
                "SELECT uuid, project_id, name, reservation_id, user_data, host, description, \
                 locked_reason, hostname, flavor_id, vcpus, memory_mb, disk_gb FROM instances \
                 WHERE uuid IN ({marks})"
            );
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(id);
            }
            for r in q.fetch_all(&self.pool).await? {
                out.push(InstanceExtra {
                    uuid: get(&r, "uuid")?,
                    project_id: get(&r, "project_id")?,
                    name: get(&r, "name")?,
                    reservation_id: get(&r, "reservation_id")?,
                    launch_index: 0,
                    user_data: get(&r, "user_data")?,
                    host: get(&r, "host")?,
                    description: get(&r, "description")?,
                    locked_reason: get(&r, "locked_reason")?,
                    hostname: get::<Option<String>>(&r, "hostname")?.unwrap_or_else(|| {
                        metacloud_objects::hostname(
                            &get::<String>(&r, "name").unwrap_or_default(),
                            &get::<String>(&r, "uuid").unwrap_or_default(),
                        )
                    }),
                    tags: Vec::new(),
                    server_groups: Vec::new(),
                    flavor_id: get(&r, "flavor_id")?,
                    vcpus: get(&r, "vcpus")?,
                    memory_mb: get(&r, "memory_mb")?,
                    disk_gb: get(&r, "disk_gb")?,
                });
            }
        }
        let mut reservations: Vec<String> = out.iter().map(|e| e.reservation_id.clone()).collect();
        reservations.sort();
        reservations.dedup();
        let mut members: BTreeMap<String, Vec<(i64, String, String)>> = BTreeMap::new();
        for chunk in reservations.chunks(500) {
            let marks = crate::networks::in_marks(chunk.len());
            let sql = format!(
                "SELECT uuid, name, reservation_id, created_at FROM instances \
                 WHERE reservation_id IN ({marks})"
            );
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(id);
            }
            for r in q.fetch_all(&self.pool).await? {
                members
                    .entry(get(&r, "reservation_id")?)
                    .or_default()
                    .push((get(&r, "created_at")?, get(&r, "name")?, get(&r, "uuid")?));
            }
        }
        for batch in members.values_mut() {
            batch.sort();
        }
        for e in &mut out {
            e.launch_index = members
                .get(&e.reservation_id)
                .and_then(|b| b.iter().position(|(_, _, u)| *u == e.uuid))
                .unwrap_or(0) as u32;
        }
        let ids: Vec<String> = out.iter().map(|e| e.uuid.clone()).collect();
        let mut tags = self.tags_of(&ids).await?;
        let mut groups = self.groups_of(&ids).await?;
        for e in &mut out {
            e.tags = tags.remove(&e.uuid).unwrap_or_default();
            e.server_groups = groups.remove(&e.uuid).unwrap_or_default();
        }
        Ok(out)
    }
}
