//! Flavor extra specs as Nova validates them from 2.86: a spec in a namespace Nova knows
//! must be one of its specs there, with a value of the spec's kind; specs in other
//! namespaces, and specs without one, are anyone's and pass.
//!
//! The table follows Nova's `nova/api/validation/extra_specs` (each spec's name and the
//! values it takes). Two namespaces Nova checks against outside lists are checked by
//! shape here: `trait*` (any upper-case trait name; `required` or `forbidden`) and
//! `resources*` (any upper-case resource class; an integer). The VMware and PowerVM
//! drivers' namespaces are not checked (no such driver here).

use crate::Fault;

/// What a spec's value must be.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Bool,
    /// An integer within the bounds.
    Int(Option<i64>, Option<i64>),
    /// Any string.
    Text,
    OneOf(&'static [&'static str]),
    /// A CPU list: `N`, `N-M` and `^N`, comma-separated.
    CpuMask,
    /// `small`, `large`, `any` or a size (`2048`, `2MB`, `1GiB`…).
    PageSize,
    /// Names of persistent memory namespaces, comma-separated.
    NameList,
    /// PCI aliases and counts: `alias:N[, alias:N]…`.
    PciAliases,
}

use Kind::*;

const NONE_MIN: Option<i64> = None;
const AT_LEAST_0: Option<i64> = Some(0);
const AT_LEAST_1: Option<i64> = Some(1);

/// Nova's specs with fixed names.
const SPECS: &[(&str, Kind)] = &[
    ("hw:cpu_realtime", Bool),
    ("hw:cpu_realtime_mask", CpuMask),
    ("hw:hide_hypervisor_id", Bool),
    ("hw:cpu_policy", OneOf(&["dedicated", "shared", "mixed"])),
    (
        "hw:cpu_thread_policy",
        OneOf(&["prefer", "isolate", "require"]),
    ),
    ("hw:emulator_threads_policy", OneOf(&["isolate", "share"])),
    ("hw:cpu_dedicated_mask", CpuMask),
    ("hw:mem_page_size", PageSize),
    ("hw:locked_memory", Bool),
    ("hw:numa_nodes", Int(AT_LEAST_1, None)),
    (
        "hw:pci_numa_affinity_policy",
        OneOf(&["required", "preferred", "legacy", "socket"]),
    ),
    ("hw:cpu_sockets", Int(AT_LEAST_1, None)),
    ("hw:cpu_cores", Int(AT_LEAST_1, None)),
    ("hw:cpu_threads", Int(AT_LEAST_1, None)),
    ("hw:cpu_max_sockets", Int(AT_LEAST_1, None)),
    ("hw:cpu_max_cores", Int(AT_LEAST_1, None)),
    ("hw:cpu_max_threads", Int(AT_LEAST_1, None)),
    ("hw:boot_menu", Bool),
    ("hw:vif_multiqueue_enabled", Bool),
    ("hw:mem_encryption", Bool),
    (
        "hw:mem_encryption_model",
        OneOf(&["amd-sev", "amd-sev-es", "amd-sev-snp"]),
    ),
    ("hw:pmem", NameList),
    ("hw:pmu", Bool),
    ("hw:serial_port_count", Int(AT_LEAST_0, None)),
    ("hw:tpm_model", OneOf(&["tpm-tis", "tpm-crb"])),
    ("hw:tpm_version", OneOf(&["1.2", "2.0"])),
    (
        "hw:tpm_secret_security",
        OneOf(&["user", "host", "deployment"]),
    ),
    (
        "hw:watchdog_action",
        OneOf(&["none", "pause", "poweroff", "reset", "disabled"]),
    ),
    (
        "hw:viommu_model",
        OneOf(&["intel", "smmuv3", "virtio", "auto"]),
    ),
    ("hw:virtio_packed_ring", Bool),
    (
        "hw:sound_model",
        OneOf(&[
            "sb16", "es1370", "pcspk", "ac97", "ich6", "ich9", "usb", "virtio",
        ]),
    ),
    ("hw:usb_model", OneOf(&["none", "nec-xhci", "qemu-xhci"])),
    ("hw:redirected_usb_ports", Int(AT_LEAST_0, Some(15))),
    ("hw:ephemeral_encryption", Bool),
    (
        "hw:ephemeral_encryption_format",
        OneOf(&["plain", "luks", "luksv2"]),
    ),
    ("hw_rng:allowed", Bool),
    ("hw_rng:rate_bytes", Int(AT_LEAST_0, None)),
    ("hw_rng:rate_period", Int(AT_LEAST_0, None)),
    ("hw_video:ram_max_mb", Int(AT_LEAST_0, None)),
    ("quota:cpu_shares", Int(AT_LEAST_0, None)),
    ("quota:cpu_period", Int(AT_LEAST_0, None)),
    ("quota:cpu_quota", Int(NONE_MIN, None)),
    ("os:secure_boot", OneOf(&["disabled", "required"])),
    ("accel:device_profile", Text),
    ("pci_passthrough:alias", PciAliases),
];

