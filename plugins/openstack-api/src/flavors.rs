//! Flavors: listing with Nova's filters and paging, extra specs and access lists.

use crate::bindings::metacloud::api::compute;
use crate::bindings::metacloud::api::types::Flavor;
use crate::microversion::{since, Change};
use crate::{views, Fault, NovaRequest, Reply, Request};
use serde_json::{json, Map, Value};

/// The flavors a listing shows: `is_public` (admins only; default true, `none` = all),
/// `minRam`, `minDisk`, then `marker` and `limit`.
fn listed(r: &Request) -> Result<Vec<Flavor>, Fault> {
    let mut all = compute::list_flavors(r.caller()?)?;
    let public = if r.is_admin() {
        match r.query("is_public").map(str::to_ascii_lowercase).as_deref() {
            None | Some("true" | "t" | "1" | "yes" | "y" | "on") => Some(true),
            Some("none") => None,
            Some("false" | "f" | "0" | "no" | "n" | "off") => Some(false),
            Some(v) => {
                return Err(Fault::bad_request(format!(
                    "Invalid is_public filter [{v}]"
                )))
            }
        }
    } else {
        None // what the host returns is what the caller may see
    };
    if let Some(p) = public {
        all.retain(|f| f.is_public == p);
    }
    if let Some(min) = r.query_u64("minRam")? {
        all.retain(|f| f.ram_mb >= min);
    }
    if let Some(min) = r.query_u64("minDisk")? {
        all.retain(|f| f.disk_gb >= min);
    }
    Ok(r.page(all, |f| &f.id)?)
}

/// The flavors' descriptions, when the request shows them (2.55).
pub(crate) struct Descriptions(Option<std::collections::HashMap<String, String>>);

impl Descriptions {
    pub(crate) fn of(r: &Request) -> Result<Descriptions, Fault> {
        if !since(r, Change::FlavorDescription) {
            return Ok(Descriptions(None));
        }
        Ok(Descriptions(Some(
            compute::flavor_descriptions(r.caller()?)?
                .into_iter()
                .collect(),
        )))
    }

    /// `view` of flavor `id` with its `description` (null without one) when shown.
    pub(crate) fn add(&self, mut view: Value, id: &str) -> Value {
        if let Some(d) = &self.0 {
            view["description"] = json!(d.get(id));
        }
        view
    }
}

pub fn list(r: &Request) -> Result<Reply, Fault> {
    let d = Descriptions::of(r)?;
    let items: Vec<Value> = listed(r)?
        .iter()
        .map(|f| d.add(views::flavor_brief(r, f), &f.id))
        .collect();
    Ok(Reply::json(200, &json!({"flavors": items})))
}

pub fn list_detail(r: &Request) -> Result<Reply, Fault> {
    let d = Descriptions::of(r)?;
    let items: Vec<Value> = listed(r)?
        .iter()
        .map(|f| d.add(views::flavor(r, f), &f.id))
        .collect();
    Ok(Reply::json(200, &json!({"flavors": items})))
}

pub fn show(r: &Request) -> Result<Reply, Fault> {
    let f = compute::get_flavor(r.caller()?, r.param("flavor_id"))?;
    let view = Descriptions::of(r)?.add(views::flavor(r, &f), &f.id);
    Ok(Reply::json(200, &json!({ "flavor": view })))
}

/// A flavor's `description` in a body (2.55): a string of at most 65535 characters or
/// null; `None` when absent.
pub(crate) fn description_field(m: &Map<String, Value>) -> Result<Option<Option<String>>, Fault> {
    match m.get("description") {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(d))
            if d.chars().count() <= 65535 && !d.chars().any(char::is_control) =>
        {
            Ok(Some(Some(d.clone())))
        }
        Some(v) => Err(Fault::bad_request(format!(
            "Invalid input for field/attribute description. Value: {v}. It must be a string \
             of at most 65535 printable characters, or null"
        ))),
    }
}

/// The `flavor` object of a create or update body, or Nova's 400.
pub(crate) fn flavor_object(body: &Value) -> Result<&Map<String, Value>, Fault> {
    body.get("flavor")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            Fault::bad_request(
                "Invalid input for field/attribute flavor. 'flavor' is a required property",
            )
        })
}

/// `PUT /flavors/{id}` (2.55, admins): changes the description, the one thing of a
/// flavor that may change.
pub fn update(r: &Request) -> Result<Reply, Fault> {
    let body = r.body_json()?;
    let m = flavor_object(&body)?;
    if let Some(k) = m.keys().find(|k| k.as_str() != "description") {
        return Err(Fault::bad_request(format!("Invalid input for field/attribute flavor. Additional properties are not allowed ('{k}' was unexpected)")));
    }
    let description = description_field(m)?.ok_or_else(|| {
        Fault::bad_request(
            "Invalid input for field/attribute flavor. 'description' is a required property",
        )
    })?;
    let c = r.caller()?;
    let f = compute::get_flavor(c, r.param("flavor_id"))?;
    compute::set_flavor_description(c, &f.id, description.as_deref())?;
    let view = Descriptions::of(r)?.add(views::flavor(r, &f), &f.id);
    Ok(Reply::json(200, &json!({ "flavor": view })))
}

fn specs_body(specs: &[(String, String)]) -> Value {
    let m: Map<String, Value> = specs.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    Value::Object(m)
}

