//! The claim check, written once for the broker, the client and the functions.
//!
//! A value larger than [`OffloadPolicy::threshold_bytes`] goes to the blob store under
//! `<prefix>/<topic>/<yyyy>/<mm>/<dd>/<uuid>` and the record carries the header
//! [`PAYLOAD_HEADER`]` = `[`PAYLOAD_HEADER_S3`] with the JSON [`Pointer`]
//! `{"bucket","key","size","sha256","content_type"}` as its value. A reader that sees the header
//! resolves it, which fails loudly on a missing object or on a size or digest mismatch.
//!
//! Module map:
//! - [`pointer`]: the wire contract: [`Pointer`], the header constants, how a record is recognised
//!   as a pointer ([`is_pointer`]) or as already claimed ([`is_claimed`]), content types.
//! - [`record`]: [`ClaimRecord`], the neutral record view (value, JSON flag, headers) each crate
//!   implements for its record types.
//! - [`offload`](mod@offload): the offload rule ([`OffloadPolicy`]), key naming ([`object_key`])
//!   and the value-level upload ([`offload()`]).
//! - [`resolve`](mod@resolve): the value-level read that verifies bucket, size and SHA-256
//!   ([`resolve()`]).
//! - [`check`]: [`ClaimCheck`] (store + prefix + rule over whole records) and
//!   [`ClaimCheckConfig`], the configuration the broker's and the functions' settings convert into.

pub mod check;
pub mod offload;
pub mod pointer;
pub mod record;
pub mod resolve;

use bytes::Bytes;
use sha2::{Digest, Sha256};

pub use check::{ClaimCheck, ClaimCheckConfig, StoreConfig, set_resolved};
pub use offload::{
    DEFAULT_KEY_PREFIX, DEFAULT_OFFLOAD_THRESHOLD_BYTES, OffloadError, OffloadPolicy, object_key,
    offload,
};
pub use pointer::{
    DEFAULT_CONTENT_TYPE, JSON_CONTENT_TYPE, PAYLOAD_HEADER, PAYLOAD_HEADER_S3, Pointer,
    PointerError, content_type_for, is_claimed, is_pointer,
};
pub use record::ClaimRecord;
pub use resolve::{ResolveError, resolve};

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Values above this are hashed on tokio's blocking pool: SHA-256 of a few MiB takes
/// milliseconds, which would stall every other task on the worker thread.
const INLINE_DIGEST_MAX_BYTES: usize = 1024 * 1024;

pub(crate) async fn sha256_hex_off_runtime(bytes: &Bytes) -> String {
    if bytes.len() <= INLINE_DIGEST_MAX_BYTES {
        return sha256_hex(bytes);
    }
    let shared = bytes.clone(); // reference count, not a copy
    match tokio::task::spawn_blocking(move || sha256_hex(&shared)).await {
        Ok(digest) => digest,
        Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
        // Only when the runtime is shutting down: hashing here is still correct.
        Err(_) => sha256_hex(bytes),
    }
}
