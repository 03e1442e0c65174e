//! The networking functions of the `compute` import (`metacloud:api@1.1.0`): networks,
//! fixed and floating addresses, security groups and ports, over the domain's
//! [`metacloud_api::network`]. The trait methods in `compute.rs` call these.

use super::compute::ComputeHost;
use metacloud_api::network::{GroupView, NetworkChoice, RequestedNetwork};
use metacloud_api::InterfaceRequest;
use metacloud_db::networks::NewNetwork;
use metacloud_db::secgroups::NewRule;
use metacloud_plugins::api::compute::{
    FixedIp, FloatingIp, FloatingRange, InterfaceAttach, Network, NetworkCreate, NetworkRequest,
    Port, SecurityGroup, SecurityGroupRule, SecurityGroupRuleCreate, ServerAddress,
    ServerNetworkInfo, ServerNetworking,
};
use metacloud_plugins::api::{Caller, OpError};

pub(super) fn wit_network(n: metacloud_db::networks::Network) -> Network {
    Network {
        id: n.id,
        label: n.name,
        project_id: n.project_id,
        cidr: n.cidr,
        gateway: n.gateway,
        dhcp_start: n.range_start,
        dhcp_end: n.range_end,
        dns: n.dns,
        vlan: n.segment,
        bridge: n.bridge,
        bridge_interface: n.uplink,
        mtu: n.mtu,
        enable_dhcp: n.dhcp,
        driver: n.driver,
        host: n.host,
        multi_host: n.multi_host,
        created_at: n.created_at,
        updated_at: n.updated_at,
    }
}

fn wit_floating(f: metacloud_db::floating::FloatingIp, instance: Option<String>) -> FloatingIp {
    FloatingIp {
        address: f.address,
        pool: f.pool,
        interface: f.interface,
        project_id: f.project_id,
        fixed_address: f.fixed_address,
        instance_id: instance,
        host: f.host,
        port_id: f.port_id,
    }
}

fn wit_range(r: metacloud_db::floating::FloatingRange) -> FloatingRange {
    FloatingRange {
        cidr: r.cidr,
        pool: r.pool,
        interface: r.interface,
        gateway: r.gateway,
        created_at: r.created_at,
    }
}

fn wit_group(v: GroupView) -> SecurityGroup {
    let rules = v
        .rules
        .iter()
        .map(|r| SecurityGroupRule {
            id: r.id.clone(),
            group_id: r.group_id.clone(),
            direction: r.direction.clone(),
            protocol: r.protocol.clone(),
            port_min: r.port_min,
            port_max: r.port_max,
            icmp_type: r.icmp_type,
            icmp_code: r.icmp_code,
            remote_cidr: r.remote_cidr.clone(),
            remote_group_id: r.remote_group_id.clone(),
            remote_group_name: r
                .remote_group_id
                .as_ref()
                .and_then(|g| v.remote_names.get(g).cloned()),
        })
        .collect();
    SecurityGroup {
        id: v.group.id,
        project_id: v.group.project_id,
        name: v.group.name,
        description: v.group.description,
        rules,
    }
}

impl ComputeHost {
    pub(super) fn net_choice(n: ServerNetworking) -> (NetworkChoice, Vec<String>) {
        let choice = match n.networks {
            NetworkRequest::Default => NetworkChoice::Default,
            NetworkRequest::None => NetworkChoice::None,
            NetworkRequest::Auto => NetworkChoice::Auto,
            NetworkRequest::Given(list) => NetworkChoice::Given(
                list.into_iter()
                    .map(|r| RequestedNetwork {
                        network_id: r.network_id,
                        fixed_ip: r.fixed_ip,
                        port_id: r.port_id,
                        tag: r.tag,
                    })
                    .collect(),
            ),
        };
        (choice, n.security_groups)
    }

    pub(super) fn net_server_info(
        &self,
        c: &Caller,
        ids: Vec<String>,
    ) -> Result<Vec<ServerNetworkInfo>, OpError> {
        let ctx = self.ctx(c)?;
        let map = self.run(self.api.server_networking(&ctx, &ids))?;
        Ok(map
            .into_iter()
            .map(|(id, n)| ServerNetworkInfo {
                server_id: id,
                addresses: n
                    .addresses
                    .into_iter()
                    .map(|a| ServerAddress {
                        network: a.network,
                        version: 4,
                        addr: a.addr,
                        kind: a.kind.to_string(),
                        mac: a.mac,
                    })
                    .collect(),
                security_groups: n.security_groups,
            })
            .collect())
    }

