// Backend code shared by SQLite and PostgreSQL. This file is `include!`d by
// `sqlite.rs` and `postgres.rs`, each of which defines beforehand:
//
// * `type Db` (the sqlx database) and `type DbRow`;
// * `async fn begin_write(pool) -> sqlx::Result<Transaction>`: a transaction
//   that holds the database's write lock from its first statement (SQLite
//   `BEGIN IMMEDIATE`) or a plain one (PostgreSQL, which locks rows);
// * `async fn lock_head(tx) -> Result<AuditHead>`: reads the chain head and
//   holds it locked until commit.
//
// All SQL here is portable between the two: `$n` placeholders, `ON CONFLICT`,
// `RETURNING`, BIGINT microsecond timestamps, BLOB/BYTEA hashes.

use crate::audit::{AuditDraft, AuditEvent, AuditHead, AuditResult};
use crate::error::{Result, StoreError};
use crate::ids::{ApiKeyId, RecordId, TenantId, UserId};
use crate::keyring::{
    KeyVersion, Keyring, KeyringName, KeyringUpdate, NewKeyVersion, NewKeyring, WrappedKey,
};
use crate::model::{
    ApiKey, Cursor, IdempotencyClaim, IdempotencyKey, KeyHash, KeyKind, Metadata, NewApiKey,
    NewRecord, NewTenant, Record, RecordPage, StoredResponse, Tenant, TenantUpdate, Tier,
    UsageIncrement, UsageRow, MAX_IDEMPOTENT_BODY_LEN, MAX_PAGE_SIZE,
};
use crate::store::{Applied, AuditReceipt, Mutation, Outcome, WriteUnit};
use sqlx::{Pool, QueryBuilder, Row, Transaction};
use std::collections::BTreeMap;
use time::{Date, OffsetDateTime};

const TENANT_COLS: &str = "id, name, tier, quota_override, burst_override, created_at_us";
const KEY_COLS: &str = "id, tenant_id, kind, prefix, hash, scopes, created_at_us, revoked_at_us";
const RECORD_COLS: &str = "id, tenant_id, user_id, envelope, metadata, size, created_at_us";
const KEYRING_COLS: &str = "tenant_id, name, min_decryption_version, auto_rotate_period_s, \
     deletion_allowed, root_id, index_key_wrapped, primary_version, primary_created_at_us, \
     created_at_us, updated_at_us";
const KEY_VERSION_COLS: &str = "tenant_id, keyring, version, root_id, wrapped_key, created_at_us";
const AUDIT_COLS: &str =
    "seq, time, tenant_id, actor, subject, operation, resource_id, result, request_id, prev_hash, hash";

fn now_us() -> i64 {
    let now = OffsetDateTime::now_utc();
    i64::try_from(now.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX)
}

fn time_from_us(us: i64, what: &'static str) -> Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .map_err(|_| StoreError::Corrupt(what))
}

fn u64_to_i64(v: u64, what: &'static str) -> Result<i64> {
    i64::try_from(v).map_err(|_| StoreError::InvalidInput(what))
}

fn i64_to_u64(v: i64, what: &'static str) -> Result<u64> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(what))
}

fn day_text(d: Date) -> Result<String> {
    if !(1970..=9999).contains(&d.year()) {
        return Err(StoreError::InvalidInput("usage day out of range"));
    }
    Ok(format!(
        "{:04}-{:02}-{:02}",
        d.year(),
        u8::from(d.month()),
        d.day()
    ))
}

fn parse_day(s: &str) -> Result<Date> {
    const ERR: StoreError = StoreError::Corrupt("usage_counters.day");
    let mut parts = s.splitn(3, '-');
    let (Some(y), Some(m), Some(d)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(ERR);
    };
    let y: i32 = y.parse().map_err(|_| ERR)?;
    let m: u8 = m.parse().map_err(|_| ERR)?;
    let d: u8 = d.parse().map_err(|_| ERR)?;
    let month = time::Month::try_from(m).map_err(|_| ERR)?;
    Date::from_calendar_date(y, month, d).map_err(|_| ERR)
}

fn get<'r, T>(row: &'r DbRow, col: &'static str) -> Result<T>
where
    T: sqlx::Decode<'r, Db> + sqlx::Type<Db>,
{
    row.try_get::<T, _>(col)
        .map_err(|_| StoreError::Corrupt(col))
}

fn tenant_from_row(row: &DbRow) -> Result<Tenant> {
    let quota: Option<i64> = get(row, "quota_override")?;
    let burst: Option<i64> = get(row, "burst_override")?;
    Ok(Tenant {
        id: TenantId::parse(&get::<String>(row, "id")?)
            .map_err(|_| StoreError::Corrupt("tenants.id"))?,
        name: get(row, "name")?,
        tier: Tier::parse(&get::<String>(row, "tier")?)
            .map_err(|_| StoreError::Corrupt("tenants.tier"))?,
        quota_override: quota
            .map(|q| i64_to_u64(q, "tenants.quota_override"))
            .transpose()?,
        burst_override: burst
            .map(|b| u32::try_from(b).map_err(|_| StoreError::Corrupt("tenants.burst_override")))
            .transpose()?,
        created_at: time_from_us(get(row, "created_at_us")?, "tenants.created_at_us")?,
    })
}

