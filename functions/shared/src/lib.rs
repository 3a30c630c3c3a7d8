//! What both Wharf Lambda functions need, read once per cold start.
//!
//! - [`env`]: typed reads of `WHARF_*` environment variables with errors that name the variable
//!   ([`ConfigError`]).
//! - [`broker`]: the broker client settings (`WHARF_URL`, `WHARF_TOKEN`).
//! - [`claim`]: the claim-check settings (`WHARF_OFFLOAD_BUCKET` or `WHARF_OFFLOAD_DIR`, threshold
//!   `WHARF_OFFLOAD_THRESHOLD_BYTES`), which open the shared [`wharf_blob::ClaimCheck`], and the
//!   offload/resolve steps both functions apply, with their error context.
//! - [`idempotency`]: `Idempotency-Key`s derived from the event a function handles, so Lambda's
//!   retries of the same event never append twice.
//! - [`logging`]: the log subscriber every function's `main` installs first.

pub mod broker;
pub mod claim;
pub mod env;
pub mod idempotency;
pub mod logging;

pub use broker::broker_config_from_env;
pub use claim::{
    ClaimCheck, ClaimCheckConfig, ClaimCheckError, is_pointer, offload_record, resolve_record,
};
pub use env::{ConfigError, Env};
pub use idempotency::derived_key;
