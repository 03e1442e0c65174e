//! Flavors through the compute API: public ones for everybody, private ones for the
//! projects given access; management (extra specs, access) is admin only.

use crate::{ApiError, ComputeApi, Context};
use metacloud_db::DbError;
use metacloud_rpc::objects::Flavor;
use std::collections::BTreeMap;

impl ComputeApi {
    /// Creates a flavor (admin): a name of 1 to 255 characters, at least one vCPU and
    /// some RAM.
    pub async fn create_flavor(&self, ctx: &Context, flavor: Flavor) -> Result<Flavor, ApiError> {
        Self::require_admin(ctx, "os_compute_api:os-flavor-manage:create")?;
        if flavor.name.trim().is_empty() || flavor.name.len() > 255 {
            return Err(ApiError::BadRequest(
                "Invalid input for field/attribute name: 1 to 255 characters".into(),
            ));
        }
        if flavor.vcpus == 0 || flavor.memory_mb == 0 {
            return Err(ApiError::BadRequest(
                "vcpus and ram must be at least 1".into(),
            ));
        }
        self.db.create_flavor(&flavor).await?;
        tracing::info!(flavor = %flavor.name, id = %flavor.id, "flavor created");
        Ok(self.db.get_flavor(&flavor.id).await?)
    }

    /// Deletes a flavor (admin); servers made from it keep their sizes.
    /// Sets (`None`: clears) a flavor's description (admins; the compute API's 2.55).
    pub async fn set_flavor_description(
        &self,
        ctx: &Context,
        id: &str,
        description: Option<&str>,
    ) -> Result<(), ApiError> {
        Self::require_admin(ctx, "os_compute_api:os-flavor-manage:update")?;
        if description.is_some_and(|d| d.len() > 65535) {
            return Err(ApiError::BadRequest(
                "A flavor description is at most 65535 characters".into(),
            ));
        }
        Ok(self.db.set_flavor_description(id, description).await?)
    }

    /// The descriptions of the flavors that have one, by id.
    pub async fn flavor_descriptions(
        &self,
        _ctx: &Context,
    ) -> Result<std::collections::BTreeMap<String, String>, ApiError> {
        Ok(self.db.flavor_descriptions().await?)
    }

    pub async fn delete_flavor(&self, ctx: &Context, id: &str) -> Result<(), ApiError> {
        Self::require_admin(ctx, "os_compute_api:os-flavor-manage:delete")?;
        self.db.delete_flavor(id).await?;
        tracing::info!(flavor = %id, "flavor deleted");
        Ok(())
    }

    /// Whether the caller may use `f`: it is public, the caller is an admin, or the
    /// caller's project was given access.
    async fn may_use(&self, ctx: &Context, f: &Flavor) -> Result<bool, ApiError> {
        if f.is_public || ctx.is_admin() {
            return Ok(true);
        }
        Ok(self
            .db
            .flavor_access(&f.id)
            .await?
            .contains(&ctx.project_id))
    }

    /// Live flavors the caller may use (admins: all), with extra specs, smallest first.
    pub async fn list_flavors(&self, ctx: &Context) -> Result<Vec<Flavor>, ApiError> {
        let mut out = Vec::new();
        for f in self.db.list_flavors().await? {
            if self.may_use(ctx, &f).await? {
                out.push(self.db.get_flavor(&f.id).await?);
            }
        }
        Ok(out)
    }

    /// One live flavor the caller may use; a private one of others is "not found".
    pub async fn flavor(&self, ctx: &Context, id: &str) -> Result<Flavor, ApiError> {
        let not_found = || ApiError::NotFound(format!("Flavor {id}"));
        let f = self.db.get_live_flavor(id).await.map_err(|e| match e {
            DbError::NotFound(_) => not_found(),
            e => e.into(),
        })?;
        if !self.may_use(ctx, &f).await? {
            return Err(not_found());
        }
        Ok(f)
    }

    /// Adds or overwrites extra specs (keys and values of 1 to 255 characters).
    pub async fn set_flavor_extra_specs(
        &self,
        ctx: &Context,
        id: &str,
        specs: BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, ApiError> {
        Self::require_admin(ctx, "os_compute_api:os-flavor-extra-specs:create")?;
        if specs
            .iter()
            .any(|(k, v)| k.is_empty() || k.len() > 255 || v.len() > 255)
        {
            return Err(ApiError::BadRequest(
                "extra spec keys must be 1 to 255 characters and values at most 255".into(),
            ));
        }
        let f = self.db.set_flavor_extra_specs(id, &specs).await?;
        tracing::info!(flavor = %f.id, keys = specs.len(), "flavor extra specs set");
        Ok(f.extra_specs)
    }

    pub async fn delete_flavor_extra_spec(
        &self,
        ctx: &Context,
        id: &str,
        key: &str,
    ) -> Result<(), ApiError> {
        Self::require_admin(ctx, "os_compute_api:os-flavor-extra-specs:delete")?;
        Ok(self.db.delete_flavor_extra_spec(id, key).await?)
    }

    /// Projects a private flavor is shared with; a public flavor has no access list.
    pub async fn flavor_access(&self, ctx: &Context, id: &str) -> Result<Vec<String>, ApiError> {
        Self::require_admin(ctx, "os_compute_api:os-flavor-access")?;
        let f = self.db.get_live_flavor(id).await?;
        if f.is_public {
            return Err(ApiError::NotFound(format!(
                "Access list not available for public flavors ({id})"
            )));
        }
        Ok(self.db.flavor_access(&f.id).await?)
    }

    /// Shares a private flavor with a project.
    pub async fn add_flavor_access(
        &self,
        ctx: &Context,
        id: &str,
        project: &str,
    ) -> Result<Vec<String>, ApiError> {
        Self::require_admin(ctx, "os_compute_api:os-flavor-access:add_tenant_access")?;
        // A public flavor's access list means nothing, but Nova kept one before 2.7: the
        // dialects refuse it where their API does (compute from 2.7, admin always).
        let f = self.db.get_live_flavor(id).await?;
        self.db.add_flavor_access(&f.id, project).await?;
        tracing::info!(flavor = %f.id, %project, "flavor access added");
        Ok(self.db.flavor_access(&f.id).await?)
    }

    /// Stops sharing a private flavor with a project.
    pub async fn remove_flavor_access(
        &self,
        ctx: &Context,
        id: &str,
        project: &str,
    ) -> Result<Vec<String>, ApiError> {
        Self::require_admin(ctx, "os_compute_api:os-flavor-access:remove_tenant_access")?;
        let f = self.db.get_live_flavor(id).await?;
        self.db.remove_flavor_access(&f.id, project).await?;
        tracing::info!(flavor = %f.id, %project, "flavor access removed");
        Ok(self.db.flavor_access(&f.id).await?)
    }
}
