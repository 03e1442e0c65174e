-- The Network API (issue 15). A network may exist before its subnet (`cidr` is '' until
-- one is made; `subnet_id` names it). An external network carries no fixed addresses: its
-- subnets are floating ranges (`floating_ranges.network_id`), and every pool gets one.
-- Routers join tenant networks to an external one: a gateway address taken from that
-- network's floating range (`floating_ips.router_id`), and one interface per network.

ALTER TABLE networks ADD COLUMN external BIGINT NOT NULL DEFAULT 0;
ALTER TABLE networks ADD COLUMN subnet_id TEXT;
ALTER TABLE networks ADD COLUMN subnet_name TEXT NOT NULL DEFAULT '';
UPDATE networks SET subnet_id = id;

ALTER TABLE floating_ranges ADD COLUMN id TEXT;
ALTER TABLE floating_ranges ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE floating_ranges ADD COLUMN network_id TEXT;
ALTER TABLE floating_ranges ADD COLUMN range_start TEXT;
ALTER TABLE floating_ranges ADD COLUMN range_end TEXT;
ALTER TABLE floating_ranges ADD COLUMN dns TEXT NOT NULL DEFAULT '';
UPDATE floating_ranges SET id = lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(2))) || '-' || lower(hex(randomblob(6)));
-- One external network per pool that exists already.
INSERT INTO networks (id, name, project_id, cidr, first_address, last_address, gateway,
    range_start, range_end, dns, mtu, dhcp, driver, multi_host, created_at, updated_at, external)
    SELECT lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(2))) || '-' || lower(hex(randomblob(6))), pool, NULL, '', 1, 0, '', '', '', '', 1500, 0, 'external', 0, MIN(created_at),
    MIN(created_at), 1 FROM floating_ranges GROUP BY pool;
UPDATE floating_ranges SET network_id =
    (SELECT n.id FROM networks n WHERE n.external = 1 AND n.name = floating_ranges.pool);

ALTER TABLE floating_ips ADD COLUMN router_id TEXT;

CREATE TABLE routers (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    admin_state_up BIGINT NOT NULL DEFAULT 1,
    -- The external network and the address the router has on it.
    external_network_id TEXT REFERENCES networks (id),
    gateway_address TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX routers_project ON routers (project_id);

-- A network joined to a router (at most one router per network); the router's address
-- on it is the network's gateway.
CREATE TABLE router_interfaces (
    network_id TEXT PRIMARY KEY REFERENCES networks (id),
    router_id TEXT NOT NULL REFERENCES routers (id),
    port_id TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);
CREATE INDEX router_interfaces_router ON router_interfaces (router_id);
