//! Background jobs, run by the server on timers: retention (with the claim-check objects of
//! deleted segments) and expiry of idempotency records. Lease expiry is
//! [`Broker::expire_leases`](crate::state::Broker::expire_leases) in [`super::groups`].

use crate::service::backend::PartitionLog;
use crate::state::{Broker, now_ms};
use crate::storage::StorageError;

impl Broker {
    /// One retention pass over every partition. Claim-check objects referenced from the deleted
    /// segments are deleted after the segments are gone (never before).
    pub async fn apply_retention(&self) {
        self.claims
            .retry_queued_deletes(self.meta.as_ref(), &self.metrics)
            .await;
        let now = now_ms();
        for topic in self.topics.list() {
            for p in topic.partitions() {
                let Some(target) = p.retention_target(now) else {
                    continue;
                };
                let referenced = match self.pointer_keys_below(p.as_ref(), target).await {
                    Ok(keys) => keys,
                    Err(e) => {
                        tracing::warn!(topic = %topic.name, partition = p.id(), error = %e, "retention skipped: cannot read the segments it would delete");
                        continue;
                    }
                };
                match p.delete_before(target).await {
                    Ok(done) => {
                        if !done.deleted_ranges.is_empty() {
                            tracing::info!(
                                topic = %topic.name,
                                partition = p.id(),
                                segments = done.deleted_ranges.len(),
                                bytes = done.deleted_bytes,
                                log_start_offset = done.log_start_offset,
                                "retention deleted segments"
                            );
                        }
                        let gone: Vec<String> = referenced
                            .into_iter()
                            .filter(|(offset, _)| *offset < done.log_start_offset)
                            .map(|(_, key)| key)
                            .collect();
                        if !gone.is_empty() {
                            self.claims
                                .delete_objects(gone, self.meta.as_ref(), &self.metrics)
                                .await;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(topic = %topic.name, partition = p.id(), error = %e, "retention failed")
                    }
                }
            }
        }
    }

    /// `(offset, object key)` of the claim-check pointers in `[log start, below)`.
    async fn pointer_keys_below(
        &self,
        p: &dyn PartitionLog,
        below: u64,
    ) -> Result<Vec<(u64, String)>, StorageError> {
        let mut out = Vec::new();
        let mut offset = p.offsets().log_start_offset;
        while offset < below {
            let batch = p.read(offset, 10_000, 16 * 1024 * 1024).await?;
            if batch.records.is_empty() {
                break;
            }
            let within: Vec<_> = batch
                .records
                .into_iter()
                .filter(|r| r.offset < below)
                .collect();
            for r in &within {
                for key in self.claims.keys_referenced(std::slice::from_ref(r)) {
                    out.push((r.offset, key));
                }
            }
            offset = batch.next_offset;
        }
        Ok(out)
    }

    /// Forgets idempotency records older than the window.
    pub async fn expire_idempotency(&self) {
        let window = i64::try_from(self.config.idempotency.window_ms).unwrap_or(i64::MAX);
        let cutoff = now_ms().saturating_sub(window);
        match self.meta.expire_idempotency(cutoff).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(removed = n, "expired idempotency records"),
            Err(e) => tracing::warn!(error = %e, "idempotency expiry failed"),
        }
    }
}
