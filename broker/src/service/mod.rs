//! The service layer: what the broker does, without HTTP. Each operation is a plain async (or
//! synchronous) Rust function over the shared [`Broker`](crate::state::Broker) with typed errors
//! and outcome structs; the HTTP layer (`api`) only extracts, authorises, calls these and renders.
//!
//! - [`produce`]: validation, partitioning, claim check, idempotency keys, `acks`.

pub mod produce;
