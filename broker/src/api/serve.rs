//! Serving the router on a listener until the broker stops accepting: the accept loop with
//! its connection cap, the TLS handshake when `[tls]` is on (see [`super::tls`]), hyper's
//! HTTP/1.1 + h2 server with bounded headers, and a watchdog per connection for the header-read
//! and idle timeouts (see [`super::conn`]).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower::Service;

use super::conn::{Activity, ClientIo, Watched};
use super::tls::TlsAcceptors;
use crate::config::HttpLimits;
use crate::partition::until_true;
use crate::state::Broker;

/// Refused connections answered at once; past it a connection beyond the cap is just closed
/// (a flood cannot make the refusals themselves hold descriptors).
const MAX_REFUSING: usize = 64;

/// Serves [`super::router`] on `listener` (HTTPS when `tls` is given, see
/// [`super::tls::acceptors`]) until `broker.stopping` turns true, then lets in-flight requests
/// finish (the caller bounds how long it waits).
pub fn serve(
    listener: TcpListener,
    broker: Arc<Broker>,
    tls: Option<TlsAcceptors>,
) -> impl Future<Output = std::io::Result<()>> + Send + 'static {
    let stopping = broker.stopping.clone();
    let limits = broker.config.http.clone();
    let app = super::router(broker);
    accept_loop(listener, app, limits, tls, stopping)
}

async fn accept_loop(
    listener: TcpListener,
    app: axum::Router,
    limits: HttpLimits,
    tls: Option<TlsAcceptors>,
    mut stopping: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let max = limits.max_connections;
    let slots = Arc::new(Semaphore::new(max as usize));
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    let builder = Arc::new(builder(&limits));
    let limits = Arc::new(limits);
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _peer)) => tcp,
                Err(e) => {
                    // Out of descriptors or a connection reset before it was accepted: wait
                    // a moment rather than spin, as axum's own loop does.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = until_true(&mut stopping) => break,
        };
        // Answers are written in one go; Nagle's algorithm would hold back their last segment
        // until the client's delayed ACK (up to 40 ms on Linux) on keep-alive connections.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tracing::debug!(max_connections = max, "connection refused: at the limit");
            if let Ok(permit) = Arc::clone(&refusing).try_acquire_owned() {
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        // The answer must be encrypted to be read at all; the handshake is
                        // bounded like the answer itself.
                        Some(tls) => {
                            let bound = Duration::from_millis(super::conn::LINGER_MS);
                            if let Some(stream) =
                                super::tls::handshake(&tls.refuse, tcp, bound).await
                            {
                                super::conn::refuse(stream, max).await;
                            }
                        }
                        None => super::conn::refuse(tcp, max).await,
                    }
                    drop(permit);
                });
            }
            continue;
        };
        tokio::spawn(serve_connection(
            tcp,
            tls.clone(),
            slot,
            Arc::clone(&builder),
            app.clone(),
            Arc::clone(&limits),
            stopping.clone(),
        ));
    }
    // Every connection holds a slot until it ends: all slots back means all answered.
    let _ = slots.acquire_many(max).await;
    Ok(())
}

fn builder(limits: &HttpLimits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    let header_bytes = usize::try_from(limits.max_header_bytes).unwrap_or(usize::MAX);
    // No hyper timer: its header timeout also runs on idle keep-alive connections, so the
    // watchdog in `serve_connection` applies both bounds instead.
    builder
        .http1()
        .max_buf_size(header_bytes)
        .max_headers(limits.max_headers as usize);
    builder
        .http2()
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    builder
}

/// Serves one connection while it holds its `slot`: the TLS handshake first if `tls` is on
/// (bounded by the header read timeout: a stalled handshake is a stalled request head), then
/// HTTP.
async fn serve_connection(
    tcp: TcpStream,
    tls: Option<TlsAcceptors>,
    slot: OwnedSemaphorePermit,
    builder: Arc<auto::Builder<TokioExecutor>>,
    app: axum::Router,
    limits: Arc<HttpLimits>,
    mut stopping: watch::Receiver<bool>,
) {
    match tls {
        None => serve_http(tcp, builder, app, &limits, stopping).await,
        Some(tls) => {
            let bound = Duration::from_millis(limits.header_read_timeout_ms);
            let stream = tokio::select! {
                stream = super::tls::handshake(&tls.serve, tcp, bound) => stream,
                () = until_true(&mut stopping) => None,
            };
            if let Some(stream) = stream {
                serve_http(stream, builder, app, &limits, stopping).await;
            }
        }
    }
    drop(slot);
}

/// hyper's server on one connection's byte stream, under its watchdog, until the client or the
/// watchdog closes it or the broker stops.
async fn serve_http(
    stream: impl ClientIo,
    builder: Arc<auto::Builder<TokioExecutor>>,
    app: axum::Router,
    limits: &HttpLimits,
    mut stopping: watch::Receiver<bool>,
) {
    let activity = Activity::new();
    let io = TokioIo::new(Watched::new(stream, Arc::clone(&activity), limits));
    let requests = Arc::clone(&activity);
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let in_flight = requests.request_started();
        let mut app = app.clone();
        async move {
            let answer = app.call(req.map(Body::new)).await;
            drop(in_flight);
            answer
        }
    });
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut watchdog = tokio::time::interval(super::conn::check_period(limits));
    watchdog.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut draining = false;
    loop {
        tokio::select! {
            served = conn.as_mut() => {
                if let Err(e) = served {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                break;
            }
            () = until_true(&mut stopping), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = watchdog.tick() => {
                if let Some(reason) = activity.expired(limits) {
                    tracing::debug!(reason = ?reason, "closing connection");
                    break;
                }
            }
        }
    }
}
