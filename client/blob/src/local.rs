//! [`LocalDirBlobStore`]: objects as files under a root directory (the broker's embedded default,
//! `<data-dir>/blobs`).
//!
//! Layout: the object with key `a/b/c` is the file `<root>/a/b/c`. A write goes to a temporary
//! file `.wharf-tmp-<uuid>` in the destination directory, is fsynced, renamed over the final
//! name, and the directory is fsynced, so a crash leaves either the old or the new object, never a
//! torn one. Directories created on the way are fsynced into their parents too. Leftover
//! temporary files (from a crash between create and rename) are never visible as objects because
//! key segments starting with [`TEMP_PREFIX`] are rejected.
//!
//! Unlike S3, a key cannot be both an object and a "directory" of other keys (`a/b` and `a/b/c`):
//! such a put fails with [`BlobError::Io`], and reads of a key that is a directory are
//! [`BlobError::NotFound`]. Claim-check keys (`<prefix>/<topic>/<yyyy>/<mm>/<dd>/<uuid>`) never
//! collide that way. Empty directories left by deletes are kept.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;

use crate::store::{BlobFuture, BlobStore, DeleteOutcome, ObjectInfo, PutOutcome};
use crate::{BlobError, validate_key};

/// Prefix of temporary files; key segments may not start with it.
pub const TEMP_PREFIX: &str = ".wharf-tmp-";

/// Bucket name written into pointers by default (see [`LocalDirBlobStore::with_bucket_name`]).
pub const DEFAULT_LOCAL_BUCKET: &str = "local";

/// Blob store over a local directory. See the module docs for the layout and guarantees.
#[derive(Debug, Clone)]
pub struct LocalDirBlobStore {
    root: PathBuf,
    bucket: String,
}

impl LocalDirBlobStore {
    /// Opens (creating if needed) the store rooted at `root`. Blocks briefly on the file system:
    /// call it at start-up, not on a hot path.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, BlobError> {
        let root = root.into();
        if !root.is_dir() {
            fs::create_dir_all(&root).map_err(io_err("create root directory", &root))?;
            // Make the new root itself durable, not only what is written into it later.
            if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
                fsync_dir(parent)?;
            }
        }
        Ok(Self {
            root,
            bucket: DEFAULT_LOCAL_BUCKET.to_owned(),
        })
    }

    /// Sets the bucket name written into pointers (default [`DEFAULT_LOCAL_BUCKET`]). Use a
    /// distinct name per broker if pointers from several stores can meet.
    #[must_use]
    pub fn with_bucket_name(mut self, bucket: impl Into<String>) -> Self {
        self.bucket = bucket.into();
        self
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file that holds `key` (after validating it).
    pub fn path_for(&self, key: &str) -> Result<PathBuf, BlobError> {
        validate_key(key)?;
        if key
            .split('/')
            .any(|segment| segment.starts_with(TEMP_PREFIX))
        {
            return Err(BlobError::InvalidKey {
                key: key.to_owned(),
                reason: "key segment starts with the reserved prefix \".wharf-tmp-\"",
            });
        }
        let path = self.root.join(key);
        debug_assert!(path.starts_with(&self.root));
        Ok(path)
    }

    fn not_found(&self, key: &str) -> BlobError {
        BlobError::NotFound {
            bucket: self.bucket.clone(),
            key: key.to_owned(),
        }
    }
}

/// Errors that mean "no object under this key": the file is missing, a parent is a file, or the
/// key names a directory.
fn is_absent(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory | io::ErrorKind::IsADirectory
    )
}

fn io_err(operation: &'static str, path: &Path) -> impl FnOnce(io::Error) -> BlobError {
    move |source| BlobError::Io {
        operation,
        path: path.to_owned(),
        source,
    }
}

fn fsync_dir(dir: &Path) -> Result<(), BlobError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync directory", dir))
}

/// Creates the directories between `root` and `dir`, fsyncing each new one into its parent so
/// that the object's path survives a crash, not only its bytes.
fn create_dirs_durably(root: &Path, dir: &Path) -> Result<(), BlobError> {
    let relative = dir.strip_prefix(root).unwrap_or(Path::new(""));
    let mut current = root.to_path_buf();
    for component in relative.components() {
        let parent = current.clone();
        current.push(component);
        match fs::create_dir(&current) {
            Ok(()) => fsync_dir(&parent)?,
            // Another writer may create the same directory concurrently; it fsyncs the parent.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && current.is_dir() => {}
            Err(e) => return Err(io_err("create directory", &current)(e)),
        }
    }
    Ok(())
}

