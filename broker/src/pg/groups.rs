//! [`PgGroups`]: consumer groups in PostgreSQL, one row per group holding its
//! [`GroupSnapshot`]. Every transition locks the row (`SELECT … FOR UPDATE`), runs the
//! [`Coordinator`] logic on that group at the database's clock, writes the row back and commits
//! (module doc of [`crate::pg`]). Reads that change nothing (`access`, `topic_of`, `topics`,
//! `list_groups`) read the rows without locking.

use deadpool_postgres::Pool;
use tokio_postgres::Transaction;

use super::boxed;
use crate::group::{
    Advance, AdvanceOutcome, CommitOffset, CommitOutcome, Coordinator, DeleteGroupOutcome,
    DeleteTopicOutcome, ExpireOutcome, GroupAccess, GroupDescription, GroupLimits, GroupSnapshot,
    GroupSummary, JoinError, JoinRequest, LeaveOutcome, MemberView, PollPlan, ResetError,
    ResetOutcome, StoreError,
};
use crate::service::backend::{BoxFuture, GroupBackend};
use crate::service::groups::GroupError;

/// The database clock in ms since the Unix epoch.
const NOW_MS: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

fn remote<E: std::error::Error + Send + Sync + 'static>(
    operation: &'static str,
) -> impl FnOnce(E) -> GroupError {
    move |e| {
        GroupError::Store(StoreError::Remote {
            operation,
            source: boxed(e),
        })
    }
}

fn decode(name: &str, text: &str) -> Result<GroupSnapshot, GroupError> {
    serde_json::from_str(text).map_err(|e| {
        GroupError::Store(StoreError::Remote {
            operation: "decode group",
            source: format!("group {name}: {e}").into(),
        })
    })
}

fn as_ms(now: i64) -> u64 {
    u64::try_from(now).unwrap_or(0)
}

/// Whether a transition may create the group (and so must respect `max_groups`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Creates {
    No,
    Join,
    Reset,
}

/// Consumer groups in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgGroups {
    pool: Pool,
    limits: GroupLimits,
}

impl PgGroups {
    pub fn new(pool: Pool, limits: GroupLimits) -> Self {
        Self { pool, limits }
    }

    /// Runs one transition of `group` in one transaction: lock the row, coordinate, write back.
    /// An error from `f` rolls back: the coordinator leaves its state unchanged on errors, and
    /// the row is not written either way.
    async fn transition<T: Send>(
        &self,
        group: &str,
        creates: Creates,
        f: impl FnOnce(&mut Coordinator, u64) -> Result<T, GroupError> + Send,
    ) -> Result<T, GroupError> {
        let mut conn = self.pool.get().await.map_err(remote("connect"))?;
        let tx = conn.transaction().await.map_err(remote("begin"))?;
        if creates != Creates::No {
            // The row must exist to be locked; a concurrent insert of the same name waits for
            // this one and then does nothing.
            let empty = serde_json::to_string(&GroupSnapshot::default()).expect("serializes");
            tx.execute(
                "INSERT INTO wharf_groups (name, present, snapshot) VALUES ($1, false, $2)
                 ON CONFLICT (name) DO NOTHING",
                &[&group, &empty],
            )
            .await
            .map_err(remote("insert group"))?;
        }
        let row = tx
            .query_opt(
                &format!("SELECT snapshot, {NOW_MS} FROM wharf_groups WHERE name = $1 FOR UPDATE"),
                &[&group],
            )
            .await
            .map_err(remote("lock group"))?;
        let (snapshot, now_ms, has_row) = match row {
            Some(row) => (decode(group, row.get(0))?, as_ms(row.get(1)), true),
            None => (GroupSnapshot::default(), self.now_ms(&tx).await?, false),
        };
        if creates != Creates::No && !snapshot.exists() {
            self.check_group_count(&tx, creates).await?;
        }
        let mut coordinator = Coordinator::for_one_group(self.limits.clone(), group, snapshot);
        let out = f(&mut coordinator, now_ms)?;
        let snapshot = coordinator.into_snapshot(group);
        if has_row {
            let text = serde_json::to_string(&snapshot).expect("a group serializes");
            tx.execute(
                "UPDATE wharf_groups SET present = $2, snapshot = $3 WHERE name = $1",
                &[&group, &snapshot.exists(), &text],
            )
            .await
            .map_err(remote("write group"))?;
        } else {
            debug_assert!(
                !snapshot.exists(),
                "only a creating transition makes a group"
            );
        }
        tx.commit().await.map_err(remote("commit group"))?;
        Ok(out)
    }

