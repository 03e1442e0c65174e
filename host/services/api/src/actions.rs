//! Server actions by name (`start`, `reboot`, `resize`, `migrate`, …), as the dialects
//! name them: one dispatch in the domain, whatever API the request came through.

use crate::snapshots::UploadVia;
use crate::{ApiError, ComputeApi, Context};
use metacloud_db::instances::StateChange;
use metacloud_image::Images;
use metacloud_objects::diagnostics::GuestDiagnostics;
use metacloud_rpc::compute::{self, PowerOp};
use metacloud_rpc::objects::VmState;
use metacloud_rpc::topics;

/// What an action may need besides the request context.
pub struct ActionEnv<'a> {
    /// The image service (migrations move disks as transfer images).
    pub images: &'a Images,
    /// How a source compute uploads a migrating disk (the caller's token); none when the
    /// request carried no token.
    pub upload: Option<UploadVia>,
}

fn arg<'a>(args: &'a [(String, String)], key: &str) -> Option<&'a str> {
    args.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

impl ComputeApi {
    /// Runs the action `action` with `args` on server `id`; an unknown action is a 400.
    pub async fn server_action(
        &self,
        ctx: &Context,
        id: &str,
        action: &str,
        args: &[(String, String)],
        env: ActionEnv<'_>,
    ) -> Result<(), ApiError> {
        match action {
            "start" => self.start(ctx, id).await,
            "stop" => self.stop(ctx, id).await,
            "lock" => self.lock(ctx, id, arg(args, "locked_reason")).await,
            "unlock" => self.unlock(ctx, id).await,
            "reboot" => {
                let hard = arg(args, "type").is_some_and(|t| t.eq_ignore_ascii_case("HARD"));
                self.reboot(ctx, id, hard).await
            }
            "resize" => {
                let flavor = arg(args, "flavor")
                    .ok_or_else(|| ApiError::BadRequest("resize needs a flavor".into()))?;
                self.resize(ctx, id, flavor).await
            }
            "confirm-resize" => {
                let transfer = self.confirm_resize(ctx, id).await?;
                drop_transfer_image(ctx, env.images, transfer).await;
                Ok(())
            }
            "revert-resize" => {
                let transfer = self.revert_resize(ctx, id).await?;
                drop_transfer_image(ctx, env.images, transfer).await;
                Ok(())
            }
            "migrate" => {
                let via = env.upload.ok_or_else(|| {
                    ApiError::Forbidden("migrating needs the caller's token".into())
                })?;
                self.migrate(ctx, id, arg(args, "host"), env.images, via)
                    .await
            }
            "reset-state" => self.reset_state(ctx, id, arg(args, "state")).await,
            "inject-network-info" => self.inject_network_info(ctx, id).await,
            "trigger-crash-dump" => self.trigger_crash_dump(ctx, id).await,
            "evacuate" => self
                .evacuate(
                    ctx,
                    id,
                    arg(args, "host"),
                    env.images,
                    arg(args, "stop") == Some("true"),
                )
                .await
                .map(|_| ()),
            other => match PowerOp::parse(other) {
                Some(op) => self.change_power(ctx, id, op).await,
                None => Err(ApiError::BadRequest(format!(
                    "There is no such action: {other}"
                ))),
            },
        }
    }
}

impl ComputeApi {
    /// Nova's `os-resetState` (admins): sets the vm state to `active` or `error` and
    /// clears the task state, whatever they were; nothing on the host changes.
    async fn reset_state(
        &self,
        ctx: &Context,
        id: &str,
        state: Option<&str>,
    ) -> Result<(), ApiError> {
        Self::require_admin(ctx, "os_compute_api:os-admin-actions:reset_state")?;
        let vm_state = match state {
            Some("active") => VmState::Active,
            Some("error") => VmState::Error,
            other => {
                return Err(ApiError::BadRequest(format!(
                    "Invalid input for field/attribute state. Value: {}. It is not one of \
                     ['active', 'error']",
                    other.unwrap_or("null")
                )))
            }
        };
        self.visible(ctx, id).await?;
        let change = StateChange {
            vm_state: Some(vm_state),
            task_state: Some(None),
            ..Default::default()
        };
        self.db.update_instance(id, &change).await?;
        self.db
            .record_action(
                id,
                "resetState",
                &ctx.request_id,
                &ctx.project_id,
                &ctx.user_id,
            )
            .await?;
        tracing::info!(instance = %id, state = vm_state.as_str(), "state reset by an admin");
        Ok(())
    }

