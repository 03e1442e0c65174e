//! Who is asking, as the host established it: a dialect passes the caller back with each
//! import call, and every import checks it against this.

use metacloud_objects::Context;
use metacloud_plugins::api::{Access, Caller, OpError};
use std::sync::Arc;

/// The caller the host established for one request: from its token, or from an EC2
/// signature it verified during the request. Every import checks the caller a dialect
/// passes against it.
#[derive(Clone, Default)]
pub(crate) struct Established(Arc<std::sync::Mutex<Option<Caller>>>);

impl Established {
    pub(crate) fn new(caller: Option<Caller>) -> Established {
        Established(Arc::new(std::sync::Mutex::new(caller)))
    }

    fn get(&self) -> Option<Caller> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The established caller, if `claimed` is it (same user, project and roles); a
    /// mismatch is logged: a dialect tried to act as someone else.
    pub(crate) fn check(&self, claimed: &Caller) -> Option<Caller> {
        let known = self.get()?;
        if known.user_id == claimed.user_id
            && known.project_id == claimed.project_id
            && known.roles == claimed.roles
        {
            Some(known)
        } else {
            tracing::warn!(claimed = %claimed.user_id, "dialect passed a caller the host did not establish");
            None
        }
    }

    /// [`Established::check`], for operations that need a project-scoped caller.
    pub(crate) fn check_scoped(&self, claimed: &Caller) -> Result<Caller, OpError> {
        self.check(claimed)
            .filter(|k| !k.project_id.is_empty())
            .ok_or_else(|| {
                OpError::Forbidden("the caller is not the one the host authenticated".into())
            })
    }

    pub(crate) fn set(&self, caller: Caller) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(caller);
    }
}

/// The request context of a caller: the one type every host service takes.
pub(crate) fn context(c: &Caller) -> Context {
    Context {
        request_id: c.request_id.clone(),
        project_id: c.project_id.clone(),
        user_id: c.user_id.clone(),
        roles: c.roles.clone(),
    }
}

/// Whether `roles` may call a route of level `access` (admin ⇒ member ⇒ reader).
pub(crate) fn allowed(access: Access, roles: &[String]) -> bool {
    let has = |r: &str| roles.iter().any(|x| x == r);
    match access {
        Access::Public => true,
        Access::Reader => has("reader") || has("member") || has("admin"),
        Access::Member => has("member") || has("admin"),
        Access::Admin => has("admin"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_levels_follow_implied_roles() {
        let roles = |r: &[&str]| r.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(allowed(Access::Reader, &roles(&["reader"])));
        assert!(!allowed(Access::Member, &roles(&["reader"])));
        assert!(allowed(Access::Member, &roles(&["admin"])));
        assert!(!allowed(Access::Admin, &roles(&["member", "reader"])));
        assert!(allowed(Access::Public, &[]));
    }
}
