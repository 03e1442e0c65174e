//! Identity data: projects, users, roles, role assignments, EC2 credentials, revoked
//! tokens and the token signing key. Policy and token logic live in the identity service.

use crate::{get, now_ms, Db, DbError};
use serde::Serialize;
use sqlx::any::AnyRow;

/// The one domain, as Keystone names it.
pub const DEFAULT_DOMAIN: &str = "default";

/// A project (tenant).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub description: String,
    pub enabled: bool,
}

/// A user, without its password hash.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct User {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub default_project_id: Option<String>,
    pub email: Option<String>,
    pub description: String,
    pub enabled: bool,
}

/// A role.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Role {
    pub id: String,
    pub name: String,
}

/// One role of a user on a project.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Assignment {
    pub project_id: String,
    pub user_id: String,
    pub role_id: String,
}

/// An EC2 key pair of a user on a project.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Ec2Credential {
    pub access: String,
    pub secret: String,
    pub user_id: String,
    pub project_id: String,
}

/// A new user.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub name: String,
    pub password_hash: Option<String>,
    pub default_project_id: Option<String>,
    pub email: Option<String>,
    pub description: String,
    pub enabled: bool,
}

/// Changes to a user or project: `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct Change {
    pub name: Option<String>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
    pub email: Option<Option<String>>,
    pub default_project_id: Option<Option<String>>,
    pub password_hash: Option<String>,
}

fn role_from_row(r: &AnyRow) -> Result<Role, DbError> {
    Ok(Role {
        id: get(r, "id")?,
        name: get(r, "name")?,
    })
}

fn ec2_from_row(r: &AnyRow) -> Result<Ec2Credential, DbError> {
    Ok(Ec2Credential {
        access: get(r, "access")?,
        secret: get(r, "secret")?,
        user_id: get(r, "user_id")?,
        project_id: get(r, "project_id")?,
    })
}

fn project_from_row(r: &AnyRow) -> Result<Project, DbError> {
    Ok(Project {
        id: get(r, "id")?,
        name: get(r, "name")?,
        domain_id: get(r, "domain_id")?,
        description: get(r, "description")?,
        enabled: get::<i64>(r, "enabled")? != 0,
    })
}

fn user_from_row(r: &AnyRow) -> Result<User, DbError> {
    Ok(User {
        id: get(r, "id")?,
        name: get(r, "name")?,
        domain_id: get(r, "domain_id")?,
        default_project_id: get(r, "default_project_id")?,
        email: get(r, "email")?,
        description: get(r, "description")?,
        enabled: get::<i64>(r, "enabled")? != 0,
    })
}

const PROJECT_COLUMNS: &str = "id, name, domain_id, description, enabled";
const USER_COLUMNS: &str = "id, name, domain_id, default_project_id, email, description, enabled";

fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

impl Db {
    // --- projects ------------------------------------------------------------------

