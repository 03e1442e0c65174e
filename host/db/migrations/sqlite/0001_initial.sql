-- Initial schema. Integers are BIGINT, flags are 0/1, times are milliseconds since the epoch,
-- so that one query text serves SQLite and PostgreSQL alike.

CREATE TABLE services (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    binary_name TEXT NOT NULL,
    host TEXT NOT NULL,
    topic TEXT NOT NULL,
    disabled BIGINT NOT NULL DEFAULT 0,
    disabled_reason TEXT,
    last_seen_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (binary_name, host)
);

CREATE TABLE compute_nodes (
    host TEXT PRIMARY KEY,
    availability_zone TEXT NOT NULL,
    vcpus BIGINT NOT NULL,
    memory_mb BIGINT NOT NULL,
    local_gb BIGINT NOT NULL,
    reserved_memory_mb BIGINT NOT NULL DEFAULT 0,
    vcpus_used BIGINT NOT NULL DEFAULT 0,
    memory_mb_used BIGINT NOT NULL DEFAULT 0,
    local_gb_used BIGINT NOT NULL DEFAULT 0,
    running_vms BIGINT NOT NULL DEFAULT 0,
    cpu_allocation_ratio REAL NOT NULL,
    ram_allocation_ratio REAL NOT NULL,
    disk_allocation_ratio REAL NOT NULL,
    hypervisor_type TEXT NOT NULL,
    hypervisor_version BIGINT NOT NULL,
    cpu_arch TEXT NOT NULL,
    failed_builds BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL
);

CREATE TABLE flavors (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    vcpus BIGINT NOT NULL,
    memory_mb BIGINT NOT NULL,
    root_gb BIGINT NOT NULL,
    ephemeral_gb BIGINT NOT NULL DEFAULT 0,
    swap_mb BIGINT NOT NULL DEFAULT 0,
    is_public BIGINT NOT NULL DEFAULT 1,
    disabled BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE flavor_extra_specs (
    flavor_id TEXT NOT NULL REFERENCES flavors (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (flavor_id, key)
);

CREATE TABLE images (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    owner TEXT,
    visibility TEXT NOT NULL DEFAULT 'private',
    status TEXT NOT NULL DEFAULT 'queued',
    disk_format TEXT,
    container_format TEXT,
    size BIGINT,
    checksum TEXT,
    sha256 TEXT,
    location TEXT,
    min_disk BIGINT NOT NULL DEFAULT 0,
    min_ram BIGINT NOT NULL DEFAULT 0,
    properties TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE instances (
    uuid TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    flavor_id TEXT NOT NULL REFERENCES flavors (id),
    image_id TEXT,
    host TEXT,
    availability_zone TEXT,
    vm_state TEXT NOT NULL,
    task_state TEXT,
    power_state BIGINT NOT NULL DEFAULT 0,
    vcpus BIGINT NOT NULL,
    memory_mb BIGINT NOT NULL,
    disk_gb BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    tried_hosts TEXT NOT NULL DEFAULT '',
    reservation_id TEXT NOT NULL,
    key_name TEXT,
    user_data TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    launched_at BIGINT,
    terminated_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX instances_project ON instances (project_id, deleted);
CREATE INDEX instances_host ON instances (host, deleted);

CREATE TABLE instance_actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_uuid TEXT NOT NULL,
    request_id TEXT NOT NULL,
    action TEXT NOT NULL,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    start_time BIGINT NOT NULL,
    finish_time BIGINT,
    result TEXT
);
CREATE INDEX instance_actions_uuid ON instance_actions (instance_uuid);

CREATE TABLE instance_faults (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_uuid TEXT NOT NULL,
    code BIGINT NOT NULL,
    message TEXT NOT NULL,
    host TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX instance_faults_uuid ON instance_faults (instance_uuid);

CREATE TABLE quotas (
    project_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    hard_limit BIGINT NOT NULL,
    PRIMARY KEY (project_id, resource)
);

CREATE TABLE quota_usages (
    project_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    in_use BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, resource)
);

CREATE TABLE keypairs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    key_type TEXT NOT NULL DEFAULT 'ssh',
    fingerprint TEXT NOT NULL,
    public_key TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (user_id, name)
);
