//! The Wharf producer Lambda function: settings and clients once per cold start, then one
//! [`Handler::handle`] per event.

use std::sync::Arc;
use std::time::Instant;

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use wharf_functions_shared::Env;
use wharf_producer::{Handler, Invocation};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let started = Instant::now();
    wharf_functions_shared::logging::init(&wharf_functions_shared::Env::process());
    let handler = Arc::new(Handler::from_env(&Env::process()).await?);
    tracing::info!(
        init_us = started.elapsed().as_micros() as u64,
        "cold start init done"
    );
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let handler = Arc::clone(&handler);
        async move {
            handler
                .handle(event.payload, &Invocation::from(&event.context))
                .await
        }
    }))
    .await
}
