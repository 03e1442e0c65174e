-- An operator's mark that a compute service is down (its host is fenced), so that its
-- instances may be evacuated without waiting for the heartbeat to age.
ALTER TABLE services ADD COLUMN forced_down BIGINT NOT NULL DEFAULT 0;

-- Instances moved off a host: Nova's migrations. An evacuation stays 'accepted' until the
-- rebuild on the destination ends ('done' or 'failed') and 'completed' once the source
-- host, back up, has destroyed what was left of the guest there.
CREATE TABLE migrations (
    id BIGSERIAL PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    instance_uuid TEXT NOT NULL,
    migration_type TEXT NOT NULL,
    source_host TEXT NOT NULL,
    dest_host TEXT NOT NULL,
    status TEXT NOT NULL,
    flavor_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX migrations_source ON migrations (source_host, status);
CREATE INDEX migrations_instance ON migrations (instance_uuid);