/// `quota:{cpu,memory,disk_io,vif}_{limit,reservation,shares_level,shares_share}`,
/// `quota:disk_{read,write,total}_{bytes,iops}_sec` and
/// `quota:vif_{inbound,outbound}_{average,peak,burst}`.
fn quota_kind(key: &str) -> Option<Kind> {
    if let Some(rest) = ["cpu_", "memory_", "disk_io_", "vif_"]
        .iter()
        .find_map(|p| key.strip_prefix(p))
    {
        match rest {
            "limit" | "shares_share" => return Some(Int(AT_LEAST_0, None)),
            "reservation" => return Some(Int(NONE_MIN, None)),
            "shares_level" => return Some(OneOf(&["custom", "high", "normal", "low"])),
            _ => {}
        }
    }
    for stat in ["read", "write", "total"] {
        for metric in ["bytes", "iops"] {
            if key == format!("disk_{stat}_{metric}_sec") {
                return Some(Int(AT_LEAST_0, None));
            }
        }
    }
    for stat in ["inbound", "outbound"] {
        for metric in ["average", "peak", "burst"] {
            if key == format!("vif_{stat}_{metric}") {
                return Some(Int(AT_LEAST_0, None));
            }
        }
    }
    None
}

/// A request group's number after a namespace (`resources1`, `trait2`): none or digits
/// not starting with 0.
fn group_suffix(ns: &str, base: &str) -> bool {
    ns.strip_prefix(base).is_some_and(|g| {
        g.is_empty() || (!g.starts_with('0') && g.bytes().all(|b| b.is_ascii_digit()))
    })
}

fn upper_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// The kind of a spec in a namespace Nova checks; `Err(())` for a name it does not know
/// there; `Ok(None)` for a spec it does not check.
fn kind_of(name: &str) -> Result<Option<Kind>, ()> {
    let Some((ns, key)) = name.split_once(':') else {
        return Ok(None);
    };
    if let Some((_, k)) = SPECS.iter().find(|(n, _)| *n == name) {
        return Ok(Some(*k));
    }
    match ns {
        "hw" => {
            // hw:numa_cpus.N and hw:numa_mem.N.
            let numbered = |prefix: &str| {
                key.strip_prefix(prefix)
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            };
            if numbered("numa_cpus.") {
                Ok(Some(CpuMask))
            } else if numbered("numa_mem.") {
                Ok(Some(Int(AT_LEAST_1, None)))
            } else {
                Err(())
            }
        }
        "quota" => quota_kind(key).map(Some).ok_or(()),
        "aggregate_instance_extra_specs" | "capabilities" => Ok(Some(Text)),
        "hw_rng" | "hw_video" | "os" | "accel" | "pci_passthrough" => Err(()),
        _ if group_suffix(ns, "resources") => {
            upper_name(key).then_some(Some(Int(None, None))).ok_or(())
        }
        _ if group_suffix(ns, "trait") => upper_name(key)
            .then_some(Some(OneOf(&["required", "forbidden"])))
            .ok_or(()),
        _ => Ok(None),
    }
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn cpu_mask(v: &str) -> bool {
    v.split(',').all(|item| {
        let item = item.strip_prefix('^').unwrap_or(item);
        match item.split_once('-') {
            Some((a, b)) => digits(a) && digits(b),
            None => digits(item),
        }
    })
}

fn page_size(v: &str) -> bool {
    if matches!(v, "large" | "small" | "any") {
        return true;
    }
    let n = v.bytes().take_while(u8::is_ascii_digit).count();
    if n == 0 {
        return false;
    }
    let mut rest = &v[n..];
    if let Some(r) = rest.strip_prefix(['k', 'K', 'M', 'G', 'T']) {
        rest = r.strip_prefix('i').unwrap_or(r);
    }
    matches!(rest, "" | "b" | "bit" | "B")
}

fn pci_aliases(v: &str) -> bool {
    v.split(',').all(|item| {
        item.trim().rsplit_once(':').is_some_and(|(alias, count)| {
            !alias.is_empty() && !alias.contains(':') && digits(count)
        })
    })
}

fn check_value(kind: Kind, value: &str) -> Result<(), String> {
    let ok = match kind {
        Bool => {
            if !matches!(
                value.to_ascii_lowercase().as_str(),
                "1" | "0" | "t" | "f" | "true" | "false" | "on" | "off" | "y" | "n" | "yes" | "no"
            ) {
                return Err(format!("'{value}' is not a valid boolean-like value."));
            }
            true
        }
        Int(min, max) => {
            let n: i64 = value
                .trim()
                .parse()
                .map_err(|_| format!("'{value}' is not a valid integer value."))?;
            if let Some(m) = max.filter(|m| n > *m) {
                return Err(format!("'{n}' is greater than the max value of '{m}'."));
            }
            if let Some(m) = min.filter(|m| n < *m) {
                return Err(format!("'{n}' is less than the min value of '{m}'."));
            }
            true
        }
        Text => true,
        OneOf(values) => {
            if !values.contains(&value) {
                return Err(format!("'{value}' is not one of: {}.", values.join(", ")));
            }
            true
        }
        CpuMask => cpu_mask(value),
        PageSize => page_size(value),
        NameList => {
            !value.is_empty()
                && !value.starts_with(',')
                && !value.contains(",,")
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b',')
        }
        PciAliases => pci_aliases(value),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("'{value}' is not of the expected format."))
    }
}

