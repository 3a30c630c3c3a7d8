//! Group commit: concurrent appenders share fdatasync calls.
//!
//! Durability is tracked as an offset: every record below `durable_offset` is on disk. An
//! appender that needs offset `o` durable waits until `durable_offset > o`. If no sync is in
//! flight it becomes the leader: it reads the high watermark (everything below it is written),
//! syncs the active segment without holding any lock the writers need, then advances
//! `durable_offset` to that watermark and wakes everyone. Appenders that arrive while a sync is in
//! flight wait for it and, if it did not cover them, one of them leads the next one; so under
//! load each fdatasync covers every batch written during the previous one.
//!
//! Why syncing only the active segment is enough: a roll fsyncs the old segment before the new one
//! becomes visible, and the leader reads the watermark before it picks the active segment.

use std::sync::{Condvar, Mutex, MutexGuard};

use super::error::SyncError;

#[derive(Debug)]
struct State {
    durable_offset: u64,
    leader_active: bool,
    failure: Option<SyncError>,
}

#[derive(Debug)]
pub(crate) struct SyncCoordinator {
    state: Mutex<State>,
    cv: Condvar,
}

impl SyncCoordinator {
    pub fn new(durable_offset: u64) -> Self {
        SyncCoordinator {
            state: Mutex::new(State {
                durable_offset,
                leader_active: false,
                failure: None,
            }),
            cv: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn durable_offset(&self) -> u64 {
        self.lock().durable_offset
    }

    /// Records that everything below `offset` is durable (after a roll or an `Always` sync).
    pub fn advance(&self, offset: u64) {
        let mut st = self.lock();
        if offset > st.durable_offset {
            st.durable_offset = offset;
            self.cv.notify_all();
        }
    }

    /// Records a failed sync: every current and future waiter gets an error.
    pub fn fail(&self, err: SyncError) {
        let mut st = self.lock();
        if st.failure.is_none() {
            st.failure = Some(err);
        }
        self.cv.notify_all();
    }

    pub fn failure(&self) -> Option<SyncError> {
        self.lock().failure.clone()
    }

    /// Waits until every offset below `target` is durable. `do_sync` performs one sync and
    /// returns the offset it covers (the watermark read before syncing).
    pub fn wait_durable(
        &self,
        target: u64,
        do_sync: impl Fn() -> Result<u64, SyncError>,
    ) -> Result<(), SyncError> {
        let mut st = self.lock();
        loop {
            if st.durable_offset >= target {
                return Ok(());
            }
            if let Some(e) = &st.failure {
                return Err(e.clone());
            }
            if st.leader_active {
                st = self.cv.wait(st).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            st.leader_active = true;
            drop(st);
            let result = do_sync();
            st = self.lock();
            st.leader_active = false;
            match result {
                Ok(covered) => {
                    if covered > st.durable_offset {
                        st.durable_offset = covered;
                    }
                }
                Err(e) => {
                    if st.failure.is_none() {
                        st.failure = Some(e);
                    }
                }
            }
            self.cv.notify_all();
        }
    }
}
