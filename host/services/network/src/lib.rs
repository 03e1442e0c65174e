//! The network worker (nova-network's role, with the driver as a plugin).
//!
//! The driver plugin turns the desired state of this host's networks into a declarative
//! plan; [`check`] refuses any plan that names an interface outside the configured patterns
//! or the operator's allow-list, an address outside its network, or a filter, DHCP entry or
//! NAT rule for a port the desired state does not have — before anything is applied.

pub mod apply;
pub mod check;
pub mod dnsmasq;
pub mod links;
pub mod netns;
pub mod nft;
pub mod proxy;
pub mod service;
pub mod worker;

pub use check::{Checked, Policy, Refusal};
