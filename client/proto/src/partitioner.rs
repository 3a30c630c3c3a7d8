//! Kafka's default partitioner for keyed records.
//!
//! Kafka hashes the serialized key bytes with its 32-bit murmur2 variant (seed `0x9747b28c`) and
//! picks `toPositive(hash) % partitions`, where `toPositive` clears the sign bit. Using the same
//! function means a key lands on the same partition in Wharf as in Kafka, which matters to users
//! who migrate topics or mirror them.

/// Kafka's `Utils.murmur2`: 32-bit murmur2 with seed `0x9747b28c`, little-endian 4-byte blocks.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;

    // Kafka computes the length as a Java int; keys above 2 GiB cannot reach us anyway.
    let length = data.len() as u32;
    let mut h: u32 = SEED ^ length;

    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }

    let tail = chunks.remainder();
    // The fall-through switch of the Java original: each case adds one more tail byte.
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }

    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Kafka's `Utils.toPositive`: clears the sign bit (not `abs`, which overflows on `i32::MIN`).
pub fn to_positive(n: i32) -> u32 {
    (n & 0x7fff_ffff) as u32
}

/// The partition Kafka's default partitioner picks for `key` among `partitions`.
///
/// # Panics
/// Debug builds assert `partitions > 0`; callers validate partition counts at topic creation.
pub fn partition_for_key(key: &[u8], partitions: u32) -> u32 {
    debug_assert!(partitions > 0, "a topic has at least one partition");
    to_positive(murmur2(key)) % partitions
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectors of Kafka's `UtilsTest.testMurmur2` (clients/src/test/java/.../UtilsTest.java).
    #[test]
    fn murmur2_matches_kafka_published_test_vectors() {
        let cases: [(&str, i32); 7] = [
            ("21", -973_932_308),
            ("foobar", -790_332_482),
            ("a-little-bit-long-string", -985_981_536),
            ("a-little-bit-longer-string", -1_486_304_829),
            (
                "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            ("abc", 479_470_107),
            ("", 275_646_681),
        ];
        for (input, expected) in cases {
            assert_eq!(murmur2(input.as_bytes()), expected, "murmur2({input:?})");
        }
    }

    #[test]
    fn to_positive_clears_only_the_sign_bit() {
        assert_eq!(to_positive(i32::MIN), 0);
        assert_eq!(to_positive(-1), 0x7fff_ffff);
        assert_eq!(to_positive(42), 42);
    }

    #[test]
    fn partition_for_key_is_stable_and_in_range() {
        for partitions in 1..20 {
            let p = partition_for_key(b"order-42", partitions);
            assert!(p < partitions);
            assert_eq!(p, partition_for_key(b"order-42", partitions));
        }
        // Kafka's DefaultPartitioner puts key "foobar" on partition 16 of 50.
        assert_eq!(partition_for_key(b"foobar", 50), 16);
    }
}
