//! The schema registry as the service offers it: registry calls off the reactor (a
//! registration commits to redb, which fsyncs), and registration with a sample of the subject's
//! retained records so a new JSON Schema is also checked against real data.

use std::sync::Arc;

use crate::schema::registry::Sample;
use crate::schema::{RegisteredSchema, SchemaError, SchemaType, subject_topic};
use crate::state::Broker;

/// Records read from the end of each partition of the subject's topic as samples.
pub const SAMPLE_RECORDS_PER_PARTITION: u64 = 20;
/// Bytes read per partition for samples, at most.
const SAMPLE_BYTES_PER_PARTITION: usize = 1 << 20;

/// Runs a synchronous registry call on the blocking pool.
pub async fn blocking<T: Send + 'static>(
    broker: &Arc<Broker>,
    call: impl FnOnce(&crate::schema::Registry) -> Result<T, SchemaError> + Send + 'static,
) -> Result<T, SchemaError> {
    let registry = Arc::clone(&broker.schemas);
    tokio::task::spawn_blocking(move || call(&registry))
        .await
        .map_err(|e| SchemaError::Store {
            detail: format!("registry task failed: {e}"),
        })?
}

/// Registers `text` under `subject`; a JSON Schema for `<topic>-value` must also accept the
/// topic's latest retained values (under a backward level).
pub async fn register(
    broker: &Arc<Broker>,
    subject: String,
    kind: SchemaType,
    text: String,
) -> Result<RegisteredSchema, SchemaError> {
    let samples = if kind == SchemaType::Json && subject.ends_with("-value") {
        retained_samples(broker, subject_topic(&subject)).await
    } else {
        Vec::new()
    };
    blocking(broker, move |r| r.register(&subject, kind, &text, &samples)).await
}

/// The latest values of every partition of `topic` (none when it does not exist). Claim-check
/// pointers and tombstones are skipped: they are not the producer's document. A partition that
/// cannot be read gives no samples rather than failing the registration.
async fn retained_samples(broker: &Broker, topic: &str) -> Vec<Sample> {
    let Some(topic) = broker.topics.get(topic) else {
        return Vec::new();
    };
    let mut samples = Vec::new();
    for partition in topic.partitions() {
        let offsets = partition.offsets();
        let from = offsets
            .high_watermark
            .saturating_sub(SAMPLE_RECORDS_PER_PARTITION)
            .max(offsets.log_start_offset);
        if from >= offsets.high_watermark {
            continue;
        }
        let Ok(batch) = partition
            .read(
                from,
                SAMPLE_RECORDS_PER_PARTITION as usize,
                SAMPLE_BYTES_PER_PARTITION,
            )
            .await
        else {
            continue;
        };
        samples.extend(
            batch
                .records
                .into_iter()
                .filter(|r| !r.value.is_empty() && r.value.as_ref() != b"null")
                .filter(|r| !crate::claim::is_pointer(r))
                .map(|r| Sample {
                    place: format!("partition {} offset {}", partition.id(), r.offset),
                    value: r.value.to_vec(),
                }),
        );
    }
    samples
}
