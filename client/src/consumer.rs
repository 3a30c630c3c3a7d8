//! The group [`Consumer`]: join, poll, commit, heartbeat, leave.
//!
//! - [`Consumer::join`] joins the group (`POST /v1/groups/{g}/members`) and starts a background
//!   heartbeat task that renews the lease while the caller works on a batch, so a slow handler
//!   does not lose its partitions. The task re-joins under the same member id if the lease
//!   lapsed anyway (e.g. the process was suspended).
//! - [`Consumer::poll`] returns records of the owned partitions with topic, partition, offset,
//!   key, value, headers, timestamp and the ownership epoch, after the optional
//!   [`ResolveHook`] (claim check).
//! - Commits are explicit ([`Consumer::commit`], [`Consumer::commit_records`]; at-least-once) or,
//!   with [`CommitMode::AfterPoll`], the previous batch is committed at the start of the next
//!   poll (the caller has handled it by then) and at [`Consumer::shutdown`].
//! - A commit answered `409 fenced` (or 404 unknown member) re-joins, keeps the offsets of
//!   partitions still owned at the same epoch, retries them once, and reports the others as
//!   revoked in [`CommitOutcome`]: their records will be delivered again to the new owner.
//! - Leaving: [`Consumer::shutdown`] leaves and waits; dropping a consumer leaves in a spawned
//!   task (best effort: it needs a running tokio runtime; otherwise the lease simply lapses).
//!
//! # Decisions
//! - If a poll's records cannot be decoded or resolved, the poll fails loudly and the member
//!   starts over: the next poll leaves the group and joins as a new member, so the partitions'
//!   positions go back to the committed offsets and no record is skipped.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;
use wharf_proto::api::{
    AutoOffsetReset, CommitRequest, GroupAssignment, JoinGroup, MemberState, OffsetCommit,
    PollRequest,
};

use crate::client::Client;
use crate::error::Error;
use crate::hooks::{HookError, ResolveHook};
use crate::record::ConsumerRecord;

/// When offsets are committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CommitMode {
    /// Only by [`Consumer::commit`] / [`Consumer::commit_records`] (default).
    #[default]
    Manual,
    /// Everything delivered by a poll is committed at the start of the next poll and at
    /// shutdown: a batch counts as handled once the caller asks for the next one.
    AfterPoll,
}

/// How the lease is kept alive between calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Heartbeat {
    /// A background task heartbeats every `lease_ms / 3` (default).
    #[default]
    Auto,
    /// A background task heartbeats at this interval in milliseconds.
    EveryMs(u64),
    /// No background heartbeat: only poll and commit renew the lease.
    Off,
}

/// Consumer settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerConfig {
    /// Group name (`[A-Za-z0-9._-]`).
    pub group: String,
    /// The topic the group consumes.
    pub topic: String,
    /// Join as this member id (idempotent re-join while its lease is live); the broker
    /// generates one when absent.
    pub member_id: Option<String>,
    /// Lease length in milliseconds; join, heartbeat, poll and commit renew it. Default 30 000.
    pub lease_ms: u64,
    /// Background heartbeats. Default [`Heartbeat::Auto`].
    pub heartbeat: Heartbeat,
    /// Where to start on a partition without a committed offset. Default earliest.
    pub auto_offset_reset: AutoOffsetReset,
    /// Most records per poll. Default 500.
    pub max_records: usize,
    /// Most bytes per poll. Default 1 MiB.
    pub max_bytes: usize,
    /// Long-poll wait in milliseconds when nothing is available. Default 1 000.
    pub poll_wait_ms: u64,
    /// When offsets are committed. Default [`CommitMode::Manual`].
    pub commit_mode: CommitMode,
}

impl ConsumerConfig {
    /// Defaults for consuming `topic` in `group`.
    pub fn new(group: impl Into<String>, topic: impl Into<String>) -> Self {
        Self {
            group: group.into(),
            topic: topic.into(),
            member_id: None,
            lease_ms: 30_000,
            heartbeat: Heartbeat::Auto,
            auto_offset_reset: AutoOffsetReset::Earliest,
            max_records: 500,
            max_bytes: 1024 * 1024,
            poll_wait_ms: 1_000,
            commit_mode: CommitMode::Manual,
        }
    }

    fn join_request(&self, member_id: Option<String>) -> JoinGroup {
        JoinGroup {
            topic: self.topic.clone(),
            member_id,
            lease_ms: Some(self.lease_ms),
            auto_offset_reset: Some(self.auto_offset_reset),
        }
    }
}

