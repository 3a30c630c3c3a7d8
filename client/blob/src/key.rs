//! Object key validation shared by every store.
//!
//! Keys are `/`-separated like S3 keys, but every store applies the same stricter rules so that a
//! key that works against the local directory also works against S3 and the other way round, and
//! so that no key can escape the local store's root directory.

use crate::BlobError;

/// Longest key S3 accepts (bytes of UTF-8).
pub const MAX_KEY_BYTES: usize = 1024;

/// Checks that `key` can name an object in every store.
///
/// Rejected: empty keys, keys longer than [`MAX_KEY_BYTES`], absolute keys (leading `/`), a
/// trailing `/`, empty segments (`a//b`), `.` and `..` segments, backslashes and control
/// characters (including NUL).
pub fn validate_key(key: &str) -> Result<(), BlobError> {
    let reject = |reason| {
        Err(BlobError::InvalidKey {
            key: key.to_owned(),
            reason,
        })
    };
    if key.is_empty() {
        return reject("key is empty");
    }
    if key.len() > MAX_KEY_BYTES {
        return reject("key is longer than 1024 bytes");
    }
    if key.starts_with('/') {
        return reject("key is absolute (starts with '/')");
    }
    if key.chars().any(|c| c == '\\' || c.is_control()) {
        return reject("key contains a backslash or a control character");
    }
    for segment in key.split('/') {
        match segment {
            "" => return reject("key has an empty segment (\"//\" or a trailing '/')"),
            "." | ".." => return reject("key has a '.' or '..' segment"),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ordinary_keys_are_accepted() {
        for key in [
            "a",
            "wharf/orders/2026/01/02/0b7c",
            "a.b-c_d",
            "x/.hidden",
            "ü/ñ",
        ] {
            validate_key(key).unwrap();
        }
    }

    #[test]
    fn escaping_and_malformed_keys_are_rejected() {
        for key in [
            "",
            "/etc/passwd",
            "a/../b",
            "..",
            ".",
            "a/./b",
            "a//b",
            "a/",
            "a\\b",
            "a\0b",
            "a\nb",
        ] {
            assert!(
                matches!(validate_key(key), Err(BlobError::InvalidKey { .. })),
                "{key:?} was accepted"
            );
        }
        assert!(validate_key(&"k".repeat(MAX_KEY_BYTES)).is_ok());
        assert!(validate_key(&"k".repeat(MAX_KEY_BYTES + 1)).is_err());
    }

    proptest! {
        /// Whatever the input, an accepted key joined under a root stays under that root.
        #[test]
        fn accepted_keys_never_leave_the_root(key in "[a-z./\\\\]{0,24}") {
            if validate_key(&key).is_ok() {
                let root = std::path::Path::new("/root-dir");
                let joined = root.join(&key);
                let mut depth = 0i32;
                for c in joined.strip_prefix(root).unwrap().components() {
                    match c {
                        std::path::Component::Normal(_) => depth += 1,
                        other => prop_assert!(false, "unexpected component {other:?} in {key:?}"),
                    }
                }
                prop_assert!(depth >= 1);
            }
        }
    }
}
