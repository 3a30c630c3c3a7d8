//! Background-job leadership: lease expiry, retention and idempotency expiry run on exactly one
//! gateway at a time. A shared store elects that gateway (a PostgreSQL advisory lock held on one
//! session, which the database releases when the gateway dies); one embedded broker is always
//! its own leader.

use std::fmt::Debug;

use super::BoxFuture;

/// Whether this gateway runs the background jobs now.
pub trait Leadership: Send + Sync + Debug {
    /// Answers whether this gateway leads now, trying to become leader if no one does. A job
    /// asks before every run, so leadership can move between runs.
    fn is_leader(&self) -> BoxFuture<'_, bool>;
}

/// The embedded broker's leadership: it is the only gateway, so always the leader.
#[derive(Debug, Default, Clone, Copy)]
pub struct AlwaysLeader;

impl Leadership for AlwaysLeader {
    fn is_leader(&self) -> BoxFuture<'_, bool> {
        Box::pin(std::future::ready(true))
    }
}
