//! `zenalyze dev`: the platform in one process on embedded defaults.
//!
//! Data lives in a directory (default `./.zenalyze/`): the SQLite store
//! `zenalyze.db`, the local root key `root.key` (32 random bytes, mode
//! 0600; the process refuses to start when its permissions are looser), the
//! admin token `admin.token` and the development tenant's keys `dev.json`
//! (both 0600, so a restart prints the same credentials). A development
//! tenant `dev` (tier enterprise) with an every-scope secret key and a
//! publishable key is created once.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use zenalyze_store::{Actor, KeyHash, Store, StoreOptions, TenantId, Tier};
use zeroize::Zeroizing;

use crate::admin;
use crate::auth::{audit_draft, gateway_kind};
use crate::config::{is_group_or_world_accessible, HttpSettings, Limits};
use crate::keys::{random_bytes, AdminToken, ApiKeySecret, KeyKind};
use crate::scopes;
use crate::state::{App, AppBuilder};

/// File name of the local root key in the data directory.
pub const ROOT_KEY_FILE: &str = "root.key";
/// File name of the persisted admin token.
pub const ADMIN_TOKEN_FILE: &str = "admin.token";
/// File name of the persisted development credentials.
pub const DEV_STATE_FILE: &str = "dev.json";
/// Name of the development tenant.
pub const DEV_TENANT_NAME: &str = "dev";
/// Minimum length of `ZENALYZE_DEV_API_KEY`.
pub const MIN_DEV_KEY_LEN: usize = 40;

/// Options of `zenalyze dev`.
#[derive(Clone)]
pub struct DevOptions {
    /// Address to listen on (default `127.0.0.1:8080`).
    pub listen: SocketAddr,
    /// Data directory (default `./.zenalyze`).
    pub data_dir: PathBuf,
    /// Fixed development secret key (`ZENALYZE_DEV_API_KEY`).
    pub dev_api_key: Option<Zeroizing<String>>,
    /// Fixed admin token (`ZENALYZE_ADMIN_TOKEN`).
    pub admin_token: Option<Zeroizing<String>>,
    /// Request limits.
    pub limits: Limits,
    /// Timeouts.
    pub http: HttpSettings,
    /// Number of in-process development enclaves (at least one), on Unix
    /// sockets in the data directory, sharing one HPKE key set.
    pub enclaves: usize,
    /// An extra site served beside the API (the CLI plugs in the demo
    /// journal); `None` serves the API only.
    pub site: Option<DevSite>,
}

/// What a [`DevSite`] is built from, once the listener is bound.
pub struct DevSiteContext {
    /// The public base URL (`http://ADDR`).
    pub base_url: String,
    /// Where the site's backend reaches the gateway: the base URL, with a
    /// loopback address when listening on an unspecified one.
    pub gateway_url: String,
    /// The development tenant's secret key (every scope), for the site's
    /// backend only.
    pub secret_key: Zeroizing<String>,
    /// The development tenant's publishable key (browser code).
    pub publishable_key: String,
    /// SHA-256 (hex) of the development attestation root.
    pub dev_root_sha256: String,
    /// The development attestation root's certificate (PEM, public; never
    /// its private key).
    pub dev_root_certificate_pem: String,
}

impl std::fmt::Debug for DevSiteContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevSiteContext")
            .field("base_url", &self.base_url)
            .field("gateway_url", &self.gateway_url)
            .field("dev_root_sha256", &self.dev_root_sha256)
            .finish_non_exhaustive()
    }
}

/// An extra site served by `zenalyze dev` at the paths no API route
/// matches ([`App::with_pages`]) and announced in the banner as
/// `LABEL: http://ADDR/`.
#[derive(Clone)]
pub struct DevSite {
    /// Its name in the banner.
    pub label: &'static str,
    /// Builds its router.
    pub build: Arc<dyn Fn(&DevSiteContext) -> axum::Router + Send + Sync>,
}

