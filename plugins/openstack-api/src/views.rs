//! Nova's JSON views of flavors and servers, by microversion.

use crate::bindings::metacloud::api::types::{
    Flavor, Server, ServerExtra, ServerNetworkInfo, ServerPage,
};
use crate::microversion::{since, Change};
use crate::{time, NovaRequest, Request};
use metacloud_page::PageError;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha224};

/// `self` and `bookmark` links of a resource.
pub fn links(r: &Request, kind: &str, id: &str) -> Value {
    json!([
        {"rel": "self", "href": format!("{}/v2.1/{kind}/{id}", r.origin())},
        {"rel": "bookmark", "href": format!("{}/{kind}/{id}", r.origin())},
    ])
}

pub fn flavor_brief(r: &Request, f: &Flavor) -> Value {
    json!({"id": f.id, "name": f.name, "links": links(r, "flavors", &f.id)})
}

pub fn flavor(r: &Request, f: &Flavor) -> Value {
    let mut v = json!({
        "id": f.id,
        "name": f.name,
        "ram": f.ram_mb,
        "vcpus": f.vcpus,
        "disk": f.disk_gb,
        "OS-FLV-EXT-DATA:ephemeral": f.ephemeral_gb,
        "swap": if f.swap_mb == 0 && !since(r, Change::SwapZero) { json!("") } else { json!(f.swap_mb) },
        "rxtx_factor": 1.0,
        "os-flavor-access:is_public": f.is_public,
        "OS-FLV-DISABLED:disabled": false,
        "links": links(r, "flavors", &f.id),
    });
    if since(r, Change::FlavorExtraSpecs) {
        let specs: Map<String, Value> = f
            .extra_specs
            .iter()
            .map(|(k, s)| (k.clone(), json!(s)))
            .collect();
        v["extra_specs"] = Value::Object(specs);
    }
    v
}

/// Nova's status from vm_state and task_state.
/// Whether Nova shows `progress` for a server in `status` (only while it may progress).
pub fn shows_progress(status: &str) -> bool {
    matches!(
        status,
        "ACTIVE" | "BUILD" | "REBUILD" | "RESIZE" | "VERIFY_RESIZE" | "MIGRATING"
    )
}

pub fn status(vm_state: &str, task_state: Option<&str>) -> &'static str {
    match (vm_state, task_state) {
        (_, Some("rebuilding")) => "REBUILD",
        ("resized", Some("resize_reverting")) => "REVERT_RESIZE",
        ("resized", _) => "VERIFY_RESIZE",
        ("active" | "stopped", Some(t)) if t.starts_with("resize_") => "RESIZE",
        ("active", Some("rebooting")) => "REBOOT",
        ("active", Some("rebooting_hard")) => "HARD_REBOOT",
        ("active", _) => "ACTIVE",
        ("building", _) => "BUILD",
        ("stopped", _) => "SHUTOFF",
        ("paused", _) => "PAUSED",
        ("suspended", _) => "SUSPENDED",
        ("error", _) => "ERROR",
        ("deleted", _) => "DELETED",
        _ => "UNKNOWN",
    }
}

/// Nova's `hostId`: the host hashed with the project, so projects cannot correlate hosts.
/// A listing asks for the same few pairs again and again: they are hashed once per plugin
/// instance (which lives for one request).
fn host_id(project: &str, host: Option<&str>) -> String {
    let id = host_id_of(project, host);
    if id.1 {
        String::from_utf8_lossy(&id.0).into_owned()
    } else {
        String::new()
    }
}

fn host_id_of(project: &str, host: Option<&str>) -> HostId {
    thread_local! {
        static SEEN: std::cell::RefCell<Vec<(String, String, HostId)>> =
            const { std::cell::RefCell::new(Vec::new()) };
    }
    let Some(h) = host.filter(|h| !h.is_empty()) else {
        return HostId([0; 56], false);
    };
    SEEN.with(|seen| {
        let mut seen = seen.borrow_mut();
        if let Some((_, _, id)) = seen.iter().find(|(p, x, _)| p == project && x == h) {
            return *id;
        }
        let mut hasher = Sha224::new();
        hasher.update(project.as_bytes());
        hasher.update(h.as_bytes());
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut id = [0u8; 56];
        for (i, b) in hasher.finalize().iter().enumerate() {
            id[2 * i] = HEX[(b >> 4) as usize];
            id[2 * i + 1] = HEX[(b & 15) as usize];
        }
        let id = HostId(id, true);
        if seen.len() < 64 {
            seen.push((project.to_string(), h.to_string(), id));
        }
        id
    })
}

pub fn server_brief(r: &Request, s: &Server) -> Value {
    json!({"id": s.id, "name": s.name, "links": links(r, "servers", &s.id)})
}

pub fn server(r: &Request, s: &Server) -> Value {
    server_with(r, s, None)
}

/// A server with its addresses and security groups (`net`; none: no addresses, `default`).
pub fn server_with(r: &Request, s: &Server, net: Option<&ServerNetworkInfo>) -> Value {
    server_full(r, s, net, None)
}

/// [`server_with`] and the attributes of later microversions (`extra`), as the detailed
/// listing answers.
pub fn server_full(
    r: &Request,
    s: &Server,
    net: Option<&ServerNetworkInfo>,
    extra: Option<&ServerExtra>,
) -> Value {
    server_as(r, s, net, extra, Shape::Full)
}

/// The document of `show`: [`server_full`] and, from 2.71, the server's groups.
pub fn server_show(
    r: &Request,
    s: &Server,
    net: Option<&ServerNetworkInfo>,
    extra: Option<&ServerExtra>,
) -> Value {
    server_as(r, s, net, extra, Shape::Show)
}

