//! Identity administration with Keystone's default policy: what a caller may list, read
//! and change among projects, users, roles, assignments and EC2 credentials. Dialects
//! shape it (plugins/identity-api); the rules live here.

use crate::{Identity, IdentityError};
use metacloud_db::identity::{Assignment, Change, Ec2Credential, NewUser, Project, Role, User};
use metacloud_objects::Context;

type Result<T> = std::result::Result<T, IdentityError>;

/// The identity policy's checks on who is asking (the shared request context; an
/// unscoped token has an empty project).
trait Policy {
    /// An admin of a project (an unscoped token is nobody's admin).
    fn is_identity_admin(&self) -> bool;
    /// The caller itself, or an admin; else `identity:<action>` is forbidden.
    fn self_or_admin(&self, user: &str, action: &str) -> Result<()>;
    /// An admin; else `identity:<action>` is forbidden.
    fn admin(&self, action: &str) -> Result<()>;
}

impl Policy for Context {
    fn is_identity_admin(&self) -> bool {
        !self.project_id.is_empty() && self.is_admin()
    }

    fn self_or_admin(&self, user: &str, action: &str) -> Result<()> {
        if self.user_id == user || self.is_identity_admin() {
            Ok(())
        } else {
            Err(forbidden(action))
        }
    }

    fn admin(&self, action: &str) -> Result<()> {
        if self.is_identity_admin() {
            Ok(())
        } else {
            Err(forbidden(action))
        }
    }
}

fn forbidden(action: &str) -> IdentityError {
    IdentityError::Forbidden(format!("identity:{action}"))
}

/// A user to create: the password in clear (hashed here).
#[derive(Debug, Clone, Default)]
pub struct UserCreate {
    pub name: String,
    pub password: Option<String>,
    pub default_project_id: Option<String>,
    pub email: Option<String>,
    pub description: String,
    pub enabled: bool,
}

/// Names are 1 to 255 characters, not all blank.
fn name_ok(name: &str) -> Result<()> {
    if name.trim().is_empty() || name.len() > 255 {
        return Err(IdentityError::BadRequest(
            "Invalid input for field 'name': must be 1 to 255 characters".into(),
        ));
    }
    Ok(())
}

async fn hash_of(password: &str) -> Result<String> {
    let pw = password.to_string();
    tokio::task::spawn_blocking(move || crate::password::hash(&pw))
        .await
        .map_err(|e| IdentityError::Internal(e.to_string()))
}

impl Identity {
    /// Projects `user` holds a role on, in assignment order.
    async fn projects_of(&self, user: &str) -> Result<Vec<Project>> {
        let mut out: Vec<Project> = Vec::new();
        for a in self.db.list_assignments(Some(user), None).await? {
            if !out.iter().any(|p| p.id == a.project_id) {
                out.push(self.db.get_project(&a.project_id).await?);
            }
        }
        Ok(out)
    }

    /// All projects (admins), else the caller's own; optionally only those named `name`.
    pub async fn list_projects(&self, who: &Context, name: Option<&str>) -> Result<Vec<Project>> {
        if who.is_identity_admin() {
            return Ok(self.db.list_projects(name).await?);
        }
        Ok(self
            .projects_of(&who.user_id)
            .await?
            .into_iter()
            .filter(|p| name.is_none_or(|n| p.name == n))
            .collect())
    }

    /// A project: admins any, others the one their token is scoped to.
    pub async fn get_project(&self, who: &Context, id: &str) -> Result<Project> {
        if !who.is_identity_admin() && who.project_id != id {
            return Err(forbidden("get_project"));
        }
        Ok(self.db.get_project(id).await?)
    }

    pub async fn create_project(
        &self,
        who: &Context,
        name: &str,
        description: &str,
        enabled: bool,
    ) -> Result<Project> {
        who.admin("create_project")?;
        name_ok(name)?;
        let project = self.db.create_project(name, description, enabled).await?;
        tracing::info!(project = %project.name, id = %project.id, "project created");
        Ok(project)
    }

