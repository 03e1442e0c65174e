//! The `identity` import of API dialects: Keystone-style identity operations, served by
//! the host through [`IdentityHost`]. Secrets cross only as sealed references.

use super::world::metacloud::api::identity;
use crate::runtime::{State, Timed};

pub use super::Caller;
pub use identity::{
    Assignment, Catalog, CatalogService, Change, Ec2Credential, IdentityError, Project, ProjectRef,
    Role, Token, User, UserCreate, UserRef,
};

type R<T> = Result<T, IdentityError>;

/// What the host offers a dialect's `identity` import; called on the plugin's thread.
pub trait IdentityHost: Send + Sync {
    fn authenticate_password(
        &self,
        user: UserRef,
        password: String,
        scope: Option<ProjectRef>,
    ) -> R<Token>;
    fn authenticate_token(&self, token: String, scope: Option<ProjectRef>) -> R<Token>;
    fn validate_token(&self, c: Caller, subject: String) -> R<Token>;
    fn revoke_token(&self, c: Caller, subject: String) -> R<()>;
    fn get_catalog(&self) -> Catalog;
    fn list_projects(&self, c: Caller, name: Option<String>) -> R<Vec<Project>>;
    fn get_project(&self, c: Caller, id: String) -> R<Project>;
    fn create_project(
        &self,
        c: Caller,
        name: String,
        description: String,
        enabled: bool,
    ) -> R<Project>;
    fn update_project(&self, c: Caller, id: String, change: Change) -> R<Project>;
    fn delete_project(&self, c: Caller, id: String) -> R<()>;
    fn user_projects(&self, c: Caller, user: String) -> R<Vec<Project>>;
    fn list_users(&self, c: Caller, name: Option<String>) -> R<Vec<User>>;
    fn get_user(&self, c: Caller, id: String) -> R<User>;
    fn create_user(&self, c: Caller, user: UserCreate) -> R<User>;
    fn update_user(&self, c: Caller, id: String, change: Change) -> R<User>;
    fn delete_user(&self, c: Caller, id: String) -> R<()>;
    fn list_roles(&self, c: Caller, name: Option<String>) -> R<Vec<Role>>;
    fn get_role(&self, c: Caller, id: String) -> R<Role>;
    fn create_role(&self, c: Caller, name: String) -> R<Role>;
    fn user_roles(&self, c: Caller, project: String, user: String) -> R<Vec<Role>>;
    fn grant_role(&self, c: Caller, project: String, user: String, role: String) -> R<()>;
    fn revoke_role(&self, c: Caller, project: String, user: String, role: String) -> R<()>;
    fn list_assignments(
        &self,
        c: Caller,
        user: Option<String>,
        project: Option<String>,
        role: Option<String>,
    ) -> R<Vec<Assignment>>;
    fn list_ec2_credentials(&self, c: Caller, user: String) -> R<Vec<Ec2Credential>>;
    fn create_ec2_credential(
        &self,
        c: Caller,
        user: String,
        project: Option<String>,
    ) -> R<Ec2Credential>;
    fn get_ec2_credential(&self, c: Caller, user: String, access: String) -> R<Ec2Credential>;
    fn delete_ec2_credential(&self, c: Caller, user: String, access: String) -> R<()>;
}

impl State {
    fn identity_host(&self) -> R<Timed<dyn IdentityHost>> {
        let host = self
            .identity
            .clone()
            .ok_or_else(|| IdentityError::Internal("no identity service in this context".into()))?;
        Ok(self.host_clock.timed(host))
    }
}

/// Forwards each import to the request's [`IdentityHost`].
macro_rules! forward {
    ($( fn $name:ident(&mut self $(, $arg:ident: $ty:ty)*) -> $ret:ty; )*) => {
        impl identity::Host for State {
            $( fn $name(&mut self $(, $arg: $ty)*) -> $ret {
                self.identity_host()?.$name($($arg),*)
            } )*
            fn get_catalog(&mut self) -> Catalog {
                match &self.identity {
                    Some(h) => h.get_catalog(),
                    None => Catalog { region: String::new(), services: vec![], identity_url: String::new() },
                }
            }
        }
    };
}

forward! {
    fn authenticate_password(&mut self, user: UserRef, password: String, scope: Option<ProjectRef>) -> R<Token>;
    fn authenticate_token(&mut self, token: String, scope: Option<ProjectRef>) -> R<Token>;
    fn validate_token(&mut self, c: Caller, subject: String) -> R<Token>;
    fn revoke_token(&mut self, c: Caller, subject: String) -> R<()>;
    fn list_projects(&mut self, c: Caller, name: Option<String>) -> R<Vec<Project>>;
    fn get_project(&mut self, c: Caller, id: String) -> R<Project>;
    fn create_project(&mut self, c: Caller, name: String, description: String, enabled: bool) -> R<Project>;
    fn update_project(&mut self, c: Caller, id: String, change: Change) -> R<Project>;
    fn delete_project(&mut self, c: Caller, id: String) -> R<()>;
    fn user_projects(&mut self, c: Caller, user: String) -> R<Vec<Project>>;
    fn list_users(&mut self, c: Caller, name: Option<String>) -> R<Vec<User>>;
    fn get_user(&mut self, c: Caller, id: String) -> R<User>;
    fn create_user(&mut self, c: Caller, user: UserCreate) -> R<User>;
    fn update_user(&mut self, c: Caller, id: String, change: Change) -> R<User>;
    fn delete_user(&mut self, c: Caller, id: String) -> R<()>;
    fn list_roles(&mut self, c: Caller, name: Option<String>) -> R<Vec<Role>>;
    fn get_role(&mut self, c: Caller, id: String) -> R<Role>;
    fn create_role(&mut self, c: Caller, name: String) -> R<Role>;
    fn user_roles(&mut self, c: Caller, project: String, user: String) -> R<Vec<Role>>;
    fn grant_role(&mut self, c: Caller, project: String, user: String, role: String) -> R<()>;
    fn revoke_role(&mut self, c: Caller, project: String, user: String, role: String) -> R<()>;
    fn list_assignments(&mut self, c: Caller, user: Option<String>, project: Option<String>, role: Option<String>) -> R<Vec<Assignment>>;
    fn list_ec2_credentials(&mut self, c: Caller, user: String) -> R<Vec<Ec2Credential>>;
    fn create_ec2_credential(&mut self, c: Caller, user: String, project: Option<String>) -> R<Ec2Credential>;
    fn get_ec2_credential(&mut self, c: Caller, user: String, access: String) -> R<Ec2Credential>;
    fn delete_ec2_credential(&mut self, c: Caller, user: String, access: String) -> R<()>;
}
