//! Services and their heartbeats.

use crate::{get, now_ms, Db, DbError};
use serde::Serialize;

/// One service process as the database knows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Service {
    pub id: i64,
    pub binary: String,
    pub host: String,
    pub topic: String,
    pub disabled: bool,
    pub disabled_reason: Option<String>,
    /// Marked down by an operator, whatever its heartbeat says.
    pub forced_down: bool,
    /// Milliseconds since the epoch of the last heartbeat.
    pub last_seen_at: i64,
    /// Heartbeat within the service-down time, and not forced down.
    pub up: bool,
}

/// What [`Db::update_service`] changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ServiceChange {
    pub disabled: Option<bool>,
    pub disabled_reason: Option<String>,
    pub forced_down: Option<bool>,
}

fn service_from_row(
    r: &sqlx::any::AnyRow,
    now: i64,
    down_time_ms: i64,
) -> Result<Service, DbError> {
    let last_seen_at: i64 = get(r, "last_seen_at")?;
    let forced_down = get::<i64>(r, "forced_down")? != 0;
    Ok(Service {
        id: get(r, "id")?,
        binary: get(r, "binary_name")?,
        host: get(r, "host")?,
        topic: get(r, "topic")?,
        disabled: get::<i64>(r, "disabled")? != 0,
        disabled_reason: get(r, "disabled_reason")?,
        forced_down,
        last_seen_at,
        up: !forced_down && now - last_seen_at <= down_time_ms,
    })
}

const COLUMNS: &str =
    "id, binary_name, host, topic, disabled, disabled_reason, forced_down, last_seen_at";

/// The row of service `id`, read inside `tx`.
async fn service_row(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: i64,
) -> Result<Option<sqlx::any::AnyRow>, DbError> {
    Ok(
        sqlx::query(&format!("SELECT {COLUMNS} FROM services WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?,
    )
}

impl Db {
    /// Records a heartbeat, creating the service row on first report.
    pub async fn report_service(
        &self,
        binary: &str,
        host: &str,
        topic: &str,
    ) -> Result<(), DbError> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO services (binary_name, host, topic, disabled, last_seen_at, created_at) \
             VALUES ($1, $2, $3, 0, $4, $5) \
             ON CONFLICT (binary_name, host) DO UPDATE SET last_seen_at = excluded.last_seen_at, \
             topic = excluded.topic",
        )
        .bind(binary)
        .bind(host)
        .bind(topic)
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Deletes service `id`; a compute service takes its node with it, unless live
    /// instances are still on its host (`Conflict`). Returns the service deleted.
    pub async fn delete_service(&self, id: i64) -> Result<Service, DbError> {
        let mut tx = self.pool.begin().await?;
        let row = service_row(&mut tx, id)
            .await?
            .ok_or_else(|| DbError::NotFound(format!("Service {id}")))?;
        let service = service_from_row(&row, now_ms(), 0)?;
        if service.binary == "metacloud-compute" {
            let hosted: i64 = get(
                &sqlx::query("SELECT COUNT(*) AS n FROM instances WHERE host = $1 AND deleted = 0")
                    .bind(&service.host)
                    .fetch_one(&mut *tx)
                    .await?,
                "n",
            )?;
            if hosted > 0 {
                return Err(DbError::Conflict(
                    "Unable to delete compute service that is hosting instances. Migrate or \
                     delete the instances first."
                        .into(),
                ));
            }
            sqlx::query("DELETE FROM compute_nodes WHERE host = $1")
                .bind(&service.host)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM services WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(service)
    }

    /// Every service, with `up` computed against `down_time_ms`.
    pub async fn list_services(&self, down_time_ms: i64) -> Result<Vec<Service>, DbError> {
        let now = now_ms();
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM services ORDER BY id"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| service_from_row(r, now, down_time_ms))
            .collect()
    }

    /// Changes what is given of service `id`: scheduling on or off (with a reason, cleared
    /// on enable), and the operator's forced-down mark. Returns the service as it is now.
    pub async fn update_service(
        &self,
        id: i64,
        change: &ServiceChange,
        down_time_ms: i64,
    ) -> Result<Service, DbError> {
        let mut tx = self.pool.begin().await?;
        let row = service_row(&mut tx, id)
            .await?
            .ok_or_else(|| DbError::NotFound(format!("service {id}")))?;
        let mut s = service_from_row(&row, now_ms(), down_time_ms)?;
        if let Some(disabled) = change.disabled {
            s.disabled = disabled;
            if !disabled {
                s.disabled_reason = None;
            }
        }
        if let Some(reason) = &change.disabled_reason {
            s.disabled_reason = Some(reason.clone());
        }
        if let Some(forced) = change.forced_down {
            s.forced_down = forced;
        }
        sqlx::query(
            "UPDATE services SET disabled = $1, disabled_reason = $2, forced_down = $3 \
             WHERE id = $4",
        )
        .bind(s.disabled as i64)
        .bind(&s.disabled_reason)
        .bind(s.forced_down as i64)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        s.up = !s.forced_down && now_ms() - s.last_seen_at <= down_time_ms;
        Ok(s)
    }

    /// Enables or disables scheduling to a service (an operator's switch).
    pub async fn set_service_disabled(
        &self,
        binary: &str,
        host: &str,
        disabled: bool,
        reason: Option<&str>,
    ) -> Result<(), DbError> {
        let done = sqlx::query(
            "UPDATE services SET disabled = $1, disabled_reason = $2 \
             WHERE binary_name = $3 AND host = $4",
        )
        .bind(disabled as i64)
        .bind(reason)
        .bind(binary)
        .bind(host)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::NotFound(format!("service {binary} on {host}")));
        }
        Ok(())
    }
}
