//! Authentication: tenant API keys (`Authorization: Bearer zk_…`) and the
//! operator admin token (`Authorization: Bearer <admin token>` on
//! `/v1/admin/*`).
//!
//! A presented key is format-checked, hashed (SHA-256, see [`crate::keys`]),
//! looked up by hash, compared in constant time, and refused when revoked
//! or when its stored kind disagrees with its prefix. Every failure is the
//! same 401 problem, so a caller cannot tell an unknown key from a revoked
//! one.
//!
//! # The key cache
//!
//! A found key is kept in process memory ([`ApiKeyCache`]) for a short TTL
//! (default [`DEFAULT_API_KEY_CACHE_TTL`], `auth.api_key_cache_ttl_ms`), so
//! a request costs no database read for its key in the common case. The
//! cache is keyed by the SHA-256 of the secret (the secret itself is never
//! kept) and holds no key it has not seen in the store; unknown keys are
//! never cached, so a new key works at once. A revocation through this
//! instance's API removes the key from its cache at once; one made through
//! another instance or the CLI takes effect here within the TTL. Set the
//! TTL to 0 to read the store on every request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use zenalyze_store::{
    Actor, ApiKey, ApiKeyId, AuditDraft, AuditResult, KeyHash, Operation, Store, StoreError,
    TenantId,
};

use crate::keys::{ct_eq32, ApiKeySecret, KeyKind};
use crate::metrics::AuthFailure;
use crate::problem::{Problem, ProblemKind};
use crate::request_id::RequestId;
use crate::state::AppState;

/// Maps the gateway's key kind to the store's.
pub fn store_kind(kind: KeyKind) -> zenalyze_store::KeyKind {
    match kind {
        KeyKind::Live => zenalyze_store::KeyKind::SecretLive,
        KeyKind::Test => zenalyze_store::KeyKind::SecretTest,
        KeyKind::Publishable => zenalyze_store::KeyKind::Publishable,
    }
}

