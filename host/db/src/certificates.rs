//! The cert service's records: each project's certificate authority (made on first use,
//! its private key kept here) and the user certificates it issued.

use crate::{get, now_ms, Db, DbError};
use sqlx::any::AnyRow;

/// A project's certificate authority: its self-signed certificate and private key (PEM).
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectCa {
    pub project_id: String,
    pub cert_pem: String,
    pub key_pem: String,
    /// Milliseconds since the epoch; set by [`Db::insert_project_ca`].
    pub created_at: i64,
}

/// A user certificate a project's CA issued (its private key is not kept).
#[derive(Debug, Clone, PartialEq)]
pub struct IssuedCertificate {
    pub project_id: String,
    pub user_id: String,
    /// The serial number, lowercase hex.
    pub serial: String,
    /// SHA-256 of the DER certificate, lowercase hex.
    pub fingerprint: String,
    pub cert_pem: String,
}

fn ca_from_row(r: &AnyRow) -> Result<ProjectCa, DbError> {
    Ok(ProjectCa {
        project_id: get(r, "project_id")?,
        cert_pem: get(r, "cert_pem")?,
        key_pem: get(r, "key_pem")?,
        created_at: get(r, "created_at")?,
    })
}

impl Db {
    /// The project's CA, if it has one yet.
    pub async fn get_project_ca(&self, project: &str) -> Result<Option<ProjectCa>, DbError> {
        let row = sqlx::query(
            "SELECT project_id, cert_pem, key_pem, created_at FROM project_cas \
             WHERE project_id = $1",
        )
        .bind(project)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(ca_from_row).transpose()
    }

    /// Stores `ca` as its project's CA unless the project already has one, and returns the
    /// one that stands: when two first uses race, both get the same CA.
    pub async fn insert_project_ca(&self, ca: &ProjectCa) -> Result<ProjectCa, DbError> {
        sqlx::query(
            "INSERT INTO project_cas (project_id, cert_pem, key_pem, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (project_id) DO NOTHING",
        )
        .bind(&ca.project_id)
        .bind(&ca.cert_pem)
        .bind(&ca.key_pem)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        self.get_project_ca(&ca.project_id).await?.ok_or_else(|| {
            DbError::Corrupt(format!(
                "the CA of project {} vanished after it was stored",
                ca.project_id
            ))
        })
    }

    /// Records a certificate the project's CA issued.
    pub async fn record_certificate(&self, c: &IssuedCertificate) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO certificates \
             (project_id, user_id, serial, fingerprint, cert_pem, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&c.project_id)
        .bind(&c.user_id)
        .bind(&c.serial)
        .bind(&c.fingerprint)
        .bind(&c.cert_pem)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => DbError::Conflict(format!(
                "certificate serial {} already issued in project {}",
                c.serial, c.project_id
            )),
            _ => e.into(),
        })?;
        Ok(())
    }

    /// Certificates issued to `user` in `project`, oldest first.
    pub async fn list_certificates(
        &self,
        project: &str,
        user: &str,
    ) -> Result<Vec<IssuedCertificate>, DbError> {
        let rows = sqlx::query(
            "SELECT project_id, user_id, serial, fingerprint, cert_pem FROM certificates \
             WHERE project_id = $1 AND user_id = $2 ORDER BY id",
        )
        .bind(project)
        .bind(user)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(IssuedCertificate {
                    project_id: get(r, "project_id")?,
                    user_id: get(r, "user_id")?,
                    serial: get(r, "serial")?,
                    fingerprint: get(r, "fingerprint")?,
                    cert_pem: get(r, "cert_pem")?,
                })
            })
            .collect()
    }
}
