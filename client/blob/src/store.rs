//! The [`BlobStore`] trait: what the broker and the client need from an object store.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;

use crate::BlobError;

/// The future every [`BlobStore`] method returns: boxed so that the trait stays object safe
/// (`Arc<dyn BlobStore>`) without the `async-trait` crate, and `Send` so that it can be awaited in
/// a spawned tokio task.
pub type BlobFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, BlobError>> + Send + 'a>>;

/// An object store holding claim-check payloads.
///
/// Keys are checked with [`validate_key`](crate::validate_key) by every method before anything is
/// read or written. Implementations are cheap to share: hold them as `Arc<dyn BlobStore>`.
pub trait BlobStore: Send + Sync + std::fmt::Debug {
    /// The bucket name written into claim-check pointers; [`resolve`](crate::resolve) refuses a
    /// pointer whose bucket differs.
    fn bucket(&self) -> &str;

    /// Human-readable location for logs and errors (`s3://bucket/prefix`, `/data/blobs`).
    fn location(&self) -> String;

    /// Stores `bytes` under `key`, replacing any previous object. Readers see either the old or
    /// the new object, never a partial one.
    fn put<'a>(
        &'a self,
        key: &'a str,
        bytes: Bytes,
        content_type: &'a str,
    ) -> BlobFuture<'a, PutOutcome>;

    /// Reads the whole object. A missing object is [`BlobError::NotFound`].
    fn get<'a>(&'a self, key: &'a str) -> BlobFuture<'a, Bytes>;

    /// Size (and, where the store keeps it, content type) without reading the object.
    /// A missing object is [`BlobError::NotFound`].
    fn head<'a>(&'a self, key: &'a str) -> BlobFuture<'a, ObjectInfo>;

    /// Removes the object. Deleting a missing object succeeds (idempotent), so retention cleanup
    /// can be retried safely.
    fn delete<'a>(&'a self, key: &'a str) -> BlobFuture<'a, DeleteOutcome>;

    /// A URL that lets a plain HTTP client GET the object for `expires_in` without credentials.
    /// Presigning does not check that the object exists.
    ///
    /// S3 returns a SigV4 presigned URL (at most 7 days). The local directory store returns
    /// [`BlobError::Unsupported`]: a `file://` URL would be useless to a remote HTTP reader and
    /// would leak the broker's file layout, so callers serve the bytes instead.
    fn presign_get<'a>(&'a self, key: &'a str, expires_in: Duration) -> BlobFuture<'a, String>;
}

/// What a [`BlobStore::put`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutOutcome {
    /// The key as given to `put` (without the S3 store's key prefix).
    pub key: String,
    /// Bytes stored.
    pub size_bytes: u64,
    /// Number of uploaded parts: 1 for a single request (and for the local store), more for an S3
    /// multipart upload.
    pub parts: u32,
    /// Entity tag returned by S3; `None` for the local store.
    pub e_tag: Option<String>,
}

/// Metadata of a stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Object size.
    pub size_bytes: u64,
    /// Content type stored with the object; `None` where the store does not keep it (local
    /// directory).
    pub content_type: Option<String>,
}

/// What a [`BlobStore::delete`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeleteOutcome {
    /// Whether an object existed: `Some` where the store can tell (local directory), `None` for S3,
    /// whose `DeleteObject` answers the same either way.
    pub existed: Option<bool>,
}