fn split_scopes(s: &str) -> Vec<String> {
    s.split(' ')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

fn key_from_row(row: &DbRow) -> Result<ApiKey> {
    let hash: Vec<u8> = get(row, "hash")?;
    let revoked: Option<i64> = get(row, "revoked_at_us")?;
    Ok(ApiKey {
        id: ApiKeyId::parse(&get::<String>(row, "id")?)
            .map_err(|_| StoreError::Corrupt("api_keys.id"))?,
        tenant_id: TenantId::parse(&get::<String>(row, "tenant_id")?)
            .map_err(|_| StoreError::Corrupt("api_keys.tenant_id"))?,
        kind: KeyKind::parse(&get::<String>(row, "kind")?)
            .map_err(|_| StoreError::Corrupt("api_keys.kind"))?,
        prefix: get(row, "prefix")?,
        hash: KeyHash::from_slice(&hash).map_err(|_| StoreError::Corrupt("api_keys.hash"))?,
        scopes: split_scopes(&get::<String>(row, "scopes")?),
        created_at: time_from_us(get(row, "created_at_us")?, "api_keys.created_at_us")?,
        revoked_at: revoked
            .map(|r| time_from_us(r, "api_keys.revoked_at_us"))
            .transpose()?,
    })
}

fn record_from_row(row: &DbRow) -> Result<Record> {
    let metadata: String = get(row, "metadata")?;
    let metadata: Metadata =
        serde_json::from_str(&metadata).map_err(|_| StoreError::Corrupt("records.metadata"))?;
    Ok(Record {
        id: RecordId::parse(&get::<String>(row, "id")?)
            .map_err(|_| StoreError::Corrupt("records.id"))?,
        tenant_id: TenantId::parse(&get::<String>(row, "tenant_id")?)
            .map_err(|_| StoreError::Corrupt("records.tenant_id"))?,
        user_id: UserId::parse(&get::<String>(row, "user_id")?)
            .map_err(|_| StoreError::Corrupt("records.user_id"))?,
        envelope: get(row, "envelope")?,
        metadata,
        size: i64_to_u64(get(row, "size")?, "records.size")?,
        created_at: time_from_us(get(row, "created_at_us")?, "records.created_at_us")?,
    })
}

fn u32_col(row: &DbRow, col: &'static str) -> Result<u32> {
    u32::try_from(get::<i64>(row, col)?).map_err(|_| StoreError::Corrupt(col))
}

fn keyring_from_row(row: &DbRow) -> Result<Keyring> {
    let period: Option<i64> = get(row, "auto_rotate_period_s")?;
    Ok(Keyring {
        tenant_id: TenantId::parse(&get::<String>(row, "tenant_id")?)
            .map_err(|_| StoreError::Corrupt("keyrings.tenant_id"))?,
        name: KeyringName::parse(&get::<String>(row, "name")?)
            .map_err(|_| StoreError::Corrupt("keyrings.name"))?,
        min_decryption_version: u32_col(row, "min_decryption_version")?,
        auto_rotate_period_s: period
            .map(|p| i64_to_u64(p, "keyrings.auto_rotate_period_s"))
            .transpose()?,
        deletion_allowed: get::<i64>(row, "deletion_allowed")? != 0,
        root_id: get(row, "root_id")?,
        index_key: WrappedKey(get(row, "index_key_wrapped")?),
        primary_version: u32_col(row, "primary_version")?,
        primary_created_at: time_from_us(
            get(row, "primary_created_at_us")?,
            "keyrings.primary_created_at_us",
        )?,
        created_at: time_from_us(get(row, "created_at_us")?, "keyrings.created_at_us")?,
        updated_at: time_from_us(get(row, "updated_at_us")?, "keyrings.updated_at_us")?,
    })
}

fn key_version_from_row(row: &DbRow) -> Result<KeyVersion> {
    Ok(KeyVersion {
        tenant_id: TenantId::parse(&get::<String>(row, "tenant_id")?)
            .map_err(|_| StoreError::Corrupt("keyring_versions.tenant_id"))?,
        keyring: KeyringName::parse(&get::<String>(row, "keyring")?)
            .map_err(|_| StoreError::Corrupt("keyring_versions.keyring"))?,
        version: u32_col(row, "version")?,
        root_id: get(row, "root_id")?,
        wrapped: WrappedKey(get(row, "wrapped_key")?),
        created_at: time_from_us(get(row, "created_at_us")?, "keyring_versions.created_at_us")?,
    })
}

async fn keyring_exists(
    tx: &mut Transaction<'static, Db>,
    tenant: &TenantId,
    name: &KeyringName,
) -> Result<bool> {
    Ok(
        sqlx::query("SELECT 1 FROM keyrings WHERE tenant_id = $1 AND name = $2")
            .bind(tenant.as_str())
            .bind(name.as_str())
            .fetch_optional(&mut **tx)
            .await?
            .is_some(),
    )
}

/// Applies a keyring mutation inside the batch transaction.
async fn apply_keyring_mutation(
    tx: &mut Transaction<'static, Db>,
    mutation: Mutation,
    now: i64,
) -> Result<Outcome> {
    match mutation {
        Mutation::CreateKeyring(NewKeyring {
            tenant_id,
            name,
            settings,
            root_id,
            index_key,
            first_key,
        }) => {
            let period = settings
                .auto_rotate_period_s
                .map(|p| u64_to_i64(p, "auto_rotate_period"))
                .transpose()?;
            let row = sqlx::query(&format!(
                "INSERT INTO keyrings ({KEYRING_COLS}) \
                 SELECT $1, $2, 1, $3, $4, $5, $6, 1, $7, $7, $7 \
                 WHERE EXISTS (SELECT 1 FROM tenants WHERE id = $1) \
                 ON CONFLICT DO NOTHING RETURNING {KEYRING_COLS}"
            ))
            .bind(tenant_id.as_str())
            .bind(name.as_str())
            .bind(period)
            .bind(i64::from(settings.deletion_allowed))
            .bind(root_id.as_str())
            .bind(index_key.0.as_slice())
            .bind(now)
            .fetch_optional(&mut **tx)
            .await?;
            let Some(row) = row else {
                return Ok(if tenant_exists(tx, &tenant_id).await? {
                    Outcome::Conflict
                } else {
                    Outcome::NotFound
                });
            };
            sqlx::query(&format!(
                "INSERT INTO keyring_versions ({KEY_VERSION_COLS}) VALUES ($1, $2, 1, $3, $4, $5)"
            ))
            .bind(tenant_id.as_str())
            .bind(name.as_str())
            .bind(root_id.as_str())
            .bind(first_key.0.as_slice())
            .bind(now)
            .execute(&mut **tx)
            .await?;
            Ok(Outcome::KeyringCreated(keyring_from_row(&row)?))
        }
        Mutation::AddKeyVersion(NewKeyVersion {
            tenant_id,
            keyring,
            version,
            root_id,
            wrapped,
        }) => {
            let row = sqlx::query(&format!(
                "UPDATE keyrings SET primary_version = $3, primary_created_at_us = $4, updated_at_us = $4 \
                 WHERE tenant_id = $1 AND name = $2 AND primary_version = $3 - 1 \
                 RETURNING {KEYRING_COLS}"
            ))
            .bind(tenant_id.as_str())
            .bind(keyring.as_str())
            .bind(i64::from(version))
            .bind(now)
            .fetch_optional(&mut **tx)
            .await?;
            let Some(row) = row else {
                return Ok(if keyring_exists(tx, &tenant_id, &keyring).await? {
                    Outcome::Conflict
                } else {
                    Outcome::NotFound
                });
            };
            sqlx::query(&format!(
                "INSERT INTO keyring_versions ({KEY_VERSION_COLS}) VALUES ($1, $2, $3, $4, $5, $6)"
            ))
            .bind(tenant_id.as_str())
            .bind(keyring.as_str())
            .bind(i64::from(version))
            .bind(root_id.as_str())
            .bind(wrapped.0.as_slice())
            .bind(now)
            .execute(&mut **tx)
            .await?;
            Ok(Outcome::KeyVersionAdded(keyring_from_row(&row)?))
        }
        Mutation::UpdateKeyring(KeyringUpdate {
            tenant_id,
            name,
            min_decryption_version,
            auto_rotate_period_s,
            deletion_allowed,
        }) => {
            let period = auto_rotate_period_s
                .flatten()
                .map(|p| u64_to_i64(p, "auto_rotate_period"))
                .transpose()?;
            let row = sqlx::query(&format!(
                "UPDATE keyrings SET \
                 min_decryption_version = COALESCE($3, min_decryption_version), \
                 auto_rotate_period_s = CASE WHEN $4 = 1 THEN $5 ELSE auto_rotate_period_s END, \
                 deletion_allowed = COALESCE($6, deletion_allowed), \
                 updated_at_us = $7 \
                 WHERE tenant_id = $1 AND name = $2 \
                 AND COALESCE($3, min_decryption_version) <= primary_version \
                 RETURNING {KEYRING_COLS}"
            ))
            .bind(tenant_id.as_str())
            .bind(name.as_str())
            .bind(min_decryption_version.map(i64::from))
            .bind(i64::from(auto_rotate_period_s.is_some()))
            .bind(period)
            .bind(deletion_allowed.map(i64::from))
            .bind(now)
            .fetch_optional(&mut **tx)
            .await?;
            match row {
                Some(row) => Ok(Outcome::KeyringUpdated(keyring_from_row(&row)?)),
                None => Ok(if keyring_exists(tx, &tenant_id, &name).await? {
                    Outcome::Conflict
                } else {
                    Outcome::NotFound
                }),
            }
        }
        Mutation::DeleteKeyring { tenant_id, name } => {
            // Versions first (explicitly, not relying on the cascade being
            // enabled), only when deletion is allowed.
            sqlx::query(
                "DELETE FROM keyring_versions WHERE tenant_id = $1 AND keyring = $2 \
                 AND EXISTS (SELECT 1 FROM keyrings WHERE tenant_id = $1 AND name = $2 AND deletion_allowed = 1)",
            )
            .bind(tenant_id.as_str())
            .bind(name.as_str())
            .execute(&mut **tx)
            .await?;
            let done = sqlx::query(
                "DELETE FROM keyrings WHERE tenant_id = $1 AND name = $2 AND deletion_allowed = 1",
            )
            .bind(tenant_id.as_str())
            .bind(name.as_str())
            .execute(&mut **tx)
            .await?;
            if done.rows_affected() == 1 {
                return Ok(Outcome::KeyringDeleted);
            }
            Ok(if keyring_exists(tx, &tenant_id, &name).await? {
                Outcome::Conflict
            } else {
                Outcome::NotFound
            })
        }
        _ => Err(StoreError::InvalidInput("not a keyring mutation")),
    }
}

/// Decodes an audit row; `Err(seq)` when it does not decode.
fn audit_from_row(row: &DbRow) -> std::result::Result<AuditEvent, u64> {
    let seq: i64 = row.try_get("seq").map_err(|_| 0u64)?;
    let useq = u64::try_from(seq).map_err(|_| 0u64)?;
    let decode = || -> Option<AuditEvent> {
        let prev: Vec<u8> = row.try_get("prev_hash").ok()?;
        let hash: Vec<u8> = row.try_get("hash").ok()?;
        Some(AuditEvent {
            seq: useq,
            time: row.try_get("time").ok()?,
            tenant_id: row.try_get("tenant_id").ok()?,
            actor: row.try_get("actor").ok()?,
            subject: row.try_get("subject").ok()?,
            operation: row.try_get("operation").ok()?,
            resource_id: row.try_get("resource_id").ok()?,
            result: row.try_get("result").ok()?,
            request_id: row.try_get("request_id").ok()?,
            prev_hash: <[u8; 32]>::try_from(prev.as_slice()).ok()?,
            hash: <[u8; 32]>::try_from(hash.as_slice()).ok()?,
        })
    };
    decode().ok_or(useq)
}

fn head_from_row(row: &DbRow) -> Result<AuditHead> {
    let seq: i64 = get(row, "seq")?;
    let hash: Vec<u8> = get(row, "hash")?;
    Ok(AuditHead {
        seq: i64_to_u64(seq, "audit_head.seq")?,
        hash: <[u8; 32]>::try_from(hash.as_slice())
            .map_err(|_| StoreError::Corrupt("audit_head.hash"))?,
    })
}

async fn tenant_exists(tx: &mut Transaction<'static, Db>, id: &TenantId) -> Result<bool> {
    Ok(sqlx::query("SELECT 1 FROM tenants WHERE id = $1")
        .bind(id.as_str())
        .fetch_optional(&mut **tx)
        .await?
        .is_some())
}

/// Applies one mutation inside the batch transaction. Logical failures
/// (missing tenant, duplicate, nothing to delete) are outcomes, not errors,
/// so that the batch goes on; any error aborts the whole batch.
async fn apply_mutation(
    tx: &mut Transaction<'static, Db>,
    mutation: Mutation,
    now: i64,
) -> Result<Outcome> {
    match mutation {
        Mutation::None => Ok(Outcome::AuditOnly),
        Mutation::CreateTenant(NewTenant {
            id,
            name,
            tier,
            quota_override,
            burst_override,
        }) => {
            let quota = quota_override
                .map(|q| u64_to_i64(q, "quota override"))
                .transpose()?;
            let done = sqlx::query(
                "INSERT INTO tenants (id, name, tier, quota_override, burst_override, created_at_us) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            )
            .bind(id.as_str())
            .bind(name.as_str())
            .bind(tier.as_str())
            .bind(quota)
            .bind(burst_override.map(i64::from))
            .bind(now)
            .execute(&mut **tx)
            .await?;
            if done.rows_affected() == 0 {
                return Ok(Outcome::Conflict);
            }
            Ok(Outcome::TenantCreated(Tenant {
                id,
                name,
                tier,
                quota_override,
                burst_override,
                created_at: time_from_us(now, "now")?,
            }))
        }
        Mutation::UpdateTenant(TenantUpdate {
            id,
            tier,
            quota_override,
            burst_override,
        }) => {
            let quota = quota_override
                .map(|q| u64_to_i64(q, "quota override"))
                .transpose()?;
            let row = sqlx::query(&format!(
                "UPDATE tenants SET tier = $2, quota_override = $3, burst_override = $4 \
                 WHERE id = $1 RETURNING {TENANT_COLS}"
            ))
            .bind(id.as_str())
            .bind(tier.as_str())
            .bind(quota)
            .bind(burst_override.map(i64::from))
            .fetch_optional(&mut **tx)
            .await?;
            match row {
                Some(row) => Ok(Outcome::TenantUpdated(tenant_from_row(&row)?)),
                None => Ok(Outcome::NotFound),
            }
        }
        Mutation::CreateApiKey(NewApiKey {
            id,
            tenant_id,
            kind,
            prefix,
            hash,
            scopes,
        }) => {
            let done = sqlx::query(
                "INSERT INTO api_keys (id, tenant_id, kind, prefix, hash, scopes, created_at_us, revoked_at_us) \
                 SELECT $1, $2, $3, $4, $5, $6, $7, NULL \
                 WHERE EXISTS (SELECT 1 FROM tenants WHERE id = $2) ON CONFLICT DO NOTHING",
            )
            .bind(id.as_str())
            .bind(tenant_id.as_str())
            .bind(kind.as_str())
            .bind(prefix.as_str())
            .bind(hash.as_bytes().to_vec())
            .bind(scopes.join(" "))
            .bind(now)
            .execute(&mut **tx)
            .await?;
            if done.rows_affected() == 0 {
                return Ok(if tenant_exists(tx, &tenant_id).await? {
                    Outcome::Conflict
                } else {
                    Outcome::NotFound
                });
            }
            Ok(Outcome::ApiKeyCreated(ApiKey {
                id,
                tenant_id,
                kind,
                prefix,
                hash,
                scopes,
                created_at: time_from_us(now, "now")?,
                revoked_at: None,
            }))
        }
        Mutation::RevokeApiKey { tenant_id, key_id } => {
            let row = sqlx::query(&format!(
                "UPDATE api_keys SET revoked_at_us = COALESCE(revoked_at_us, $3) \
                 WHERE tenant_id = $1 AND id = $2 RETURNING {KEY_COLS}"
            ))
            .bind(tenant_id.as_str())
            .bind(key_id.as_str())
            .bind(now)
            .fetch_optional(&mut **tx)
            .await?;
            match row {
                Some(row) => Ok(Outcome::ApiKeyRevoked(key_from_row(&row)?)),
                None => Ok(Outcome::NotFound),
            }
        }
        Mutation::InsertRecord(NewRecord {
            id,
            tenant_id,
            user_id,
            envelope,
            metadata,
        }) => {
            let size = envelope.len() as u64;
            let metadata_json = serde_json::to_string(&metadata)
                .map_err(|_| StoreError::InvalidInput("metadata"))?;
            let done = sqlx::query(
                "INSERT INTO records (id, tenant_id, user_id, envelope, metadata, size, created_at_us) \
                 SELECT $1, $2, $3, $4, $5, $6, $7 \
                 WHERE EXISTS (SELECT 1 FROM tenants WHERE id = $2) ON CONFLICT DO NOTHING",
            )
            .bind(id.as_str())
            .bind(tenant_id.as_str())
            .bind(user_id.as_str())
            .bind(envelope.as_slice())
            .bind(metadata_json)
            .bind(u64_to_i64(size, "envelope size")?)
            .bind(now)
            .execute(&mut **tx)
            .await?;
            if done.rows_affected() == 0 {
                return Ok(if tenant_exists(tx, &tenant_id).await? {
                    Outcome::Conflict
                } else {
                    Outcome::NotFound
                });
            }
            Ok(Outcome::RecordInserted(Record {
                id,
                tenant_id,
                user_id,
                envelope,
                metadata,
                size,
                created_at: time_from_us(now, "now")?,
            }))
        }
        Mutation::DeleteRecord {
            tenant_id,
            record_id,
        } => {
            let done = sqlx::query("DELETE FROM records WHERE tenant_id = $1 AND id = $2")
                .bind(tenant_id.as_str())
                .bind(record_id.as_str())
                .execute(&mut **tx)
                .await?;
            Ok(if done.rows_affected() == 0 {
                Outcome::NotFound
            } else {
                Outcome::RecordDeleted
            })
        }
        m @ (Mutation::CreateKeyring(_)
        | Mutation::AddKeyVersion(_)
        | Mutation::UpdateKeyring(_)
        | Mutation::DeleteKeyring { .. }) => apply_keyring_mutation(tx, m, now).await,
    }
}

/// Checks what could otherwise fail inside the batch transaction (and so
/// fail every other unit of the batch), then completes the draft from its
/// mutation (see [`WriteUnit`]). Runs before the unit is queued.
fn complete_draft(unit: &mut WriteUnit) -> Result<()> {
    match &unit.mutation {
        Mutation::CreateTenant(t) => {
            crate::model::validate_name(&t.name)?;
            if let Some(q) = t.quota_override {
                u64_to_i64(q, "quota override")?;
            }
        }
        Mutation::UpdateTenant(TenantUpdate {
            quota_override: Some(q),
            ..
        }) => {
            u64_to_i64(*q, "quota override")?;
        }
        Mutation::CreateKeyring(k) => k.validate()?,
        Mutation::AddKeyVersion(v) => v.validate()?,
        Mutation::UpdateKeyring(u) => u.validate()?,
        Mutation::InsertRecord(r) => {
            crate::model::validate_metadata(&r.metadata)?;
            if r.envelope.len() > crate::model::MAX_ENVELOPE_LEN {
                return Err(StoreError::InvalidInput("envelope too large"));
            }
        }
        _ => {}
    }
    if let Some(t) = unit.mutation.tenant_id() {
        match &unit.audit.tenant_id {
            None => unit.audit.tenant_id = Some(t.clone()),
            Some(d) if d != t => {
                return Err(StoreError::InvalidInput(
                    "audit tenant differs from the mutation's tenant",
                ))
            }
            Some(_) => {}
        }
    }
    if unit.audit.resource_id.is_none() {
        unit.audit.resource_id = unit.mutation.resource_id();
    }
    if unit.audit.subject.is_none() {
        if let Mutation::InsertRecord(r) = &unit.mutation {
            unit.audit.subject = Some(r.user_id.clone());
        }
    }
    Ok(())
}

/// A record insert of a batch, ready for the backend's multi-row insert
/// (`insert_record_rows`).
struct RecordRow {
    record: NewRecord,
    metadata_json: String,
    size: i64,
}

impl RecordRow {
    fn new(record: NewRecord) -> Result<Self> {
        let metadata_json = serde_json::to_string(&record.metadata)
            .map_err(|_| StoreError::InvalidInput("metadata"))?;
        let size = u64_to_i64(record.envelope.len() as u64, "envelope size")?;
        Ok(Self {
            record,
            metadata_json,
            size,
        })
    }
}

/// Inserts a run of record inserts (distinct ids) with the backend's
/// multi-row statement and fills in each unit's outcome: inserted, or, for a
/// row the statement skipped, `Conflict` (the id exists) or `NotFound` (no
/// such tenant). A skipped row fails only its own unit.
async fn flush_record_run(
    tx: &mut Transaction<'static, Db>,
    run: &mut Vec<(usize, RecordRow)>,
    outcomes: &mut [Option<Outcome>],
    now: i64,
) -> Result<()> {
    if run.is_empty() {
        return Ok(());
    }
    let rows = std::mem::take(run);
    let inserted = insert_record_rows(tx, &rows, now).await?;
    let mut tenants: std::collections::HashMap<TenantId, bool> = std::collections::HashMap::new();
    for (index, row) in rows {
        let NewRecord {
            id,
            tenant_id,
            user_id,
            envelope,
            metadata,
        } = row.record;
        let outcome = if inserted.contains(id.as_str()) {
            Outcome::RecordInserted(Record {
                id,
                tenant_id,
                user_id,
                size: envelope.len() as u64,
                envelope,
                metadata,
                created_at: time_from_us(now, "now")?,
            })
        } else {
            let exists = match tenants.get(&tenant_id) {
                Some(exists) => *exists,
                None => {
                    let exists = tenant_exists(tx, &tenant_id).await?;
                    tenants.insert(tenant_id, exists);
                    exists
                }
            };
            if exists {
                Outcome::Conflict
            } else {
                Outcome::NotFound
            }
        };
        let slot = outcomes
            .get_mut(index)
            .ok_or(StoreError::Corrupt("batch accounting"))?;
        *slot = Some(outcome);
    }
    Ok(())
}

/// Most audit rows in one multi-row INSERT (11 binds each).
const AUDIT_INSERT_CHUNK: usize = 500;

/// Inserts sealed audit events with multi-row `VALUES` statements (the
/// SQLite path; PostgreSQL uses one `UNNEST` statement).
#[allow(dead_code)]
async fn insert_audit_values(
    tx: &mut Transaction<'static, Db>,
    events: &[AuditEvent],
) -> Result<()> {
    for chunk in events.chunks(AUDIT_INSERT_CHUNK) {
        let mut qb: QueryBuilder<'_, Db> =
            QueryBuilder::new(format!("INSERT INTO audit_events ({AUDIT_COLS}) "));
        qb.push_values(chunk, |mut b, e| {
            // seq <= head.seq + batch, checked to fit i64 by the caller.
            b.push_bind(i64::try_from(e.seq).unwrap_or(i64::MAX))
                .push_bind(e.time.clone())
                .push_bind(e.tenant_id.clone())
                .push_bind(e.actor.clone())
                .push_bind(e.subject.clone())
                .push_bind(e.operation.clone())
                .push_bind(e.resource_id.clone())
                .push_bind(e.result.clone())
                .push_bind(e.request_id.clone())
                .push_bind(e.prev_hash.to_vec())
                .push_bind(e.hash.to_vec());
        });
        qb.build().execute(&mut **tx).await?;
    }
    Ok(())
}

/// The batch commit: lock the head, apply the mutations in queue order
/// (consecutive record inserts as one multi-row statement), seal the events
/// in order, insert them with one statement, move the head, commit. All or
/// nothing.
async fn commit_units(pool: &Pool<Db>, units: Vec<WriteUnit>) -> Result<(Vec<Applied>, AuditHead)> {
    let mut tx = begin_write(pool).await?;
    let head = lock_head(&mut tx).await?;
    let now = now_us();
    let now_time = time_from_us(now, "now")?;
    let count = units.len();
    let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(count);
    let mut drafts: Vec<AuditDraft> = Vec::with_capacity(count);
    // A run of consecutive record inserts with distinct ids; any other
    // mutation (or a repeated id) flushes it first, so mutations still take
    // effect in queue order.
    let mut run: Vec<(usize, RecordRow)> = Vec::new();
    let mut run_ids: std::collections::HashSet<RecordId> = std::collections::HashSet::new();
    for (index, unit) in units.into_iter().enumerate() {
        let WriteUnit { mutation, audit } = unit;
        drafts.push(audit);
        match mutation {
            Mutation::InsertRecord(record) => {
                if run_ids.contains(&record.id) {
                    flush_record_run(&mut tx, &mut run, &mut outcomes, now).await?;
                    run_ids.clear();
                }
                run_ids.insert(record.id.clone());
                outcomes.push(None);
                run.push((index, RecordRow::new(record)?));
            }
            other => {
                flush_record_run(&mut tx, &mut run, &mut outcomes, now).await?;
                run_ids.clear();
                outcomes.push(Some(apply_mutation(&mut tx, other, now).await?));
            }
        }
    }
    flush_record_run(&mut tx, &mut run, &mut outcomes, now).await?;
    let mut sealed: Vec<(Outcome, AuditResult)> = Vec::with_capacity(count);
    let mut events: Vec<AuditEvent> = Vec::with_capacity(count);
    let mut prev = head.hash;
    let mut seq = head.seq;
    for (outcome, mut draft) in outcomes.into_iter().zip(drafts) {
        let outcome = outcome.ok_or(StoreError::Corrupt("batch accounting"))?;
        match outcome {
            Outcome::NotFound => draft.result = AuditResult::NotFound,
            Outcome::Conflict => draft.result = AuditResult::Conflict,
            _ => {}
        }
        seq = seq
            .checked_add(1)
            .ok_or(StoreError::Corrupt("audit_head.seq overflow"))?;
        let event = draft.seal(seq, now_time, prev);
        prev = event.hash;
        sealed.push((outcome, draft.result));
        events.push(event);
    }
    let new_head_seq = u64_to_i64(seq, "seq")?;
    insert_audit_rows(&mut tx, &events).await?;
    let moved = sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1 AND seq = $3")
        .bind(new_head_seq)
        .bind(prev.to_vec())
        .bind(u64_to_i64(head.seq, "seq")?)
        .execute(&mut *tx)
        .await?;
    if moved.rows_affected() != 1 {
        return Err(StoreError::Corrupt("audit_head moved concurrently"));
    }
    tx.commit().await?;
    // Nothing after the commit can fail: every unit gets its result.
    let applied = sealed
        .into_iter()
        .zip(events)
        .map(|((outcome, result), e)| Applied {
            outcome,
            audit: AuditReceipt {
                seq: e.seq,
                hash: e.hash,
                result,
                time: e.time,
            },
        })
        .collect();
    Ok((applied, AuditHead { seq, hash: prev }))
}

/// The fast path of a batch made only of record inserts and audit-only
/// units, when the writer knows the chain head from its last commit: the
/// events are sealed from that head assuming every insert succeeds, and the
/// backend writes records, events and the new head with one atomic
/// statement that moves the head only if it is still the expected one
/// (`fast_commit_statement`). `Ok(None)`: not taken or not applicable
/// (another process moved the head, an id is taken, an unknown tenant…);
/// nothing was written and the caller runs the general path, which decides
/// each unit's outcome.
async fn commit_units_fast(
    pool: &Pool<Db>,
    head: AuditHead,
    units: &mut Vec<WriteUnit>,
) -> Result<Option<(Vec<Applied>, AuditHead)>> {
    if !FAST_COMMIT
        || units.is_empty()
        || !units
            .iter()
            .all(|u| matches!(u.mutation, Mutation::InsertRecord(_) | Mutation::None))
    {
        return Ok(None);
    }
    let now = now_us();
    let now_time = time_from_us(now, "now")?;
    let mut rows: Vec<(usize, RecordRow)> = Vec::new();
    let mut events: Vec<AuditEvent> = Vec::with_capacity(units.len());
    let mut prev = head.hash;
    let mut seq = head.seq;
    for unit in units.iter() {
        seq = seq
            .checked_add(1)
            .ok_or(StoreError::Corrupt("audit_head.seq overflow"))?;
        let event = unit.audit.seal(seq, now_time, prev);
        prev = event.hash;
        events.push(event);
    }
    let new_head = AuditHead { seq, hash: prev };
    // Build the rows only now that nothing else can refuse the fast path.
    for (index, unit) in units.iter().enumerate() {
        if let Mutation::InsertRecord(r) = &unit.mutation {
            rows.push((index, RecordRow::new(r.clone())?));
        }
    }
    if !fast_commit_statement(pool, head, new_head, &rows, &events, now).await? {
        return Ok(None);
    }
    // Committed: every unit succeeded.
    let created_at = time_from_us(now, "now")?;
    let applied = std::mem::take(units)
        .into_iter()
        .zip(events)
        .map(|(unit, e)| {
            let outcome = match unit.mutation {
                Mutation::InsertRecord(NewRecord {
                    id,
                    tenant_id,
                    user_id,
                    envelope,
                    metadata,
                }) => Outcome::RecordInserted(Record {
                    id,
                    tenant_id,
                    user_id,
                    size: envelope.len() as u64,
                    envelope,
                    metadata,
                    created_at,
                }),
                _ => Outcome::AuditOnly,
            };
            Applied {
                outcome,
                audit: AuditReceipt {
                    seq: e.seq,
                    hash: e.hash,
                    result: unit.audit.result,
                    time: e.time,
                },
            }
        })
        .collect();
    Ok(Some((applied, new_head)))
}

async fn q_get_tenant(pool: &Pool<Db>, id: &TenantId) -> Result<Option<Tenant>> {
    sqlx::query(&format!("SELECT {TENANT_COLS} FROM tenants WHERE id = $1"))
        .bind(id.as_str())
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(tenant_from_row)
        .transpose()
}

async fn q_list_tenants(
    pool: &Pool<Db>,
    limit: u32,
    after: Option<&TenantId>,
) -> Result<Vec<Tenant>> {
    let limit = i64::from(limit.clamp(1, MAX_PAGE_SIZE));
    let rows = sqlx::query(&format!(
        "SELECT {TENANT_COLS} FROM tenants WHERE id > $1 ORDER BY id LIMIT $2"
    ))
    .bind(after.map(|a| a.as_str()).unwrap_or(""))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(tenant_from_row).collect()
}

async fn q_find_key_by_hash(pool: &Pool<Db>, hash: &KeyHash) -> Result<Option<ApiKey>> {
    sqlx::query(&format!("SELECT {KEY_COLS} FROM api_keys WHERE hash = $1"))
        .bind(hash.as_bytes().to_vec())
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(key_from_row)
        .transpose()
}

async fn q_get_key(pool: &Pool<Db>, tenant: &TenantId, id: &ApiKeyId) -> Result<Option<ApiKey>> {
    sqlx::query(&format!(
        "SELECT {KEY_COLS} FROM api_keys WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant.as_str())
    .bind(id.as_str())
    .fetch_optional(pool)
    .await?
    .as_ref()
    .map(key_from_row)
    .transpose()
}

async fn q_list_keys(pool: &Pool<Db>, tenant: &TenantId) -> Result<Vec<ApiKey>> {
    let rows = sqlx::query(&format!(
        "SELECT {KEY_COLS} FROM api_keys WHERE tenant_id = $1 ORDER BY created_at_us, id"
    ))
    .bind(tenant.as_str())
    .fetch_all(pool)
    .await?;
    rows.iter().map(key_from_row).collect()
}

async fn q_get_record(pool: &Pool<Db>, tenant: &TenantId, id: &RecordId) -> Result<Option<Record>> {
    sqlx::query(&format!(
        "SELECT {RECORD_COLS} FROM records WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant.as_str())
    .bind(id.as_str())
    .fetch_optional(pool)
    .await?
    .as_ref()
    .map(record_from_row)
    .transpose()
}

async fn q_list_records(
    pool: &Pool<Db>,
    tenant: &TenantId,
    user: Option<&UserId>,
    limit: u32,
    cursor: Option<&Cursor>,
) -> Result<RecordPage> {
    let limit = limit.clamp(1, MAX_PAGE_SIZE);
    let mut qb: QueryBuilder<'_, Db> = QueryBuilder::new(format!(
        "SELECT {RECORD_COLS} FROM records WHERE tenant_id = "
    ));
    qb.push_bind(tenant.as_str().to_owned());
    if let Some(user) = user {
        qb.push(" AND user_id = ")
            .push_bind(user.as_str().to_owned());
    }
    if let Some(c) = cursor {
        qb.push(" AND (created_at_us < ")
            .push_bind(c.created_at_us)
            .push(" OR (created_at_us = ")
            .push_bind(c.created_at_us)
            .push(" AND id < ")
            .push_bind(c.id.as_str().to_owned())
            .push("))");
    }
    qb.push(" ORDER BY created_at_us DESC, id DESC LIMIT ")
        .push_bind(i64::from(limit) + 1);
    let rows = qb.build().fetch_all(pool).await?;
    let mut records = rows
        .iter()
        .map(record_from_row)
        .collect::<Result<Vec<_>>>()?;
    let next_cursor = if records.len() > limit as usize {
        records.truncate(limit as usize);
        records.last().map(|r| {
            let us = i64::try_from(r.created_at.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX);
            Cursor::new(us, r.id.clone())
        })
    } else {
        None
    };
    Ok(RecordPage {
        records,
        next_cursor,
    })
}

async fn q_claim_idempotency(
    pool: &Pool<Db>,
    tenant: &TenantId,
    key: &IdempotencyKey,
    fingerprint: &[u8; 32],
) -> Result<IdempotencyClaim> {
    // A concurrent release can delete the row between our failed insert and
    // our read; a few rounds settle it.
    for _ in 0..5 {
        let done = sqlx::query(
            "INSERT INTO idempotency_keys (tenant_id, idem_key, fingerprint, status, body, created_at_us) \
             VALUES ($1, $2, $3, NULL, NULL, $4) ON CONFLICT DO NOTHING",
        )
        .bind(tenant.as_str())
        .bind(key.as_str())
        .bind(fingerprint.to_vec())
        .bind(now_us())
        .execute(pool)
        .await?;
        if done.rows_affected() == 1 {
            return Ok(IdempotencyClaim::Claimed);
        }
        let row = sqlx::query(
            "SELECT fingerprint, status, body FROM idempotency_keys WHERE tenant_id = $1 AND idem_key = $2",
        )
        .bind(tenant.as_str())
        .bind(key.as_str())
        .fetch_optional(pool)
        .await?;
        let Some(row) = row else { continue };
        let stored: Vec<u8> = get(&row, "fingerprint")?;
        if stored.as_slice() != fingerprint.as_slice() {
            return Ok(IdempotencyClaim::FingerprintMismatch);
        }
        let status: Option<i64> = get(&row, "status")?;
        return Ok(match status {
            None => IdempotencyClaim::InProgress,
            Some(s) => IdempotencyClaim::Completed(StoredResponse {
                status: u16::try_from(s)
                    .map_err(|_| StoreError::Corrupt("idempotency_keys.status"))?,
                body: get::<Option<Vec<u8>>>(&row, "body")?.unwrap_or_default(),
            }),
        });
    }
    Ok(IdempotencyClaim::InProgress)
}

async fn q_complete_idempotency(
    pool: &Pool<Db>,
    tenant: &TenantId,
    key: &IdempotencyKey,
    response: &StoredResponse,
) -> Result<()> {
    if response.body.len() > MAX_IDEMPOTENT_BODY_LEN {
        return Err(StoreError::InvalidInput(
            "idempotent response body too large",
        ));
    }
    let done = sqlx::query(
        "UPDATE idempotency_keys SET status = $3, body = $4 \
         WHERE tenant_id = $1 AND idem_key = $2 AND status IS NULL",
    )
    .bind(tenant.as_str())
    .bind(key.as_str())
    .bind(i64::from(response.status))
    .bind(response.body.as_slice())
    .execute(pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::InvalidInput("idempotency key is not claimed"));
    }
    Ok(())
}

async fn q_release_idempotency(
    pool: &Pool<Db>,
    tenant: &TenantId,
    key: &IdempotencyKey,
) -> Result<()> {
    sqlx::query(
        "DELETE FROM idempotency_keys WHERE tenant_id = $1 AND idem_key = $2 AND status IS NULL",
    )
    .bind(tenant.as_str())
    .bind(key.as_str())
    .execute(pool)
    .await?;
    Ok(())
}

async fn q_purge_idempotency(pool: &Pool<Db>, before: OffsetDateTime) -> Result<u64> {
    let us = i64::try_from(before.unix_timestamp_nanos() / 1000)
        .map_err(|_| StoreError::InvalidInput("time"))?;
    let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_at_us < $1")
        .bind(us)
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

async fn q_record_usage(pool: &Pool<Db>, increments: &[UsageIncrement]) -> Result<()> {
    // Aggregate and sort: fewer statements, and every transaction touches
    // rows in the same order (no deadlocks between concurrent batches).
    let mut sums: BTreeMap<(String, String, String), i64> = BTreeMap::new();
    for inc in increments {
        crate::model::validate_operation_name(&inc.operation)?;
        let n = u64_to_i64(inc.count, "usage count")?;
        let slot = sums
            .entry((
                inc.tenant_id.as_str().to_owned(),
                inc.operation.clone(),
                day_text(inc.day)?,
            ))
            .or_insert(0);
        *slot = slot
            .checked_add(n)
            .ok_or(StoreError::InvalidInput("usage count"))?;
    }
    sums.retain(|_, n| *n > 0);
    if sums.is_empty() {
        return Ok(());
    }
    let mut tx = begin_write(pool).await?;
    for ((tenant, op, day), n) in sums {
        sqlx::query(
            "INSERT INTO usage_counters (tenant_id, operation, day, count) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, operation, day) DO UPDATE SET count = usage_counters.count + excluded.count",
        )
        .bind(tenant)
        .bind(op)
        .bind(day)
        .bind(n)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn q_usage(
    pool: &Pool<Db>,
    tenant: &TenantId,
    from: Date,
    to: Date,
) -> Result<Vec<UsageRow>> {
    let rows = sqlx::query(
        "SELECT operation, day, count FROM usage_counters \
         WHERE tenant_id = $1 AND day >= $2 AND day <= $3 ORDER BY day, operation",
    )
    .bind(tenant.as_str())
    .bind(day_text(from)?)
    .bind(day_text(to)?)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(UsageRow {
                operation: get(row, "operation")?,
                day: parse_day(&get::<String>(row, "day")?)?,
                count: i64_to_u64(get(row, "count")?, "usage_counters.count")?,
            })
        })
        .collect()
}

async fn q_audit_head(pool: &Pool<Db>) -> Result<AuditHead> {
    let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_optional(pool)
        .await?
        .ok_or(StoreError::Corrupt("audit_head"))?;
    head_from_row(&row)
}

async fn q_audit_events(
    pool: &Pool<Db>,
    after_seq: u64,
    limit: u32,
) -> Result<Vec<std::result::Result<AuditEvent, u64>>> {
    let limit = i64::from(limit.clamp(1, crate::store::MAX_AUDIT_PAGE));
    let rows = sqlx::query(&format!(
        "SELECT {AUDIT_COLS} FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2"
    ))
    .bind(u64_to_i64(after_seq, "seq")?)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(audit_from_row).collect())
}

async fn q_audit_events_for_tenant(
    pool: &Pool<Db>,
    tenant: &TenantId,
    after_seq: u64,
    limit: u32,
) -> Result<Vec<AuditEvent>> {
    let limit = i64::from(limit.clamp(1, crate::store::MAX_AUDIT_PAGE));
    let rows = sqlx::query(&format!(
        "SELECT {AUDIT_COLS} FROM audit_events WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
    ))
    .bind(tenant.as_str())
    .bind(u64_to_i64(after_seq, "seq")?)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().filter_map(|r| audit_from_row(r).ok()).collect())
}

async fn q_get_keyring(
    pool: &Pool<Db>,
    tenant: &TenantId,
    name: &KeyringName,
) -> Result<Option<Keyring>> {
    sqlx::query(&format!(
        "SELECT {KEYRING_COLS} FROM keyrings WHERE tenant_id = $1 AND name = $2"
    ))
    .bind(tenant.as_str())
    .bind(name.as_str())
    .fetch_optional(pool)
    .await?
    .as_ref()
    .map(keyring_from_row)
    .transpose()
}

async fn q_list_keyrings(pool: &Pool<Db>, tenant: &TenantId) -> Result<Vec<Keyring>> {
    let rows = sqlx::query(&format!(
        "SELECT {KEYRING_COLS} FROM keyrings WHERE tenant_id = $1 ORDER BY name"
    ))
    .bind(tenant.as_str())
    .fetch_all(pool)
    .await?;
    rows.iter().map(keyring_from_row).collect()
}

async fn q_list_key_versions(
    pool: &Pool<Db>,
    tenant: &TenantId,
    name: &KeyringName,
) -> Result<Vec<KeyVersion>> {
    let rows = sqlx::query(&format!(
        "SELECT {KEY_VERSION_COLS} FROM keyring_versions WHERE tenant_id = $1 AND keyring = $2 ORDER BY version"
    ))
    .bind(tenant.as_str())
    .bind(name.as_str())
    .fetch_all(pool)
    .await?;
    rows.iter().map(key_version_from_row).collect()
}

async fn q_list_auto_rotating(
    pool: &Pool<Db>,
    limit: u32,
    after: Option<(&TenantId, &KeyringName)>,
) -> Result<Vec<Keyring>> {
    let limit = i64::from(limit.clamp(1, 1000));
    let (t, n) = after
        .map(|(t, n)| (t.as_str().to_owned(), n.as_str().to_owned()))
        .unwrap_or_default();
    let rows = sqlx::query(&format!(
        "SELECT {KEYRING_COLS} FROM keyrings WHERE auto_rotate_period_s IS NOT NULL \
         AND (tenant_id > $1 OR (tenant_id = $1 AND name > $2)) ORDER BY tenant_id, name LIMIT $3"
    ))
    .bind(t)
    .bind(n)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(keyring_from_row).collect()
}

// ------------------------------------------------------------- AI jobs --

const JOB_COLS: &str = "tenant_id, id, status, http_status, response_nonce, content_type, body, \
     callback_url, created_at_us, completed_at_us, expires_at_us";

fn us_of(t: OffsetDateTime) -> Result<i64> {
    i64::try_from(t.unix_timestamp_nanos() / 1000).map_err(|_| StoreError::InvalidInput("time"))
}

fn job_from_row(row: &DbRow) -> Result<crate::jobs::Job> {
    let tenant: String = get(row, "tenant_id")?;
    let id: String = get(row, "id")?;
    let status: String = get(row, "status")?;
    let http_status: Option<i64> = get(row, "http_status")?;
    let completed: Option<i64> = get(row, "completed_at_us")?;
    Ok(crate::jobs::Job {
        tenant_id: TenantId::parse(&tenant)
            .map_err(|_| StoreError::Corrupt("ai_jobs.tenant_id"))?,
        id: crate::ids::JobId::parse(&id).map_err(|_| StoreError::Corrupt("ai_jobs.id"))?,
        status: crate::jobs::JobStatus::parse(&status)?,
        http_status: http_status
            .map(|s| u16::try_from(s).map_err(|_| StoreError::Corrupt("ai_jobs.http_status")))
            .transpose()?,
        response_nonce: get(row, "response_nonce")?,
        content_type: get(row, "content_type")?,
        body: get(row, "body")?,
        callback_url: get(row, "callback_url")?,
        created_at: time_from_us(get(row, "created_at_us")?, "ai_jobs.created_at_us")?,
        completed_at: completed
            .map(|us| time_from_us(us, "ai_jobs.completed_at_us"))
            .transpose()?,
        expires_at: time_from_us(get(row, "expires_at_us")?, "ai_jobs.expires_at_us")?,
    })
}

async fn q_create_job(pool: &Pool<Db>, job: &crate::jobs::NewJob) -> Result<()> {
    job.validate()?;
    sqlx::query(
        "INSERT INTO ai_jobs (tenant_id, id, status, callback_url, created_at_us, expires_at_us) \
         VALUES ($1, $2, 'pending', $3, $4, $5)",
    )
    .bind(job.tenant_id.as_str())
    .bind(job.id.as_str())
    .bind(job.callback_url.as_deref())
    .bind(now_us())
    .bind(us_of(job.expires_at)?)
    .execute(pool)
    .await?;
    Ok(())
}

async fn q_complete_job(
    pool: &Pool<Db>,
    tenant: &TenantId,
    id: &crate::ids::JobId,
    c: &crate::jobs::JobCompletion,
) -> Result<bool> {
    if c.status == crate::jobs::JobStatus::Pending {
        return Err(StoreError::InvalidInput("job completion status"));
    }
    if c.body.len() > crate::jobs::MAX_JOB_BODY_LEN {
        return Err(StoreError::InvalidInput("job body"));
    }
    let done = sqlx::query(
        "UPDATE ai_jobs SET status = $1, http_status = $2, response_nonce = $3, \
         content_type = $4, body = $5, completed_at_us = $6 \
         WHERE tenant_id = $7 AND id = $8 AND status = 'pending'",
    )
    .bind(c.status.as_str())
    .bind(i64::from(c.http_status))
    .bind(c.response_nonce.as_deref())
    .bind(c.content_type.as_deref())
    .bind(&c.body[..])
    .bind(now_us())
    .bind(tenant.as_str())
    .bind(id.as_str())
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

async fn q_get_job(
    pool: &Pool<Db>,
    tenant: &TenantId,
    id: &crate::ids::JobId,
) -> Result<Option<crate::jobs::Job>> {
    let row = sqlx::query(&format!(
        "SELECT {JOB_COLS} FROM ai_jobs WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant.as_str())
    .bind(id.as_str())
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(job_from_row).transpose()
}

async fn q_purge_jobs(pool: &Pool<Db>, now: OffsetDateTime) -> Result<u64> {
    let done = sqlx::query("DELETE FROM ai_jobs WHERE expires_at_us < $1")
        .bind(us_of(now)?)
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

async fn q_put_webhook_secret(pool: &Pool<Db>, tenant: &TenantId, wrapped: &[u8]) -> Result<()> {
    if wrapped.is_empty() || wrapped.len() > 1024 {
        return Err(StoreError::InvalidInput("wrapped webhook secret"));
    }
    sqlx::query(
        "INSERT INTO webhook_secrets (tenant_id, wrapped_secret, created_at_us) VALUES ($1, $2, $3) \
         ON CONFLICT (tenant_id) DO UPDATE SET wrapped_secret = excluded.wrapped_secret, \
         created_at_us = excluded.created_at_us",
    )
    .bind(tenant.as_str())
    .bind(wrapped)
    .bind(now_us())
    .execute(pool)
    .await?;
    Ok(())
}

async fn q_get_webhook_secret(
    pool: &Pool<Db>,
    tenant: &TenantId,
) -> Result<Option<crate::jobs::WebhookSecretRow>> {
    let row = sqlx::query(
        "SELECT tenant_id, wrapped_secret, created_at_us FROM webhook_secrets WHERE tenant_id = $1",
    )
    .bind(tenant.as_str())
    .fetch_optional(pool)
    .await?;
    row.map(|r| {
        let t: String = get(&r, "tenant_id")?;
        Ok(crate::jobs::WebhookSecretRow {
            tenant_id: TenantId::parse(&t)
                .map_err(|_| StoreError::Corrupt("webhook_secrets.tenant_id"))?,
            wrapped_secret: get(&r, "wrapped_secret")?,
            created_at: time_from_us(get(&r, "created_at_us")?, "webhook_secrets.created_at_us")?,
        })
    })
    .transpose()
}
/// The embedded migrations of this backend as a sqlx migration source.
#[derive(Debug)]
struct EmbeddedMigrations(&'static [(i64, &'static str, &'static str)]);

impl<'s> sqlx::migrate::MigrationSource<'s> for EmbeddedMigrations {
    fn resolve(
        self,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<
                    Output = std::result::Result<
                        Vec<sqlx::migrate::Migration>,
                        sqlx::error::BoxDynError,
                    >,
                > + Send
                + 's,
        >,
    > {
        Box::pin(async move {
            Ok(self
                .0
                .iter()
                .map(|(version, description, sql)| {
                    sqlx::migrate::Migration::new(
                        *version,
                        std::borrow::Cow::Borrowed(*description),
                        sqlx::migrate::MigrationType::Simple,
                        std::borrow::Cow::Borrowed(*sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

async fn run_migrations(pool: &Pool<Db>) -> Result<()> {
    let migrator = sqlx::migrate::Migrator::new(EmbeddedMigrations(MIGRATIONS)).await?;
    // Two processes creating the same fresh SQLite file can race on the
    // first migration (SQLite has no migration lock): the loser's attempt
    // rolls back, and a retry finds the migration applied.
    let mut attempt = 0;
    loop {
        match migrator.run(pool).await {
            Ok(()) => return Ok(()),
            Err(e) if attempt < 10 => {
                attempt += 1;
                tracing::warn!(error = %e, attempt, "schema migration failed; retrying");
                tokio::time::sleep(std::time::Duration::from_millis((100 * attempt).min(800)))
                    .await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The store on this backend.
pub(crate) struct BackendStore {
    pool: Pool<Db>,
    writer: crate::writer::Writer,
}

impl std::fmt::Debug for BackendStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &BACKEND)
            .finish_non_exhaustive()
    }
}

struct Committer {
    pool: Pool<Db>,
    /// The chain head this writer committed last (`None` until its first
    /// commit and after any failure): the fast path seals from it and its
    /// statement checks it is still current.
    head: std::sync::Mutex<Option<AuditHead>>,
}

impl Committer {
    fn cached_head(&self) -> Option<AuditHead> {
        self.head.lock().map(|h| *h).unwrap_or(None)
    }

    fn set_head(&self, head: Option<AuditHead>) {
        if let Ok(mut h) = self.head.lock() {
            *h = head;
        }
    }
}

#[async_trait::async_trait]
impl crate::writer::BatchCommitter for Committer {
    async fn commit_batch(&self, mut units: Vec<WriteUnit>) -> Result<Vec<Applied>> {
        if let Some(head) = self.cached_head() {
            match commit_units_fast(&self.pool, head, &mut units).await {
                Ok(Some((applied, new_head))) => {
                    self.set_head(Some(new_head));
                    return Ok(applied);
                }
                Ok(None) => {}
                Err(e) => {
                    self.set_head(None);
                    return Err(e);
                }
            }
        }
        match commit_units(&self.pool, units).await {
            Ok((applied, new_head)) => {
                self.set_head(Some(new_head));
                Ok(applied)
            }
            Err(e) => {
                self.set_head(None);
                Err(e)
            }
        }
    }
}

impl BackendStore {
    /// Wraps a pool whose migrations have run and starts the writer.
    fn start(pool: Pool<Db>, options: &crate::store::StoreOptions) -> Self {
        let committer = std::sync::Arc::new(Committer {
            pool: pool.clone(),
            head: std::sync::Mutex::new(None),
        });
        let writer =
            crate::writer::Writer::spawn(committer, options.queue_capacity, options.max_batch);
        Self { pool, writer }
    }
}

#[async_trait::async_trait]
impl crate::store::Store for BackendStore {
    fn backend(&self) -> crate::store::Backend {
        BACKEND
    }

    async fn apply(&self, mut unit: WriteUnit) -> Result<Applied> {
        complete_draft(&mut unit)?;
        self.writer.submit(unit).await
    }

    async fn get_tenant(&self, id: &TenantId) -> Result<Option<Tenant>> {
        q_get_tenant(&self.pool, id).await
    }

    async fn list_tenants(&self, limit: u32, after: Option<&TenantId>) -> Result<Vec<Tenant>> {
        q_list_tenants(&self.pool, limit, after).await
    }

    async fn find_api_key_by_hash(&self, hash: &KeyHash) -> Result<Option<ApiKey>> {
        q_find_key_by_hash(&self.pool, hash).await
    }

    async fn get_api_key(&self, tenant: &TenantId, id: &ApiKeyId) -> Result<Option<ApiKey>> {
        q_get_key(&self.pool, tenant, id).await
    }

    async fn list_api_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKey>> {
        q_list_keys(&self.pool, tenant).await
    }

    async fn get_record(&self, tenant: &TenantId, id: &RecordId) -> Result<Option<Record>> {
        q_get_record(&self.pool, tenant, id).await
    }

    async fn list_records(
        &self,
        tenant: &TenantId,
        user: Option<&UserId>,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<RecordPage> {
        q_list_records(&self.pool, tenant, user, limit, cursor).await
    }

    async fn claim_idempotency_key(
        &self,
        tenant: &TenantId,
        key: &IdempotencyKey,
        fingerprint: &[u8; 32],
    ) -> Result<IdempotencyClaim> {
        q_claim_idempotency(&self.pool, tenant, key, fingerprint).await
    }

    async fn complete_idempotency_key(
        &self,
        tenant: &TenantId,
        key: &IdempotencyKey,
        response: &StoredResponse,
    ) -> Result<()> {
        q_complete_idempotency(&self.pool, tenant, key, response).await
    }

    async fn release_idempotency_key(&self, tenant: &TenantId, key: &IdempotencyKey) -> Result<()> {
        q_release_idempotency(&self.pool, tenant, key).await
    }

    async fn purge_idempotency_keys(&self, before: OffsetDateTime) -> Result<u64> {
        q_purge_idempotency(&self.pool, before).await
    }

    async fn record_usage(&self, increments: &[UsageIncrement]) -> Result<()> {
        q_record_usage(&self.pool, increments).await
    }

    async fn usage(&self, tenant: &TenantId, from: Date, to: Date) -> Result<Vec<UsageRow>> {
        q_usage(&self.pool, tenant, from, to).await
    }

    async fn audit_head(&self) -> Result<AuditHead> {
        q_audit_head(&self.pool).await
    }

    async fn audit_events_raw(
        &self,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<std::result::Result<AuditEvent, u64>>> {
        q_audit_events(&self.pool, after_seq, limit).await
    }

    async fn audit_events_for_tenant(
        &self,
        tenant: &TenantId,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<AuditEvent>> {
        q_audit_events_for_tenant(&self.pool, tenant, after_seq, limit).await
    }

    async fn get_keyring(&self, tenant: &TenantId, name: &KeyringName) -> Result<Option<Keyring>> {
        q_get_keyring(&self.pool, tenant, name).await
    }

    async fn list_keyrings(&self, tenant: &TenantId) -> Result<Vec<Keyring>> {
        q_list_keyrings(&self.pool, tenant).await
    }

    async fn list_key_versions(
        &self,
        tenant: &TenantId,
        name: &KeyringName,
    ) -> Result<Vec<KeyVersion>> {
        q_list_key_versions(&self.pool, tenant, name).await
    }

    async fn list_auto_rotating_keyrings(
        &self,
        limit: u32,
        after: Option<(&TenantId, &KeyringName)>,
    ) -> Result<Vec<Keyring>> {
        q_list_auto_rotating(&self.pool, limit, after).await
    }

    async fn create_job(&self, job: &crate::jobs::NewJob) -> Result<()> {
        q_create_job(&self.pool, job).await
    }

    async fn complete_job(
        &self,
        tenant: &TenantId,
        id: &crate::ids::JobId,
        completion: &crate::jobs::JobCompletion,
    ) -> Result<bool> {
        q_complete_job(&self.pool, tenant, id, completion).await
    }

    async fn get_job(
        &self,
        tenant: &TenantId,
        id: &crate::ids::JobId,
    ) -> Result<Option<crate::jobs::Job>> {
        q_get_job(&self.pool, tenant, id).await
    }

    async fn purge_jobs(&self, now: OffsetDateTime) -> Result<u64> {
        q_purge_jobs(&self.pool, now).await
    }

    async fn put_webhook_secret(&self, tenant: &TenantId, wrapped_secret: &[u8]) -> Result<()> {
        q_put_webhook_secret(&self.pool, tenant, wrapped_secret).await
    }

    async fn get_webhook_secret(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<crate::jobs::WebhookSecretRow>> {
        q_get_webhook_secret(&self.pool, tenant).await
    }

    async fn close(&self) {
        self.writer.shutdown().await;
        self.pool.close().await;
    }
}
