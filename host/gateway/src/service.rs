//! A listener's dialects: which ones (the config key naming them), loaded from the plugin
//! directory, served hot-swappable, with the host services behind them.

use crate::routes::DialectSet;
pub use crate::table::DialectList;
use metacloud_api::ComputeApi;
use metacloud_config::Config;
use metacloud_identity::{Identity, IdentityError};
use metacloud_plugins::api::{Caller, DialectPlugin};
use metacloud_plugins::swap::{HotSwap, Source};
use metacloud_plugins::Runtime;
use std::sync::Arc;
use std::time::Duration;

/// The dialect plugins served on one listener (OpenStack Compute and the admin API on the
/// compute port, say), swappable while it runs ([`HotSwap`]): a request takes the set
/// current when it arrives and finishes on it; a reload builds a whole new set beside it
/// (routes checked for overlaps) and puts it in place, or changes nothing and says why.
pub struct DialectService {
    pub runtime: Runtime,
    dialects: Arc<HotSwap<DialectSource>>,
    pub(crate) identity: Identity,
    pub(crate) api: ComputeApi,
    pub(crate) images: metacloud_image::Images,
    /// Base URL of the image API (what computes upload snapshots to).
    pub(crate) image_url: String,
    /// How far an EC2 request's signed timestamp may be from now.
    pub(crate) ec2_max_skew_ms: i64,
    /// What metadata proxies sign instance ids with.
    pub(crate) metadata_secret: Arc<str>,
    /// Plugin calls running at once. A call's deadline is wall time outside host imports,
    /// so hundreds of calls sharing a few cores would miss it by waiting for a core, not by
    /// their own work: requests beyond this wait for a slot before their plugin starts.
    pub(crate) running: Arc<tokio::sync::Semaphore>,
}

/// Plugin calls a listener runs at once: four per core.
fn call_slots() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()) * 4
}

/// The host services behind every dialect listener.
#[derive(Clone)]
pub struct Backends {
    pub identity: Identity,
    pub api: ComputeApi,
    pub images: metacloud_image::Images,
    /// Base URL of the image API (what computes upload snapshots to).
    pub image_url: String,
    /// How far an EC2 request's signed timestamp may be from now (`api.ec2_max_skew_secs`).
    pub ec2_max_skew: Duration,
    /// What metadata proxies sign instance ids with (`api.metadata_secret`).
    pub metadata_secret: Arc<str>,
}

/// Where a listener's dialects come from: the config key that names them (`list`) and
/// the plugin directory (`api.plugin_dir`).
#[derive(Clone)]
pub struct DialectSource {
    pub runtime: Runtime,
    pub list: DialectList,
}

impl Source for DialectSource {
    type Item = DialectSet;

    fn what(&self) -> String {
        format!("API dialects ({})", self.list.key())
    }

    fn build(&self, config: &Config) -> Result<Arc<DialectSet>, String> {
        let dir = config
            .api
            .plugin_dir
            .clone()
            .ok_or_else(|| "api.plugin_dir is not set".to_string())?;
        let key = self.list.key();
        let dialects = load_dialects(&self.runtime, &dir, self.list.names(config), key)?;
        let set = DialectSet::new(dialects).map_err(|e| format!("{e} ({key})"))?;
        Ok(Arc::new(set))
    }

    fn plugin_dir(&self, config: &Config) -> Option<std::path::PathBuf> {
        config.api.plugin_dir.clone()
    }

    fn describe(&self, set: &DialectSet) -> String {
        set.names().join(", ")
    }
}

/// The dialects `names` (config key `key`) from `dir`, in that order; an absent or doubled
/// name is an error naming the key.
pub fn load_dialects(
    runtime: &Runtime,
    dir: &std::path::Path,
    names: &[String],
    key: &str,
) -> Result<Vec<DialectPlugin>, String> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {} (api.plugin_dir): {e}", dir.display()))?;
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .collect();
    paths.sort();
    let mut found: Vec<DialectPlugin> = Vec::new();
    for path in paths {
        match DialectPlugin::load(runtime, &path, Default::default()) {
            Ok(p) if names.contains(&p.name) => {
                if found.iter().any(|f| f.name == p.name) {
                    return Err(format!(
                        "two API dialects named `{}` in {} (api.plugin_dir)",
                        p.name,
                        dir.display()
                    ));
                }
                tracing::info!(name = %p.name, path = %path.display(), routes = p.routes.len(), "API dialect loaded");
                found.push(p);
            }
            Ok(p) => {
                tracing::debug!(name = %p.name, path = %path.display(), key, "API dialect not listed here; not served")
            }
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "API dialect not loaded"),
        }
    }
    let mut dialects = Vec::new();
    for name in names {
        let at = found.iter().position(|p| &p.name == name).ok_or_else(|| {
            format!(
                "{key} names `{name}`, but no plugin in {} (api.plugin_dir) calls itself that",
                dir.display()
            )
        })?;
        dialects.push(found.remove(at));
    }
    Ok(dialects)
}

impl DialectService {
    /// Serves the dialects `list` names in `config`, reloadable ([`DialectService::reload`],
    /// [`DialectService::spawn_watch`]).
    pub fn from_config(
        config: &Config,
        list: DialectList,
        runtime: Runtime,
        b: Backends,
    ) -> Result<Arc<DialectService>, String> {
        let source = DialectSource {
            runtime: runtime.clone(),
            list,
        };
        let dialects = HotSwap::new(source, config.clone())?;
        Ok(DialectService::new(runtime, dialects, b))
    }

    /// Serves `dialects` (fixed: [`HotSwap::fixed`], or reloadable).
    pub fn new(
        runtime: Runtime,
        dialects: HotSwap<DialectSource>,
        b: Backends,
    ) -> Arc<DialectService> {
        Arc::new(DialectService {
            runtime,
            dialects: Arc::new(dialects),
            identity: b.identity,
            api: b.api,
            images: b.images,
            image_url: b.image_url,
            ec2_max_skew_ms: b.ec2_max_skew.as_millis() as i64,
            metadata_secret: b.metadata_secret,
            running: Arc::new(tokio::sync::Semaphore::new(call_slots())),
        })
    }

    /// Whether this service serves the dialects of `list`.
    pub(crate) fn serves(&self, list: DialectList) -> bool {
        self.dialects.source().is_some_and(|s| s.list == list)
    }

    /// The dialects served now.
    pub fn current(&self) -> Arc<DialectSet> {
        self.dialects.current()
    }

    /// Loads the dialects again (config file and plugin directory) and serves them from
    /// the next request on; requests under way finish on the old ones. On any error the
    /// current set stays and the error says why. Blocking (plugins compile).
    pub fn reload(&self) -> Result<Vec<String>, String> {
        self.dialects.reload().map(|set| set.names())
    }

    /// Watches the config file and the plugin directory; a change reloads the dialects.
    pub fn spawn_watch(&self, every: Duration) {
        self.dialects.spawn_watch(every);
    }

    /// The caller a token stands for (validations cached briefly by identity), or why not.
    pub(crate) async fn caller(
        &self,
        token: &str,
        request_id: &str,
    ) -> Result<Caller, IdentityError> {
        let auth = self.identity.validate_cached(token).await?;
        // An unscoped token: no project, no roles (public routes only).
        let (project_id, project_name) = auth.project.map(|p| (p.id, p.name)).unwrap_or_default();
        Ok(Caller {
            user_id: auth.user.id,
            user_name: auth.user.name,
            project_id,
            project_name,
            roles: auth.roles.into_iter().map(|r| r.name).collect(),
            request_id: request_id.to_string(),
        })
    }
}
