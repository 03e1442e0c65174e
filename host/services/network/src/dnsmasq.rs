//! One dnsmasq per network, inside the network's namespace, as nova-network ran it: static
//! leases only (`--dhcp-range=…,static`), hosts from a file the worker rewrites and
//! dnsmasq re-reads on SIGHUP, no DNS service of its own. Its files live in
//! `<state_dir>/dhcp/<network>/`; the pid file is the record of the running server, so a
//! restarted worker finds it instead of starting a second one.

use metacloud_plugins::network::Dhcp;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::process::Stdio;

#[derive(Debug, thiserror::Error)]
#[error("dnsmasq for network {network}: {reason}")]
pub struct DhcpError {
    pub network: String,
    pub reason: String,
}

/// The files of one network's server.
pub struct Server {
    pub network: String,
    pub dir: PathBuf,
}

impl Server {
    pub fn new(state_dir: &Path, network: &str) -> Server {
        Server {
            network: network.to_string(),
            dir: state_dir.join("dhcp").join(network),
        }
    }

    fn fail(&self, reason: impl ToString) -> DhcpError {
        DhcpError {
            network: self.network.clone(),
            reason: reason.to_string(),
        }
    }

    pub fn hosts_file(&self) -> PathBuf {
        self.dir.join("hosts")
    }

    fn pid_file(&self) -> PathBuf {
        self.dir.join("pid")
    }

    /// The running server's pid, if its pid file names a live dnsmasq.
    pub fn pid(&self) -> Option<i32> {
        let pid: i32 = std::fs::read_to_string(self.pid_file())
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let mine = String::from_utf8_lossy(&cmdline).contains(&*self.dir.to_string_lossy());
        mine.then_some(pid)
    }

