//! The check of one Avro datum against its schema without building it: a walk over the schema
//! that reads the bytes as the Avro specification's binary encoding lays them out and keeps
//! nothing.
//!
//! Why not apache-avro's decoder: `from_avro_datum` resolves the schema's names on every call
//! and builds a `Value` tree, and it reads a string or bytes shorter than their length prefix
//! without complaint, so the old check encoded the value again to compare (two more name
//! resolutions and a validation pass). That made Avro produce about ten times slower than
//! without validation (see the README's schema benchmark). The walk resolves names once, when
//! the schema is compiled, and reads every length against what is left.
//!
//! What it checks: every varint ends within 10 bytes and an `int` fits 32 bits; booleans are 0
//! or 1; strings are UTF-8; union and enum indexes are in range; fixed sizes, block counts and
//! lengths fit in what is left; nothing is left after the datum; nesting (recursive schemas)
//! is at most [`MAX_DEPTH`] deep, so a hostile payload cannot exhaust the stack. Logical types
//! are checked as their underlying type, except `uuid`, which must be 16 bytes or UUID text.

use std::collections::HashMap;

use apache_avro::Schema;
use apache_avro::schema::{Name, RecordSchema, UnionSchema};

/// Deepest nesting of records, arrays, maps and unions a datum may have.
pub const MAX_DEPTH: usize = 256;

/// A schema with its named types resolved, ready to check datums.
#[derive(Debug)]
pub struct AvroWalk {
    schema: Schema,
    /// Named types (records, enums, fixed) by full name, for `Schema::Ref`s.
    names: HashMap<Name, Schema>,
}

impl AvroWalk {
    pub fn new(schema: Schema) -> Self {
        let mut names = HashMap::new();
        collect_names(&schema, &mut names);
        Self { schema, names }
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Checks that `payload` is exactly one datum of the schema; why not, when it is not.
    pub fn check(&self, payload: &[u8]) -> Result<(), String> {
        let mut rest = payload;
        self.walk(&self.schema, &mut rest, 0)?;
        if rest.is_empty() {
            Ok(())
        } else {
            Err(format!("{} bytes left after the Avro datum", rest.len()))
        }
    }

    fn walk(&self, schema: &Schema, rest: &mut &[u8], depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!("nested deeper than {MAX_DEPTH} levels"));
        }
        match schema {
            Schema::Null => Ok(()),
            Schema::Boolean => match take(rest, 1, "boolean")?[0] {
                0 | 1 => Ok(()),
                other => Err(format!("boolean byte {other} is neither 0 nor 1")),
            },
            Schema::Int | Schema::Date | Schema::TimeMillis => {
                let n = long(rest)?;
                i32::try_from(n)
                    .map(drop)
                    .map_err(|_| format!("int {n} does not fit 32 bits"))
            }
            Schema::Long
            | Schema::TimeMicros
            | Schema::TimestampMillis
            | Schema::TimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos => long(rest).map(drop),
            Schema::Float => take(rest, 4, "float").map(drop),
            Schema::Double => take(rest, 8, "double").map(drop),
            Schema::Bytes | Schema::BigDecimal => sized(rest, "bytes").map(drop),
            Schema::String => {
                let text = sized(rest, "string")?;
                std::str::from_utf8(text)
                    .map(drop)
                    .map_err(|e| format!("string is not UTF-8: {e}"))
            }
            Schema::Uuid => {
                let data = sized(rest, "uuid")?;
                let text_ok = || {
                    std::str::from_utf8(data).is_ok_and(|t| {
                        t.len() == 36
                            && t.char_indices().all(|(i, c)| {
                                if matches!(i, 8 | 13 | 18 | 23) {
                                    c == '-'
                                } else {
                                    c.is_ascii_hexdigit()
                                }
                            })
                    })
                };
                if data.len() == 16 || text_ok() {
                    Ok(())
                } else {
                    Err("uuid is neither 16 bytes nor UUID text".into())
                }
            }
            Schema::Fixed(fixed) => take(rest, fixed.size, "fixed").map(drop),
            Schema::Duration => take(rest, 12, "duration").map(drop),
            Schema::Decimal(decimal) => self.walk(&decimal.inner, rest, depth + 1),
            Schema::Enum(e) => {
                let index = long(rest)?;
                if usize::try_from(index).is_ok_and(|i| i < e.symbols.len()) {
                    Ok(())
                } else {
                    Err(format!(
                        "enum index {index} is not one of the {} symbols",
                        e.symbols.len()
                    ))
                }
            }
            Schema::Union(UnionSchema { .. }) => {
                let variants = union_variants(schema);
                let index = long(rest)?;
                let variant = usize::try_from(index)
                    .ok()
                    .and_then(|i| variants.get(i))
                    .ok_or_else(|| {
                        format!(
                            "union index {index} is not one of the {} branches",
                            variants.len()
                        )
                    })?;
                self.walk(variant, rest, depth + 1)
            }
            Schema::Record(RecordSchema { fields, .. }) => fields
                .iter()
                .try_for_each(|f| self.walk(&f.schema, rest, depth + 1)),
            Schema::Array(array) => {
                self.blocks(rest, |w, rest| w.walk(&array.items, rest, depth + 1))
            }
            Schema::Map(map) => self.blocks(rest, |w, rest| {
                w.walk(&Schema::String, rest, depth + 1)?;
                w.walk(&map.types, rest, depth + 1)
            }),
            Schema::Ref { name } => {
                let named = self
                    .names
                    .get(name)
                    .ok_or_else(|| format!("unresolved type {}", name.fullname(None)))?;
                self.walk(named, rest, depth + 1)
            }
        }
    }

    /// Array and map blocks: a count (negative: its absolute value, then the block's byte size),
    /// items, until a zero count.
    fn blocks(
        &self,
        rest: &mut &[u8],
        item: impl Fn(&Self, &mut &[u8]) -> Result<(), String>,
    ) -> Result<(), String> {
        loop {
            let count = long(rest)?;
            if count == 0 {
                return Ok(());
            }
            if count < 0 {
                let size = long(rest)?;
                if size < 0 || size as u64 > rest.len() as u64 {
                    return Err(format!("block size {size} is beyond the payload"));
                }
            }
            let count = count.unsigned_abs();
            // Every item takes at least one byte unless its type encodes to nothing (null,
            // an empty record): then the count alone says it all, and no loop runs on a
            // hostile count.
            if count > rest.len() as u64 {
                if self.encodes_to_nothing(&item) {
                    continue;
                }
                return Err(format!(
                    "block of {count} items is beyond the {} bytes left",
                    rest.len()
                ));
            }
            for _ in 0..count {
                item(self, rest)?;
            }
        }
    }

    /// Whether an item reads no bytes: tried on an empty input, it succeeds.
    fn encodes_to_nothing(&self, item: &impl Fn(&Self, &mut &[u8]) -> Result<(), String>) -> bool {
        let mut empty: &[u8] = &[];
        item(self, &mut empty).is_ok()
    }
}

