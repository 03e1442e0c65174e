-- Instance locks: who locked it ('owner' or 'admin'), NULL when unlocked.

ALTER TABLE instances ADD COLUMN locked_by TEXT;

-- Private flavors and the projects they are shared with.
CREATE TABLE flavor_projects (
    flavor_id TEXT NOT NULL REFERENCES flavors (id) ON DELETE CASCADE,
    project_id TEXT NOT NULL,
    PRIMARY KEY (flavor_id, project_id)
);
