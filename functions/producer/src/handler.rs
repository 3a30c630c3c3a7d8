//! The [`Handler`]: configuration and clients built once per cold start, one call per event.

use serde_json::Value;
use wharf_client::wharf_proto::api::key_bytes_of_json;
use wharf_client::{Client, ProduceAnswer, Record};
use wharf_functions_shared::{ClaimCheck, Env, broker_config_from_env, offload_record};

use crate::config::ProducerConfig;
use crate::error::ProducerError;
use crate::event::{EventKind, classify, field_names};
use crate::sink::Sink;
use crate::sources;

/// What the handler needs from the Lambda context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The Lambda request id: stable across Lambda's retries of an asynchronous invocation.
    pub request_id: String,
}

impl From<&lambda_runtime::Context> for Invocation {
    fn from(ctx: &lambda_runtime::Context) -> Self {
        Self {
            request_id: ctx.request_id.clone(),
        }
    }
}

/// The producer function's handler.
#[derive(Debug)]
pub struct Handler<S> {
    pub(crate) sink: S,
    pub(crate) config: ProducerConfig,
    pub(crate) claim: Option<ClaimCheck>,
}

/// Failure to start: bad settings or an unusable claim-check store.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] wharf_functions_shared::ConfigError),
    #[error("cannot build the broker client")]
    Client(#[from] wharf_client::Error),
    #[error(transparent)]
    ClaimCheck(#[from] wharf_functions_shared::ClaimCheckError),
}

impl Handler<Client> {
    /// Builds the handler from the environment: broker client, settings, claim-check store.
    pub async fn from_env(env: &Env) -> Result<Self, InitError> {
        let client = Client::new(broker_config_from_env(env).await?)?;
        let config = ProducerConfig::from_env(env)?;
        let claim = config.claim_check.open().await?;
        Ok(Self::new(client, config, claim))
    }
}

impl<S: Sink> Handler<S> {
    /// A handler producing through `sink`.
    pub fn new(sink: S, config: ProducerConfig, claim: Option<ClaimCheck>) -> Self {
        Self {
            sink,
            config,
            claim,
        }
    }

    /// The settings.
    pub fn config(&self) -> &ProducerConfig {
        &self.config
    }

    /// Handles one event. HTTP events always get an HTTP response (errors included); SQS gets
    /// `batchItemFailures`; other sources return an error so that Lambda retries them.
    pub async fn handle(&self, event: Value, inv: &Invocation) -> Result<Value, ProducerError> {
        match classify(&event) {
            Some(EventKind::Http) => Ok(sources::http::handle(self, event).await),
            Some(EventKind::Sqs) => sources::sqs::handle(self, event).await,
            Some(EventKind::S3) => sources::s3::handle(self, event).await,
            Some(EventKind::S3Test) => {
                tracing::info!("ignoring s3:TestEvent");
                Ok(serde_json::json!({"ignored": "s3:TestEvent"}))
            }
            Some(EventKind::EventBridge) => sources::eventbridge::handle(self, event).await,
            Some(EventKind::Direct) => sources::direct::handle(self, event, inv).await,
            None => Err(ProducerError::UnrecognisedEvent {
                fields: field_names(&event),
            }),
        }
    }

    /// The event's topic or `WHARF_TOPIC`.
    pub(crate) fn topic_or_default(
        &self,
        named: Option<String>,
        kind: &'static str,
    ) -> Result<String, ProducerError> {
        named
            .or_else(|| self.config.default_topic.clone())
            .ok_or(ProducerError::NoTopic { kind })
    }

    /// Offloads large values, then produces `records` in one request under `idempotency_key`.
    /// Per-record refusals are in the answer; the caller decides what they mean.
    pub(crate) async fn produce(
        &self,
        topic: &str,
        records: Vec<Record>,
        idempotency_key: &str,
    ) -> Result<ProduceAnswer, ProducerError> {
        let records = match &self.claim {
            None => records,
            Some(claim) => {
                let mut out = Vec::with_capacity(records.len());
                for r in records {
                    out.push(offload_record(claim, topic, r).await?);
                }
                out
            }
        };
        let answer = self
            .sink
            .produce(topic, &records, idempotency_key)
            .await
            .map_err(|source| ProducerError::Broker {
                topic: topic.to_owned(),
                source: Box::new(source),
            })?;
        if answer.replayed {
            tracing::info!(
                topic,
                idempotency_key,
                "retry answered from the broker's first response; nothing appended"
            );
        }
        Ok(answer)
    }

    /// Like [`Handler::produce`], but a refused record is an error (for sources that cannot
    /// report single records as failed).
    pub(crate) async fn produce_all(
        &self,
        topic: &str,
        records: Vec<Record>,
        idempotency_key: &str,
    ) -> Result<ProduceAnswer, ProducerError> {
        let total = records.len();
        let answer = self.produce(topic, records, idempotency_key).await?;
        let refused: Vec<_> = answer
            .results
            .iter()
            .filter_map(|r| r.error.as_ref())
            .collect();
        if let Some(first) = refused.first() {
            return Err(ProducerError::Refused {
                topic: topic.to_owned(),
                refused: refused.len(),
                total,
                code: first.code.clone(),
                message: first.message.clone(),
            });
        }
        Ok(answer)
    }
}

/// `{"topic","results":[{"partition","offset","timestamp"}...]}`.
pub(crate) fn results_json(topic: &str, answer: &ProduceAnswer) -> Value {
    serde_json::json!({
        "topic": topic,
        "results": answer.results,
        "replayed": answer.replayed,
    })
}

/// The key a JSON pointer selects in `value`, by the broker's rule for `key`
/// ([`key_bytes_of_json`]); `None` when the pointer selects nothing or null.
pub(crate) fn key_at(value: &Value, pointer: &str) -> Option<bytes::Bytes> {
    key_bytes_of_json(value.pointer(pointer)?).map(|k| bytes::Bytes::from(k.into_owned()))
}
