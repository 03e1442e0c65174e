//! Configuration: one TOML file, typed with serde, validated at start.
//!
//! Every error names the file, the line and the key, so an operator can fix it in one look.
//! Secrets and per-process values may come from the environment instead of the file:
//! `METACLOUD_DATA`, `METACLOUD_DATABASE_URL`, `METACLOUD_QUEUE_URL`, `METACLOUD_HOST`,
//! `METACLOUD_API_TOKEN`, `METACLOUD_ADMIN_PASSWORD`, `METACLOUD_DEMO_PASSWORD`.

mod error;
mod locate;
mod sections;

pub use error::ConfigError;
pub use sections::*;

use std::path::{Path, PathBuf};

/// Default data directory when neither `--config` nor `METACLOUD_DATA` says otherwise.
pub const DEFAULT_DATA_DIR: &str = "./metacloud-data";

/// The whole configuration of one `metacloud` process.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub service: ServiceConfig,
    pub database: DatabaseConfig,
    pub queue: QueueConfig,
    pub api: ApiConfig,
    pub identity: IdentityConfig,
    pub conductor: ConductorConfig,
    pub scheduler: SchedulerConfig,
    pub compute: ComputeConfig,
    pub plugins: PluginsConfig,
    pub network: NetworkConfig,
    /// Where the configuration came from (`<defaults>` without a file).
    #[serde(skip)]
    pub source: String,
}

impl Config {
    /// Loads `path` (or the embedded defaults when `None`), applies environment overrides
    /// and validates every value.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let (mut config, text) = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    file: path.display().to_string(),
                    source,
                })?;
                (Self::parse(&text, &path.display().to_string())?, text)
            }
            None => (Config::default(), String::new()),
        };
        config.source = path
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "<defaults>".into());
        config.apply_env(|key| std::env::var(key).ok());
        if let Some(base) = path.and_then(Path::parent) {
            config.relative_to(base);
        }
        config.resolve_paths();
        config
            .validate()
            .map_err(|(key, reason)| ConfigError::Invalid {
                line: locate::line_of_key(&text, &key),
                file: config.source.clone(),
                key,
                reason,
            })?;
        Ok(config)
    }

    /// Names, sizes and modification times of what a reload reads: this config's file and
    /// the files in `dir` (a plugin directory). Two fingerprints differ when one changed.
    pub fn fingerprint(
        &self,
        dir: Option<&Path>,
    ) -> Vec<(std::path::PathBuf, u64, std::time::SystemTime)> {
        let mut files: Vec<std::path::PathBuf> = Vec::new();
        if self.source != "<defaults>" {
            files.push(self.source.clone().into());
        }
        if let Some(entries) = dir.and_then(|d| std::fs::read_dir(d).ok()) {
            files.extend(entries.filter_map(|e| e.ok().map(|e| e.path())));
        }
        files.sort();
        files
            .into_iter()
            .filter_map(|p| {
                let m = std::fs::metadata(&p).ok()?;
                Some((p, m.len(), m.modified().ok()?))
            })
            .collect()
    }

    /// Parses TOML text; `file` is only used in error messages.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            file: file.to_string(),
            line: e.span().map(|s| locate::line_of_offset(text, s.start)),
            message: e.message().trim().to_string(),
        })
    }

    /// Environment overrides for values that differ per process or are secret.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) {
        if let Some(dir) = get("METACLOUD_DATA").filter(|s| !s.is_empty()) {
            self.service.data_dir = Some(PathBuf::from(dir));
        }
        if let Some(url) = get("METACLOUD_DATABASE_URL").filter(|s| !s.is_empty()) {
            self.database.url = Some(url);
        }
        if let Some(url) = get("METACLOUD_QUEUE_URL").filter(|s| !s.is_empty()) {
            self.queue.url = url;
        }
        if let Some(token) = get("METACLOUD_API_TOKEN").filter(|s| !s.is_empty()) {
            self.api.token = Some(token);
        }
        if let Some(secret) = get("METACLOUD_METADATA_SECRET").filter(|s| !s.is_empty()) {
            self.api.metadata_secret = Some(secret);
        }
        if let Some(host) = get("METACLOUD_HOST").filter(|s| !s.is_empty()) {
            self.service.host = Some(host);
        }
        if let Some(pw) = get("METACLOUD_ADMIN_PASSWORD").filter(|s| !s.is_empty()) {
            self.identity.admin_password = Some(pw);
        }
        if let Some(pw) = get("METACLOUD_DEMO_PASSWORD").filter(|s| !s.is_empty()) {
            self.identity.demo_password = Some(pw);
        }
    }

    /// Relative paths in a config file are relative to the file's directory.
    fn relative_to(&mut self, base: &Path) {
        let fix = |p: &mut Option<PathBuf>| {
            if let Some(path) = p {
                if path.is_relative() {
                    *path = base.join(&*path);
                }
            }
        };
        fix(&mut self.scheduler.plugin_dir);
        fix(&mut self.api.plugin_dir);
        fix(&mut self.plugins.cache_dir);
        fix(&mut self.network.plugin_dir);
        fix(&mut self.network.state_dir);
    }

    fn resolve_paths(&mut self) {
        let data = self.data_dir();
        if self.database.url.is_none() {
            self.database.url = Some(format!("sqlite://{}/metacloud.db", data.display()));
        }
        if self.compute.instances_path.is_none() {
            self.compute.instances_path = Some(data.join("instances"));
        }
        if self.plugins.cache_dir.is_none() {
            self.plugins.cache_dir = Some(data.join("plugin-cache"));
        }
        if self.network.state_dir.is_none() {
            self.network.state_dir = Some(data.join("network"));
        }
        if self.compute.image_cache_path.is_none() {
            self.compute.image_cache_path = Some(data.join("image-cache"));
        }
    }

    /// The data directory: `service.data_dir`, else `METACLOUD_DATA`, else `./metacloud-data`.
    pub fn data_dir(&self) -> PathBuf {
        self.service
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR))
    }

    /// This process's host name (`service.host`, else the machine's host name).
    pub fn host(&self) -> String {
        self.service.host.clone().unwrap_or_else(machine_hostname)
    }

    /// The database URL after defaults were applied.
    pub fn database_url(&self) -> &str {
        self.database.url.as_deref().unwrap_or_default()
    }

    /// Checks values serde cannot: ranges, relations between keys, known names.
    /// On failure returns the dotted key and the reason.
    pub fn validate(&self) -> Result<(), (String, String)> {
        self.service.validate()?;
        self.database.validate()?;
        self.queue.validate()?;
        self.api.validate()?;
        self.identity.validate()?;
        self.conductor.validate()?;
        self.scheduler.validate()?;
        self.compute.validate()?;
        self.plugins.validate()?;
        self.network.validate()?;
        Ok(())
    }
}

fn machine_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests;
