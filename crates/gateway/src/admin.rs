//! Operator administration of tenants and API keys: the `/v1/admin/*` API
//! and the operations the `zenalyze tenants` / `zenalyze api-keys` verbs
//! run directly against the database.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zenalyze_store::{
    ApiKey, ApiKeyId, AuditDraft, KeyHash, Mutation, NewApiKey, NewTenant, Outcome, Store, Tenant,
    TenantId, Tier, WriteUnit,
};

use crate::auth::{gateway_kind, store_kind, Admin};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::keys::{ApiKeySecret, KeyKind};
use crate::problem::{Problem, ProblemDocument, ProblemKind};
use crate::records::rfc3339;
use crate::scopes;
use crate::state::AppState;

/// Body of `POST /v1/admin/tenants`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenantRequest {
    /// Display name of the customer organisation (1–200 bytes, no control
    /// characters; not PHI).
    pub name: String,
    /// `free`, `starter`, `pro` or `enterprise`.
    #[schema(example = "pro")]
    pub tier: String,
    /// Optional quota override: metered requests per quota window (the
    /// tier's UTC day or month), replacing the tier's default.
    #[serde(default)]
    pub quota_override: Option<u64>,
    /// Optional burst override: requests per second (1 to 1,000,000),
    /// replacing the tier's default.
    #[serde(default)]
    pub burst_override: Option<u32>,
}

/// Largest accepted `quota_override`.
pub const MAX_QUOTA_OVERRIDE: u64 = 1_000_000_000_000;
/// Largest accepted `burst_override`.
pub const MAX_BURST_OVERRIDE: u32 = 1_000_000;

/// Body of `PATCH /v1/admin/tenants/{id}`: absent fields are kept, `null`
/// removes an override.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTenantRequest {
    /// New tier (`free`, `starter`, `pro`, `enterprise`).
    #[serde(default)]
    pub tier: Option<String>,
    /// New quota override; `null` restores the tier's default.
    #[serde(default, deserialize_with = "some_or_null")]
    #[schema(value_type = Option<u64>)]
    pub quota_override: Option<Option<u64>>,
    /// New burst override (requests per second); `null` restores the
    /// tier's default.
    #[serde(default, deserialize_with = "some_or_null")]
    #[schema(value_type = Option<u32>)]
    pub burst_override: Option<Option<u32>>,
}

/// Present (`Some(value)` or `Some(None)` for `null`) vs absent (`None`,
/// via `#[serde(default)]`).
fn some_or_null<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Checks override values.
pub fn validate_overrides(quota: Option<u64>, burst: Option<u32>) -> Result<(), Problem> {
    if quota.is_some_and(|q| q > MAX_QUOTA_OVERRIDE) {
        return Err(invalid("quota_override must be 0 to 1000000000000"));
    }
    if burst.is_some_and(|b| !(1..=MAX_BURST_OVERRIDE).contains(&b)) {
        return Err(invalid("burst_override must be 1 to 1000000"));
    }
    Ok(())
}

/// Response of `POST /v1/admin/tenants`: the only time the keys are shown.
#[derive(Serialize, ToSchema)]
pub struct CreatedTenant {
    /// Tenant id (`ten_…`).
    pub tenant_id: String,
    /// A secret key with the default scopes (`zk_live_…` in production,
    /// `zk_test_…` in development).
    pub secret_key: String,
    /// A publishable key (`zk_pub_…`) with the browser scopes.
    pub publishable_key: String,
}

impl Drop for CreatedTenant {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.secret_key.zeroize();
        self.publishable_key.zeroize();
    }
}

impl std::fmt::Debug for CreatedTenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedTenant")
            .field("tenant_id", &self.tenant_id)
            .finish_non_exhaustive()
    }
}

/// A tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantView {
    /// Tenant id (`ten_…`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Tier.
    pub tier: String,
    /// Quota override (metered requests per quota window), `null` for the
    /// tier's default.
    pub quota_override: Option<u64>,
    /// Burst override (requests per second), `null` for the tier's
    /// default.
    pub burst_override: Option<u32>,
    /// Creation time (RFC 3339).
    pub created_at: String,
}

/// A page of tenants.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantList {
    /// Tenants ordered by id.
    pub tenants: Vec<TenantView>,
    /// Pass as `after` for the next page; `null` on the last page.
    pub next_after: Option<String>,
}

