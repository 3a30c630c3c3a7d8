//! Where the handler's records go: the broker, through [`Sink`].

use std::future::Future;

use wharf_client::{Acks, Client, ProduceAnswer, Record};

/// Produces one request of records under an `Idempotency-Key`. Implemented by the broker
/// client; the handler is generic over it so that it can be embedded with another transport.
pub trait Sink: Send + Sync {
    /// Sends `records` to `topic` in one request with `idempotency_key`.
    fn produce<'a>(
        &'a self,
        topic: &'a str,
        records: &'a [Record],
        idempotency_key: &'a str,
    ) -> impl Future<Output = Result<ProduceAnswer, wharf_client::Error>> + Send + 'a;
}

impl Sink for Client {
    fn produce<'a>(
        &'a self,
        topic: &'a str,
        records: &'a [Record],
        idempotency_key: &'a str,
    ) -> impl Future<Output = Result<ProduceAnswer, wharf_client::Error>> + Send + 'a {
        self.produce_records(topic, records, Acks::All, Some(idempotency_key))
    }
}
