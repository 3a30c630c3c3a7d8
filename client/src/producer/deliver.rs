//! One batch's produce request: a fresh UUID `Idempotency-Key` that every retry reuses, so a
//! retry after a lost answer gets the broker's first answer instead of appending again; retries
//! with exponential backoff, within `max_attempts` and `delivery_timeout_ms`.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;
use wharf_proto::api::ProduceRecord;

use super::Shared;
use crate::client::ProduceAnswer;
use crate::error::Error;

/// Sends one batch, retrying retriable failures with the same idempotency key.
pub(super) async fn deliver(
    shared: &Shared,
    topic: &str,
    records: &[ProduceRecord],
) -> Result<ProduceAnswer, (u32, Error)> {
    let config = &shared.config;
    let counters = &shared.counters;
    let idempotency_key = uuid::Uuid::new_v4().to_string();
    let started = Instant::now();
    let deadline = started + Duration::from_millis(config.delivery_timeout_ms);
    let mut backoff = Duration::from_millis(config.retry_backoff_ms);
    let max_backoff = Duration::from_millis(config.retry_backoff_max_ms);
    counters.batches.fetch_add(1, Ordering::Relaxed);
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        counters.requests.fetch_add(1, Ordering::Relaxed);
        if attempt > 1 {
            counters.retries.fetch_add(1, Ordering::Relaxed);
        }
        match shared
            .client
            .produce(topic, records, config.acks, Some(&idempotency_key))
            .await
        {
            Ok(answer) => {
                if answer.replayed {
                    tracing::debug!(topic, attempt, key = %idempotency_key, "broker replayed an earlier answer");
                }
                return Ok(answer);
            }
            Err(e)
                if e.is_retriable()
                    && attempt < config.max_attempts.max(1)
                    && Instant::now() + backoff < deadline =>
            {
                tracing::warn!(topic, attempt, key = %idempotency_key, error = %e, backoff_ms = backoff.as_millis() as u64, "produce failed; retrying with the same idempotency key");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(max_backoff);
            }
            Err(e) => return Err((attempt, e)),
        }
    }
}
