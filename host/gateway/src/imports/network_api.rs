//! The Network API's functions of the `compute` import (added within
//! `metacloud:api@1.1.0`): networks made before their subnet, subnets, and routers, over
//! the domain's `subnets` and `routers`. The trait methods in `compute.rs` call these.

use super::compute::ComputeHost;
use super::network::wit_network;
use metacloud_api::{PortRequest, PortView};
use metacloud_db::ports::PortUpdate as DbPortUpdate;
use metacloud_db::subnets::{BareNetwork, NewSubnet};
use metacloud_plugins::api::compute::{
    NetworkRecord, NetworkSpec, Port, PortCreate, PortDetail, PortUpdate, Router, RouterInterface,
    Subnet, SubnetCreate,
};
use metacloud_plugins::api::{Caller, OpError};

fn wit_record(n: metacloud_db::networks::Network) -> NetworkRecord {
    NetworkRecord {
        external: n.external,
        pool: n.pool.clone(),
        subnet_id: n.subnet_id.clone().filter(|_| n.has_addresses()),
        subnet_name: n.subnet_name.clone(),
        network: wit_network(n),
    }
}

fn wit_subnet(s: metacloud_db::subnets::Subnet) -> Subnet {
    Subnet {
        id: s.id,
        name: s.name,
        network_id: s.network_id,
        project_id: s.project_id,
        cidr: s.cidr,
        gateway: s.gateway,
        allocation_start: s.range_start,
        allocation_end: s.range_end,
        dns: s.dns,
        enable_dhcp: s.dhcp,
        created_at: s.created_at,
        updated_at: s.updated_at,
    }
}

/// A port as the dialect sees it: an unbound one has an empty `server-id`.
pub(super) fn wit_port_detail(v: PortView) -> PortDetail {
    let p = v.port;
    PortDetail {
        project_id: p.project_id,
        host: p.host.clone(),
        name: p.name,
        admin_state_up: p.admin_state_up,
        security_group_ids: v.group_ids,
        port: Port {
            state: if p.host.is_some() { "ACTIVE" } else { "DOWN" }.into(),
            id: p.id,
            server_id: p.instance_id.unwrap_or_default(),
            network_id: p.network_id,
            mac: p.mac,
            address: p.address,
            tag: p.tag,
        },
    }
}

fn wit_interface(i: metacloud_db::routers::RouterInterface) -> RouterInterface {
    RouterInterface {
        port_id: i.port_id,
        network_id: i.network_id,
        subnet_id: i.subnet_id,
        address: i.address,
        created_at: i.created_at,
    }
}

