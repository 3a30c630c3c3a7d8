//! The metadata store: topic settings, idempotency outcomes, the claim-check deletion queue.
//!
//! The embedded implementation is [`crate::meta::EmbeddedMeta`] (redb, with in-process key locks).
//! A shared store (PostgreSQL) serves several gateways, so idempotency is a *claim*, not a
//! get-then-put: [`MetaBackend::claim_idempotency`] waits while another request (on any gateway)
//! holds the key, then answers what that request stored, and holds the key itself until the
//! caller records its own outcome ([`MetaBackend::complete_idempotency`]) or drops the hold.

use std::any::Any;
use std::fmt::{self, Debug};

use super::BoxFuture;
use crate::meta::{MetaError, ProduceIntent, StoredProduce, StoredTopic};

/// Held while a request with an idempotency key runs; other claims on the key wait until it is
/// completed or dropped. Dropping it without completing lets the next claim run the request.
pub struct IdempotencyHold(Box<dyn Any + Send + Sync>);

impl IdempotencyHold {
    /// Wraps whatever keeps the key held (a lock guard, a pending row's token); dropping it
    /// must release the key.
    pub fn new(inner: impl Any + Send + Sync) -> Self {
        Self(Box::new(inner))
    }

    /// The implementation's own state, to finish the claim with (`Any`, so the implementation
    /// can take back the type it put in: a remote store's held connection).
    pub fn into_inner(self) -> Box<dyn Any + Send + Sync> {
        self.0
    }
}

impl Debug for IdempotencyHold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdempotencyHold")
    }
}

/// What a claim on an idempotency key found.
#[derive(Debug)]
pub struct IdempotencyClaim {
    /// The outcome an earlier request with this key stored, however old (the caller applies its
    /// window).
    pub stored: Option<StoredProduce>,
    /// What an earlier request with this key was about to append when it stopped without an
    /// outcome (a crash between its append and [`MetaBackend::complete_idempotency`]).
    pub intent: Option<ProduceIntent>,
    /// The key, held by the caller until it completes or drops this.
    pub hold: IdempotencyHold,
}

/// Topic settings, idempotency outcomes and queued blob deletions.
pub trait MetaBackend: Send + Sync + Debug {
    /// Every persisted topic.
    fn topics(&self) -> BoxFuture<'_, Result<Vec<StoredTopic>, MetaError>>;

    /// Inserts or replaces a topic (durable when it resolves).
    fn put_topic<'a>(&'a self, topic: &'a StoredTopic) -> BoxFuture<'a, Result<(), MetaError>>;

    /// Removes a topic; answers whether it existed.
    fn delete_topic<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool, MetaError>>;

    /// Waits until no other request holds `key`, then holds it and answers what is stored.
    fn claim_idempotency<'a>(
        &'a self,
        key: &'a str,
    ) -> BoxFuture<'a, Result<IdempotencyClaim, MetaError>>;

    /// Records, for the request that holds `key`, what it is about to append (durable when it
    /// resolves), replacing any earlier intent for the key.
    fn record_intent<'a>(
        &'a self,
        hold: &'a IdempotencyHold,
        key: &'a str,
        intent: &'a ProduceIntent,
    ) -> BoxFuture<'a, Result<(), MetaError>>;

    /// Stores the outcome of the request that holds `key` and forgets its intent (durable when
    /// it resolves), then releases the key.
    fn complete_idempotency<'a>(
        &'a self,
        hold: IdempotencyHold,
        key: &'a str,
        outcome: StoredProduce,
    ) -> BoxFuture<'a, Result<(), MetaError>>;

    /// Forgets outcomes created before `cutoff_ms`; answers how many.
    fn expire_idempotency(&self, cutoff_ms: i64) -> BoxFuture<'_, Result<usize, MetaError>>;

    /// Queues object keys whose deletion must be retried.
    fn queue_blob_deletes<'a>(&'a self, keys: &'a [String])
    -> BoxFuture<'a, Result<(), MetaError>>;

    /// Object keys waiting for a retried deletion.
    fn queued_blob_deletes(&self) -> BoxFuture<'_, Result<Vec<String>, MetaError>>;

    /// Removes a key from the deletion queue.
    fn dequeue_blob_delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), MetaError>>;
}