/// Why a consumer call failed.
#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    /// A call to the broker failed.
    #[error(transparent)]
    Broker(#[from] Error),
    /// The resolve hook failed on a record; the member will start over from the committed
    /// offsets at its next poll.
    #[error("resolving {topic}/{partition}@{offset} failed: {source}")]
    Resolve {
        topic: String,
        partition: u32,
        offset: u64,
        #[source]
        source: HookError,
    },
    /// The consumer has left the group.
    #[error("the consumer has left the group")]
    Closed,
}

/// What a commit did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommitOutcome {
    /// Offsets the broker accepted (the next offset to consume per partition).
    pub committed: Vec<OffsetCommit>,
    /// Partitions whose offsets were not committed because this member no longer owns them at
    /// the epoch it read them with; their records will be delivered again.
    pub revoked: Vec<u32>,
}

/// Membership shared with the heartbeat task.
#[derive(Debug)]
struct Membership {
    member_id: String,
    /// partition → epoch currently owned.
    owned: BTreeMap<u32, u64>,
    assignments: Vec<GroupAssignment>,
    lease_expires_at: u64,
}

impl Membership {
    fn from_state(state: MemberState) -> Self {
        Self {
            member_id: state.member_id,
            owned: state
                .assignments
                .iter()
                .map(|a| (a.partition, a.epoch))
                .collect(),
            assignments: state.assignments,
            lease_expires_at: state.lease_expires_at,
        }
    }
}

/// A member of a consumer group.
#[derive(Debug)]
pub struct Consumer {
    client: Client,
    config: ConsumerConfig,
    membership: Arc<Mutex<Membership>>,
    heartbeat: Option<JoinHandle<()>>,
    /// partition → next offset delivered but not committed, with the epoch it was read at.
    uncommitted: BTreeMap<u32, OffsetCommit>,
    resolve: Option<Arc<dyn ResolveHook>>,
    /// Set when a poll failed after the broker advanced positions: start over.
    restart: bool,
    left: bool,
}

impl Consumer {
    /// Joins the group and starts heartbeating.
    pub async fn join(client: Client, config: ConsumerConfig) -> Result<Self, ConsumeError> {
        Self::join_with(client, config, None).await
    }

    /// Joins the group; polled records go through `resolve` before they are handed out.
    pub async fn join_with(
        client: Client,
        config: ConsumerConfig,
        resolve: Option<Arc<dyn ResolveHook>>,
    ) -> Result<Self, ConsumeError> {
        let state = client
            .join_group(
                &config.group,
                &config.join_request(config.member_id.clone()),
            )
            .await?;
        tracing::debug!(group = %config.group, member = %state.member_id, partitions = state.assignments.len(), "joined");
        let membership = Arc::new(Mutex::new(Membership::from_state(state)));
        let mut consumer = Self {
            client,
            config,
            membership,
            heartbeat: None,
            uncommitted: BTreeMap::new(),
            resolve,
            restart: false,
            left: false,
        };
        consumer.start_heartbeat();
        Ok(consumer)
    }

