//! [`S3BlobStore`]: claim-check payloads in an S3 bucket (or an S3-compatible endpoint such as
//! LocalStack).
//!
//! The SDK client is built once (from the standard AWS chain: environment, profile, web identity,
//! IMDS) with the overrides of [`S3Config`] and reused for every request. Objects larger than
//! [`S3Config::multipart_threshold_bytes`] are uploaded in parts of
//! [`S3Config::part_size_bytes`] with up to [`S3Config::upload_concurrency`] parts in flight, each
//! part carrying a CRC32 checksum that S3 verifies; a failed multipart upload is aborted so no
//! orphaned parts keep costing storage.

use std::time::Duration;

use aws_sdk_s3::config::Region;
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLocationConstraint, ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart,
    CreateBucketConfiguration,
};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use crate::store::{BlobFuture, BlobStore, DeleteOutcome, ObjectInfo, PutOutcome};
use crate::{BlobError, validate_key};

/// Smallest part S3 accepts (except the last one).
pub const MIN_PART_SIZE_BYTES: usize = 5 * 1024 * 1024;
/// Largest part S3 accepts.
pub const MAX_PART_SIZE_BYTES: usize = 5 * 1024 * 1024 * 1024;
/// Most parts one multipart upload may have.
pub const MAX_PARTS: usize = 10_000;
/// Longest validity of a SigV4 presigned URL.
pub const MAX_PRESIGN_EXPIRY: Duration = Duration::from_secs(7 * 24 * 3600);

const DEFAULT_PART_BYTES: usize = 8 * 1024 * 1024;

/// Where and how [`S3BlobStore`] stores objects. Credentials always come from the standard AWS
/// chain (or from the `SdkConfig` given to [`S3BlobStore::from_sdk_config`]), never from here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// Bucket that holds the objects; written into claim-check pointers. Required.
    pub bucket: String,
    /// Prefix put in front of every key (`<key_prefix>/<key>`), e.g. to share a bucket between
    /// environments. Empty (the default) means none. Pointer keys are the keys given to the store,
    /// so they equal the S3 object keys only while this is empty.
    #[serde(default)]
    pub key_prefix: String,
    /// Endpoint URL override, e.g. `http://127.0.0.1:4566` for LocalStack. Default: the AWS
    /// endpoint for the region (or `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL` from the chain).
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Region override. Default: the standard chain (`AWS_REGION`, profile, IMDS).
    #[serde(default)]
    pub region: Option<String>,
    /// Address buckets as `<endpoint>/<bucket>/<key>` instead of `<bucket>.<endpoint>/<key>`.
    /// Needed for LocalStack and most S3-compatible servers. Default `false`.
    #[serde(default)]
    pub force_path_style: bool,
    /// Objects strictly larger than this are uploaded with a multipart upload. Default 8 MiB.
    #[serde(default = "default_part_bytes")]
    pub multipart_threshold_bytes: usize,
    /// Size of each multipart part (the last one may be smaller). Between 5 MiB and 5 GiB, as S3
    /// requires. Default 8 MiB.
    #[serde(default = "default_part_bytes")]
    pub part_size_bytes: usize,
    /// Parts uploaded at the same time during one multipart upload. At least 1. Default 4.
    #[serde(default = "default_upload_concurrency")]
    pub upload_concurrency: usize,
}

fn default_part_bytes() -> usize {
    DEFAULT_PART_BYTES
}

fn default_upload_concurrency() -> usize {
    4
}

impl S3Config {
    /// Defaults for `bucket`: no prefix, endpoint and region from the standard chain, virtual-host
    /// addressing, 8 MiB multipart threshold and parts, 4 parts in flight.
    pub fn new(bucket: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            key_prefix: String::new(),
            endpoint_url: None,
            region: None,
            force_path_style: false,
            multipart_threshold_bytes: DEFAULT_PART_BYTES,
            part_size_bytes: DEFAULT_PART_BYTES,
            upload_concurrency: default_upload_concurrency(),
        }
    }

    /// Checks the ranges S3 imposes, so that a bad config fails at start-up rather than on the
    /// first large upload.
    pub fn validate(&self) -> Result<(), BlobError> {
        let invalid = |field, reason: &str| {
            Err(BlobError::InvalidConfig {
                field,
                reason: reason.to_owned(),
            })
        };
        if self.bucket.is_empty() {
            return invalid("bucket", "must not be empty");
        }
        if !self.key_prefix.is_empty() {
            validate_key(&self.key_prefix).map_err(|e| BlobError::InvalidConfig {
                field: "key_prefix",
                reason: e.to_string(),
            })?;
        }
        if !(MIN_PART_SIZE_BYTES..=MAX_PART_SIZE_BYTES).contains(&self.part_size_bytes) {
            return invalid("part_size_bytes", "must be between 5 MiB and 5 GiB");
        }
        if self.upload_concurrency == 0 {
            return invalid("upload_concurrency", "must be at least 1");
        }
        Ok(())
    }
}

