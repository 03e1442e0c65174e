//! Who is asking: the one request context of every operation, whichever API (or token,
//! or EC2 signature) it came through.

/// The request context every operation runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    pub request_id: String,
    /// The project acted in (empty for an unscoped token).
    pub project_id: String,
    pub user_id: String,
    /// Effective roles on the project, implied ones included.
    pub roles: Vec<String>,
}

/// A fresh request id (`req-<uuid>`), as OpenStack logs them.
pub fn new_request_id() -> String {
    format!("req-{}", uuid::Uuid::new_v4())
}

impl Context {
    /// The caller as the one who asked for a move.
    pub fn requester(&self) -> crate::Requester {
        crate::Requester {
            user_id: self.user_id.clone(),
            project_id: self.project_id.clone(),
        }
    }

    /// Whether the caller has `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    pub fn is_admin(&self) -> bool {
        self.has_role("admin")
    }

    /// A reader may look but not change anything.
    pub fn can_write(&self) -> bool {
        self.has_role("admin") || self.has_role("member")
    }

    /// This request acting as an admin of `project`: for the host's own steps on a
    /// caller's behalf (an evacuated server's image, a migration's transfer image).
    pub fn as_admin_of(&self, project: &str) -> Context {
        Context {
            request_id: self.request_id.clone(),
            project_id: project.into(),
            user_id: self.user_id.clone(),
            roles: vec!["admin".into()],
        }
    }

    /// An admin context for operators and tests.
    pub fn admin(project_id: &str) -> Context {
        Context {
            request_id: new_request_id(),
            project_id: project_id.into(),
            user_id: "admin".into(),
            roles: vec!["admin".into(), "member".into(), "reader".into()],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writers_are_members_and_admins() {
        let mut c = Context::admin("p");
        assert!(c.is_admin() && c.can_write());
        c.roles = vec!["member".into()];
        assert!(!c.is_admin() && c.can_write());
        c.roles = vec!["reader".into()];
        assert!(!c.can_write());
        assert!(new_request_id().starts_with("req-"));
    }
}
