//! Sorting a request's records into one batch per partition as they are validated.

use wharf_proto::api::ProduceResult;

use super::record::{Prepared, RecordError};
use crate::storage::NewRecord;

/// The records of one request bound for one partition, in request order.
#[derive(Debug)]
pub(super) struct PartitionBatch {
    pub(super) partition: u32,
    pub(super) records: Vec<NewRecord>,
    /// `indexes[i]` is the position of `records[i]` in the request.
    pub(super) indexes: Vec<usize>,
}

/// How a retry of an interrupted idempotent request is grouped: records already in the log are
/// skipped, the others keep the partition the first attempt chose.
#[derive(Debug)]
pub(super) struct Resume {
    /// Per request position: what the first attempt planned (the partition; `None` if it
    /// refused the record) and, for records found in the log, their offset.
    pub(super) results: Vec<ProduceResult>,
    /// Per request position: the record is in the log.
    pub(super) landed: Vec<bool>,
}

/// Sorts a request's records into per-partition batches as they are parsed, so each record moves
/// once, from the decoded request into the batch the log appends; a record's result slot is
/// filled in as it goes. Requests touch few partitions, so a scan that starts at the last hit
/// beats a map.
pub(super) struct Grouping<'a> {
    /// Picks the partition of the request's keyless records (the topic's sticky partitioner).
    choose_sticky: &'a (dyn Fn() -> u32 + Sync),
    pub(super) batches: Vec<PartitionBatch>,
    pub(super) results: Vec<ProduceResult>,
    pub(super) failed: usize,
    /// The request's keyless records all go to one partition, chosen at the first of them.
    sticky: Option<u32>,
    last_slot: usize,
    /// `(batch, position)` of records whose value goes to the blob store.
    pub(super) offloads: Vec<(usize, usize)>,
    expected: usize,
    resume: Option<&'a Resume>,
}

impl<'a> Grouping<'a> {
    pub(super) fn new(
        choose_sticky: &'a (dyn Fn() -> u32 + Sync),
        resume: Option<&'a Resume>,
    ) -> Self {
        Self {
            choose_sticky,
            batches: Vec::new(),
            results: Vec::new(),
            failed: 0,
            sticky: None,
            last_slot: 0,
            offloads: Vec::new(),
            expected: 0,
            resume,
        }
    }

    /// The request holds `records` records.
    pub(super) fn reserve(&mut self, records: usize) {
        self.expected = records;
        self.results.reserve_exact(records);
    }

    pub(super) fn add(&mut self, outcome: Result<Prepared, RecordError>) {
        let index = self.results.len();
        let resume = self.resume;
        if let Some(r) = resume
            && r.landed.get(index) == Some(&true)
        {
            // Its result is the one the earlier attempt's append gave it.
            self.results.push(r.results[index].clone());
            return;
        }
        match outcome {
            Ok(prepared) => {
                let planned = resume.and_then(|r| r.results.get(index).and_then(|r| r.partition));
                let partition = planned
                    .or(prepared.partition)
                    .unwrap_or_else(|| *self.sticky.get_or_insert_with(self.choose_sticky));
                self.results.push(ProduceResult {
                    partition: Some(partition),
                    timestamp: Some(prepared.record.timestamp_ms),
                    ..ProduceResult::default()
                });
                let slot = self.slot(partition);
                let batch = &mut self.batches[slot];
                if prepared.offload {
                    self.offloads.push((slot, batch.records.len()));
                }
                batch.records.push(prepared.record);
                batch.indexes.push(index);
            }
            Err(e) => {
                self.failed += 1;
                self.results.push(ProduceResult {
                    error: Some(e.detail()),
                    ..ProduceResult::default()
                });
            }
        }
    }

    fn slot(&mut self, partition: u32) -> usize {
        if self
            .batches
            .get(self.last_slot)
            .is_some_and(|b| b.partition == partition)
        {
            return self.last_slot;
        }
        let slot = match self.batches.iter().position(|b| b.partition == partition) {
            Some(slot) => slot,
            None => {
                // The first partition usually gets the whole request; later ones grow as needed.
                let capacity = if self.batches.is_empty() {
                    self.expected
                } else {
                    0
                };
                self.batches.push(PartitionBatch {
                    partition,
                    records: Vec::with_capacity(capacity),
                    indexes: Vec::with_capacity(capacity),
                });
                self.batches.len() - 1
            }
        };
        self.last_slot = slot;
        slot
    }