/// Whether [`S3BlobStore::ensure_bucket`] created the bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnsureBucketOutcome {
    /// `true` if the bucket was created now, `false` if this account already owned it.
    pub created: bool,
}

/// Blob store over one S3 bucket. Cheap to clone (the SDK client is reference counted).
#[derive(Debug, Clone)]
pub struct S3BlobStore {
    client: aws_sdk_s3::Client,
    config: S3Config,
    region: String,
}

impl S3BlobStore {
    /// Builds the client from the standard AWS chain with the overrides of `config`.
    pub async fn connect(config: S3Config) -> Result<Self, BlobError> {
        config.validate()?;
        let mut loader = crate::aws::sdk_config_loader();
        if let Some(region) = &config.region {
            loader = loader.region(Region::new(region.clone()));
        }
        let shared = loader.load().await;
        Self::from_sdk_config(&shared, config)
    }

    /// Builds the client from an already loaded `SdkConfig` (e.g. one shared with other AWS
    /// clients of a Lambda function, or static credentials in tests), applying the overrides of
    /// `config`.
    pub fn from_sdk_config(
        shared: &aws_config::SdkConfig,
        config: S3Config,
    ) -> Result<Self, BlobError> {
        config.validate()?;
        let mut builder =
            aws_sdk_s3::config::Builder::from(shared).force_path_style(config.force_path_style);
        if let Some(endpoint) = &config.endpoint_url {
            builder = builder.endpoint_url(endpoint);
        }
        if let Some(region) = &config.region {
            builder = builder.region(Region::new(region.clone()));
        }
        let s3_config = builder.build();
        let Some(region) = s3_config.region().map(|r| r.as_ref().to_owned()) else {
            return Err(BlobError::InvalidConfig {
                field: "region",
                reason: "no region configured: set AWS_REGION or the region override".to_owned(),
            });
        };
        Ok(Self {
            client: aws_sdk_s3::Client::from_conf(s3_config),
            config,
            region,
        })
    }

