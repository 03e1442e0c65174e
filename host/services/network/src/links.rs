//! Links and addresses over netlink (`rtnetlink`), in the host's namespace or in one of
//! ours. Every operation is idempotent: it looks first and changes only what differs.

use crate::netns;
use futures::{StreamExt, TryStreamExt};
use rtnetlink::packet_core::{
    NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_REQUEST,
};
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::packet_route::link::{LinkAttribute, LinkMessage};
use rtnetlink::packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage,
};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::{Handle, LinkBridge, LinkUnspec, LinkVeth, LinkVxlan, RouteMessageBuilder};
use std::fs::File;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;

/// A netlink failure, naming what was being done.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {reason}")]
pub struct LinkError {
    pub what: String,
    pub reason: String,
}

fn fail(what: impl Into<String>, reason: impl ToString) -> LinkError {
    LinkError {
        what: what.into(),
        reason: reason.to_string(),
    }
}

/// A netlink connection bound to one namespace (none: the host's).
pub struct Links {
    handle: Handle,
    namespace: Option<String>,
}

impl Links {
    /// A connection in `namespace` (the socket is made on a thread inside it, so it stays
    /// bound there), or in the host's namespace.
    pub fn open(namespace: Option<&str>) -> Result<Links, LinkError> {
        let runtime = tokio::runtime::Handle::current();
        let open = move || {
            let _guard = runtime.enter();
            rtnetlink::new_connection().map(|(conn, handle, _)| {
                tokio::spawn(conn);
                handle
            })
        };
        let handle = match namespace {
            Some(ns) => netns::in_namespace(ns, open).map_err(|e| fail("netlink", e))?,
            None => open(),
        }
        .map_err(|e| fail("netlink socket", e))?;
        Ok(Links {
            handle,
            namespace: namespace.map(str::to_string),
        })
    }

    fn at(&self, what: &str) -> String {
        match &self.namespace {
            Some(ns) => format!("{what} in {ns}"),
            None => what.to_string(),
        }
    }

    /// The link called `name`, if any.
    pub async fn get(&self, name: &str) -> Result<Option<LinkMessage>, LinkError> {
        let mut links = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match links.try_next().await {
            Ok(link) => Ok(link),
            // ENODEV: no such link.
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -19 => Ok(None),
            Err(e) => Err(fail(self.at(&format!("look up {name}")), e)),
        }
    }

    async fn index(&self, name: &str) -> Result<u32, LinkError> {
        self.get(name)
            .await?
            .map(|l| l.header.index)
            .ok_or_else(|| fail(self.at(&format!("look up {name}")), "no such link"))
    }

    /// Every link name of the namespace.
    pub async fn names(&self) -> Result<Vec<String>, LinkError> {
        let links: Vec<LinkMessage> = self
            .handle
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(|e| fail(self.at("list links"), e))?;
        Ok(links.iter().filter_map(name_of).collect())
    }

    /// The bridge a link is enslaved to (its controller's index).
    pub fn controller(link: &LinkMessage) -> Option<u32> {
        link.attributes.iter().find_map(|a| match a {
            LinkAttribute::Controller(i) => Some(*i),
            _ => None,
        })
    }

    /// Makes bridge `name` with `mtu` unless it exists, and brings it up.
    pub async fn ensure_bridge(&self, name: &str, mtu: u32) -> Result<u32, LinkError> {
        if self.get(name).await?.is_none() {
            let msg = LinkBridge::new(name).mtu(mtu).build();
            self.handle
                .link()
                .add(msg)
                .execute()
                .await
                .map_err(|e| fail(self.at(&format!("make bridge {name}")), e))?;
        }
        self.up(name).await
    }

    /// Brings `name` up; returns its index.
    pub async fn up(&self, name: &str) -> Result<u32, LinkError> {
        let index = self.index(name).await?;
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(|e| fail(self.at(&format!("bring {name} up")), e))?;
        Ok(index)
    }

    /// Enslaves `name` to `bridge` (unless it is already) and brings it up.
    pub async fn enslave(&self, name: &str, bridge: &str) -> Result<(), LinkError> {
        let bridge_index = self.index(bridge).await?;
        let link = self
            .get(name)
            .await?
            .ok_or_else(|| fail(self.at(&format!("look up {name}")), "no such link"))?;
        if Self::controller(&link) != Some(bridge_index) {
            self.handle
                .link()
                .set(
                    LinkUnspec::new_with_index(link.header.index)
                        .controller(bridge_index)
                        .build(),
                )
                .execute()
                .await
                .map_err(|e| fail(self.at(&format!("enslave {name} to {bridge}")), e))?;
        }
        self.up(name).await.map(|_| ())
    }

