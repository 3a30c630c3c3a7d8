//! The Wharf producer Lambda function: one binary for every event source AWS can point at it.
//!
//! The handler recognises the event by its shape ([`event::classify`]) and turns it into records:
//!
//! | event | records | idempotency key | answer |
//! | --- | --- | --- | --- |
//! | API Gateway HTTP API v2 / Function URL | the body: a JSON object is one record, a JSON array one per element, other content one bytes record | `http:<requestContext.requestId>` | HTTP response: 200/207 with offsets, 4xx/5xx with an error body |
//! | SQS | one per message | `sqs:<messageId>` (one request per message) | `batchItemFailures` |
//! | S3 notification | one per object event: bucket, key, size, etag, event name (a link, not the bytes) | `s3:` + bucket, key, sequencer, event name | offsets |
//! | EventBridge | `detail` as the value, `detail-type` and `source` as headers | `eventbridge:<id>` | offsets |
//! | direct `{"topic","records":[...]}` | the records as in `POST /v1/topics/{t}/records` | `invoke:<idempotency_key or Lambda request id>` | offsets |
//!
//! Values above the claim-check threshold are uploaded first and the record carries the pointer.
//!
//! Modules: [`config`] (environment, read once per cold start), [`event`] (shape recognition),
//! [`sink`] (the [`Sink`] trait the handler produces through; the broker client implements it),
//! [`handler`] (the [`Handler`]), [`sources`] (one module per event source), [`error`].

pub mod config;
pub mod error;
pub mod event;
pub mod handler;
pub mod sink;
pub mod sources;

pub use config::ProducerConfig;
pub use error::ProducerError;
pub use handler::{Handler, Invocation};
pub use sink::Sink;