/// The server document of an update or a rebuild: before 2.75 without the extension
/// attributes, addresses as `addr` and `version` only (Nova's `extend_address=False`);
/// from 2.75 the whole server, as `show` answers.
pub fn server_basic(
    r: &Request,
    s: &Server,
    net: Option<&ServerNetworkInfo>,
    extra: Option<&ServerExtra>,
) -> Value {
    if since(r, Change::WholeServerOnUpdate) {
        return server_show(r, s, net, extra);
    }
    let mut v = server_as(r, s, net, extra, Shape::Basic);
    strip_extensions(&mut v);
    v
}

fn strip_extensions(view: &mut Value) {
    let Some(m) = view.as_object_mut() else {
        return;
    };
    m.retain(|k, _| {
        !(k.starts_with("OS-EXT-")
            || k.starts_with("OS-SRV-USG:")
            || k.starts_with("os-extended-volumes")
            || matches!(k.as_str(), "config_drive" | "key_name" | "security_groups"))
    });
    for list in m
        .get_mut("addresses")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|a| a.values_mut())
    {
        for a in list.as_array_mut().into_iter().flatten() {
            if let Some(a) = a.as_object_mut() {
                a.retain(|k, _| k == "addr" || k == "version");
            }
        }
    }
}

fn server_as(
    r: &Request,
    s: &Server,
    net: Option<&ServerNetworkInfo>,
    extra: Option<&ServerExtra>,
    shape: Shape,
) -> Value {
    let metadata: Map<String, Value> = s
        .metadata
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let image = match &s.image_id {
        Some(id) => {
            json!({"id": id, "links": [{"rel": "bookmark", "href": format!("{}/images/{id}", r.origin())}]})
        }
        None => json!(""),
    };
    let mut v = json!({
        "id": s.id,
        "name": s.name,
        "status": status(&s.vm_state, s.task_state.as_deref()),
        "tenant_id": s.project_id,
        "user_id": s.user_id,
        "metadata": metadata,
        "hostId": host_id(&s.project_id, s.host.as_deref()),
        "image": image,
        "flavor": {"id": s.flavor.id, "links": [{"rel": "bookmark", "href": format!("{}/flavors/{}", r.origin(), s.flavor.id)}]},
        "created": time::format(s.created_at),
        "updated": time::format(s.updated_at),
        "addresses": crate::network::addresses(net),
        "accessIPv4": s.access_ipv4,
        "accessIPv6": s.access_ipv6,
        "links": links(r, "servers", &s.id),
        "OS-DCF:diskConfig": "MANUAL",
        "progress": 0,
        "OS-EXT-AZ:availability_zone": s.availability_zone.clone().unwrap_or_else(|| "nova".into()),
        "config_drive": "",
        "key_name": s.key_name,
        "OS-SRV-USG:launched_at": s.launched_at.map(time::format_micro),
        "OS-SRV-USG:terminated_at": s.terminated_at.map(time::format_micro),
        "OS-EXT-STS:task_state": s.task_state,
        "OS-EXT-STS:vm_state": s.vm_state,
        "OS-EXT-STS:power_state": s.power_state,
        "os-extended-volumes:volumes_attached": [],
        "security_groups": crate::network::group_names(net),
    });
    if !shows_progress(status(&s.vm_state, s.task_state.as_deref())) {
        if let Some(m) = v.as_object_mut() {
            m.remove("progress");
        }
    }
    if Groups(net).is_empty() {
        if let Some(m) = v.as_object_mut() {
            m.remove("security_groups");
        }
    }
    if r.is_admin() {
        v["OS-EXT-SRV-ATTR:host"] = json!(s.host);
        v["OS-EXT-SRV-ATTR:hypervisor_hostname"] = json!(s.host);
        v["OS-EXT-SRV-ATTR:instance_name"] =
            json!(format!("instance-{}", &s.id[..8.min(s.id.len())]));
    }
    if since(r, Change::ServerLocked) {
        v["locked"] = json!(s.locked);
    }
    if let (Ok(Value::Object(fields)), Some(m)) = (
        serde_json::to_value(Later::shown(r, extra, shape)),
        v.as_object_mut(),
    ) {
        m.extend(fields);
    }
    if let Some(f) = EmbeddedFlavor::shown(r, extra) {
        v["flavor"] = serde_json::to_value(f).unwrap_or(Value::Null);
    }
    if let Some(f) = &s.fault {
        v["fault"] =
            json!({"code": f.code, "message": f.message, "created": time::format(f.created_at)});
    }
    v
}

/// A password for the reply to a create (nothing sets it in the guest yet).
pub fn admin_pass(seed: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::new();
    for _ in 0..2 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write(seed.as_bytes());
        out.push_str(&format!("{:08x}", h.finish() as u32));
    }
    out
}

/// A server at 2.1, serialised field by field (the listing's fast path; `server` builds the
/// same document as a `Value`).
#[derive(serde::Serialize)]
pub struct ServerView<'a> {
    id: &'a str,
    name: &'a str,
    status: &'static str,
    tenant_id: &'a str,
    user_id: &'a str,
    metadata: Pairs<'a>,
    #[serde(rename = "hostId")]
    host_id: HostId,
    image: ImageRef<'a>,
    flavor: FlavorView<'a>,
    created: time::Iso,
    updated: time::Iso,
    addresses: Addresses<'a>,
    #[serde(rename = "accessIPv4")]
    access_ipv4: &'a str,
    #[serde(rename = "accessIPv6")]
    access_ipv6: &'a str,
    links: [Link<'a>; 2],
    #[serde(rename = "OS-DCF:diskConfig")]
    disk_config: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    progress: Option<u8>,
    #[serde(rename = "OS-EXT-AZ:availability_zone")]
    az: &'a str,
    config_drive: &'static str,
    key_name: Option<&'a str>,
    #[serde(rename = "OS-SRV-USG:launched_at")]
    launched_at: Option<time::IsoMicro>,
    #[serde(rename = "OS-SRV-USG:terminated_at")]
    terminated_at: Option<time::IsoMicro>,
    #[serde(rename = "OS-EXT-STS:task_state")]
    task_state: Option<&'a str>,
    #[serde(rename = "OS-EXT-STS:vm_state")]
    vm_state: &'a str,
    #[serde(rename = "OS-EXT-STS:power_state")]
    power_state: u8,
    #[serde(rename = "os-extended-volumes:volumes_attached")]
    volumes: [Empty; 0],
    #[serde(skip_serializing_if = "Groups::is_empty")]
    security_groups: Groups<'a>,
    #[serde(
        rename = "OS-EXT-SRV-ATTR:host",
        skip_serializing_if = "Option::is_none"
    )]
    attr_host: Option<Option<&'a str>>,
    #[serde(
        rename = "OS-EXT-SRV-ATTR:hypervisor_hostname",
        skip_serializing_if = "Option::is_none"
    )]
    attr_hypervisor: Option<Option<&'a str>>,
    #[serde(
        rename = "OS-EXT-SRV-ATTR:instance_name",
        skip_serializing_if = "Option::is_none"
    )]
    attr_instance: Option<String>,
    /// From 2.9.
    #[serde(skip_serializing_if = "Option::is_none")]
    locked: Option<bool>,
    /// What microversions after 2.9 add.
    #[serde(flatten)]
    later: Later<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fault: Option<FaultView<'a>>,
}