    pub(super) fn net_list_networks(&self, c: &Caller, all: bool) -> Result<Vec<Network>, OpError> {
        let ctx = self.ctx(c)?;
        Ok(self
            .run(self.api.list_networks(&ctx, all))?
            .into_iter()
            .map(wit_network)
            .collect())
    }

    pub(super) fn net_get_network(&self, c: &Caller, id: &str) -> Result<Network, OpError> {
        let ctx = self.ctx(c)?;
        Ok(wit_network(self.run(self.api.get_network(&ctx, id))?))
    }

    pub(super) fn net_create_network(
        &self,
        c: &Caller,
        n: NetworkCreate,
    ) -> Result<Network, OpError> {
        let ctx = self.ctx(c)?;
        let new = NewNetwork {
            name: n.label,
            project_id: n.project_id,
            cidr: n.cidr,
            gateway: n.gateway,
            range_start: n.dhcp_start,
            range_end: n.dhcp_end,
            dns: n.dns,
            segment: n.vlan,
            bridge: n.bridge,
            uplink: n.bridge_interface,
            mtu: n.mtu,
            dhcp: n.enable_dhcp,
            driver: n.driver.unwrap_or_default(),
            host: None,
            multi_host: n.multi_host,
        };
        Ok(wit_network(self.run(self.api.create_network(&ctx, new))?))
    }

    pub(super) fn net_delete_network(&self, c: &Caller, id: &str) -> Result<(), OpError> {
        let ctx = self.ctx(c)?;
        self.run(self.api.delete_network(&ctx, id))
    }

    pub(super) fn net_network_action(
        &self,
        c: &Caller,
        id: &str,
        action: &str,
        project: Option<&str>,
    ) -> Result<Network, OpError> {
        let ctx = self.ctx(c)?;
        Ok(wit_network(
            self.run(self.api.network_action(&ctx, id, action, project))?,
        ))
    }

    pub(super) fn net_free(&self, c: &Caller, id: &str) -> Result<i64, OpError> {
        let ctx = self.ctx(c)?;
        self.run(self.api.network_free_addresses(&ctx, id))
    }

    pub(super) fn net_pools(&self, c: &Caller) -> Result<Vec<String>, OpError> {
        let ctx = self.ctx(c)?;
        self.run(self.api.floating_pools(&ctx))
    }

    /// The instance each floating address's port belongs to.
    fn with_instances(
        &self,
        list: Vec<metacloud_db::floating::FloatingIp>,
    ) -> Result<Vec<FloatingIp>, OpError> {
        self.run(async {
            let mut out = Vec::with_capacity(list.len());
            for f in list {
                let inst = match &f.port_id {
                    Some(p) => self
                        .api
                        .db()
                        .get_port(p)
                        .await
                        .ok()
                        .and_then(|p| p.instance_id),
                    None => None,
                };
                out.push(wit_floating(f, inst));
            }
            Ok(out)
        })
    }

    pub(super) fn net_list_floating(&self, c: &Caller) -> Result<Vec<FloatingIp>, OpError> {
        let ctx = self.ctx(c)?;
        let list = self.run(self.api.list_floating(&ctx))?;
        self.with_instances(list)
    }

    pub(super) fn net_get_floating(
        &self,
        c: &Caller,
        address: &str,
    ) -> Result<FloatingIp, OpError> {
        let ctx = self.ctx(c)?;
        let f = self.run(self.api.get_floating(&ctx, address))?;
        Ok(self.with_instances(vec![f])?.remove(0))
    }

    pub(super) fn net_allocate_floating(
        &self,
        c: &Caller,
        pool: Option<&str>,
    ) -> Result<FloatingIp, OpError> {
        let ctx = self.ctx(c)?;
        Ok(wit_floating(
            self.run(self.api.allocate_floating(&ctx, pool))?,
            None,
        ))
    }

    pub(super) fn net_release_floating(&self, c: &Caller, address: &str) -> Result<(), OpError> {
        let ctx = self.ctx(c)?;
        self.run(self.api.release_floating(&ctx, address))
    }

