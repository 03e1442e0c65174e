//! The identity service: a built-in subset of Keystone v3.
//!
//! Password and token authentication scoped to a project, signed expiring tokens that can
//! be revoked, projects, users, roles (admin ⇒ member ⇒ reader) and their assignments, the
//! service catalog, and EC2 credentials. [`Identity`] is the service; [`manage`] holds its
//! administration under Keystone's default policy (the Keystone-compatible HTTP API is the
//! `openstack-identity` dialect plugin, `plugins/identity-api`); [`bootstrap`] makes the
//! admin and demo accounts and the `clouds.yaml` the OpenStack clients read.

pub mod bootstrap;
pub mod catalog;
pub mod ec2_signature;
pub mod manage;
pub mod password;
pub mod token;

use catalog::Catalog;
use displaydoc::Display;
use metacloud_db::identity::{Project, Role, User};
use metacloud_db::{now_ms, Db, DbError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use thiserror::Error;
use token::{Payload, Signer};

/// Roles and the roles they imply, as Keystone's default implied-role rules.
pub const IMPLIED_ROLES: [(&str, &[&str]); 2] =
    [("admin", &["member", "reader"]), ("member", &["reader"])];

/// Why an identity operation failed; each maps to one HTTP status.
#[derive(Debug, Display, Error)]
pub enum IdentityError {
    /// {0}
    Unauthorized(String),
    /// You are not authorized to perform the requested action: {0}.
    Forbidden(String),
    /// {0}
    NotFound(String),
    /// Conflict occurred attempting to store {0}
    Conflict(String),
    /// {0}
    BadRequest(String),
    /// An unexpected error prevented the server from fulfilling your request: {0}
    Internal(String),
}

impl IdentityError {
    pub fn status(&self) -> u16 {
        match self {
            IdentityError::Unauthorized(_) => 401,
            IdentityError::Forbidden(_) => 403,
            IdentityError::NotFound(_) => 404,
            IdentityError::Conflict(_) => 409,
            IdentityError::BadRequest(_) => 400,
            IdentityError::Internal(_) => 500,
        }
    }

    /// Keystone's `title` for the status.
    pub fn title(&self) -> &'static str {
        match self {
            IdentityError::Unauthorized(_) => "Unauthorized",
            IdentityError::Forbidden(_) => "Forbidden",
            IdentityError::NotFound(_) => "Not Found",
            IdentityError::Conflict(_) => "Conflict",
            IdentityError::BadRequest(_) => "Bad Request",
            IdentityError::Internal(_) => "Internal Server Error",
        }
    }
}

impl From<DbError> for IdentityError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound(m) => IdentityError::NotFound(m),
            DbError::Conflict(m) => IdentityError::Conflict(m),
            e => IdentityError::Internal(e.to_string()),
        }
    }
}

/// Who a valid token says the caller is.
#[derive(Debug, Clone)]
pub struct Auth {
    pub token: String,
    pub user: User,
    /// The project the token is scoped to (unscoped tokens have none).
    pub project: Option<Project>,
    /// Effective roles on the project, implied ones included.
    pub roles: Vec<Role>,
    pub methods: Vec<String>,
    pub issued_at: i64,
    pub expires_at: i64,
    pub audit_id: String,
}

impl Auth {
    pub fn has_role(&self, name: &str) -> bool {
        self.roles.iter().any(|r| r.name == name)
    }
    pub fn is_admin(&self) -> bool {
        self.has_role("admin")
    }
    pub fn project_id(&self) -> Option<&str> {
        self.project.as_ref().map(|p| p.id.as_str())
    }
}

/// A user named by id, or by name in the default domain.
#[derive(Debug, Clone)]
pub enum UserRef {
    Id(String),
    Name(String),
}

/// A project named by id, or by name in the default domain.
#[derive(Debug, Clone)]
pub enum ProjectRef {
    Id(String),
    Name(String),
}

/// How long a validated token is trusted by [`Identity::validate_cached`].
const CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);
const CACHE_MAX: usize = 10_000;

/// Tokens validated lately, shared by every clone of the service.
type TokenCache = Arc<Mutex<HashMap<String, (Auth, Instant)>>>;

/// The identity service.
#[derive(Clone)]
pub struct Identity {
    db: Db,
    signer: Signer,
    ttl_ms: i64,
    catalog: Catalog,
    cache: TokenCache,
}

