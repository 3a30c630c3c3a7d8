//! Target mode: each batch is sent to another function with the Lambda Invoke API, so an
//! existing MSK-style handler in any language can be triggered by Wharf.
//!
//! The function's answer is read as a partial batch response; a function error (`X-Amz-Function-
//! Error`) fails the whole batch; an API error (unreachable endpoint, throttling, unknown
//! function) makes the handler unavailable (nothing is blamed on the records).

use aws_sdk_lambda::config::{Credentials, Region};
use aws_sdk_lambda::primitives::Blob;

use crate::handler::{BatchHandler, HandlerError};
use crate::kafka::{BatchResponse, KafkaEvent, lambda_json};

/// Invokes `function` synchronously with each batch.
#[derive(Debug, Clone)]
pub struct InvokeTarget {
    client: aws_sdk_lambda::Client,
    function: String,
}

impl InvokeTarget {
    /// Builds the Lambda client from the standard AWS chain, with `endpoint` overriding the
    /// Lambda endpoint (cargo-lambda's local runtime). With an endpoint override and no
    /// credentials in the environment, static dummy credentials are used: the local runtime does
    /// not check signatures, and a missing credential chain must not break local runs.
    pub async fn new(function: String, endpoint: Option<&str>) -> Self {
        let mut loader = wharf_blob::aws::sdk_config_loader();
        if let Some(endpoint) = endpoint {
            loader = loader.endpoint_url(endpoint);
            if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
                loader = loader.credentials_provider(Credentials::new(
                    "local",
                    "local",
                    None,
                    None,
                    "wharf-local",
                ));
            }
            if std::env::var_os("AWS_REGION").is_none()
                && std::env::var_os("AWS_DEFAULT_REGION").is_none()
            {
                loader = loader.region(Region::new("us-east-1"));
            }
        }
        let shared = loader.load().await;
        Self {
            client: aws_sdk_lambda::Client::new(&shared),
            function,
        }
    }

    /// The target's name.
    pub fn function(&self) -> &str {
        &self.function
    }
}

impl BatchHandler for InvokeTarget {
    async fn handle(&self, event: &KafkaEvent) -> Result<BatchResponse, HandlerError> {
        let payload =
            serde_json::to_vec(&lambda_json(event)).map_err(|e| HandlerError::Unavailable {
                message: format!("cannot encode the batch: {e}"),
            })?;
        let out = self
            .client
            .invoke()
            .function_name(&self.function)
            .payload(Blob::new(payload))
            .send()
            .await
            .map_err(|e| HandlerError::Unavailable {
                message: format!(
                    "invoking {} failed: {}",
                    self.function,
                    aws_sdk_lambda::error::DisplayErrorContext(&e)
                ),
            })?;
        let body = out
            .payload()
            .map(|b| b.as_ref().to_vec())
            .unwrap_or_default();
        if let Some(kind) = out.function_error() {
            return Err(HandlerError::Failed {
                message: format!(
                    "{} returned a function error ({kind}): {}",
                    self.function,
                    String::from_utf8_lossy(&body[..body.len().min(1024)])
                ),
            });
        }
        let value: serde_json::Value = if body.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&body).map_err(|e| HandlerError::Failed {
                message: format!("{} answered with invalid JSON: {e}", self.function),
            })?
        };
        BatchResponse::from_json(&value).map_err(|message| HandlerError::Failed { message })
    }
}
