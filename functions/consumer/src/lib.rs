//! The Wharf consumer Lambda function: joins its group, polls until the invocation's deadline
//! minus a safety margin, and hands each batch to a handler in the shape of Lambda's Kafka event,
//! so a handler written for an MSK trigger works unchanged.
//!
//! - [`config`]: [`ConsumerSettings`] from `WHARF_*` variables, read once per cold start.
//! - [`kafka`]: the Lambda Kafka event ([`KafkaEvent`]) and the partial batch response
//!   ([`BatchResponse`], `batchItemFailures` of `{partition, offset}`).
//! - [`handler`]: the [`BatchHandler`] trait: in-process Rust handlers implement it;
//!   [`target::InvokeTarget`] implements it by invoking another function (aws-sdk-lambda).
//! - [`engine`]: [`Engine`], one invocation: join, poll, resolve claim checks, call the handler,
//!   retry failed records with backoff up to `WHARF_MAX_RETRIES`, dead-letter them to
//!   `<topic>.dlq`, commit, leave, and return a [`Summary`].
//! - [`inventory`]: the example consumer (stock counts from `order.order-service.created`).
//!
//! [`run`] is the whole `main` of a consumer function with an in-process handler.

pub mod config;
pub mod engine;
pub mod handler;
pub mod inventory;
pub mod kafka;
pub mod target;

use std::sync::Arc;
use std::time::Instant;

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use wharf_functions_shared::Env;

pub use config::ConsumerSettings;
pub use engine::{ConsumerError, Engine, Summary};
pub use handler::{BatchHandler, HandlerError};
pub use kafka::{
    BatchResponse, ItemIdentifier, KafkaEvent, KafkaEventExt, KafkaRecord, KafkaRecordExt,
};

/// Runs a consumer function whose batches go to `handler`: settings and clients once per cold
/// start, then one [`Engine::invoke`] per invocation.
pub async fn run<H: BatchHandler + 'static>(handler: H) -> Result<(), lambda_runtime::Error> {
    run_since(Instant::now(), handler).await
}

/// [`run`], reporting the cold-start init time from `started` (for `main`s that build their
/// handler first). Logs `cold start init done init_us=...` before serving invocations.
pub async fn run_since<H: BatchHandler + 'static>(
    started: Instant,
    handler: H,
) -> Result<(), lambda_runtime::Error> {
    wharf_functions_shared::logging::init(&wharf_functions_shared::Env::process());
    let engine = Arc::new(Engine::from_env(&Env::process(), handler).await?);
    tracing::info!(
        init_us = started.elapsed().as_micros() as u64,
        "cold start init done"
    );
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let engine = Arc::clone(&engine);
        async move { engine.invoke(event.context.deadline, &event.payload).await }
    }))
    .await
}
