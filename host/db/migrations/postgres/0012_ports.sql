-- Ports made through the Network API (issue 15). A port may exist before and after a
-- server: `instance_id` is NULL while it is unbound. `kept` marks a port made by the API:
-- when its server goes it is unbound, not deleted (Nova deletes only the ports it made).
-- `group_ids` (comma-separated) are an unbound port's security groups; a bound port's are
-- its server's.
ALTER TABLE ports ALTER COLUMN instance_id DROP NOT NULL;
ALTER TABLE ports ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE ports ADD COLUMN kept BIGINT NOT NULL DEFAULT 0;
ALTER TABLE ports ADD COLUMN admin_state_up BIGINT NOT NULL DEFAULT 1;
ALTER TABLE ports ADD COLUMN group_ids TEXT NOT NULL DEFAULT '';
CREATE INDEX ports_project ON ports (project_id);