    pub async fn update_project(
        &self,
        who: &Context,
        id: &str,
        change: &Change,
    ) -> Result<Project> {
        who.admin("update_project")?;
        if let Some(n) = &change.name {
            name_ok(n)?;
        }
        Ok(self.db.update_project(id, change).await?)
    }

    pub async fn delete_project(&self, who: &Context, id: &str) -> Result<()> {
        who.admin("delete_project")?;
        self.db.delete_project(id).await?;
        tracing::info!(project = %id, "project deleted");
        Ok(())
    }

    /// Projects `user` holds a role on: the caller's own, or anyone's for admins.
    pub async fn user_projects(&self, who: &Context, user: &str) -> Result<Vec<Project>> {
        who.self_or_admin(user, "list_user_projects")?;
        self.projects_of(user).await
    }

    pub async fn list_users(&self, who: &Context, name: Option<&str>) -> Result<Vec<User>> {
        who.admin("list_users")?;
        Ok(self.db.list_users(name).await?)
    }

    pub async fn get_user(&self, who: &Context, id: &str) -> Result<User> {
        who.self_or_admin(id, "get_user")?;
        Ok(self.db.get_user(id).await?)
    }

    pub async fn create_user(&self, who: &Context, new: UserCreate) -> Result<User> {
        who.admin("create_user")?;
        name_ok(&new.name)?;
        if let Some(p) = &new.default_project_id {
            self.db
                .get_project(p)
                .await
                .map_err(|_| IdentityError::BadRequest(format!("Could not find project: {p}.")))?;
        }
        let password_hash = match &new.password {
            Some(pw) => Some(hash_of(pw).await?),
            None => None,
        };
        let user = self
            .db
            .create_user(&NewUser {
                name: new.name,
                password_hash,
                default_project_id: new.default_project_id,
                email: new.email,
                description: new.description,
                enabled: new.enabled,
            })
            .await?;
        tracing::info!(user = %user.name, id = %user.id, "user created");
        Ok(user)
    }

    /// Changes a user; `password`, when given, in clear.
    pub async fn update_user(
        &self,
        who: &Context,
        id: &str,
        mut change: Change,
        password: Option<&str>,
    ) -> Result<User> {
        who.admin("update_user")?;
        if let Some(n) = &change.name {
            name_ok(n)?;
        }
        if let Some(pw) = password {
            change.password_hash = Some(hash_of(pw).await?);
        }
        Ok(self.db.update_user(id, &change).await?)
    }

    pub async fn delete_user(&self, who: &Context, id: &str) -> Result<()> {
        who.admin("delete_user")?;
        self.db.delete_user(id).await?;
        tracing::info!(user = %id, "user deleted");
        Ok(())
    }

    /// Roles, for anyone with a valid token.
    pub async fn list_roles(&self, _who: &Context, name: Option<&str>) -> Result<Vec<Role>> {
        Ok(self.db.list_roles(name).await?)
    }

    pub async fn get_role(&self, _who: &Context, id: &str) -> Result<Role> {
        Ok(self.db.get_role(id).await?)
    }

    pub async fn create_role(&self, who: &Context, name: &str) -> Result<Role> {
        who.admin("create_role")?;
        name_ok(name)?;
        if self.db.find_role(name).await.is_ok() {
            return Err(IdentityError::Conflict(format!(
                "Duplicate entry found with name {name}."
            )));
        }
        Ok(self.db.ensure_role(name).await?)
    }

    /// Roles assigned to `user` on `project` (not the implied ones).
    pub async fn user_roles(&self, who: &Context, project: &str, user: &str) -> Result<Vec<Role>> {
        who.self_or_admin(user, "list_grants")?;
        Ok(self.db.roles_on(user, project).await?)
    }

