//! One behavioural suite for every `BlobStore`: each case in `cases` runs against the local
//! directory store (`local_dir::<case>`) and against S3 in LocalStack (`s3::<case>`), followed by
//! the checks that only make sense for one of them.
//!
//! The S3 cases need `WHARF_TEST_S3_ENDPOINT` (set by `bash infra/local/test.sh`); without it they
//! fail, they never pass silently. Every S3 case gets its own freshly created bucket.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::config::{Credentials, Region};
use bytes::Bytes;
use wharf_blob::{
    BlobError, BlobStore, ClaimCheck, ClaimRecord, LocalDirBlobStore, OffloadError, Pointer,
    ResolveError, S3BlobStore, S3Config, is_pointer, offload, resolve,
};

const MIB: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    LocalDir,
    S3,
}

/// A store under test plus what is needed to inspect and clean it up.
struct Target {
    kind: Kind,
    store: Arc<dyn BlobStore>,
    local: Option<(LocalDirBlobStore, tempfile::TempDir)>,
    s3: Option<S3BlobStore>,
}

fn s3_endpoint() -> String {
    match std::env::var("WHARF_TEST_S3_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => endpoint,
        _ => panic!(
            "WHARF_TEST_S3_ENDPOINT is not set: the S3 conformance tests need LocalStack. Run \
             `bash infra/local/test.sh`, or `bash infra/local/stack.sh up && eval \"$(bash \
             infra/local/stack.sh env)\"` and then cargo test / nextest"
        ),
    }
}

/// The SDK config LocalStack expects: static test credentials, us-east-1.
async fn localstack_sdk_config() -> aws_config::SdkConfig {
    wharf_blob::aws::sdk_config_loader()
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "wharf-tests"))
        .load()
        .await
}

fn fresh_bucket_name() -> String {
    format!(
        "wharf-test-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..20]
    )
}

async fn s3_store(config: S3Config) -> S3BlobStore {
    let store = S3BlobStore::from_sdk_config(&localstack_sdk_config().await, config)
        .expect("valid S3 config");
    let outcome = store.ensure_bucket().await.expect("create test bucket");
    assert!(outcome.created, "test bucket names are unique");
    store
}

fn localstack_config(bucket: String) -> S3Config {
    S3Config {
        endpoint_url: Some(s3_endpoint()),
        force_path_style: true,
        ..S3Config::new(bucket)
    }
}

impl Target {
    fn local_dir() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = LocalDirBlobStore::open(dir.path().join("blobs")).expect("open store");
        Self {
            kind: Kind::LocalDir,
            store: Arc::new(store.clone()),
            local: Some((store, dir)),
            s3: None,
        }
    }

    async fn s3() -> Self {
        let store = s3_store(localstack_config(fresh_bucket_name())).await;
        Self {
            kind: Kind::S3,
            store: Arc::new(store.clone()),
            local: None,
            s3: Some(store),
        }
    }

    /// Removes what the case left behind (only reached when the case passed, so a failing case
    /// leaves its bucket for inspection).
    async fn finish(self) {
        if let Some(store) = self.s3 {
            empty_and_delete_bucket(&store).await;
        }
    }
}

async fn empty_and_delete_bucket(store: &S3BlobStore) {
    let client = store.client();
    let bucket = &store.config().bucket;
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        for object in page.expect("list objects").contents() {
            client
                .delete_object()
                .bucket(bucket)
                .key(object.key().unwrap_or_default())
                .send()
                .await
                .expect("delete object");
        }
    }
    client
        .delete_bucket()
        .bucket(bucket)
        .send()
        .await
        .expect("delete bucket");
}

/// Deterministic, incompressible-looking bytes (xorshift) so that a shifted or reordered part
/// cannot compare equal.
fn pattern(len: usize, seed: u64) -> Bytes {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    Bytes::from(out)
}

macro_rules! conformance {
    ($($case:ident),+ $(,)?) => {
        mod local_dir {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let target = super::Target::local_dir();
                    super::cases::$case(&target).await;
                    target.finish().await;
                }
            )+
        }
        mod s3 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let target = super::Target::s3().await;
                    super::cases::$case(&target).await;
                    target.finish().await;
                }
            )+
        }
    };
}

