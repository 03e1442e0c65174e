//! The identity service as a dialect's `identity` import: WIT records in and out, secrets
//! opened from and sealed into this request's [`Seals`], and the caller checked against
//! the one the host established (a dialect cannot claim to be someone else).

use crate::caller::context;
use crate::sealed::Seals;
use metacloud_db::identity as db;
use metacloud_identity::manage::UserCreate as NewUser;
use metacloud_identity::{Auth, Identity, IdentityError as Error};
use metacloud_objects::Context;
use metacloud_plugins::api::identity::{
    self, Assignment, Caller, Catalog, CatalogService, Change, Ec2Credential, IdentityError,
    Project, ProjectRef, Role, Token, User, UserCreate, UserRef,
};
use std::future::Future;
use std::sync::Arc;

type R<T> = Result<T, IdentityError>;

/// One request's view of the identity service.
pub struct IdentityOps {
    pub identity: Identity,
    pub seals: Arc<Seals>,
    pub handle: tokio::runtime::Handle,
    /// The caller the host established for the request, if any.
    pub caller: crate::caller::Established,
}

fn wit_error(e: Error) -> IdentityError {
    match e {
        Error::Unauthorized(m) => IdentityError::Unauthorized(m),
        Error::NotFound(m) => IdentityError::NotFound(m),
        Error::BadRequest(m) => IdentityError::BadRequest(m),
        e @ Error::Forbidden(_) => IdentityError::Forbidden(e.to_string()),
        e @ Error::Conflict(_) => IdentityError::Conflict(e.to_string()),
        e @ Error::Internal(_) => {
            tracing::error!(error = %e, "identity operation failed");
            IdentityError::Internal(e.to_string())
        }
    }
}

fn unauthorized() -> IdentityError {
    IdentityError::Unauthorized("The request you have made requires authentication.".into())
}

fn project(p: db::Project) -> Project {
    Project {
        id: p.id,
        name: p.name,
        domain_id: p.domain_id,
        description: p.description,
        enabled: p.enabled,
    }
}

fn user(u: db::User) -> User {
    User {
        id: u.id,
        name: u.name,
        domain_id: u.domain_id,
        enabled: u.enabled,
        description: u.description,
        email: u.email,
        default_project_id: u.default_project_id,
    }
}

fn role(r: db::Role) -> Role {
    Role {
        id: r.id,
        name: r.name,
    }
}

fn user_ref(u: UserRef) -> metacloud_identity::UserRef {
    match u {
        UserRef::Id(id) => metacloud_identity::UserRef::Id(id),
        UserRef::Name(name) => metacloud_identity::UserRef::Name(name),
    }
}

fn project_ref(p: ProjectRef) -> metacloud_identity::ProjectRef {
    match p {
        ProjectRef::Id(id) => metacloud_identity::ProjectRef::Id(id),
        ProjectRef::Name(name) => metacloud_identity::ProjectRef::Name(name),
    }
}

fn change(c: Change) -> db::Change {
    db::Change {
        name: c.name,
        description: c.description,
        enabled: c.enabled,
        email: c.email,
        default_project_id: c.default_project_id,
        password_hash: None,
    }
}

impl IdentityOps {
    fn run<T>(&self, f: impl Future<Output = Result<T, Error>>) -> R<T> {
        self.handle.block_on(f).map_err(wit_error)
    }

    /// The caller as the host established it; `c` must be that caller.
    fn who(&self, c: &Caller) -> R<Context> {
        let known = self.caller.check(c).ok_or_else(unauthorized)?;
        Ok(context(&known))
    }

    /// A sealed reference of this request, opened (a bad one: `bad` error).
    fn open(&self, reference: &str, bad: IdentityError) -> R<String> {
        self.seals.open(reference).ok_or(bad)
    }

    /// A token record, its secret sealed for the response.
    fn token(&self, a: Auth) -> Token {
        Token {
            token: self.seals.seal(a.token, true),
            user: user(a.user),
            project: a.project.map(project),
            roles: a.roles.into_iter().map(role).collect(),
            methods: a.methods,
            issued_at: a.issued_at,
            expires_at: a.expires_at,
            audit_id: a.audit_id,
        }
    }

