-- Compute microversion 2.80 (issue 16): who asked for a migration or an evacuation
-- (NULL for moves recorded before this was kept).
ALTER TABLE migrations ADD COLUMN user_id TEXT;
ALTER TABLE migrations ADD COLUMN project_id TEXT;
