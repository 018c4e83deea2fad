//! Running the app: bind, serve, graceful shutdown (stop accepting, drain
//! in-flight requests up to the grace period, then flush and close the
//! store, which drains the group-commit audit writer).

use std::future::Future;

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

/// Serves `app` on `listener` until `shutdown` resolves, then stops
/// accepting, drains in-flight requests (at most the configured grace
/// period, then aborts the remaining connections) and closes the store
/// (flushing queued audit events).
///
/// Connections are served by hyper (HTTP/1.1 and HTTP/2) with the header
/// read timeout of [`crate::config::HttpSettings::header_read_timeout`].
pub async fn serve(
    listener: TcpListener,
    app: App,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::server::graceful::GracefulShutdown;
    use hyper_util::service::TowerToHyperService;

    let state = app.state().clone();
    let grace = state.http().shutdown_grace;
    let router = app.router();
    // Usage counts are written to the store periodically and on shutdown.
    let flusher = state
        .limiter()
        .usage()
        .spawn_flusher(state.usage_flush_interval());
    let tenant_gauge = crate::limits_wiring::spawn_tenant_gauge(state.clone());
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

    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(state.http().header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    let mut connections = tokio::task::JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // Reap finished connection tasks so the set does not grow.
        while connections.try_join_next().is_some() {}
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Typically EMFILE: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let service = TowerToHyperService::new(router.clone());
                let conn = builder
                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                    .into_owned();
                let conn = graceful.watch(conn);
                connections.spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    tracing::info!(
        grace_ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX),
        connections = connections.len(),
        "shutdown requested, draining in-flight requests"
    );
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("grace period over, aborting remaining connections");
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
    purger.abort();
    tenant_gauge.abort();
    // Every metered request has finished: write the last usage counts
    // before the store closes.
    match flusher.shutdown().await {
        Ok(n) => tracing::info!(rows = n, "usage counts flushed"),
        Err(e) => tracing::error!(error = %e, "final usage flush failed"),
    }
    state.store().close().await;
    tracing::info!("server stopped, audit writer flushed");
    Ok(())
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
    let kms = crate::kms_routes::start_from_config(&store, &config.kms).await?;
    let builder = App::builder(store, config.admin_token.clone())
        .limits(config.limits.clone())
        .http(config.http.clone())
        .default_secret_kind(crate::keys::KeyKind::Live)
        .api_key_cache_ttl(config.api_key_cache_ttl)
        .routes(crate::kms_routes::router_or_empty(&kms))
        .metrics_access(config.metrics_access);
    let builder = match &kms {
        Some(k) => builder.health_check(std::sync::Arc::new(crate::kms_routes::KmsCheck::new(
            k.clone(),
        ))),
        None => builder,
    };
    let app = crate::ai::config::attach(builder, config.ai.as_ref())
        .await?
        .connect_limits(config.rate_limits.clone())
        .await
        .map_err(|e| anyhow::anyhow!("rate limiter: {e}"))?
        .build();
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let metrics_server = match config.metrics_listen {
        Some(addr) => Some(spawn_metrics_listener(addr, app.state().registry().clone()).await?),
        None => None,
    };
    tracing::info!(
        listen = %listener.local_addr()?,
        limits_backend = ?config.rate_limits.backend,
        "zenalyze serve started"
    );
    let served = serve(listener, app, shutdown).await;
    if let Some(m) = metrics_server {
        m.abort();
    }
    served?;
    Ok(())
}

/// Serves only `GET /metrics` (no authentication) on `addr`, for a
/// metrics listener on a private interface (`[metrics] listen`).
pub async fn spawn_metrics_listener(
    addr: std::net::SocketAddr,
    registry: prometheus::Registry,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr} (metrics): {e}"))?;
    tracing::info!(listen = %listener.local_addr()?, "metrics listener started");
    let router = crate::metrics::standalone_router(registry);
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::warn!(error = %e, "metrics listener stopped");
        }
    }))
}
