//! Broker client settings from the environment.

use wharf_client::ClientConfig;

use crate::env::{ConfigError, Env};

/// `WHARF_URL` (required), the bearer token and `WHARF_REQUEST_TIMEOUT_MS` (optional, default
/// 10 000: a Lambda invocation should not hang on a broker that does not answer).
///
/// The token is `WHARF_TOKEN` when set; otherwise, when `WHARF_TOKEN_PARAMETER` names an SSM
/// parameter (a SecureString, as `template.yaml` deploys it), its decrypted value, read once per
/// cold start so the token never sits in the function's configuration. Neither: no token.
pub async fn broker_config_from_env(env: &Env) -> Result<ClientConfig, ConfigError> {
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
    config.token = match (env.get("WHARF_TOKEN"), env.get("WHARF_TOKEN_PARAMETER")) {
        (Some(token), _) => Some(token),
        (None, Some(parameter)) => Some(token_from_ssm(env, &parameter).await?),
        (None, None) => None,
    };
    config.request_timeout_ms = env.parse_or("WHARF_REQUEST_TIMEOUT_MS", 10_000u64)?;
    Ok(config)
}

/// The decrypted value of SSM parameter `parameter`. Region and credentials come from the
/// standard AWS chain; `AWS_ENDPOINT_URL_SSM` or `AWS_ENDPOINT_URL` from `env` point it elsewhere
/// (LocalStack).
async fn token_from_ssm(env: &Env, parameter: &str) -> Result<String, ConfigError> {
    let fail = |source: Box<dyn std::error::Error + Send + Sync>| ConfigError::TokenParameter {
        parameter: parameter.to_owned(),
        source,
    };
    let mut loader = wharf_blob::aws::sdk_config_loader();
    if let Some(endpoint) = env
        .get("AWS_ENDPOINT_URL_SSM")
        .or_else(|| env.get("AWS_ENDPOINT_URL"))
    {
        loader = loader.endpoint_url(endpoint);
    }
    let ssm = aws_sdk_ssm::Client::new(&loader.load().await);
    let answer = ssm
        .get_parameter()
        .name(parameter)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| fail(Box::new(aws_sdk_ssm::Error::from(e))))?;
    let value = answer
        .parameter
        .and_then(|p| p.value)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| fail("the parameter has no value".into()))?;
    tracing::info!(parameter, "read the broker token from ssm");
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_explicit_token_wins_over_the_parameter_and_ssm_is_not_called() {
        // The parameter points at an endpoint nothing listens on: reaching SSM would fail.
        let env = Env::from_pairs([
            ("WHARF_URL", "http://127.0.0.1:1"),
            ("WHARF_TOKEN", "direct"),
            ("WHARF_TOKEN_PARAMETER", "/wharf/token"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
        ]);
        let config = broker_config_from_env(&env).await.unwrap();
        assert_eq!(config.token.as_deref(), Some("direct"));
    }

    #[tokio::test]
    async fn no_token_settings_mean_no_token_and_a_bad_url_is_named() {
        let env = Env::from_pairs([("WHARF_URL", "http://127.0.0.1:1")]);
        assert_eq!(broker_config_from_env(&env).await.unwrap().token, None);
        let env = Env::from_pairs([("WHARF_URL", "127.0.0.1:1")]);
        let err = broker_config_from_env(&env).await.unwrap_err();
        assert!(err.to_string().contains("WHARF_URL"), "{err}");
    }
}
