//! First start: the roles, the admin and demo accounts, and the `clouds.yaml` that the
//! OpenStack clients read.

use crate::{password, Identity, IdentityError};
use metacloud_config::Config;
use metacloud_db::identity::{Change, NewUser, Project, User};
use metacloud_db::DbError;
use std::path::{Path, PathBuf};

/// What bootstrap made or found.
#[derive(Debug, Clone)]
pub struct Bootstrapped {
    pub admin: User,
    pub admin_project: Project,
    pub demo: User,
    pub demo_project: Project,
    /// Where the clients' configuration was written.
    pub clouds_yaml: PathBuf,
}

/// Passwords that were not configured: made once, kept (0600) in the data directory.
fn stored_passwords(path: &Path) -> std::collections::BTreeMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

fn write_private(path: &Path, text: &str) -> Result<(), IdentityError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let fail = |e: std::io::Error| {
        IdentityError::Internal(format!("cannot write {}: {e}", path.display()))
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(fail)?;
    f.write_all(text.as_bytes()).map_err(fail)?;
    f.sync_all().map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}

async fn ensure_project(identity: &Identity, name: &str) -> Result<Project, IdentityError> {
    match identity.db().find_project(name).await {
        Ok(p) => Ok(p),
        Err(DbError::NotFound(_)) => {
            match identity
                .db()
                .create_project(name, "bootstrapped", true)
                .await
            {
                Ok(p) => Ok(p),
                // Another process made it meanwhile.
                Err(DbError::Conflict(_)) => Ok(identity.db().find_project(name).await?),
                Err(e) => Err(e.into()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// The user `name` with `password`: created if missing; an existing user's password is
/// reset only when `configured` (the operator set it), else left as it is.
async fn ensure_user(
    identity: &Identity,
    name: &str,
    password: &str,
    configured: bool,
    project: &Project,
) -> Result<User, IdentityError> {
    let hash = {
        let pw = password.to_string();
        tokio::task::spawn_blocking(move || password::hash(&pw))
            .await
            .map_err(|e| IdentityError::Internal(e.to_string()))?
    };
    match identity.db().find_user(name).await {
        Ok(u) if configured => Ok(identity
            .db()
            .update_user(
                &u.id,
                &Change {
                    password_hash: Some(hash),
                    enabled: Some(true),
                    ..Default::default()
                },
            )
            .await?),
        Ok(u) => Ok(u),
        Err(DbError::NotFound(_)) => {
            let new = NewUser {
                name: name.into(),
                password_hash: Some(hash),
                default_project_id: Some(project.id.clone()),
                enabled: true,
                ..Default::default()
            };
            match identity.db().create_user(&new).await {
                Ok(u) => Ok(u),
                Err(DbError::Conflict(_)) => Ok(identity.db().find_user(name).await?),
                Err(e) => Err(e.into()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

fn random_password() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Makes what is missing and writes `<data_dir>/clouds.yaml` with the clouds `metacloud`
/// (the demo member) and `metacloud-admin`.
pub async fn bootstrap(
    identity: &Identity,
    config: &Config,
) -> Result<Bootstrapped, IdentityError> {
    let id = &config.identity;
    let db = identity.db();
    for role in ["admin", "member", "reader"] {
        db.ensure_role(role).await?;
    }
    let secrets_path = config.data_dir().join("bootstrap-passwords");
    let mut stored = stored_passwords(&secrets_path);
    let mut pick = |key: &str, configured: &Option<String>| -> (String, bool) {
        match configured {
            Some(pw) => (pw.clone(), true),
            None => (
                stored
                    .entry(key.to_string())
                    .or_insert_with(random_password)
                    .clone(),
                false,
            ),
        }
    };
    let (admin_pw, admin_set) = pick("admin", &id.admin_password);
    let (demo_pw, demo_set) = pick("demo", &id.demo_password);
    if !(admin_set && demo_set) {
        let text: String = stored.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        write_private(&secrets_path, &text)?;
    }
    let admin_project = ensure_project(identity, &id.admin_project).await?;
    let demo_project = ensure_project(identity, &id.demo_project).await?;
    let admin = ensure_user(
        identity,
        &id.admin_user,
        &admin_pw,
        admin_set,
        &admin_project,
    )
    .await?;
    let demo = ensure_user(identity, &id.demo_user, &demo_pw, demo_set, &demo_project).await?;
    let admin_role = db.find_role("admin").await?;
    let member_role = db.find_role("member").await?;
    db.assign_role(&admin_project.id, &admin.id, &admin_role.id)
        .await?;
    db.assign_role(&demo_project.id, &demo.id, &member_role.id)
        .await?;
    let clouds_yaml = config.data_dir().join("clouds.yaml");
    let auth_url = identity
        .catalog()
        .url("identity")
        .unwrap_or_default()
        .to_string();
    let cloud = |name: &str, user: &str, pw: &str, project: &str| {
        let q = |s: &str| serde_json::to_string(s).expect("strings serialise");
        format!(
            "  {name}:\n    auth:\n      auth_url: {}\n      username: {}\n      password: {}\n      \
             project_name: {}\n      user_domain_name: Default\n      project_domain_name: Default\n    \
             region_name: {}\n    interface: public\n    identity_api_version: 3\n",
            q(&auth_url),
            q(user),
            q(pw),
            q(project),
            q(&id.region)
        )
    };
    let text = format!(
        "# Written by metacloud at start: this cloud as the OpenStack clients see it.\n\
         # export OS_CLIENT_CONFIG_FILE={path}; openstack --os-cloud metacloud server list\n\
         clouds:\n{}{}",
        cloud("metacloud", &id.demo_user, &demo_pw, &id.demo_project),
        cloud(
            "metacloud-admin",
            &id.admin_user,
            &admin_pw,
            &id.admin_project
        ),
        path = clouds_yaml.display()
    );
    write_private(&clouds_yaml, &text)?;
    tracing::info!(path = %clouds_yaml.display(), "identity bootstrapped; clients' clouds.yaml written");
    Ok(Bootstrapped {
        admin,
        admin_project,
        demo,
        demo_project,
        clouds_yaml,
    })
}
