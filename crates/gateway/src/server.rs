//! Running the app: bind, serve, graceful shutdown (stop accepting, drain
//! in-flight requests up to the grace period, then flush and close the
//! store, which drains the group-commit audit writer).

use std::future::{Future, IntoFuture};

use tokio::net::TcpListener;

use crate::state::App;

/// How long an `Idempotency-Key` is remembered.
pub const IDEMPOTENCY_TTL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// How often expired idempotency keys are purged.
pub const PURGE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3600);

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains
/// in-flight requests (at most the configured grace period) and closes the
/// store (flushing queued audit events).
pub async fn serve(
    listener: TcpListener,
    app: App,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let state = app.state().clone();
    let grace = state.http().shutdown_grace;
    let router = app.router();
    let (tx, mut rx) = tokio::sync::watch::channel(false);
    let server = axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            let _ = rx.wait_for(|stop| *stop).await;
        })
        .into_future();
    let mut server = tokio::spawn(server);
    let purge_store = state.store().clone();
    let purger = tokio::spawn(async move {
        let mut tick = tokio::time::interval(PURGE_INTERVAL);
        loop {
            tick.tick().await;
            let before = time::OffsetDateTime::now_utc() - IDEMPOTENCY_TTL;
            match purge_store.purge_idempotency_keys(before).await {
                Ok(n) => tracing::debug!(purged = n, "expired idempotency keys purged"),
                Err(e) => tracing::warn!(error = %e, "idempotency key purge failed"),
            }
        }
    });
    let result = tokio::select! {
        joined = &mut server => joined,
        _ = shutdown => {
            tracing::info!(grace_ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX), "shutdown requested, draining in-flight requests");
            let _ = tx.send(true);
            match tokio::time::timeout(grace, &mut server).await {
                Ok(joined) => joined,
                Err(_) => {
                    tracing::warn!("grace period over, aborting remaining connections");
                    server.abort();
                    Ok(Ok(()))
                }
            }
        }
    };
    purger.abort();
    state.store().close().await;
    tracing::info!("server stopped, audit writer flushed");
    match result {
        Ok(r) => r,
        Err(e) => Err(std::io::Error::other(e)),
    }
}

/// Runs `zenalyze serve` with a validated configuration until `shutdown`
/// resolves: opens PostgreSQL (applying migrations), binds, serves.
pub async fn run_production(
    config: crate::config::ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let options = zenalyze_store::StoreOptions {
        max_connections: config.database_max_connections,
        ..Default::default()
    };
    let store = zenalyze_store::open_with(&config.database_url, &options)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the database: {e}"))?;
    let app = App::builder(store, config.admin_token.clone())
        .limits(config.limits.clone())
        .http(config.http.clone())
        .default_secret_kind(crate::keys::KeyKind::Live)
        .build();
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    tracing::info!(listen = %listener.local_addr()?, "zenalyze serve started");
    serve(listener, app, shutdown).await?;
    Ok(())
}
