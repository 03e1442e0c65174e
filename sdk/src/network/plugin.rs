//! [`network_driver_plugin!`](crate::network_driver_plugin): generates the `network-driver`
//! bindings in the plugin crate and exports the `driver` interface from a
//! [`Driver`](super::Driver).

/// Generates the bindings of the `network-driver` world in the calling crate and exports
/// `$ty`, a [`Driver`](crate::network::Driver). `$wit` is the path of the `network` WIT
/// package relative to the plugin crate's directory: `wit/network` of this repository
/// for the first-party drivers.
///
/// It defines, at the place it is called, `bindings` (the generated code) and
/// `__DriverExport`, which answers `info` from the driver's constants and `plan` by turning
/// the WIT `desired` into [`Desired`](crate::network::Desired), reading the driver's
/// settings (`config.get-all`) into a [`Config`](crate::network::Config), and turning the
/// [`Plan`](crate::network::Plan) (or [`Error`](crate::network::Error)) back. The export
/// is made in WebAssembly builds only.
#[macro_export]
macro_rules! network_driver_plugin {
    ($ty:ty, $wit:literal) => {
        /// The generated bindings of the `network-driver` world.
        #[doc(hidden)]
        pub mod bindings {
            wit_bindgen::generate!({
                world: "network-driver",
                path: $wit,
                generate_all,
            });
        }

        $crate::__network_export!($ty);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __network_export {
    ($ty:ty) => {
        /// The exported `driver` interface, served from the SDK's driver.
        #[doc(hidden)]
        pub struct __DriverExport;

        #[allow(dead_code)]
        mod __network_convert {
            use super::bindings::metacloud::network::types as w;
            use $crate::network as s;

            fn direction_in(d: w::Direction) -> s::Direction {
                match d {
                    w::Direction::Ingress => s::Direction::Ingress,
                    w::Direction::Egress => s::Direction::Egress,
                }
            }

            fn direction_out(d: s::Direction) -> w::Direction {
                match d {
                    s::Direction::Ingress => w::Direction::Ingress,
                    s::Direction::Egress => w::Direction::Egress,
                }
            }

            fn network(n: w::Network) -> s::Network {
                s::Network {
                    id: n.id,
                    name: n.name,
                    project_id: n.project_id,
                    cidr: n.cidr,
                    gateway: n.gateway,
                    range_start: n.range_start,
                    range_end: n.range_end,
                    dns: n.dns,
                    segment: n.segment,
                    bridge: n.bridge,
                    uplink: n.uplink,
                    mtu: n.mtu,
                    dhcp: n.dhcp,
                }
            }

            fn port(p: w::Port) -> s::Port {
                s::Port {
                    id: p.id,
                    network_id: p.network_id,
                    instance_id: p.instance_id,
                    project_id: p.project_id,
                    hostname: p.hostname,
                    mac: p.mac,
                    address: p.address,
                    device: p.device,
                    security_groups: p.security_groups,
                }
            }

            fn rule(r: w::Rule) -> s::Rule {
                s::Rule {
                    direction: direction_in(r.direction),
                    protocol: r.protocol,
                    port_min: r.port_min,
                    port_max: r.port_max,
                    icmp_type: r.icmp_type,
                    icmp_code: r.icmp_code,
                    remote_cidr: r.remote_cidr,
                    remote_group: r.remote_group,
                }
            }

            fn group(g: w::SecurityGroup) -> s::SecurityGroup {
                s::SecurityGroup {
                    id: g.id,
                    project_id: g.project_id,
                    rules: g.rules.into_iter().map(rule).collect(),
                    members: g.members,
                }
            }

            fn floating_in(f: w::Floating) -> s::Floating {
                s::Floating {
                    address: f.address,
                    pool: f.pool,
                    port_id: f.port_id,
                }
            }

            fn floating_out(f: s::Floating) -> w::Floating {
                w::Floating {
                    address: f.address,
                    pool: f.pool,
                    port_id: f.port_id,
                }
            }

            fn pool(p: w::Pool) -> s::Pool {
                s::Pool {
                    name: p.name,
                    cidr: p.cidr,
                    interface: p.interface,
                    gateway: p.gateway,
                }
            }

            /// The SDK's desired state of the WIT one.
            pub fn desired(d: w::Desired) -> s::Desired {
                s::Desired {
                    host: d.host,
                    underlay_address: d.underlay_address,
                    underlay_interface: d.underlay_interface,
                    peers: d.peers,
                    networks: d.networks.into_iter().map(network).collect(),
                    ports: d.ports.into_iter().map(port).collect(),
                    groups: d.groups.into_iter().map(group).collect(),
                    floatings: d.floatings.into_iter().map(floating_in).collect(),
                    pools: d.pools.into_iter().map(pool).collect(),
                }
            }

            fn bridge(b: s::Bridge) -> w::Bridge {
                w::Bridge {
                    network_id: b.network_id,
                    name: b.name,
                    namespace: b.namespace,
                    managed: b.managed,
                    mtu: b.mtu,
                    address: b.address,
                }
            }

            fn segment(g: s::Segment) -> w::Segment {
                w::Segment {
                    network_id: g.network_id,
                    name: g.name,
                    vni: g.vni,
                    underlay_interface: g.underlay_interface,
                    local: g.local,
                    remotes: g.remotes,
                }
            }

            fn uplink(u: s::Uplink) -> w::Uplink {
                w::Uplink {
                    network_id: u.network_id,
                    interface: u.interface,
                }
            }

            fn attachment(a: s::Attachment) -> w::Attachment {
                w::Attachment {
                    port_id: a.port_id,
                    device: a.device,
                }
            }

            fn dhcp(d: s::Dhcp) -> w::Dhcp {
                w::Dhcp {
                    network_id: d.network_id,
                    range_start: d.range_start,
                    range_end: d.range_end,
                    lease_seconds: d.lease_seconds,
                    router: d.router,
                    dns: d.dns,
                    domain: d.domain,
                    hosts: d
                        .hosts
                        .into_iter()
                        .map(|h| w::DhcpHost {
                            mac: h.mac,
                            hostname: h.hostname,
                            address: h.address,
                        })
                        .collect(),
                }
            }

            fn flow(f: s::Flow) -> w::Flow {
                w::Flow {
                    direction: direction_out(f.direction),
                    protocol: f.protocol,
                    port_min: f.port_min,
                    port_max: f.port_max,
                    icmp_type: f.icmp_type,
                    icmp_code: f.icmp_code,
                    remotes: f.remotes,
                }
            }

            fn filter(f: s::PortFilter) -> w::PortFilter {
                w::PortFilter {
                    port_id: f.port_id,
                    mac: f.mac,
                    addresses: f.addresses,
                    flows: f.flows.into_iter().map(flow).collect(),
                }
            }

            fn nat(n: s::Nat) -> w::Nat {
                match n {
                    s::Nat::Floating(f) => w::Nat::Floating(floating_out(f)),
                    s::Nat::Masquerade(id) => w::Nat::Masquerade(id),
                }
            }

            /// The WIT plan of the SDK's.
            pub fn plan(p: s::Plan) -> w::NetworkPlan {
                w::NetworkPlan {
                    bridges: p.bridges.into_iter().map(bridge).collect(),
                    segments: p.segments.into_iter().map(segment).collect(),
                    uplinks: p.uplinks.into_iter().map(uplink).collect(),
                    attachments: p.attachments.into_iter().map(attachment).collect(),
                    dhcp: p.dhcp.into_iter().map(dhcp).collect(),
                    filters: p.filters.into_iter().map(filter).collect(),
                    nat: p.nat.into_iter().map(nat).collect(),
                    metadata: p
                        .metadata
                        .into_iter()
                        .map(|m| w::Metadata {
                            network_id: m.network_id,
                        })
                        .collect(),
                }
            }

            /// The WIT `plugin-error` of the SDK's error.
            pub fn error(
                e: s::Error,
            ) -> super::bindings::metacloud::host::types::PluginError {
                super::bindings::metacloud::host::types::PluginError {
                    code: e.code,
                    message: e.message,
                }
            }
        }

        impl bindings::exports::metacloud::network::driver::Guest for __DriverExport {
            fn info() -> bindings::metacloud::network::types::DriverInfo {
                bindings::metacloud::network::types::DriverInfo {
                    name: <$ty as $crate::network::Driver>::NAME.to_string(),
                    segmented: <$ty as $crate::network::Driver>::SEGMENTED,
                }
            }

            fn plan(
                desired: bindings::metacloud::network::types::Desired,
            ) -> Result<
                bindings::metacloud::network::types::NetworkPlan,
                bindings::metacloud::host::types::PluginError,
            > {
                let desired = __network_convert::desired(desired);
                let config =
                    $crate::network::Config::new(bindings::metacloud::host::config::get_all());
                <$ty as $crate::network::Driver>::plan(&desired, &config)
                    .map(__network_convert::plan)
                    .map_err(__network_convert::error)
            }
        }

        // Exported from the WebAssembly build only (a native build is for unit tests).
        #[cfg(target_arch = "wasm32")]
        bindings::export!(__DriverExport with_types_in bindings);
    };
}
