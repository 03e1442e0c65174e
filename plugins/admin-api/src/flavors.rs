//! Flavors: every one (private ones included), created and deleted, their extra specs and
//! the projects a private one is shared with.

use crate::bindings::metacloud::api::compute;
use crate::bindings::metacloud::api::types::{Flavor, FlavorCreate};
use crate::{Fault, Reply, Request};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

fn specs(pairs: &[(String, String)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect()
}

fn view(f: &Flavor) -> Value {
    json!({
        "id": f.id,
        "name": f.name,
        "vcpus": f.vcpus,
        "ram_mb": f.ram_mb,
        "disk_gb": f.disk_gb,
        "ephemeral_gb": f.ephemeral_gb,
        "swap_mb": f.swap_mb,
        "is_public": f.is_public,
        "extra_specs": specs(&f.extra_specs),
    })
}

pub fn list(r: &Request) -> Result<Reply, Fault> {
    let items: Vec<Value> = compute::list_flavors(r.caller()?)?
        .iter()
        .map(view)
        .collect();
    Ok(Reply::json(200, &json!({ "flavors": items })))
}

pub fn show(r: &Request) -> Result<Reply, Fault> {
    let f = compute::get_flavor(r.caller()?, r.param("flavor_id"))?;
    Ok(Reply::json(200, &json!({ "flavor": view(&f) })))
}

fn default_public() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewFlavor {
    id: Option<String>,
    name: String,
    vcpus: u32,
    ram_mb: u64,
    disk_gb: u64,
    #[serde(default)]
    ephemeral_gb: u64,
    #[serde(default)]
    swap_mb: u64,
    #[serde(default = "default_public")]
    is_public: bool,
}

pub fn create(r: &Request) -> Result<Reply, Fault> {
    let f: NewFlavor = r.json()?;
    if f.name.trim().is_empty() || f.name.len() > 255 {
        return Err(Fault::bad_request("name must be 1 to 255 characters."));
    }
    if f.vcpus == 0 || f.ram_mb == 0 {
        return Err(Fault::bad_request("vcpus and ram_mb must be at least 1."));
    }
    let created = compute::create_flavor(
        r.caller()?,
        &FlavorCreate {
            id: f.id,
            name: f.name,
            vcpus: f.vcpus,
            ram_mb: f.ram_mb,
            disk_gb: f.disk_gb,
            ephemeral_gb: f.ephemeral_gb,
            swap_mb: f.swap_mb,
            is_public: f.is_public,
        },
    )?;
    Ok(Reply::json(201, &json!({ "flavor": view(&created) })))
}

pub fn delete(r: &Request) -> Result<Reply, Fault> {
    compute::delete_flavor(r.caller()?, r.param("flavor_id"))?;
    Ok(Reply::empty(204))
}

/// Merges the given specs into the flavor's; returns them all.
pub fn set_extra_specs(r: &Request) -> Result<Reply, Fault> {
    let given: BTreeMap<String, String> = r.json()?;
    if given.is_empty() {
        return Err(Fault::bad_request("No extra specs given."));
    }
    if let Some(k) = given.keys().find(|k| k.is_empty() || k.len() > 255) {
        return Err(Fault::bad_request(format!(
            "Extra spec key '{k}' must be 1 to 255 characters."
        )));
    }
    let pairs: Vec<(String, String)> = given.into_iter().collect();
    let all = compute::set_flavor_extra_specs(r.caller()?, r.param("flavor_id"), &pairs)?;
    Ok(Reply::json(200, &json!({ "extra_specs": specs(&all) })))
}

pub fn delete_extra_spec(r: &Request) -> Result<Reply, Fault> {
    compute::delete_flavor_extra_spec(r.caller()?, r.param("flavor_id"), r.param("key"))?;
    Ok(Reply::empty(204))
}

fn access_view(flavor: &str, projects: &[String]) -> Reply {
    Reply::json(200, &json!({"flavor_id": flavor, "projects": projects}))
}

pub fn list_access(r: &Request) -> Result<Reply, Fault> {
    let id = r.param("flavor_id");
    let projects = compute::list_flavor_access(r.caller()?, id)?;
    Ok(access_view(id, &projects))
}

pub fn add_access(r: &Request) -> Result<Reply, Fault> {
    let id = r.param("flavor_id");
    if compute::get_flavor(r.caller()?, id)?.is_public {
        return Err(Fault::conflict(format!(
            "Can not add access to a public flavor ({id})"
        )));
    }
    let projects = compute::add_flavor_access(r.caller()?, id, r.param("project_id"))?;
    Ok(access_view(id, &projects))
}

pub fn remove_access(r: &Request) -> Result<Reply, Fault> {
    let id = r.param("flavor_id");
    let projects = compute::remove_flavor_access(r.caller()?, id, r.param("project_id"))?;
    Ok(access_view(id, &projects))
}
