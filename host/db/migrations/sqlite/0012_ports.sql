-- Ports made through the Network API (issue 15). A port may exist before and after a
-- server: `instance_id` is NULL while it is unbound. `kept` marks a port made by the API:
-- when its server goes it is unbound, not deleted (Nova deletes only the ports it made).
-- `group_ids` (comma-separated) are an unbound port's security groups; a bound port's are
-- its server's. SQLite cannot drop a NOT NULL in place: the table is rebuilt (nothing
-- references it).
CREATE TABLE ports_new (
    id TEXT PRIMARY KEY,
    instance_id TEXT,
    network_id TEXT NOT NULL REFERENCES networks (id),
    project_id TEXT NOT NULL,
    mac TEXT NOT NULL UNIQUE,
    address TEXT NOT NULL,
    device TEXT NOT NULL,
    host TEXT,
    created_at BIGINT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    kept BIGINT NOT NULL DEFAULT 0,
    admin_state_up BIGINT NOT NULL DEFAULT 1,
    group_ids TEXT NOT NULL DEFAULT ''
);
INSERT INTO ports_new (id, instance_id, network_id, project_id, mac, address, device, host,
    created_at)
    SELECT id, instance_id, network_id, project_id, mac, address, device, host, created_at
    FROM ports;
DROP TABLE ports;
ALTER TABLE ports_new RENAME TO ports;
CREATE INDEX ports_instance ON ports (instance_id);
CREATE INDEX ports_host ON ports (host);
CREATE INDEX ports_network ON ports (network_id);
CREATE INDEX ports_project ON ports (project_id);
