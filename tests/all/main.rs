//! One integration-test binary for the whole workspace (as wasmtime's `tests/all`).

mod admin;
mod config_errors;
mod embedded;
mod multinode;
mod openstack;
mod plugins;
