//! Consumer groups for stateless consumers: leases, fair assignment, fenced commits.
//!
//! The [`Coordinator`] is synchronous and knows nothing of HTTP, tokio or the log: the service
//! layer calls it through [`EmbeddedGroups`] (under a mutex, with `now_ms` from the wall clock;
//! tests pass a simulated one) and tells it the topic's partition count. It supplies positions
//! and records advances; the service layer reads the log, resolves `earliest`/`latest`/timestamps
//! and adds high watermarks and lag.
//!
//! - [`coordinator`](Coordinator): the operations, one per HTTP endpoint.
//! - [`EmbeddedGroups`]: the coordinator behind a mutex as the service's
//!   [`GroupBackend`](crate::service::backend::GroupBackend), with the wall clock.
//! - `state`: one group's members, partition owners and the assignment rules.
//! - [`GroupSnapshot`] (`snapshot`): one group's whole state as a value, for a shared store that
//!   runs each transition of a group as load, coordinate, write back ([`crate::pg`]).
//! - [`store`]: the durable offset store ([`OffsetStore`], [`RedbOffsetStore`]).
//! - [`types`] (re-exported here): limits, requests, views and outcomes; [`error`]: one error enum
//!   per operation family.
//! - `tests` (unit tests against the real redb file store, including a SIGKILL of a committing
//!   child process) and `simulation` (proptest of random joins, heartbeats, polls, leaves, lapses,
//!   commits and restarts on a simulated clock; `PROPTEST_CASES` sets the case count).
//!
//! # Decisions
//! - **One topic per group, for good.** A group's first join or offset reset binds it to that
//!   topic, durably (the binding is stored with the offsets, [`store`]), and a join or reset
//!   naming another topic is [`JoinError::TopicMismatch`] / [`ResetError::TopicMismatch`] whether
//!   or not members are live. The binding ends only with [`Coordinator::delete_group`] (an admin's
//!   `DELETE /v1/groups/{group}`) or the deletion of the topic. Why: the HTTP layer authorises
//!   every group route against the binding ([`Coordinator::access`]); a binding that a restart
//!   forgot, or that a join could move, let a token with rights on another topic read or squat
//!   a group it has no right to.
//! - **Leases.** A member is live while `now_ms < lease_expires_at_ms`. Join, heartbeat, poll
//!   (`poll_positions` and `advance`) and an accepted commit renew it to `now_ms + lease_ms`;
//!   leave releases at once. Every call first sweeps the lapsed members of the group it touches;
//!   [`Coordinator::expire`] sweeps all groups. `now_ms` going backwards is clamped to the latest
//!   value seen. Lease state is not persisted: after a restart every member rejoins.
//! - **Member ids** are generated as `<group>-<16 hex>` unless given. A join naming a live member
//!   is an idempotent re-join: lease renewed, same partitions, same epochs. Concurrent
//!   invocations that share a member id are one member to the coordinator.
//! - **Assignment.** New members get the unowned partitions at once (the first member gets all).
//!   At its own heartbeat or poll, a member holding two or more partitions more than the
//!   least-loaded member gives its highest-numbered partitions to the least-loaded members (ties:
//!   smallest member id) until it holds at most one more; the giver learns it in that very
//!   response, the receiver at its next heartbeat/poll. Partitions of a member that leaves or
//!   lapses go at once to the live members with the fewest partitions. Hence: a partition has at
//!   most one owner, every partition has an owner while any member is live, and once every live
//!   member has heartbeated after the last join the counts differ by at most one.
//! - **Epochs.** Every ownership change of a partition (including release) takes a new epoch
//!   from one coordinator-wide counter: `generation << 40 | n`. The generation is persisted and
//!   bumped at every [`Coordinator::open`], so epochs are monotonic per partition and never
//!   reused across restarts without writing to disk at each rebalance. (Epochs exceed 2^40; they
//!   stay exact in JSON doubles up to generation 8191.)
//! - **Commits** are all-or-nothing. Accepted only if the member is live, every offset names the
//!   group's topic, and the member owns each partition at exactly the given epoch; otherwise
//!   [`CommitError::Fenced`] and nothing changes. Offsets are the next offset to consume (Kafka
//!   semantics) and may move backwards when the owner says so. The store fsyncs
//!   ([`redb::Durability::Immediate`]) before memory changes and before `commit` returns.
//! - **Positions.** A member's position on a partition starts at the committed offset (or, with
//!   none, [`Position::Reset`] with the member's `auto_offset_reset`, which the HTTP layer
//!   resolves and reports back through `advance`). Positions live in memory only and are dropped
//!   when the partition changes owner, so a new owner starts from the committed offset.
//! - **Resets** ([`Coordinator::reset_offsets`]) are refused with [`ResetError::MembersLive`]
//!   while any member is live, and may create the group (to prepare offsets for a new consumer).
//! - **Groups** exist from their first join or reset until they are deleted; [`GroupLimits`] caps
//!   their number, the members per group and the lease length. [`Coordinator::delete_group`]
//!   (no live member) and [`Coordinator::delete_topic`] forget offsets and bindings.
//!
//! Every error leaves the coordinator and the store unchanged; the HTTP layer maps them to statuses
//! (`api::error`).

mod coordinator;
mod embedded;
pub mod error;
mod snapshot;
mod state;
pub mod store;
pub mod types;

#[cfg(test)]
mod simulation;
#[cfg(test)]
mod tests;

pub use coordinator::Coordinator;
pub use embedded::{Clock, EmbeddedGroups};
pub use error::{
    BoundElsewhere, CommitError, DeleteGroupError, DescribeError, FenceReason, JoinError,
    MemberError, OpenError, ResetError,
};
pub use snapshot::GroupSnapshot;
pub use store::{OffsetStore, RedbOffsetStore, StoreError, StoredBinding, StoredOffset};
pub use types::*;