/// Query of `GET /v1/admin/tenants`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TenantListQuery {
    /// Page size, 1–1000 (default 100).
    pub limit: Option<u32>,
    /// The `next_after` of the previous page.
    pub after: Option<String>,
}

/// An API key as listed (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    /// Key id (`key_…`).
    pub id: String,
    /// Tenant id.
    pub tenant_id: String,
    /// `live`, `test` or `publishable`.
    pub kind: String,
    /// First characters of the key, for recognition (e.g. `zk_live_3fA9`).
    pub prefix: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Revocation time, `null` while active.
    pub revoked_at: Option<String>,
}

/// The keys of a tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    /// Keys, oldest first.
    pub api_keys: Vec<ApiKeyView>,
}

/// Body of `POST /v1/admin/tenants/{id}/api-keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// `live`, `test` or `publishable`.
    #[schema(example = "live")]
    pub kind: String,
    /// Scopes; defaults to every non-admin scope for secret keys and to
    /// `ai:attestation`, `ai:analyze` for publishable keys.
    pub scopes: Option<Vec<String>>,
}

/// A newly created key: the only time its secret is shown.
#[derive(Serialize, ToSchema)]
pub struct CreatedApiKey {
    /// Key id (`key_…`).
    pub id: String,
    /// Tenant id.
    pub tenant_id: String,
    /// `live`, `test` or `publishable`.
    pub kind: String,
    /// The key itself. Store it now: it cannot be shown again.
    pub secret: String,
    /// Display prefix.
    pub prefix: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Creation time (RFC 3339).
    pub created_at: String,
}

impl Drop for CreatedApiKey {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.secret.zeroize();
    }
}

impl std::fmt::Debug for CreatedApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedApiKey")
            .field("id", &self.id)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// The view of a tenant.
pub fn tenant_view(t: &Tenant) -> TenantView {
    TenantView {
        id: t.id.to_string(),
        name: t.name.clone(),
        tier: t.tier.as_str().to_owned(),
        quota_override: t.quota_override,
        burst_override: t.burst_override,
        created_at: rfc3339(t.created_at),
    }
}

/// The view of a key.
pub fn key_view(k: &ApiKey) -> ApiKeyView {
    ApiKeyView {
        id: k.id.to_string(),
        tenant_id: k.tenant_id.to_string(),
        kind: gateway_kind(k.kind).as_str().to_owned(),
        prefix: k.prefix.clone(),
        scopes: k.scopes.clone(),
        created_at: rfc3339(k.created_at),
        revoked_at: k.revoked_at.map(rfc3339),
    }
}

fn invalid(detail: &'static str) -> Problem {
    Problem::new(ProblemKind::ValidationFailed).detail(detail)
}

/// Parses a tier name.
pub fn parse_tier(s: &str) -> Result<Tier, Problem> {
    Tier::parse(s).map_err(|_| invalid("tier must be free, starter, pro or enterprise"))
}

/// Creates a tenant (audited with `audit`).
pub async fn create_tenant(
    store: &Arc<dyn Store>,
    name: &str,
    tier: Tier,
    audit: AuditDraft,
) -> Result<Tenant, Problem> {
    create_tenant_with_overrides(store, name, tier, None, None, audit).await
}

/// Creates a tenant with quota and burst overrides (audited with `audit`).
pub async fn create_tenant_with_overrides(
    store: &Arc<dyn Store>,
    name: &str,
    tier: Tier,
    quota_override: Option<u64>,
    burst_override: Option<u32>,
    audit: AuditDraft,
) -> Result<Tenant, Problem> {
    validate_overrides(quota_override, burst_override)?;
    let new = NewTenant::new(name, tier)
        .map_err(|_| invalid("name must be 1 to 200 bytes without control characters"))?
        .with_overrides(quota_override, burst_override);
    let applied = store
        .apply(WriteUnit::new(Mutation::CreateTenant(new), audit))
        .await?;
    match applied.outcome {
        Outcome::TenantCreated(t) => Ok(t),
        Outcome::Conflict => Err(Problem::new(ProblemKind::Conflict).detail("tenant exists")),
        _ => Err(Problem::internal()),
    }
}