fn write_atomically(root: &Path, path: &Path, bytes: &[u8]) -> Result<(), BlobError> {
    let dir = path.parent().unwrap_or(root);
    create_dirs_durably(root, dir)?;
    let tmp = dir.join(format!("{TEMP_PREFIX}{}", uuid::Uuid::new_v4().simple()));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io_err("create temporary file", &tmp))?;
        file.write_all(bytes)
            .map_err(io_err("write temporary file", &tmp))?;
        file.sync_all()
            .map_err(io_err("fsync temporary file", &tmp))?;
        fs::rename(&tmp, path).map_err(io_err("rename into place", path))
    })();
    if let Err(err) = result {
        // Nothing half-written stays behind; the original error is the one worth reporting.
        if let Err(cleanup) = fs::remove_file(&tmp)
            && cleanup.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %tmp.display(), error = %cleanup, "could not remove temporary blob file");
        }
        return Err(err);
    }
    fsync_dir(dir)
}

/// Runs blocking file system work off the async runtime's worker threads.
async fn blocking<T: Send + 'static>(
    operation: &'static str,
    path: PathBuf,
    work: impl FnOnce() -> Result<T, BlobError> + Send + 'static,
) -> Result<T, BlobError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(join) => Err(BlobError::Io {
            operation,
            path,
            source: io::Error::other(join.to_string()),
        }),
    }
}

impl BlobStore for LocalDirBlobStore {
    fn bucket(&self) -> &str {
        &self.bucket
    }

    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        bytes: Bytes,
        _content_type: &'a str,
    ) -> BlobFuture<'a, PutOutcome> {
        Box::pin(async move {
            let path = self.path_for(key)?;
            let root = self.root.clone();
            let size_bytes = bytes.len() as u64;
            let target = path.clone();
            blocking("put", path, move || {
                write_atomically(&root, &target, &bytes)
            })
            .await?;
            Ok(PutOutcome {
                key: key.to_owned(),
                size_bytes,
                parts: 1,
                e_tag: None,
            })
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> BlobFuture<'a, Bytes> {
        Box::pin(async move {
            let path = self.path_for(key)?;
            match tokio::fs::read(&path).await {
                Ok(bytes) => Ok(Bytes::from(bytes)),
                Err(e) if is_absent(&e) => Err(self.not_found(key)),
                Err(e) => Err(io_err("read", &path)(e)),
            }
        })
    }

    fn head<'a>(&'a self, key: &'a str) -> BlobFuture<'a, ObjectInfo> {
        Box::pin(async move {
            let path = self.path_for(key)?;
            match tokio::fs::metadata(&path).await {
                Ok(meta) if meta.is_file() => Ok(ObjectInfo {
                    size_bytes: meta.len(),
                    content_type: None,
                }),
                Ok(_) => Err(self.not_found(key)),
                Err(e) if is_absent(&e) => Err(self.not_found(key)),
                Err(e) => Err(io_err("stat", &path)(e)),
            }
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BlobFuture<'a, DeleteOutcome> {
        Box::pin(async move {
            let path = self.path_for(key)?;
            let target = path.clone();
            let root = self.root.clone();
            blocking("delete", path, move || match fs::remove_file(&target) {
                Ok(()) => {
                    fsync_dir(target.parent().unwrap_or(&root))?;
                    Ok(DeleteOutcome {
                        existed: Some(true),
                    })
                }
                Err(e) if is_absent(&e) => Ok(DeleteOutcome {
                    existed: Some(false),
                }),
                Err(e) => Err(io_err("delete", &target)(e)),
            })
            .await
        })
    }

    fn presign_get<'a>(&'a self, key: &'a str, _expires_in: Duration) -> BlobFuture<'a, String> {
        Box::pin(async move {
            self.path_for(key)?;
            Err(BlobError::Unsupported {
                operation: "presign_get",
                store: "local directory",
            })
        })
    }
}
