//! Integer fields of request bodies that also take integral JSON floats (`5.0`, `-1e3`).
//!
//! JSON Schema (and so the OpenAPI document) counts `5.0` as an integer; serde does not. Tools
//! that generate requests from the schema, and languages whose JSON numbers are all floats
//! (JavaScript's `JSON.stringify(5.0)` is `5`, but other encoders write `5.0`), send such
//! values. A float with a fraction, or out of the field's range, is still refused.
//!
//! Use as `#[serde(deserialize_with = "crate::integral::exact")]`, or
//! `#[serde(default, deserialize_with = "crate::integral::option")]` for optional fields.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserializer;
use serde::de::{Error, Visitor};

/// Deserializes an integer of type `T` from a JSON integer or an integral float.
pub fn exact<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64> + TryFrom<i64>,
{
    deserializer.deserialize_any(Integral(PhantomData))
}

/// [`exact`] for an optional field; `null` is `None`.
pub fn option<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64> + TryFrom<i64>,
{
    deserializer.deserialize_option(OptionIntegral(PhantomData))
}

struct Integral<T>(PhantomData<T>);

impl<T: TryFrom<u64> + TryFrom<i64>> Visitor<'_> for Integral<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer in range")
    }

    fn visit_u64<E: Error>(self, v: u64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::custom(format_args!("integer {v} out of range")))
    }

    fn visit_i64<E: Error>(self, v: i64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::custom(format_args!("integer {v} out of range")))
    }

    fn visit_f64<E: Error>(self, v: f64) -> Result<T, E> {
        // 2^64 and -2^63 are exact in f64; the casts below are exact inside these bounds
        // because `v` has no fraction.
        const U64_END: f64 = 18_446_744_073_709_551_616.0;
        const I64_START: f64 = -9_223_372_036_854_775_808.0;
        if !v.is_finite() || v.fract() != 0.0 {
            return Err(E::custom(format_args!("expected an integer, found {v}")));
        }
        if (0.0..U64_END).contains(&v) {
            self.visit_u64(v as u64)
        } else if (I64_START..0.0).contains(&v) {
            self.visit_i64(v as i64)
        } else {
            Err(E::custom(format_args!("integer {v} out of range")))
        }
    }
}

struct OptionIntegral<T>(PhantomData<T>);

impl<'de, T: TryFrom<u64> + TryFrom<i64>> Visitor<'de> for OptionIntegral<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer in range or null")
    }

    fn visit_none<E: Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_unit<E: Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<T>, D::Error> {
        exact(deserializer).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Body {
        #[serde(deserialize_with = "super::exact")]
        count: u32,
        #[serde(default, deserialize_with = "super::option")]
        delta: Option<i64>,
    }

    fn parse(json: &str) -> Result<Body, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn integral_floats_are_integers() {
        assert_eq!(
            parse(r#"{"count": 5.0, "delta": -1e3}"#),
            Ok(Body {
                count: 5,
                delta: Some(-1000)
            })
        );
        assert_eq!(
            parse(r#"{"count": 7}"#),
            Ok(Body {
                count: 7,
                delta: None
            })
        );
        assert_eq!(
            parse(r#"{"count": 7, "delta": null}"#),
            Ok(Body {
                count: 7,
                delta: None
            })
        );
        assert_eq!(
            parse(r#"{"count": 0, "delta": -9223372036854775808}"#)
                .unwrap()
                .delta,
            Some(i64::MIN)
        );
    }

    #[test]
    fn fractions_ranges_and_other_types_are_refused() {
        for bad in [
            r#"{"count": 5.5}"#,
            r#"{"count": -1}"#,
            r#"{"count": -1.0}"#,
            r#"{"count": 4294967296}"#,
            r#"{"count": 4294967296.0}"#,
            r#"{"count": "5"}"#,
            r#"{"count": true}"#,
            r#"{"count": 1, "delta": 1e19}"#,
            r#"{"count": 1, "delta": 0.5}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad} was accepted");
        }
        assert!(parse(r#"{"count": 1e400}"#).is_err());
    }
}