impl std::fmt::Debug for DevSite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevSite")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for DevOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevOptions")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("dev_api_key", &self.dev_api_key.as_ref().map(|_| "<set>"))
            .field("admin_token", &self.admin_token.as_ref().map(|_| "<set>"))
            .field("site", &self.site)
            .finish_non_exhaustive()
    }
}

impl Default for DevOptions {
    fn default() -> Self {
        DevOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from(zenalyze_store::DEFAULT_DATA_DIR),
            dev_api_key: None,
            admin_token: None,
            limits: Limits::default(),
            http: HttpSettings::default(),
            enclaves: 1,
            site: None,
        }
    }
}

/// Why `zenalyze dev` cannot start.
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    /// A file of the data directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A secret file is readable by group or others.
    #[error("{0} is readable by group or others; run chmod 600 on it")]
    LoosePermissions(PathBuf),
    /// The root key file does not hold exactly 32 bytes.
    #[error("{0} must hold exactly 32 bytes")]
    BadRootKey(PathBuf),
    /// `ZENALYZE_DEV_API_KEY` is not a valid development key.
    #[error("ZENALYZE_DEV_API_KEY must be zk_test_ followed by base62 characters, at least 40 characters in all")]
    BadDevKey,
    /// `ZENALYZE_ADMIN_TOKEN` is unacceptable.
    #[error("ZENALYZE_ADMIN_TOKEN: {0}")]
    BadAdminToken(crate::keys::AdminTokenError),
    /// `dev.json` is corrupt.
    #[error("{0} is corrupt; delete it to create fresh development keys")]
    BadState(PathBuf),
    /// The configured dev key belongs to another tenant or was revoked.
    #[error("the development key exists but is revoked or belongs to another tenant")]
    KeyConflict,
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] zenalyze_store::StoreError),
    /// A bootstrap operation failed.
    #[error("bootstrap failed: {0}")]
    Bootstrap(crate::problem::Problem),
    /// The Key Management Service could not start (root key, keyrings).
    #[error("key management: {0}")]
    Kms(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DevError + '_ {
    move |source| DevError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Writes `data` to `path` with mode 0600 (atomically: temp file + rename).
pub fn write_private(path: &Path, data: &[u8]) -> Result<(), DevError> {
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp).map_err(io_err(&tmp))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(io_err(&tmp))?;
    }
    f.write_all(data).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))
}

/// Reads a secret file, refusing it when group or others can read it.
/// `Ok(None)` when it does not exist.
pub fn read_private(path: &Path) -> Result<Option<Zeroizing<Vec<u8>>>, DevError> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path)(e)),
        Ok(_) => {}
    }
    if is_group_or_world_accessible(path).map_err(io_err(path))? {
        return Err(DevError::LoosePermissions(path.to_owned()));
    }
    Ok(Some(Zeroizing::new(
        std::fs::read(path).map_err(io_err(path))?,
    )))
}

/// Ensures the local root key exists (32 random bytes, mode 0600) and
/// returns its path. Refuses a file with looser permissions or another size.
pub fn ensure_root_key(dir: &Path) -> Result<PathBuf, DevError> {
    let path = dir.join(ROOT_KEY_FILE);
    match read_private(&path)? {
        Some(bytes) if bytes.len() == 32 => Ok(path),
        Some(_) => Err(DevError::BadRootKey(path)),
        None => {
            let key = Zeroizing::new(random_bytes::<32>());
            write_private(&path, key.as_slice())?;
            Ok(path)
        }
    }
}

fn ensure_admin_token(dir: &Path, fixed: Option<&str>) -> Result<AdminToken, DevError> {
    if let Some(t) = fixed {
        return AdminToken::parse(t).map_err(DevError::BadAdminToken);
    }
    let path = dir.join(ADMIN_TOKEN_FILE);
    if let Some(bytes) = read_private(&path)? {
        let text = std::str::from_utf8(&bytes).map_err(|_| DevError::BadState(path.clone()))?;
        return AdminToken::parse(text).map_err(|_| DevError::BadState(path));
    }
    let token = AdminToken::generate();
    write_private(&path, token.expose_secret().as_bytes())?;
    Ok(token)
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DevState {
    tenant_id: String,
    secret_key: String,
    publishable_key: String,
}

impl Drop for DevState {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.secret_key.zeroize();
        self.publishable_key.zeroize();
    }
}