fn union_variants(schema: &Schema) -> &[Schema] {
    match schema {
        Schema::Union(u) => u.variants(),
        _ => &[],
    }
}

/// Collects every named type under its full name.
fn collect_names(schema: &Schema, names: &mut HashMap<Name, Schema>) {
    match schema {
        Schema::Record(record) => {
            names.insert(record.name.clone(), schema.clone());
            for field in &record.fields {
                collect_names(&field.schema, names);
            }
        }
        Schema::Enum(e) => {
            names.insert(e.name.clone(), schema.clone());
        }
        Schema::Fixed(f) => {
            names.insert(f.name.clone(), schema.clone());
        }
        Schema::Decimal(d) => collect_names(&d.inner, names),
        Schema::Array(a) => collect_names(&a.items, names),
        Schema::Map(m) => collect_names(&m.types, names),
        Schema::Union(u) => u.variants().iter().for_each(|v| collect_names(v, names)),
        _ => {}
    }
}

fn take<'a>(rest: &mut &'a [u8], n: usize, what: &str) -> Result<&'a [u8], String> {
    if rest.len() < n {
        return Err(format!(
            "{what} needs {n} bytes, {} are left (truncated)",
            rest.len()
        ));
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Ok(head)
}

/// A length-prefixed run of bytes (string, bytes).
fn sized<'a>(rest: &mut &'a [u8], what: &str) -> Result<&'a [u8], String> {
    let len = long(rest)?;
    let len = usize::try_from(len).map_err(|_| format!("{what} has negative length {len}"))?;
    take(rest, len, what)
}

/// A zigzag varint (Avro `long`).
fn long(rest: &mut &[u8]) -> Result<i64, String> {
    let mut z = 0u64;
    for i in 0..10 {
        let Some((&b, tail)) = rest.split_first() else {
            return Err("varint is truncated".into());
        };
        *rest = tail;
        z |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(((z >> 1) as i64) ^ -((z & 1) as i64));
        }
    }
    Err("varint is longer than 10 bytes".into())
}

#[cfg(test)]
mod tests {
    use apache_avro::types::Value as Avro;

    use super::*;

    fn walk(schema: &str) -> AvroWalk {
        AvroWalk::new(Schema::parse_str(schema).unwrap())
    }

    /// What apache-avro itself writes for `value`: the walk must take it.
    fn encoded(w: &AvroWalk, value: Avro) -> Vec<u8> {
        apache_avro::to_avro_datum(&w.schema, value).unwrap()
    }

