//! Produce routes of [`Client`]: `POST /v1/topics/{topic}/records` in the JSON or the binary
//! batch encoding, records encoded once ([`EncodedBatch`]) and the per-record answer
//! ([`ProduceAnswer`]).

use reqwest::{Method, StatusCode};
use serde::Serialize;
use wharf_proto::api::{ProduceRecord, ProduceResult};
use wharf_proto::binary;

use super::{Acks, Client, Encoding, topic_path};
use crate::error::Error;
use crate::record::{Record, ValueFormat};

/// The broker's answer to a produce request that reached the records (200, 202, 207, or 400
/// when every record was refused): one result per record, in request order.
#[derive(Debug, Clone, PartialEq)]
pub struct ProduceAnswer {
    /// HTTP status of the answer.
    pub status: u16,
    /// True when this is the replay of an earlier request with the same `Idempotency-Key`.
    pub replayed: bool,
    /// One per record; `error` set on records the broker refused.
    pub results: Vec<ProduceResult>,
}

/// A produce request body encoded once, e.g. to send the same batch many times (benchmarks) or
/// to retry without re-encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedBatch {
    /// The request body.
    pub body: bytes::Bytes,
    /// How `body` is encoded.
    pub encoding: Encoding,
    /// Records in the body (answers must carry as many results).
    pub records: usize,
}

impl Client {
    /// `POST /v1/topics/{topic}/records`. With an `idempotency_key`, sending the same request
    /// again returns the first answer and appends nothing.
    ///
    /// Per-record refusals (207, or 400 when every record was refused) come back as
    /// [`ProduceAnswer`] results with `error` set; other failures are [`Error`]s.
    pub async fn produce(
        &self,
        topic: &str,
        records: &[ProduceRecord],
        acks: Acks,
        idempotency_key: Option<&str>,
    ) -> Result<ProduceAnswer, Error> {
        let batch = match self.encoding {
            Encoding::Json => Self::encode_json(records)?,
            Encoding::Binary => Self::encode_wire_binary(records)?,
        };
        self.produce_encoded(topic, &batch, acks, idempotency_key)
            .await
    }

