//! Plain Rust mirrors of the records of `metacloud:network/types` (`wit/network/network.wit`):
//! the desired state the host sends and the plan a driver answers with.

/// Which way traffic goes, seen from the port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// Traffic the port accepts.
    #[default]
    Ingress,
    /// Traffic the port may send.
    Egress,
}

/// An IPv4 network as the database holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Network {
    pub id: String,
    pub name: String,
    /// The project the network belongs to; none for a shared network.
    pub project_id: Option<String>,
    /// `10.0.0.0/24`.
    pub cidr: String,
    /// The gateway (and DHCP server) address, inside `cidr`.
    pub gateway: String,
    /// The addresses handed to instances, inclusive, inside `cidr`.
    pub range_start: String,
    pub range_end: String,
    pub dns: Vec<String>,
    /// The segment number (VLAN id, VXLAN VNI), if segmented.
    pub segment: Option<u32>,
    /// An operator-made bridge the network uses (flat networks), if any.
    pub bridge: Option<String>,
    /// The physical interface the operator named for this network, if any.
    pub uplink: Option<String>,
    pub mtu: u32,
    /// Whether instances get their address by DHCP.
    pub dhcp: bool,
}

/// One instance's interface on one network.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Port {
    pub id: String,
    pub network_id: String,
    pub instance_id: String,
    pub project_id: String,
    /// The instance's DNS-safe host name.
    pub hostname: String,
    pub mac: String,
    /// The fixed IPv4 address.
    pub address: String,
    /// The tap device libvirt made for it on this host.
    pub device: String,
    /// Ids of the security groups applied to the port.
    pub security_groups: Vec<String>,
}

/// A security-group rule as the tenant wrote it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rule {
    pub direction: Direction,
    /// `tcp`, `udp` or `icmp`; none: any protocol.
    pub protocol: Option<String>,
    pub port_min: Option<u16>,
    pub port_max: Option<u16>,
    pub icmp_type: Option<u8>,
    pub icmp_code: Option<u8>,
    /// Traffic from (ingress) or to (egress) this CIDR.
    pub remote_cidr: Option<String>,
    /// Traffic from or to the members of this group (by id).
    pub remote_group: Option<String>,
}

/// A security group: its rules and the fixed addresses of its members.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecurityGroup {
    pub id: String,
    pub project_id: String,
    pub rules: Vec<Rule>,
    /// The fixed addresses of the group's members, on any network.
    pub members: Vec<String>,
}

/// A floating address associated with a port.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Floating {
    pub address: String,
    /// The pool it came from.
    pub pool: String,
    pub port_id: String,
}

/// A range of public addresses and the operator's bridge that reaches them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pool {
    pub name: String,
    pub cidr: String,
    pub interface: String,
    pub gateway: Option<String>,
}

/// This host's share of the networks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Desired {
    /// The host the plan is for.
    pub host: String,
    /// This host's address on the underlay (multi-host segments).
    pub underlay_address: Option<String>,
    /// The underlay interface (from the allow-list).
    pub underlay_interface: Option<String>,
    /// The underlay addresses of the other network hosts.
    pub peers: Vec<String>,
    pub networks: Vec<Network>,
    pub ports: Vec<Port>,
    pub groups: Vec<SecurityGroup>,
    pub floatings: Vec<Floating>,
    pub pools: Vec<Pool>,
}

impl Desired {
    /// A network by id.
    pub fn network(&self, id: &str) -> Option<&Network> {
        self.networks.iter().find(|n| n.id == id)
    }

    /// A security group by id.
    pub fn group(&self, id: &str) -> Option<&SecurityGroup> {
        self.groups.iter().find(|g| g.id == id)
    }

    /// A port by id.
    pub fn port(&self, id: &str) -> Option<&Port> {
        self.ports.iter().find(|p| p.id == id)
    }

    /// The ports on network `id`, in their order.
    pub fn ports_on<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Port> + 'a {
        self.ports.iter().filter(move |p| p.network_id == id)
    }
}

/// A bridge for one network; `namespace` none is the host's own (operator bridges only).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bridge {
    pub network_id: String,
    pub name: String,
    pub namespace: Option<String>,
    /// Whether the host makes (and removes) it; false for an operator's bridge.
    pub managed: bool,
    pub mtu: u32,
    /// The gateway address with its prefix (`10.0.0.1/24`).
    pub address: Option<String>,
}

/// A VXLAN segment device enslaved to a network's bridge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Segment {
    pub network_id: String,
    pub name: String,
    pub vni: u32,
    pub underlay_interface: String,
    pub local: String,
    /// Peers flooded to (head-end replication).
    pub remotes: Vec<String>,
}

/// An operator-named physical interface enslaved to a network's bridge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Uplink {
    pub network_id: String,
    pub interface: String,
}

/// A port's tap moved into its network's namespace and enslaved to its bridge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attachment {
    pub port_id: String,
    pub device: String,
}

/// One fixed DHCP lease.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DhcpHost {
    pub mac: String,
    pub hostname: String,
    pub address: String,
}

/// One DHCP server for one network, listening on the gateway address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dhcp {
    pub network_id: String,
    pub range_start: String,
    pub range_end: String,
    pub lease_seconds: u32,
    pub router: Option<String>,
    pub dns: Vec<String>,
    pub domain: String,
    pub hosts: Vec<DhcpHost>,
}

/// Traffic a port accepts (ingress) or may send (egress), besides established flows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Flow {
    pub direction: Direction,
    pub protocol: Option<String>,
    pub port_min: Option<u16>,
    pub port_max: Option<u16>,
    pub icmp_type: Option<u8>,
    pub icmp_code: Option<u8>,
    /// Remote CIDRs the flow is for; empty: any.
    pub remotes: Vec<String>,
}

/// A port's filter: anti-spoofing (`mac`, `addresses`) and stateful flows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortFilter {
    pub port_id: String,
    pub mac: String,
    pub addresses: Vec<String>,
    pub flows: Vec<Flow>,
}

/// Address translation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Nat {
    /// A floating address in front of a port's fixed address.
    Floating(Floating),
    /// The network's (by id) outbound traffic leaves as the namespace's public address.
    Masquerade(String),
}

/// Guest requests to 169.254.169.254:80 on a network reach the host's metadata proxy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    pub network_id: String,
}

/// The whole state a driver wants on the host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub bridges: Vec<Bridge>,
    pub segments: Vec<Segment>,
    pub uplinks: Vec<Uplink>,
    pub attachments: Vec<Attachment>,
    pub dhcp: Vec<Dhcp>,
    pub filters: Vec<PortFilter>,
    pub nat: Vec<Nat>,
    pub metadata: Vec<Metadata>,
}
