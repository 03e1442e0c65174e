//! Which libvirt domain type real guests get when the operator leaves it to us
//! (`compute.virt_type = "auto"`).
//!
//! libvirt offering domain type `kvm` is not enough: some hosts expose a `/dev/kvm` whose
//! module (`kvm_pvm`, a paravirtualised KVM for nested clouds) accepts guests it cannot run
//! — QEMU aborts on host-passthrough, kernels stall with the default CPU model. So KVM is
//! chosen only when libvirt offers it, `/dev/kvm` opens for reading and writing, and the
//! loaded KVM module is one that drives the CPU itself (`kvm_intel`, `kvm_amd`); anything
//! else gets TCG, which always works. A guest that still hangs or crashes is caught by the
//! compute worker's boot watch.

use std::path::Path;

/// What the host shows about hardware virtualisation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KvmProbe {
    /// libvirt reports domain capabilities for virt type `kvm`.
    pub libvirt_offers_kvm: bool,
    /// `/dev/kvm` opened read-write.
    pub dev_kvm_usable: bool,
    /// Loaded kernel modules whose names start with `kvm` (from `/sys/module`).
    pub kvm_modules: Vec<String>,
}

/// Modules that drive the CPU's own virtualisation extensions.
const HARDWARE_KVM: [&str; 2] = ["kvm_intel", "kvm_amd"];

/// The domain type to use and why, in words for the log.
pub fn choose(probe: &KvmProbe) -> (&'static str, String) {
    let hardware = probe
        .kvm_modules
        .iter()
        .find(|m| HARDWARE_KVM.contains(&m.as_str()));
    let others: Vec<&str> = probe
        .kvm_modules
        .iter()
        .map(String::as_str)
        .filter(|m| *m != "kvm" && !HARDWARE_KVM.contains(m))
        .collect();
    if !probe.dev_kvm_usable {
        return (
            "qemu",
            "/dev/kvm is missing or cannot be opened: TCG".into(),
        );
    }
    if !probe.libvirt_offers_kvm {
        return ("qemu", "libvirt does not offer domain type kvm: TCG".into());
    }
    match hardware {
        Some(m) if others.is_empty() => ("kvm", format!("{m} is loaded and libvirt offers kvm")),
        Some(m) => (
            "qemu",
            format!(
                "{m} is loaded beside {}, which cannot be trusted to run guests: TCG",
                others.join(", ")
            ),
        ),
        None if others.is_empty() => (
            "qemu",
            "/dev/kvm exists but neither kvm_intel nor kvm_amd is loaded: TCG".into(),
        ),
        None => (
            "qemu",
            format!(
                "/dev/kvm comes from {}, not kvm_intel or kvm_amd; guests do not run \
                 reliably under it: TCG",
                others.join(", ")
            ),
        ),
    }
}

/// Reads the host: `/sys/module`, `/dev/kvm` and libvirt's domain capabilities.
pub fn probe(conn: &virt::connect::Connect) -> KvmProbe {
    let dev_kvm_usable = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok();
    let libvirt_offers_kvm = conn
        .domain_capabilities(None, None, None, Some("kvm"), 0)
        .is_ok();
    KvmProbe {
        libvirt_offers_kvm,
        dev_kvm_usable,
        kvm_modules: kvm_modules(Path::new("/sys/module")),
    }
}

fn kvm_modules(sys_module: &Path) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(sys_module)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.starts_with("kvm"))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(offers: bool, usable: bool, modules: &[&str]) -> KvmProbe {
        KvmProbe {
            libvirt_offers_kvm: offers,
            dev_kvm_usable: usable,
            kvm_modules: modules.iter().map(|m| m.to_string()).collect(),
        }
    }

    #[test]
    fn hardware_kvm_offered_by_libvirt_is_used() {
        assert_eq!(choose(&probe(true, true, &["kvm", "kvm_intel"])).0, "kvm");
        assert_eq!(choose(&probe(true, true, &["kvm", "kvm_amd"])).0, "kvm");
    }

    #[test]
    fn kvm_pvm_is_not_trusted_even_when_libvirt_offers_kvm() {
        let (kind, why) = choose(&probe(true, true, &["kvm", "kvm_pvm"]));
        assert_eq!(kind, "qemu");
        assert!(why.contains("kvm_pvm"), "{why}");
        let (kind, why) = choose(&probe(true, true, &["kvm", "kvm_intel", "kvm_pvm"]));
        assert_eq!(kind, "qemu");
        assert!(why.contains("kvm_pvm"), "{why}");
    }

    #[test]
    fn without_device_libvirt_or_module_it_is_tcg() {
        assert_eq!(choose(&probe(true, false, &["kvm", "kvm_intel"])).0, "qemu");
        assert_eq!(choose(&probe(false, true, &["kvm", "kvm_intel"])).0, "qemu");
        assert_eq!(choose(&probe(true, true, &["kvm"])).0, "qemu");
        assert_eq!(choose(&probe(true, true, &[])).0, "qemu");
    }

    #[test]
    fn modules_are_read_from_sys_module() {
        let dir = std::env::temp_dir().join(format!("kvm-mods-{}", std::process::id()));
        for m in ["kvm", "kvm_pvm", "virtio_net"] {
            std::fs::create_dir_all(dir.join(m)).unwrap();
        }
        assert_eq!(kvm_modules(&dir), vec!["kvm", "kvm_pvm"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
