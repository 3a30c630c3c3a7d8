//! [`ClaimRecord`]: the neutral record view the claim check is written over.
//!
//! The broker's log records, the client's produced and polled records (and through them the
//! functions') have different types, but the claim check needs only the same four things of each:
//! the value, whether it is JSON, and the headers to read and write. Each crate implements this
//! trait for its own types; [`ClaimCheck`](super::ClaimCheck) and the pointer helpers do the rest.

use bytes::Bytes;

/// The parts of a record that the claim check reads and replaces.
pub trait ClaimRecord {
    /// The value bytes (a pointer's JSON for a pointer record).
    fn value(&self) -> &Bytes;

    /// Whether the value is a JSON document (offloaded as `application/json`).
    fn value_is_json(&self) -> bool;

    /// The value of header `name` as bytes, if the record has it (exact, case-sensitive name).
    fn header(&self, name: &str) -> Option<&[u8]>;

    /// Replaces the value and its format.
    fn set_value(&mut self, value: Bytes, is_json: bool);

    /// Sets header `name` to `value`, replacing an earlier value of that header.
    fn set_header(&mut self, name: &str, value: &str);

    /// Removes header `name` (no-op when absent).
    fn remove_header(&mut self, name: &str);
}

/// A record with string headers in a map: the unit tests' record (the client's types are the
/// same shape).
#[cfg(test)]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TestRecord {
    pub value: Bytes,
    pub is_json: bool,
    pub headers: std::collections::BTreeMap<String, String>,
}

#[cfg(test)]
impl TestRecord {
    pub fn new(value: impl Into<Bytes>) -> Self {
        Self {
            value: value.into(),
            ..Self::default()
        }
    }
}

#[cfg(test)]
impl ClaimRecord for TestRecord {
    fn value(&self) -> &Bytes {
        &self.value
    }
    fn value_is_json(&self) -> bool {
        self.is_json
    }
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.get(name).map(String::as_bytes)
    }
    fn set_value(&mut self, value: Bytes, is_json: bool) {
        self.value = value;
        self.is_json = is_json;
    }
    fn set_header(&mut self, name: &str, value: &str) {
        self.headers.insert(name.to_owned(), value.to_owned());
    }
    fn remove_header(&mut self, name: &str) {
        self.headers.remove(name);
    }
}
