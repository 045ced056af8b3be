//! `vigil serve`: both listeners in one process on tokio + axum, sharing one engine.
//! Graceful shutdown (SIGINT/SIGTERM): stop accepting, finish requests in flight, then close
//! the engine, whose syncer answers nothing before its sync: nothing acknowledged is lost.

use crate::config::{open_ledger, Config, ConfigFiles};
use crate::engine::{Clock, Engine, EngineConfig, SystemClock};
use crate::http::internal::InternalState;
use anyhow::{Context, Result};
use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use tokio::net::TcpListener;

pub use vigil_core::config::ServerConfig;

/// Opens the ledger, binds both listeners, and serves until SIGINT/SIGTERM.
pub async fn serve(cfg: Config, ready: impl FnOnce(SocketAddr, SocketAddr)) -> Result<()> {
    serve_with(cfg, Arc::new(SystemClock), ready, std::future::pending()).await
}

/// [`serve`] with the clock the engine and the replay window read, stopping gracefully when
/// `shutdown` completes (or on SIGINT/SIGTERM).
pub async fn serve_with(
    cfg: Config,
    clock: Arc<dyn Clock>,
    ready: impl FnOnce(SocketAddr, SocketAddr),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    // Installed before anything else, so a signal sent once `ready` has been called is never
    // missed (or, before its handler, fatal).
    let signals = shutdown_signal();
    let server = cfg.server.clone();
    server.check().map_err(anyhow::Error::msg)?;
    let reserves_dir = cfg.reserves_dir.clone();
    let web_dir = cfg.web_dir.clone();
    if !web_dir.join("index.html").is_file() {
        tracing::warn!("no web page: {} has no index.html (setting web_dir); / answers 404", web_dir.display());
    }
    let log_key = cfg.log_signer()?.verifier();
    let log_vkey = log_key.to_vkey();
    let data_dir = cfg.data_dir.clone();
    let auditors = Arc::new(cfg.auditor_keys()?);
    let witnessing = cfg.witnessing()?.map(Arc::new);
    let engine_clock = clock.clone();
    let engine: Arc<Engine> = Arc::new(
        tokio::task::spawn_blocking(move || -> Result<Engine> {
            let mut ec = EngineConfig::new(cfg.log_signer()?);
            ec.clock = engine_clock;
            open_ledger(&cfg, ec)
        })
        .await??,
    );
    let public = TcpListener::bind(server.public)
        .await
        .with_context(|| format!("binding the public API to {}", server.public))?;
    let internal = TcpListener::bind(server.internal)
        .await
        .with_context(|| format!("binding the internal API to {}", server.internal))?;
    ready(public.local_addr()?, internal.local_addr()?);
    let in_flight = Arc::new(AtomicUsize::new(0));
    let state = InternalState {
        engine: engine.clone(),
        clock,
        replay_window_ms: server.replay_window_ms,
        in_flight: in_flight.clone(),
        max_in_flight: server.max_in_flight,
        auditors,
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        tokio::select! {
            _ = shutdown => {},
            _ = signals => {},
        }
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let (metrics, public_http, internal_http) = crate::metrics::Metrics::new(engine.metrics());
    // File and store reads, off the async workers.
    let kept = crate::witnessing::kept_path(&data_dir);
    let (w, e) = (witnessing.clone(), engine.clone());
    tokio::task::spawn_blocking(move || match w {
        Some(w) => w.start(&e, &log_key, kept),
        // Served without witnesses, the log's heads go out unwitnessed: a witnessed checkpoint
        // kept from before would be older than them if witnesses came back.
        None => crate::witnessing::remove_kept(&kept),
    })
    .await?;
    let witnessing_task = witnessing.as_ref().map(|w| tokio::spawn(w.clone().run(engine.clone(), stop_rx.clone())));
    let recovery_task = tokio::spawn(recover_after_storage_failures(engine.clone(), stop_rx.clone()));
    let site = Arc::new(crate::http::public::Site {
        trees: crate::http::public::Trees::new(Some(reserves_dir)),
        web: Some(crate::http::public::Web { dir: web_dir, log_vkey }),
        witnessing,
        internal: Some(internal.local_addr()?),
    });
    let timeout = std::time::Duration::from_millis(server.request_timeout_ms);
    let public_app = crate::http::public::router_with(engine.clone(), metrics, public_http, site, timeout);
    let internal_app = crate::http::internal::router_with(state, internal_http, timeout);
    let a = crate::http::serve(public, public_app, timeout, stopped(stop_rx.clone()));
    let b = crate::http::serve(internal, internal_app, timeout, stopped(stop_rx));
    tokio::try_join!(async { a.await.context("public API") }, async { b.await.context("internal API") })?;
    // The witnessing round in flight ends within its requests' timeout; it holds the engine.
    if let Some(t) = witnessing_task {
        let _ = t.await;
    }
    let _ = recovery_task.await;
    // Appends whose clients went away (timed out, disconnected) finish in tasks of their own,
    // which hold the in-flight count and the engine: they end with their group's sync.
    let drain = async {
        while in_flight.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    };
    if tokio::time::timeout(timeout, drain).await.is_err() {
        tracing::warn!("appends still in flight after {} ms; closing the engine after them", timeout.as_millis());
    }
    // Close the engine off the runtime: its drop joins the sequencer and syncer threads.
    tokio::task::spawn_blocking(move || drop(engine)).await?;
    Ok(())
}

/// After a storage failure (a full disk, a failed sync) the engine refuses appends; this task
/// tries [`Engine::recover`] one second after it, then after 2, 4, … up to 30 seconds between
/// attempts (each reopens the store: not free), so appends resume once the cause is gone,
/// without a restart. Reads go on meanwhile.
async fn recover_after_storage_failures(engine: Arc<Engine>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut reported = None;
    let mut wait = 1;
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(std::time::Duration::from_secs(wait)) => {}
        }
        let Some(failure) = engine.failure() else { continue };
        let e = engine.clone();
        match tokio::task::spawn_blocking(move || e.recover()).await {
            Ok(Ok(true)) => {
                tracing::warn!("recovered from a storage failure ({failure}): appends resume");
                (reported, wait) = (None, 1);
            }
            Ok(Ok(false)) => {}
            Ok(Err(err)) => {
                let err = err.to_string();
                wait = (wait * 2).min(30);
                if reported.as_ref() != Some(&err) {
                    tracing::error!("cannot recover from a storage failure ({failure}) yet: {err}; trying again");
                }
                reported = Some(err);
            }
            Err(join) => tracing::error!("storage recovery panicked: {join}"),
        }
    }
}

/// SIGINT or SIGTERM. On Unix the handlers are installed when this is called, not when the
/// future is first polled (elsewhere Ctrl-C's is, on first poll): tokio installs a handler
/// lazily, and a signal that arrives before then is either fatal (no handler yet) or missed (a
/// handler installed but not yet listened to).
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (term, int) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()));
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {},
                        _ = int.recv() => {},
                    }
                }
                (Err(e), _) | (_, Err(e)) => {
                    tracing::error!("cannot listen for SIGTERM/SIGINT ({e}): stop the server with SIGKILL");
                    std::future::pending::<()>().await
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
