//! Prometheus metrics, served as text on `GET /metrics`.
//!
//! Counters and histograms are updated on the request path; partition gauges (size, high
//! watermark, log start) are refreshed from the partitions at scrape time, so they cost nothing
//! between scrapes and never go stale after a topic is deleted.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::topic::Topics;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub route: String,
    pub method: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TopicLabels {
    pub topic: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabels {
    pub topic: String,
    pub partition: u32,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AcksLabels {
    pub acks: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GroupLabels {
    pub group: String,
    pub topic: String,
    pub partition: u32,
}

fn latency_histogram() -> Histogram {
    // 20 µs .. ~1.3 s, doubling: covers a page-cache append up to a slow fsync.
    Histogram::new(exponential_buckets(0.000_02, 2.0, 17))
}

/// All broker metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<HttpLabels, Counter>,
    pub records_produced: Family<TopicLabels, Counter>,
    pub bytes_produced: Family<TopicLabels, Counter>,
    pub records_fetched: Family<TopicLabels, Counter>,
    pub bytes_fetched: Family<TopicLabels, Counter>,
    pub append_seconds: Family<AcksLabels, Histogram>,
    pub fsync_seconds: Histogram,
    pub idempotent_replays: Counter,
    pub blob_deletes_failed: Counter,
    pub blob_deletes: Counter,
    partition_size_bytes: Family<PartitionLabels, Gauge>,
    partition_high_watermark: Family<PartitionLabels, Gauge>,
    partition_log_start_offset: Family<PartitionLabels, Gauge>,
    pub group_lag: Family<GroupLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("wharf");
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route, method and status",
            http_requests.clone(),
        );
        let records_produced = Family::<TopicLabels, Counter>::default();
        registry.register(
            "records_produced",
            "Records appended",
            records_produced.clone(),
        );
        let bytes_produced = Family::<TopicLabels, Counter>::default();
        registry.register(
            "bytes_produced",
            "Key, value and header bytes appended",
            bytes_produced.clone(),
        );
        let records_fetched = Family::<TopicLabels, Counter>::default();
        registry.register(
            "records_fetched",
            "Records returned to readers",
            records_fetched.clone(),
        );
        let bytes_fetched = Family::<TopicLabels, Counter>::default();
        registry.register(
            "bytes_fetched",
            "Encoded record bytes returned to readers",
            bytes_fetched.clone(),
        );
        let append_seconds =
            Family::<AcksLabels, Histogram>::new_with_constructor(latency_histogram as fn() -> _);
        registry.register(
            "append_seconds",
            "Time to append one batch to a partition, by acks (all includes the fsync wait)",
            append_seconds.clone(),
        );
        let fsync_seconds = latency_histogram();
        registry.register(
            "fsync_seconds",
            "Duration of each fdatasync that makes appends durable (group commit, always, shutdown)",
            fsync_seconds.clone(),
        );
        let idempotent_replays = Counter::default();
        registry.register(
            "idempotent_replays",
            "Produce requests answered from a stored idempotent response",
            idempotent_replays.clone(),
        );
        let blob_deletes = Counter::default();
        registry.register(
            "blob_deletes",
            "Claim-check objects deleted after their segment expired",
            blob_deletes.clone(),
        );
        let blob_deletes_failed = Counter::default();
        registry.register(
            "blob_deletes_failed",
            "Claim-check object deletions that failed (retried later)",
            blob_deletes_failed.clone(),
        );
        let partition_size_bytes = Family::<PartitionLabels, Gauge>::default();
        registry.register(
            "partition_size_bytes",
            "Bytes on disk per partition",
            partition_size_bytes.clone(),
        );
        let partition_high_watermark = Family::<PartitionLabels, Gauge>::default();
        registry.register(
            "partition_high_watermark",
            "Next offset to be assigned per partition",
            partition_high_watermark.clone(),
        );
        let partition_log_start_offset = Family::<PartitionLabels, Gauge>::default();
        registry.register(
            "partition_log_start_offset",
            "First retained offset per partition",
            partition_log_start_offset.clone(),
        );
        let group_lag = Family::<GroupLabels, Gauge>::default();
        registry.register(
            "group_lag",
            "High watermark minus committed offset per group partition",
            group_lag.clone(),
        );
        Self {
            registry,
            http_requests,
            records_produced,
            bytes_produced,
            records_fetched,
            bytes_fetched,
            append_seconds,
            fsync_seconds,
            idempotent_replays,
            blob_deletes_failed,
            blob_deletes,
            partition_size_bytes,
            partition_high_watermark,
            partition_log_start_offset,
            group_lag,
        }
    }

    /// Refreshes the partition gauges and renders everything as Prometheus text.
    pub fn render(&self, topics: &Topics) -> String {
        self.partition_size_bytes.clear();
        self.partition_high_watermark.clear();
        self.partition_log_start_offset.clear();
        for topic in topics.list() {
            for p in topic.partitions() {
                let labels = PartitionLabels {
                    topic: topic.name.clone(),
                    partition: p.id(),
                };
                let o = p.offsets();
                let gauge = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
                self.partition_size_bytes
                    .get_or_create(&labels)
                    .set(gauge(o.size_bytes));
                self.partition_high_watermark
                    .get_or_create(&labels)
                    .set(gauge(o.high_watermark));
                self.partition_log_start_offset
                    .get_or_create(&labels)
                    .set(gauge(o.log_start_offset));
            }
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}