    pub async fn grant_role(
        &self,
        who: &Context,
        project: &str,
        user: &str,
        role: &str,
    ) -> Result<()> {
        who.admin("create_grant")?;
        self.db.assign_role(project, user, role).await?;
        tracing::info!(project = %project, user = %user, role = %role, "role granted");
        Ok(())
    }

    pub async fn revoke_role(
        &self,
        who: &Context,
        project: &str,
        user: &str,
        role: &str,
    ) -> Result<()> {
        who.admin("revoke_grant")?;
        self.db.unassign_role(project, user, role).await?;
        tracing::info!(project = %project, user = %user, role = %role, "role revoked");
        Ok(())
    }

    /// Assignments matching the filters; non-admins only their own.
    pub async fn list_assignments(
        &self,
        who: &Context,
        user: Option<&str>,
        project: Option<&str>,
        role: Option<&str>,
    ) -> Result<Vec<Assignment>> {
        if !who.is_identity_admin() && user != Some(who.user_id.as_str()) {
            return Err(forbidden("list_role_assignments"));
        }
        Ok(self
            .db
            .list_assignments(user, project)
            .await?
            .into_iter()
            .filter(|x| role.is_none_or(|r| x.role_id == r))
            .collect())
    }

    pub async fn list_ec2_credentials(
        &self,
        who: &Context,
        user: &str,
    ) -> Result<Vec<Ec2Credential>> {
        who.self_or_admin(user, "ec2_list_credentials")?;
        Ok(self.db.list_ec2_credentials(user).await?)
    }

    /// A new access/secret pair for `user` on `project` (default: the caller's project);
    /// the user must hold a role there.
    pub async fn create_ec2_credential(
        &self,
        who: &Context,
        user: &str,
        project: Option<&str>,
    ) -> Result<Ec2Credential> {
        who.self_or_admin(user, "ec2_create_credential")?;
        let project = project
            .or(Some(who.project_id.as_str()).filter(|p| !p.is_empty()))
            .ok_or_else(|| {
                IdentityError::BadRequest("Expecting to find tenant_id in request body".into())
            })?
            .to_string();
        if self.db.roles_on(user, &project).await?.is_empty() {
            return Err(IdentityError::Forbidden(format!(
                "user {user} has no role on project {project}"
            )));
        }
        let c = self.db.create_ec2_credential(user, &project).await?;
        tracing::info!(user = %user, project = %project, access = %c.access, "EC2 credential created");
        Ok(c)
    }

    /// One of `user`'s EC2 credentials (another user's is not found).
    pub async fn get_ec2_credential(
        &self,
        who: &Context,
        user: &str,
        access: &str,
    ) -> Result<Ec2Credential> {
        who.self_or_admin(user, "ec2_get_credential")?;
        let c = self.db.get_ec2_credential(access).await?;
        if c.user_id != user {
            return Err(IdentityError::NotFound(format!(
                "Could not find credential: {access}."
            )));
        }
        Ok(c)
    }

    pub async fn delete_ec2_credential(
        &self,
        who: &Context,
        user: &str,
        access: &str,
    ) -> Result<()> {
        self.get_ec2_credential(who, user, access).await?;
        self.db.delete_ec2_credential(access).await?;
        tracing::info!(user = %user, access = %access, "EC2 credential deleted");
        Ok(())
    }

    /// The token `subject` stands for: its holder may see it, others only an admin.
    pub async fn check_token(&self, who: &Context, subject: &str) -> Result<crate::Auth> {
        let a = self.validate(subject).await?;
        if a.user.id != who.user_id && !who.is_identity_admin() {
            return Err(forbidden("validate_token"));
        }
        Ok(a)
    }

    /// Revokes `subject`: its holder or an admin.
    pub async fn revoke_token(&self, who: &Context, subject: &str) -> Result<()> {
        let a = self.validate(subject).await?;
        if a.user.id != who.user_id && !who.is_identity_admin() {
            return Err(forbidden("revoke_token"));
        }
        self.revoke(subject).await
    }
}