/// Maps the store's key kind to the gateway's.
pub fn gateway_kind(kind: zenalyze_store::KeyKind) -> KeyKind {
    match kind {
        zenalyze_store::KeyKind::SecretLive => KeyKind::Live,
        zenalyze_store::KeyKind::SecretTest => KeyKind::Test,
        zenalyze_store::KeyKind::Publishable => KeyKind::Publishable,
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then_some(token)
}

fn unauthorized() -> Problem {
    Problem::new(ProblemKind::Unauthorized)
        .detail("send a valid, unrevoked API key as Authorization: Bearer zk_…")
}

/// Default TTL of [`ApiKeyCache`] entries.
pub const DEFAULT_API_KEY_CACHE_TTL: Duration = Duration::from_secs(5);

/// Most keys kept in [`ApiKeyCache`] (it is emptied beyond, then refills).
pub const API_KEY_CACHE_MAX: usize = 100_000;

/// Short-lived cache of API keys found in the store, by the hash of their
/// secret (see the module docs for the revocation semantics).
#[derive(Debug)]
pub struct ApiKeyCache {
    ttl: Duration,
    map: Mutex<HashMap<[u8; 32], (ApiKey, Instant)>>,
}

impl Default for ApiKeyCache {
    fn default() -> Self {
        Self::new(DEFAULT_API_KEY_CACHE_TTL)
    }
}

impl ApiKeyCache {
    /// A cache keeping keys for `ttl` (zero: no caching).
    pub fn new(ttl: Duration) -> Self {
        ApiKeyCache {
            ttl,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// The key whose secret hashes to `hash`: from the cache when fresh,
    /// else from the store (and then cached). `Ok(None)`: no such key.
    pub async fn find(
        &self,
        store: &dyn Store,
        hash: &[u8; 32],
    ) -> Result<Option<ApiKey>, StoreError> {
        if self.ttl.is_zero() {
            return store.find_api_key_by_hash(&KeyHash(*hash)).await;
        }
        if let Ok(map) = self.map.lock() {
            if let Some((key, at)) = map.get(hash) {
                if at.elapsed() < self.ttl {
                    return Ok(Some(key.clone()));
                }
            }
        }
        let found = store.find_api_key_by_hash(&KeyHash(*hash)).await?;
        if let Ok(mut map) = self.map.lock() {
            match &found {
                Some(key) => {
                    if map.len() >= API_KEY_CACHE_MAX {
                        map.clear();
                    }
                    map.insert(*hash, (key.clone(), Instant::now()));
                }
                None => {
                    map.remove(hash);
                }
            }
        }
        Ok(found)
    }

    /// Forgets the key `id` (after it was revoked through this instance).
    pub fn invalidate(&self, id: &ApiKeyId) {
        if let Ok(mut map) = self.map.lock() {
            map.retain(|_, (key, _)| &key.id != id);
        }
    }
}

/// An authenticated tenant API key: the caller of tenant endpoints.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The key's tenant.
    pub tenant_id: TenantId,
    /// The key's id (the audit actor).
    pub key_id: ApiKeyId,
    /// Its kind.
    pub kind: KeyKind,
    /// Its scopes.
    pub scopes: Vec<String>,
    /// The request id.
    pub request_id: String,
}

impl Caller {
    /// Refuses with 403 unless the key holds `scope`.
    pub fn require(&self, scope: &str) -> Result<(), Problem> {
        if self.scopes.iter().any(|s| s == scope) {
            Ok(())
        } else {
            Err(Problem::new(ProblemKind::Forbidden)
                .detail(format!("this API key lacks the {scope} scope")))
        }
    }

    /// An audit draft for an operation by this caller.
    pub fn audit(&self, operation: &str) -> Result<AuditDraft, Problem> {
        audit_draft(
            Actor::ApiKey(self.key_id.clone()),
            operation,
            &self.request_id,
        )
        .map(|d| d.tenant(self.tenant_id.clone()))
    }
}

/// An audit draft with result `success` (the store adjusts it when the
/// mutation does not apply).
pub fn audit_draft(actor: Actor, operation: &str, request_id: &str) -> Result<AuditDraft, Problem> {
    let op = Operation::parse(operation).map_err(|_| Problem::internal())?;
    let rid = zenalyze_store::OpaqueId::parse(request_id).map_err(|_| Problem::internal())?;
    Ok(AuditDraft::new(actor, op, AuditResult::Success, rid))
}

fn request_id_of(parts: &Parts) -> String {
    parts
        .extensions
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .or_else(crate::request_id::current)
        .unwrap_or_else(crate::request_id::generate)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        // Already authenticated by the metering middleware
        // (`limits_wiring::meter`) for this request.
        if let Some(c) = parts.extensions.get::<Caller>() {
            return Ok(c.clone());
        }
        let fail = |reason: AuthFailure| {
            state.metrics().auth_failure(reason);
            unauthorized()
        };
        let token = bearer(parts).ok_or_else(|| fail(AuthFailure::Missing))?;
        let secret = ApiKeySecret::parse(token).map_err(|_| fail(AuthFailure::Malformed))?;
        let hash = secret.hash();
        drop(secret);
        let key = state
            .api_keys()
            .find(state.store().as_ref(), &hash)
            .await
            .map_err(Problem::from)?;
        let Some(key) = key else {
            tracing::info!("authentication failed: unknown key");
            return Err(fail(AuthFailure::UnknownKey));
        };
        let kind_ok = token.starts_with(gateway_kind(key.kind).prefix());
        if !ct_eq32(key.hash.as_bytes(), &hash) || !kind_ok || key.is_revoked() {
            tracing::info!(key_id = %key.id, "authentication failed: revoked or mismatched key");
            return Err(fail(AuthFailure::RevokedOrMismatched));
        }
        Ok(Caller {
            tenant_id: key.tenant_id,
            key_id: key.id,
            kind: gateway_kind(key.kind),
            scopes: key.scopes,
            request_id: request_id_of(parts),
        })
    }
}

/// The operator, authenticated with the admin token.
#[derive(Debug, Clone)]
pub struct Admin {
    /// The request id.
    pub request_id: String,
}

impl Admin {
    /// An audit draft for an admin operation.
    pub fn audit(&self, operation: &str) -> Result<AuditDraft, Problem> {
        audit_draft(Actor::Admin, operation, &self.request_id)
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let ok = bearer(parts).is_some_and(|t| state.admin_token().verify(t));
        if !ok {
            tracing::info!("admin authentication failed");
            state.metrics().auth_failure(AuthFailure::AdminToken);
            return Err(Problem::new(ProblemKind::Unauthorized)
                .detail("send the operator admin token as Authorization: Bearer …"));
        }
        Ok(Admin {
            request_id: request_id_of(parts),
        })
    }
}