impl Identity {
    /// The service on `db`, signing with the deployment's shared secret.
    pub async fn new(db: Db, config: &metacloud_config::Config) -> Result<Identity, IdentityError> {
        let secret = db.token_signing_secret().await?;
        Ok(Identity {
            db,
            signer: Signer::new(secret.as_bytes()),
            ttl_ms: config.identity.token_ttl_secs as i64 * 1000,
            catalog: Catalog::from_config(config),
            cache: TokenCache::default(),
        })
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    async fn find_user(&self, user: &UserRef) -> Result<User, IdentityError> {
        let found = match user {
            UserRef::Id(id) => self.db.get_user(id).await,
            UserRef::Name(name) => self.db.find_user(name).await,
        };
        found.map_err(|e| match e {
            DbError::NotFound(_) => unauthorized(),
            e => e.into(),
        })
    }

    async fn find_project(&self, project: &ProjectRef) -> Result<Project, IdentityError> {
        let found = match project {
            ProjectRef::Id(id) => self.db.get_project(id).await,
            ProjectRef::Name(name) => self.db.find_project(name).await,
        };
        found.map_err(|e| match e {
            DbError::NotFound(_) => unauthorized(),
            e => e.into(),
        })
    }

    /// Password authentication; a token for `scope` when given (the user must hold a role
    /// there), else for the user's default project if it has a role there, else unscoped.
    pub async fn authenticate_password(
        &self,
        user: &UserRef,
        password: &str,
        scope: Option<&ProjectRef>,
    ) -> Result<Auth, IdentityError> {
        let u = self.find_user(user).await?;
        let stored = self.db.user_password_hash(&u.id).await?;
        let ok = match &stored {
            // Hashing is CPU work: keep it off the async threads.
            Some(h) => {
                let (pw, h) = (password.to_string(), h.clone());
                tokio::task::spawn_blocking(move || password::verify(&pw, &h))
                    .await
                    .unwrap_or(false)
            }
            None => false,
        };
        if !ok || !u.enabled {
            tracing::warn!(user = %u.name, "authentication failed");
            return Err(unauthorized());
        }
        // Keystone scopes an unscoped request to the user's default project, when the user
        // has a role there.
        let default_scope = match (scope, &u.default_project_id) {
            (None, Some(p)) if !self.db.roles_on(&u.id, p).await?.is_empty() => {
                Some(ProjectRef::Id(p.clone()))
            }
            _ => None,
        };
        self.issue(
            u,
            scope.or(default_scope.as_ref()),
            vec!["password".into()],
            None,
        )
        .await
    }

    /// Token authentication: a new token for the same user (and optionally another
    /// project), expiring no later than the one presented.
    pub async fn authenticate_token(
        &self,
        token: &str,
        scope: Option<&ProjectRef>,
    ) -> Result<Auth, IdentityError> {
        let old = self.validate(token).await?;
        let mut methods = old.methods.clone();
        if !methods.iter().any(|m| m == "token") {
            methods.push("token".into());
        }
        let scope = scope
            .cloned()
            .or_else(|| old.project.as_ref().map(|p| ProjectRef::Id(p.id.clone())));
        self.issue(old.user, scope.as_ref(), methods, Some(old.expires_at))
            .await
    }

    async fn issue(
        &self,
        user: User,
        scope: Option<&ProjectRef>,
        methods: Vec<String>,
        expires_no_later: Option<i64>,
    ) -> Result<Auth, IdentityError> {
        let project = match scope {
            Some(p) => {
                let project = self.find_project(p).await?;
                if !project.enabled || self.db.roles_on(&user.id, &project.id).await?.is_empty() {
                    return Err(IdentityError::Unauthorized(format!(
                        "User {} has no access to project {}",
                        user.id, project.id
                    )));
                }
                Some(project)
            }
            None => None,
        };
        let now = now_ms();
        let mut expires = now + self.ttl_ms;
        if let Some(limit) = expires_no_later {
            expires = expires.min(limit);
        }
        let payload = Payload {
            user_id: user.id.clone(),
            project_id: project.as_ref().map(|p| p.id.clone()),
            methods,
            issued_at: now,
            expires_at: expires,
            audit_id: audit_id(),
        };
        let token = self.signer.sign(&payload);
        let roles = match &project {
            Some(p) => self.effective_roles(&user.id, &p.id).await?,
            None => Vec::new(),
        };
        tracing::info!(user = %user.name, project = ?project.as_ref().map(|p| &p.name), "token issued");
        Ok(Auth {
            token,
            user,
            project,
            roles,
            methods: payload.methods,
            issued_at: payload.issued_at,
            expires_at: payload.expires_at,
            audit_id: payload.audit_id,
        })
    }

    /// Assigned roles plus the ones they imply.
    pub async fn effective_roles(
        &self,
        user: &str,
        project: &str,
    ) -> Result<Vec<Role>, IdentityError> {
        let mut roles = self.db.roles_on(user, project).await?;
        let mut implied = Vec::new();
        for r in &roles {
            for (name, implies) in IMPLIED_ROLES {
                if r.name == name {
                    implied.extend(implies.iter().copied());
                }
            }
        }
        implied.retain(|name| !roles.iter().any(|r| r.name == *name));
        if !implied.is_empty() {
            // One query for all of them (this runs on every token validation).
            let all = self.db.list_roles(None).await?;
            roles.extend(
                all.into_iter()
                    .filter(|r| implied.contains(&r.name.as_str())),
            );
        }
        roles.sort();
        roles.dedup();
        Ok(roles)
    }

    /// Who `token` belongs to: signature, expiry, revocation, the user and project still
    /// enabled, and the roles they hold now.
    pub async fn validate(&self, token: &str) -> Result<Auth, IdentityError> {
        let invalid = || IdentityError::NotFound("Could not find token.".into());
        let p = self.signer.verify(token.trim()).map_err(|_| invalid())?;
        if p.expires_at <= now_ms() || self.db.is_token_revoked(&p.audit_id).await? {
            return Err(invalid());
        }
        let user = match self.db.get_user(&p.user_id).await {
            Ok(u) if u.enabled => u,
            Ok(_) | Err(DbError::NotFound(_)) => return Err(invalid()),
            Err(e) => return Err(e.into()),
        };
        let (project, roles) = match &p.project_id {
            Some(id) => {
                let project = match self.db.get_project(id).await {
                    Ok(p) if p.enabled => p,
                    Ok(_) | Err(DbError::NotFound(_)) => return Err(invalid()),
                    Err(e) => return Err(e.into()),
                };
                let roles = self.effective_roles(&user.id, &project.id).await?;
                if roles.is_empty() {
                    return Err(invalid());
                }
                (Some(project), roles)
            }
            None => (None, Vec::new()),
        };
        Ok(Auth {
            token: token.trim().to_string(),
            user,
            project,
            roles,
            methods: p.methods,
            issued_at: p.issued_at,
            expires_at: p.expires_at,
            audit_id: p.audit_id,
        })
    }

    /// [`Identity::validate`], trusting a result for a few seconds (the API's every
    /// request carries a token). Revoking a token ends its validity here at once; a role
    /// or user taken away, within [`CACHE_TTL`].
    pub async fn validate_cached(&self, token: &str) -> Result<Auth, IdentityError> {
        let token = token.trim();
        if let Some((auth, at)) = self.cache().get(token) {
            if at.elapsed() < CACHE_TTL && auth.expires_at > now_ms() {
                return Ok(auth.clone());
            }
        }
        let auth = self.validate(token).await?;
        let mut cache = self.cache();
        if cache.len() >= CACHE_MAX {
            cache.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
        }
        cache.insert(token.to_string(), (auth.clone(), Instant::now()));
        Ok(auth)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Auth, Instant)>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Revokes a token (idempotent for tokens already revoked or expired).
    pub async fn revoke(&self, token: &str) -> Result<(), IdentityError> {
        self.cache().remove(token.trim());
        let p = self
            .signer
            .verify(token.trim())
            .map_err(|_| IdentityError::NotFound("Could not find token.".into()))?;
        self.db.revoke_token(&p.audit_id, p.expires_at).await?;
        tracing::info!(user = %p.user_id, audit_id = %p.audit_id, "token revoked");
        Ok(())
    }
}

fn unauthorized() -> IdentityError {
    IdentityError::Unauthorized("The request you have made requires authentication.".into())
}

/// Keystone's audit ids: 22 characters of URL-safe base64.
fn audit_id() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes())
}