fn wit_router(r: metacloud_db::routers::Router) -> Router {
    Router {
        id: r.id,
        project_id: r.project_id,
        name: r.name,
        admin_state_up: r.admin_state_up,
        external_network_id: r.external_network_id,
        gateway_address: r.gateway_address,
        interfaces: r.interfaces.into_iter().map(wit_interface).collect(),
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

impl ComputeHost {
    pub(super) fn na_list_networks(
        &self,
        c: &Caller,
        all: bool,
    ) -> Result<Vec<NetworkRecord>, OpError> {
        let ctx = self.ctx(c)?;
        let list = self.run(self.api.network_records(&ctx, all))?;
        Ok(list.into_iter().map(wit_record).collect())
    }

    pub(super) fn na_create_network(
        &self,
        c: &Caller,
        n: NetworkSpec,
    ) -> Result<NetworkRecord, OpError> {
        let ctx = self.ctx(c)?;
        let new = BareNetwork {
            name: n.name,
            project_id: n.project_id,
            external: n.external,
            mtu: n.mtu,
            driver: String::new(),
            uplink: n.physical_network,
        };
        Ok(wit_record(
            self.run(self.api.create_bare_network(&ctx, new))?,
        ))
    }

    pub(super) fn na_update_network(
        &self,
        c: &Caller,
        id: &str,
        name: Option<&str>,
        shared: Option<bool>,
    ) -> Result<NetworkRecord, OpError> {
        let ctx = self.ctx(c)?;
        let n = self.run(self.api.update_network_record(&ctx, id, name, shared))?;
        Ok(wit_record(n))
    }

    pub(super) fn na_delete_network(&self, c: &Caller, id: &str) -> Result<(), OpError> {
        let ctx = self.ctx(c)?;
        self.run(self.api.delete_network_record(&ctx, id))
    }

    pub(super) fn na_list_subnets(&self, c: &Caller, all: bool) -> Result<Vec<Subnet>, OpError> {
        let ctx = self.ctx(c)?;
        let list = self.run(self.api.list_subnets(&ctx, all))?;
        Ok(list.into_iter().map(wit_subnet).collect())
    }

    pub(super) fn na_create_subnet(&self, c: &Caller, s: SubnetCreate) -> Result<Subnet, OpError> {
        let ctx = self.ctx(c)?;
        let new = NewSubnet {
            name: s.name,
            cidr: s.cidr,
            gateway: s.gateway,
            range_start: s.allocation_start,
            range_end: s.allocation_end,
            dns: s.dns,
            dhcp: s.enable_dhcp,
            interface: String::new(),
        };
        let made = self.run(self.api.create_subnet(&ctx, &s.network_id, new))?;
        Ok(wit_subnet(made))
    }

    pub(super) fn na_update_subnet(
        &self,
        c: &Caller,
        id: &str,
        name: Option<&str>,
        dns: Option<&[String]>,
    ) -> Result<Subnet, OpError> {
        let ctx = self.ctx(c)?;
        Ok(wit_subnet(
            self.run(self.api.update_subnet(&ctx, id, name, dns))?,
        ))
    }

    pub(super) fn na_delete_subnet(&self, c: &Caller, id: &str) -> Result<(), OpError> {
        let ctx = self.ctx(c)?;
        self.run(self.api.delete_subnet(&ctx, id))
    }

    pub(super) fn na_list_routers(&self, c: &Caller, all: bool) -> Result<Vec<Router>, OpError> {
        let ctx = self.ctx(c)?;
        let list = self.run(self.api.list_routers(&ctx, all))?;
        Ok(list.into_iter().map(wit_router).collect())
    }

    pub(super) fn na_create_router(
        &self,
        c: &Caller,
        project: Option<&str>,
        name: &str,
        up: bool,
        gateway: Option<&str>,
    ) -> Result<Router, OpError> {
        let ctx = self.ctx(c)?;
        let r = self.run(self.api.create_router(&ctx, project, name, up, gateway))?;
        Ok(wit_router(r))
    }

    pub(super) fn na_update_router(
        &self,
        c: &Caller,
        id: &str,
        name: Option<&str>,
        up: Option<bool>,
        gateway: Option<Option<&str>>,
    ) -> Result<Router, OpError> {
        let ctx = self.ctx(c)?;
        let r = self.run(self.api.update_router(&ctx, id, name, up, gateway))?;
        Ok(wit_router(r))
    }

    pub(super) fn na_delete_router(&self, c: &Caller, id: &str) -> Result<(), OpError> {
        let ctx = self.ctx(c)?;
        self.run(self.api.delete_router(&ctx, id))
    }

    pub(super) fn na_router_interface_port(
        &self,
        c: &Caller,
        id: &str,
        port: &str,
    ) -> Result<RouterInterface, OpError> {
        let ctx = self.ctx(c)?;
        let i = self.run(self.api.add_router_interface_port(&ctx, id, port))?;
        Ok(wit_interface(i))
    }

    pub(super) fn na_router_interface(
        &self,
        c: &Caller,
        id: &str,
        add: Option<&str>,
        remove: (Option<&str>, Option<&str>),
    ) -> Result<RouterInterface, OpError> {
        let ctx = self.ctx(c)?;
        let i = match add {
            Some(subnet) => self.run(self.api.add_router_interface(&ctx, id, subnet))?,
            None => self.run(
                self.api
                    .remove_router_interface(&ctx, id, remove.0, remove.1),
            )?,
        };
        Ok(wit_interface(i))
    }

    pub(super) fn na_list_ports(
        &self,
        c: &Caller,
        all_projects: bool,
    ) -> Result<Vec<PortDetail>, OpError> {
        let ctx = self.ctx(c)?;
        let ports = self.run(self.api.port_views(&ctx, all_projects))?;
        Ok(ports.into_iter().map(wit_port_detail).collect())
    }

    pub(super) fn na_find_ports(
        &self,
        c: &Caller,
        all_projects: bool,
        port_ids: &[String],
        server_ids: &[String],
    ) -> Result<Vec<PortDetail>, OpError> {
        let ctx = self.ctx(c)?;
        let ports = self.run(
            self.api
                .find_port_views(&ctx, all_projects, port_ids, server_ids),
        )?;
        Ok(ports.into_iter().map(wit_port_detail).collect())
    }

    pub(super) fn na_create_port(&self, c: &Caller, p: PortCreate) -> Result<PortDetail, OpError> {
        let ctx = self.ctx(c)?;
        let req = PortRequest {
            project_id: p.project_id,
            network_id: p.network_id,
            name: p.name,
            address: p.fixed_ip,
            mac: p.mac,
            admin_state_up: p.admin_state_up,
            security_groups: p.security_group_ids,
        };
        let port = self.run(self.api.create_api_port(&ctx, req))?;
        let group_ids = port.group_ids.clone();
        Ok(wit_port_detail(PortView { port, group_ids }))
    }

    pub(super) fn na_update_port(
        &self,
        c: &Caller,
        id: &str,
        u: PortUpdate,
    ) -> Result<PortDetail, OpError> {
        let ctx = self.ctx(c)?;
        let change = DbPortUpdate {
            name: u.name,
            admin_state_up: u.admin_state_up,
            group_ids: u.security_group_ids,
            address: u.fixed_ip,
        };
        self.run(self.api.update_api_port(&ctx, id, change))?;
        self.na_find_ports(c, true, &[id.to_string()], &[])?
            .pop()
            .ok_or_else(|| OpError::NotFound(format!("Port {id}")))
    }

    pub(super) fn na_delete_port(&self, c: &Caller, id: &str) -> Result<(), OpError> {
        let ctx = self.ctx(c)?;
        self.run(self.api.delete_api_port(&ctx, id))
    }
}
