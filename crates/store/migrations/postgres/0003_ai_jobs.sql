-- Asynchronous AI jobs (POST /v1/ai/analyze with Prefer: respond-async or a
-- callback URL) and per-tenant webhook signing secrets.
--
-- A job keeps only what the enclave answered: the HTTP status, the EHBP
-- response nonce and the sealed body (only the client that sealed the
-- request can open it), or a problem document without content. Jobs
-- expire (expires_at_us) and are purged.

CREATE TABLE ai_jobs (
    tenant_id        TEXT NOT NULL REFERENCES tenants (id),
    id               TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    http_status      BIGINT,
    response_nonce   TEXT,
    content_type     TEXT,
    body             BYTEA,
    callback_url     TEXT,
    created_at_us    BIGINT NOT NULL,
    completed_at_us  BIGINT,
    expires_at_us    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ai_jobs_by_expiry ON ai_jobs (expires_at_us);

-- The tenant's Standard Webhooks signing secret, wrapped (AES-256-GCM) by
-- the gateway's webhook wrapping key: the database never holds it in clear.
CREATE TABLE webhook_secrets (
    tenant_id        TEXT NOT NULL PRIMARY KEY REFERENCES tenants (id),
    wrapped_secret   BYTEA NOT NULL,
    created_at_us    BIGINT NOT NULL
);
