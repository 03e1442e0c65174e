//! The compute worker: one per hypervisor host. It takes actions from `compute.<host>`,
//! drives its hypervisor through a [`Driver`], and reports every state change, its
//! heartbeat and its node's resources through the conductor — it has no database handle.

mod boot_watch;
mod power_sync;

pub use power_sync::Unknown;

use metacloud_config::Config;
use metacloud_queue::Consumer;
use metacloud_rpc::compute::{Domain, ImageUpload, Interface, PowerOp, Request, Snapshot};
use metacloud_rpc::conductor::{self, InstanceUpdate};
use metacloud_rpc::network;
use metacloud_rpc::objects::{power, ImageRef, InstanceSpec, NodeReport, TaskState, VmState};
use metacloud_rpc::{serve, topics, Rpc, RpcError};
use metacloud_virt::{Driver, GuestSpec, ImageSource, Nic, PowerState, VirtError};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// The compute worker of one host.
pub struct ComputeWorker {
    host: String,
    rpc: Rpc,
    driver: Arc<dyn Driver>,
    report_interval: Duration,
    power_sync_interval: Duration,
    shutdown_timeout: Duration,
    /// How long a new guest has to write to its console ([`boot_watch`]); zero: no watch.
    boot_timeout: Duration,
    /// Whether the power sync destroys domains the database does not know.
    destroy_unknown: bool,
    spawn_delay: Duration,
    node_defaults: NodeReport,
    /// Where disk snapshots wait for their upload.
    snapshot_dir: std::path::PathBuf,
    /// The network worker's topic when one runs (`network.driver` set): guests get a tap
    /// per port, asked for before the guest is defined.
    network_topic: Option<String>,
    http: reqwest::Client,
}

/// Where an image's data is, as the driver reads it (none when it has no data yet).
fn image_source(i: &ImageRef) -> Option<ImageSource> {
    i.location.as_ref().map(|location| ImageSource {
        id: i.id.clone(),
        location: location.clone(),
        sha256: i.sha256.clone(),
        disk_format: i.disk_format.clone(),
    })
}

/// `HH:MM:SS up D days, H:MM,  load average: a, b, c` from `/proc`, as `uptime` says it
/// (Nova's hypervisor uptime is that command's output on the compute host).
fn host_uptime() -> std::io::Result<String> {
    let up = std::fs::read_to_string("/proc/uptime")?;
    let secs = up
        .split_whitespace()
        .next()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(0.0) as u64;
    let load = std::fs::read_to_string("/proc/loadavg")?;
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        % 86_400;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let days = match days {
        0 => String::new(),
        1 => "1 day, ".to_string(),
        n => format!("{n} days, "),
    };
    Ok(format!(
        " {:02}:{:02}:{:02} up {days}{:2}:{:02},  load average: {}",
        now / 3600,
        now % 3600 / 60,
        now % 60,
        rest / 3600,
        rest % 3600 / 60,
        load.join(", ")
    ))
}

/// Nova's numeric power state of a hypervisor state.
pub fn power_code(state: PowerState) -> i32 {
    state as i32
}

/// How long a guest has to release a NIC being unplugged (Nova's `device_detach_timeout`).
const DETACH_WAIT: Duration = Duration::from_secs(20);

fn virt_error(e: VirtError) -> RpcError {
    match e {
        VirtError::NotFound(m) => RpcError::NotFound(m),
        e @ VirtError::Unsupported { .. } => RpcError::Invalid(e.to_string()),
        e @ VirtError::DetachTimeout { .. } => RpcError::Conflict(e.to_string()),
        e @ VirtError::NotRunning(_) => RpcError::Conflict(e.to_string()),
        e => RpcError::Remote(e.to_string()),
    }
}

fn json<T: serde::Serialize>(v: T) -> Result<Value, RpcError> {
    serde_json::to_value(v).map_err(|e| RpcError::Codec(e.to_string()))
}

