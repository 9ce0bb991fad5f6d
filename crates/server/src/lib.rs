//! Wiring: configuration, the HTTP application, the CLI.

mod account_cli;
mod admin;
mod audit_cli;
pub mod cli;
pub mod config;
pub mod demo;
mod notify_cli;
mod request_id;
mod rule_versions_cli;
mod rules_cli;
mod sync_cli;
mod target_cli;

use anyhow::Context;
use axum::Router;
use config::ServeConfig;
use scimgate_core::clock::SharedClock;
use scimgate_scim::auth_failures::{self, AuthFailures, OnBurst};
use scimgate_scim::ScimState;
use scimgate_store::Store;
use std::sync::Arc;
use tokio::net::TcpListener;

/// The whole HTTP application over an open store.
/// A configuration the UI cannot use (an OIDC issuer that is not a URL) is an error
/// naming the key.
pub fn build_app(store: Store, clock: SharedClock, config: &ServeConfig) -> anyhow::Result<Router> {
    let app = scimgate_app::App::builtin(store.clone(), clock.clone(), config.webhook_targets)
        .with_server_key(scimgate_crm::push::KeySource::File(
            config.server_key_file.clone(),
        ));
    let admin = admin::router(app.clone());
    let scim = ScimState {
        store: store.clone(),
        clock,
        max_body_bytes: config.max_body_bytes,
        public_url: config.public_url.clone(),
        auth_failures: Arc::new(AuthFailures::new(notify_auth_bursts(store))),
    };
    let ui = match config.ui {
        true => scimgate_ui::router(app, config.public_url.clone(), config.oidc.clone())
            .map_err(|e| anyhow::anyhow!("{e}"))?,
        false => Router::new(),
    };
    let router = Router::new()
        .merge(scimgate_scim::router(scim))
        .merge(admin)
        .merge(ui)
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .route("/scim", axum::routing::any(scimgate_scim::not_found))
        .route(
            "/scim/{*rest}",
            axum::routing::any(scimgate_scim::not_found),
        )
        .layer(axum::middleware::from_fn(request_id::tag_request));
    Ok(router)
}

/// Each burst of rejected SCIM tokens becomes a `scim.auth_failures` notification.
fn notify_auth_bursts(store: Store) -> OnBurst {
    Arc::new(move |tenant, now| {
        tokio::spawn(scimgate_notify::auth_failures::record_burst(
            store.clone(),
            tenant,
            now,
            auth_failures::BURST,
            auth_failures::WINDOW_MS / 60_000,
        ));
    })
}

/// Opens and migrates the store, binds, and serves until SIGINT/SIGTERM.
pub async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    tracing::info!(config = %config.redacted(), "starting");
    let store = Store::open(&config.database_url).await.with_context(|| {
        format!(
            "opening database {}",
            config::redact_url(&config.database_url)
        )
    })?;
    let listener = TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    let clock: SharedClock = Arc::new(scimgate_core::SystemClock);
    let app = build_app(store.clone(), clock.clone(), &config)?;
    let every = std::time::Duration::from_millis(config.sync_tick_ms);
    let auto = Arc::new(scimgate_scheduler::auto::AutoSync::new(
        scimgate_scheduler::Syncer::new(store.clone(), clock.clone()),
    ));
    let auto_sync = tokio::spawn(run_auto_sync(Arc::clone(&auto), clock.clone(), every));
    let delivery = scimgate_notify::deliver::Worker::new(
        store.clone(),
        clock.clone(),
        scimgate_notify::deliver::DeliveryConfig {
            smtp: config.smtp.clone(),
            targets: config.webhook_targets,
            ..Default::default()
        },
        format!("serve-{}", std::process::id()),
    )?;
    let delivery = tokio::spawn(scimgate_notify::deliver::run(delivery, every));
    let pushes = tokio::spawn(scimgate_crm::push::run(
        push_worker(&store, &clock, &config)?,
        every,
    ));
    let reconciles = tokio::spawn(run_scheduled_reconciles(
        scimgate_app::App::builtin(store.clone(), clock.clone(), config.webhook_targets)
            .with_server_key(scimgate_crm::push::KeySource::File(
                config.server_key_file.clone(),
            )),
    ));
    let search = tokio::spawn(refresh_user_search(store.clone()));
    let previews = tokio::spawn(refresh_previews(scimgate_scheduler::Syncer::new(
        store.clone(),
        clock.clone(),
    )));
    tracing::info!(%addr, backend = store.backend().name(), "listening");
    // Scripts and tests read the bound address (useful with port 0) from this line.
    println!("scimgate listening on http://{addr}");
    if config.ui {
        print_first_run_link(&store, &config, addr).await?;
    }
    // With each connection's peer address: the audit log records where a change came from.
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    // A run stopped here is completed by the next one (runs are resumable); a message
    // being sent is sent again when its lease runs out.
    // No new automatic runs; those running finish (each claimed only with a free worker,
    // so none is waiting), within a deadline. A run still going then is completed by the
    // next run, as after a crash.
    auto_sync.abort();
    if !auto.drain(AUTO_SYNC_DRAIN).await {
        tracing::warn!(
            "automatic sync runs were still going at shutdown; the next run completes them"
        );
    }
    delivery.abort();
    // A push being sent is sent again when its lease runs out (sending is idempotent).
    pushes.abort();
    reconciles.abort();
    search.abort();
    previews.abort();
    store.close().await;
    Ok(())
}

