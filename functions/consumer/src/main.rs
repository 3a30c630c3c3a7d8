//! The generic Wharf consumer function: batches go to `WHARF_TARGET_FUNCTION` through the Lambda
//! Invoke API. (Rust users with an in-process handler call `wharf_consumer::run` instead.)

use wharf_consumer::config::ConsumerSettings;
use wharf_consumer::target::InvokeTarget;
use wharf_functions_shared::{ConfigError, Env};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let started = std::time::Instant::now();
    let settings = ConsumerSettings::from_env(&Env::process())?;
    let target = settings.target_function.clone().ok_or(ConfigError::Missing {
        name: "WHARF_TARGET_FUNCTION",
        hint: "the function that receives each batch (or build your own binary with wharf_consumer::run)",
    })?;
    let handler = InvokeTarget::new(target, settings.lambda_endpoint.as_deref()).await;
    wharf_consumer::run_since(started, handler).await
}
