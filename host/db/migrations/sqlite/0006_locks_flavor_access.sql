-- Instance locks: who locked it ('owner' or 'admin'), NULL when unlocked.

ALTER TABLE instances ADD COLUMN locked_by TEXT;

-- The addresses a tenant says the server is reached at (Nova's accessIPv4/accessIPv6).
ALTER TABLE instances ADD COLUMN access_ip_v4 TEXT;
ALTER TABLE instances ADD COLUMN access_ip_v6 TEXT;

-- A resize waiting for confirm or revert: the flavor (and vm_state) before it, as JSON.
ALTER TABLE instances ADD COLUMN old_flavor TEXT;

-- Private flavors and the projects they are shared with.
CREATE TABLE flavor_projects (
    flavor_id TEXT NOT NULL REFERENCES flavors (id) ON DELETE CASCADE,
    project_id TEXT NOT NULL,
    PRIMARY KEY (flavor_id, project_id)
);

-- Default limits set through the API (Nova's `default` quota class); they override the
-- configured defaults and are overridden by a project's own limits.
CREATE TABLE quota_classes (
    class_name TEXT NOT NULL,
    resource TEXT NOT NULL,
    hard_limit BIGINT NOT NULL,
    PRIMARY KEY (class_name, resource)
);
