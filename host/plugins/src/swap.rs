//! Hot swap, one mechanism for every world: what is served (the scheduler's policy, a
//! listener's dialects) is built from the config file and a plugin directory; a reload
//! (the directory or file changed, SIGHUP, an admin call) builds a whole new one beside the
//! current, and puts it in place only if it built. Users take the current one per request
//! ([`HotSwap::current`]) and finish on it, whatever happens meanwhile.

use metacloud_config::Config;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

/// What a [`HotSwap`] serves and how it is built.
pub trait Source: Send + Sync + 'static {
    /// The thing served.
    type Item: ?Sized + Send + Sync + 'static;
    /// What log lines call it (`scheduler policy`, `API dialects (api.dialects)`).
    fn what(&self) -> String;
    /// Builds it from `config`; blocking (plugins compile). The error says why, naming
    /// the config key or plugin at fault.
    fn build(&self, config: &Config) -> Result<Arc<Self::Item>, String>;
    /// The plugin directory whose changes reload it.
    fn plugin_dir(&self, config: &Config) -> Option<PathBuf>;
    /// A short description of what was built, for the reload's log line and answer.
    fn describe(&self, item: &Self::Item) -> String;
}

/// Something served that a reload replaces whole.
pub struct HotSwap<S: Source> {
    current: RwLock<Arc<S::Item>>,
    /// Where reloads read from: the source and the config as given at start (its file is
    /// read again on each reload, per-process values kept). None: fixed at start.
    origin: Option<(S, Config)>,
}

impl<S: Source> HotSwap<S> {
    /// Built once from `config`; reloads read the config's file again.
    pub fn new(source: S, config: Config) -> Result<HotSwap<S>, String> {
        let item = source.build(&config)?;
        Ok(HotSwap {
            current: RwLock::new(item),
            origin: Some((source, config)),
        })
    }

    /// Serves `item`, built from `config` by the caller; reloads use `source`.
    pub fn started(source: S, config: Config, item: Arc<S::Item>) -> HotSwap<S> {
        HotSwap {
            current: RwLock::new(item),
            origin: Some((source, config)),
        }
    }

    /// Serves `item`, which no reload replaces.
    pub fn fixed(item: Arc<S::Item>) -> HotSwap<S> {
        HotSwap {
            current: RwLock::new(item),
            origin: None,
        }
    }

    /// What new requests get.
    pub fn current(&self) -> Arc<S::Item> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The source, when reloads read one.
    pub fn source(&self) -> Option<&S> {
        self.origin.as_ref().map(|(s, _)| s)
    }

    /// Builds anew from the config file (read again) and the plugin directory and serves
    /// the result from the next request on; on any error the current one stays and the
    /// error says why. Blocking (plugins compile).
    pub fn reload(&self) -> Result<Arc<S::Item>, String> {
        let (source, start) = self
            .origin
            .as_ref()
            .ok_or_else(|| "fixed at start; nothing to reload".to_string())?;
        let built = reread(start).and_then(|config| source.build(&config));
        match built {
            Ok(item) => {
                let described = source.describe(&item);
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = item.clone();
                tracing::info!(what = %source.what(), now = %described, "reloaded");
                Ok(item)
            }
            Err(e) => {
                tracing::error!(what = %source.what(), error = %e, "reload failed; the current one stays");
                Err(e)
            }
        }
    }

    /// Names, sizes and modification times of what a reload would read.
    fn fingerprint(&self) -> Vec<(PathBuf, u64, SystemTime)> {
        match &self.origin {
            Some((source, config)) => config.fingerprint(source.plugin_dir(config).as_deref()),
            None => Vec::new(),
        }
    }

    /// Watches the config file and the plugin directory every `every`; a change reloads.
    /// Runs on the current tokio runtime.
    pub fn spawn_watch(self: &Arc<Self>, every: Duration) {
        if self.origin.is_none() {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            let mut seen = me.fingerprint();
            loop {
                tokio::time::sleep(every).await;
                let now = me.fingerprint();
                if now != seen {
                    seen = now;
                    if let Some(source) = me.source() {
                        tracing::info!(what = %source.what(), "plugin directory or config changed; reloading");
                    }
                    let me = me.clone();
                    let _ = tokio::task::spawn_blocking(move || me.reload()).await;
                }
            }
        });
    }
}

/// The config as it is now: its file read again, the per-process values given at start
/// kept as they were.
fn reread(start: &Config) -> Result<Config, String> {
    match start.source.as_str() {
        "<defaults>" => Ok(start.clone()),
        path => {
            let mut c = Config::load(Some(Path::new(path))).map_err(|e| e.to_string())?;
            c.service = start.service.clone();
            Ok(c)
        }
    }
}
