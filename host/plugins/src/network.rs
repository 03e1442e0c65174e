//! The network world: a driver (flat, flat-DHCP, VLAN, …) turns the desired state of a
//! host's networks into a declarative plan. The world has no imports of its own: a driver
//! only computes; the network worker checks the plan and applies it.

use crate::error::PluginError;
use crate::health::{Health, HealthReport};
use crate::runtime::Runtime;
use crate::state::{Plugin, State};
use crate::world::World;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wasmtime::component::Linker;

mod bindings {
    wasmtime::component::bindgen!({
        world: "network-driver",
        path: "../../wit/network",
        additional_derives: [PartialEq],
        with: {
            "metacloud:host": crate::base::bindings::metacloud::host,
        },
    });
}

pub use bindings::metacloud::network::types::{
    Attachment, Bridge, Desired, Dhcp, DhcpHost, Direction, DriverInfo, Floating, Flow, Metadata,
    Nat, Network, NetworkPlan as Plan, Pool, Port, PortFilter, Rule, SecurityGroup, Segment,
    Uplink,
};

/// The network world (`network-driver`).
pub struct NetworkWorld;

impl World for NetworkWorld {
    const NAME: &'static str = "metacloud:network network-driver";
    const PACKAGES: &'static [&'static str] = &["metacloud:network@1"];
    type Data = ();

    fn add_to_linker(_: &mut Linker<State<()>>) -> wasmtime::Result<()> {
        Ok(())
    }
}

/// A loaded network driver: compiled, linked, self-checked.
pub struct NetworkPlugin {
    /// The name it gives itself (`flat-dhcp`), by which config refers to it.
    pub name: String,
    /// Whether it gives each network a segment number.
    pub segmented: bool,
    pub path: PathBuf,
    config: Arc<BTreeMap<String, String>>,
    pre: bindings::NetworkDriverPre<State<()>>,
    health: Arc<Health>,
}

impl NetworkPlugin {
    /// Loads `path` as a network driver and asks it who it is.
    pub fn load(
        rt: &Runtime,
        path: &Path,
        config: BTreeMap<String, String>,
    ) -> Result<NetworkPlugin, PluginError> {
        let shown = path.display().to_string();
        let (_, pre) = rt.prepare::<NetworkWorld>(path)?;
        let pre = bindings::NetworkDriverPre::new(pre).map_err(|e| PluginError::WrongWorld {
            path: shown.clone(),
            world: NetworkWorld::NAME.into(),
            reason: PluginError::first_line(&e),
        })?;
        let mut plugin = NetworkPlugin {
            name: shown,
            segmented: false,
            path: path.to_path_buf(),
            config: Arc::new(config),
            pre,
            health: Arc::default(),
        };
        let info = plugin.call(rt, "info", |d, store| {
            d.metacloud_network_driver().call_info(store)
        })?;
        plugin.name = info.name;
        plugin.segmented = info.segmented;
        Ok(plugin)
    }

    fn identity(&self) -> Plugin {
        Plugin {
            name: self.name.clone(),
            config: self.config.clone(),
            health: self.health.clone(),
        }
    }

    /// One call in a fresh instance under the memory cap and deadline.
    fn call<T>(
        &self,
        rt: &Runtime,
        name: &str,
        f: impl FnOnce(&bindings::NetworkDriver, &mut wasmtime::Store<State<()>>) -> wasmtime::Result<T>,
    ) -> Result<T, PluginError> {
        let mut store = rt.store(self.identity(), ());
        let result = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| rt.classify(&store, "instantiate", e))
            .and_then(|driver| {
                rt.arm(&mut store);
                f(&driver, &mut store).map_err(|e| rt.classify(&store, name, e))
            });
        self.health.record(result.is_ok());
        result
    }

    /// The driver's plan for `desired`.
    pub fn plan(&self, rt: &Runtime, desired: &Desired) -> Result<Plan, PluginError> {
        self.call(rt, "plan", |d, store| {
            d.metacloud_network_driver().call_plan(store, desired)
        })?
        .map_err(|e| PluginError::Returned {
            plugin: self.name.clone(),
            call: "plan".into(),
            code: e.code,
            message: e.message,
        })
    }

    pub fn health(&self) -> HealthReport {
        self.health.report()
    }
}
