//! The resolve path: pointer → bytes, verified by bucket, size and SHA-256 ([`resolve`]).

use bytes::Bytes;

use super::pointer::{Pointer, PointerError};
use super::sha256_hex_off_runtime;
use crate::{BlobError, BlobStore};

/// Why [`resolve`] could not hand back the value. Each case is distinct so that a consumer can
/// decide (fail, or skip when told to) and report which object is broken.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// The pointed-to object does not exist (deleted early, or never uploaded).
    #[error("claim-check object not found: bucket {bucket}, key {key}")]
    NotFound {
        /// Bucket from the pointer.
        bucket: String,
        /// Key from the pointer.
        key: String,
    },
    /// The object has another size than the pointer says.
    #[error("claim-check object {bucket}/{key} has {actual} bytes, pointer says {expected}")]
    SizeMismatch {
        /// Bucket from the pointer.
        bucket: String,
        /// Key from the pointer.
        key: String,
        /// Size from the pointer.
        expected: u64,
        /// Size of the object read.
        actual: u64,
    },
    /// The object's SHA-256 differs from the pointer's.
    #[error("claim-check object {bucket}/{key} has sha256 {actual}, pointer says {expected}")]
    DigestMismatch {
        /// Bucket from the pointer.
        bucket: String,
        /// Key from the pointer.
        key: String,
        /// Digest from the pointer.
        expected: String,
        /// Digest of the object read.
        actual: String,
    },
    /// The pointer names a bucket that this store does not serve.
    #[error("claim-check pointer is for bucket {pointer_bucket}, this store serves {store_bucket}")]
    BucketMismatch {
        /// Bucket from the pointer.
        pointer_bucket: String,
        /// [`BlobStore::bucket`] of the store.
        store_bucket: String,
    },
    /// The pointer itself is malformed.
    #[error("invalid claim-check pointer")]
    InvalidPointer(#[from] PointerError),
    /// The store failed for another reason (network, permissions, i/o).
    #[error("claim-check read failed")]
    Store(#[source] BlobError),
}

/// Fetches the value a pointer refers to and checks its size and SHA-256.
pub async fn resolve<S: BlobStore + ?Sized>(
    store: &S,
    pointer: &Pointer,
) -> Result<Bytes, ResolveError> {
    pointer.validate()?;
    if pointer.bucket != store.bucket() {
        return Err(ResolveError::BucketMismatch {
            pointer_bucket: pointer.bucket.clone(),
            store_bucket: store.bucket().to_owned(),
        });
    }
    let bytes = match store.get(&pointer.key).await {
        Ok(bytes) => bytes,
        Err(BlobError::NotFound { .. }) => {
            return Err(ResolveError::NotFound {
                bucket: pointer.bucket.clone(),
                key: pointer.key.clone(),
            });
        }
        Err(other) => return Err(ResolveError::Store(other)),
    };
    let actual_size = bytes.len() as u64;
    if actual_size != pointer.size {
        return Err(ResolveError::SizeMismatch {
            bucket: pointer.bucket.clone(),
            key: pointer.key.clone(),
            expected: pointer.size,
            actual: actual_size,
        });
    }
    let actual_digest = sha256_hex_off_runtime(&bytes).await;
    if actual_digest != pointer.sha256 {
        return Err(ResolveError::DigestMismatch {
            bucket: pointer.bucket.clone(),
            key: pointer.key.clone(),
            expected: pointer.sha256.clone(),
            actual: actual_digest,
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LocalDirBlobStore;
    use crate::claim::offload;

    const VALUE: &[u8] = b"0123456789abcdef";

    /// A local store holding one offloaded value; the directory lives as long as the guard.
    async fn stored() -> (LocalDirBlobStore, Pointer, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalDirBlobStore::open(dir.path()).unwrap();
        let pointer = offload(&store, "wharf", "t", Bytes::from_static(VALUE), "")
            .await
            .unwrap();
        (store, pointer, dir)
    }

    async fn overwrite(store: &LocalDirBlobStore, pointer: &Pointer, bytes: &'static [u8]) {
        store
            .put(&pointer.key, Bytes::from_static(bytes), "")
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn an_intact_object_resolves_to_the_produced_bytes() {
        let (store, pointer, _dir) = stored().await;
        assert_eq!(resolve(&store, &pointer).await.unwrap(), VALUE);
    }

    #[tokio::test]
    async fn a_short_object_is_a_size_mismatch() {
        let (store, pointer, _dir) = stored().await;
        overwrite(&store, &pointer, b"0123").await;
        match resolve(&store, &pointer).await {
            Err(ResolveError::SizeMismatch {
                expected, actual, ..
            }) => assert_eq!((expected, actual), (16, 4)),
            other => panic!("expected a size mismatch, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_same_size_corrupt_object_is_a_digest_mismatch() {
        let (store, pointer, _dir) = stored().await;
        overwrite(&store, &pointer, b"0123456789abcdeX").await;
        match resolve(&store, &pointer).await {
            Err(ResolveError::DigestMismatch {
                expected, actual, ..
            }) => {
                assert_eq!(expected, pointer.sha256);
                assert_ne!(actual, expected);
            }
            other => panic!("expected a digest mismatch, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_pointer_whose_sha256_differs_from_the_object_is_a_digest_mismatch() {
        let (store, pointer, _dir) = stored().await;
        let lying = Pointer {
            sha256: "0".repeat(64),
            ..pointer
        };
        assert!(matches!(
            resolve(&store, &lying).await,
            Err(ResolveError::DigestMismatch { .. })
        ));
    }

    #[tokio::test]
    async fn a_missing_object_is_not_found_and_names_it() {
        let (store, pointer, _dir) = stored().await;
        store.delete(&pointer.key).await.unwrap();
        match resolve(&store, &pointer).await {
            Err(ResolveError::NotFound { key, .. }) => assert_eq!(key, pointer.key),
            other => panic!("expected not found, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_pointer_for_another_bucket_is_refused_before_reading() {
        let (store, pointer, _dir) = stored().await;
        let foreign = Pointer {
            bucket: "elsewhere".into(),
            ..pointer
        };
        assert!(matches!(
            resolve(&store, &foreign).await,
            Err(ResolveError::BucketMismatch { .. })
        ));
    }
}