/// Creates a key for a tenant from an existing secret (audited with
/// `audit`). Scopes must already be validated.
pub async fn insert_key(
    store: &Arc<dyn Store>,
    tenant: &TenantId,
    secret: &ApiKeySecret,
    scopes: Vec<String>,
    audit: AuditDraft,
) -> Result<ApiKey, Problem> {
    let new = NewApiKey::new(
        tenant.clone(),
        store_kind(secret.kind()),
        secret.display_prefix(),
        KeyHash(secret.hash()),
        scopes,
    )?;
    let applied = store
        .apply(WriteUnit::new(Mutation::CreateApiKey(new), audit))
        .await?;
    match applied.outcome {
        Outcome::ApiKeyCreated(k) => Ok(k),
        Outcome::NotFound => Err(Problem::not_found().detail("no such tenant")),
        Outcome::Conflict => {
            Err(Problem::new(ProblemKind::Conflict).detail("this key already exists"))
        }
        _ => Err(Problem::internal()),
    }
}

/// Generates and stores a key of `kind` with `scopes` (validated here;
/// defaults when `None`).
pub async fn create_key(
    store: &Arc<dyn Store>,
    tenant: &TenantId,
    kind: KeyKind,
    requested: Option<Vec<String>>,
    audit: AuditDraft,
) -> Result<(ApiKey, ApiKeySecret), Problem> {
    let scopes = match requested {
        None => scopes::defaults(kind.is_secret()),
        Some(list) => scopes::validate(&list, kind.is_secret()).map_err(|e| {
            Problem::new(ProblemKind::ValidationFailed).detail(match e {
                scopes::ScopeError::Unknown => "unknown scope (see docs/api.md for the list)",
                scopes::ScopeError::NotForPublishable => {
                    "publishable keys may only hold ai:attestation and ai:analyze"
                }
                scopes::ScopeError::Empty => "at least one scope is required",
            })
        })?,
    };
    let secret = ApiKeySecret::generate(kind);
    let key = insert_key(store, tenant, &secret, scopes, audit).await?;
    Ok((key, secret))
}

/// Creates a tenant with a secret key of `secret_kind` (default scopes)
/// and a publishable key. `audit` builds the draft for each step.
pub async fn create_tenant_with_keys(
    store: &Arc<dyn Store>,
    name: &str,
    tier: Tier,
    secret_kind: KeyKind,
    audit: &(dyn Fn(&str) -> Result<AuditDraft, Problem> + Sync),
) -> Result<(Tenant, ApiKeySecret, ApiKeySecret), Problem> {
    create_tenant_with_keys_and_overrides(store, name, tier, (None, None), secret_kind, audit).await
}

/// [`create_tenant_with_keys`] with `(quota_override, burst_override)`.
pub async fn create_tenant_with_keys_and_overrides(
    store: &Arc<dyn Store>,
    name: &str,
    tier: Tier,
    overrides: (Option<u64>, Option<u32>),
    secret_kind: KeyKind,
    audit: &(dyn Fn(&str) -> Result<AuditDraft, Problem> + Sync),
) -> Result<(Tenant, ApiKeySecret, ApiKeySecret), Problem> {
    let tenant = create_tenant_with_overrides(
        store,
        name,
        tier,
        overrides.0,
        overrides.1,
        audit("tenants.create")?,
    )
    .await?;
    let (_, secret) = create_key(
        store,
        &tenant.id,
        secret_kind,
        None,
        audit("api_keys.create")?.tenant(tenant.id.clone()),
    )
    .await?;
    let (_, publishable) = create_key(
        store,
        &tenant.id,
        KeyKind::Publishable,
        None,
        audit("api_keys.create")?.tenant(tenant.id.clone()),
    )
    .await?;
    Ok((tenant, secret, publishable))
}

/// Finds a key by id in any tenant (admin only).
pub async fn find_key(store: &Arc<dyn Store>, id: &ApiKeyId) -> Result<Option<ApiKey>, Problem> {
    let mut after: Option<TenantId> = None;
    loop {
        let page = store.list_tenants(500, after.as_ref()).await?;
        for t in &page {
            if let Some(k) = store.get_api_key(&t.id, id).await? {
                return Ok(Some(k));
            }
        }
        match page.last() {
            Some(t) if page.len() == 500 => after = Some(t.id.clone()),
            _ => return Ok(None),
        }
    }
}

/// Revokes a key by id (any tenant). Returns the revoked key.
pub async fn revoke_key(
    store: &Arc<dyn Store>,
    id: &ApiKeyId,
    audit: AuditDraft,
) -> Result<ApiKey, Problem> {
    let key = find_key(store, id)
        .await?
        .ok_or_else(|| Problem::not_found().detail("no such API key"))?;
    let applied = store
        .apply(WriteUnit::new(
            Mutation::RevokeApiKey {
                tenant_id: key.tenant_id.clone(),
                key_id: key.id.clone(),
            },
            audit.tenant(key.tenant_id.clone()),
        ))
        .await?;
    match applied.outcome {
        Outcome::ApiKeyRevoked(k) => Ok(k),
        _ => Err(Problem::not_found().detail("no such API key")),
    }
}

