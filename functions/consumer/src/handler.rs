//! The [`BatchHandler`] seam: in-process Rust handlers implement it, and so does
//! [`InvokeTarget`](crate::target::InvokeTarget), which forwards batches to another function.

use std::future::Future;

use crate::kafka::{BatchResponse, KafkaEvent};

/// Why a handler call failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The handler ran and failed (a returned error, a function error of the target): every
    /// record of the batch counts as failed and is retried, then dead-lettered, as Lambda's
    /// Kafka trigger does with a failing function.
    #[error("handler failed: {message}")]
    Failed { message: String },
    /// The handler could not be reached (network, throttling, missing permission): no record
    /// is blamed, nothing is dead-lettered or committed past, and the invocation stops so the
    /// batch is delivered again later.
    #[error("handler unavailable: {message}")]
    Unavailable { message: String },
}

/// Handles one Lambda-Kafka-shaped batch, answering which records failed.
pub trait BatchHandler: Send + Sync {
    /// Handles `event`; records not named in the answer count as handled.
    fn handle(
        &self,
        event: &KafkaEvent,
    ) -> impl Future<Output = Result<BatchResponse, HandlerError>> + Send;
}
