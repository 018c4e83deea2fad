-- zenalyze-store schema v1 (PostgreSQL). Timestamps are microseconds since
-- the Unix epoch (UTC); hashes are 32-byte BYTEA.

CREATE TABLE tenants (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    tier            TEXT NOT NULL CHECK (tier IN ('free', 'starter', 'pro', 'enterprise')),
    quota_override  BIGINT CHECK (quota_override >= 0),
    burst_override  BIGINT CHECK (burst_override >= 0),
    created_at_us   BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    kind            TEXT NOT NULL CHECK (kind IN ('secret_live', 'secret_test', 'publishable')),
    prefix          TEXT NOT NULL,
    hash            BYTEA NOT NULL UNIQUE CHECK (length(hash) = 32),
    scopes          TEXT NOT NULL,
    created_at_us   BIGINT NOT NULL,
    revoked_at_us   BIGINT
);
CREATE INDEX api_keys_by_tenant ON api_keys (tenant_id, created_at_us, id);

CREATE TABLE records (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    user_id         TEXT NOT NULL,
    envelope        BYTEA NOT NULL,
    metadata        TEXT NOT NULL,
    size            BIGINT NOT NULL CHECK (size >= 0),
    created_at_us   BIGINT NOT NULL
);
CREATE INDEX records_by_tenant ON records (tenant_id, created_at_us DESC, id DESC);
CREATE INDEX records_by_tenant_user ON records (tenant_id, user_id, created_at_us DESC, id DESC);

CREATE TABLE idempotency_keys (
    tenant_id       TEXT NOT NULL,
    idem_key        TEXT NOT NULL,
    fingerprint     BYTEA NOT NULL,
    status          BIGINT,
    body            BYTEA,
    created_at_us   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, idem_key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at_us);

CREATE TABLE usage_counters (
    tenant_id       TEXT NOT NULL,
    operation       TEXT NOT NULL,
    day             TEXT NOT NULL,
    count           BIGINT NOT NULL CHECK (count >= 0),
    PRIMARY KEY (tenant_id, operation, day)
);

-- The audit log: append-only, hash-chained (docs/audit.md). No foreign key:
-- events outlive the data they describe.
CREATE TABLE audit_events (
    seq             BIGINT PRIMARY KEY,
    time            TEXT NOT NULL,
    tenant_id       TEXT,
    actor           TEXT NOT NULL,
    subject         TEXT,
    operation       TEXT NOT NULL,
    resource_id     TEXT,
    result          TEXT NOT NULL,
    request_id      TEXT NOT NULL,
    prev_hash       BYTEA NOT NULL,
    hash            BYTEA NOT NULL
);
CREATE INDEX audit_events_by_tenant ON audit_events (tenant_id, seq);

CREATE FUNCTION zenalyze_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END;
$$;

CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION zenalyze_audit_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION zenalyze_audit_append_only();

-- The chain head: one row, locked (SELECT … FOR UPDATE) by every batch
-- that appends, so all gateway processes extend one linear chain.
CREATE TABLE audit_head (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    seq             BIGINT NOT NULL,
    hash            BYTEA NOT NULL CHECK (length(hash) = 32)
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, decode(repeat('00', 32), 'hex'));