    /// Refuses the record at `position` of batch `slot` with `error`; the caller removes it
    /// from the batch with [`Grouping::drop_refused`].
    pub(super) fn refuse(&mut self, slot: usize, position: usize, error: &RecordError) {
        let index = self.batches[slot].indexes[position];
        self.failed += 1;
        self.results[index] = ProduceResult {
            error: Some(error.detail()),
            ..ProduceResult::default()
        };
    }

    /// Removes the records of `refused` (`(batch, position)` pairs) from their batches, and
    /// batches left empty.
    pub(super) fn drop_refused(&mut self, refused: &[(usize, usize)]) {
        for (slot, batch) in self.batches.iter_mut().enumerate() {
            let mut keep = vec![true; batch.records.len()];
            let mut any = false;
            for &(s, position) in refused {
                if s == slot {
                    keep[position] = false;
                    any = true;
                }
            }
            if any {
                let mut k = keep.iter();
                batch
                    .records
                    .retain(|_| *k.next().expect("one flag per record"));
                let mut k = keep.iter();
                batch
                    .indexes
                    .retain(|_| *k.next().expect("one flag per index"));
            }
        }
        self.batches.retain(|b| !b.records.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Bytes;

    fn prepared(partition: Option<u32>, value: &'static str, offload: bool) -> Prepared {
        Prepared {
            partition,
            record: NewRecord {
                timestamp_ms: 5,
                key: None,
                value: Bytes::from_static(value.as_bytes()),
                headers: Vec::new(),
                value_is_json: false,
            },
            offload,
            value_schema_id: None,
        }
    }

    fn values(batch: &PartitionBatch) -> Vec<&[u8]> {
        batch.records.iter().map(|r| r.value.as_ref()).collect()
    }

    #[test]
    fn grouping_keeps_request_order_per_partition_and_picks_one_sticky_partition() {
        let picks = std::sync::atomic::AtomicU32::new(0);
        let choose = || 7 + picks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut group = Grouping::new(&choose, None);
        group.reserve(6);
        group.add(Ok(prepared(Some(2), "a", false)));
        group.add(Ok(prepared(None, "b", false)));
        group.add(Err(RecordError::MissingValue));
        group.add(Ok(prepared(Some(2), "c", false)));
        group.add(Ok(prepared(None, "d", false)));
        group.add(Ok(prepared(Some(0), "e", false)));

        let parts: Vec<u32> = group.batches.iter().map(|b| b.partition).collect();
        assert_eq!(parts, [2, 7, 0], "batches in order of first appearance");
        assert_eq!(values(&group.batches[0]), [b"a", b"c"]);
        assert_eq!(group.batches[0].indexes, [0, 3]);
        assert_eq!(values(&group.batches[1]), [b"b", b"d"]);
        assert_eq!(group.batches[1].indexes, [1, 4]);
        assert_eq!(group.batches[2].indexes, [5]);
        assert_eq!(
            picks.load(std::sync::atomic::Ordering::Relaxed),
            1,
            "keyless records share one sticky choice"
        );
        assert_eq!(group.failed, 1);
        assert_eq!(group.results.len(), 6);
        assert!(group.results[2].error.is_some());
        assert_eq!(group.results[4].partition, Some(7));
        assert_eq!(group.results[4].timestamp, Some(5));
    }

    #[test]
    fn refused_offloads_leave_their_batches_and_the_rest_keep_their_order() {
        let choose = || 0;
        let mut group = Grouping::new(&choose, None);
        group.reserve(5);
        group.add(Ok(prepared(Some(0), "a", false)));
        group.add(Ok(prepared(Some(0), "big1", true)));
        group.add(Ok(prepared(Some(1), "big2", true)));
        group.add(Ok(prepared(Some(0), "b", false)));
        group.add(Ok(prepared(Some(0), "big3", true)));
        assert_eq!(group.offloads, [(0, 1), (1, 0), (0, 3)]);

        let error = RecordError::EmptyHeaderName;
        group.refuse(0, 1, &error);
        group.refuse(1, 0, &error);
        group.drop_refused(&[(0, 1), (1, 0)]);

        assert_eq!(
            group.batches.len(),
            1,
            "the emptied partition-1 batch is gone"
        );
        assert_eq!(values(&group.batches[0]), [&b"a"[..], b"b", b"big3"]);
        assert_eq!(group.batches[0].indexes, [0, 3, 4]);
        assert_eq!(group.failed, 2);
        for refused in [1, 2] {
            assert!(group.results[refused].error.is_some());
            assert_eq!(group.results[refused].partition, None);
        }
        assert!(group.results[4].error.is_none());
    }
}
