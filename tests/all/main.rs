//! One integration-test binary for the whole workspace (as wasmtime's `tests/all`).

mod admin;
mod certificates;
mod config_errors;
mod ec2;
mod embedded;
mod guests;
mod identity;
mod images;
mod metadata;
mod microversions;
mod multinode;
mod network_api;
mod network_worker;
mod networks;
mod openstack;
mod plugins;
