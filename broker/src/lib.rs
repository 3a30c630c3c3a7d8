//! The Wharf broker.
//!
//! Dependencies point one way: `api → group / topic → partition → log`.
//!
//! - [`log`]: synchronous segmented storage for one partition (files, CRC, indexes, recovery,
//!   retention). Knows nothing of HTTP or tokio.
//! - [`group`]: consumer groups for stateless consumers (leases, fair assignment, fenced commits).

pub mod group;
pub mod log;
