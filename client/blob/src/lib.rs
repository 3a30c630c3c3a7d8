//! Blob storage for Wharf claim checks.
//!
//! Records whose value is larger than the offload threshold do not go into the log: the value is
//! uploaded to a blob store and the log keeps a small JSON [`Pointer`] (the claim check) with the
//! header `wharf-payload: s3`. The broker, the client and the functions all offload and resolve
//! through [`ClaimCheck`], over an `Arc<dyn BlobStore>`.
//!
//! Module map:
//! - [`store`]: the object-safe [`BlobStore`] trait and its outcome types ([`PutOutcome`],
//!   [`ObjectInfo`], [`DeleteOutcome`]).
//! - [`key`]: object key validation shared by every store (no absolute paths, no `..`).
//! - [`s3`]: [`S3BlobStore`] over `aws-sdk-s3` (multipart above a threshold, SigV4 presigned GETs).
//! - [`local`]: [`LocalDirBlobStore`], objects as files under a root directory with atomic writes;
//!   the broker's embedded default.
//! - [`claim`]: the claim check, written once for the broker, the client and the functions: the
//!   pointer wire contract ([`Pointer`], the `wharf-payload` header), the offload rule
//!   ([`OffloadPolicy`], key naming, [`offload`]), the verified [`resolve`], and [`ClaimCheck`]
//!   over any record type that implements [`ClaimRecord`], opened from a [`ClaimCheckConfig`].
//! - [`error`]: [`BlobError`], the error of every store operation.
//! - [`aws`]: [`aws::sdk_config_loader`], the AWS SDK configuration every Wharf SDK client starts
//!   from (one TLS stack: rustls on ring).
//!
//! The trait returns boxed futures ([`BlobFuture`]) instead of `async fn` so that
//! `dyn BlobStore` works without the `async-trait` crate.

pub mod aws;
pub mod claim;
pub mod error;
pub mod key;
pub mod local;
pub mod s3;
pub mod store;

pub use claim::{
    ClaimCheck, ClaimCheckConfig, ClaimRecord, DEFAULT_KEY_PREFIX, DEFAULT_OFFLOAD_THRESHOLD_BYTES,
    OffloadError, OffloadPolicy, PAYLOAD_HEADER, PAYLOAD_HEADER_S3, Pointer, PointerError,
    ResolveError, StoreConfig, is_pointer, object_key, offload, resolve,
};
pub use error::BlobError;
pub use key::validate_key;
pub use local::LocalDirBlobStore;
pub use s3::{EnsureBucketOutcome, S3BlobStore, S3Config};
pub use store::{BlobFuture, BlobStore, DeleteOutcome, ObjectInfo, PutOutcome};
