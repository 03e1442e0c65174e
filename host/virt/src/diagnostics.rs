//! A guest's diagnostics from libvirt: its state and memory (`virDomainGetInfo`), CPU time
//! per vCPU (`virDomainGetVcpus`), and the counters of every NIC and disk its live
//! definition names (`virDomainInterfaceStats`, `virDomainBlockStats`).

use metacloud_objects::diagnostics::{CpuStats, DiskStats, GuestDiagnostics, NicStats};
use virt::domain::Domain;
use virt::sys;

/// Nova's diagnostics state for a libvirt domain state.
pub(crate) fn state_name(state: &virt::domain::DomainStateEnum) -> &'static str {
    use virt::domain::DomainState;
    match state.known() {
        Some(DomainState::Running | DomainState::Blocked) => "running",
        Some(DomainState::Paused) => "paused",
        Some(DomainState::Shutdown | DomainState::Shutoff) => "shutdown",
        Some(DomainState::Crashed) => "crashed",
        Some(DomainState::PMSuspended) => "suspended",
        _ => "pending",
    }
}

/// The NICs (MAC, host device) and disks (guest device) of a domain's XML.
pub(crate) fn devices(xml: &str) -> (Vec<(Option<String>, String)>, Vec<String>) {
    let Ok(doc) = roxmltree::Document::parse(xml) else {
        return (Vec::new(), Vec::new());
    };
    let child_attr = |n: roxmltree::Node<'_, '_>, tag: &str, attr: &str| {
        n.children()
            .find(|c| c.has_tag_name(tag))
            .and_then(|c| c.attribute(attr))
            .map(String::from)
    };
    let mut nics = Vec::new();
    let mut disks = Vec::new();
    for n in doc.descendants() {
        if n.has_tag_name("interface") {
            if let Some(dev) = child_attr(n, "target", "dev") {
                nics.push((child_attr(n, "mac", "address"), dev));
            }
        } else if n.has_tag_name("disk") {
            if let Some(dev) = child_attr(n, "target", "dev") {
                disks.push(dev);
            }
        }
    }
    (nics, disks)
}

/// CPU time of each vCPU of a running domain (none when libvirt cannot say).
fn vcpu_times(dom: &Domain, count: u32) -> Vec<Option<u64>> {
    let mut info = vec![
        sys::virVcpuInfo {
            number: 0,
            state: 0,
            cpuTime: 0,
            cpu: 0,
        };
        count as usize
    ];
    // SAFETY: `info` has room for `count` entries, the count passed; no CPU maps are
    // asked for (null, length 0); `dom` is a valid handle for the call.
    let n = unsafe {
        sys::virDomainGetVcpus(
            dom.as_ptr(),
            info.as_mut_ptr(),
            count as i32,
            std::ptr::null_mut(),
            0,
        )
    };
    if n < 0 {
        return vec![None; count as usize];
    }
    let mut times = vec![None; count as usize];
    for i in info.iter().take(n as usize) {
        if let Some(t) = times.get_mut(i.number as usize) {
            *t = Some(i.cpuTime);
        }
    }
    times
}

/// The diagnostics of `dom` (its live definition `xml`) on a hypervisor of kind
/// `hypervisor`.
pub(crate) fn of(
    dom: &Domain,
    xml: &str,
    hypervisor: &str,
) -> Result<GuestDiagnostics, virt::error::Error> {
    let info = dom.info()?;
    let running = dom.is_active()?;
    let cpus = if running {
        vcpu_times(dom, info.nr_virt_cpu)
    } else {
        vec![None; info.nr_virt_cpu as usize]
    };
    let (nic_devs, disk_devs) = devices(xml);
    let nics = nic_devs
        .into_iter()
        .map(|(mac, device)| {
            let s = if running {
                dom.interface_stats(&device).ok()
            } else {
                None
            };
            NicStats {
                mac,
                rx_octets: s.as_ref().map(|s| s.rx_bytes),
                rx_errors: s.as_ref().map(|s| s.rx_errs),
                rx_drop: s.as_ref().map(|s| s.rx_drop),
                rx_packets: s.as_ref().map(|s| s.rx_packets),
                tx_octets: s.as_ref().map(|s| s.tx_bytes),
                tx_errors: s.as_ref().map(|s| s.tx_errs),
                tx_drop: s.as_ref().map(|s| s.tx_drop),
                tx_packets: s.as_ref().map(|s| s.tx_packets),
                device,
            }
        })
        .collect();
    let disks = disk_devs
        .into_iter()
        .map(|device| {
            let s = if running {
                dom.block_stats(&device).ok()
            } else {
                None
            };
            // libvirt says -1 for a counter it does not keep.
            let known = |v: i64| (v >= 0).then_some(v);
            DiskStats {
                read_bytes: s.as_ref().and_then(|s| known(s.rd_bytes)),
                read_requests: s.as_ref().and_then(|s| known(s.rd_req)),
                write_bytes: s.as_ref().and_then(|s| known(s.wr_bytes)),
                write_requests: s.as_ref().and_then(|s| known(s.wr_req)),
                errors: s.as_ref().and_then(|s| known(s.errs)),
                device,
            }
        })
        .collect();
    Ok(GuestDiagnostics {
        state: state_name(&info.state).to_string(),
        hypervisor: hypervisor.to_string(),
        cpus: cpus
            .into_iter()
            .enumerate()
            .map(|(id, time_ns)| CpuStats {
                id: id as u32,
                time_ns,
            })
            .collect(),
        memory_max_kib: Some(info.max_mem),
        memory_used_kib: running.then_some(info.memory),
        nics,
        disks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_come_from_the_live_definition() {
        let xml = "<domain><devices>\
            <disk type='file'><target dev='vda' bus='virtio'/></disk>\
            <interface type='ethernet'><mac address='fa:16:3e:00:00:01'/><target dev='tap1'/></interface>\
            <interface type='user'><mac address='52:54:00:00:00:02'/></interface>\
            </devices></domain>";
        let (nics, disks) = devices(xml);
        assert_eq!(
            nics,
            vec![(Some("fa:16:3e:00:00:01".to_string()), "tap1".to_string())]
        );
        assert_eq!(disks, vec!["vda".to_string()]);
        assert_eq!(devices("not xml"), (Vec::new(), Vec::new()));
    }
}