conformance!(
    round_trip_of_empty_object,
    round_trip_of_small_object_keeps_content_type_where_stored,
    round_trip_of_10_mib_object_uses_multipart_on_s3,
    overwrite_replaces_the_whole_object,
    get_of_missing_key_is_not_found_naming_bucket_and_key,
    head_reports_size_and_missing_key_is_not_found,
    delete_is_idempotent,
    keys_with_slashes_are_independent_objects,
    invalid_keys_are_rejected_before_any_io,
    concurrent_overwrites_leave_one_complete_value,
    offload_then_resolve_round_trips_with_the_design_key_layout,
    offload_rejects_topics_that_cannot_be_key_segments,
    resolve_reports_same_size_corruption_as_digest_mismatch,
    resolve_reports_truncated_object_as_size_mismatch,
    resolve_reports_deleted_object_as_not_found,
    resolve_refuses_a_pointer_for_another_bucket,
    claim_check_restores_an_offloaded_record,
    presign_get_serves_the_object_to_a_plain_http_client,
);

mod cases {
    use super::*;

    pub async fn round_trip_of_empty_object(t: &Target) {
        let outcome = t
            .store
            .put("empty", Bytes::new(), "application/octet-stream")
            .await
            .unwrap();
        assert_eq!(outcome.size_bytes, 0);
        assert_eq!(outcome.key, "empty");
        assert_eq!(t.store.get("empty").await.unwrap(), Bytes::new());
        assert_eq!(t.store.head("empty").await.unwrap().size_bytes, 0);
    }

    pub async fn round_trip_of_small_object_keeps_content_type_where_stored(t: &Target) {
        let value = Bytes::from_static(br#"{"id":42,"sku":"A-1"}"#);
        let outcome = t
            .store
            .put("small.json", value.clone(), "application/json")
            .await
            .unwrap();
        assert_eq!(outcome.parts, 1);
        assert_eq!(outcome.size_bytes, value.len() as u64);
        assert_eq!(t.store.get("small.json").await.unwrap(), value);
        let info = t.store.head("small.json").await.unwrap();
        let expected = match t.kind {
            Kind::S3 => Some("application/json".to_owned()),
            Kind::LocalDir => None,
        };
        assert_eq!(info.content_type, expected);
    }

    pub async fn round_trip_of_10_mib_object_uses_multipart_on_s3(t: &Target) {
        let value = pattern(10 * MIB, 1);
        let outcome = t
            .store
            .put("big/10mib.bin", value.clone(), "application/octet-stream")
            .await
            .unwrap();
        // 8 MiB threshold and parts: 8 MiB + 2 MiB.
        let expected_parts = match t.kind {
            Kind::S3 => 2,
            Kind::LocalDir => 1,
        };
        assert_eq!(outcome.parts, expected_parts);
        assert_eq!(outcome.size_bytes, value.len() as u64);
        let read = t.store.get("big/10mib.bin").await.unwrap();
        assert_eq!(read.len(), value.len());
        assert!(read == value, "10 MiB object read back differs");
        assert_eq!(
            t.store.head("big/10mib.bin").await.unwrap().size_bytes,
            10 * MIB as u64
        );
    }

    pub async fn overwrite_replaces_the_whole_object(t: &Target) {
        t.store
            .put("k", pattern(4096, 2), "application/octet-stream")
            .await
            .unwrap();
        let shorter = Bytes::from_static(b"short");
        t.store
            .put("k", shorter.clone(), "text/plain")
            .await
            .unwrap();
        // No tail of the longer first version may survive.
        assert_eq!(t.store.get("k").await.unwrap(), shorter);
        assert_eq!(t.store.head("k").await.unwrap().size_bytes, 5);
    }

    pub async fn get_of_missing_key_is_not_found_naming_bucket_and_key(t: &Target) {
        match t.store.get("no/such/key").await {
            Err(BlobError::NotFound { bucket, key }) => {
                assert_eq!(bucket, t.store.bucket());
                assert_eq!(key, "no/such/key");
            }
            other => panic!("expected NotFound, got {other:?}"),
        }
    }

    pub async fn head_reports_size_and_missing_key_is_not_found(t: &Target) {
        t.store
            .put("sized", pattern(1234, 3), "application/octet-stream")
            .await
            .unwrap();
        assert_eq!(t.store.head("sized").await.unwrap().size_bytes, 1234);
        assert!(matches!(
            t.store.head("missing").await,
            Err(BlobError::NotFound { .. })
        ));
    }

    pub async fn delete_is_idempotent(t: &Target) {
        t.store
            .put("gone", Bytes::from_static(b"x"), "text/plain")
            .await
            .unwrap();
        let first = t.store.delete("gone").await.unwrap();
        assert!(matches!(
            t.store.get("gone").await,
            Err(BlobError::NotFound { .. })
        ));
        let second = t.store.delete("gone").await.unwrap();
        let never = t.store.delete("never/existed").await.unwrap();
        if t.kind == Kind::LocalDir {
            assert_eq!(first.existed, Some(true));
            assert_eq!(second.existed, Some(false));
            assert_eq!(never.existed, Some(false));
        }
    }

    pub async fn keys_with_slashes_are_independent_objects(t: &Target) {
        let keys = [
            "p/t/2026/01/02/a",
            "p/t/2026/01/02/b",
            "p/t/2026/01/03/a",
            "p/u",
        ];
        for (i, key) in keys.iter().enumerate() {
            t.store
                .put(key, pattern(100 + i, i as u64), "application/octet-stream")
                .await
                .unwrap();
        }
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(t.store.get(key).await.unwrap(), pattern(100 + i, i as u64));
        }
        t.store.delete("p/t/2026/01/02/a").await.unwrap();
        assert!(t.store.get("p/t/2026/01/02/b").await.is_ok());
        // A "directory" is not an object.
        assert!(matches!(
            t.store.get("p/t").await,
            Err(BlobError::NotFound { .. })
        ));
    }