/// The root device of every guest (libvirt's first virtio disk).
pub const ROOT_DEVICE: &str = "/dev/vda";

/// The extended server attributes admins see from 2.3 on. Kernel and ramdisk ids are
/// empty: guests boot their image's own kernel.
#[derive(serde::Serialize)]
pub struct Extended<'a> {
    #[serde(rename = "OS-EXT-SRV-ATTR:reservation_id")]
    reservation_id: &'a str,
    #[serde(rename = "OS-EXT-SRV-ATTR:launch_index")]
    launch_index: u32,
    #[serde(rename = "OS-EXT-SRV-ATTR:kernel_id")]
    kernel_id: &'static str,
    #[serde(rename = "OS-EXT-SRV-ATTR:ramdisk_id")]
    ramdisk_id: &'static str,
    #[serde(rename = "OS-EXT-SRV-ATTR:hostname")]
    hostname: &'a str,
    #[serde(rename = "OS-EXT-SRV-ATTR:root_device_name")]
    root_device_name: &'static str,
    #[serde(rename = "OS-EXT-SRV-ATTR:user_data")]
    user_data: Option<&'a str>,
}

/// Which server document: the detailed listing's, `show`'s, or an update's or rebuild's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Full,
    Show,
    Basic,
}

/// What microversions after 2.9 add to a server document, as the request's version and
/// role show it (each field absent before its version; a server without `extra` shows
/// the defaults).
#[derive(serde::Serialize, Default)]
pub struct Later<'a> {
    /// 2.3's extended attributes (admins).
    #[serde(flatten)]
    extended: Option<Extended<'a>>,
    /// 2.16 (admins, full documents).
    #[serde(skip_serializing_if = "Option::is_none")]
    host_status: Option<&'a str>,
    /// 2.19.
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<Option<&'a str>>,
    /// 2.26.
    #[serde(skip_serializing_if = "Option::is_none")]
    tags: Option<&'a [String]>,
    /// 2.63: always null (image signatures are not verified here, so none are kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    trusted_image_certificates: Option<Option<[&'a str; 0]>>,
    /// 2.71 (show, update, rebuild; not the listing).
    #[serde(skip_serializing_if = "Option::is_none")]
    server_groups: Option<&'a [String]>,
    /// 2.73.
    #[serde(skip_serializing_if = "Option::is_none")]
    locked_reason: Option<Option<&'a str>>,
    /// 2.90: the hostname for every reader (admins have it among the extended
    /// attributes already).
    #[serde(
        rename = "OS-EXT-SRV-ATTR:hostname",
        skip_serializing_if = "Option::is_none"
    )]
    hostname: Option<&'a str>,
}

