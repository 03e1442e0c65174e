//! The database: one code path over SQLite (embedded default) and PostgreSQL (scale),
//! through sqlx's `Any` driver.
//!
//! Queries are written once in the subset both speak: `$n` parameters in ascending order,
//! BIGINT integers, 0/1 flags, times as milliseconds since the epoch. Every multi-row change
//! runs in one transaction; capacity and quota checks are single conditional `UPDATE`s, so
//! they stay atomic under concurrency on both backends.

pub mod aggregates;
pub mod certificates;
pub mod details;
mod error;
pub mod flavors;
pub mod floating;
pub mod groups;
pub mod identity;
pub mod images;
pub mod instances;
pub mod keypairs;
pub mod moves;
pub mod networks;
pub mod nodes;
pub mod ports;
pub mod quotas;
pub mod resize;
pub mod routers;
mod rows;
pub mod secgroups;
pub mod services;
pub mod subnets;

pub use error::DbError;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor};
use std::time::Duration;

/// Which database the URL points to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn from_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

/// A database handle: a connection pool plus what it points to.
#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Milliseconds since the epoch, the unit of every time column.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// Hides the password of a database URL for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl Db {
    /// Connects and checks the connection. SQLite files (and their directory) are created;
    /// SQLite runs in WAL mode behind a single connection, which serialises writers
    /// without `SQLITE_BUSY` surprises.
    pub async fn connect(
        url: &str,
        max_connections: u32,
        timeout: Duration,
    ) -> Result<Db, DbError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url).ok_or_else(|| DbError::Connect {
            url: redact_url(url),
            reason: "unsupported URL scheme (use sqlite: or postgres://)".into(),
        })?;
        let url = match backend {
            Backend::Sqlite => prepare_sqlite_url(url)?,
            Backend::Postgres => url.to_string(),
        };
        let mut options = AnyPoolOptions::new().acquire_timeout(timeout);
        options = match backend {
            // One connection serves everyone: waiting for it is queueing, not a failure.
            Backend::Sqlite => options
                .max_connections(1)
                .acquire_timeout(timeout.max(Duration::from_secs(60)))
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute(
                            "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000; \
                         PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL;",
                        )
                        .await?;
                        Ok(())
                    })
                }),
            Backend::Postgres => options.max_connections(max_connections),
        };
        let pool = options.connect(&url).await.map_err(|e| DbError::Connect {
            url: redact_url(&url),
            reason: one_line(&e.to_string()),
        })?;
        Ok(Db { pool, backend })
    }

    /// Applies pending migrations (idempotent; safe when several processes start at once).
    pub async fn migrate(&self) -> Result<(), DbError> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&self.pool)
            .await
            .map_err(|e| DbError::Migrate(one_line(&e.to_string())))
    }

    /// Applies the first `n` migrations only (tests of a later migration over older data).
    #[cfg(test)]
    pub(crate) async fn migrate_first(&self, n: usize) -> Result<(), DbError> {
        let all = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        let mut first = sqlx::migrate::Migrator {
            migrations: std::borrow::Cow::Owned(all.migrations[..n].to_vec()),
            ..sqlx::migrate::Migrator::DEFAULT
        };
        first.set_locking(all.locking);
        first
            .run(&self.pool)
            .await
            .map_err(|e| DbError::Migrate(one_line(&e.to_string())))
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn prepare_sqlite_url(url: &str) -> Result<String, DbError> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or(path);
    if path != ":memory:" {
        if let Some(dir) = std::path::Path::new(path).parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|e| DbError::Connect {
                    url: url.to_string(),
                    reason: format!("cannot create directory {}: {e}", dir.display()),
                })?;
            }
        }
    }
    Ok(if url.contains('?') {
        url.to_string()
    } else {
        format!("{url}?mode=rwc")
    })
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub(crate) fn get<'r, T>(row: &'r AnyRow, col: &str) -> Result<T, DbError>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    use sqlx::Row;
    row.try_get(col).map_err(DbError::from)
}

#[cfg(test)]
mod network_tests;
#[cfg(test)]
mod schema_tests;
#[cfg(test)]
mod tests;

/// Scratch databases for tests: a fresh SQLite file or a fresh PostgreSQL database.
pub mod scratch {
    use super::*;

    /// PostgreSQL server used by tests (`METACLOUD_TEST_POSTGRES`, default the local one).
    pub fn postgres_server() -> String {
        std::env::var("METACLOUD_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
    }

    /// Creates an empty PostgreSQL database and returns its URL.
    pub async fn create_postgres_database() -> Result<String, DbError> {
        let server = postgres_server();
        let admin = Db::connect(&server, 1, Duration::from_secs(5)).await?;
        let name = format!("mc_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(admin.pool())
            .await?;
        admin.close().await;
        let base = server.rsplit_once('/').map(|(b, _)| b).unwrap_or(&server);
        Ok(format!("{base}/{name}"))
    }

    /// Drops a database made by [`create_postgres_database`] (best effort).
    pub async fn drop_postgres_database(url: &str) {
        let Some((_, name)) = url.rsplit_once('/') else {
            return;
        };
        if let Ok(admin) = Db::connect(&postgres_server(), 1, Duration::from_secs(5)).await {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(admin.pool())
                .await;
            admin.close().await;
        }
    }

    /// Runs `f` on a fresh SQLite URL, then on a fresh PostgreSQL database (dropped after):
    /// the same checks on both columns.
    pub async fn on_both<F, Fut>(f: F)
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        f(sqlite_url()).await;
        let url = create_postgres_database()
            .await
            .expect("a scratch PostgreSQL database");
        f(url.clone()).await;
        drop_postgres_database(&url).await;
    }

    /// A fresh SQLite URL in a temp directory.
    pub fn sqlite_url() -> String {
        let dir = std::env::temp_dir().join(format!("mc-db-{}", uuid::Uuid::new_v4().simple()));
        format!("sqlite://{}/metacloud.db", dir.display())
    }
}