    pub(super) fn net_set_floating_port(
        &self,
        c: &Caller,
        address: &str,
        port: Option<&str>,
    ) -> Result<FloatingIp, OpError> {
        let ctx = self.ctx(c)?;
        let (f, instance) = self.run(self.api.set_floating_port(&ctx, address, port))?;
        Ok(wit_floating(f, instance))
    }

    pub(super) fn net_associate_floating(
        &self,
        c: &Caller,
        server: &str,
        address: &str,
        fixed: Option<&str>,
    ) -> Result<FloatingIp, OpError> {
        let ctx = self.ctx(c)?;
        let f = self.run(self.api.associate_floating(&ctx, server, address, fixed))?;
        Ok(wit_floating(f, Some(server.to_string())))
    }

    pub(super) fn net_disassociate_floating(
        &self,
        c: &Caller,
        server: &str,
        address: &str,
    ) -> Result<(), OpError> {
        let ctx = self.ctx(c)?;
        self.run(self.api.disassociate_floating(&ctx, server, address))
    }

    pub(super) fn net_all_floating(&self, c: &Caller) -> Result<Vec<FloatingIp>, OpError> {
        let ctx = self.ctx(c)?;
        Ok(self
            .run(self.api.all_floating(&ctx))?
            .into_iter()
            .map(|(f, i)| wit_floating(f, i))
            .collect())
    }

    pub(super) fn net_ranges(&self, c: &Caller) -> Result<Vec<FloatingRange>, OpError> {
        let ctx = self.ctx(c)?;
        Ok(self
            .run(self.api.floating_ranges(&ctx))?
            .into_iter()
            .map(wit_range)
            .collect())
    }

    pub(super) fn net_create_range(
        &self,
        c: &Caller,
        pool: Option<&str>,
        cidr: &str,
        interface: Option<&str>,
        gateway: Option<&str>,
    ) -> Result<FloatingRange, OpError> {
        let ctx = self.ctx(c)?;
        Ok(wit_range(self.run(self.api.create_floating_range(
            &ctx, pool, cidr, interface, gateway,
        ))?))
    }

    pub(super) fn net_delete_range(&self, c: &Caller, cidr: &str) -> Result<(), OpError> {
        let ctx = self.ctx(c)?;
        self.run(self.api.delete_floating_range(&ctx, cidr))
    }

    pub(super) fn net_fixed_ip(&self, c: &Caller, address: &str) -> Result<FixedIp, OpError> {
        let ctx = self.ctx(c)?;
        let (ip, net, inst) = self.run(self.api.get_fixed_ip(&ctx, address))?;
        Ok(FixedIp {
            address: ip.address,
            network_id: net.id,
            cidr: net.cidr,
            instance_id: ip.instance_id,
            instance_name: inst.as_ref().map(|i| i.name.clone()),
            host: inst.and_then(|i| i.host),
            allocated: ip.allocated,
            reserved: ip.reserved,
        })
    }

    pub(super) fn net_reserve_fixed_ip(
        &self,
        c: &Caller,
        address: &str,
        reserved: bool,
    ) -> Result<(), OpError> {
        let ctx = self.ctx(c)?;
        self.run(self.api.reserve_fixed_ip(&ctx, address, reserved))
    }

    pub(super) fn net_list_groups(
        &self,
        c: &Caller,
        all: bool,
    ) -> Result<Vec<SecurityGroup>, OpError> {
        let ctx = self.ctx(c)?;
        Ok(self
            .run(self.api.list_security_groups(&ctx, all))?
            .into_iter()
            .map(wit_group)
            .collect())
    }

    pub(super) fn net_get_group(&self, c: &Caller, id: &str) -> Result<SecurityGroup, OpError> {
        let ctx = self.ctx(c)?;
        Ok(wit_group(self.run(self.api.get_security_group(&ctx, id))?))
    }

    pub(super) fn net_create_group(
        &self,
        c: &Caller,
        name: &str,
        description: &str,
    ) -> Result<SecurityGroup, OpError> {
        let ctx = self.ctx(c)?;
        Ok(wit_group(self.run(self.api.create_security_group(
            &ctx,
            name,
            description,
        ))?))
    }

    pub(super) fn net_update_group(
        &self,
        c: &Caller,
        id: &str,
        name: &str,
        description: &str,
    ) -> Result<SecurityGroup, OpError> {
        let ctx = self.ctx(c)?;
        Ok(wit_group(self.run(self.api.update_security_group(
            &ctx,
            id,
            name,
            description,
        ))?))
    }