impl ComputeWorker {
    pub fn new(config: &Config, host: String, rpc: Rpc, driver: Arc<dyn Driver>) -> Arc<Self> {
        let c = &config.compute;
        let network_topic = config
            .network
            .enabled()
            .then(|| topics::network(&host, config.network.multi_host));
        Arc::new(ComputeWorker {
            host,
            rpc,
            driver,
            report_interval: Duration::from_secs(config.service.report_interval_secs),
            power_sync_interval: Duration::from_secs(c.power_sync_interval_secs),
            shutdown_timeout: Duration::from_secs(c.shutdown_timeout_secs),
            boot_timeout: Duration::from_secs(c.boot_timeout_secs),
            destroy_unknown: c.destroy_unknown_domains,
            spawn_delay: Duration::from_millis(c.debug_spawn_delay_ms),
            network_topic,
            snapshot_dir: c
                .instances_path
                .clone()
                .unwrap_or_else(std::env::temp_dir)
                .join("snapshots"),
            http: reqwest::Client::new(),
            node_defaults: NodeReport {
                vcpus: 0,
                memory_mb: 0,
                local_gb: 0,
                reserved_memory_mb: c.reserved_host_memory_mb,
                cpu_allocation_ratio: c.cpu_allocation_ratio,
                ram_allocation_ratio: c.ram_allocation_ratio,
                disk_allocation_ratio: c.disk_allocation_ratio,
                hypervisor_type: String::new(),
                hypervisor_version: 0,
                cpu_arch: String::new(),
                availability_zone: c.availability_zone.clone(),
            },
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// Reports the node, starts heartbeats and the power sync, and consumes
    /// `compute.<host>`. The first report is a call, so a conductor that cannot be reached
    /// fails the start instead of leaving a worker nobody knows about.
    pub async fn start(self: &Arc<Self>) -> anyhow::Result<Consumer> {
        let node = self.node_report().await?;
        self.rpc
            .call::<_, Value>(topics::CONDUCTOR, &self.service_report(Some(node)))
            .await?;
        let me = self.clone();
        tokio::spawn(async move { me.heartbeat_loop().await });
        if let Err(e) = self.destroy_evacuated().await {
            tracing::warn!(error = %e, "cannot clean up instances evacuated from this host");
        }
        let me = self.clone();
        tokio::spawn(async move { me.power_sync_loop().await });
        let me = self.clone();
        let handler = serve("compute", move |req: Request, redelivered| {
            let me = me.clone();
            async move {
                if redelivered {
                    tracing::warn!(request = ?req, "message redelivered after a consumer died");
                }
                me.handle(req).await
            }
        });
        Ok(self
            .rpc
            .bus()
            .serve(&topics::compute(&self.host), handler)
            .await?)
    }

    fn service_report(&self, node: Option<NodeReport>) -> conductor::Request {
        conductor::Request::ServiceReport {
            binary: "metacloud-compute".into(),
            host: self.host.clone(),
            node,
        }
    }

    async fn node_report(&self) -> anyhow::Result<NodeReport> {
        let driver = self.driver.clone();
        let info = tokio::task::spawn_blocking(move || driver.node_info()).await??;
        Ok(NodeReport {
            vcpus: info.vcpus,
            memory_mb: info.memory_mb,
            local_gb: info.disk_gb,
            hypervisor_type: info.hypervisor_type,
            hypervisor_version: info.hypervisor_version,
            cpu_arch: info.cpu_arch,
            ..self.node_defaults.clone()
        })
    }

    async fn heartbeat_loop(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.report_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let node = match self.node_report().await {
                Ok(n) => Some(n),
                Err(e) => {
                    tracing::error!(error = %e, "cannot read node resources");
                    None
                }
            };
            if let Err(e) = self
                .rpc
                .cast(topics::CONDUCTOR, &self.service_report(node))
                .await
            {
                tracing::error!(error = %e, "heartbeat failed");
            }
        }
    }

    /// Runs a blocking driver operation off the async threads.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Driver) -> Result<T, VirtError> + Send + 'static,
    ) -> Result<T, VirtError> {
        let driver = self.driver.clone();
        tokio::task::spawn_blocking(move || f(driver.as_ref()))
            .await
            .unwrap_or_else(|e| {
                Err(VirtError::Libvirt {
                    uuid: String::new(),
                    reason: format!("driver task failed: {e}"),
                })
            })
    }

    /// A call to the conductor that must not be lost to a passing failure (a broker
    /// reconnect, a busy database): retried with backoff; answers are final.
    async fn call_conductor<T: serde::de::DeserializeOwned>(
        &self,
        req: &conductor::Request,
    ) -> Result<T, RpcError> {
        let mut delay = Duration::from_millis(200);
        let mut attempt = 1;
        loop {
            match self.rpc.call(topics::CONDUCTOR, req).await {
                Err(e @ (RpcError::Queue(_) | RpcError::Remote(_))) if attempt < 6 => {
                    tracing::warn!(error = %e, attempt, "conductor call failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn handle(self: &Arc<Self>, req: Request) -> Result<Value, RpcError> {
        match req {
            Request::BuildAndRunInstance { instance } => {
                self.build_and_run(*instance).await;
                json(())
            }
            Request::TerminateInstance { uuid } => json(self.terminate(&uuid).await?),
            Request::StartInstance { uuid } => {
                let u = uuid.clone();
                let result = self.blocking(move |d| d.power_on(&u)).await;
                self.finish_action(&uuid, TaskState::PoweringOn, VmState::Active, result)
                    .await
            }
            Request::StopInstance { uuid } => {
                let u = uuid.clone();
                let timeout = self.shutdown_timeout;
                let result = self.blocking(move |d| d.power_off(&u, Some(timeout))).await;
                self.finish_action(&uuid, TaskState::PoweringOff, VmState::Stopped, result)
                    .await
            }
            Request::RebootInstance { uuid, hard } => {
                let u = uuid.clone();
                let graceful = (!hard).then_some(self.shutdown_timeout);
                let result = self.blocking(move |d| d.reboot(&u, graceful)).await;
                let task = if hard {
                    TaskState::RebootingHard
                } else {
                    TaskState::Rebooting
                };
                self.finish_action(&uuid, task, VmState::Active, result)
                    .await
            }
            Request::RebuildInstance { instance, stopped } => {
                let uuid = instance.uuid.clone();
                tracing::info!(instance = %uuid, "rebuilding instance");
                let result = match self.guest_spec(&instance).await {
                    Ok(spec) => {
                        self.blocking(move |d| {
                            d.destroy(&spec.uuid)?;
                            d.spawn(&spec)?;
                            if stopped {
                                d.power_off(&spec.uuid, None)?;
                            }
                            Ok(())
                        })
                        .await
                    }
                    Err(e) => Err(e),
                };
                self.plugged(&uuid).await;
                let to = if stopped {
                    VmState::Stopped
                } else {
                    VmState::Active
                };
                let rebuilt = self
                    .finish_action(&uuid, TaskState::Rebuilding, to, result)
                    .await;
                if rebuilt.is_ok() && !stopped {
                    self.watch_boot(&uuid);
                }
                rebuilt
            }
            Request::ResizeInstance {
                instance,
                running,
                task,
                then,
            } => {
                let uuid = instance.uuid.clone();
                tracing::info!(instance = %uuid, flavor = %instance.flavor.name, "resizing instance");
                let result = match self.guest_spec(&instance).await {
                    Ok(spec) => self.blocking(move |d| d.resize(&spec, running)).await,
                    Err(e) => Err(e),
                };
                self.plugged(&uuid).await;
                self.finish_action(&uuid, task, then, result).await
            }
            Request::MigrateOut {
                uuid,
                base,
                upload,
                running,
            } => {
                self.migrate_out(&uuid, base, &upload, running).await;
                json(())
            }
            Request::FinishMigration { instance, running } => {
                let uuid = instance.uuid.clone();
                tracing::info!(instance = %uuid, "making a migrated guest from its transfer image");
                let result = match self.guest_spec(&instance).await {
                    Ok(spec) => {
                        self.blocking(move |d| {
                            d.spawn(&spec)?;
                            if !running {
                                d.power_off(&spec.uuid, None)?;
                            }
                            Ok(())
                        })
                        .await
                    }
                    Err(e) => Err(e),
                };
                self.plugged(&uuid).await;
                self.finish_action(&uuid, TaskState::ResizeMigrating, VmState::Resized, result)
                    .await
            }
            Request::DestroyGuest { uuid } => {
                let u = uuid.clone();
                match self.blocking(move |d| d.destroy(&u)).await {
                    Ok(()) => {
                        tracing::info!(instance = %uuid, "guest destroyed here (it lives on another host)")
                    }
                    Err(e) => {
                        tracing::error!(instance = %uuid, error = %e, "cannot destroy the guest left here")
                    }
                }
                json(())
            }
            Request::ChangePower { uuid, op } => {
                let u = uuid.clone();
                let result = self
                    .blocking(move |d| match op {
                        PowerOp::Pause => d.pause(&u),
                        PowerOp::Unpause => d.unpause(&u),
                        PowerOp::Suspend => d.suspend(&u),
                        PowerOp::Resume => d.resume(&u),
                    })
                    .await;
                self.finish_action(&uuid, op.task(), op.to_state(), result)
                    .await
            }
            Request::SnapshotInstance {
                uuid,
                base,
                upload,
                task,
            } => {
                let result = self.snapshot(&uuid, base, &upload).await;
                if let Err(e) = &result {
                    tracing::warn!(instance = %uuid, image = %upload.image_id, error = %e, "snapshot failed");
                }
                let update = InstanceUpdate {
                    uuid: uuid.clone(),
                    host: self.host.clone(),
                    vm_state: None,
                    task_state: Some(None),
                    power_state: None,
                    expected_task_state: Some(Some(task)),
                    expected_vm_state: None,
                    fault: result
                        .as_ref()
                        .err()
                        .map(|e| format!("snapshot failed: {e}")),
                };
                if let Err(e) = self
                    .rpc
                    .call::<_, Value>(
                        topics::CONDUCTOR,
                        &conductor::Request::InstanceUpdate(update),
                    )
                    .await
                {
                    tracing::warn!(instance = %uuid, error = %e, "state report failed");
                }
                json(result.map_err(RpcError::Remote)?)
            }
            Request::Uptime => json(host_uptime().map_err(|e| RpcError::Remote(e.to_string()))?),
            Request::ListDomains => {
                let domains = self.blocking(|d| d.list()).await.map_err(virt_error)?;
                json(
                    domains
                        .into_iter()
                        .map(|d| Domain {
                            name: d.name,
                            uuid: d.uuid,
                            power_state: power_code(d.state),
                        })
                        .collect::<Vec<_>>(),
                )
            }
            Request::ConsoleOutput { uuid } => json(
                self.blocking(move |d| d.console_log(&uuid))
                    .await
                    .map_err(virt_error)?,
            ),
            Request::AttachInterface { uuid, nic } => {
                json(self.attach_interface(&uuid, nic).await?)
            }
            Request::DetachInterface { uuid, nic } => {
                json(self.detach_interface(&uuid, nic).await?)
            }
            Request::Diagnostics { uuid } => json(
                self.blocking(move |d| d.diagnostics(&uuid))
                    .await
                    .map_err(virt_error)?,
            ),
            Request::InjectNmi { uuid } => json(
                self.blocking(move |d| d.inject_nmi(&uuid))
                    .await
                    .map_err(virt_error)?,
            ),
            Request::CacheImages { images } => {
                self.cache_images(images).await;
                json(())
            }
        }
    }

    /// Fetches images into the driver's cache, one at a time, logging each outcome.
    async fn cache_images(&self, images: Vec<ImageRef>) {
        for image in images {
            let Some(source) = image_source(&image) else {
                tracing::warn!(image = %image.id, "not cached: the image has no data");
                continue;
            };
            match self.blocking(move |d| d.cache_image(&source)).await {
                Ok(()) => tracing::info!(image = %image.id, "image pre-cached"),
                Err(e) => tracing::warn!(image = %image.id, error = %e, "image pre-caching failed"),
            }
        }
    }

    /// The source side of a cold migration: guest off, disk uploaded as the transfer image,
    /// the conductor told either way (and the guest on again if the upload failed).
    async fn migrate_out(
        &self,
        uuid: &str,
        base: Option<Box<ImageRef>>,
        upload: &ImageUpload,
        running: bool,
    ) {
        let u = uuid.to_string();
        let timeout = self.shutdown_timeout;
        let mut result = if running {
            self.blocking(move |d| d.power_off(&u, Some(timeout)))
                .await
                .map_err(|e| e.to_string())
        } else {
            Ok(())
        };
        if result.is_ok() {
            result = self.snapshot(uuid, base, upload).await.map(|_| ());
        }
        if result.is_err() {
            // The transfer image is of no use now: removed with the credentials it was
            // made for.
            self.discard_image(upload).await;
        }
        if result.is_err() && running {
            let u = uuid.to_string();
            if let Err(e) = self.blocking(move |d| d.power_on(&u)).await {
                tracing::error!(instance = %uuid, error = %e, "cannot power the guest on again");
            }
        }
        let req = conductor::Request::MigratedOut {
            uuid: uuid.to_string(),
            source: self.host.clone(),
            image_id: upload.image_id.clone(),
            running,
            error: result.err(),
        };
        if let Err(e) = self.rpc.call::<_, Value>(topics::CONDUCTOR, &req).await {
            tracing::error!(instance = %uuid, error = %e, "cannot report the migration's upload");
        }
    }

    /// Snapshots the guest's disk to a file, uploads it as the image's data, removes it.
    async fn snapshot(
        &self,
        uuid: &str,
        base: Option<Box<ImageRef>>,
        upload: &ImageUpload,
    ) -> Result<Snapshot, String> {
        tokio::fs::create_dir_all(&self.snapshot_dir)
            .await
            .map_err(|e| format!("{}: {e}", self.snapshot_dir.display()))?;
        let out = self.snapshot_dir.join(format!("{}.img", upload.image_id));
        let (u, o) = (uuid.to_string(), out.clone());
        let base = base.and_then(|i| image_source(i.as_ref()));
        let taken = self
            .blocking(move |d| d.snapshot(&u, base.as_ref(), &o))
            .await
            .map_err(|e| e.to_string());
        let result = match taken {
            Ok(format) => match self.set_disk_format(upload, &format).await {
                Ok(()) => self.upload(&out, upload).await.map(|size| Snapshot {
                    disk_format: format,
                    size,
                }),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        let _ = tokio::fs::remove_file(&out).await;
        if result.is_ok() {
            tracing::info!(instance = %uuid, image = %upload.image_id, "snapshot uploaded");
        }
        result
    }

    /// Deletes the image `upload` names from the image API (best effort, logged).
    async fn discard_image(&self, upload: &ImageUpload) {
        let url = format!(
            "{}/v2/images/{}",
            upload.url.trim_end_matches('/'),
            upload.image_id
        );
        match self
            .http
            .delete(&url)
            .header("x-auth-token", &upload.token)
            .send()
            .await
        {
            Ok(r) if r.status().is_success() || r.status().as_u16() == 404 => {}
            Ok(r) => {
                tracing::warn!(image = %upload.image_id, status = %r.status(), "cannot delete the transfer image")
            }
            Err(e) => {
                tracing::warn!(image = %upload.image_id, error = %e, "cannot delete the transfer image")
            }
        }
    }

    /// Records the format the disk was written in (a snapshot of a qcow2 overlay over a raw
    /// image is qcow2) while the image still waits for its data, as Glance allows.
    async fn set_disk_format(&self, upload: &ImageUpload, format: &str) -> Result<(), String> {
        let url = format!(
            "{}/v2/images/{}",
            upload.url.trim_end_matches('/'),
            upload.image_id
        );
        let patch = serde_json::json!([{"op": "replace", "path": "/disk_format", "value": format}]);
        let r = self
            .http
            .patch(&url)
            .header("x-auth-token", &upload.token)
            .header(
                "content-type",
                "application/openstack-images-v2.1-json-patch",
            )
            .body(patch.to_string())
            .send()
            .await
            .map_err(|e| format!("set disk_format of {url}: {e}"))?;
        if !r.status().is_success() {
            return Err(format!("set disk_format of {url}: HTTP {}", r.status()));
        }
        Ok(())
    }

    /// Streams `file` to the image API as the data of `upload.image_id`.
    async fn upload(&self, file: &std::path::Path, upload: &ImageUpload) -> Result<u64, String> {
        let f = tokio::fs::File::open(file)
            .await
            .map_err(|e| format!("{}: {e}", file.display()))?;
        let size = f.metadata().await.map(|m| m.len()).unwrap_or(0);
        let chunks = futures::stream::unfold(f, |mut f| async move {
            use tokio::io::AsyncReadExt;
            let mut buf = vec![0u8; 1 << 20];
            match f.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok::<_, std::io::Error>(buf), f))
                }
                Err(e) => Some((Err(e), f)),
            }
        });
        let url = format!(
            "{}/v2/images/{}/file",
            upload.url.trim_end_matches('/'),
            upload.image_id
        );
        let r = self
            .http
            .put(&url)
            .header("x-auth-token", &upload.token)
            .header("content-type", "application/octet-stream")
            .body(reqwest::Body::wrap_stream(chunks))
            .send()
            .await
            .map_err(|e| format!("upload to {url}: {e}"))?;
        if !r.status().is_success() {
            return Err(format!("upload to {url}: HTTP {}", r.status()));
        }
        Ok(size)
    }

    /// The guest for `instance`, with a NIC per port the network worker gives it here.
    async fn guest_spec(&self, instance: &InstanceSpec) -> Result<GuestSpec, VirtError> {
        Ok(GuestSpec {
            uuid: instance.uuid.clone(),
            vcpus: instance.flavor.vcpus,
            memory_mb: instance.flavor.memory_mb,
            root_gb: instance.flavor.root_gb,
            image: instance.image.as_ref().and_then(image_source),
            nics: self.nics(&instance.uuid).await?,
        })
    }

    /// The instance's ports on this host, from the network worker (none without one).
    async fn nics(&self, uuid: &str) -> Result<Vec<Nic>, VirtError> {
        let Some(topic) = &self.network_topic else {
            return Ok(Vec::new());
        };
        let req = network::Request::Ports {
            uuid: uuid.to_string(),
            host: self.host.clone(),
        };
        let ports: Vec<network::PortSpec> =
            self.rpc
                .call(topic, &req)
                .await
                .map_err(|e| VirtError::Network {
                    uuid: uuid.to_string(),
                    reason: format!("the network worker gave no ports: {e}"),
                })?;
        Ok(ports
            .into_iter()
            .map(|p| Nic {
                mac: p.mac,
                device: p.device,
            })
            .collect())
    }

    /// Hot-plugs a port's NIC; without a network worker no port has a NIC here to plug.
    async fn attach_interface(&self, uuid: &str, nic: Interface) -> Result<(), RpcError> {
        if self.network_topic.is_none() {
            return Err(RpcError::Invalid(format!(
                "host {} runs no network worker: its guests have no port NICs to plug",
                self.host
            )));
        }
        let (u, n) = (
            uuid.to_string(),
            Nic {
                mac: nic.mac,
                device: nic.device,
            },
        );
        self.blocking(move |d| d.attach_interface(&u, &n))
            .await
            .map_err(virt_error)?;
        tracing::info!(instance = %uuid, port = %nic.port_id, "port plugged");
        self.plugged(uuid).await;
        Ok(())
    }

    /// Unplugs a port's NIC, giving the guest [`DETACH_WAIT`] to release it.
    async fn detach_interface(&self, uuid: &str, nic: Interface) -> Result<(), RpcError> {
        let (u, n) = (
            uuid.to_string(),
            Nic {
                mac: nic.mac,
                device: nic.device,
            },
        );
        self.blocking(move |d| d.detach_interface(&u, &n, DETACH_WAIT))
            .await
            .map_err(virt_error)?;
        tracing::info!(instance = %uuid, port = %nic.port_id, "port unplugged");
        Ok(())
    }

    /// Tells the network worker the guest's taps exist.
    async fn plugged(&self, uuid: &str) {
        if let Some(topic) = &self.network_topic {
            let req = network::Request::Plugged {
                uuid: uuid.to_string(),
            };
            if let Err(e) = self.rpc.cast(topic, &req).await {
                tracing::warn!(instance = %uuid, error = %e, "cannot tell the network worker");
            }
        }
    }

    /// Spawns the guest and reports it; a failed spawn goes back to the conductor for a
    /// reschedule. Safe to run twice for the same instance (redelivery).
    async fn build_and_run(self: &Arc<Self>, instance: InstanceSpec) {
        let uuid = instance.uuid.clone();
        tracing::info!(instance = %uuid, host = %self.host, "building instance");
        if !self.spawn_delay.is_zero() {
            tokio::time::sleep(self.spawn_delay).await;
        }
        let spawned = match self.guest_spec(&instance).await {
            Ok(spec) => self.blocking(move |d| d.spawn(&spec)).await,
            Err(e) => Err(e),
        };
        if let Err(e) = spawned {
            tracing::warn!(instance = %uuid, error = %e, "spawn failed");
            let req = conductor::Request::BuildFailed {
                instance,
                host: self.host.clone(),
                reason: e.to_string(),
            };
            if let Err(e) = self.rpc.cast(topics::CONDUCTOR, &req).await {
                tracing::error!(instance = %uuid, error = %e, "cannot report failed build");
            }
            return;
        }
        self.plugged(&uuid).await;
        let req = conductor::Request::BuildSucceeded {
            uuid: uuid.clone(),
            host: self.host.clone(),
            power_state: power::RUNNING,
        };
        match self.call_conductor::<bool>(&req).await {
            Ok(true) => {
                tracing::info!(instance = %uuid, "instance running");
                self.watch_boot(&uuid);
            }
            Ok(false) => {
                tracing::warn!(instance = %uuid, "instance no longer belongs here; destroying guest");
                let u = uuid.clone();
                if let Err(e) = self.blocking(move |d| d.destroy(&u)).await {
                    tracing::error!(instance = %uuid, error = %e, "cannot destroy unwanted guest");
                }
            }
            Err(e) => tracing::error!(instance = %uuid, error = %e, "cannot report build"),
        }
    }

    /// Destroys the guest, then lets the conductor delete the instance and free its claim.
    async fn terminate(&self, uuid: &str) -> Result<bool, RpcError> {
        let u = uuid.to_string();
        if let Err(e) = self.blocking(move |d| d.destroy(&u)).await {
            self.report(uuid, Some(VmState::Error), None, Some(e.to_string()))
                .await;
            return Err(virt_error(e));
        }
        let req = conductor::Request::InstanceDestroyed {
            uuid: uuid.to_string(),
            host: self.host.clone(),
        };
        let deleted: bool = self.call_conductor(&req).await?;
        tracing::info!(instance = %uuid, "guest destroyed");
        Ok(deleted)
    }

    /// Reports the end of a power action: the new state on success, `error` on failure.
    async fn finish_action(
        &self,
        uuid: &str,
        task: TaskState,
        vm_state: VmState,
        result: Result<(), VirtError>,
    ) -> Result<Value, RpcError> {
        let power = self.current_power(uuid).await;
        let update = match &result {
            Ok(()) => InstanceUpdate {
                uuid: uuid.to_string(),
                host: self.host.clone(),
                vm_state: Some(vm_state),
                task_state: Some(None),
                power_state: Some(power),
                expected_task_state: Some(Some(task)),
                expected_vm_state: None,
                fault: None,
            },
            Err(e) => InstanceUpdate {
                uuid: uuid.to_string(),
                host: self.host.clone(),
                vm_state: Some(VmState::Error),
                task_state: Some(None),
                power_state: Some(power),
                expected_task_state: None,
                expected_vm_state: None,
                fault: Some(e.to_string()),
            },
        };
        self.rpc
            .call::<_, Value>(
                topics::CONDUCTOR,
                &conductor::Request::InstanceUpdate(update),
            )
            .await?;
        result.map_err(virt_error)?;
        json(())
    }

    /// The guest's power state as Nova numbers it (`NOSTATE` when it cannot be read).
    async fn current_power(&self, uuid: &str) -> i32 {
        let u = uuid.to_string();
        self.blocking(move |d| d.power_state(&u))
            .await
            .ok()
            .flatten()
            .map(power_code)
            .unwrap_or(power::NOSTATE)
    }

    async fn report(
        &self,
        uuid: &str,
        vm_state: Option<VmState>,
        power_state: Option<i32>,
        fault: Option<String>,
    ) {
        let update = InstanceUpdate {
            uuid: uuid.to_string(),
            host: self.host.clone(),
            vm_state,
            task_state: if vm_state == Some(VmState::Error) {
                Some(None)
            } else {
                None
            },
            power_state,
            expected_task_state: None,
            expected_vm_state: None,
            fault,
        };
        let req = conductor::Request::InstanceUpdate(update);
        if let Err(e) = self.rpc.call::<_, Value>(topics::CONDUCTOR, &req).await {
            tracing::warn!(instance = %uuid, error = %e, "state report failed");
        }
    }
}