    /// Nova's `injectNetworkInfo` (admins): the network worker keeps every host's
    /// networking in step with the database already, so there is nothing to push; the
    /// server must exist and the action is recorded.
    async fn inject_network_info(&self, ctx: &Context, id: &str) -> Result<(), ApiError> {
        Self::require_admin(ctx, "os_compute_api:os-admin-actions:inject_network_info")?;
        self.visible(ctx, id).await?;
        Ok(())
    }

    /// Nova's `trigger_crash_dump` (2.17): an NMI to the guest, which a guest set up for
    /// it answers with a kernel crash dump. The server must be active with no task (409),
    /// not locked for the caller (409); a hypervisor that cannot is a 400.
    async fn trigger_crash_dump(&self, ctx: &Context, id: &str) -> Result<(), ApiError> {
        Self::require_write(ctx, "os_compute_api:servers:trigger_crash_dump")?;
        let inst = self.changeable(ctx, id).await?;
        let host = match (&inst.host, inst.vm_state, inst.task_state) {
            (Some(host), VmState::Active, None) => host.clone(),
            _ => {
                let task = inst.task_state.map(|t| t.as_str()).unwrap_or("None");
                return Err(ApiError::Conflict(format!(
                    "Cannot 'trigger_crash_dump' instance {id} while it is in vm_state {} \
                     (task_state {task})",
                    inst.vm_state.as_str()
                )));
            }
        };
        self.db()
            .record_action(
                id,
                "trigger_crash_dump",
                &ctx.request_id,
                &ctx.project_id,
                &ctx.user_id,
            )
            .await?;
        let req = compute::Request::InjectNmi { uuid: id.into() };
        self.rpc
            .call::<_, ()>(&topics::compute(&host), &req)
            .await?;
        tracing::info!(instance = %id, %host, "crash dump triggered");
        Ok(())
    }

    /// What the hypervisor says of a running server now (Nova's server diagnostics,
    /// admins), with its uptime since launch; 409 when it does not run.
    pub async fn diagnostics(
        &self,
        ctx: &Context,
        id: &str,
    ) -> Result<(GuestDiagnostics, Option<u64>), ApiError> {
        Self::require_admin(ctx, "os_compute_api:os-server-diagnostics")?;
        let inst = self.visible(ctx, id).await?;
        let not_running = |state: &str| {
            ApiError::Conflict(format!(
                "Instance {id} in power state {state}. Cannot get_diagnostics while the \
                 instance is in this state."
            ))
        };
        let Some(host) = inst.host.clone() else {
            return Err(not_running("pending"));
        };
        let req = compute::Request::Diagnostics { uuid: id.into() };
        let d: GuestDiagnostics = self.rpc.call(&topics::compute(&host), &req).await?;
        if d.state != "running" {
            return Err(not_running(&d.state));
        }
        let uptime = inst
            .launched_at
            .map(|t| ((metacloud_db::now_ms() - t).max(0) / 1000) as u64);
        Ok((d, uptime))
    }

    /// Deletes server `id` and, with it, the transfer image of a migration it was in.
    pub async fn delete_server(
        &self,
        ctx: &Context,
        id: &str,
        images: &Images,
    ) -> Result<(), ApiError> {
        let transfer = self
            .db()
            .pending_resize(id)
            .await
            .ok()
            .flatten()
            .and_then(|old| old.transfer_image);
        self.delete(ctx, id).await?;
        drop_transfer_image(ctx, images, transfer).await;
        Ok(())
    }
}

/// Deletes a finished migration's transfer image (as an admin of its owner: the image
/// belongs to whoever migrated, not to the caller who confirms).
async fn drop_transfer_image(ctx: &Context, images: &Images, image: Option<String>) {
    let Some(id) = image else { return };
    let admin = ctx.as_admin_of(&ctx.project_id);
    if let Err(e) = images.delete(&admin, &id).await {
        tracing::warn!(image = %id, error = %e, "cannot delete a migration's transfer image");
    }
}
