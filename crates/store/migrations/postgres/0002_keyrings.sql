-- Key Management Service (SPEC §3): platform keyrings and their key
-- versions. Only wrapped key material is stored (wrapped by the root of
-- trust: the local root key or AWS KMS); `root_id` names which one.

CREATE TABLE keyrings (
    tenant_id               TEXT NOT NULL REFERENCES tenants (id),
    name                    TEXT NOT NULL,
    min_decryption_version  BIGINT NOT NULL CHECK (min_decryption_version >= 1),
    auto_rotate_period_s    BIGINT CHECK (auto_rotate_period_s >= 3600),
    deletion_allowed        BIGINT NOT NULL CHECK (deletion_allowed IN (0, 1)),
    root_id                 TEXT NOT NULL,
    index_key_wrapped       BYTEA NOT NULL,
    primary_version         BIGINT NOT NULL CHECK (primary_version >= 1),
    primary_created_at_us   BIGINT NOT NULL,
    created_at_us           BIGINT NOT NULL,
    updated_at_us           BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name),
    CHECK (min_decryption_version <= primary_version)
);

CREATE TABLE keyring_versions (
    tenant_id               TEXT NOT NULL,
    keyring                 TEXT NOT NULL,
    version                 BIGINT NOT NULL CHECK (version >= 1),
    root_id                 TEXT NOT NULL,
    wrapped_key             BYTEA NOT NULL,
    created_at_us           BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, keyring, version),
    FOREIGN KEY (tenant_id, keyring) REFERENCES keyrings (tenant_id, name) ON DELETE CASCADE
);
CREATE INDEX keyrings_auto_rotate ON keyrings (auto_rotate_period_s) WHERE auto_rotate_period_s IS NOT NULL;