    #[test]
    fn datums_apache_avro_writes_pass_and_every_truncation_of_them_fails() {
        let w = walk(
            r#"{"type":"record","name":"R","namespace":"shop","fields":[
                {"name":"id","type":"long"},
                {"name":"ok","type":"boolean"},
                {"name":"tags","type":{"type":"array","items":"string"}},
                {"name":"attrs","type":{"type":"map","values":"int"}},
                {"name":"kind","type":{"type":"enum","name":"Kind","symbols":["A","B"]}},
                {"name":"note","type":["null","string"]},
                {"name":"hash","type":{"type":"fixed","name":"H","size":4}},
                {"name":"price","type":"double"}]}"#,
        );
        let value = Avro::Record(vec![
            ("id".into(), Avro::Long(-1_234_567_890_123)),
            ("ok".into(), Avro::Boolean(true)),
            (
                "tags".into(),
                Avro::Array(vec![Avro::String("a".into()), Avro::String("bé".into())]),
            ),
            (
                "attrs".into(),
                Avro::Map([("k".to_owned(), Avro::Int(-7))].into_iter().collect()),
            ),
            ("kind".into(), Avro::Enum(1, "B".into())),
            (
                "note".into(),
                Avro::Union(1, Box::new(Avro::String("n".into()))),
            ),
            ("hash".into(), Avro::Fixed(4, vec![1, 2, 3, 4])),
            ("price".into(), Avro::Double(9.5)),
        ]);
        let bytes = encoded(&w, value);
        assert_eq!(w.check(&bytes), Ok(()));
        for cut in 0..bytes.len() {
            assert!(w.check(&bytes[..cut]).is_err(), "cut at {cut} passed");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(w.check(&longer).unwrap_err().contains("left after"));
    }

    #[test]
    fn indexes_booleans_and_text_out_of_their_domain_fail() {
        let e = walk(r#"{"type":"enum","name":"E","symbols":["A","B"]}"#);
        assert_eq!(e.check(&[2]), Ok(())); // zigzag 1
        assert!(e.check(&[4]).is_err(), "index 2 of two symbols");
        assert!(e.check(&[1]).is_err(), "negative index");
        let u = walk(r#"["null","long"]"#);
        assert_eq!(u.check(&[0]), Ok(()));
        assert!(u.check(&[4]).is_err(), "branch 2 of two");
        assert!(walk(r#""boolean""#).check(&[2]).is_err());
        assert!(walk(r#""string""#).check(&[2, 0xff]).is_err(), "not UTF-8");
        assert!(walk(r#""string""#).check(&[1]).is_err(), "negative length");
        let int = walk(r#""int""#);
        let too_big = encoded(&walk(r#""long""#), Avro::Long(i64::from(i32::MAX) + 1));
        assert!(int.check(&too_big).is_err(), "beyond 32 bits");
        assert!(int.check(&[0x80; 11]).is_err(), "endless varint");
    }

    #[test]
    fn negative_block_counts_carry_a_size_and_hostile_counts_do_not_loop() {
        let longs = walk(r#"{"type":"array","items":"long"}"#);
        // Block of -2 items (zigzag 3) of 2 bytes (zigzag 4): 1 and 2, then the end.
        assert_eq!(longs.check(&[3, 4, 2, 4, 0]), Ok(()));
        assert!(
            longs.check(&[3, 40, 2, 4, 0]).is_err(),
            "size beyond payload"
        );
        // A count of 2^62 items with two bytes left.
        let huge = encoded(&walk(r#""long""#), Avro::Long(1 << 62));
        let mut payload = huge.clone();
        payload.extend_from_slice(&[2, 0]);
        assert!(longs.check(&payload).is_err());
        // Nulls take no bytes: any count of them is one valid array.
        let nulls = walk(r#"{"type":"array","items":"null"}"#);
        let mut payload = huge;
        payload.push(0);
        assert_eq!(nulls.check(&payload), Ok(()));
    }

    #[test]
    fn recursive_types_resolve_by_name_and_their_depth_is_bounded() {
        let list = walk(
            r#"{"type":"record","name":"Node","namespace":"ns","fields":[
                {"name":"v","type":"int"},{"name":"next","type":["null","ns.Node"]}]}"#,
        );
        let two = Avro::Record(vec![
            ("v".into(), Avro::Int(1)),
            (
                "next".into(),
                Avro::Union(
                    1,
                    Box::new(Avro::Record(vec![
                        ("v".into(), Avro::Int(2)),
                        ("next".into(), Avro::Union(0, Box::new(Avro::Null))),
                    ])),
                ),
            ),
        ]);
        let bytes = apache_avro::to_avro_datum(&list.schema, two).unwrap();
        assert_eq!(list.check(&bytes), Ok(()));
        // 10,000 links: value 0 then branch 1, over and over.
        let deep: Vec<u8> = std::iter::repeat_n([0u8, 2], 10_000).flatten().collect();
        assert!(list.check(&deep).unwrap_err().contains("deeper"));
    }
}
