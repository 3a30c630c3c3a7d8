//! Assembling and running the broker: open storage and metadata, serve HTTP until shutdown,
//! then drain, fsync and close within a bounded time.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::claim::BrokerClaimCheck;
use crate::config::BrokerConfig;
use crate::state::{Broker, RunError};

/// Runs `f` every `period` while this broker leads the background jobs, until `stopping` turns
/// true.
fn spawn_periodic<F, Fut>(
    broker: &Arc<Broker>,
    period: Duration,
    f: F,
) -> tokio::task::JoinHandle<()>
where
    F: Fn(Arc<Broker>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let broker = Arc::clone(broker);
    let mut stopping = broker.stopping.clone();
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    // Only the leading gateway runs the jobs; leadership may move between runs.
                    if broker.leader.is_leader().await {
                        f(Arc::clone(&broker)).await;
                    }
                }
                () = crate::partition::until_true(&mut stopping) => return,
            }
        }
    })
}

/// Serves the broker on `listener` until `shutdown` completes, then stops accepting, lets
/// in-flight requests finish (long polls end early), fsyncs every partition and returns.
/// The whole stop takes at most `shutdown_timeout_ms` (plus the final fsync).
pub async fn run(
    listener: TcpListener,
    config: BrokerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    // The certificate first: a bad path or key is a startup error before any storage opens.
    let tls = crate::api::tls::acceptors(&config.tls)?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let shutdown_timeout = Duration::from_millis(config.shutdown_timeout_ms);
    let retention_period = Duration::from_millis(config.retention_check_interval_ms);
    let fsync = config.fsync;
    std::fs::create_dir_all(&config.data_dir).map_err(|source| RunError::DataDir {
        path: config.data_dir.clone(),
        source,
    })?;
    let claims = BrokerClaimCheck::from_config(&config).await?;
    let broker = Arc::new(Broker::open(config, claims, stop_rx).await?);

    let addr = listener.local_addr().map_err(RunError::Serve)?;
    tracing::info!(
        addr = %addr,
        tls = tls.is_some(),
        data_dir = %broker.config.data_dir.display(),
        topics = broker.topics.list().len(),
        fsync = ?fsync,
        auth = broker.auth.enabled(),
        "listening"
    );

    let retention = spawn_periodic(&broker, retention_period, |b| async move {
        b.apply_retention().await;
    });
    let expiry = spawn_periodic(&broker, Duration::from_secs(60), |b| async move {
        b.expire_idempotency().await;
    });
    let leases = spawn_periodic(&broker, Duration::from_secs(1), |b| async move {
        b.expire_leases().await;
    });

    let server = crate::api::serve::serve(listener, Arc::clone(&broker), tls);
    let mut server = tokio::spawn(server);

    let early = tokio::select! {
        () = shutdown => None,
        result = &mut server => Some(result),
    };
    let _ = stop_tx.send(true);
    let served = match early {
        Some(result) => result,
        None => {
            tracing::info!(
                timeout_ms = shutdown_timeout.as_millis() as u64,
                "shutting down"
            );
            match tokio::time::timeout(shutdown_timeout, &mut server).await {
                Ok(result) => result,
                Err(_) => {
                    tracing::warn!("in-flight requests did not finish in time; closing anyway");
                    server.abort();
                    Ok(Ok(()))
                }
            }
        }
    };
    retention.abort();
    expiry.abort();
    leases.abort();

    let started = std::time::Instant::now();
    let synced = broker.topics.sync_all().await;
    tracing::info!(
        sync_ms = started.elapsed().as_millis() as u64,
        ok = synced.is_ok(),
        "stopped"
    );
    synced?;
    match served {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(RunError::Serve(e)),
        Err(join) => Err(RunError::Startup(join.to_string())),
    }
}

/// Completes on ctrl-c or SIGTERM.
pub async fn shutdown_signal() {
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
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
