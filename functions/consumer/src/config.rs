//! Consumer settings from the environment, read once per cold start.

use wharf_functions_shared::{ClaimCheckConfig, ConfigError, Env};

/// What the consumer function reads besides the broker address (`WHARF_URL`, `WHARF_TOKEN`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerSettings {
    /// `WHARF_TOPIC` (required): the topic to consume.
    pub topic: String,
    /// `WHARF_GROUP` (required): the consumer group; committed offsets live in the broker.
    pub group: String,
    /// `WHARF_MAX_RETRIES`: how often a failed record is retried within the invocation before it
    /// is written to `<topic>.dlq`. Default 3 (so at most 4 attempts).
    pub max_retries: u32,
    /// `WHARF_RETRY_BACKOFF_MS`: first backoff between attempts; doubles, capped at 5 s.
    /// Default 200.
    pub retry_backoff_ms: u64,
    /// `WHARF_SAFETY_MARGIN_MS`: stop polling this long before the invocation's deadline, to
    /// commit and leave in time. Default 2000.
    pub safety_margin_ms: u64,
    /// `WHARF_MAX_RECORDS`: most records per batch (per poll). Default 500.
    pub max_records: usize,
    /// `WHARF_MAX_BATCH_BYTES`: most bytes per poll. Default 1 MiB (a target function's
    /// synchronous payload limit is 6 MB after base64).
    pub max_bytes: usize,
    /// `WHARF_POLL_WAIT_MS`: long-poll wait when nothing is available; capped at half the safety
    /// margin so that a poll never runs past the deadline. Default 1000.
    pub poll_wait_ms: u64,
    /// `WHARF_IDLE_EXIT_MS`: return early once no record has arrived for this long. Default:
    /// unset (poll until the deadline, as a scheduled drain).
    pub idle_exit_ms: Option<u64>,
    /// `WHARF_TARGET_FUNCTION`: name or ARN of the function that receives each batch (target
    /// mode, used by the `wharf-consumer` binary).
    pub target_function: Option<String>,
    /// `WHARF_LAMBDA_ENDPOINT`: Lambda API endpoint override, e.g. cargo-lambda's local runtime
    /// `http://127.0.0.1:9000`.
    pub lambda_endpoint: Option<String>,
    /// Claim-check store (`WHARF_OFFLOAD_*`) to resolve pointer records.
    pub claim_check: ClaimCheckConfig,
}

impl ConsumerSettings {
    /// Reads the settings.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let safety_margin_ms = env.parse_or("WHARF_SAFETY_MARGIN_MS", 2000u64)?;
        let poll_wait_ms: u64 = env.parse_or("WHARF_POLL_WAIT_MS", 1000u64)?;
        let idle_exit_ms = match env.get("WHARF_IDLE_EXIT_MS") {
            None => None,
            Some(_) => Some(env.parse_or("WHARF_IDLE_EXIT_MS", 0u64)?),
        };
        Ok(Self {
            topic: env.required("WHARF_TOPIC", "the topic to consume")?,
            group: env.required("WHARF_GROUP", "the consumer group name")?,
            max_retries: env.parse_or("WHARF_MAX_RETRIES", 3u32)?,
            retry_backoff_ms: env.parse_or("WHARF_RETRY_BACKOFF_MS", 200u64)?,
            safety_margin_ms,
            max_records: env.parse_or("WHARF_MAX_RECORDS", 500usize)?.max(1),
            max_bytes: env
                .parse_or("WHARF_MAX_BATCH_BYTES", 1024 * 1024usize)?
                .max(1),
            poll_wait_ms: poll_wait_ms.min(safety_margin_ms / 2),
            idle_exit_ms,
            target_function: env.get("WHARF_TARGET_FUNCTION"),
            lambda_endpoint: env.get("WHARF_LAMBDA_ENDPOINT"),
            claim_check: ClaimCheckConfig::from_env(env)?,
        })
    }

    /// `<topic>.dlq`.
    pub fn dlq_topic(&self) -> String {
        format!("{}.dlq", self.topic)
    }
}