    fn start_heartbeat(&mut self) {
        let interval_ms = match self.config.heartbeat {
            Heartbeat::Auto => (self.config.lease_ms / 3).max(1),
            Heartbeat::EveryMs(ms) => ms.max(1),
            Heartbeat::Off => return,
        };
        let client = self.client.clone();
        let config = self.config.clone();
        let membership = Arc::clone(&self.membership);
        self.heartbeat = Some(tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_millis(interval_ms));
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await; // the first tick is immediate; we just joined
            loop {
                ticker.tick().await;
                let member_id = membership
                    .lock()
                    .expect("membership lock")
                    .member_id
                    .clone();
                let answer = match client.heartbeat(&config.group, &member_id).await {
                    Err(e) if e.is_unknown_member() => {
                        tracing::warn!(group = %config.group, member = %member_id, "lease lapsed; re-joining");
                        client
                            .join_group(&config.group, &config.join_request(Some(member_id)))
                            .await
                    }
                    other => other,
                };
                match answer {
                    Ok(state) => {
                        *membership.lock().expect("membership lock") = Membership::from_state(state)
                    }
                    Err(e) => tracing::warn!(group = %config.group, error = %e, "heartbeat failed"),
                }
            }
        }));
    }

    /// This member's id.
    pub fn member_id(&self) -> String {
        self.membership
            .lock()
            .expect("membership lock")
            .member_id
            .clone()
    }

    /// The partitions this member owned at its last join, heartbeat or poll.
    pub fn assignments(&self) -> Vec<GroupAssignment> {
        self.membership
            .lock()
            .expect("membership lock")
            .assignments
            .clone()
    }

    /// When the lease ends unless renewed (ms since the Unix epoch), as last reported.
    pub fn lease_expires_at_ms(&self) -> u64 {
        self.membership
            .lock()
            .expect("membership lock")
            .lease_expires_at
    }

    /// The consumer's settings.
    pub fn config(&self) -> &ConsumerConfig {
        &self.config
    }

    /// Offsets delivered but not yet committed (next offset per partition).
    pub fn uncommitted(&self) -> Vec<OffsetCommit> {
        self.uncommitted.values().cloned().collect()
    }

    /// Re-joins under the current member id and adopts the answer.
    async fn rejoin(&mut self) -> Result<(), ConsumeError> {
        let member_id = self.member_id();
        let state = self
            .client
            .join_group(
                &self.config.group,
                &self.config.join_request(Some(member_id)),
            )
            .await?;
        *self.membership.lock().expect("membership lock") = Membership::from_state(state);
        Ok(())
    }

    /// Leaves and joins as a new member so positions restart at the committed offsets.
    async fn start_over(&mut self) -> Result<(), ConsumeError> {
        let member_id = self.member_id();
        match self
            .client
            .leave_group(&self.config.group, &member_id)
            .await
        {
            Ok(()) => {}
            Err(e) if e.is_unknown_member() => {}
            Err(e) => return Err(e.into()),
        }
        self.uncommitted.clear();
        let state = self
            .client
            .join_group(&self.config.group, &self.config.join_request(None))
            .await?;
        tracing::info!(group = %self.config.group, old = %member_id, new = %state.member_id, "started over from the committed offsets");
        *self.membership.lock().expect("membership lock") = Membership::from_state(state);
        self.restart = false;
        Ok(())
    }

    /// Polls the owned partitions (long poll up to `poll_wait_ms`). With
    /// [`CommitMode::AfterPoll`], first commits what the previous poll delivered.
    pub async fn poll(&mut self) -> Result<Vec<ConsumerRecord>, ConsumeError> {
        if self.left {
            return Err(ConsumeError::Closed);
        }
        if self.restart {
            self.start_over().await?;
        }
        if self.config.commit_mode == CommitMode::AfterPoll && !self.uncommitted.is_empty() {
            self.commit().await?;
        }
        let request = PollRequest {
            max_records: Some(self.config.max_records),
            max_bytes: Some(self.config.max_bytes),
            wait_ms: Some(self.config.poll_wait_ms),
        };
        let member_id = self.member_id();
        let response = match self
            .client
            .poll(&self.config.group, &member_id, &request)
            .await
        {
            Err(e) if e.is_unknown_member() => {
                tracing::warn!(group = %self.config.group, member = %member_id, "lease lapsed; re-joining");
                self.rejoin().await?;
                let member_id = self.member_id();
                self.client
                    .poll(&self.config.group, &member_id, &request)
                    .await?
            }
            other => other?,
        };
        {
            let mut m = self.membership.lock().expect("membership lock");
            m.lease_expires_at = response.lease_expires_at;
            m.owned = response
                .partitions
                .iter()
                .map(|p| (p.partition, p.epoch))
                .collect();
            m.assignments = response
                .partitions
                .iter()
                .map(|p| GroupAssignment {
                    partition: p.partition,
                    epoch: p.epoch,
                    committed_offset: m
                        .assignments
                        .iter()
                        .find(|a| a.partition == p.partition)
                        .and_then(|a| a.committed_offset),
                    position: Some(p.position),
                })
                .collect();
        }

        let mut records = Vec::with_capacity(response.records.len());
        for polled in response.records {
            let (topic, partition, epoch) = (polled.topic, polled.partition, polled.epoch);
            let record =
                match ConsumerRecord::from_wire(&topic, partition, Some(epoch), polled.record) {
                    Ok(r) => r,
                    Err(e) => {
                        self.restart = true;
                        return Err(e.into());
                    }
                };
            let record = match &self.resolve {
                None => record,
                Some(hook) => {
                    let offset = record.offset;
                    match hook.resolve(record).await {
                        Ok(r) => r,
                        Err(source) => {
                            self.restart = true;
                            return Err(ConsumeError::Resolve {
                                topic,
                                partition,
                                offset,
                                source,
                            });
                        }
                    }
                }
            };
            records.push(record);
        }
        for r in &records {
            self.mark(&r.topic, r.partition, r.offset, r.epoch.unwrap_or_default());
        }
        Ok(records)
    }

    fn mark(&mut self, topic: &str, partition: u32, offset: u64, epoch: u64) {
        let next = offset + 1;
        let entry = self
            .uncommitted
            .entry(partition)
            .or_insert_with(|| OffsetCommit {
                topic: topic.to_owned(),
                partition,
                offset: next,
                epoch,
            });
        if epoch != entry.epoch || next > entry.offset {
            entry.offset = next;
            entry.epoch = epoch;
        }
    }

    /// Commits everything delivered so far.
    pub async fn commit(&mut self) -> Result<CommitOutcome, ConsumeError> {
        let offsets: Vec<OffsetCommit> = self.uncommitted.values().cloned().collect();
        self.commit_offsets(offsets).await
    }

    /// Commits through the given records (per partition, the highest offset among them + 1):
    /// for handlers that finished only part of a batch.
    pub async fn commit_records(
        &mut self,
        records: &[ConsumerRecord],
    ) -> Result<CommitOutcome, ConsumeError> {
        let mut through: BTreeMap<u32, OffsetCommit> = BTreeMap::new();
        for r in records {
            let Some(epoch) = r.epoch else { continue };
            let entry = through.entry(r.partition).or_insert_with(|| OffsetCommit {
                topic: r.topic.clone(),
                partition: r.partition,
                offset: r.offset + 1,
                epoch,
            });
            entry.offset = entry.offset.max(r.offset + 1);
        }
        self.commit_offsets(through.into_values().collect()).await
    }

    /// Commits `offsets` (next offset per partition, with the epoch they were read at).
    pub async fn commit_offsets(
        &mut self,
        offsets: Vec<OffsetCommit>,
    ) -> Result<CommitOutcome, ConsumeError> {
        if self.left {
            return Err(ConsumeError::Closed);
        }
        let mut outcome = CommitOutcome::default();
        let mut offsets = self.still_owned(offsets, &mut outcome.revoked);
        for attempt in 0..2 {
            if offsets.is_empty() {
                break;
            }
            let request = CommitRequest {
                member_id: self.member_id(),
                offsets: offsets.clone(),
            };
            match self.client.commit(&self.config.group, &request).await {
                Ok(answer) => {
                    {
                        let mut m = self.membership.lock().expect("membership lock");
                        m.lease_expires_at = answer.lease_expires_at;
                    }
                    for c in &answer.committed {
                        if let Some(u) = self.uncommitted.get(&c.partition)
                            && u.epoch == c.epoch
                            && u.offset <= c.offset
                        {
                            self.uncommitted.remove(&c.partition);
                        }
                    }
                    outcome.committed = answer.committed;
                    break;
                }
                Err(e) if attempt == 0 && (e.is_fenced() || e.is_unknown_member()) => {
                    tracing::warn!(group = %self.config.group, error = %e, "commit fenced; re-joining");
                    self.rejoin().await?;
                    offsets = self.still_owned(offsets, &mut outcome.revoked);
                }
                Err(e) => return Err(e.into()),
            }
        }
        outcome.revoked.sort_unstable();
        outcome.revoked.dedup();
        Ok(outcome)
    }

    /// Keeps the offsets of partitions owned at the same epoch; the others are forgotten and
    /// reported in `revoked`.
    fn still_owned(
        &mut self,
        offsets: Vec<OffsetCommit>,
        revoked: &mut Vec<u32>,
    ) -> Vec<OffsetCommit> {
        let owned = self
            .membership
            .lock()
            .expect("membership lock")
            .owned
            .clone();
        let (keep, lost): (Vec<_>, Vec<_>) = offsets
            .into_iter()
            .partition(|o| owned.get(&o.partition) == Some(&o.epoch));
        for o in lost {
            if self
                .uncommitted
                .get(&o.partition)
                .is_some_and(|u| u.epoch == o.epoch)
            {
                self.uncommitted.remove(&o.partition);
            }
            revoked.push(o.partition);
        }
        keep
    }

    /// Stops heartbeating, commits (with [`CommitMode::AfterPoll`]) and leaves the group, so its
    /// partitions move to other members at once.
    pub async fn shutdown(mut self) -> Result<(), ConsumeError> {
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
        let committed =
            if self.config.commit_mode == CommitMode::AfterPoll && !self.uncommitted.is_empty() {
                self.commit().await.map(drop)
            } else {
                Ok(())
            };
        self.left = true;
        let member_id = self.member_id();
        match self
            .client
            .leave_group(&self.config.group, &member_id)
            .await
        {
            Ok(()) => {}
            Err(e) if e.is_unknown_member() => {}
            Err(e) => return Err(e.into()),
        }
        committed
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
        if self.left {
            return;
        }
        // Leave in the background so the partitions move at once rather than after the lease.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let client = self.client.clone();
            let group = self.config.group.clone();
            let member_id = self.member_id();
            runtime.spawn(async move {
                if let Err(e) = client.leave_group(&group, &member_id).await {
                    tracing::debug!(group = %group, member = %member_id, error = %e, "leave on drop failed");
                }
            });
        }
    }
}