/// Extra spec values: strings, or numbers and booleans Nova turns into strings.
fn spec_pairs(v: Option<&Value>, field: &str) -> Result<Vec<(String, String)>, Fault> {
    let m = v.and_then(Value::as_object).ok_or_else(|| {
        Fault::bad_request(format!(
            "Invalid input for field/attribute {field}. '{field}' is a required property"
        ))
    })?;
    m.iter()
        .map(|(k, v)| {
            let value = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                other => {
                    return Err(Fault::bad_request(format!(
                        "Invalid input for field/attribute {k}. Value: {other}. {other} is not of type 'string', 'integer', 'number', 'boolean'"
                    )))
                }
            };
            if k.is_empty() || k.len() > 255 || value.len() > 255 {
                return Err(Fault::bad_request(format!(
                    "Invalid input for field/attribute {field}. Keys and values must be 1 to 255 characters"
                )));
            }
            Ok((k.clone(), value))
        })
        .collect()
}

/// From 2.86 each spec must pass Nova's validation of its namespace.
fn validated(r: &Request, specs: &[(String, String)]) -> Result<(), Fault> {
    if since(r, Change::ExtraSpecValidation) {
        for (k, v) in specs {
            crate::extra_specs::validate(k, v)?;
        }
    }
    Ok(())
}

pub fn list_extra_specs(r: &Request) -> Result<Reply, Fault> {
    let f = compute::get_flavor(r.caller()?, r.param("flavor_id"))?;
    Ok(Reply::json(
        200,
        &json!({"extra_specs": specs_body(&f.extra_specs)}),
    ))
}

pub fn create_extra_specs(r: &Request) -> Result<Reply, Fault> {
    let body = r.body_json()?;
    let specs = spec_pairs(body.get("extra_specs"), "extra_specs")?;
    validated(r, &specs)?;
    let all = compute::set_flavor_extra_specs(r.caller()?, r.param("flavor_id"), &specs)?;
    let shown: Vec<(String, String)> = all
        .into_iter()
        .filter(|(k, _)| specs.iter().any(|(s, _)| s == k))
        .collect();
    Ok(Reply::json(
        200,
        &json!({"extra_specs": specs_body(&shown)}),
    ))
}

pub fn show_extra_spec(r: &Request) -> Result<Reply, Fault> {
    let f = compute::get_flavor(r.caller()?, r.param("flavor_id"))?;
    let key = r.param("key");
    let (k, v) = f
        .extra_specs
        .iter()
        .find(|(k, _)| k == key)
        .ok_or_else(|| {
            Fault::not_found(format!(
                "Flavor {} has no extra specs with key {key}.",
                f.id
            ))
        })?;
    Ok(Reply::json(200, &json!({k.clone(): v})))
}

pub fn update_extra_spec(r: &Request) -> Result<Reply, Fault> {
    let body = r.body_json()?;
    let key = r.param("key");
    let obj = body
        .as_object()
        .ok_or_else(|| Fault::bad_request("Malformed request body"))?;
    if obj.len() != 1 {
        return Err(Fault::bad_request("Request body contains too many items"));
    }
    if !obj.contains_key(key) {
        return Err(Fault::bad_request("Request body and URI mismatch"));
    }
    let specs = spec_pairs(Some(&body), "extra_specs")?;
    validated(r, &specs)?;
    compute::set_flavor_extra_specs(r.caller()?, r.param("flavor_id"), &specs)?;
    Ok(Reply::json(200, &specs_body(&specs)))
}

pub fn delete_extra_spec(r: &Request) -> Result<Reply, Fault> {
    compute::delete_flavor_extra_spec(r.caller()?, r.param("flavor_id"), r.param("key"))?;
    Ok(Reply::empty(200))
}

fn access_body(flavor: &str, projects: &[String]) -> Value {
    let items: Vec<Value> = projects
        .iter()
        .map(|p| json!({"flavor_id": flavor, "tenant_id": p}))
        .collect();
    json!({"flavor_access": items})
}

pub fn list_access(r: &Request) -> Result<Reply, Fault> {
    let id = r.param("flavor_id");
    let projects = compute::list_flavor_access(r.caller()?, id)?;
    Ok(Reply::json(200, &access_body(id, &projects)))
}

/// `addTenantAccess` / `removeTenantAccess`.
pub fn action(r: &Request) -> Result<Reply, Fault> {
    let body = r.body_json()?;
    let id = r.param("flavor_id");
    let c = r.caller()?;
    let tenant = |args: &Value, action: &str| -> Result<String, Fault> {
        args.get("tenant")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(String::from)
            .ok_or_else(|| {
                Fault::bad_request(format!(
                    "Invalid input for field/attribute {action}. 'tenant' is a required property"
                ))
            })
    };
    let projects = if let Some(args) = body.get("addTenantAccess") {
        let project = tenant(args, "addTenantAccess")?;
        if since(r, Change::PublicFlavorAccessConflict) && compute::get_flavor(c, id)?.is_public {
            return Err(Fault::conflict("Can not add access to a public flavor."));
        }
        compute::add_flavor_access(c, id, &project)?
    } else if let Some(args) = body.get("removeTenantAccess") {
        compute::remove_flavor_access(c, id, &tenant(args, "removeTenantAccess")?)?
    } else {
        return Err(Fault::bad_request(
            "Invalid request body: addTenantAccess or removeTenantAccess expected",
        ));
    };
    Ok(Reply::json(200, &access_body(id, &projects)))
}