/// Nova's 400 for a spec it would refuse (2.86 on).
pub fn validate(name: &str, value: &str) -> Result<(), Fault> {
    let kind = kind_of(name).map_err(|()| {
        Fault::bad_request(format!(
            "Validation failed; extra spec '{name}' does not appear to be a valid extra spec."
        ))
    })?;
    match kind {
        None => Ok(()),
        Some(k) => check_value(k, value)
            .map_err(|why| Fault::bad_request(format!("Validation failed; {why}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::validate;

    #[test]
    fn known_namespaces_are_checked_and_others_pass() {
        for (name, value) in [
            ("hw:cpu_policy", "shared"),
            ("hw:numa_nodes", "2"),
            ("hw:numa_cpus.0", "0-3,^2"),
            ("hw:numa_mem.1", "1024"),
            ("hw:mem_page_size", "2MiB"),
            ("hw:mem_page_size", "large"),
            ("hw_rng:allowed", "True"),
            ("quota:disk_read_bytes_sec", "104857600"),
            ("quota:cpu_shares_level", "high"),
            ("quota:vif_inbound_peak", "10"),
            ("trait:HW_CPU_X86_AVX2", "required"),
            ("resources1:VGPU", "1"),
            ("capabilities:cpu_info:vendor", "Intel"),
            ("pci_passthrough:alias", "a1:2, b:1"),
            ("foo:bar", "baz"),
            ("unnamespaced", "anything"),
        ] {
            assert!(validate(name, value).is_ok(), "{name}={value}");
        }
        for (name, value, why) in [
            ("hw:cpu_policy", "sharred", "is not one of"),
            ("hw:numa_nodes", "0", "less than the min"),
            ("hw:numa_nodes", "two", "not a valid integer"),
            ("hw:redirected_usb_ports", "16", "greater than the max"),
            ("hw:boot_menu", "maybe", "boolean-like"),
            ("hw:cpu_realtime_mask", "0-", "expected format"),
            ("hw:no_such_spec", "1", "does not appear to be a valid"),
            ("hw_rng:what", "1", "does not appear to be a valid"),
            (
                "quota:disk_read_bytes",
                "1",
                "does not appear to be a valid",
            ),
            ("trait:HW_CPU_X86_AVX2", "preferred", "is not one of"),
            ("trait:lower", "required", "does not appear to be a valid"),
        ] {
            let e = validate(name, value).unwrap_err();
            assert_eq!(e.status, 400);
            assert!(e.message.contains(why), "{name}={value}: {}", e.message);
        }
    }
}
