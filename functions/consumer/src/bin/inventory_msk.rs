//! The inventory example as a plain MSK-triggered function: takes Lambda's Kafka event and
//! answers `batchItemFailures`. Wharf's `wharf-consumer` can invoke it in target mode, unchanged.

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use wharf_consumer::inventory::Inventory;
use wharf_consumer::{BatchHandler, KafkaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    wharf_functions_shared::logging::init(&wharf_functions_shared::Env::process());
    let inventory = std::sync::Arc::new(Inventory::from_env()?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<KafkaEvent>| {
        let inventory = std::sync::Arc::clone(&inventory);
        async move {
            let answer = inventory.handle(&event.payload).await?;
            Ok::<Value, lambda_runtime::Error>(answer.to_json())
        }
    }))
    .await
}
