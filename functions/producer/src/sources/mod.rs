//! One module per event source: each turns its event into records and an idempotency key,
//! produces through the [`Handler`](crate::Handler), and shapes the answer the source expects.

pub mod direct;
pub mod eventbridge;
pub mod http;
pub mod s3;
pub mod sqs;

/// Header naming the event source on every produced record (`http`, `sqs`, `s3`,
/// `eventbridge`, `direct`).
pub const SOURCE_HEADER: &str = "wharf-source";