    pub async fn invalid_keys_are_rejected_before_any_io(t: &Target) {
        for key in ["", "/abs", "a/../b", "..", "a//b", "a/"] {
            let put = t
                .store
                .put(key, Bytes::from_static(b"x"), "text/plain")
                .await;
            assert!(
                matches!(put, Err(BlobError::InvalidKey { .. })),
                "put {key:?}: {put:?}"
            );
            assert!(matches!(
                t.store.get(key).await,
                Err(BlobError::InvalidKey { .. })
            ));
            assert!(matches!(
                t.store.delete(key).await,
                Err(BlobError::InvalidKey { .. })
            ));
        }
        if let Some((local, _dir)) = &t.local {
            // Nothing was created next to (or above) the root.
            let parent = local.root().parent().unwrap();
            let entries: Vec<_> = std::fs::read_dir(parent).unwrap().collect();
            assert_eq!(entries.len(), 1, "only the store root exists: {entries:?}");
        }
    }

    pub async fn concurrent_overwrites_leave_one_complete_value(t: &Target) {
        let values: Vec<Bytes> = (0..4).map(|i| pattern(64 * 1024, 10 + i)).collect();
        let puts = values.iter().map(|v| {
            let store = Arc::clone(&t.store);
            let v = v.clone();
            tokio::spawn(async move { store.put("contended", v, "application/octet-stream").await })
        });
        for put in futures::future::join_all(puts).await {
            put.unwrap().unwrap();
        }
        let read = t.store.get("contended").await.unwrap();
        assert!(
            values.contains(&read),
            "the object is not exactly one of the written values"
        );
    }

    pub async fn offload_then_resolve_round_trips_with_the_design_key_layout(t: &Target) {
        let value = pattern(300 * 1024, 4);
        let pointer = offload(
            t.store.as_ref(),
            "wharf",
            "orders.created",
            value.clone(),
            "application/json",
        )
        .await
        .unwrap();
        assert_eq!(pointer.bucket, t.store.bucket());
        assert_eq!(pointer.size, value.len() as u64);
        assert_eq!(pointer.content_type, "application/json");
        let expected_digest = {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(&value))
        };
        assert_eq!(pointer.sha256, expected_digest);

