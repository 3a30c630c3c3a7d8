//! The error of every [`BlobStore`](crate::BlobStore) operation.

use std::path::PathBuf;

/// Why a blob store operation failed.
///
/// [`BlobError::NotFound`] is the only variant that means "the object does not exist"; a missing
/// bucket, bad credentials or a network failure are [`BlobError::S3`] so that callers never mistake
/// a misconfiguration for a deleted object.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlobError {
    /// The object does not exist.
    #[error("blob not found: bucket {bucket}, key {key}")]
    NotFound {
        /// Bucket name of the store ([`BlobStore::bucket`](crate::BlobStore::bucket)).
        bucket: String,
        /// The key that was asked for.
        key: String,
    },

    /// The key cannot name an object (empty, absolute, `..`, ...). Nothing was read or written.
    #[error("invalid blob key {key:?}: {reason}")]
    InvalidKey {
        /// The rejected key.
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The store cannot do this operation (e.g. presigned URLs for a local directory).
    #[error("{operation} is not supported by the {store} blob store")]
    Unsupported {
        /// The operation that was asked for.
        operation: &'static str,
        /// Which kind of store refused it.
        store: &'static str,
    },

    /// A configuration value is out of range.
    #[error("invalid blob store config {field}: {reason}")]
    InvalidConfig {
        /// The config field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// A file system operation of the local directory store failed.
    #[error("blob i/o error during {operation} on {path}")]
    Io {
        /// What the store was doing.
        operation: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// An S3 request failed for another reason than a missing object.
    #[error("s3 {operation} failed (bucket {bucket}, key {key}): {message}")]
    S3 {
        /// The S3 operation (`PutObject`, `UploadPart`, ...).
        operation: &'static str,
        /// Bucket of the request.
        bucket: String,
        /// Full object key of the request (including the store's key prefix); empty for bucket
        /// operations.
        key: String,
        /// The SDK error with its whole chain of causes, rendered once for logs.
        message: String,
        /// The SDK error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}