impl<'a> Later<'a> {
    pub fn shown(r: &Request, extra: Option<&'a ServerExtra>, shape: Shape) -> Later<'a> {
        let full = shape != Shape::Basic;
        let admin = r.is_admin();
        Later {
            extended: if full {
                Extended::shown(r, extra)
            } else {
                None
            },
            host_status: (full && admin && since(r, Change::HostStatus))
                .then(|| extra.map_or("", |e| e.host_status.as_str())),
            description: since(r, Change::ServerDescription)
                .then(|| extra.and_then(|e| e.description.as_deref())),
            tags: since(r, Change::ServerTags)
                .then(|| extra.map_or(&[][..], |e| e.tags.as_slice())),
            trusted_image_certificates: since(r, Change::TrustedCertificates).then_some(None),
            server_groups: (shape != Shape::Full && since(r, Change::ServerGroupsInServer))
                .then(|| extra.map_or(&[][..], |e| e.server_groups.as_slice())),
            locked_reason: since(r, Change::LockedReason)
                .then(|| extra.and_then(|e| e.locked_reason.as_deref())),
            hostname: (!admin && since(r, Change::Hostname))
                .then(|| extra.map_or("", |e| e.hostname.as_str())),
        }
    }

    /// Whether the request shows any of it (else no `servers-extra` call is needed).
    pub fn wanted(r: &Request) -> bool {
        (r.is_admin() && since(r, Change::ExtendedServerAttributes))
            || (r.is_admin() && since(r, Change::HostStatus))
            || since(r, Change::ServerDescription)
    }

    /// Appends the fields, each after a comma, to a JSON object being written.
    fn write_json(&self, out: &mut Vec<u8>) {
        let start = out.len();
        if serde_json::to_writer(&mut *out, self).is_err() || out.len() - start <= 2 {
            out.truncate(start);
            return;
        }
        // `{…}` becomes `,…`.
        out[start] = b',';
        out.pop();
    }
}

impl<'a> Extended<'a> {
    /// The attributes of `extra` when the request shows them (an admin at 2.3 or later).
    pub fn shown(r: &Request, extra: Option<&'a ServerExtra>) -> Option<Extended<'a>> {
        let e = extra?;
        (r.is_admin() && since(r, Change::ExtendedServerAttributes)).then_some(Extended {
            reservation_id: &e.reservation_id,
            launch_index: e.launch_index,
            kernel_id: "",
            ramdisk_id: "",
            hostname: &e.hostname,
            root_device_name: ROOT_DEVICE,
            user_data: e.user_data.as_deref(),
        })
    }
}

/// Appends `s` escaped for a JSON string, without the quotes. Most strings need no
/// escape: they are copied whole.
fn push_escaped(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => {
                let hex = b"0123456789abcdef";
                out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    hex[(b >> 4) as usize],
                    hex[(b & 15) as usize],
                ]);
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Appends `s` as a JSON string (quotes and escapes included).
fn push_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    push_escaped(out, s);
    out.push(b'"');
}

/// Appends an integer.
fn push_int(out: &mut Vec<u8>, n: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

fn push_opt(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => push_str(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

impl ServerView<'_> {
    /// Writes the view as JSON straight into `out`: the same document serde would write,
    /// without its per-field machinery (the listing's hot path; tests compare both).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let link = |out: &mut Vec<u8>, h: &Href, rel: &str| {
            out.extend_from_slice(b"{\"href\":\"");
            // Each part escaped (ids come from the host), written in place.
            out.extend_from_slice(b"http://");
            push_escaped(out, h.host);
            if h.versioned {
                out.extend_from_slice(b"/v2.1");
            }
            out.push(b'/');
            push_escaped(out, h.kind);
            out.push(b'/');
            push_escaped(out, h.id);
            out.extend_from_slice(b"\",\"rel\":");
            push_str(out, rel);
            out.push(b'}');
        };
        out.extend_from_slice(b"{\"id\":");
        push_str(out, self.id);
        out.extend_from_slice(b",\"name\":");
        push_str(out, self.name);
        out.extend_from_slice(b",\"status\":");
        push_str(out, self.status);
        out.extend_from_slice(b",\"tenant_id\":");
        push_str(out, self.tenant_id);
        out.extend_from_slice(b",\"user_id\":");
        push_str(out, self.user_id);
        out.extend_from_slice(b",\"metadata\":{");
        for (i, (k, v)) in self.metadata.0.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_str(out, k);
            out.push(b':');
            push_str(out, v);
        }
        out.extend_from_slice(b"},\"hostId\":");
        push_str(
            out,
            if self.host_id.1 {
                std::str::from_utf8(&self.host_id.0).unwrap_or_default()
            } else {
                ""
            },
        );
        out.extend_from_slice(b",\"image\":");
        match &self.image {
            ImageRef::None(s) => push_str(out, s),
            ImageRef::Some { id, links } => {
                out.extend_from_slice(b"{\"id\":");
                push_str(out, id);
                out.extend_from_slice(b",\"links\":[");
                link(out, &links[0].href, links[0].rel);
                out.extend_from_slice(b"]}");
            }
        }
        match &self.flavor {
            FlavorView::Linked(f) => {
                out.extend_from_slice(b",\"flavor\":{\"id\":");
                push_str(out, f.id);
                out.extend_from_slice(b",\"links\":[");
                link(out, &f.links[0].href, f.links[0].rel);
                out.extend_from_slice(b"]}");
            }
            FlavorView::Embedded(f) => {
                out.extend_from_slice(b",\"flavor\":");
                if serde_json::to_writer(&mut *out, f).is_err() {
                    out.extend_from_slice(b"null");
                }
            }
        }
        out.extend_from_slice(b",\"created\":");
        self.created.push_json(out);
        out.extend_from_slice(b",\"updated\":");
        self.updated.push_json(out);
        out.extend_from_slice(b",\"addresses\":{");
        for (i, (label, list)) in by_network(self.addresses.0).iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_str(out, label);
            out.extend_from_slice(b":[");
            for (j, a) in list.iter().enumerate() {
                if j > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(b"{\"version\":");
                push_int(out, a.version);
                out.extend_from_slice(b",\"addr\":");
                push_str(out, &a.addr);
                out.extend_from_slice(b",\"OS-EXT-IPS:type\":");
                push_str(out, &a.kind);
                out.extend_from_slice(b",\"OS-EXT-IPS-MAC:mac_addr\":");
                push_str(out, &a.mac);
                out.push(b'}');
            }
            out.push(b']');
        }
        out.extend_from_slice(b"},\"accessIPv4\":");
        push_str(out, self.access_ipv4);
        out.extend_from_slice(b",\"accessIPv6\":");
        push_str(out, self.access_ipv6);
        out.extend_from_slice(b",\"links\":[");
        link(out, &self.links[0].href, self.links[0].rel);
        out.push(b',');
        link(out, &self.links[1].href, self.links[1].rel);
        out.extend_from_slice(b"],\"OS-DCF:diskConfig\":\"MANUAL\",");
        if self.progress.is_some() {
            out.extend_from_slice(b"\"progress\":0,");
        }
        out.extend_from_slice(b"\"OS-EXT-AZ:availability_zone\":");
        push_str(out, self.az);
        out.extend_from_slice(b",\"config_drive\":\"\",\"key_name\":");
        push_opt(out, self.key_name);
        out.extend_from_slice(b",\"OS-SRV-USG:launched_at\":");
        match self.launched_at {
            Some(t) => t.push_json(out),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"OS-SRV-USG:terminated_at\":");
        match self.terminated_at {
            Some(t) => t.push_json(out),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"OS-EXT-STS:task_state\":");
        push_opt(out, self.task_state);
        out.extend_from_slice(b",\"OS-EXT-STS:vm_state\":");
        push_str(out, self.vm_state);
        out.extend_from_slice(b",\"OS-EXT-STS:power_state\":");
        push_int(out, self.power_state);
        out.extend_from_slice(b",\"os-extended-volumes:volumes_attached\":[]");
        if !self.security_groups.is_empty() {
            out.extend_from_slice(b",\"security_groups\":[");
            match self.security_groups.0 {
                Some(net) => {
                    for (i, n) in net.security_groups.iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        out.extend_from_slice(b"{\"name\":");
                        push_str(out, n);
                        out.push(b'}');
                    }
                }
                None => out.extend_from_slice(b"{\"name\":\"default\"}"),
            }
            out.push(b']');
        }
        if let Some(h) = self.attr_host {
            out.extend_from_slice(b",\"OS-EXT-SRV-ATTR:host\":");
            push_opt(out, h);
        }
        if let Some(h) = self.attr_hypervisor {
            out.extend_from_slice(b",\"OS-EXT-SRV-ATTR:hypervisor_hostname\":");
            push_opt(out, h);
        }
        if let Some(n) = &self.attr_instance {
            out.extend_from_slice(b",\"OS-EXT-SRV-ATTR:instance_name\":");
            push_str(out, n);
        }
        if let Some(locked) = self.locked {
            out.extend_from_slice(if locked {
                b",\"locked\":true"
            } else {
                b",\"locked\":false"
            });
        }
        self.later.write_json(out);
        if let Some(f) = &self.fault {
            out.extend_from_slice(b",\"fault\":{\"code\":");
            push_int(out, f.code);
            out.extend_from_slice(b",\"message\":");
            push_str(out, f.message);
            out.extend_from_slice(b",\"created\":");
            push_str(out, &f.created);
            out.push(b'}');
        }
        out.push(b'}');
    }
}

