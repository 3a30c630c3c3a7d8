//! The recorder as a Wharf consumer function (see the `wharf_e2e` crate docs).

use wharf_e2e::Recorder;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let started = std::time::Instant::now();
    wharf_consumer::run_since(started, Recorder::from_env()?).await
}
