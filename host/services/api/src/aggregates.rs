//! Host aggregates through the compute API: admin only.

use crate::{ApiError, ComputeApi, Context};
use metacloud_db::aggregates::Aggregate;
use std::collections::BTreeMap;

impl ComputeApi {
    /// Creates an aggregate, optionally defining an availability zone.
    pub async fn create_aggregate(
        &self,
        ctx: &Context,
        name: &str,
        availability_zone: Option<&str>,
    ) -> Result<Aggregate, ApiError> {
        Self::require_admin(ctx, "os_compute_api:os-aggregates:create")?;
        if name.trim().is_empty() || name.len() > 255 {
            return Err(ApiError::BadRequest(
                "name must be 1 to 255 characters".into(),
            ));
        }
        if availability_zone.is_some_and(|az| az.trim().is_empty() || az.contains(':')) {
            return Err(ApiError::BadRequest(
                "availability_zone must be non-empty and contain no ':'".into(),
            ));
        }
        let agg = self.db.create_aggregate(name, availability_zone).await?;
        tracing::info!(aggregate = agg.id, %name, "aggregate created");
        Ok(agg)
    }

    /// Renames an aggregate and/or sets its availability zone.
    pub async fn update_aggregate(
        &self,
        ctx: &Context,
        id: &str,
        name: Option<&str>,
        availability_zone: Option<&str>,
    ) -> Result<Aggregate, ApiError> {
        Self::require_admin(ctx, "os_compute_api:os-aggregates:update")?;
        if name.is_some_and(|n| n.trim().is_empty() || n.len() > 255) {
            return Err(ApiError::BadRequest(
                "name must be 1 to 255 characters".into(),
            ));
        }
        if availability_zone.is_some_and(|az| az.trim().is_empty() || az.contains(':')) {
            return Err(ApiError::BadRequest(
                "availability_zone must be non-empty and contain no ':'".into(),
            ));
        }
        if let Some(name) = name {
            self.db.rename_aggregate(id, name).await?;
        }
        if let Some(az) = availability_zone {
            let change = BTreeMap::from([(
                metacloud_db::aggregates::AZ_KEY.to_string(),
                Some(az.to_string()),
            )]);
            self.db.set_aggregate_metadata(id, &change).await?;
        }
        Ok(self.db.get_aggregate(id).await?)
    }

    pub async fn list_aggregates(&self, ctx: &Context) -> Result<Vec<Aggregate>, ApiError> {
        Self::require_admin(ctx, "os_compute_api:os-aggregates:index")?;
        Ok(self.db.list_aggregates().await?)
    }

    pub async fn show_aggregate(&self, ctx: &Context, id: &str) -> Result<Aggregate, ApiError> {
        Self::require_admin(ctx, "os_compute_api:os-aggregates:show")?;
        Ok(self.db.get_aggregate(id).await?)
    }

    /// Asks every host of the aggregate to fetch `images` into its image cache (the
    /// compute API's 2.81; admins). Answers once the requests are sent.
    pub async fn cache_images(
        &self,
        ctx: &Context,
        id: &str,
        images: Vec<metacloud_rpc::objects::ImageRef>,
    ) -> Result<(), ApiError> {
        Self::require_admin(ctx, "compute:aggregates:images")?;
        let aggregate = self.db.get_aggregate(id).await?;
        let ids: Vec<&str> = images.iter().map(|i| i.id.as_str()).collect();
        let req = metacloud_rpc::compute::Request::CacheImages {
            images: images.clone(),
        };
        for host in &aggregate.hosts {
            self.rpc
                .cast(&metacloud_rpc::topics::compute(host), &req)
                .await?;
        }
        tracing::info!(aggregate = %id, hosts = aggregate.hosts.len(), images = ?ids, "image pre-caching requested");
        Ok(())
    }

    pub async fn delete_aggregate(&self, ctx: &Context, id: &str) -> Result<(), ApiError> {
        Self::require_admin(ctx, "os_compute_api:os-aggregates:delete")?;
        self.db.delete_aggregate(id).await?;
        tracing::info!(aggregate = %id, "aggregate deleted");
        Ok(())
    }

    pub async fn add_aggregate_host(
        &self,
        ctx: &Context,
        id: &str,
        host: &str,
    ) -> Result<Aggregate, ApiError> {
        Self::require_admin(ctx, "os_compute_api:os-aggregates:add_host")?;
        let agg = self.db.add_aggregate_host(id, host).await?;
        tracing::info!(aggregate = agg.id, %host, "host added to aggregate");
        Ok(agg)
    }

    pub async fn remove_aggregate_host(
        &self,
        ctx: &Context,
        id: &str,
        host: &str,
    ) -> Result<Aggregate, ApiError> {
        Self::require_admin(ctx, "os_compute_api:os-aggregates:remove_host")?;
        let agg = self.db.remove_aggregate_host(id, host).await?;
        tracing::info!(aggregate = agg.id, %host, "host removed from aggregate");
        Ok(agg)
    }

    /// Sets metadata; `None` values remove keys.
    pub async fn set_aggregate_metadata(
        &self,
        ctx: &Context,
        id: &str,
        metadata: &BTreeMap<String, Option<String>>,
    ) -> Result<Aggregate, ApiError> {
        Self::require_admin(ctx, "os_compute_api:os-aggregates:set_metadata")?;
        if metadata.keys().any(|k| k.is_empty() || k.len() > 255) {
            return Err(ApiError::BadRequest(
                "metadata keys must be 1 to 255 characters".into(),
            ));
        }
        Ok(self.db.set_aggregate_metadata(id, metadata).await?)
    }
}