#[derive(serde::Serialize)]
pub struct Empty {}

/// A server's addresses grouped by network label, in order of first appearance.
fn by_network(
    net: Option<&ServerNetworkInfo>,
) -> Vec<(
    &str,
    Vec<&crate::bindings::metacloud::api::types::ServerAddress>,
)> {
    let mut out: Vec<(&str, Vec<_>)> = Vec::new();
    if let Some(n) = net {
        for a in &n.addresses {
            match out.iter_mut().find(|(l, _)| *l == a.network) {
                Some((_, list)) => list.push(a),
                None => out.push((&a.network, vec![a])),
            }
        }
    }
    out
}

/// `addresses` of a server view.
pub struct Addresses<'a>(Option<&'a ServerNetworkInfo>);

impl serde::Serialize for Addresses<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        crate::network::addresses(self.0).serialize(s)
    }
}

/// `security_groups` of a server view. A server in no group has no `security_groups` key,
/// as Nova shows it.
pub struct Groups<'a>(Option<&'a ServerNetworkInfo>);

impl Groups<'_> {
    fn is_empty(&self) -> bool {
        self.0.is_some_and(|n| n.security_groups.is_empty())
    }
}

impl serde::Serialize for Groups<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        crate::network::group_names(self.0).serialize(s)
    }
}

/// `http://{host}[/v2.1]/{kind}/{id}`, written straight into the output.
pub struct Href<'a> {
    host: &'a str,
    versioned: bool,
    kind: &'static str,
    id: &'a str,
}

impl serde::Serialize for Href<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = if self.versioned { "/v2.1" } else { "" };
        s.collect_str(&format_args!(
            "http://{}{v}/{}/{}",
            self.host, self.kind, self.id
        ))
    }
}

#[derive(serde::Serialize)]
pub struct Link<'a> {
    href: Href<'a>,
    rel: &'static str,
}

#[derive(serde::Serialize)]
pub struct Linked<'a> {
    id: &'a str,
    links: [Link<'a>; 1],
}

/// A server's flavor: its id and link, or (2.47) the flavor itself.
#[derive(serde::Serialize)]
#[serde(untagged)]
pub enum FlavorView<'a> {
    Linked(Linked<'a>),
    Embedded(EmbeddedFlavor<'a>),
}

/// The flavor embedded in a server from 2.47 (Nova's `original_name` and figures, with
/// its extra specs).
#[derive(serde::Serialize)]
pub struct EmbeddedFlavor<'a> {
    original_name: &'a str,
    vcpus: u32,
    ram: u64,
    disk: u64,
    ephemeral: u64,
    swap: u64,
    extra_specs: std::collections::BTreeMap<&'a str, &'a str>,
}

impl<'a> EmbeddedFlavor<'a> {
    /// The embedded flavor of `extra` when the request shows it (2.47 on).
    pub fn shown(r: &Request, extra: Option<&'a ServerExtra>) -> Option<EmbeddedFlavor<'a>> {
        let f = &extra?.flavor;
        since(r, Change::EmbeddedFlavor).then(|| EmbeddedFlavor {
            original_name: &f.name,
            vcpus: f.vcpus,
            ram: f.ram_mb,
            disk: f.disk_gb,
            ephemeral: f.ephemeral_gb,
            swap: f.swap_mb,
            extra_specs: f
                .extra_specs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
        })
    }
}

#[derive(serde::Serialize)]
#[serde(untagged)]
pub enum ImageRef<'a> {
    None(&'static str),
    Some { id: &'a str, links: [Link<'a>; 1] },
}

/// A `hostId`: 56 hex digits, or empty.
#[derive(Clone, Copy)]
pub struct HostId([u8; 56], bool);

impl serde::Serialize for HostId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let text = if self.1 {
            std::str::from_utf8(&self.0).unwrap_or_default()
        } else {
            ""
        };
        s.serialize_str(text)
    }
}

#[derive(serde::Serialize)]
pub struct FaultView<'a> {
    code: u32,
    message: &'a str,
    created: String,
}

/// Metadata pairs as a JSON object.
pub struct Pairs<'a>(&'a [(&'a str, &'a str)]);

impl serde::Serialize for Pairs<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// One server's fields, borrowed: straight out of a packed `server-page` (no copies), or
/// from a `server` record ([`row_of`]).
pub use metacloud_page::ServerRow;

