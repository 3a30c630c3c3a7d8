//! A few megabytes of disk the broker holds back so that it can start on a full disk.
//!
//! Starting writes to the metadata database (redb opens its tables, the group coordinator bumps
//! its fencing generation), and redb cannot commit without free pages. When a disk fills up while
//! the broker runs, appends are refused with `disk_full` and nothing is lost, but a restart would
//! then fail before serving a single read. So the broker keeps `disk.reserve` in its data
//! directory, [`RESERVE_BYTES`] of real (not sparse) blocks, and at start releases it when the
//! file system has less free space than that. The reserve comes back at a later start once
//! there is room for it twice over.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Size of the reserve file.
pub const RESERVE_BYTES: u64 = 2 * 1024 * 1024;

/// The reserve file's name in the data directory.
pub const RESERVE_FILE: &str = "disk.reserve";

/// What [`keep_reserve`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReserveOutcome {
    /// The reserve was there and the disk has room: left alone.
    Kept,
    /// No reserve yet and room for it twice over: written and fsynced.
    Created,
    /// The disk had less free space than the reserve: deleted, so the start can write.
    Released { free_bytes: u64 },
    /// No reserve and too little room to make one.
    Skipped { free_bytes: u64 },
}

/// Keeps, creates or releases the reserve of `data_dir` (which must exist), by free space.
pub fn keep_reserve(data_dir: &Path) -> io::Result<ReserveOutcome> {
    let path = data_dir.join(RESERVE_FILE);
    let free_bytes = free_bytes(data_dir)?;
    if path.exists() {
        if free_bytes < RESERVE_BYTES {
            std::fs::remove_file(&path)?;
            sync_dir(data_dir)?;
            return Ok(ReserveOutcome::Released { free_bytes });
        }
        return Ok(ReserveOutcome::Kept);
    }
    if free_bytes < 2 * RESERVE_BYTES {
        return Ok(ReserveOutcome::Skipped { free_bytes });
    }
    if let Err(e) = write_reserve(&path) {
        // A half-written reserve would hold space without being counted on.
        let _ = std::fs::remove_file(&path);
        return Err(e);
    }
    sync_dir(data_dir)?;
    Ok(ReserveOutcome::Created)
}

fn free_bytes(dir: &Path) -> io::Result<u64> {
    let s = rustix::fs::statvfs(dir)?;
    Ok(s.f_bavail.saturating_mul(s.f_frsize))
}

fn write_reserve(path: &PathBuf) -> io::Result<()> {
    // Written, not `set_len`: a sparse file would reserve nothing.
    let mut file = std::fs::File::create(path)?;
    let zeros = vec![0u8; 64 * 1024];
    let mut left = RESERVE_BYTES;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        file.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    file.sync_all()
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reserve_is_made_once_and_kept_while_the_disk_has_room() {
        let dir = tempfile::tempdir().unwrap();
        // The test machine's temp directory has far more than 4 MiB free.
        assert_eq!(keep_reserve(dir.path()).unwrap(), ReserveOutcome::Created);
        let meta = std::fs::metadata(dir.path().join(RESERVE_FILE)).unwrap();
        assert_eq!(meta.len(), RESERVE_BYTES);
        // Real blocks, not a hole: st_blocks counts 512-byte units.
        use std::os::unix::fs::MetadataExt;
        assert!(
            meta.blocks() * 512 >= RESERVE_BYTES,
            "{} blocks",
            meta.blocks()
        );
        assert_eq!(keep_reserve(dir.path()).unwrap(), ReserveOutcome::Kept);
    }
}