    fn encode_json(records: &[ProduceRecord]) -> Result<EncodedBatch, Error> {
        #[derive(Serialize)]
        struct Body<'a> {
            records: &'a [ProduceRecord],
        }
        let body = serde_json::to_vec(&Body { records }).map_err(|e| Error::InvalidInput {
            message: format!("cannot encode the records as JSON: {e}"),
        })?;
        Ok(EncodedBatch {
            body: body.into(),
            encoding: Encoding::Json,
            records: records.len(),
        })
    }

    /// Re-encodes JSON wire records as binary (base64 fields decoded, JSON keys as the broker
    /// would store them), so a caller holding wire records still gets the compact body.
    fn encode_wire_binary(records: &[ProduceRecord]) -> Result<EncodedBatch, Error> {
        use base64::Engine;
        use base64::engine::general_purpose::STANDARD as B64;
        let invalid = |what: &str, e: base64::DecodeError| Error::InvalidInput {
            message: format!("{what} is not base64: {e}"),
        };
        let mut out = Vec::with_capacity(binary::estimated_len(records.len(), 0));
        binary::write_produce_header(&mut out, records.len());
        for r in records {
            let key: Option<std::borrow::Cow<'_, [u8]>> = match (&r.key, &r.key_b64) {
                (Some(json), _) => wharf_proto::api::key_bytes_of_json(json),
                (None, Some(b)) => Some(B64.decode(b).map_err(|e| invalid("key_b64", e))?.into()),
                (None, None) => None,
            };
            let (value, value_is_json): (std::borrow::Cow<'_, [u8]>, bool) =
                match (&r.value, &r.value_b64) {
                    (Some(raw), _) => (raw.get().as_bytes().into(), true),
                    (None, Some(b)) => (
                        B64.decode(b).map_err(|e| invalid("value_b64", e))?.into(),
                        false,
                    ),
                    (None, None) => {
                        return Err(Error::InvalidInput {
                            message: "a record needs `value` or `value_b64`".to_owned(),
                        });
                    }
                };
            let empty = std::collections::BTreeMap::new();
            let headers = r.headers.as_ref().unwrap_or(&empty);
            binary::write_produce_record(
                &mut out,
                binary::ProduceRecordRef {
                    key: key.as_deref(),
                    value: &value,
                    value_is_json,
                    partition: r.partition,
                    timestamp_ms: r.timestamp,
                    headers: headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes())),
                },
            );
        }
        Ok(EncodedBatch {
            body: out.into(),
            encoding: Encoding::Binary,
            records: records.len(),
        })
    }

    /// Encodes `records` once in this client's encoding, for [`Client::produce_encoded`].
    pub fn encode_batch(&self, records: &[Record]) -> Result<EncodedBatch, Error> {
        match self.encoding {
            Encoding::Json => {
                let wire = records
                    .iter()
                    .map(Record::to_wire)
                    .collect::<Result<Vec<_>, _>>()?;
                Self::encode_json(&wire)
            }
            Encoding::Binary => {
                let payload: usize = records
                    .iter()
                    .map(|r| r.value.len() + r.key.as_ref().map_or(0, |k| k.len()))
                    .sum();
                let mut out = Vec::with_capacity(binary::estimated_len(records.len(), payload));
                binary::write_produce_header(&mut out, records.len());
                for r in records {
                    binary::write_produce_record(
                        &mut out,
                        binary::ProduceRecordRef {
                            key: r.key.as_deref(),
                            value: &r.value,
                            value_is_json: r.value_format == ValueFormat::Json,
                            partition: r.partition,
                            timestamp_ms: r.timestamp_ms,
                            headers: r.headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes())),
                        },
                    );
                }
                Ok(EncodedBatch {
                    body: out.into(),
                    encoding: Encoding::Binary,
                    records: records.len(),
                })
            }
        }
    }

    /// Sends a batch encoded by [`Client::encode_batch`] (answers as [`Client::produce`]).
    pub async fn produce_encoded(
        &self,
        topic: &str,
        batch: &EncodedBatch,
        acks: Acks,
        idempotency_key: Option<&str>,
    ) -> Result<ProduceAnswer, Error> {
        #[derive(serde::Deserialize)]
        struct Refused {
            results: Vec<ProduceResult>,
        }
        let path = format!("{}/records?acks={}", topic_path(topic)?, acks.as_str());
        let op = format!("produce {topic}");
        let content_type = match batch.encoding {
            Encoding::Json => "application/json",
            Encoding::Binary => binary::CONTENT_TYPE,
        };
        let mut rb = self
            .request(Method::POST, &path)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(batch.body.clone());
        if batch.encoding == Encoding::Binary {
            // Runs: a batch that lands in one partition is answered in a few bytes.
            rb = rb.header(reqwest::header::ACCEPT, binary::ACCEPT_RESULT_RUNS);
        }
        if let Some(key) = idempotency_key {
            rb = rb.header(wharf_proto::IDEMPOTENCY_KEY_HEADER, key);
        }
        let (status, replayed, is_binary, body) =
            self.send_typed(&op, rb, self.request_timeout).await?;
        if status.is_success() {
            let results = if is_binary {
                binary::decode_produce_answer(&body, batch.records)
                    .map_err(|e| Self::binary_decode_error(&op, status, e))?
            } else {
                Self::decode::<wharf_proto::api::ProduceResponse>(&op, status, &body)?.results
            };
            return Ok(ProduceAnswer {
                status: status.as_u16(),
                replayed,
                results,
            });
        }
        if status == StatusCode::BAD_REQUEST
            && let Ok(refused) = serde_json::from_slice::<Refused>(&body)
            && refused.results.len() == batch.records
        {
            return Ok(ProduceAnswer {
                status: status.as_u16(),
                replayed,
                results: refused.results,
            });
        }
        Err(Self::api_error(&op, status, &body))
    }

    /// Encodes `records` and produces them in one request (no batching, no retries): for
    /// callers that bring their own idempotency key, such as a Lambda function deriving it from
    /// the event it handles.
    pub async fn produce_records(
        &self,
        topic: &str,
        records: &[Record],
        acks: Acks,
        idempotency_key: Option<&str>,
    ) -> Result<ProduceAnswer, Error> {
        let batch = self.encode_batch(records)?;
        self.produce_encoded(topic, &batch, acks, idempotency_key)
            .await
    }
}
