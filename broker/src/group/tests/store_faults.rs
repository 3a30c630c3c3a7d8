//! The coordinator over a store whose writes fail on demand.

use super::*;

/// The real store with a switch that makes writes fail, to prove a failed write changes nothing.
#[derive(Debug)]
struct FlakyStore {
    inner: RedbOffsetStore,
    fail: Arc<AtomicBool>,
}

impl FlakyStore {
    fn check(&self) -> Result<(), StoreError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(StoreError::Backend {
                operation: "store offsets",
                source: Box::new(redb::Error::Io(std::io::Error::other("injected"))),
            });
        }
        Ok(())
    }
}

impl OffsetStore for FlakyStore {
    fn load(&self) -> Result<Vec<StoredOffset>, StoreError> {
        self.inner.load()
    }
    fn load_bindings(&self) -> Result<Vec<StoredBinding>, StoreError> {
        self.inner.load_bindings()
    }
    fn bind(&mut self, group: &str, topic: &str) -> Result<(), StoreError> {
        self.check()?;
        self.inner.bind(group, topic)
    }
    fn store(
        &mut self,
        group: &str,
        topic: &str,
        offsets: &[(u32, u64)],
    ) -> Result<(), StoreError> {
        self.check()?;
        self.inner.store(group, topic, offsets)
    }
    fn delete_topic(&mut self, topic: &str) -> Result<usize, StoreError> {
        self.check()?;
        self.inner.delete_topic(topic)
    }
    fn delete_group(&mut self, group: &str) -> Result<usize, StoreError> {
        self.check()?;
        self.inner.delete_group(group)
    }
    fn next_generation(&mut self) -> Result<u64, StoreError> {
        self.inner.next_generation()
    }
}

#[test]
fn a_failed_store_write_changes_nothing() {
    let f = Fixture::new();
    let fail = Arc::new(AtomicBool::new(false));
    let store = FlakyStore {
        inner: RedbOffsetStore::create(&f.path).unwrap(),
        fail: fail.clone(),
    };
    let mut c = Coordinator::open(Box::new(store), GroupLimits::default()).unwrap();
    let a = c.join(0, "g", req("a", LEASE_MS), 1).unwrap();
    c.commit(1, "g", "a", &commit_one(0, 3, epoch_of(&a, 0)))
        .unwrap();
    fail.store(true, Ordering::SeqCst);
    assert!(matches!(
        c.commit(2, "g", "a", &commit_one(0, 4, epoch_of(&a, 0))),
        Err(CommitError::Store(_))
    ));
    assert!(c.delete_topic(TOPIC).is_err());
    assert_eq!(committed(&mut c, 3, "g"), vec![(0, 3)]);
    assert_eq!(c.describe(3, "g").unwrap().members.len(), 1);
    // A new group whose binding cannot be stored is not created.
    assert!(matches!(
        c.join(4, "new", req("n", LEASE_MS), 1),
        Err(JoinError::Store(_))
    ));
    assert_eq!(c.access("new"), GroupAccess::Unknown);
}