/// Scheduled reconciles of CRM targets: due ones run once a minute (each claimed in the
/// database, so replicas share them).
async fn run_scheduled_reconciles(app: scimgate_app::App) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        tick.tick().await;
        if let Err(e) = app.reconcile_due().await {
            tracing::warn!(error = %e, "scheduled reconciles");
        }
    }
}

/// The worker that pushes account changes to tenants' CRM targets.
fn push_worker(
    store: &Store,
    clock: &SharedClock,
    config: &ServeConfig,
) -> anyhow::Result<scimgate_crm::push::PushWorker> {
    use scimgate_notify::target::{check_webhook_url, guarded_client};
    let policy = config.webhook_targets;
    let outbound = scimgate_crm::push::Outbound {
        http: guarded_client(policy, std::time::Duration::from_secs(30))?,
        permits: Arc::new(move |url: &str| {
            check_webhook_url(url, policy)
                .map(|_| ())
                .map_err(|e| e.to_string())
        }),
    };
    Ok(scimgate_crm::push::PushWorker::new(
        store.clone(),
        clock.clone(),
        scimgate_crm::push::KeySource::File(config.server_key_file.clone()),
        outbound,
        // Unique across replicas that may share a pid: the lease holder's name.
        format!("serve-{}-{:x}", std::process::id(), unique_suffix()),
        scimgate_crm::push::PushConfig::default(),
    ))
}

fn unique_suffix() -> u128 {
    (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)).map_or(0, |d| d.as_nanos())
}

/// While no web UI account exists, a one-time link to the page that creates the first
/// administrator (the way Jenkins and Grafana start), so a newcomer is never left at a
/// sign-in form with no account.
async fn print_first_run_link(
    store: &Store,
    config: &ServeConfig,
    addr: std::net::SocketAddr,
) -> anyhow::Result<()> {
    let clock: SharedClock = Arc::new(scimgate_core::SystemClock);
    let app = scimgate_app::App::builtin(store.clone(), clock, config.webhook_targets);
    if let Some(token) = app.first_run_token().await? {
        let base = match &config.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{addr}"),
        };
        // Written, not println!: whoever started serve may have stopped reading stdout
        // after the address line, and a closed pipe must not stop the server.
        use std::io::Write;
        let _ = writeln!(
            std::io::stdout(),
            "No administrator yet. Create the first one (this link works once, for an hour): {base}/first-run?token={token}"
        );
    }
    Ok(())
}

/// Automatic sync: every tick, each tenant with user sync active gets a run when its
/// schedule fired or its SCIM changes have settled. Replicas coordinate through the
/// database, so every replica can run this loop.
/// How long a stopping `serve` waits for automatic runs in flight.
const AUTO_SYNC_DRAIN: std::time::Duration = std::time::Duration::from_secs(30);

async fn run_auto_sync(
    auto: Arc<scimgate_scheduler::auto::AutoSync>,
    clock: SharedClock,
    every: std::time::Duration,
) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        // Runs are jobs on the scheduler's pool: a tick queues what is due (as many as
        // there are free workers). While it finds work, it looks again as soon as a
        // worker is free, so a backlog does not wait a tick per worker.
        loop {
            match auto.start_due(clock.now()).await {
                Ok(0) => break,
                Ok(_) if auto.worker_freed(every).await => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "automatic sync check failed");
                    break;
                }
            }
        }
        for run in auto.finished().await {
            tracing::info!(tenant = %run.tenant, trigger = run.trigger.name(), "automatic sync ran");
        }
    }
}

/// Keeps the Users page's search index (SQLite) close to the holding area, so that a
/// search seldom has many users to index first. Not on every tick: each refresh takes the
/// write lock the SCIM writes need.
async fn refresh_user_search(store: Store) {
    let mut ticker = tokio::time::interval(std::time::Duration::from_secs(5));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        // Pauses between batches, so that SCIM writes are not kept waiting behind a
        // long catch-up (after a bulk load).
        let pause = std::time::Duration::from_millis(20);
        if let Err(e) = store.refresh_user_search(pause).await {
            tracing::warn!(error = %e, "bringing the user search index up to date failed");
        }
    }
}

/// Keeps the stored previews (the Preview page's rows) close to what a sync would do
/// now: each second, those whose SCIM data, rules, catalogue, settings or accounts
/// moved are brought up to date (docs/sync.md#the-stored-preview). Only previews someone has looked at
/// are kept.
async fn refresh_previews(syncer: scimgate_scheduler::Syncer) {
    let mut ticker = tokio::time::interval(std::time::Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(e) = syncer.refresh_stale_previews().await {
            tracing::warn!(error = %e, "refreshing stored previews failed");
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
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
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

/// The address of the client a request came from (the TCP peer), as the audit log records
/// it; empty where the server was not given peer addresses. Behind a proxy this is the
/// proxy's address (forwarded headers are not trusted here).
pub(crate) fn client_address(parts: &axum::http::request::Parts) -> String {
    use axum::extract::ConnectInfo;
    (parts.extensions.get::<ConnectInfo<std::net::SocketAddr>>())
        .map(|ConnectInfo(peer)| peer.ip().to_string())
        .unwrap_or_default()
}