/// Validates a `ZENALYZE_DEV_API_KEY` value.
pub fn parse_dev_key(text: &str) -> Result<ApiKeySecret, DevError> {
    let key = ApiKeySecret::parse(text.trim()).map_err(|_| DevError::BadDevKey)?;
    if key.kind() != KeyKind::Test || key.expose_secret().len() < MIN_DEV_KEY_LEN {
        return Err(DevError::BadDevKey);
    }
    Ok(key)
}

/// The development credentials, printed at startup.
pub struct DevCredentials {
    /// The development tenant.
    pub tenant_id: TenantId,
    /// Its secret key (every scope).
    pub secret_key: ApiKeySecret,
    /// Its publishable key.
    pub publishable_key: ApiKeySecret,
    /// The admin token.
    pub admin_token: AdminToken,
    /// Path of the local root key.
    pub root_key_path: PathBuf,
}

impl std::fmt::Debug for DevCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevCredentials")
            .field("tenant_id", &self.tenant_id)
            .finish_non_exhaustive()
    }
}

/// Makes sure `secret` is a usable key of `tenant` with `scopes`.
async fn ensure_key(
    store: &Arc<dyn Store>,
    tenant: &TenantId,
    secret: &ApiKeySecret,
    scopes: Vec<String>,
) -> Result<(), DevError> {
    match store.find_api_key_by_hash(&KeyHash(secret.hash())).await? {
        Some(k)
            if &k.tenant_id == tenant
                && !k.is_revoked()
                && gateway_kind(k.kind) == secret.kind() =>
        {
            Ok(())
        }
        Some(_) => Err(DevError::KeyConflict),
        None => {
            let audit = audit_draft(
                Actor::System,
                "api_keys.create",
                &crate::request_id::generate(),
            )
            .map_err(DevError::Bootstrap)?;
            admin::insert_key(store, tenant, secret, scopes, audit.tenant(tenant.clone()))
                .await
                .map_err(DevError::Bootstrap)?;
            Ok(())
        }
    }
}

/// Creates (once) the development tenant and its keys, and the local
/// secrets of the data directory.
pub async fn bootstrap(
    store: &Arc<dyn Store>,
    opts: &DevOptions,
) -> Result<DevCredentials, DevError> {
    let dir = &opts.data_dir;
    let root_key_path = ensure_root_key(dir)?;
    let admin_token = ensure_admin_token(dir, opts.admin_token.as_deref().map(String::as_str))?;
    let fixed_key = opts
        .dev_api_key
        .as_deref()
        .map(|k| parse_dev_key(k))
        .transpose()?;

    let state_path = dir.join(DEV_STATE_FILE);
    let saved: Option<DevState> = match read_private(&state_path)? {
        Some(bytes) => Some(
            serde_json::from_slice(&bytes).map_err(|_| DevError::BadState(state_path.clone()))?,
        ),
        None => None,
    };

    let mut tenant = None;
    if let Some(s) = &saved {
        let id =
            TenantId::parse(&s.tenant_id).map_err(|_| DevError::BadState(state_path.clone()))?;
        tenant = store.get_tenant(&id).await?;
    }
    let tenant = match tenant {
        Some(t) => t,
        None => {
            let audit = audit_draft(
                Actor::System,
                "tenants.create",
                &crate::request_id::generate(),
            )
            .map_err(DevError::Bootstrap)?;
            admin::create_tenant(store, DEV_TENANT_NAME, Tier::Enterprise, audit)
                .await
                .map_err(DevError::Bootstrap)?
        }
    };
    let same_tenant = saved
        .as_ref()
        .is_some_and(|s| s.tenant_id == tenant.id.as_str());

    let secret = match (fixed_key, saved.as_ref().filter(|_| same_tenant)) {
        (Some(k), _) => k,
        (None, Some(s)) => ApiKeySecret::parse(&s.secret_key)
            .map_err(|_| DevError::BadState(state_path.clone()))?,
        (None, None) => ApiKeySecret::generate(KeyKind::Test),
    };
    let publishable = match saved.as_ref().filter(|_| same_tenant) {
        Some(s) => ApiKeySecret::parse(&s.publishable_key)
            .map_err(|_| DevError::BadState(state_path.clone()))?,
        None => ApiKeySecret::generate(KeyKind::Publishable),
    };
    let all: Vec<String> = scopes::ALL.iter().map(|s| (*s).to_owned()).collect();
    ensure_key(store, &tenant.id, &secret, all).await?;
    ensure_key(store, &tenant.id, &publishable, scopes::defaults(false)).await?;

    let state = DevState {
        tenant_id: tenant.id.to_string(),
        secret_key: secret.expose_secret().to_owned(),
        publishable_key: publishable.expose_secret().to_owned(),
    };
    let json = Zeroizing::new(
        serde_json::to_vec_pretty(&state).map_err(|_| DevError::BadState(state_path.clone()))?,
    );
    write_private(&state_path, &json)?;

    Ok(DevCredentials {
        tenant_id: tenant.id,
        secret_key: secret,
        publishable_key: publishable,
        admin_token,
        root_key_path,
    })
}