    fn ec2(&self, c: db::Ec2Credential) -> Ec2Credential {
        Ec2Credential {
            user_id: c.user_id,
            project_id: c.project_id,
            access: c.access,
            secret: self.seals.seal(c.secret, true),
        }
    }
}

/// An invalid presented token is a credentials problem (401), not a missing resource.
fn token_unauthorized(e: Error) -> Error {
    match e {
        Error::NotFound(_) => {
            Error::Unauthorized("The request you have made requires authentication.".into())
        }
        e => e,
    }
}

impl identity::Host for IdentityOps {
    fn authenticate_password(
        &mut self,
        u: UserRef,
        password: String,
        scope: Option<ProjectRef>,
    ) -> R<Token> {
        let password = self.open(&password, unauthorized())?;
        let scope = scope.map(project_ref);
        let a = self.run(self.identity.authenticate_password(
            &user_ref(u),
            &password,
            scope.as_ref(),
        ))?;
        Ok(self.token(a))
    }

    fn authenticate_token(&mut self, token: String, scope: Option<ProjectRef>) -> R<Token> {
        let token = self.open(&token, unauthorized())?;
        let scope = scope.map(project_ref);
        let a = self.run(async {
            self.identity
                .authenticate_token(&token, scope.as_ref())
                .await
                .map_err(token_unauthorized)
        })?;
        Ok(self.token(a))
    }

    fn validate_token(&mut self, c: Caller, subject: String) -> R<Token> {
        let who = self.who(&c)?;
        let subject = self.open(
            &subject,
            IdentityError::NotFound("Could not find token.".into()),
        )?;
        let a = self.run(self.identity.check_token(&who, &subject))?;
        Ok(self.token(a))
    }

    fn revoke_token(&mut self, c: Caller, subject: String) -> R<()> {
        let who = self.who(&c)?;
        let subject = self.open(
            &subject,
            IdentityError::NotFound("Could not find token.".into()),
        )?;
        self.run(self.identity.revoke_token(&who, &subject))
    }

    fn get_catalog(&mut self) -> Catalog {
        let catalog = self.identity.catalog();
        Catalog {
            region: catalog.region.clone(),
            services: catalog
                .services
                .iter()
                .map(|s| CatalogService {
                    id: s.id.clone(),
                    kind: s.kind.clone(),
                    name: s.name.clone(),
                    url: s.url.clone(),
                })
                .collect(),
            identity_url: catalog.url("identity").unwrap_or("/v3").to_string(),
        }
    }

    fn list_projects(&mut self, c: Caller, name: Option<String>) -> R<Vec<Project>> {
        let who = self.who(&c)?;
        let all = self.run(self.identity.list_projects(&who, name.as_deref()))?;
        Ok(all.into_iter().map(project).collect())
    }

    fn get_project(&mut self, c: Caller, id: String) -> R<Project> {
        let who = self.who(&c)?;
        self.run(self.identity.get_project(&who, &id)).map(project)
    }

    fn create_project(
        &mut self,
        c: Caller,
        name: String,
        description: String,
        enabled: bool,
    ) -> R<Project> {
        let who = self.who(&c)?;
        self.run(
            self.identity
                .create_project(&who, &name, &description, enabled),
        )
        .map(project)
    }

    fn update_project(&mut self, c: Caller, id: String, ch: Change) -> R<Project> {
        let who = self.who(&c)?;
        self.run(self.identity.update_project(&who, &id, &change(ch)))
            .map(project)
    }

    fn delete_project(&mut self, c: Caller, id: String) -> R<()> {
        let who = self.who(&c)?;
        self.run(self.identity.delete_project(&who, &id))
    }

    fn user_projects(&mut self, c: Caller, u: String) -> R<Vec<Project>> {
        let who = self.who(&c)?;
        let all = self.run(self.identity.user_projects(&who, &u))?;
        Ok(all.into_iter().map(project).collect())
    }

    fn list_users(&mut self, c: Caller, name: Option<String>) -> R<Vec<User>> {
        let who = self.who(&c)?;
        let all = self.run(self.identity.list_users(&who, name.as_deref()))?;
        Ok(all.into_iter().map(user).collect())
    }

    fn get_user(&mut self, c: Caller, id: String) -> R<User> {
        let who = self.who(&c)?;
        self.run(self.identity.get_user(&who, &id)).map(user)
    }