        // <prefix>/<topic>/<yyyy>/<mm>/<dd>/<uuid>, dated today (UTC).
        let segments: Vec<&str> = pointer.key.split('/').collect();
        assert_eq!(segments.len(), 6, "{}", pointer.key);
        assert_eq!(&segments[..2], ["wharf", "orders.created"]);
        let today = time::OffsetDateTime::now_utc();
        assert!(
            [today, today - time::Duration::minutes(1)]
                .iter()
                .any(|d| segments[2] == format!("{:04}", d.year())
                    && segments[3] == format!("{:02}", u8::from(d.month()))
                    && segments[4] == format!("{:02}", d.day())),
            "{}",
            pointer.key
        );
        uuid::Uuid::parse_str(segments[5]).expect("last segment is a uuid");

        // The pointer survives its JSON form, and resolving it yields the value.
        let parsed = Pointer::from_json(&pointer.to_json()).unwrap();
        assert_eq!(parsed, pointer);
        assert_eq!(resolve(t.store.as_ref(), &parsed).await.unwrap(), value);
        assert_eq!(
            t.store.head(&pointer.key).await.unwrap().size_bytes,
            pointer.size
        );

        // Above 1 MiB the digest is computed on the blocking pool; it must be the same digest.
        let large = pattern(3 * MIB, 12);
        let pointer = offload(
            t.store.as_ref(),
            "wharf",
            "orders.created",
            large.clone(),
            "",
        )
        .await
        .unwrap();
        let expected_digest = {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(&large))
        };
        assert_eq!(pointer.sha256, expected_digest);
        assert!(resolve(t.store.as_ref(), &pointer).await.unwrap() == large);
    }

    pub async fn offload_rejects_topics_that_cannot_be_key_segments(t: &Target) {
        for topic in ["..", "a/b", ""] {
            let result = offload(
                t.store.as_ref(),
                "wharf",
                topic,
                Bytes::from_static(b"v"),
                "",
            )
            .await;
            assert!(
                matches!(result, Err(OffloadError::InvalidTopic { .. })),
                "{topic:?}: {result:?}"
            );
        }
    }

    async fn offloaded(t: &Target, len: usize) -> (Pointer, Bytes) {
        let value = pattern(len, 5);
        let pointer = offload(t.store.as_ref(), "wharf", "t", value.clone(), "")
            .await
            .unwrap();
        assert_eq!(pointer.content_type, "application/octet-stream");
        (pointer, value)
    }

    pub async fn resolve_reports_same_size_corruption_as_digest_mismatch(t: &Target) {
        let (pointer, value) = offloaded(t, 4096).await;
        let mut corrupted = value.to_vec();
        corrupted[1000] ^= 0x01;
        t.store
            .put(
                &pointer.key,
                Bytes::from(corrupted),
                "application/octet-stream",
            )
            .await
            .unwrap();
        match resolve(t.store.as_ref(), &pointer).await {
            Err(ResolveError::DigestMismatch {
                key,
                expected,
                actual,
                ..
            }) => {
                assert_eq!(key, pointer.key);
                assert_eq!(expected, pointer.sha256);
                assert_ne!(actual, expected);
                assert_eq!(actual.len(), 64);
            }
            other => panic!("expected DigestMismatch, got {other:?}"),
        }
    }

    pub async fn resolve_reports_truncated_object_as_size_mismatch(t: &Target) {
        let (pointer, value) = offloaded(t, 4096).await;
        t.store
            .put(
                &pointer.key,
                value.slice(..4000),
                "application/octet-stream",
            )
            .await
            .unwrap();
        match resolve(t.store.as_ref(), &pointer).await {
            Err(ResolveError::SizeMismatch {
                expected, actual, ..
            }) => {
                assert_eq!((expected, actual), (4096, 4000));
            }
            other => panic!("expected SizeMismatch, got {other:?}"),
        }
    }

    pub async fn resolve_reports_deleted_object_as_not_found(t: &Target) {
        let (pointer, _) = offloaded(t, 10).await;
        t.store.delete(&pointer.key).await.unwrap();
        match resolve(t.store.as_ref(), &pointer).await {
            Err(ResolveError::NotFound { bucket, key }) => {
                assert_eq!((bucket, key), (pointer.bucket.clone(), pointer.key.clone()));
            }
            other => panic!("expected NotFound, got {other:?}"),
        }
    }

    pub async fn resolve_refuses_a_pointer_for_another_bucket(t: &Target) {
        let (pointer, _) = offloaded(t, 10).await;
        let foreign = Pointer {
            bucket: "someone-elses-bucket".into(),
            ..pointer
        };
        assert!(matches!(
            resolve(t.store.as_ref(), &foreign).await,
            Err(ResolveError::BucketMismatch { .. })
        ));
    }

    /// The record-level path the broker, the client and the functions share, on this store.
    pub async fn claim_check_restores_an_offloaded_record(t: &Target) {
        let check = ClaimCheck::new(Arc::clone(&t.store), 1024, "wharf");
        let record = HeaderRecord {
            value: pattern(300 * 1024, 7),
            headers: vec![("trace".into(), "t1".into())],
        };
        let pointer_record = check.offload_record("t", record.clone()).await.unwrap();
        assert!(is_pointer(&pointer_record));
        assert!(
            pointer_record.value.len() < 1024,
            "the record keeps only the pointer"
        );
        let resolved = check.resolve_record(pointer_record).await.unwrap();
        assert_eq!(resolved.value, record.value);
        assert_eq!(resolved.headers, record.headers);
    }

    pub async fn presign_get_serves_the_object_to_a_plain_http_client(t: &Target) {
        let value = pattern(200 * 1024, 6);
        t.store
            .put("shared/obj.bin", value.clone(), "application/octet-stream")
            .await
            .unwrap();
        let presigned = t
            .store
            .presign_get("shared/obj.bin", Duration::from_secs(300))
            .await;
        match t.kind {
            Kind::LocalDir => {
                assert!(
                    matches!(presigned, Err(BlobError::Unsupported { .. })),
                    "{presigned:?}"
                );
            }
            Kind::S3 => {
                let url = presigned.unwrap();
                assert!(url.contains("X-Amz-Signature="), "{url}");
                let response = reqwest::get(&url).await.unwrap();
                assert_eq!(response.status(), 200, "{url}");
                assert!(response.bytes().await.unwrap() == value);

                // The signature is really checked: change one hex digit of it.
                let at = url.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
                let mut tampered = url.clone().into_bytes();
                tampered[at] = if tampered[at] == b'0' { b'1' } else { b'0' };
                let tampered = String::from_utf8(tampered).unwrap();
                let response = reqwest::get(&tampered).await.unwrap();
                assert_eq!(response.status(), 403, "tampered url was accepted");

                // A presigned URL does not conjure up a missing object.
                let missing = t
                    .store
                    .presign_get("shared/missing.bin", Duration::from_secs(300))
                    .await
                    .unwrap();
                assert_eq!(reqwest::get(&missing).await.unwrap().status(), 404);
            }
        }
        // Expiry beyond SigV4's 7 days is refused rather than silently capped.
        if t.kind == Kind::S3 {
            assert!(matches!(
                t.store
                    .presign_get("shared/obj.bin", Duration::from_secs(8 * 24 * 3600))
                    .await,
                Err(BlobError::InvalidConfig { .. })
            ));
        }
    }
}