/// Opens the data directory's store, bootstraps the development tenant and
/// returns an app builder (later features add their parts to it) plus the
/// credentials to print.
pub async fn prepare(opts: &DevOptions) -> Result<(AppBuilder, DevCredentials), DevError> {
    let store = zenalyze_store::open_data_dir(&opts.data_dir, &StoreOptions::default()).await?;
    let creds = match bootstrap(&store, opts).await {
        Ok(c) => c,
        Err(e) => {
            store.close().await;
            return Err(e);
        }
    };
    let kms = match dev_kms(&store, &creds).await {
        Ok(k) => k,
        Err(e) => {
            store.close().await;
            return Err(e);
        }
    };
    // `GET /metrics` is open on a loopback listener, behind the admin
    // token otherwise. Rate limits: in memory (the default back-end).
    let metrics_access = if opts.listen.ip().is_loopback() {
        crate::metrics::MetricsAccess::Open
    } else {
        crate::metrics::MetricsAccess::AdminToken
    };
    let builder = App::builder(store, creds.admin_token.clone())
        .limits(opts.limits.clone())
        .http(opts.http.clone())
        .default_secret_kind(KeyKind::Test)
        .metrics_access(metrics_access)
        .routes(crate::kms_routes::router(kms.clone()))
        .health_check(Arc::new(crate::kms_routes::KmsCheck::new(kms)));
    Ok((builder, creds))
}

/// The development Key Management Service: the local root key of the data
/// directory (already checked by [`ensure_root_key`]), the development
/// keyrings `encrypt-username` and `encrypt-email`, automatic rotation.
async fn dev_kms(
    store: &Arc<dyn Store>,
    creds: &DevCredentials,
) -> Result<Arc<zenalyze_kms::Kms>, DevError> {
    let root = zenalyze_kms::LocalRootKey::load(&creds.root_key_path)
        .map_err(|e| DevError::Kms(e.to_string()))?;
    let kms = Arc::new(zenalyze_kms::Kms::new(store.clone(), Arc::new(root)));
    crate::kms_routes::ensure_keyrings(&kms, &creds.tenant_id, crate::kms_routes::DEV_KEYRINGS)
        .await
        .map_err(|e| DevError::Kms(e.to_string()))?;
    kms.spawn_rotation_task(crate::kms_routes::ROTATION_CHECK_INTERVAL);
    Ok(kms)
}

