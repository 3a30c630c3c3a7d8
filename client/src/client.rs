//! The low-level [`Client`]: one method per HTTP API v1 route, typed requests and answers, a
//! timeout on every call, no retries (callers decide; only idempotent requests may be retried).
//!
//! Produce and fetch use the binary batch encoding ([`wharf_proto::binary`]) by default
//! ([`Encoding::Binary`]): no base64, no JSON escaping, a few bytes of framing per record. The
//! client still reads a JSON answer when one comes back (any broker error body, or a broker that
//! ignores `Accept`), so it decides by the answer's `Content-Type`, never by what it asked for.

use std::time::Duration;

use reqwest::{Method, RequestBuilder, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use wharf_proto::api::{
    CommitRequest, CommitResponse, CreateTopic, ErrorBody, ErrorDetail, FetchResponse,
    GroupDescription, GroupList, JoinGroup, MemberState, OffsetLookup, PatchTopic, PollRequest,
    PollResponse, ProduceRecord, ProduceResult, ResetOffsets, TopicDescription, TopicList,
};
use wharf_proto::binary;
use wharf_proto::{ErrorCode, IDEMPOTENT_REPLAY_HEADER};

use crate::error::Error;
use crate::record::{ConsumerRecord, Record, ValueFormat};

/// How produce requests and fetch answers travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// The binary batch encoding, `application/vnd.wharf.batch.v1` (default).
    #[default]
    Binary,
    /// The JSON bodies of HTTP API v1 (`value_b64` / `value`), e.g. for a proxy that inspects
    /// bodies.
    Json,
}

/// Idle keep-alive connections kept per broker. Every concurrent request needs its own HTTP/1.1
/// connection; keeping as many as a busy client runs avoids reconnecting (and a TCP handshake
/// plus slow start) between bursts.
const POOL_MAX_IDLE_PER_HOST: usize = 64;

/// Where the broker is and how to talk to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Base URL of the broker, e.g. `http://127.0.0.1:9092` (a trailing `/` is ignored).
    pub url: String,
    /// Bearer token, when the broker has tokens configured.
    pub token: Option<String>,
    /// Longest time one request may take, in milliseconds; long polls add their `wait_ms`.
    /// Default 30 000.
    pub request_timeout_ms: u64,
    /// Longest time to establish a connection, in milliseconds. Default 5 000.
    pub connect_timeout_ms: u64,
    /// Encoding of produce requests and fetch answers: [`Encoding::Binary`] (default) or
    /// [`Encoding::Json`]. Other routes are always JSON.
    pub encoding: Encoding,
}

impl ClientConfig {
    /// Defaults for a broker at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            token: None,
            request_timeout_ms: 30_000,
            connect_timeout_ms: 5_000,
            encoding: Encoding::default(),
        }
    }

    /// Sets the encoding of produce and fetch bodies.
    #[must_use]
    pub fn with_encoding(mut self, encoding: Encoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// Sets the bearer token.
    #[must_use]
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }
}

/// When a produce request is answered (`?acks=`); defined with the wire types.
pub use wharf_proto::Acks;

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

/// Which records a fetch reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchOptions {
    /// First offset to read.
    pub offset: u64,
    /// Most records to return. Broker default 500.
    pub max_records: Option<usize>,
    /// Most bytes to return. Broker default 1 MiB.
    pub max_bytes: Option<usize>,
    /// Long poll: wait up to this long for `min_bytes`. Default 0 (answer at once).
    pub wait_ms: u64,
    /// Bytes that end a long poll early. Broker default 1.
    pub min_bytes: Option<usize>,
}

impl FetchOptions {
    /// Reads from `offset` with the broker's defaults.
    pub fn at(offset: u64) -> Self {
        Self {
            offset,
            max_records: None,
            max_bytes: None,
            wait_ms: 0,
            min_bytes: None,
        }
    }
}

/// Records read from one partition.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchBatch {
    pub records: Vec<ConsumerRecord>,
    /// The offset to fetch next.
    pub next_offset: u64,
    pub high_watermark: u64,
    pub log_start_offset: u64,
}

