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
    /// Milliseconds since the epoch of the last heartbeat.
    pub last_seen_at: i64,
    /// Heartbeat within the service-down time.
    pub up: bool,
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

    /// Every service, with `up` computed against `down_time_ms`.
    pub async fn list_services(&self, down_time_ms: i64) -> Result<Vec<Service>, DbError> {
        let now = now_ms();
        let rows = sqlx::query(
            "SELECT id, binary_name, host, topic, disabled, disabled_reason, last_seen_at \
             FROM services ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let last_seen_at: i64 = get(r, "last_seen_at")?;
                Ok(Service {
                    id: get(r, "id")?,
                    binary: get(r, "binary_name")?,
                    host: get(r, "host")?,
                    topic: get(r, "topic")?,
                    disabled: get::<i64>(r, "disabled")? != 0,
                    disabled_reason: get(r, "disabled_reason")?,
                    last_seen_at,
                    up: now - last_seen_at <= down_time_ms,
                })
            })
            .collect()
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