/// The row of a `server` record (tests compare both paths; [`pack`] packs them).
pub fn row_of(s: &Server) -> ServerRow<'_> {
    ServerRow {
        id: &s.id,
        name: &s.name,
        project_id: &s.project_id,
        user_id: &s.user_id,
        flavor_id: &s.flavor.id,
        image_id: s.image_id.as_deref(),
        host: s.host.as_deref(),
        availability_zone: s.availability_zone.as_deref(),
        vm_state: &s.vm_state,
        task_state: s.task_state.as_deref(),
        key_name: s.key_name.as_deref(),
        access_ipv4: &s.access_ipv4,
        access_ipv6: &s.access_ipv6,
        metadata: s
            .metadata
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect(),
        created_at: s.created_at,
        updated_at: s.updated_at,
        launched_at: s.launched_at,
        terminated_at: s.terminated_at,
        power_state: s.power_state,
        fault: s
            .fault
            .as_ref()
            .map(|f| (f.code, f.message.as_str(), f.created_at)),
        locked: s.locked,
    }
}

/// The rows of a packed `server-page` (`metacloud_page`'s layout), borrowing its text; a
/// page that does not follow the layout is an error, never a panic.
pub fn unpack(page: &ServerPage) -> Result<Vec<ServerRow<'_>>, PageError> {
    metacloud_page::unpack(page.count, &page.text, &page.ends, &page.numbers)
}