    /// The address messages of link `name` (only `address`, when given).
    async fn address_messages(
        &self,
        name: &str,
        address: Option<Ipv4Addr>,
    ) -> Result<Vec<rtnetlink::packet_route::address::AddressMessage>, LinkError> {
        let index = self.index(name).await?;
        let mut get = self.handle.address().get().set_link_index_filter(index);
        if let Some(a) = address {
            get = get.set_address_filter(IpAddr::V4(a));
        }
        get.execute()
            .try_collect()
            .await
            .map_err(|e| fail(self.at(&format!("list addresses of {name}")), e))
    }

    /// Puts `address/prefix` on `name` unless it has it.
    pub async fn ensure_address(
        &self,
        name: &str,
        address: Ipv4Addr,
        prefix: u8,
    ) -> Result<(), LinkError> {
        let have = self.address_messages(name, None).await?;
        let present = have.iter().any(|m| {
            m.header.prefix_len == prefix
                && m.attributes
                    .iter()
                    .any(|a| matches!(a, AddressAttribute::Address(IpAddr::V4(a)) if *a == address))
        });
        if !present {
            let index = self.index(name).await?;
            self.handle
                .address()
                .add(index, IpAddr::V4(address), prefix)
                .execute()
                .await
                .map_err(|e| fail(self.at(&format!("add {address}/{prefix} to {name}")), e))?;
        }
        Ok(())
    }

    /// The IPv4 addresses on `name` with their prefixes.
    pub async fn addresses(&self, name: &str) -> Result<Vec<(Ipv4Addr, u8)>, LinkError> {
        let have = self.address_messages(name, None).await?;
        Ok(have
            .iter()
            .flat_map(|m| {
                m.attributes.iter().filter_map(move |a| match a {
                    AddressAttribute::Address(IpAddr::V4(a)) => Some((*a, m.header.prefix_len)),
                    _ => None,
                })
            })
            .collect())
    }

    /// Removes `address/prefix` from `name` (if there).
    pub async fn remove_address(
        &self,
        name: &str,
        address: Ipv4Addr,
        prefix: u8,
    ) -> Result<(), LinkError> {
        let have = self.address_messages(name, Some(address)).await?;
        for m in have.into_iter().filter(|m| m.header.prefix_len == prefix) {
            self.handle
                .address()
                .del(m)
                .execute()
                .await
                .map_err(|e| fail(self.at(&format!("remove {address} from {name}")), e))?;
        }
        Ok(())
    }

    /// Moves `name` from this namespace into namespace `to`.
    pub async fn move_to(&self, name: &str, to: &str) -> Result<(), LinkError> {
        let index = self.index(name).await?;
        let ns = File::open(netns::path(to)).map_err(|e| fail(format!("open {to}"), e))?;
        self.handle
            .link()
            .set(
                LinkUnspec::new_with_index(index)
                    .setns_by_fd(ns.as_raw_fd())
                    .build(),
            )
            .execute()
            .await
            .map_err(|e| fail(self.at(&format!("move {name} to {to}")), e))
    }

    /// Makes a veth pair `name` — `peer` unless `name` exists.
    pub async fn ensure_veth(&self, name: &str, peer: &str) -> Result<(), LinkError> {
        if self.get(name).await?.is_none() {
            self.handle
                .link()
                .add(LinkVeth::new(name, peer).build())
                .execute()
                .await
                .map_err(|e| fail(self.at(&format!("make veth {name}")), e))?;
        }
        Ok(())
    }

    /// Makes VXLAN device `name` (VNI `vni`, leaving through `underlay` from `local` to
    /// `remote`) unless it exists.
    pub async fn ensure_vxlan(
        &self,
        name: &str,
        vni: u32,
        underlay: &str,
        local: Ipv4Addr,
        remote: Option<Ipv4Addr>,
        mtu: u32,
    ) -> Result<(), LinkError> {
        if self.get(name).await?.is_some() {
            return Ok(());
        }
        let dev = self.index(underlay).await?;
        let mut builder = LinkVxlan::new(name, vni)
            .dev(dev)
            .local(local)
            .port(4789)
            .learning(true)
            .mtu(mtu);
        if let Some(r) = remote {
            builder = builder.remote(r);
        }
        self.handle
            .link()
            .add(builder.build())
            .execute()
            .await
            .map_err(|e| fail(self.at(&format!("make vxlan {name}")), e))
    }