/// Behaviour only the local directory store has (files on disk).
mod local_dir_only {
    use super::*;

    fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                out.extend(files_under(&path));
            } else {
                out.push(path);
            }
        }
        out
    }

    #[tokio::test]
    async fn flipped_byte_in_the_stored_file_is_detected_by_resolve() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalDirBlobStore::open(dir.path()).unwrap();
        let value = pattern(8192, 7);
        let pointer = offload(&store, "wharf", "t", value, "").await.unwrap();
        let path = store.path_for(&pointer.key).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[4321] ^= 0x80;
        std::fs::write(&path, bytes).unwrap();
        assert!(matches!(
            resolve(&store, &pointer).await,
            Err(ResolveError::DigestMismatch { .. })
        ));
    }

    #[tokio::test]
    async fn puts_leave_only_the_object_files_behind() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalDirBlobStore::open(dir.path()).unwrap();
        for i in 0..5 {
            store
                .put(&format!("a/b/{i}"), pattern(1000, i), "x/y")
                .await
                .unwrap();
        }
        store.put("a/b/0", pattern(10, 9), "x/y").await.unwrap();
        let mut files: Vec<String> = files_under(dir.path())
            .iter()
            .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
            .collect();
        files.sort();
        assert_eq!(files, ["a/b/0", "a/b/1", "a/b/2", "a/b/3", "a/b/4"]);
    }

    #[tokio::test]
    async fn failed_put_under_an_object_leaves_nothing_half_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalDirBlobStore::open(dir.path()).unwrap();
        store.put("a", pattern(10, 1), "x/y").await.unwrap();
        // "a" is a file, so "a/b" cannot be created (S3 would allow it; see the module docs).
        let err = store.put("a/b", pattern(10, 2), "x/y").await.unwrap_err();
        assert!(matches!(err, BlobError::Io { .. }), "{err:?}");
        assert_eq!(store.get("a").await.unwrap(), pattern(10, 1));
        assert_eq!(files_under(dir.path()).len(), 1);
    }

    #[tokio::test]
    async fn temp_file_names_are_reserved() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalDirBlobStore::open(dir.path()).unwrap();
        let result = store
            .put("a/.wharf-tmp-123", Bytes::from_static(b"x"), "x/y")
            .await;
        assert!(matches!(result, Err(BlobError::InvalidKey { .. })));
    }

    #[tokio::test]
    async fn objects_survive_reopening_the_store_and_keep_the_bucket_name() {
        let dir = tempfile::tempdir().unwrap();
        let pointer = {
            let store = LocalDirBlobStore::open(dir.path())
                .unwrap()
                .with_bucket_name("broker-1");
            offload(&store, "wharf", "t", pattern(500, 8), "")
                .await
                .unwrap()
        };
        assert_eq!(pointer.bucket, "broker-1");
        let reopened = LocalDirBlobStore::open(dir.path())
            .unwrap()
            .with_bucket_name("broker-1");
        assert_eq!(resolve(&reopened, &pointer).await.unwrap(), pattern(500, 8));
        // A store with the default name refuses it rather than reading someone else's object.
        let default_named = LocalDirBlobStore::open(dir.path()).unwrap();
        assert!(matches!(
            resolve(&default_named, &pointer).await,
            Err(ResolveError::BucketMismatch { .. })
        ));
    }
}

