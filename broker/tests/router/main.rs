//! HTTP API tests that drive the broker's router in process (no `wharf-broker` process, no
//! port): validation, negotiation, error shapes, auth and the request/answer contract of the
//! README's "HTTP API v1". Process-level behaviour (kill -9, shutdown, restarts, ports) stays in
//! the other test files.

#[path = "../common/bodies.rs"]
mod bodies;
mod harness;

mod auth;
mod fetch;
mod groups;
mod ops;
mod produce;
mod topics;