fn parse_tenant_id(s: &str) -> Result<TenantId, Problem> {
    TenantId::parse(s).map_err(|_| Problem::not_found().detail("no such tenant"))
}

/// Create a tenant with a secret and a publishable key.
#[utoipa::path(
    post,
    path = "/v1/admin/tenants",
    tag = "admin",
    request_body = CreateTenantRequest,
    responses(
        (status = 201, description = "Created; the keys are shown only now", body = CreatedTenant),
        (status = 401, description = "Missing or wrong admin token", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 422, description = "Invalid name or tier", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 503, description = "Database or audit log unavailable", body = ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("admin_token" = []))
)]
pub async fn post_tenant(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(req): ApiJson<CreateTenantRequest>,
) -> Result<Response, Problem> {
    let tier = parse_tier(&req.tier)?;
    let (tenant, secret, publishable) = create_tenant_with_keys_and_overrides(
        state.store(),
        &req.name,
        tier,
        (req.quota_override, req.burst_override),
        state.default_secret_kind(),
        &|op| admin.audit(op),
    )
    .await?;
    tenants_changed(&state, &tenant);
    let body = CreatedTenant {
        tenant_id: tenant.id.to_string(),
        secret_key: secret.expose_secret().to_owned(),
        publishable_key: publishable.expose_secret().to_owned(),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Changes a tenant's tier and overrides (audited as `tenants.update`);
/// absent fields are kept, `null` removes an override.
pub async fn update_tenant(
    store: &Arc<dyn Store>,
    id: &TenantId,
    req: &UpdateTenantRequest,
    audit: AuditDraft,
) -> Result<Tenant, Problem> {
    let current = store
        .get_tenant(id)
        .await?
        .ok_or_else(|| Problem::not_found().detail("no such tenant"))?;
    let tier = match &req.tier {
        Some(t) => parse_tier(t)?,
        None => current.tier,
    };
    let quota_override = req.quota_override.unwrap_or(current.quota_override);
    let burst_override = req.burst_override.unwrap_or(current.burst_override);
    validate_overrides(quota_override, burst_override)?;
    let applied = store
        .apply(WriteUnit::new(
            Mutation::UpdateTenant(zenalyze_store::TenantUpdate {
                id: id.clone(),
                tier,
                quota_override,
                burst_override,
            }),
            audit.tenant(id.clone()),
        ))
        .await?;
    match applied.outcome {
        Outcome::TenantUpdated(t) => Ok(t),
        Outcome::NotFound => Err(Problem::not_found().detail("no such tenant")),
        _ => Err(Problem::internal()),
    }
}

/// After a tenant was created or changed through this instance: its limits
/// apply at once here, and the tenants-per-tier gauge is recomputed.
fn tenants_changed(state: &AppState, tenant: &Tenant) {
    state.tenant_limits().update(tenant);
    let state = state.clone();
    tokio::spawn(async move {
        if let Err(e) = crate::limits_wiring::refresh_tenants_per_tier(&state).await {
            tracing::warn!(error = %e, "tenants-per-tier gauge refresh failed");
        }
    });
}

/// Change a tenant's tier, quota override or burst override.
#[utoipa::path(
    patch,
    path = "/v1/admin/tenants/{id}",
    tag = "admin",
    params(("id" = String, Path, description = "Tenant id (ten_…)")),
    request_body = UpdateTenantRequest,
    responses(
        (status = 200, description = "The tenant's new state", body = TenantView),
        (status = 401, description = "Missing or wrong admin token", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 422, description = "Invalid tier or override", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 503, description = "Database or audit log unavailable", body = ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("admin_token" = []))
)]
pub async fn patch_tenant(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<UpdateTenantRequest>,
) -> Result<Json<TenantView>, Problem> {
    let id = parse_tenant_id(&id)?;
    let tenant = update_tenant(state.store(), &id, &req, admin.audit("tenants.update")?).await?;
    tenants_changed(&state, &tenant);
    Ok(Json(tenant_view(&tenant)))
}

/// List tenants.
#[utoipa::path(
    get,
    path = "/v1/admin/tenants",
    tag = "admin",
    params(TenantListQuery),
    responses(
        (status = 200, description = "Tenants", body = TenantList),
        (status = 400, description = "Invalid parameter", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong admin token", body = ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("admin_token" = []))
)]
pub async fn get_tenants(
    State(state): State<AppState>,
    admin: Admin,
    ApiQuery(q): ApiQuery<TenantListQuery>,
) -> Result<Json<TenantList>, Problem> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(Problem::new(ProblemKind::InvalidParameter).detail("limit must be 1 to 1000"));
    }
    let after = q
        .after
        .as_deref()
        .map(|a| {
            TenantId::parse(a).map_err(|_| {
                Problem::new(ProblemKind::InvalidParameter).detail("after must be a tenant id")
            })
        })
        .transpose()?;
    state
        .store()
        .append_audit(admin.audit("tenants.list")?)
        .await?;
    let tenants = state.store().list_tenants(limit, after.as_ref()).await?;
    let next_after = if tenants.len() == usize::try_from(limit).unwrap_or(usize::MAX) {
        tenants.last().map(|t| t.id.to_string())
    } else {
        None
    };
    Ok(Json(TenantList {
        tenants: tenants.iter().map(tenant_view).collect(),
        next_after,
    }))
}