/// Behaviour only the S3 store has (client configuration, multipart details, buckets).
mod s3_only {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn multipart_with_5_mib_parts_uploads_3_parts_in_order() {
        let store = s3_store(S3Config {
            multipart_threshold_bytes: 5 * MIB,
            part_size_bytes: 5 * MIB,
            upload_concurrency: 3,
            ..localstack_config(fresh_bucket_name())
        })
        .await;
        let value = pattern(11 * MIB, 11);
        let outcome = store
            .put("parts/11mib", value.clone(), "application/octet-stream")
            .await
            .unwrap();
        assert_eq!(outcome.parts, 3);
        // A multipart ETag ends in -<number of parts>.
        assert!(
            outcome
                .e_tag
                .as_deref()
                .unwrap_or_default()
                .ends_with("-3\""),
            "{:?}",
            outcome.e_tag
        );
        assert!(store.get("parts/11mib").await.unwrap() == value);
        // No multipart upload is left open.
        let open = store
            .client()
            .list_multipart_uploads()
            .bucket(&store.config().bucket)
            .send()
            .await
            .unwrap();
        assert!(open.uploads().is_empty(), "{:?}", open.uploads());
        empty_and_delete_bucket(&store).await;
    }

    #[tokio::test]
    async fn key_prefix_is_prepended_to_the_s3_object_key() {
        let store = s3_store(S3Config {
            key_prefix: "env/dev".into(),
            ..localstack_config(fresh_bucket_name())
        })
        .await;
        store
            .put("k/1", Bytes::from_static(b"v"), "text/plain")
            .await
            .unwrap();
        assert_eq!(
            store.location(),
            format!("s3://{}/env/dev", store.config().bucket)
        );
        let head = store
            .client()
            .head_object()
            .bucket(&store.config().bucket)
            .key("env/dev/k/1")
            .send()
            .await
            .expect("object stored under the prefixed key");
        assert_eq!(head.content_length, Some(1));
        assert_eq!(store.get("k/1").await.unwrap(), Bytes::from_static(b"v"));
        empty_and_delete_bucket(&store).await;
    }