/// Which offset an offset lookup asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The log start.
    Earliest,
    /// The high watermark (the next offset to be written).
    Latest,
    /// The first record at or after this timestamp (ms).
    Timestamp(i64),
}

/// An HTTP client of one broker. Cheap to clone (the connection pool is shared).
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    request_timeout: Duration,
    encoding: Encoding,
}

/// Path segments are topic, group and member names, whose alphabet (`[A-Za-z0-9._-]`) needs no
/// escaping; anything else is refused before it can change the path.
fn segment<'a>(what: &str, name: &'a str) -> Result<&'a str, Error> {
    let valid = !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if valid {
        Ok(name)
    } else {
        Err(Error::InvalidInput {
            message: format!("invalid {what} name {name:?}: use 1 to 249 of [A-Za-z0-9._-]"),
        })
    }
}

impl Client {
    /// Builds a client; fails only on an unusable configuration.
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        let base = config.url.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Error::InvalidInput {
                message: format!("broker url must start with http:// or https://, got {base:?}"),
            });
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
            // Requests are written in one go; Nagle would hold back the tail of each.
            .tcp_nodelay(true)
            .build()
            .map_err(|e| Error::InvalidInput {
                message: format!("cannot build the HTTP client: {e}"),
            })?;
        Ok(Self {
            http,
            base,
            token: config.token,
            request_timeout: Duration::from_millis(config.request_timeout_ms),
            encoding: config.encoding,
        })
    }

    /// The encoding of produce and fetch bodies.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// This client (sharing its connection pool) with another encoding.
    #[must_use]
    pub fn with_encoding(mut self, encoding: Encoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// The broker's base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// The per-request timeout (long polls add their wait).
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let rb = self.http.request(method, format!("{}{}", self.base, path));
        match &self.token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    /// Sends a request and returns the status, headers' replay flag and body bytes, mapping
    /// error statuses to [`Error::Api`].
    async fn send(
        &self,
        operation: &str,
        rb: RequestBuilder,
        timeout: Duration,
    ) -> Result<(StatusCode, bool, bytes::Bytes), Error> {
        let (status, replayed, _, body) = self.send_typed(operation, rb, timeout).await?;
        Ok((status, replayed, body))
    }

    /// [`Client::send`], also telling whether the answer is in the binary batch encoding.
    async fn send_typed(
        &self,
        operation: &str,
        rb: RequestBuilder,
        timeout: Duration,
    ) -> Result<(StatusCode, bool, bool, bytes::Bytes), Error> {
        let response = rb
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| Error::from_reqwest(operation, timeout, e))?;
        let status = response.status();
        let replayed = response.headers().contains_key(IDEMPOTENT_REPLAY_HEADER);
        let is_binary = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(binary::names_binary);
        let body = response
            .bytes()
            .await
            .map_err(|e| Error::from_reqwest(operation, timeout, e))?;
        Ok((status, replayed, is_binary, body))
    }

    fn binary_decode_error(operation: &str, status: StatusCode, e: binary::DecodeError) -> Error {
        Error::Decode {
            operation: operation.to_owned(),
            status: status.as_u16(),
            message: format!("binary answer: {e}"),
        }
    }

    fn api_error(operation: &str, status: StatusCode, body: &[u8]) -> Error {
        match serde_json::from_slice::<ErrorBody>(body) {
            Ok(ErrorBody {
                error:
                    ErrorDetail {
                        code,
                        message,
                        retriable,
                        details,
                    },
            }) => Error::Api {
                operation: operation.to_owned(),
                status: status.as_u16(),
                code: code.into(),
                message,
                retriable,
                details,
            },
            // Not our broker's JSON (a proxy, a load balancer): keep what it said.
            Err(_) => Error::Api {
                operation: operation.to_owned(),
                status: status.as_u16(),
                code: ErrorCode::Other(format!("http_{}", status.as_u16())),
                message: String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned(),
                retriable: status.is_server_error(),
                details: None,
            },
        }
    }

    fn decode<T: DeserializeOwned>(
        operation: &str,
        status: StatusCode,
        body: &[u8],
    ) -> Result<T, Error> {
        serde_json::from_slice(body).map_err(|e| Error::Decode {
            operation: operation.to_owned(),
            status: status.as_u16(),
            message: e.to_string(),
        })
    }

    async fn call<T: DeserializeOwned>(
        &self,
        operation: &str,
        rb: RequestBuilder,
        timeout: Duration,
    ) -> Result<T, Error> {
        let (status, _, body) = self.send(operation, rb, timeout).await?;
        if !status.is_success() {
            return Err(Self::api_error(operation, status, &body));
        }
        Self::decode(operation, status, &body)
    }

    async fn call_no_content(&self, operation: &str, rb: RequestBuilder) -> Result<(), Error> {
        let (status, _, body) = self.send(operation, rb, self.request_timeout).await?;
        if !status.is_success() {
            return Err(Self::api_error(operation, status, &body));
        }
        Ok(())
    }

    fn json_body<B: Serialize>(rb: RequestBuilder, body: &B) -> RequestBuilder {
        rb.json(body)
    }

    // -----------------------------------------------------------------------------------------
    // Operations

    /// `GET /health`: the broker process answers.
    pub async fn health(&self) -> Result<(), Error> {
        self.call_no_content("health", self.request(Method::GET, "/health"))
            .await
    }

    // -----------------------------------------------------------------------------------------
    // Topics

    /// `POST /v1/topics`.
    pub async fn create_topic(&self, request: &CreateTopic) -> Result<TopicDescription, Error> {
        segment("topic", &request.name)?;
        let op = format!("create topic {}", request.name);
        let rb = Self::json_body(self.request(Method::POST, "/v1/topics"), request);
        self.call(&op, rb, self.request_timeout).await
    }

    /// `GET /v1/topics`.
    pub async fn list_topics(&self) -> Result<TopicList, Error> {
        self.call(
            "list topics",
            self.request(Method::GET, "/v1/topics"),
            self.request_timeout,
        )
        .await
    }

    /// `GET /v1/topics/{topic}`: configuration and per-partition offsets.
    pub async fn describe_topic(&self, topic: &str) -> Result<TopicDescription, Error> {
        let path = format!("/v1/topics/{}", segment("topic", topic)?);
        self.call(
            &format!("describe topic {topic}"),
            self.request(Method::GET, &path),
            self.request_timeout,
        )
        .await
    }

    /// `PATCH /v1/topics/{topic}`.
    pub async fn patch_topic(
        &self,
        topic: &str,
        patch: &PatchTopic,
    ) -> Result<TopicDescription, Error> {
        let path = format!("/v1/topics/{}", segment("topic", topic)?);
        let rb = Self::json_body(self.request(Method::PATCH, &path), patch);
        self.call(&format!("patch topic {topic}"), rb, self.request_timeout)
            .await
    }

    /// `DELETE /v1/topics/{topic}`.
    pub async fn delete_topic(&self, topic: &str) -> Result<(), Error> {
        let path = format!("/v1/topics/{}", segment("topic", topic)?);
        self.call_no_content(
            &format!("delete topic {topic}"),
            self.request(Method::DELETE, &path),
        )
        .await
    }

    // -----------------------------------------------------------------------------------------
    // Produce and fetch

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
        let path = format!(
            "/v1/topics/{}/records?acks={}",
            segment("topic", topic)?,
            acks.as_str()
        );
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

    /// `GET /v1/topics/{topic}/partitions/{p}/records`: a plain read (long poll with
    /// `wait_ms`). The timeout is the request timeout plus the wait.
    pub async fn fetch(
        &self,
        topic: &str,
        partition: u32,
        options: FetchOptions,
    ) -> Result<FetchBatch, Error> {
        let mut path = format!(
            "/v1/topics/{}/partitions/{partition}/records?offset={}&wait_ms={}",
            segment("topic", topic)?,
            options.offset,
            options.wait_ms
        );
        if let Some(n) = options.max_records {
            path.push_str(&format!("&max_records={n}"));
        }
        if let Some(n) = options.max_bytes {
            path.push_str(&format!("&max_bytes={n}"));
        }
        if let Some(n) = options.min_bytes {
            path.push_str(&format!("&min_bytes={n}"));
        }
        let op = format!("fetch {topic}/{partition}");
        let timeout = self.request_timeout + Duration::from_millis(options.wait_ms);
        let mut rb = self.request(Method::GET, &path);
        if self.encoding == Encoding::Binary {
            rb = rb.header(reqwest::header::ACCEPT, binary::CONTENT_TYPE);
        }
        let (status, _, is_binary, body) = self.send_typed(&op, rb, timeout).await?;
        if !status.is_success() {
            return Err(Self::api_error(&op, status, &body));
        }
        if is_binary {
            let answer = binary::decode_fetch_response(&body)
                .map_err(|e| Self::binary_decode_error(&op, status, e))?;
            return Ok(FetchBatch {
                records: answer
                    .records
                    .into_iter()
                    .map(|r| ConsumerRecord::from_binary(topic, partition, r))
                    .collect(),
                next_offset: answer.next_offset,
                high_watermark: answer.high_watermark,
                log_start_offset: answer.log_start_offset,
            });
        }
        let answer: FetchResponse = Self::decode(&op, status, &body)?;
        let records = answer
            .records
            .into_iter()
            .map(|r| ConsumerRecord::from_wire(topic, partition, None, r))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(FetchBatch {
            records,
            next_offset: answer.next_offset,
            high_watermark: answer.high_watermark,
            log_start_offset: answer.log_start_offset,
        })
    }

    /// `GET /v1/topics/{topic}/partitions/{p}/offsets?at=...`.
    pub async fn offsets(
        &self,
        topic: &str,
        partition: u32,
        at: OffsetSpec,
    ) -> Result<OffsetLookup, Error> {
        let at = match at {
            OffsetSpec::Earliest => "earliest".to_owned(),
            OffsetSpec::Latest => "latest".to_owned(),
            OffsetSpec::Timestamp(ms) => ms.to_string(),
        };
        let path = format!(
            "/v1/topics/{}/partitions/{partition}/offsets?at={at}",
            segment("topic", topic)?
        );
        self.call(
            &format!("look up offsets of {topic}/{partition}"),
            self.request(Method::GET, &path),
            self.request_timeout,
        )
        .await
    }

    // -----------------------------------------------------------------------------------------
    // Consumer groups

    /// `POST /v1/groups/{group}/members`: join (or re-join as `member_id`).
    pub async fn join_group(&self, group: &str, request: &JoinGroup) -> Result<MemberState, Error> {
        let path = format!("/v1/groups/{}/members", segment("group", group)?);
        let rb = Self::json_body(self.request(Method::POST, &path), request);
        self.call(&format!("join group {group}"), rb, self.request_timeout)
            .await
    }

    /// `POST /v1/groups/{group}/members/{member}/heartbeat`: renews the lease.
    pub async fn heartbeat(&self, group: &str, member: &str) -> Result<MemberState, Error> {
        let path = format!(
            "/v1/groups/{}/members/{}/heartbeat",
            segment("group", group)?,
            segment("member", member)?
        );
        self.call(
            &format!("heartbeat {group}/{member}"),
            self.request(Method::POST, &path),
            self.request_timeout,
        )
        .await
    }

    /// `POST /v1/groups/{group}/members/{member}/poll`. The timeout is the request timeout plus
    /// the wait.
    pub async fn poll(
        &self,
        group: &str,
        member: &str,
        request: &PollRequest,
    ) -> Result<PollResponse, Error> {
        let path = format!(
            "/v1/groups/{}/members/{}/poll",
            segment("group", group)?,
            segment("member", member)?
        );
        let timeout = self.request_timeout + Duration::from_millis(request.wait_ms.unwrap_or(0));
        let rb = Self::json_body(self.request(Method::POST, &path), request);
        self.call(&format!("poll {group}/{member}"), rb, timeout)
            .await
    }

    /// `POST /v1/groups/{group}/offsets`: commit (all or nothing; 409 `fenced`).
    pub async fn commit(
        &self,
        group: &str,
        request: &CommitRequest,
    ) -> Result<CommitResponse, Error> {
        let path = format!("/v1/groups/{}/offsets", segment("group", group)?);
        let rb = Self::json_body(self.request(Method::POST, &path), request);
        self.call(
            &format!("commit offsets of {group}"),
            rb,
            self.request_timeout,
        )
        .await
    }

    /// `DELETE /v1/groups/{group}/members/{member}`: releases the member's partitions at once.
    pub async fn leave_group(&self, group: &str, member: &str) -> Result<(), Error> {
        let path = format!(
            "/v1/groups/{}/members/{}",
            segment("group", group)?,
            segment("member", member)?
        );
        self.call_no_content(
            &format!("leave {group}/{member}"),
            self.request(Method::DELETE, &path),
        )
        .await
    }

    /// `GET /v1/groups`.
    pub async fn list_groups(&self) -> Result<GroupList, Error> {
        self.call(
            "list groups",
            self.request(Method::GET, "/v1/groups"),
            self.request_timeout,
        )
        .await
    }

    /// `GET /v1/groups/{group}`: members, owners, committed offsets and lag.
    pub async fn describe_group(&self, group: &str) -> Result<GroupDescription, Error> {
        let path = format!("/v1/groups/{}", segment("group", group)?);
        self.call(
            &format!("describe group {group}"),
            self.request(Method::GET, &path),
            self.request_timeout,
        )
        .await
    }

    /// `PUT /v1/groups/{group}/offsets`: resets committed offsets while no member is live.
    /// Answers the group's description after the reset.
    pub async fn reset_offsets(
        &self,
        group: &str,
        request: &ResetOffsets,
    ) -> Result<GroupDescription, Error> {
        let path = format!("/v1/groups/{}/offsets", segment("group", group)?);
        let rb = Self::json_body(self.request(Method::PUT, &path), request);
        self.call(
            &format!("reset offsets of {group}"),
            rb,
            self.request_timeout,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polled_records_with_json_values_decode() {
        let body = r#"{"member_id":"m","topic":"t","lease_expires_at":5,"records":[
            {"topic":"t","partition":1,"epoch":7,"offset":3,"timestamp":9,"key":"k","value":{"a":[1,2]},"headers":{"h":"v"}},
            {"topic":"t","partition":1,"epoch":7,"offset":4,"timestamp":9,"value":null},
            {"topic":"t","partition":1,"epoch":7,"offset":5,"timestamp":9,"value_b64":"AA=="}],
            "partitions":[{"partition":1,"epoch":7,"position":6,"high_watermark":6,"log_start_offset":0}]}"#;
        let answer: PollResponse = serde_json::from_str(body).unwrap();
        assert_eq!(
            answer.records[0].value.as_ref().unwrap().get(),
            r#"{"a":[1,2]}"#
        );
        assert_eq!(answer.records[0].epoch, 7);
        assert_eq!(answer.records[1].value.as_ref().unwrap().get(), "null");
        assert_eq!(answer.records[2].value_b64.as_deref(), Some("AA=="));
        assert_eq!(answer.partitions[0].position, 6);
    }

    #[test]
    fn names_that_would_change_the_path_are_refused() {
        assert!(segment("topic", "orders.v1_x-y").is_ok());
        for bad in ["", ".", "..", "a/b", "a?b", "a b", "a%2Fb"] {
            assert!(segment("topic", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn error_bodies_and_foreign_answers_become_api_errors() {
        let e = Client::api_error(
            "op",
            StatusCode::CONFLICT,
            br#"{"error":{"code":"fenced","message":"no","retriable":false}}"#,
        );
        assert!(e.is_fenced());
        assert!(!e.is_retriable());
        let e = Client::api_error("op", StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>");
        assert_eq!(e.code().map(ErrorCode::as_str), Some("http_502"));
        assert!(e.is_retriable());
    }

    #[test]
    fn urls_must_be_http() {
        assert!(Client::new(ClientConfig::new("localhost:1")).is_err());
        assert!(Client::new(ClientConfig::new("http://localhost:1/")).is_ok());
    }
}
