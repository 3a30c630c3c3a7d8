//! The process's file-descriptor limit (`RLIMIT_NOFILE`), raised at start.
//!
//! Many systems start services with a soft limit of 1024 under a much higher hard limit; the
//! broker raises the soft limit to the hard one so that connections and segment handles have the
//! room the operator allowed, without asking for a `ulimit` change. Segment handles are bounded
//! by `max_open_files` either way, so a low limit degrades to fewer cached handles, never to a
//! broker that cannot start.

use std::io;

/// The soft and hard `RLIMIT_NOFILE` before and after [`raise_nofile_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoFileLimit {
    pub soft_before: u64,
    pub soft: u64,
    pub hard: u64,
}

fn get() -> io::Result<libc::rlimit> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` only writes a `struct rlimit` through the pointer, which points at a
    // live, properly aligned local of that type; no other memory is touched.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    if rc == 0 {
        Ok(lim)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The current soft and hard limits.
pub fn nofile_limit() -> io::Result<(u64, u64)> {
    let lim = get()?;
    Ok((lim.rlim_cur as u64, lim.rlim_max as u64))
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (a no-op when they are equal).
pub fn raise_nofile_limit() -> io::Result<NoFileLimit> {
    let lim = get()?;
    let before = lim.rlim_cur;
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: `setrlimit` only reads the `struct rlimit` behind the pointer, a live local;
        // raising the soft limit up to the hard one needs no privilege and affects only this
        // process's limit, which no Rust invariant depends on.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    let (soft, hard) = nofile_limit()?;
    Ok(NoFileLimit {
        soft_before: before as u64,
        soft,
        hard,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raising_the_soft_limit_reaches_the_hard_limit() {
        let out = raise_nofile_limit().unwrap();
        assert_eq!(out.soft, out.hard);
        assert!(out.soft_before <= out.soft);
        assert_eq!(nofile_limit().unwrap(), (out.hard, out.hard));
    }
}