    /// The remotes VXLAN device `name` floods to: its all-zero fdb entries' destinations
    /// (`bridge fdb show dev NAME` lines `00:00:00:00:00:00 dst R`), with their messages.
    async fn flood_entries(
        &self,
        name: &str,
    ) -> Result<Vec<(Ipv4Addr, NeighbourMessage)>, LinkError> {
        let index = self.index(name).await?;
        let mut dump = self.handle.neighbours().get();
        dump.message_mut().header.family = AddressFamily::Bridge;
        let all: Vec<NeighbourMessage> = dump
            .execute()
            .try_collect()
            .await
            .map_err(|e| fail(self.at(&format!("list the fdb of {name}")), e))?;
        Ok(all
            .into_iter()
            .filter(|m| m.header.ifindex == index)
            .filter(|m| {
                m.attributes
                    .iter()
                    .any(|a| matches!(a, NeighbourAttribute::LinkLocalAddress(l) if l == &[0u8; 6]))
            })
            .filter_map(|m| {
                let dst = m.attributes.iter().find_map(|a| match a {
                    NeighbourAttribute::Destination(NeighbourAddress::Inet(v4)) => Some(*v4),
                    _ => None,
                })?;
                Some((dst, m))
            })
            .collect())
    }

    /// Makes VXLAN device `name` flood to exactly `remotes` (head-end replication to every
    /// peer: one all-zero fdb entry per remote, as `bridge fdb append 00:00:00:00:00:00 dev
    /// NAME dst R`): adds what is missing, removes peers no longer named.
    pub async fn sync_flood(&self, name: &str, remotes: &[Ipv4Addr]) -> Result<(), LinkError> {
        let present = self.flood_entries(name).await?;
        for (dst, message) in &present {
            if !remotes.contains(dst) {
                self.handle
                    .neighbours()
                    .del(message.clone())
                    .execute()
                    .await
                    .map_err(|e| fail(self.at(&format!("remove peer {dst} of {name}")), e))?;
            }
        }
        let index = self.index(name).await?;
        for remote in remotes {
            if present.iter().any(|(d, _)| d == remote) {
                continue;
            }
            let mut add = self
                .handle
                .neighbours()
                .add_bridge(index, &[0u8; 6])
                .destination(IpAddr::V4(*remote))
                .flags(NeighbourFlags::Own);
            // `append`, not `add`: the all-zero entry holds a list of destinations.
            let mut request =
                NetlinkMessage::from(RouteNetlinkMessage::NewNeighbour(add.message_mut().clone()));
            request.header.flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_APPEND;
            let what = || self.at(&format!("add peer {remote} to {name}"));
            let mut replies = self
                .handle
                .clone()
                .request(request)
                .map_err(|e| fail(what(), e))?;
            while let Some(reply) = replies.next().await {
                if let NetlinkPayload::Error(e) = reply.payload {
                    if e.code.is_some() {
                        return Err(fail(what(), e));
                    }
                }
            }
        }
        Ok(())
    }

    /// Removes `name` if it exists.
    pub async fn delete(&self, name: &str) -> Result<(), LinkError> {
        if let Some(link) = self.get(name).await? {
            self.handle
                .link()
                .del(link.header.index)
                .execute()
                .await
                .map_err(|e| fail(self.at(&format!("remove {name}")), e))?;
        }
        Ok(())
    }

    /// A default route via `gateway` (replacing any).
    pub async fn default_route(&self, gateway: Ipv4Addr) -> Result<(), LinkError> {
        let route = RouteMessageBuilder::<Ipv4Addr>::new()
            .gateway(gateway)
            .build();
        self.handle
            .route()
            .add(route)
            .replace()
            .execute()
            .await
            .map_err(|e| fail(self.at(&format!("default route via {gateway}")), e))
    }
}

/// A link's name.
pub fn name_of(link: &LinkMessage) -> Option<String> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.clone()),
        _ => None,
    })
}
