-- Server lists are paged in SQL, newest first (created_at DESC, uuid DESC) after a keyset
-- marker: these indexes give that order directly, for one project or for all, so a page
-- reads only its own rows instead of sorting every instance.
CREATE INDEX instances_project_created ON instances (project_id, deleted, created_at, uuid);
CREATE INDEX instances_deleted_created ON instances (deleted, created_at, uuid);
-- changes-since lists (deleted ones included) read the recently changed rows only.
CREATE INDEX instances_updated ON instances (updated_at);
-- The new project index starts with the same columns, and serves what this one did.
DROP INDEX instances_project;
