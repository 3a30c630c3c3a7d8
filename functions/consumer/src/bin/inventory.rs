//! The inventory example as a Wharf consumer function with an in-process Rust handler.

use wharf_consumer::inventory::Inventory;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let started = std::time::Instant::now();
    wharf_consumer::run_since(started, Inventory::from_env()?).await
}
