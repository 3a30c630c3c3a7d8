//! Partition log storage engine (synchronous, no HTTP or tokio types).