    async fn now_ms(&self, tx: &Transaction<'_>) -> Result<u64, GroupError> {
        let row = tx
            .query_one(&format!("SELECT {NOW_MS}"), &[])
            .await
            .map_err(remote("read clock"))?;
        Ok(as_ms(row.get(0)))
    }

    /// Refuses a transition that would create one group more than `max_groups`.
    async fn check_group_count(
        &self,
        tx: &Transaction<'_>,
        creates: Creates,
    ) -> Result<(), GroupError> {
        let row = tx
            .query_one("SELECT count(*) FROM wharf_groups WHERE present", &[])
            .await
            .map_err(remote("count groups"))?;
        let count = usize::try_from(row.get::<_, i64>(0)).unwrap_or(usize::MAX);
        let max_groups = self.limits.max_groups;
        if count < max_groups {
            return Ok(());
        }
        Err(match creates {
            Creates::Reset => ResetError::TooManyGroups { max_groups }.into(),
            _ => JoinError::TooManyGroups { max_groups }.into(),
        })
    }

    /// Every existing group's snapshot, and the database clock.
    async fn snapshots(&self) -> Result<(Vec<(String, GroupSnapshot)>, u64), GroupError> {
        let conn = self.pool.get().await.map_err(remote("connect"))?;
        let rows = conn
            .query(
                &format!(
                    "SELECT name, snapshot, {NOW_MS} FROM wharf_groups WHERE present ORDER BY name"
                ),
                &[],
            )
            .await
            .map_err(remote("list groups"))?;
        let mut now_ms = 0;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let name: String = row.get(0);
            let snapshot = decode(&name, row.get(1))?;
            now_ms = as_ms(row.get(2));
            out.push((name, snapshot));
        }
        Ok((out, now_ms))
    }

    /// One group's snapshot, unlocked.
    async fn snapshot(&self, group: &str) -> Result<GroupSnapshot, GroupError> {
        let conn = self.pool.get().await.map_err(remote("connect"))?;
        let row = conn
            .query_opt(
                "SELECT snapshot FROM wharf_groups WHERE name = $1",
                &[&group],
            )
            .await
            .map_err(remote("read group"))?;
        match row {
            Some(row) => decode(group, row.get(0)),
            None => Ok(GroupSnapshot::default()),
        }
    }
}

