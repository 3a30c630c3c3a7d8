//! Producer settings from the environment, read once per cold start.

use wharf_functions_shared::{ClaimCheckConfig, ConfigError, Env};

/// Everything the producer reads from the environment besides the broker address
/// (`WHARF_URL`, `WHARF_TOKEN`, see `wharf_functions_shared::broker_config_from_env`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerConfig {
    /// `WHARF_TOPIC`: the topic for SQS, S3 and EventBridge events, and for HTTP requests to
    /// `/` and direct invocations without `topic`.
    pub default_topic: Option<String>,
    /// `WHARF_KEY_POINTER`: JSON pointer (RFC 6901, e.g. `/order/id`) into each JSON value whose
    /// target becomes the record key when the event names no key itself.
    pub key_pointer: Option<String>,
    /// `WHARF_SQS_CONCURRENCY`: produce requests in flight for a standard-queue batch (FIFO
    /// batches go one message at a time to keep group order). Default 8.
    pub sqs_concurrency: usize,
    /// Claim-check store and threshold (`WHARF_OFFLOAD_*`).
    pub claim_check: ClaimCheckConfig,
}

impl ProducerConfig {
    /// Reads the settings.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let key_pointer = env.get("WHARF_KEY_POINTER");
        if let Some(p) = &key_pointer
            && !p.starts_with('/')
        {
            return Err(ConfigError::Invalid {
                name: "WHARF_KEY_POINTER",
                value: p.clone(),
                reason: "a JSON pointer starts with '/'".to_owned(),
            });
        }
        Ok(Self {
            default_topic: env.get("WHARF_TOPIC"),
            key_pointer,
            sqs_concurrency: env.parse_or("WHARF_SQS_CONCURRENCY", 8usize)?.max(1),
            claim_check: ClaimCheckConfig::from_env(env)?,
        })
    }
}
