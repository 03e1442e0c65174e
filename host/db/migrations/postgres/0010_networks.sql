-- The network worker (issue 14): networks with their fixed addresses made up front (as
-- Nova's nova-network did), ports (virtual interfaces), floating addresses and security
-- groups. Addresses are IPv4 text; `first_address`/`last_address` are the same ranges as
-- integers, for overlap checks.

CREATE TABLE networks (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    -- NULL: shared by every project.
    project_id TEXT,
    cidr TEXT NOT NULL,
    first_address BIGINT NOT NULL,
    last_address BIGINT NOT NULL,
    gateway TEXT NOT NULL,
    range_start TEXT NOT NULL,
    range_end TEXT NOT NULL,
    -- Comma-separated name servers.
    dns TEXT NOT NULL,
    -- VLAN id or VNI; unique among networks.
    segment BIGINT UNIQUE,
    bridge TEXT,
    uplink TEXT,
    mtu BIGINT NOT NULL,
    dhcp BIGINT NOT NULL,
    driver TEXT NOT NULL,
    -- The central host when multi_host is 0.
    host TEXT,
    multi_host BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX networks_project ON networks (project_id);

-- One row per address of a network's allocation range, made with the network.
CREATE TABLE fixed_ips (
    id BIGSERIAL PRIMARY KEY,
    network_id TEXT NOT NULL REFERENCES networks (id) ON DELETE CASCADE,
    address TEXT NOT NULL,
    port_id TEXT,
    instance_id TEXT,
    allocated BIGINT NOT NULL DEFAULT 0,
    leased BIGINT NOT NULL DEFAULT 0,
    reserved BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL,
    UNIQUE (network_id, address)
);
CREATE INDEX fixed_ips_free ON fixed_ips (network_id, allocated, reserved, id);
CREATE INDEX fixed_ips_port ON fixed_ips (port_id);

-- Virtual interfaces: an instance's attachment to a network.
CREATE TABLE ports (
    id TEXT PRIMARY KEY,
    instance_id TEXT NOT NULL,
    network_id TEXT NOT NULL REFERENCES networks (id),
    project_id TEXT NOT NULL,
    mac TEXT NOT NULL UNIQUE,
    address TEXT NOT NULL,
    device TEXT NOT NULL,
    host TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX ports_instance ON ports (instance_id);
CREATE INDEX ports_host ON ports (host);
CREATE INDEX ports_network ON ports (network_id);

-- Floating address ranges (nova-manage floating create), grouped in named pools.
CREATE TABLE floating_ranges (
    cidr TEXT PRIMARY KEY,
    pool TEXT NOT NULL,
    interface TEXT NOT NULL,
    gateway TEXT,
    first_address BIGINT NOT NULL,
    last_address BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX floating_ranges_pool ON floating_ranges (pool);

CREATE TABLE floating_ips (
    id BIGSERIAL PRIMARY KEY,
    address TEXT NOT NULL UNIQUE,
    range_cidr TEXT NOT NULL REFERENCES floating_ranges (cidr) ON DELETE CASCADE,
    pool TEXT NOT NULL,
    project_id TEXT,
    port_id TEXT,
    auto_assigned BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL
);
CREATE INDEX floating_ips_free ON floating_ips (pool, project_id, id);
CREATE INDEX floating_ips_project ON floating_ips (project_id);
CREATE INDEX floating_ips_port ON floating_ips (port_id);

CREATE TABLE security_groups (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (project_id, name)
);

CREATE TABLE security_group_rules (
    id TEXT PRIMARY KEY,
    group_id TEXT NOT NULL REFERENCES security_groups (id) ON DELETE CASCADE,
    direction TEXT NOT NULL,
    protocol TEXT,
    port_min BIGINT,
    port_max BIGINT,
    icmp_type BIGINT,
    icmp_code BIGINT,
    remote_cidr TEXT,
    remote_group_id TEXT,
    -- Every field above in one canonical string: the same rule twice is refused.
    fingerprint TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (group_id, fingerprint)
);
CREATE INDEX security_group_rules_remote ON security_group_rules (remote_group_id);

CREATE TABLE security_group_members (
    instance_id TEXT NOT NULL,
    group_id TEXT NOT NULL REFERENCES security_groups (id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (instance_id, group_id)
);
CREATE INDEX security_group_members_group ON security_group_members (group_id);

-- Change counters the network worker polls: `networks` (also taken as a lock while a
-- network or floating range is made), `host:<name>` (ports or floating addresses there)
-- and `security_groups`.
CREATE TABLE network_generations (
    scope TEXT PRIMARY KEY,
    generation BIGINT NOT NULL
);