    /// Creates a project; names are unique in the domain.
    pub async fn create_project(
        &self,
        name: &str,
        description: &str,
        enabled: bool,
    ) -> Result<Project, DbError> {
        let id = new_id();
        sqlx::query(
            "INSERT INTO projects (id, name, domain_id, description, enabled, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(name)
        .bind(DEFAULT_DOMAIN)
        .bind(description)
        .bind(enabled as i64)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                DbError::Conflict(format!(
                    "Duplicate entry found with name {name} at domain ID default."
                ))
            } else {
                e.into()
            }
        })?;
        self.get_project(&id).await
    }

    pub async fn get_project(&self, id: &str) -> Result<Project, DbError> {
        let row = sqlx::query(&format!(
            "SELECT {PROJECT_COLUMNS} FROM projects WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| DbError::NotFound(format!("Could not find project: {id}.")))?;
        project_from_row(&row)
    }

    /// A project by name (in the default domain).
    pub async fn find_project(&self, name: &str) -> Result<Project, DbError> {
        let row = sqlx::query(&format!(
            "SELECT {PROJECT_COLUMNS} FROM projects WHERE name = $1 AND domain_id = $2"
        ))
        .bind(name)
        .bind(DEFAULT_DOMAIN)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| DbError::NotFound(format!("Could not find project: {name}.")))?;
        project_from_row(&row)
    }

    /// Projects, optionally only the one called `name`.
    pub async fn list_projects(&self, name: Option<&str>) -> Result<Vec<Project>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {PROJECT_COLUMNS} FROM projects WHERE ($1 = '' OR name = $1) ORDER BY name"
        ))
        .bind(name.unwrap_or(""))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(project_from_row).collect()
    }

    pub async fn update_project(&self, id: &str, c: &Change) -> Result<Project, DbError> {
        let p = self.get_project(id).await?;
        sqlx::query("UPDATE projects SET name = $1, description = $2, enabled = $3 WHERE id = $4")
            .bind(c.name.as_ref().unwrap_or(&p.name))
            .bind(c.description.as_ref().unwrap_or(&p.description))
            .bind(c.enabled.unwrap_or(p.enabled) as i64)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    DbError::Conflict("Duplicate entry found with that name.".into())
                } else {
                    e.into()
                }
            })?;
        self.get_project(id).await
    }

    pub async fn delete_project(&self, id: &str) -> Result<(), DbError> {
        self.get_project(id).await?;
        let mut tx = self.pool.begin().await?;
        for sql in [
            "DELETE FROM role_assignments WHERE project_id = $1",
            "DELETE FROM ec2_credentials WHERE project_id = $1",
            "DELETE FROM projects WHERE id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    // --- users ---------------------------------------------------------------------

    pub async fn create_user(&self, new: &NewUser) -> Result<User, DbError> {
        let id = new_id();
        sqlx::query(
            "INSERT INTO users (id, name, domain_id, default_project_id, email, description, \
             password_hash, enabled, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&id)
        .bind(&new.name)
        .bind(DEFAULT_DOMAIN)
        .bind(&new.default_project_id)
        .bind(&new.email)
        .bind(&new.description)
        .bind(&new.password_hash)
        .bind(new.enabled as i64)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                DbError::Conflict(format!(
                    "Duplicate entry found with name {} at domain ID default.",
                    new.name
                ))
            } else {
                e.into()
            }
        })?;
        self.get_user(&id).await
    }

    pub async fn get_user(&self, id: &str) -> Result<User, DbError> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| DbError::NotFound(format!("Could not find user: {id}.")))?;
        user_from_row(&row)
    }

    pub async fn find_user(&self, name: &str) -> Result<User, DbError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE name = $1 AND domain_id = $2"
        ))
        .bind(name)
        .bind(DEFAULT_DOMAIN)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| DbError::NotFound(format!("Could not find user: {name}.")))?;
        user_from_row(&row)
    }

    pub async fn list_users(&self, name: Option<&str>) -> Result<Vec<User>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE ($1 = '' OR name = $1) ORDER BY name"
        ))
        .bind(name.unwrap_or(""))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    /// The stored password hash (`None` for users without a password).
    pub async fn user_password_hash(&self, id: &str) -> Result<Option<String>, DbError> {
        let row = sqlx::query("SELECT password_hash FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| DbError::NotFound(format!("Could not find user: {id}.")))?;
        get(&row, "password_hash")
    }

    pub async fn update_user(&self, id: &str, c: &Change) -> Result<User, DbError> {
        let u = self.get_user(id).await?;
        let hash = match &c.password_hash {
            Some(h) => Some(h.clone()),
            None => self.user_password_hash(id).await?,
        };
        sqlx::query(
            "UPDATE users SET name = $1, description = $2, enabled = $3, email = $4, \
             default_project_id = $5, password_hash = $6 WHERE id = $7",
        )
        .bind(c.name.as_ref().unwrap_or(&u.name))
        .bind(c.description.as_ref().unwrap_or(&u.description))
        .bind(c.enabled.unwrap_or(u.enabled) as i64)
        .bind(c.email.clone().unwrap_or(u.email))
        .bind(c.default_project_id.clone().unwrap_or(u.default_project_id))
        .bind(hash)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                DbError::Conflict("Duplicate entry found with that name.".into())
            } else {
                e.into()
            }
        })?;
        self.get_user(id).await
    }

    pub async fn delete_user(&self, id: &str) -> Result<(), DbError> {
        self.get_user(id).await?;
        let mut tx = self.pool.begin().await?;
        for sql in [
            "DELETE FROM role_assignments WHERE user_id = $1",
            "DELETE FROM ec2_credentials WHERE user_id = $1",
            "DELETE FROM users WHERE id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    // --- roles ---------------------------------------------------------------------

    /// The role called `name`, created if missing (safe under concurrency).
    pub async fn ensure_role(&self, name: &str) -> Result<Role, DbError> {
        sqlx::query("INSERT INTO roles (id, name) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(new_id())
            .bind(name)
            .execute(&self.pool)
            .await?;
        self.find_role(name).await
    }

    pub async fn get_role(&self, id: &str) -> Result<Role, DbError> {
        let row = sqlx::query("SELECT id, name FROM roles WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| DbError::NotFound(format!("Could not find role: {id}.")))?;
        role_from_row(&row)
    }

    pub async fn find_role(&self, name: &str) -> Result<Role, DbError> {
        let row = sqlx::query("SELECT id, name FROM roles WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| DbError::NotFound(format!("Could not find role: {name}.")))?;
        role_from_row(&row)
    }

    pub async fn list_roles(&self, name: Option<&str>) -> Result<Vec<Role>, DbError> {
        let rows =
            sqlx::query("SELECT id, name FROM roles WHERE ($1 = '' OR name = $1) ORDER BY name")
                .bind(name.unwrap_or(""))
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(role_from_row).collect()
    }

    /// Grants `role` to `user` on `project` (idempotent).
    pub async fn assign_role(&self, project: &str, user: &str, role: &str) -> Result<(), DbError> {
        self.get_project(project).await?;
        self.get_user(user).await?;
        self.get_role(role).await?;
        sqlx::query(
            "INSERT INTO role_assignments (project_id, user_id, role_id) VALUES ($1, $2, $3) \
             ON CONFLICT (project_id, user_id, role_id) DO NOTHING",
        )
        .bind(project)
        .bind(user)
        .bind(role)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn unassign_role(
        &self,
        project: &str,
        user: &str,
        role: &str,
    ) -> Result<(), DbError> {
        let done = sqlx::query(
            "DELETE FROM role_assignments WHERE project_id = $1 AND user_id = $2 AND role_id = $3",
        )
        .bind(project)
        .bind(user)
        .bind(role)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::NotFound(format!(
                "Could not find role assignment with role: {role}, user or group: {user}, \
                 project, domain, or system: {project}."
            )));
        }
        Ok(())
    }

    /// The roles `user` holds on `project` (as assigned; implied roles are the service's).
    pub async fn roles_on(&self, user: &str, project: &str) -> Result<Vec<Role>, DbError> {
        let rows = sqlx::query(
            "SELECT r.id, r.name FROM role_assignments a JOIN roles r ON r.id = a.role_id \
             WHERE a.user_id = $1 AND a.project_id = $2 ORDER BY r.name",
        )
        .bind(user)
        .bind(project)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(role_from_row).collect()
    }

    /// Assignments, optionally of one user and/or on one project.
    pub async fn list_assignments(
        &self,
        user: Option<&str>,
        project: Option<&str>,
    ) -> Result<Vec<Assignment>, DbError> {
        let rows = sqlx::query(
            "SELECT project_id, user_id, role_id FROM role_assignments \
             WHERE ($1 = '' OR user_id = $1) AND ($2 = '' OR project_id = $2) \
             ORDER BY project_id, user_id, role_id",
        )
        .bind(user.unwrap_or(""))
        .bind(project.unwrap_or(""))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Assignment {
                    project_id: get(r, "project_id")?,
                    user_id: get(r, "user_id")?,
                    role_id: get(r, "role_id")?,
                })
            })
            .collect()
    }

    // --- EC2 credentials -----------------------------------------------------------

    pub async fn create_ec2_credential(
        &self,
        user: &str,
        project: &str,
    ) -> Result<Ec2Credential, DbError> {
        self.get_user(user).await?;
        self.get_project(project).await?;
        let cred = Ec2Credential {
            access: new_id(),
            secret: new_id(),
            user_id: user.into(),
            project_id: project.into(),
        };
        sqlx::query(
            "INSERT INTO ec2_credentials (access, secret, user_id, project_id, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&cred.access)
        .bind(&cred.secret)
        .bind(&cred.user_id)
        .bind(&cred.project_id)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(cred)
    }

    pub async fn get_ec2_credential(&self, access: &str) -> Result<Ec2Credential, DbError> {
        let row = sqlx::query(
            "SELECT access, secret, user_id, project_id FROM ec2_credentials WHERE access = $1",
        )
        .bind(access)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| DbError::NotFound(format!("Could not find credential: {access}.")))?;
        ec2_from_row(&row)
    }

    pub async fn list_ec2_credentials(&self, user: &str) -> Result<Vec<Ec2Credential>, DbError> {
        let rows = sqlx::query(
            "SELECT access, secret, user_id, project_id FROM ec2_credentials \
             WHERE user_id = $1 ORDER BY created_at",
        )
        .bind(user)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(ec2_from_row).collect()
    }

    pub async fn delete_ec2_credential(&self, access: &str) -> Result<(), DbError> {
        let done = sqlx::query("DELETE FROM ec2_credentials WHERE access = $1")
            .bind(access)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::NotFound(format!(
                "Could not find credential: {access}."
            )));
        }
        Ok(())
    }

    // --- tokens --------------------------------------------------------------------

    /// Revokes the token with `audit_id` until it would have expired anyway.
    pub async fn revoke_token(&self, audit_id: &str, expires_at_ms: i64) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO revoked_tokens (audit_id, expires_at) VALUES ($1, $2) \
             ON CONFLICT (audit_id) DO NOTHING",
        )
        .bind(audit_id)
        .bind(expires_at_ms)
        .execute(&self.pool)
        .await?;
        sqlx::query("DELETE FROM revoked_tokens WHERE expires_at < $1")
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn is_token_revoked(&self, audit_id: &str) -> Result<bool, DbError> {
        Ok(
            sqlx::query("SELECT audit_id FROM revoked_tokens WHERE audit_id = $1")
                .bind(audit_id)
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }

    /// The token signing secret, made on first use; every process of a deployment that
    /// shares the database signs and verifies with the same one.
    pub async fn token_signing_secret(&self) -> Result<String, DbError> {
        let fresh = format!("{}{}", new_id(), new_id());
        sqlx::query(
            "INSERT INTO identity_keys (id, secret, created_at) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&fresh)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        let row = sqlx::query("SELECT secret FROM identity_keys WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        get(&row, "secret")
    }
}