    /// Makes the server match `dhcp`: writes the hosts file, starts dnsmasq in `namespace`
    /// on `bridge` if none runs, or sends SIGHUP when the hosts changed. Returns the
    /// (mac, address) pairs that left the hosts file, for `dhcp_release`.
    pub fn ensure(
        &self,
        namespace: &str,
        bridge: &str,
        gateway: &str,
        prefix: u8,
        dhcp: &Dhcp,
    ) -> Result<Vec<(String, String)>, DhcpError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| self.fail(e))?;
        let hosts = hosts_text(dhcp);
        let before = std::fs::read_to_string(self.hosts_file()).unwrap_or_default();
        let changed = before != hosts;
        if changed {
            let tmp = self.dir.join("hosts.tmp");
            std::fs::write(&tmp, &hosts).map_err(|e| self.fail(e))?;
            std::fs::rename(&tmp, self.hosts_file()).map_err(|e| self.fail(e))?;
        }
        match self.pid() {
            Some(pid) if changed => {
                kill(Pid::from_raw(pid), Signal::SIGHUP).map_err(|e| self.fail(e))?;
            }
            Some(_) => {}
            None => self.start(namespace, bridge, gateway, prefix, dhcp)?,
        }
        Ok(gone(&before, &hosts))
    }

    fn start(
        &self,
        namespace: &str,
        bridge: &str,
        gateway: &str,
        prefix: u8,
        dhcp: &Dhcp,
    ) -> Result<(), DhcpError> {
        let mut cmd = crate::netns::command(namespace, "dnsmasq").map_err(|e| self.fail(e))?;
        cmd.args(args(&self.dir, bridge, gateway, prefix, dhcp));
        // dnsmasq re-reads its hosts file on SIGHUP as the unprivileged user it drops to
        // (`nobody`): through a private data directory (mode 0700, as `mktemp -d` makes)
        // it could not, and new ports would get no lease. Then it keeps root.
        if !readable_by_others(&self.hosts_file()) {
            tracing::warn!(
                network = %self.network,
                dir = %self.dir.display(),
                "the DHCP files are not readable by others through their directories; \
                 dnsmasq keeps running as root (make the data directory 0755 to let it drop)"
            );
            cmd.arg("--user=root");
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // dnsmasq daemonizes: the parent exits once the server is up (or says why not).
        let out = cmd
            .output()
            .map_err(|e| self.fail(format!("cannot run dnsmasq: {e}")))?;
        if !out.status.success() {
            return Err(self.fail(String::from_utf8_lossy(&out.stderr).trim()));
        }
        tracing::info!(network = %self.network, namespace, "DHCP server started");
        Ok(())
    }

    /// Stops the server and removes its files.
    pub fn stop(&self) {
        if let Some(pid) = self.pid() {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `MAC,hostname,address` per host, sorted so that equal plans write equal files.
pub fn hosts_text(dhcp: &Dhcp) -> String {
    let mut lines: Vec<String> = dhcp
        .hosts
        .iter()
        .map(|h| {
            format!(
                "{},{},{}\n",
                h.mac.to_ascii_lowercase(),
                h.hostname,
                h.address
            )
        })
        .collect();
    lines.sort();
    lines.concat()
}

fn gone(before: &str, after: &str) -> Vec<(String, String)> {
    before
        .lines()
        .filter(|l| !after.lines().any(|a| a == *l))
        .filter_map(|l| {
            let mut parts = l.split(',');
            let mac = parts.next()?;
            let address = parts.nth(1)?;
            Some((mac.to_string(), address.to_string()))
        })
        .collect()
}

fn netmask(prefix: u8) -> std::net::Ipv4Addr {
    ipnet::Ipv4Net::new(std::net::Ipv4Addr::UNSPECIFIED, prefix.min(32))
        .map(|n| n.netmask())
        .unwrap_or(std::net::Ipv4Addr::BROADCAST)
}

/// Whether everyone may read `file`: readable by others, and every directory above it
/// searchable by others.
pub fn readable_by_others(file: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).map(|m| m.permissions().mode()).ok();
    if mode(file).is_some_and(|m| m & 0o004 == 0) {
        return false;
    }
    let Ok(full) = std::path::absolute(file) else {
        return false;
    };
    full.ancestors()
        .skip(1)
        .all(|dir| mode(dir).is_some_and(|m| m & 0o001 != 0))
}

/// The command line (nova-network's, with the DNS service off unless servers are given).
pub fn args(dir: &Path, bridge: &str, gateway: &str, prefix: u8, dhcp: &Dhcp) -> Vec<String> {
    let d = dir.display();
    let mut a = vec![
        "--strict-order".to_string(),
        "--bind-interfaces".into(),
        "--conf-file=".into(),
        format!("--pid-file={d}/pid"),
        format!("--dhcp-hostsfile={d}/hosts"),
        format!("--dhcp-leasefile={d}/leases"),
        format!("--interface={bridge}"),
        format!("--listen-address={gateway}"),
        "--except-interface=lo".into(),
        "--port=0".into(),
        "--no-hosts".into(),
        "--no-resolv".into(),
        format!(
            "--dhcp-range=set:net,{},static,{},{}s",
            dhcp.range_start,
            netmask(prefix),
            dhcp.lease_seconds
        ),
        format!("--domain={}", dhcp.domain),
    ];
    match &dhcp.router {
        Some(r) => a.push(format!("--dhcp-option=tag:net,option:router,{r}")),
        None => a.push("--dhcp-option=tag:net,option:router".into()),
    }
    if !dhcp.dns.is_empty() {
        a.push(format!(
            "--dhcp-option=tag:net,option:dns-server,{}",
            dhcp.dns.join(",")
        ));
    }
    a
}

/// Tells the server `address` is no longer `mac`'s (dnsmasq-utils' `dhcp_release`).
pub fn release(namespace: &str, bridge: &str, address: &str, mac: &str) {
    let run = crate::netns::command(namespace, "dhcp_release").map(|mut c| {
        c.args([bridge, address, mac])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
    });
    if let Ok(Err(e)) | Err(e) = run.map_err(|e| std::io::Error::other(e.to_string())) {
        tracing::warn!(address, mac, error = %e, "dhcp_release failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metacloud_plugins::network::DhcpHost;

    fn dhcp(hosts: &[(&str, &str)]) -> Dhcp {
        Dhcp {
            network_id: "n1".into(),
            range_start: "10.0.0.2".into(),
            range_end: "10.0.0.254".into(),
            lease_seconds: 86400,
            router: Some("10.0.0.1".into()),
            dns: vec![],
            domain: "novalocal".into(),
            hosts: hosts
                .iter()
                .map(|(mac, a)| DhcpHost {
                    mac: mac.to_string(),
                    hostname: format!("vm-{a}").replace('.', "-"),
                    address: a.to_string(),
                })
                .collect(),
        }
    }

    #[test]
    fn private_directories_make_files_unreadable_by_others() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("dnsmasq-perm-{}", std::process::id()));
        let inner = dir.join("dhcp");
        std::fs::create_dir_all(&inner).unwrap();
        let file = inner.join("hosts");
        std::fs::write(&file, "").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let open = readable_by_others(&file);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let private = readable_by_others(&file);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let unreadable = readable_by_others(&file);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!((open, private, unreadable), (true, false, false));
    }

    #[test]
    fn hosts_files_are_stable_and_departures_found() {
        let two = hosts_text(&dhcp(&[
            ("FA:16:3E:00:00:02", "10.0.0.3"),
            ("fa:16:3e:00:00:01", "10.0.0.2"),
        ]));
        assert_eq!(
            two,
            "fa:16:3e:00:00:01,vm-10-0-0-2,10.0.0.2\nfa:16:3e:00:00:02,vm-10-0-0-3,10.0.0.3\n"
        );
        let one = hosts_text(&dhcp(&[("fa:16:3e:00:00:01", "10.0.0.2")]));
        assert_eq!(
            gone(&two, &one),
            vec![("fa:16:3e:00:00:02".to_string(), "10.0.0.3".to_string())]
        );
        assert!(gone(&one, &two).is_empty());
    }

    #[test]
    fn the_command_line_is_static_leases_on_the_bridge() {
        let a = args(
            Path::new("/s/dhcp/n1"),
            "mcbr-1",
            "10.0.0.1",
            24,
            &dhcp(&[]),
        );
        for part in [
            "--dhcp-range=set:net,10.0.0.2,static,255.255.255.0,86400s",
            "--interface=mcbr-1",
            "--listen-address=10.0.0.1",
            "--pid-file=/s/dhcp/n1/pid",
            "--dhcp-option=tag:net,option:router,10.0.0.1",
            "--port=0",
        ] {
            assert!(a.iter().any(|x| x == part), "missing {part} in {a:?}");
        }
    }
}
