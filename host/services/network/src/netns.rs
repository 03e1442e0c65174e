//! Named network namespaces (`/run/netns/<name>`, as `ip netns` keeps them) made and
//! entered without shelling out: a namespace is made on a short-lived thread that
//! unshares its network namespace and bind-mounts it; work inside one (a socket, a sysctl,
//! a child process) happens on a thread or in a child that joined it first.

use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

/// Where named namespaces live.
pub const NETNS_DIR: &str = "/run/netns";

/// A namespace error, naming the namespace and the step.
#[derive(Debug, thiserror::Error)]
#[error("namespace {name}: {step}: {reason}")]
pub struct NsError {
    pub name: String,
    pub step: &'static str,
    pub reason: String,
}

fn err(name: &str, step: &'static str, reason: impl ToString) -> NsError {
    NsError {
        name: name.to_string(),
        step,
        reason: reason.to_string(),
    }
}

pub fn path(name: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(name)
}

/// Whether `name` is a live namespace (its file is a mounted nsfs).
pub fn exists(name: &str) -> bool {
    File::open(path(name))
        .ok()
        .and_then(|f| nix::sys::statfs::fstatfs(&f).ok())
        .is_some_and(|s| s.filesystem_type() == nix::sys::statfs::NSFS_MAGIC)
}

/// The namespaces whose names start with `prefix`.
pub fn list(prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(NETNS_DIR)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with(prefix))
        .collect();
    names.sort();
    names
}

/// Makes `name` unless it exists (idempotent).
pub fn ensure(name: &str) -> Result<(), NsError> {
    if exists(name) {
        return Ok(());
    }
    std::fs::create_dir_all(NETNS_DIR).map_err(|e| err(name, "create /run/netns", e))?;
    let target = path(name);
    File::create(&target).map_err(|e| err(name, "create its file", e))?;
    let owned = name.to_string();
    std::thread::spawn(move || -> Result<(), NsError> {
        unshare(CloneFlags::CLONE_NEWNET).map_err(|e| err(&owned, "unshare", e))?;
        let me = format!("/proc/self/task/{}/ns/net", nix::unistd::gettid());
        mount(
            Some(me.as_str()),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| err(&owned, "bind-mount", e))
    })
    .join()
    .map_err(|_| err(name, "make", "the thread panicked"))??;
    // The namespace routes between its network and its public side, and filters bridged
    // traffic per port (br_netfilter hands bridged IPv4 to the inet hooks).
    in_namespace(name, || {
        set_sysctl("net/ipv4/ip_forward", "1")?;
        set_sysctl("net/bridge/bridge-nf-call-iptables", "1")
    })??;
    Ok(())
}

/// Removes `name` (its virtual devices go with it). Idempotent.
pub fn delete(name: &str) -> Result<(), NsError> {
    let target = path(name);
    if !target.exists() {
        return Ok(());
    }
    let _ = umount2(&target, MntFlags::MNT_DETACH);
    std::fs::remove_file(&target).map_err(|e| err(name, "remove its file", e))
}

/// Runs `f` on a thread that joined namespace `name`.
pub fn in_namespace<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, NsError> {
    let file = File::open(path(name)).map_err(|e| err(name, "open", e))?;
    let owned = name.to_string();
    std::thread::spawn(move || -> Result<T, NsError> {
        setns(file.as_fd(), CloneFlags::CLONE_NEWNET).map_err(|e| err(&owned, "setns", e))?;
        Ok(f())
    })
    .join()
    .map_err(|_| err(name, "enter", "the thread panicked"))?
}

/// Writes a sysctl of the calling thread's namespace (`net/ipv4/ip_forward`).
pub fn set_sysctl(key: &str, value: &str) -> Result<(), NsError> {
    std::fs::write(format!("/proc/sys/{key}"), value)
        .map_err(|e| err("current", "sysctl", format!("{key}: {e}")))
}

/// A command that runs inside namespace `name` (the child joins it before exec).
pub fn command(name: &str, program: &str) -> Result<Command, NsError> {
    let file = File::open(path(name)).map_err(|e| err(name, "open", e))?;
    let mut cmd = Command::new(program);
    // SAFETY: setns is a single system call on a descriptor the parent opened; nothing in
    // the closure allocates or takes a lock between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            setns(file.as_fd(), CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)
        });
    }
    Ok(cmd)
}