    /// The SDK client, for operations this trait does not cover (lifecycle rules, listing).
    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }

    /// The configuration the store was built with.
    pub fn config(&self) -> &S3Config {
        &self.config
    }

    /// Creates the bucket if this account does not own it yet (used by local stacks and tests;
    /// production buckets come from the SAM template).
    pub async fn ensure_bucket(&self) -> Result<EnsureBucketOutcome, BlobError> {
        // Ask first: in us-east-1, CreateBucket on a bucket we own answers 200 as if it were new.
        match self
            .client
            .head_bucket()
            .bucket(&self.config.bucket)
            .send()
            .await
        {
            Ok(_) => return Ok(EnsureBucketOutcome { created: false }),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => {}
            Err(err) => return Err(self.s3_error("HeadBucket", String::new(), err)),
        }
        let mut request = self.client.create_bucket().bucket(&self.config.bucket);
        // us-east-1 is the one region that rejects an explicit location constraint.
        if self.region != "us-east-1" {
            request = request.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(self.region.as_str()))
                    .build(),
            );
        }
        match request.send().await {
            Ok(_) => Ok(EnsureBucketOutcome { created: true }),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_bucket_already_owned_by_you()) =>
            {
                Ok(EnsureBucketOutcome { created: false })
            }
            Err(err) => Err(self.s3_error("CreateBucket", String::new(), err)),
        }
    }

    /// The S3 object key for a store key.
    fn object_key(&self, key: &str) -> Result<String, BlobError> {
        validate_key(key)?;
        Ok(if self.config.key_prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}/{key}", self.config.key_prefix)
        })
    }

    fn not_found(&self, key: &str) -> BlobError {
        BlobError::NotFound {
            bucket: self.config.bucket.clone(),
            key: key.to_owned(),
        }
    }

    fn s3_error<E, R>(&self, operation: &'static str, key: String, err: SdkError<E, R>) -> BlobError
    where
        E: std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        BlobError::S3 {
            operation,
            bucket: self.config.bucket.clone(),
            key,
            message: DisplayErrorContext(&err).to_string(),
            source: Box::new(err),
        }
    }

    async fn put_single(
        &self,
        object_key: String,
        bytes: Bytes,
        content_type: &str,
    ) -> Result<Option<String>, BlobError> {
        let output = self
            .client
            .put_object()
            .bucket(&self.config.bucket)
            .key(&object_key)
            .content_type(content_type)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| self.s3_error("PutObject", object_key, e))?;
        Ok(output.e_tag)
    }

    async fn put_multipart(
        &self,
        object_key: String,
        bytes: Bytes,
        content_type: &str,
    ) -> Result<(u32, Option<String>), BlobError> {
        let part_size = self.config.part_size_bytes;
        let part_count = bytes.len().div_ceil(part_size);
        if part_count > MAX_PARTS {
            return Err(BlobError::InvalidConfig {
                field: "part_size_bytes",
                reason: format!(
                    "an object of {} bytes needs {part_count} parts, more than S3's {MAX_PARTS}",
                    bytes.len()
                ),
            });
        }
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.config.bucket)
            .key(&object_key)
            .content_type(content_type)
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .send()
            .await
            .map_err(|e| self.s3_error("CreateMultipartUpload", object_key.clone(), e))?;
        let Some(upload_id) = created.upload_id else {
            return Err(BlobError::S3 {
                operation: "CreateMultipartUpload",
                bucket: self.config.bucket.clone(),
                key: object_key,
                message: "response has no upload id".to_owned(),
                source: "response has no upload id".into(),
            });
        };

        let result = self
            .upload_parts_and_complete(&object_key, &upload_id, bytes, part_count)
            .await;
        if result.is_err() {
            // Abort so the parts uploaded so far do not linger (and bill) in the bucket.
            if let Err(abort) = self
                .client
                .abort_multipart_upload()
                .bucket(&self.config.bucket)
                .key(&object_key)
                .upload_id(&upload_id)
                .send()
                .await
            {
                tracing::warn!(
                    bucket = %self.config.bucket,
                    key = %object_key,
                    upload_id = %upload_id,
                    error = %DisplayErrorContext(&abort),
                    "could not abort failed multipart upload"
                );
            }
        }
        result
    }

    async fn upload_parts_and_complete(
        &self,
        object_key: &str,
        upload_id: &str,
        bytes: Bytes,
        part_count: usize,
    ) -> Result<(u32, Option<String>), BlobError> {
        let part_size = self.config.part_size_bytes;
        let parts: Vec<CompletedPart> = futures::stream::iter(0..part_count)
            .map(|index| {
                let start = index * part_size;
                let end = (start + part_size).min(bytes.len());
                // Part numbers are 1-based and at most 10 000 (checked above), so they fit i32.
                let part_number = i32::try_from(index + 1).unwrap_or(i32::MAX);
                let body = bytes.slice(start..end);
                async move {
                    let output = self
                        .client
                        .upload_part()
                        .bucket(&self.config.bucket)
                        .key(object_key)
                        .upload_id(upload_id)
                        .part_number(part_number)
                        .checksum_algorithm(ChecksumAlgorithm::Crc32)
                        .body(ByteStream::from(body))
                        .send()
                        .await
                        .map_err(|e| self.s3_error("UploadPart", object_key.to_owned(), e))?;
                    Ok::<_, BlobError>(
                        CompletedPart::builder()
                            .part_number(part_number)
                            .set_e_tag(output.e_tag)
                            .set_checksum_crc32(output.checksum_crc32)
                            .build(),
                    )
                }
            })
            // `buffered` keeps the parts in order, as CompleteMultipartUpload requires.
            .buffered(self.config.upload_concurrency)
            .try_collect()
            .await?;
        debug_assert_eq!(parts.len(), part_count);

        let completed = self
            .client
            .complete_multipart_upload()
            .bucket(&self.config.bucket)
            .key(object_key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| self.s3_error("CompleteMultipartUpload", object_key.to_owned(), e))?;
        Ok((
            u32::try_from(part_count).unwrap_or(u32::MAX),
            completed.e_tag,
        ))
    }
}

impl BlobStore for S3BlobStore {
    fn bucket(&self) -> &str {
        &self.config.bucket
    }