    pub(super) fn net_delete_group(&self, c: &Caller, id: &str) -> Result<(), OpError> {
        let ctx = self.ctx(c)?;
        self.run(self.api.delete_security_group(&ctx, id))
    }

    /// Nova's rule arguments (ICMP type/code in the ports, -1 for any), in `direction`
    /// (`ingress` for Nova's os-security-group-rules; `egress` too for EC2).
    pub(super) fn net_create_rule(
        &self,
        c: &Caller,
        direction: &str,
        r: SecurityGroupRuleCreate,
    ) -> Result<SecurityGroupRule, OpError> {
        let ctx = self.ctx(c)?;
        let icmp = r
            .protocol
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
            == Some("icmp");
        let any = |v: Option<i64>| v.filter(|v| *v != -1);
        let rule = NewRule {
            direction: direction.into(),
            protocol: r.protocol,
            port_min: if icmp { None } else { r.from_port },
            port_max: if icmp { None } else { r.to_port },
            icmp_type: if icmp { any(r.from_port) } else { None },
            icmp_code: if icmp { any(r.to_port) } else { None },
            remote_cidr: if r.group_id.is_some() {
                None
            } else {
                r.cidr.filter(|c| c != "0.0.0.0/0")
            },
            remote_group_id: r.group_id,
        };
        let (rule, view) = self.run(self.api.create_security_group_rule(
            &ctx,
            &r.parent_group_id,
            rule,
        ))?;
        let g = wit_group(view);
        g.rules
            .into_iter()
            .find(|x| x.id == rule.id)
            .ok_or_else(|| OpError::Internal(format!("rule {} vanished", rule.id)))
    }

    pub(super) fn net_delete_rule(&self, c: &Caller, id: &str) -> Result<(), OpError> {
        let ctx = self.ctx(c)?;
        self.run(self.api.delete_security_group_rule(&ctx, id))
    }

    pub(super) fn net_server_groups(
        &self,
        c: &Caller,
        server: &str,
    ) -> Result<Vec<SecurityGroup>, OpError> {
        let ctx = self.ctx(c)?;
        Ok(self
            .run(self.api.server_security_groups(&ctx, server))?
            .into_iter()
            .map(wit_group)
            .collect())
    }

    pub(super) fn net_add_server_group(
        &self,
        c: &Caller,
        server: &str,
        name: &str,
        add: bool,
    ) -> Result<(), OpError> {
        let ctx = self.ctx(c)?;
        if add {
            self.run(self.api.add_server_security_group(&ctx, server, name))
        } else {
            self.run(self.api.remove_server_security_group(&ctx, server, name))
        }
    }

    pub(super) fn net_server_ports(&self, c: &Caller, server: &str) -> Result<Vec<Port>, OpError> {
        let ctx = self.ctx(c)?;
        let (ports, up) = self.run(self.api.server_ports(&ctx, server))?;
        Ok(ports.into_iter().map(|p| wit_port(p, up)).collect())
    }

    pub(super) fn net_attach_interface(
        &self,
        c: &Caller,
        server: &str,
        a: InterfaceAttach,
    ) -> Result<Port, OpError> {
        let ctx = self.ctx(c)?;
        let req = InterfaceRequest {
            port_id: a.port_id,
            net_id: a.net_id,
            fixed_ip: a.fixed_ip,
            tag: a.tag,
        };
        let (port, up) = self.run(self.api.attach_interface(&ctx, server, &req))?;
        Ok(wit_port(port, up))
    }

    pub(super) fn net_detach_interface(
        &self,
        c: &Caller,
        server: &str,
        port: &str,
    ) -> Result<(), OpError> {
        let ctx = self.ctx(c)?;
        self.run(self.api.detach_interface(&ctx, server, port))
    }
}

/// A server's port; `up` while the server is active.
fn wit_port(p: metacloud_db::ports::Port, up: bool) -> Port {
    Port {
        id: p.id,
        server_id: p.instance_id.unwrap_or_default(),
        network_id: p.network_id,
        mac: p.mac,
        address: p.address,
        state: if up { "ACTIVE" } else { "DOWN" }.into(),
        tag: p.tag,
    }
}
