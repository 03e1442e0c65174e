//! The base unit every plugin world includes: `metacloud:host` (log, config, metrics),
//! implemented once over the calling plugin's [`Plugin`] identity.

use crate::state::{Plugin, State};
use wasmtime::component::{HasSelf, Linker};

/// The bindings of `metacloud:host`; every world's bindings point here for it.
pub mod bindings {
    wasmtime::component::bindgen!({
        world: "plugin-base",
        path: "../../wit/host",
    });
}

use bindings::metacloud::host::types::LogLevel;
use bindings::metacloud::host::{config, log, metrics, types};

/// The packages the base serves, with their major version.
pub const PACKAGES: &[&str] = &["metacloud:host@1"];

/// Adds the base imports to a world's linker.
pub fn add_to_linker<D: Send + 'static>(linker: &mut Linker<State<D>>) -> wasmtime::Result<()> {
    bindings::PluginBase::add_to_linker::<State<D>, HasSelf<Plugin>>(linker, |s| s.plugin())
}

impl types::Host for Plugin {}

impl log::Host for Plugin {
    fn enabled(&mut self, level: LogLevel) -> bool {
        match level {
            LogLevel::Trace => tracing::enabled!(tracing::Level::TRACE),
            LogLevel::Debug => tracing::enabled!(tracing::Level::DEBUG),
            LogLevel::Info => tracing::enabled!(tracing::Level::INFO),
            LogLevel::Warn => tracing::enabled!(tracing::Level::WARN),
            LogLevel::Error => tracing::enabled!(tracing::Level::ERROR),
        }
    }

    fn log(&mut self, level: LogLevel, message: String, fields: Vec<(String, String)>) {
        let plugin = &self.name;
        let fields = fields
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        match level {
            LogLevel::Trace => tracing::trace!(%plugin, %fields, "{message}"),
            LogLevel::Debug => tracing::debug!(%plugin, %fields, "{message}"),
            LogLevel::Info => tracing::info!(%plugin, %fields, "{message}"),
            LogLevel::Warn => tracing::warn!(%plugin, %fields, "{message}"),
            LogLevel::Error => tracing::error!(%plugin, %fields, "{message}"),
        }
    }
}

impl config::Host for Plugin {
    fn get(&mut self, key: String) -> Option<String> {
        self.config.get(&key).cloned()
    }

    fn get_all(&mut self) -> Vec<(String, String)> {
        self.config
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

impl Plugin {
    /// A metric named as the plugin said, with its labels (`name{k=v,…}`).
    fn metric(&self, name: &str, labels: &[(String, String)], value: f64, add: bool) {
        let key = match labels {
            [] => name.to_string(),
            _ => {
                let l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("{name}{{{}}}", l.join(","))
            }
        };
        if !self.health.metric(&key, value, add) {
            tracing::warn!(plugin = %self.name, metric = %key, "too many metric names; dropped");
        }
    }
}

impl metrics::Host for Plugin {
    fn counter_add(&mut self, name: String, value: u64, labels: Vec<(String, String)>) {
        self.metric(&name, &labels, value as f64, true);
    }

    fn histogram_record(&mut self, name: String, value: f64, _labels: Vec<(String, String)>) {
        tracing::trace!(plugin = %self.name, %name, value, "plugin histogram");
    }

    fn gauge_set(&mut self, name: String, value: f64, labels: Vec<(String, String)>) {
        self.metric(&name, &labels, value, false);
    }
}