    #[tokio::test]
    async fn missing_bucket_is_an_s3_error_not_a_missing_object() {
        let config = localstack_config(fresh_bucket_name());
        let store = S3BlobStore::from_sdk_config(&localstack_sdk_config().await, config).unwrap();
        for (operation, result) in [
            ("get", store.get("k").await.map(|_| ())),
            ("head", store.head("k").await.map(|_| ())),
            ("delete", store.delete("k").await.map(|_| ())),
            (
                "put",
                store
                    .put("k", Bytes::from_static(b"v"), "text/plain")
                    .await
                    .map(|_| ()),
            ),
        ] {
            match result {
                Err(BlobError::S3 { message, .. }) => {
                    assert!(
                        message.contains("NoSuchBucket") || message.contains("NotFound"),
                        "{operation}: {message}"
                    );
                }
                other => panic!("{operation}: expected an S3 error, got {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn ensure_bucket_is_idempotent() {
        let store = s3_store(localstack_config(fresh_bucket_name())).await;
        assert!(!store.ensure_bucket().await.unwrap().created);
        empty_and_delete_bucket(&store).await;
    }

    /// `connect` is what the broker uses: credentials and region from the standard AWS chain
    /// (here the variables `stack.sh env` exports), endpoint from the config.
    #[tokio::test]
    async fn connect_takes_credentials_and_region_from_the_standard_chain() {
        let endpoint = s3_endpoint();
        assert!(
            std::env::var("AWS_ACCESS_KEY_ID").is_ok() && std::env::var("AWS_REGION").is_ok(),
            "AWS_ACCESS_KEY_ID/AWS_REGION are not set: run `bash infra/local/test.sh` or eval \
             \"$(bash infra/local/stack.sh env)\""
        );
        let store = S3BlobStore::connect(S3Config {
            endpoint_url: Some(endpoint),
            force_path_style: true,
            ..S3Config::new(fresh_bucket_name())
        })
        .await
        .unwrap();
        assert!(store.ensure_bucket().await.unwrap().created);
        store
            .put("via-chain", Bytes::from_static(b"ok"), "text/plain")
            .await
            .unwrap();
        assert_eq!(
            store.get("via-chain").await.unwrap(),
            Bytes::from_static(b"ok")
        );
        empty_and_delete_bucket(&store).await;
    }

    #[tokio::test]
    async fn invalid_part_size_is_refused_at_construction() {
        let config = S3Config {
            part_size_bytes: MIB,
            ..S3Config::new("b")
        };
        assert!(matches!(
            S3BlobStore::from_sdk_config(&localstack_sdk_config().await, config),
            Err(BlobError::InvalidConfig {
                field: "part_size_bytes",
                ..
            })
        ));
    }
}

/// A record with headers in a list (the broker's shape), for the claim-check case.
#[derive(Debug, Clone)]
struct HeaderRecord {
    value: Bytes,
    headers: Vec<(String, String)>,
}

impl ClaimRecord for HeaderRecord {
    fn value(&self) -> &Bytes {
        &self.value
    }
    fn value_is_json(&self) -> bool {
        false
    }
    fn header(&self, name: &str) -> Option<&[u8]> {
        let found = self.headers.iter().find(|(k, _)| k == name);
        found.map(|(_, v)| v.as_bytes())
    }
    fn set_value(&mut self, value: Bytes, _is_json: bool) {
        self.value = value;
    }
    fn set_header(&mut self, name: &str, value: &str) {
        self.remove_header(name);
        self.headers.push((name.to_owned(), value.to_owned()));
    }
    fn remove_header(&mut self, name: &str) {
        self.headers.retain(|(k, _)| k != name);
    }
}