/// List a tenant's API keys (never their secrets).
#[utoipa::path(
    get,
    path = "/v1/admin/tenants/{id}/api-keys",
    tag = "admin",
    params(("id" = String, Path, description = "Tenant id (ten_…)")),
    responses(
        (status = 200, description = "Keys", body = ApiKeyList),
        (status = 401, description = "Missing or wrong admin token", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("admin_token" = []))
)]
pub async fn get_tenant_keys(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ApiKeyList>, Problem> {
    let id = parse_tenant_id(&id)?;
    let store = state.store();
    if store.get_tenant(&id).await?.is_none() {
        return Err(Problem::not_found().detail("no such tenant"));
    }
    store
        .append_audit(admin.audit("api_keys.list")?.tenant(id.clone()))
        .await?;
    let keys = store.list_api_keys(&id).await?;
    Ok(Json(ApiKeyList {
        api_keys: keys.iter().map(key_view).collect(),
    }))
}

/// Create an API key for a tenant.
#[utoipa::path(
    post,
    path = "/v1/admin/tenants/{id}/api-keys",
    tag = "admin",
    params(("id" = String, Path, description = "Tenant id (ten_…)")),
    request_body = CreateApiKeyRequest,
    responses(
        (status = 201, description = "Created; the secret is shown only now", body = CreatedApiKey),
        (status = 401, description = "Missing or wrong admin token", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 422, description = "Invalid kind or scopes", body = ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("admin_token" = []))
)]
pub async fn post_tenant_key(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<CreateApiKeyRequest>,
) -> Result<Response, Problem> {
    let id = parse_tenant_id(&id)?;
    let kind = KeyKind::parse(&req.kind)
        .ok_or_else(|| invalid("kind must be live, test or publishable"))?;
    let (key, secret) = create_key(
        state.store(),
        &id,
        kind,
        req.scopes,
        admin.audit("api_keys.create")?.tenant(id.clone()),
    )
    .await?;
    let body = CreatedApiKey {
        id: key.id.to_string(),
        tenant_id: key.tenant_id.to_string(),
        kind: kind.as_str().to_owned(),
        secret: secret.expose_secret().to_owned(),
        prefix: key.prefix.clone(),
        scopes: key.scopes.clone(),
        created_at: rfc3339(key.created_at),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Revoke an API key.
#[utoipa::path(
    delete,
    path = "/v1/admin/api-keys/{id}",
    tag = "admin",
    params(("id" = String, Path, description = "Key id (key_…)")),
    responses(
        (status = 204, description = "Revoked (idempotent)"),
        (status = 401, description = "Missing or wrong admin token", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such key", body = ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("admin_token" = []))
)]
pub async fn delete_key(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, Problem> {
    let id = ApiKeyId::parse(&id).map_err(|_| Problem::not_found().detail("no such API key"))?;
    revoke_key(state.store(), &id, admin.audit("api_keys.revoke")?).await?;
    state.api_keys().invalidate(&id);
    Ok(StatusCode::NO_CONTENT)
}

/// The admin routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(post_tenant, get_tenants))
        .routes(routes!(patch_tenant))
        .routes(routes!(get_tenant_keys, post_tenant_key))
        .routes(routes!(delete_key))
}
