//! `Idempotency-Key`s derived from the event being handled.
//!
//! Lambda retries an event with the same identifiers (API Gateway request id, SQS message id, S3
//! sequencer, EventBridge event id, the invocation's request id), so a key built from them makes
//! the broker answer a retry with the first response instead of appending again.

use sha2::{Digest, Sha256};

/// The broker accepts keys of 1 to 255 visible ASCII characters.
pub const MAX_KEY_LEN: usize = 255;

/// `<kind>:<part>:<part>...` when that is short visible ASCII, else `<kind>:sha256:<hex>` of the
/// parts (S3 object keys, for one, may be 1024 bytes of any UTF-8). Parts are separated by a NUL
/// before hashing so that `("a:b","c")` and `("a","b:c")` differ.
pub fn derived_key(kind: &str, parts: &[&str]) -> String {
    let plain = std::iter::once(kind)
        .chain(parts.iter().copied())
        .collect::<Vec<_>>()
        .join(":");
    let visible = plain.bytes().all(|b| b.is_ascii_graphic());
    if visible && plain.len() <= MAX_KEY_LEN {
        return plain;
    }
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part.as_bytes());
        hash.update([0u8]);
    }
    let key = format!("{kind}:sha256:{}", hex::encode(hash.finalize()));
    debug_assert!(key.len() <= MAX_KEY_LEN, "kind too long: {kind}");
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_visible_parts_stay_readable_and_long_or_odd_ones_are_hashed() {
        assert_eq!(derived_key("sqs", &["059f36b4-87a3"]), "sqs:059f36b4-87a3");
        let long = "k".repeat(400);
        let key = derived_key("s3", &["bucket", &long, "0055AED6DCD90281E5"]);
        assert!(key.starts_with("s3:sha256:") && key.len() < 100, "{key}");
        let spaced = derived_key("s3", &["bucket", "my photo.jpg"]);
        assert!(spaced.starts_with("s3:sha256:"), "{spaced}");
        assert_ne!(derived_key("x", &["a:b", "c"]).len(), 0);
        assert_ne!(
            derived_key("x", &["a b", "c"]),
            derived_key("x", &["a", "b c"])
        );
    }
}