    fn location(&self) -> String {
        if self.config.key_prefix.is_empty() {
            format!("s3://{}", self.config.bucket)
        } else {
            format!("s3://{}/{}", self.config.bucket, self.config.key_prefix)
        }
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        bytes: Bytes,
        content_type: &'a str,
    ) -> BlobFuture<'a, PutOutcome> {
        Box::pin(async move {
            let object_key = self.object_key(key)?;
            let size_bytes = bytes.len() as u64;
            let (parts, e_tag) = if bytes.len() > self.config.multipart_threshold_bytes {
                self.put_multipart(object_key, bytes, content_type).await?
            } else {
                (1, self.put_single(object_key, bytes, content_type).await?)
            };
            Ok(PutOutcome {
                key: key.to_owned(),
                size_bytes,
                parts,
                e_tag,
            })
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> BlobFuture<'a, Bytes> {
        Box::pin(async move {
            let object_key = self.object_key(key)?;
            let output = match self
                .client
                .get_object()
                .bucket(&self.config.bucket)
                .key(&object_key)
                .send()
                .await
            {
                Ok(output) => output,
                Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                    return Err(self.not_found(key));
                }
                Err(err) => return Err(self.s3_error("GetObject", object_key, err)),
            };
            let body = output.body.collect().await.map_err(|err| BlobError::S3 {
                operation: "GetObject",
                bucket: self.config.bucket.clone(),
                key: object_key.clone(),
                message: DisplayErrorContext(&err).to_string(),
                source: Box::new(err),
            })?;
            Ok(body.into_bytes())
        })
    }

    fn head<'a>(&'a self, key: &'a str) -> BlobFuture<'a, ObjectInfo> {
        Box::pin(async move {
            let object_key = self.object_key(key)?;
            match self
                .client
                .head_object()
                .bucket(&self.config.bucket)
                .key(&object_key)
                .send()
                .await
            {
                Ok(output) => Ok(ObjectInfo {
                    size_bytes: output
                        .content_length
                        .and_then(|n| u64::try_from(n).ok())
                        .unwrap_or(0),
                    content_type: output.content_type,
                }),
                // A HEAD response has no body, so a 404 does not say whether the key or the
                // bucket is missing. Ask about the bucket (only on this rare path) so that a
                // misconfigured bucket is never reported as a missing object.
                Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => {
                    match self
                        .client
                        .head_bucket()
                        .bucket(&self.config.bucket)
                        .send()
                        .await
                    {
                        Ok(_) => Err(self.not_found(key)),
                        Err(bucket_err) => {
                            Err(self.s3_error("HeadObject (bucket check)", object_key, bucket_err))
                        }
                    }
                }
                Err(err) => Err(self.s3_error("HeadObject", object_key, err)),
            }
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BlobFuture<'a, DeleteOutcome> {
        Box::pin(async move {
            let object_key = self.object_key(key)?;
            self.client
                .delete_object()
                .bucket(&self.config.bucket)
                .key(&object_key)
                .send()
                .await
                .map_err(|e| self.s3_error("DeleteObject", object_key, e))?;
            Ok(DeleteOutcome { existed: None })
        })
    }

    fn presign_get<'a>(&'a self, key: &'a str, expires_in: Duration) -> BlobFuture<'a, String> {
        Box::pin(async move {
            let object_key = self.object_key(key)?;
            let presigning =
                PresigningConfig::expires_in(expires_in).map_err(|e| BlobError::InvalidConfig {
                    field: "expires_in",
                    reason: e.to_string(),
                })?;
            let request = self
                .client
                .get_object()
                .bucket(&self.config.bucket)
                .key(&object_key)
                .presigned(presigning)
                .await
                .map_err(|e| self.s3_error("GetObject (presign)", object_key, e))?;
            Ok(request.uri().to_owned())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_deserialize_from_just_a_bucket() {
        let config: S3Config = serde_json::from_str(r#"{"bucket":"b"}"#).unwrap();
        assert_eq!(config, S3Config::new("b"));
        config.validate().unwrap();
    }

    #[test]
    fn config_rejects_unknown_fields_and_out_of_range_values() {
        assert!(serde_json::from_str::<S3Config>(r#"{"bucket":"b","buckt":"c"}"#).is_err());
        let cases = [
            (S3Config::new(""), "bucket"),
            (
                S3Config {
                    part_size_bytes: MIN_PART_SIZE_BYTES - 1,
                    ..S3Config::new("b")
                },
                "part_size_bytes",
            ),
            (
                S3Config {
                    upload_concurrency: 0,
                    ..S3Config::new("b")
                },
                "upload_concurrency",
            ),
            (
                S3Config {
                    key_prefix: "/abs".into(),
                    ..S3Config::new("b")
                },
                "key_prefix",
            ),
        ];
        for (config, expected) in cases {
            match config.validate() {
                Err(BlobError::InvalidConfig { field, .. }) => assert_eq!(field, expected),
                other => panic!("{expected}: expected InvalidConfig, got {other:?}"),
            }
        }
    }
}
