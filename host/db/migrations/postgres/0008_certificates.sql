-- The cert service (Nova's os-certificates): one certificate authority per project, made
-- on first use. Its private key stays here and never leaves the host.
CREATE TABLE project_cas (
    project_id TEXT PRIMARY KEY,
    cert_pem TEXT NOT NULL,
    key_pem TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- The user certificates a project's CA issued (their private keys are handed out once
-- and not kept).
CREATE TABLE certificates (
    id BIGSERIAL PRIMARY KEY,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    serial TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    cert_pem TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (project_id, serial)
);
CREATE INDEX certificates_user ON certificates (project_id, user_id);
