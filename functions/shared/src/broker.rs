//! Broker client settings from the environment.

use wharf_client::ClientConfig;

use crate::env::{ConfigError, Env};

/// `WHARF_URL` (required), `WHARF_TOKEN` (optional bearer token) and
/// `WHARF_REQUEST_TIMEOUT_MS` (optional, default 10 000: a Lambda invocation should not hang on a
/// broker that does not answer).
pub fn broker_config_from_env(env: &Env) -> Result<ClientConfig, ConfigError> {
    let url = env.required(
        "WHARF_URL",
        "the broker's base URL, e.g. http://10.0.1.5:8080",
    )?;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(ConfigError::Invalid {
            name: "WHARF_URL",
            value: url,
            reason: "must start with http:// or https://".to_owned(),
        });
    }
    let mut config = ClientConfig::new(url);
    config.token = env.get("WHARF_TOKEN");
    config.request_timeout_ms = env.parse_or("WHARF_REQUEST_TIMEOUT_MS", 10_000u64)?;
    Ok(config)
}