impl GroupBackend for PgGroups {
    fn join<'a>(
        &'a self,
        group: &'a str,
        request: JoinRequest,
        partitions: u32,
    ) -> BoxFuture<'a, Result<MemberView, GroupError>> {
        Box::pin(self.transition(group, Creates::Join, move |c, now| {
            Ok(c.join(now, group, request, partitions)?)
        }))
    }

    fn heartbeat<'a>(
        &'a self,
        group: &'a str,
        member: &'a str,
        partitions: u32,
    ) -> BoxFuture<'a, Result<MemberView, GroupError>> {
        Box::pin(self.transition(group, Creates::No, move |c, now| {
            Ok(c.heartbeat(now, group, member, partitions)?)
        }))
    }

    fn poll_positions<'a>(
        &'a self,
        group: &'a str,
        member: &'a str,
        partitions: u32,
    ) -> BoxFuture<'a, Result<PollPlan, GroupError>> {
        Box::pin(self.transition(group, Creates::No, move |c, now| {
            Ok(c.poll_positions(now, group, member, partitions)?)
        }))
    }

    fn advance<'a>(
        &'a self,
        group: &'a str,
        member: &'a str,
        advances: &'a [Advance],
    ) -> BoxFuture<'a, Result<AdvanceOutcome, GroupError>> {
        Box::pin(self.transition(group, Creates::No, move |c, now| {
            Ok(c.advance(now, group, member, advances))
        }))
    }

    fn leave<'a>(
        &'a self,
        group: &'a str,
        member: &'a str,
    ) -> BoxFuture<'a, Result<LeaveOutcome, GroupError>> {
        Box::pin(self.transition(group, Creates::No, move |c, now| {
            Ok(c.leave(now, group, member)?)
        }))
    }

    fn commit<'a>(
        &'a self,
        group: &'a str,
        member: &'a str,
        offsets: &'a [CommitOffset],
    ) -> BoxFuture<'a, Result<CommitOutcome, GroupError>> {
        Box::pin(self.transition(group, Creates::No, move |c, now| {
            Ok(c.commit(now, group, member, offsets)?)
        }))
    }

    fn reset_offsets<'a>(
        &'a self,
        group: &'a str,
        topic: &'a str,
        offsets: &'a [(u32, u64)],
    ) -> BoxFuture<'a, Result<ResetOutcome, GroupError>> {
        Box::pin(self.transition(group, Creates::Reset, move |c, now| {
            Ok(c.reset_offsets(now, group, topic, offsets)?)
        }))
    }

    fn list_groups(&self) -> BoxFuture<'_, Result<Vec<GroupSummary>, GroupError>> {
        Box::pin(async move {
            let (snapshots, now_ms) = self.snapshots().await?;
            Ok(snapshots
                .iter()
                .filter_map(|(name, s)| s.summary(name, now_ms))
                .collect())
        })
    }

    fn describe<'a>(
        &'a self,
        group: &'a str,
    ) -> BoxFuture<'a, Result<GroupDescription, GroupError>> {
        // A transition, not a read: it sweeps lapsed members, and the epochs it shows must be
        // the ones that are written back.
        Box::pin(self.transition(group, Creates::No, move |c, now| {
            Ok(c.describe(now, group)?)
        }))
    }

    fn expire(&self) -> BoxFuture<'_, Result<ExpireOutcome, GroupError>> {
        Box::pin(async move {
            let (snapshots, _) = self.snapshots().await?;
            let mut expired = Vec::new();
            for (name, _) in snapshots {
                let outcome = self
                    .transition(&name, Creates::No, |c, now| Ok(c.expire(now)))
                    .await?;
                expired.extend(outcome.expired);
            }
            Ok(ExpireOutcome { expired })
        })
    }

    fn delete_group<'a>(
        &'a self,
        group: &'a str,
    ) -> BoxFuture<'a, Result<DeleteGroupOutcome, GroupError>> {
        Box::pin(self.transition(group, Creates::No, move |c, now| {
            Ok(c.delete_group(now, group)?)
        }))
    }

    fn delete_topic<'a>(
        &'a self,
        topic: &'a str,
    ) -> BoxFuture<'a, Result<DeleteTopicOutcome, GroupError>> {
        Box::pin(async move {
            let (snapshots, _) = self.snapshots().await?;
            let mut total = DeleteTopicOutcome::default();
            for (name, snapshot) in snapshots {
                if !snapshot.topics().iter().any(|t| t == topic) {
                    continue;
                }
                let outcome = self
                    .transition(&name, Creates::No, |c, _| Ok(c.delete_topic(topic)?))
                    .await?;
                total.offsets_deleted += outcome.offsets_deleted;
                total.members_removed += outcome.members_removed;
            }
            Ok(total)
        })
    }

    fn access<'a>(&'a self, group: &'a str) -> BoxFuture<'a, Result<GroupAccess, GroupError>> {
        Box::pin(async move { Ok(self.snapshot(group).await?.access()) })
    }

    fn topic_of<'a>(&'a self, group: &'a str) -> BoxFuture<'a, Result<Option<String>, GroupError>> {
        Box::pin(async move { Ok(self.snapshot(group).await?.topic().map(str::to_owned)) })
    }

    fn topics(&self) -> BoxFuture<'_, Result<Vec<String>, GroupError>> {
        Box::pin(async move {
            let (snapshots, _) = self.snapshots().await?;
            let mut topics: Vec<String> = snapshots.iter().flat_map(|(_, s)| s.topics()).collect();
            topics.sort();
            topics.dedup();
            Ok(topics)
        })
    }
}