impl<'a> ServerView<'a> {
    /// The view with the server's addresses and security groups.
    pub fn with_network(mut self, net: Option<&'a ServerNetworkInfo>) -> ServerView<'a> {
        self.addresses = Addresses(net);
        self.security_groups = Groups(net);
        self
    }

    /// With the attributes later microversions add (`extra` from `servers-extra`).
    pub fn with_extra(mut self, r: &Request, extra: Option<&'a ServerExtra>) -> ServerView<'a> {
        self.later = Later::shown(r, extra, Shape::Full);
        if let Some(f) = EmbeddedFlavor::shown(r, extra) {
            self.flavor = FlavorView::Embedded(f);
        }
        self
    }

    pub fn new(r: &'a Request, s: &'a ServerRow<'a>) -> ServerView<'a> {
        let admin = r.is_admin();
        let host = r.host();
        let href = |versioned, kind, id| Href {
            host,
            versioned,
            kind,
            id,
        };
        ServerView {
            id: s.id,
            name: s.name,
            status: status(s.vm_state, s.task_state),
            tenant_id: s.project_id,
            user_id: s.user_id,
            metadata: Pairs(&s.metadata),
            host_id: host_id_of(s.project_id, s.host),
            image: match s.image_id {
                Some(id) => ImageRef::Some {
                    id,
                    links: [Link {
                        href: href(false, "images", id),
                        rel: "bookmark",
                    }],
                },
                None => ImageRef::None(""),
            },
            flavor: FlavorView::Linked(Linked {
                id: s.flavor_id,
                links: [Link {
                    href: href(false, "flavors", s.flavor_id),
                    rel: "bookmark",
                }],
            }),
            created: time::Iso(s.created_at),
            updated: time::Iso(s.updated_at),
            addresses: Addresses(None),
            access_ipv4: s.access_ipv4,
            access_ipv6: s.access_ipv6,
            links: [
                Link {
                    href: href(true, "servers", s.id),
                    rel: "self",
                },
                Link {
                    href: href(false, "servers", s.id),
                    rel: "bookmark",
                },
            ],
            disk_config: "MANUAL",
            progress: shows_progress(status(s.vm_state, s.task_state)).then_some(0),
            az: s.availability_zone.unwrap_or("nova"),
            config_drive: "",
            key_name: s.key_name,
            launched_at: s.launched_at.map(time::IsoMicro),
            terminated_at: s.terminated_at.map(time::IsoMicro),
            task_state: s.task_state,
            vm_state: s.vm_state,
            power_state: s.power_state,
            volumes: [],
            security_groups: Groups(None),
            attr_host: admin.then_some(s.host),
            attr_hypervisor: admin.then_some(s.host),
            attr_instance: admin.then(|| format!("instance-{}", &s.id[..8.min(s.id.len())])),
            locked: since(r, Change::ServerLocked).then_some(s.locked),
            later: Later::default(),
            fault: s.fault.map(|(code, message, created)| FaultView {
                code,
                message,
                created: time::format(created),
            }),
        }
    }
}

/// Packs servers into a `server-page` as the host does (`metacloud_page::pack`): for
/// tests and the native shaping benchmark.
pub fn pack(servers: &[Server]) -> ServerPage {
    let p = metacloud_page::pack(servers.iter().map(row_of));
    ServerPage {
        count: p.count,
        text: p.text,
        ends: p.ends,
        numbers: p.numbers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::metacloud::api::types::{Caller, Fault};

    fn request(admin: bool) -> Request {
        Request::new("GET", "/")
            .with_header("host", "h:8774")
            .with_caller(Caller {
                user_id: "u".into(),
                user_name: "n".into(),
                project_id: "p".into(),
                project_name: "p".into(),
                roles: if admin {
                    vec!["admin".into()]
                } else {
                    vec!["member".into()]
                },
                request_id: "r".into(),
            })
    }

    fn sample(image: bool, fault: bool) -> Server {
        Server {
            id: "0123456789".into(),
            name: "n".into(),
            project_id: "p".into(),
            user_id: "u".into(),
            flavor: Flavor {
                id: "42".into(),
                name: "m1.nano".into(),
                vcpus: 1,
                ram_mb: 64,
                disk_gb: 0,
                ephemeral_gb: 0,
                swap_mb: 0,
                is_public: true,
                extra_specs: vec![],
            },
            image_id: image.then(|| "img".into()),
            host: Some("h1".into()),
            availability_zone: None,
            vm_state: "error".into(),
            task_state: Some("spawning".into()),
            power_state: 0,
            key_name: None,
            metadata: vec![("a".into(), "b".into())],
            reservation_id: "r".into(),
            created_at: 1_764_000_000_000,
            updated_at: 1_764_000_000_500,
            launched_at: Some(1_764_000_000_250),
            terminated_at: None,
            fault: fault.then(|| Fault {
                code: 500,
                message: "boom".into(),
                created_at: 1_764_000_000_400,
            }),
            locked: false,
            access_ipv4: if image {
                "192.0.2.1".into()
            } else {
                String::new()
            },
            access_ipv6: String::new(),
        }
    }

    #[test]
    fn host_ids_are_nova_s_hashes() {
        // sha224("proj" + "host-1"), as Nova computes it; twice (the second from the cache).
        for _ in 0..2 {
            assert_eq!(
                host_id("proj", Some("host-1")),
                "38093ffbad2bf3a815e2000271e4be428024508eaa1a3f1ef2368c02"
            );
        }
        assert_eq!(host_id("proj", None), "");
    }

    #[test]
    fn a_packed_page_gives_the_same_documents() {
        for admin in [false, true] {
            let r = request(admin);
            let servers = vec![sample(true, false), sample(false, true), sample(true, true)];
            let page = pack(&servers);
            let rows = unpack(&page).unwrap();
            assert_eq!(rows.len(), 3);
            for (row, s) in rows.iter().zip(&servers) {
                let fast = serde_json::to_value(ServerView::new(&r, row)).unwrap();
                assert_eq!(fast, server(&r, s), "admin {admin}");
            }
        }
    }

    #[test]
    fn the_hand_written_json_is_the_same_document() {
        for admin in [false, true] {
            let r = request(admin);
            let mut servers = vec![sample(true, false), sample(false, true), sample(true, true)];
            servers[0].name = "quote \" slash \\ tab \t nl \n bell \u{7} é".into();
            servers[1].metadata = vec![];
            for s in &servers {
                let row = row_of(s);
                let view = ServerView::new(&r, &row);
                let mut out = Vec::new();
                view.write_json(&mut out);
                let parsed: Value = serde_json::from_slice(&out).expect("valid JSON");
                assert_eq!(parsed, server(&r, s), "admin {admin}");
            }
        }
    }

    #[test]
    fn addresses_and_groups_are_the_same_in_both_paths() {
        use crate::bindings::metacloud::api::types::ServerAddress;
        let addr = |net: &str, a: &str, kind: &str| ServerAddress {
            network: net.into(),
            version: 4,
            addr: a.into(),
            kind: kind.into(),
            mac: "fa:16:3e:00:00:01".into(),
        };
        let net = ServerNetworkInfo {
            server_id: "0123456789".into(),
            addresses: vec![
                addr("private", "10.0.0.3", "fixed"),
                addr("private", "192.0.2.9", "floating"),
                addr("other \"net\"", "10.1.0.3", "fixed"),
            ],
            security_groups: vec!["default".into(), "web".into()],
        };
        let r = request(false);
        let s = sample(true, false);
        let row = row_of(&s);
        let view = ServerView::new(&r, &row).with_network(Some(&net));
        let mut out = Vec::new();
        view.write_json(&mut out);
        let parsed: Value = serde_json::from_slice(&out).expect("valid JSON");
        let full = server_with(&r, &s, Some(&net));
        assert_eq!(parsed, full);
        assert_eq!(serde_json::to_value(&view).unwrap(), full);
        assert_eq!(
            full["addresses"]["private"][1]["OS-EXT-IPS:type"],
            "floating"
        );
        assert_eq!(
            full["security_groups"],
            json!([{"name": "default"}, {"name": "web"}])
        );
        // In no group: no `security_groups` key at all, in every path.
        let none = ServerNetworkInfo {
            security_groups: vec![],
            ..net.clone()
        };
        let view = ServerView::new(&r, &row).with_network(Some(&none));
        let mut out = Vec::new();
        view.write_json(&mut out);
        let parsed: Value = serde_json::from_slice(&out).expect("valid JSON");
        let full = server_with(&r, &s, Some(&none));
        assert_eq!(parsed, full);
        assert_eq!(serde_json::to_value(&view).unwrap(), full);
        assert!(full.get("security_groups").is_none(), "{full}");
    }

    #[test]
    fn admins_see_the_extended_attributes_from_2_3_in_both_paths() {
        let extra = ServerExtra {
            id: "0123456789".into(),
            reservation_id: "r-1".into(),
            launch_index: 2,
            user_data: Some("IyEvYmluL3No".into()),
            hostname: "n".into(),
            host_status: "UP".into(),
            description: Some("said \"so\"".into()),
            tags: vec!["a".into(), "b/c".into()],
            flavor: sample(true, false).flavor,
            server_groups: Vec::new(),
            locked_reason: None,
        };
        let s = sample(true, false);
        let row = row_of(&s);
        for (admin, version, shown) in [
            (true, "2.3", true),
            (true, "2.2", false),
            (false, "2.3", false),
        ] {
            let r = request(admin).with_header("x-openstack-nova-api-version", version);
            let full = server_full(&r, &s, None, Some(&extra));
            let view = ServerView::new(&r, &row).with_extra(&r, Some(&extra));
            let mut out = Vec::new();
            view.write_json(&mut out);
            let parsed: Value = serde_json::from_slice(&out).expect("valid JSON");
            assert_eq!(parsed, full, "{admin} {version}");
            assert_eq!(serde_json::to_value(&view).unwrap(), full);
            let keys = [
                ("OS-EXT-SRV-ATTR:reservation_id", json!("r-1")),
                ("OS-EXT-SRV-ATTR:launch_index", json!(2)),
                ("OS-EXT-SRV-ATTR:kernel_id", json!("")),
                ("OS-EXT-SRV-ATTR:ramdisk_id", json!("")),
                ("OS-EXT-SRV-ATTR:hostname", json!("n")),
                ("OS-EXT-SRV-ATTR:root_device_name", json!("/dev/vda")),
                ("OS-EXT-SRV-ATTR:user_data", json!("IyEvYmluL3No")),
            ];
            for (k, v) in keys {
                assert_eq!(full.get(k), shown.then_some(&v), "{k} {admin} {version}");
            }
        }
    }

    #[test]
    fn later_fields_appear_at_their_versions_in_both_paths() {
        let extra = ServerExtra {
            id: "0123456789".into(),
            reservation_id: "r-1".into(),
            launch_index: 0,
            user_data: None,
            hostname: "n".into(),
            host_status: "MAINTENANCE".into(),
            description: Some("d".into()),
            tags: vec!["t".into()],
            flavor: Flavor {
                extra_specs: vec![("hw:cpu_policy".into(), "dedicated".into())],
                ..sample(true, false).flavor
            },
            server_groups: vec!["g-1".into()],
            locked_reason: Some("audit".into()),
        };
        let s = sample(true, false);
        let row = row_of(&s);
        for (admin, version, status, description, tags) in [
            (true, "2.15", false, false, false),
            (true, "2.16", true, false, false),
            (false, "2.16", false, false, false),
            (false, "2.19", false, true, false),
            (true, "2.26", true, true, true),
            (false, "2.26", false, true, true),
            (false, "2.47", false, true, true),
        ] {
            let r = request(admin).with_header("x-openstack-nova-api-version", version);
            let full = server_full(&r, &s, None, Some(&extra));
            let view = ServerView::new(&r, &row).with_extra(&r, Some(&extra));
            let mut out = Vec::new();
            view.write_json(&mut out);
            let parsed: Value = serde_json::from_slice(&out).expect("valid JSON");
            assert_eq!(parsed, full, "{admin} {version}");
            let at = format!("{admin} {version}");
            assert_eq!(full.get("host_status").is_some(), status, "{at}");
            assert_eq!(full.get("description").is_some(), description, "{at}");
            assert_eq!(full.get("tags").is_some(), tags, "{at}");
            // 2.47: the flavor itself instead of its id and link.
            let embedded = version == "2.47";
            assert_eq!(full["flavor"].get("id").is_none(), embedded, "{at}");
            if embedded {
                assert_eq!(
                    full["flavor"],
                    json!({"original_name": "m1.nano", "vcpus": 1, "ram": 64, "disk": 0,
                           "ephemeral": 0, "swap": 0,
                           "extra_specs": {"hw:cpu_policy": "dedicated"}})
                );
            }
            // An update's document: the description and tags, never the host's status.
            let basic = server_basic(&r, &s, None, Some(&extra));
            assert!(basic.get("host_status").is_none(), "{at}");
            assert_eq!(basic.get("description").is_some(), description, "{at}");
            assert_eq!(basic.get("tags").is_some(), tags, "{at}");
        }
        // 2.71: groups in show, update and rebuild, never in the listing; 2.73: the reason
        // everywhere; 2.75: an update's document is show's.
        for (version, groups, reason, whole) in [
            ("2.70", false, false, false),
            ("2.71", true, false, false),
            ("2.73", true, true, false),
            ("2.75", true, true, true),
        ] {
            let r = request(true).with_header("x-openstack-nova-api-version", version);
            let full = server_full(&r, &s, None, Some(&extra));
            let shown = server_show(&r, &s, None, Some(&extra));
            let basic = server_basic(&r, &s, None, Some(&extra));
            assert!(full.get("server_groups").is_none(), "{version}");
            for v in [&shown, &basic] {
                assert_eq!(
                    v.get("server_groups"),
                    groups.then(|| json!(["g-1"])).as_ref()
                );
                assert_eq!(
                    v.get("locked_reason"),
                    reason.then(|| json!("audit")).as_ref()
                );
            }
            assert_eq!(full.get("locked_reason").is_some(), reason, "{version}");
            assert_eq!(basic == shown, whole, "{version}");
            assert_eq!(
                basic.get("OS-EXT-SRV-ATTR:host").is_some(),
                whole,
                "{version}"
            );
        }
        // A server the host had no extra for shows the defaults.
        let r = request(false).with_header("x-openstack-nova-api-version", "2.26");
        let full = server_full(&r, &s, None, None);
        assert_eq!(
            (&full["description"], &full["tags"]),
            (&Value::Null, &json!([]))
        );
    }

    #[test]
    fn locked_is_shown_from_2_9_in_both_paths() {
        let mut s = sample(true, false);
        s.locked = true;
        let row = row_of(&s);
        for (version, shown) in [("2.8", None), ("2.9", Some(true))] {
            let r = request(false).with_header("x-openstack-nova-api-version", version);
            let full = server(&r, &s);
            let view = ServerView::new(&r, &row);
            let mut out = Vec::new();
            view.write_json(&mut out);
            let parsed: Value = serde_json::from_slice(&out).expect("valid JSON");
            assert_eq!(parsed, full, "{version}");
            assert_eq!(serde_json::to_value(&view).unwrap(), full);
            assert_eq!(
                full.get("locked").and_then(Value::as_bool),
                shown,
                "{version}"
            );
        }
    }

    #[test]
    fn a_malformed_page_is_an_error() {
        let mut page = pack(&[sample(true, true)]);
        page.count = 2;
        assert!(unpack(&page).is_err());
        let mut page = pack(&[sample(true, true)]);
        page.ends.truncate(3);
        assert!(unpack(&page).is_err());
        let mut page = pack(&[sample(true, true)]);
        page.ends[0] = u32::MAX;
        assert!(unpack(&page).is_err());
        let mut page = pack(&[sample(true, true)]);
        page.numbers[7] = -1;
        assert!(unpack(&page).is_err());
    }

    #[test]
    fn the_fast_view_is_the_same_document() {
        for admin in [false, true] {
            for image in [false, true] {
                for fault in [false, true] {
                    let r = request(admin);
                    let s = sample(image, fault);
                    let fast = serde_json::to_value(ServerView::new(&r, &row_of(&s))).unwrap();
                    assert_eq!(
                        fast,
                        server(&r, &s),
                        "admin {admin} image {image} fault {fault}"
                    );
                }
            }
        }
    }
}
