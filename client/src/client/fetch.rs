//! Read routes of [`Client`]: `GET /v1/topics/{topic}/partitions/{p}/records` (a plain read or
//! a long poll, in either encoding) and `.../offsets?at=` lookups.

use std::time::Duration;

use reqwest::Method;
use wharf_proto::api::{FetchResponse, OffsetLookup};
use wharf_proto::binary;

use super::{Client, Encoding, topic_path};
use crate::error::Error;
use crate::record::ConsumerRecord;

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

impl Client {
    /// `GET /v1/topics/{topic}/partitions/{p}/records`: a plain read (long poll with
    /// `wait_ms`). The timeout is the request timeout plus the wait.
    pub async fn fetch(
        &self,
        topic: &str,
        partition: u32,
        options: FetchOptions,
    ) -> Result<FetchBatch, Error> {
        let mut path = format!(
            "{}/partitions/{partition}/records?offset={}&wait_ms={}",
            topic_path(topic)?,
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
            "{}/partitions/{partition}/offsets?at={at}",
            topic_path(topic)?
        );
        self.get(&format!("look up offsets of {topic}/{partition}"), &path)
            .await
    }
}