/// The startup banner: URLs and credentials (printed to stdout, never
/// logged).
pub fn banner(addr: SocketAddr, creds: &DevCredentials, data_dir: &Path) -> String {
    let base = format!("http://{addr}");
    format!(
        "Zenalyze development platform is running.\n\
         \n  API:             {base}/v1\
         \n  OpenAPI:         {base}/v1/openapi.json\
         \n  Docs:            {base}/docs\
         \n  Health:          {base}/v1/health\
         \n  Metrics:         {base}/metrics\
         \n  Data directory:  {}\
         \n\
         \n  Tenant id:       {}\
         \n  Secret key:      {}\
         \n  Publishable key: {}\
         \n  Admin token:     {}\
         \n\nTry: curl -H 'Authorization: Bearer {}' '{base}/v1/records?user_id=demo'\n\
         Press Ctrl-C to stop.\n",
        data_dir.display(),
        creds.tenant_id,
        creds.secret_key.expose_secret(),
        creds.publishable_key.expose_secret(),
        creds.admin_token.expose_secret(),
        creds.secret_key.expose_secret(),
    )
}

/// Runs `zenalyze dev` until `shutdown` resolves: prepares the data
/// directory, binds, prints the banner to stdout and serves.
pub async fn run(
    opts: DevOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (builder, creds) = prepare(&opts).await?;
    let (builder, enclaves) =
        crate::ai::dev::attach(builder, &opts.data_dir, opts.enclaves).await?;
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", opts.listen))?;
    let addr = listener.local_addr()?;
    let mut text = Zeroizing::new(banner(addr, &creds, &opts.data_dir));
    text.push_str(&crate::ai::dev::banner(&enclaves));
    let mut app = builder.build();
    if let Some(site) = &opts.site {
        let ctx = site_context(addr, &creds, &enclaves)?;
        app = app.with_pages((site.build)(&ctx));
        text.push_str(&format!("\n  {}: {}/\n", site.label, ctx.base_url));
    }
    // The stdout lock is not `Send`: hold it in a block without awaits.
    {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())?;
        out.flush()?;
    }
    tracing::info!(listen = %addr, "zenalyze dev started");
    let served = crate::server::serve(listener, app, shutdown).await;
    enclaves.shutdown().await;
    served?;
    Ok(())
}

/// The context of a [`DevSite`] served on `addr`.
fn site_context(
    addr: SocketAddr,
    creds: &DevCredentials,
    enclaves: &crate::ai::dev::DevEnclaves,
) -> anyhow::Result<DevSiteContext> {
    let path = enclaves
        .data_dir
        .join(zenalyze_enclave::attest::DEV_ROOT_FILE);
    let pem =
        read_private(&path)?.ok_or_else(|| anyhow::anyhow!("{} is missing", path.display()))?;
    let pem = std::str::from_utf8(&pem)
        .map_err(|_| anyhow::anyhow!("{} is not PEM text", path.display()))?;
    let root = zenalyze_attestation::dev::DevRoot::from_pem(pem)
        .map_err(|e| anyhow::anyhow!("development attestation root: {e}"))?;
    let mut inner = addr;
    if inner.ip().is_unspecified() {
        inner.set_ip(match inner {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    Ok(DevSiteContext {
        base_url: format!("http://{addr}"),
        gateway_url: format!("http://{inner}"),
        secret_key: Zeroizing::new(creds.secret_key.expose_secret().to_owned()),
        publishable_key: creds.publishable_key.expose_secret().to_owned(),
        dev_root_sha256: root.sha256_fingerprint_hex(),
        dev_root_certificate_pem: root
            .cert_pem()
            .map_err(|e| anyhow::anyhow!("development attestation root: {e}"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_key_validation() {
        assert!(parse_dev_key(&format!("zk_test_{}", "a".repeat(32))).is_ok());
        assert!(parse_dev_key(&format!("zk_live_{}", "a".repeat(40))).is_err());
        assert!(parse_dev_key("zk_test_abc").is_err());
        assert!(parse_dev_key(&format!("zk_test_{}!", "a".repeat(40))).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn root_key_created_private_and_loose_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let p = ensure_root_key(dir.path()).expect("created");
        let meta = std::fs::metadata(&p).expect("meta");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(meta.len(), 32);
        let before = std::fs::read(&p).expect("read");
        ensure_root_key(dir.path()).expect("reused");
        assert_eq!(std::fs::read(&p).expect("read"), before);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(matches!(
            ensure_root_key(dir.path()),
            Err(DevError::LoosePermissions(_))
        ));
    }
}