    fn create_user(&mut self, c: Caller, u: UserCreate) -> R<User> {
        let who = self.who(&c)?;
        let password = match &u.password {
            Some(r) => Some(self.open(
                r,
                IdentityError::BadRequest("Invalid input for field 'password'".into()),
            )?),
            None => None,
        };
        let new = NewUser {
            name: u.name,
            password,
            default_project_id: u.default_project_id,
            email: u.email,
            description: u.description,
            enabled: u.enabled,
        };
        self.run(self.identity.create_user(&who, new)).map(user)
    }

    fn update_user(&mut self, c: Caller, id: String, mut ch: Change) -> R<User> {
        let who = self.who(&c)?;
        let password = match ch.password.take() {
            Some(r) => Some(self.open(
                &r,
                IdentityError::BadRequest("Invalid input for field 'password'".into()),
            )?),
            None => None,
        };
        self.run(
            self.identity
                .update_user(&who, &id, change(ch), password.as_deref()),
        )
        .map(user)
    }

    fn delete_user(&mut self, c: Caller, id: String) -> R<()> {
        let who = self.who(&c)?;
        self.run(self.identity.delete_user(&who, &id))
    }

    fn list_roles(&mut self, c: Caller, name: Option<String>) -> R<Vec<Role>> {
        let who = self.who(&c)?;
        let all = self.run(self.identity.list_roles(&who, name.as_deref()))?;
        Ok(all.into_iter().map(role).collect())
    }

    fn get_role(&mut self, c: Caller, id: String) -> R<Role> {
        let who = self.who(&c)?;
        self.run(self.identity.get_role(&who, &id)).map(role)
    }

    fn create_role(&mut self, c: Caller, name: String) -> R<Role> {
        let who = self.who(&c)?;
        self.run(self.identity.create_role(&who, &name)).map(role)
    }

    fn user_roles(&mut self, c: Caller, p: String, u: String) -> R<Vec<Role>> {
        let who = self.who(&c)?;
        let all = self.run(self.identity.user_roles(&who, &p, &u))?;
        Ok(all.into_iter().map(role).collect())
    }

    fn grant_role(&mut self, c: Caller, p: String, u: String, r: String) -> R<()> {
        let who = self.who(&c)?;
        self.run(self.identity.grant_role(&who, &p, &u, &r))
    }

    fn revoke_role(&mut self, c: Caller, p: String, u: String, r: String) -> R<()> {
        let who = self.who(&c)?;
        self.run(self.identity.revoke_role(&who, &p, &u, &r))
    }

    fn list_assignments(
        &mut self,
        c: Caller,
        u: Option<String>,
        p: Option<String>,
        r: Option<String>,
    ) -> R<Vec<Assignment>> {
        let who = self.who(&c)?;
        let all = self.run(self.identity.list_assignments(
            &who,
            u.as_deref(),
            p.as_deref(),
            r.as_deref(),
        ))?;
        Ok(all
            .into_iter()
            .map(|a| Assignment {
                user_id: a.user_id,
                project_id: a.project_id,
                role_id: a.role_id,
            })
            .collect())
    }

    fn list_ec2_credentials(&mut self, c: Caller, u: String) -> R<Vec<Ec2Credential>> {
        let who = self.who(&c)?;
        let all = self.run(self.identity.list_ec2_credentials(&who, &u))?;
        Ok(all.into_iter().map(|c| self.ec2(c)).collect())
    }

    fn create_ec2_credential(
        &mut self,
        c: Caller,
        u: String,
        p: Option<String>,
    ) -> R<Ec2Credential> {
        let who = self.who(&c)?;
        let cred = self.run(self.identity.create_ec2_credential(&who, &u, p.as_deref()))?;
        Ok(self.ec2(cred))
    }

    fn get_ec2_credential(&mut self, c: Caller, u: String, access: String) -> R<Ec2Credential> {
        let who = self.who(&c)?;
        let cred = self.run(self.identity.get_ec2_credential(&who, &u, &access))?;
        Ok(self.ec2(cred))
    }

    fn delete_ec2_credential(&mut self, c: Caller, u: String, access: String) -> R<()> {
        let who = self.who(&c)?;
        self.run(self.identity.delete_ec2_credential(&who, &u, &access))
    }
}
