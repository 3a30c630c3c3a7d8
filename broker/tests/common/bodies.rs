//! Request bodies shared by the process tests (`common`) and the in-process ones (`router`).

/// A produce body of exactly `total_bytes`: one record whose value is a run of `a`.
pub fn records_body(total_bytes: usize) -> Vec<u8> {
    let prefix = br#"{"records":[{"value":""#;
    let suffix = br#""}]}"#;
    let mut body = prefix.to_vec();
    body.resize(total_bytes - suffix.len(), b'a');
    body.extend_from_slice(suffix);
    body
}
