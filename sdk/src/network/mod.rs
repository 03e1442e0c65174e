//! Network drivers: a WebAssembly component of the `network-driver` world
//! (`wit/network/network.wit`) that answers the desired state of a host's networks with a
//! declarative [`Plan`]. The driver runs nothing; the host checks the plan and applies it.
//!
//! A driver implements [`Driver`] and ends with
//! [`network_driver_plugin!`](crate::network_driver_plugin), which generates the bindings
//! and turns the WIT records into the plain ones of [`types`] and back. The helpers here
//! are pure, so a driver's planning can be unit-tested on the host target: [`cidr`]
//! (IPv4 CIDRs), [`rules`] (security groups into flows), [`names`] (interface names within
//! IFNAMSIZ). The first-party drivers are in [`drivers`].

pub mod cidr;
pub mod drivers;
pub mod names;
mod plugin;
pub mod rules;
pub mod types;

use std::fmt;

pub use cidr::Ipv4Cidr;
pub use types::*;

/// A network driver.
pub trait Driver {
    /// The name operators choose the driver by (`info().name`).
    const NAME: &'static str;
    /// Whether the driver gives each network a segment number (`info().segmented`).
    const SEGMENTED: bool = false;

    /// The whole plan for `desired`, with the driver's settings.
    fn plan(desired: &Desired, config: &Config) -> Result<Plan, Error>;
}

/// The error a driver returns (the WIT `plugin-error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// Stable: [`Error::INVALID_DESIRED`], [`Error::INVALID_CONFIG`], or the driver's own.
    pub code: u32,
    pub message: String,
}

impl Error {
    /// The desired state is not one the driver can plan (an unparsable CIDR, a port on a
    /// network it was not sent, …).
    pub const INVALID_DESIRED: u32 = 1;
    /// A setting of the driver has a value it cannot use.
    pub const INVALID_CONFIG: u32 = 2;

    /// An [`Error::INVALID_DESIRED`].
    pub fn desired(message: impl Into<String>) -> Error {
        Error {
            code: Error::INVALID_DESIRED,
            message: message.into(),
        }
    }

    /// An [`Error::INVALID_CONFIG`].
    pub fn config(message: impl Into<String>) -> Error {
        Error {
            code: Error::INVALID_CONFIG,
            message: message.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (code {})", self.message, self.code)
    }
}

impl std::error::Error for Error {}

/// The driver's settings from the operator's TOML (dotted keys), as `config.get-all`
/// returns them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    pub entries: Vec<(String, String)>,
}

impl Config {
    /// Settings from key/value pairs.
    pub fn new<K: Into<String>, V: Into<String>>(
        entries: impl IntoIterator<Item = (K, V)>,
    ) -> Config {
        Config {
            entries: entries
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `key` as a string, `default` when unset.
    pub fn string(&self, key: &str, default: &str) -> String {
        self.get(key).unwrap_or(default).to_string()
    }

    /// `key` as a boolean (`true`/`false`, `1`/`0`, `yes`/`no`), `default` when unset.
    pub fn bool(&self, key: &str, default: bool) -> Result<bool, Error> {
        match self.get(key).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) => match v.as_str() {
                "true" | "1" | "yes" | "on" => Ok(true),
                "false" | "0" | "no" | "off" => Ok(false),
                _ => Err(Error::config(format!("{key} = {v:?} is not a boolean"))),
            },
        }
    }

    /// `key` as an unsigned number, `default` when unset.
    pub fn u32(&self, key: &str, default: u32) -> Result<u32, Error> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| Error::config(format!("{key} = {v:?} is not a number"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_values_and_defaults() {
        let c = Config::new([
            ("lease_seconds", "600"),
            ("masquerade", "no"),
            ("x", "maybe"),
        ]);
        assert_eq!(c.u32("lease_seconds", 86400), Ok(600));
        assert_eq!(c.u32("missing", 86400), Ok(86400));
        assert_eq!(c.bool("masquerade", true), Ok(false));
        assert_eq!(c.bool("x", true).unwrap_err().code, Error::INVALID_CONFIG);
        assert_eq!(c.string("domain", "novalocal"), "novalocal");
    }
}
