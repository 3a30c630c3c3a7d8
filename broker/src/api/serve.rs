//! Serving the router on a listener until the broker stops accepting.

use std::future::IntoFuture;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::state::Broker;

/// Serves [`super::router`] on `listener` until `broker.stopping` turns true, then lets
/// in-flight requests finish (the caller bounds how long it waits).
pub fn serve(
    listener: TcpListener,
    broker: Arc<Broker>,
) -> impl Future<Output = std::io::Result<()>> + Send + 'static {
    let mut stopping = broker.stopping.clone();
    let app = super::router(broker);
    // Answers are written in one go; Nagle's algorithm would hold back their last segment until
    // the client's delayed ACK (up to 40 ms on Linux) on keep-alive connections.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            crate::partition::until_true(&mut stopping).await;
        })
        .into_future()
}
