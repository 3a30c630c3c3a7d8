//! A byte-level check of JSON text against the common subset of JSON Schema, so that a valid
//! record is accepted without building a `serde_json::Value` (the parse is most of the cost of
//! a JSON Schema check on produce).
//!
//! It is a fast path, not a second validator: [`FastJson::accepts`] answers `true` only when
//! the text is well-formed JSON *and* valid against the schema; `false` means "not sure" and
//! the caller runs the full `jsonschema` validator, which also finds the failing place for the
//! error. So the one invariant is soundness: `accepts(text)` implies the full validator accepts
//! the parsed text. The property test below checks exactly that (and that the fast path agrees
//! on the documents it is built to answer).
//!
//! [`scan`] is the same pass as the produce path's parse of any JSON value: well-formed,
//! readable (nesting and number ranges as `service::produce` requires) and, with a schema,
//! valid, in one walk over the bytes; it also says whether the text needs compacting.
//!
//! The subset ([`FastJson::plan`] answers `None` for any schema outside it):
//! - boolean schemas; `type` (a name or a list of names);
//! - `properties`, `required` (at most 64 names), `additionalProperties` (a schema),
//!   `maxProperties`;
//! - `items` (one schema), `minItems`, `maxItems`;
//! - `minLength`, `maxLength` (counted in code points, as the validator does);
//! - `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum` (numeric forms);
//! - annotations, which never affect validity: `$schema`, `$id`, `$comment`, `title`,
//!   `description`, `default`, `examples`, `deprecated`, `readOnly`, `writeOnly`.
//!
//! Anything the text does that the fast path does not decide exactly sends it to the full
//! validator: `\u` escapes, numbers with a fraction or exponent where a bound or `integer`
//! applies, integers beyond ±2^53 under a bound, nesting deeper than serde_json's 128 levels,
//! invalid UTF-8.

use serde_json::{Map, Value};

/// Nesting serde_json accepts before it gives up; deeper text goes to the full validator.
const MAX_DEPTH: usize = 128;
/// Integers up to this magnitude convert to `f64` exactly, so bounds compare exactly.
const EXACT_INTEGER: i64 = 1 << 53;

/// A schema in the fast subset, compiled for [`FastJson::accepts`].
#[derive(Debug, Clone)]
pub struct FastJson {
    root: Node,
}

#[derive(Debug, Clone)]
enum Node {
    /// `true` or `{}` with annotations only: any well-formed JSON.
    Any,
    /// `false`: nothing is valid.
    Never,
    Check(Box<Checks>),
}

/// JSON types as bits; `integer` is its own bit and `number` includes it.
mod types {
    pub const NULL: u8 = 1;
    pub const BOOLEAN: u8 = 2;
    pub const INTEGER: u8 = 4;
    pub const NUMBER: u8 = 8;
    pub const STRING: u8 = 16;
    pub const ARRAY: u8 = 32;
    pub const OBJECT: u8 = 64;
    pub const ALL: u8 = 127;
}

#[derive(Debug, Clone)]
struct Checks {
    types: u8,
    minimum: Option<f64>,
    maximum: Option<f64>,
    exclusive_minimum: Option<f64>,
    exclusive_maximum: Option<f64>,
    min_length: Option<u64>,
    max_length: Option<u64>,
    items: Option<Node>,
    min_items: Option<u64>,
    max_items: Option<u64>,
    /// Names the schema says something about: a `properties` schema, a `required` bit, or both.
    names: Vec<Named>,
    /// The bits of every required name.
    required: u64,
    additional: Node,
    max_properties: Option<u64>,
}

#[derive(Debug, Clone)]
struct Named {
    name: String,
    schema: Option<Node>,
    required_bit: u64,
}

impl Checks {
    fn has_number_bounds(&self) -> bool {
        self.minimum.is_some()
            || self.maximum.is_some()
            || self.exclusive_minimum.is_some()
            || self.exclusive_maximum.is_some()
    }

    fn number_in_bounds(&self, n: f64) -> bool {
        self.minimum.is_none_or(|m| n >= m)
            && self.maximum.is_none_or(|m| n <= m)
            && self.exclusive_minimum.is_none_or(|m| n > m)
            && self.exclusive_maximum.is_none_or(|m| n < m)
    }
}

impl FastJson {
    /// The fast form of `schema`, or `None` when it uses anything outside the subset.
    pub fn plan(schema: &Value) -> Option<Self> {
        Some(Self {
            root: node(schema)?,
        })
    }

    /// Whether `text` is well-formed JSON valid against the schema; `false` is "not sure".
    pub fn accepts(&self, text: &[u8]) -> bool {
        scan(text, Some(self), MAX_DEPTH).is_some()
    }
}

/// What [`scan`] found in text it is sure of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scanned {
    /// Whitespace outside strings: the text is not in compact form.
    pub spaced: bool,
}

/// One pass over a JSON value: well-formed, arrays and objects nested at most `max_depth`
/// levels (and at most serde_json's 128), every number readable back (an integer within i64 or
/// u64, any other number a finite f64), and valid against `schema` when one is given. `None`
/// is "not sure": the caller's full checks decide, and say why.
pub fn scan(text: &[u8], schema: Option<&FastJson>, max_depth: usize) -> Option<Scanned> {
    // One UTF-8 check up front lets strings be counted by bytes below.
    std::str::from_utf8(text).ok()?;
    let mut cursor = Cursor {
        text,
        at: 0,
        max_depth: max_depth.min(MAX_DEPTH),
        spaced: false,
    };
    cursor.skip_space();
    if !cursor.value(schema.map_or(&Node::Any, |s| &s.root), 0) {
        return None;
    }
    cursor.skip_space();
    (cursor.at == text.len()).then_some(Scanned {
        spaced: cursor.spaced,
    })
}

fn node(schema: &Value) -> Option<Node> {
    match schema {
        Value::Bool(true) => Some(Node::Any),
        Value::Bool(false) => Some(Node::Never),
        Value::Object(map) => object_node(map),
        _ => None,
    }
}

fn count(value: &Value) -> Option<Option<u64>> {
    value.as_u64().map(Some)
}

fn bound(value: &Value) -> Option<Option<f64>> {
    // Draft 4's boolean `exclusiveMinimum` is not in the subset.
    value.as_f64().filter(|b| b.is_finite()).map(Some)
}

fn object_node(map: &Map<String, Value>) -> Option<Node> {
    let mut checks = Checks {
        types: types::ALL,
        minimum: None,
        maximum: None,
        exclusive_minimum: None,
        exclusive_maximum: None,
        min_length: None,
        max_length: None,
        items: None,
        min_items: None,
        max_items: None,
        names: Vec::new(),
        required: 0,
        additional: Node::Any,
        max_properties: None,
    };
    let mut constrained = false;
    for (keyword, value) in map {
        match keyword.as_str() {
            "$schema" | "$id" | "$comment" | "title" | "description" | "default" | "examples"
            | "deprecated" | "readOnly" | "writeOnly" => continue,
            "type" => checks.types = type_bits(value)?,
            "minimum" => checks.minimum = bound(value)?,
            "maximum" => checks.maximum = bound(value)?,
            "exclusiveMinimum" => checks.exclusive_minimum = bound(value)?,
            "exclusiveMaximum" => checks.exclusive_maximum = bound(value)?,
            "minLength" => checks.min_length = count(value)?,
            "maxLength" => checks.max_length = count(value)?,
            "minItems" => checks.min_items = count(value)?,
            "maxItems" => checks.max_items = count(value)?,
            "maxProperties" => checks.max_properties = count(value)?,
            "items" => checks.items = Some(node(value)?),
            "additionalProperties" => checks.additional = node(value)?,
            "properties" => {
                for (name, schema) in value.as_object()? {
                    let schema = node(schema)?;
                    named(&mut checks.names, name).schema = Some(schema);
                }
            }
            "required" => {
                let names = value.as_array()?;
                if names.len() > 64 {
                    return None;
                }
                for (i, name) in names.iter().enumerate() {
                    let bit = 1u64 << i;
                    named(&mut checks.names, name.as_str()?).required_bit |= bit;
                    checks.required |= bit;
                }
            }
            _ => return None,
        }
        constrained = true;
    }
    if !constrained {
        return Some(Node::Any);
    }
    Some(Node::Check(Box::new(checks)))
}

fn named<'a>(names: &'a mut Vec<Named>, name: &str) -> &'a mut Named {
    let at = match names.iter().position(|n| n.name == name) {
        Some(at) => at,
        None => {
            names.push(Named {
                name: name.to_owned(),
                schema: None,
                required_bit: 0,
            });
            names.len() - 1
        }
    };
    &mut names[at]
}

fn type_bits(value: &Value) -> Option<u8> {
    let one = |name: &Value| -> Option<u8> {
        Some(match name.as_str()? {
            "null" => types::NULL,
            "boolean" => types::BOOLEAN,
            "integer" => types::INTEGER,
            "number" => types::NUMBER | types::INTEGER,
            "string" => types::STRING,
            "array" => types::ARRAY,
            "object" => types::OBJECT,
            _ => return None,
        })
    };
    match value {
        Value::Array(names) => names.iter().try_fold(0, |bits, n| Some(bits | one(n)?)),
        name => one(name),
    }
}

/// A position in the text; every method answers `false` for "not sure" and may leave the
/// position anywhere then.
struct Cursor<'t> {
    text: &'t [u8],
    at: usize,
    max_depth: usize,
    /// Whether any whitespace was skipped.
    spaced: bool,
}

impl<'t> Cursor<'t> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        let start = self.at;
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
        self.spaced |= self.at != start;
    }

    fn literal(&mut self, word: &[u8]) -> bool {
        if self.text[self.at..].starts_with(word) {
            self.at += word.len();
            true
        } else {
            false
        }
    }

    /// One value, checked against `schema`.
    fn value(&mut self, schema: &Node, depth: usize) -> bool {
        let checks = match schema {
            Node::Never => return false,
            Node::Any => return self.skip_value(depth),
            Node::Check(checks) => checks,
        };
        let allowed = |bit: u8| checks.types & bit != 0;
        match self.peek() {
            Some(b'n') => allowed(types::NULL) && self.literal(b"null"),
            Some(b't') => allowed(types::BOOLEAN) && self.literal(b"true"),
            Some(b'f') => allowed(types::BOOLEAN) && self.literal(b"false"),
            Some(b'"') => {
                if !allowed(types::STRING) {
                    return false;
                }
                let Some(chars) = self.string() else {
                    return false;
                };
                checks.min_length.is_none_or(|n| chars >= n)
                    && checks.max_length.is_none_or(|n| chars <= n)
            }
            Some(b'[') => allowed(types::ARRAY) && self.array(checks, depth),
            Some(b'{') => allowed(types::OBJECT) && self.object(checks, depth),
            Some(b'-' | b'0'..=b'9') => self.number(checks),
            _ => false,
        }
    }

    fn number(&mut self, checks: &Checks) -> bool {
        let start = self.at;
        let Some(integral) = self.number_lexeme() else {
            return false;
        };
        if !integral {
            // `1.0` is an integer to the validator, and float bounds need its exact parse.
            return checks.types & types::NUMBER != 0 && !checks.has_number_bounds();
        }
        if checks.types & (types::INTEGER | types::NUMBER) == 0 {
            return false;
        }
        if !checks.has_number_bounds() {
            return true;
        }
        // The lexeme is ASCII digits with an optional sign.
        let lexeme = std::str::from_utf8(&self.text[start..self.at]).unwrap_or("");
        match lexeme.parse::<i64>() {
            Ok(n) if (-EXACT_INTEGER..=EXACT_INTEGER).contains(&n) => {
                checks.number_in_bounds(n as f64)
            }
            _ => false,
        }
    }

    /// Skips a number; answers whether it was written as an integer (no fraction, no exponent),
    /// or `None` when it is not well-formed or would not read back (see [`scan`]).
    fn number_lexeme(&mut self) -> Option<bool> {
        let start = self.at;
        let integral = self.number_grammar()?;
        let lexeme = &self.text[start..self.at];
        // Up to 18 characters (a sign and 17 digits, or 18 digits) always fit in an i64.
        if integral && lexeme.len() <= 18 {
            return Some(true);
        }
        // The lexeme is ASCII.
        let text = std::str::from_utf8(lexeme).ok()?;
        let readable = if integral {
            text.parse::<i64>().is_ok() || text.parse::<u64>().is_ok()
        } else {
            text.parse::<f64>().is_ok_and(f64::is_finite)
        };
        readable.then_some(integral)
    }

    fn number_grammar(&mut self) -> Option<bool> {
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek()? {
            b'0' => self.at += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        let mut integral = true;
        if self.peek() == Some(b'.') {
            self.at += 1;
            if !self.peek()?.is_ascii_digit() {
                return None;
            }
            self.digits();
            integral = false;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            if !self.peek()?.is_ascii_digit() {
                return None;
            }
            self.digits();
            integral = false;
        }
        Some(integral)
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
    }

    /// Skips a string at `"`; answers its length in code points, or `None` when it is not
    /// well-formed or holds a `\u` escape (left to the full parse).
    fn string(&mut self) -> Option<u64> {
        debug_assert_eq!(self.peek(), Some(b'"'));
        self.at += 1;
        let mut chars = 0u64;
        loop {
            let b = *self.text.get(self.at)?;
            self.at += 1;
            match b {
                b'"' => return Some(chars),
                b'\\' => {
                    match *self.text.get(self.at)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                        _ => return None,
                    }
                    self.at += 1;
                    chars += 1;
                }
                0..=0x1f => return None,
                // UTF-8 continuation bytes do not start a code point; the text is valid UTF-8.
                0x80..=0xbf => {}
                _ => chars += 1,
            }
        }
    }

    /// An object member's name and the colon after it: the name's bytes as written (escapes
    /// and all), or `None` when the text is malformed there.
    fn member_name(&mut self) -> Option<&'t [u8]> {
        let text: &'t [u8] = self.text;
        if self.peek() != Some(b'"') {
            return None;
        }
        let start = self.at + 1;
        self.string()?;
        let name = &text[start..self.at - 1];
        self.skip_space();
        if self.peek() != Some(b':') {
            return None;
        }
        self.at += 1;
        self.skip_space();
        Some(name)
    }

    /// The members of the array or object whose opening bracket is at the cursor, each read by
    /// `member` (from past any space); answers how many there were, or `None` when one fails
    /// or the text is malformed.
    fn members(
        &mut self,
        close: u8,
        depth: usize,
        mut member: impl FnMut(&mut Self) -> bool,
    ) -> Option<u64> {
        if depth >= self.max_depth {
            return None;
        }
        self.at += 1;
        self.skip_space();
        if self.peek() == Some(close) {
            self.at += 1;
            return Some(0);
        }
        let mut count = 0u64;
        loop {
            self.skip_space();
            if !member(self) {
                return None;
            }
            count += 1;
            self.skip_space();
            match self.peek()? {
                b',' => self.at += 1,
                c if c == close => {
                    self.at += 1;
                    return Some(count);
                }
                _ => return None,
            }
        }
    }

    fn array(&mut self, checks: &Checks, depth: usize) -> bool {
        let item = checks.items.as_ref().unwrap_or(&Node::Any);
        let Some(len) = self.members(b']', depth, |c| c.value(item, depth + 1)) else {
            return false;
        };
        checks.min_items.is_none_or(|n| len >= n) && checks.max_items.is_none_or(|n| len <= n)
    }

    fn object(&mut self, checks: &Checks, depth: usize) -> bool {
        let mut seen = 0u64;
        // Members as written. A repeated name is one member once parsed (the last one wins),
        // so this can only be more than the parsed count: sound for `maxProperties`, which is
        // why `minProperties` is outside the subset. Every occurrence of a name is checked
        // against its schema, so whichever the parse keeps is valid.
        let members = self.members(b'}', depth, |c| {
            // Names are matched by bytes, so an escaped one goes to the full parse.
            let Some(name) = c.member_name().filter(|n| !n.contains(&b'\\')) else {
                return false;
            };
            let schema = match checks.names.iter().find(|n| n.name.as_bytes() == name) {
                Some(named) => {
                    seen |= named.required_bit;
                    named.schema.as_ref().unwrap_or(&checks.additional)
                }
                None => &checks.additional,
            };
            c.value(schema, depth + 1)
        });
        let Some(members) = members else {
            return false;
        };
        seen == checks.required && checks.max_properties.is_none_or(|n| members <= n)
    }

    /// Skips any well-formed value.
    fn skip_value(&mut self, depth: usize) -> bool {
        match self.peek() {
            Some(b'n') => self.literal(b"null"),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'"') => self.string().is_some(),
            Some(b'-' | b'0'..=b'9') => self.number_lexeme().is_some(),
            Some(b'[') => self
                .members(b']', depth, |c| c.skip_value(depth + 1))
                .is_some(),
            Some(b'{') => self
                .members(b'}', depth, |c| {
                    c.member_name().is_some() && c.skip_value(depth + 1)
                })
                .is_some(),
            _ => false,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn fast(schema: &Value) -> FastJson {
        FastJson::plan(schema).expect("in the subset")
    }

    #[test]
    fn a_valid_order_is_accepted_without_the_full_parse() {
        let schema = json!({"type":"object","properties":{"id":{"type":"integer"},
            "sku":{"type":"string","maxLength":16},"qty":{"type":"integer","minimum":1},
            "note":{"type":"string"}},"required":["id","sku","qty"]});
        let f = fast(&schema);
        assert!(f.accepts(br#"{"id":1,"sku":"SKU-1","qty":2,"note":"x"}"#));
        assert!(f.accepts(br#" { "qty" : 2 , "sku" : "\n\"", "id" : -7 } "#));
        assert!(!f.accepts(br#"{"id":1,"sku":"SKU-1"}"#), "qty is required");
        assert!(!f.accepts(br#"{"id":1,"sku":"SKU-1","qty":0}"#), "qty ≥ 1");
        assert!(
            !f.accepts(br#"{"id":"1","sku":"SKU-1","qty":1}"#),
            "id is an integer"
        );
        assert!(
            !f.accepts(br#"{"id":1,"sku":"SKU-1234567890ABCD+","qty":1}"#),
            "too long"
        );
        assert!(
            !f.accepts(br#"{"id":1,"sku":"S","qty":1} x"#),
            "trailing text"
        );
        assert!(
            !f.accepts(br#"{"id":1,"sku":"S","qty":1,}"#),
            "trailing comma"
        );
        assert!(!f.accepts(br#"[1]"#));
    }

    #[test]
    fn scan_checks_readability_and_says_when_text_needs_compacting() {
        let any = |t: &str| scan(t.as_bytes(), None, 3);
        assert_eq!(any(r#"{"a":[1,2]}"#), Some(Scanned { spaced: false }));
        assert_eq!(any(" [1, \"a b\"]\n"), Some(Scanned { spaced: true }));
        assert_eq!(any("[[[1]]]"), Some(Scanned { spaced: false }));
        assert_eq!(any("[[[[1]]]]"), None, "deeper than 3");
        assert_eq!(any("123456789012345678"), Some(Scanned { spaced: false }));
        assert_eq!(any("18446744073709551615"), Some(Scanned { spaced: false }));
        assert_eq!(any("18446744073709551616"), None, "beyond u64");
        assert_eq!(any("-9223372036854775809"), None, "beyond i64");
        assert_eq!(any("1e400"), None, "not a finite f64");
        assert_eq!(any("[1,]"), None);
        assert_eq!(scan(b"\"\xff\"", None, 3), None, "not UTF-8");
    }

    #[test]
    fn lengths_count_code_points_not_bytes() {
        let f = fast(&json!({"type":"string","maxLength":2,"minLength":2}));
        assert!(f.accepts("\"é€\"".as_bytes()));
        assert!(f.accepts(br#""\n\t""#));
        assert!(!f.accepts("\"é€x\"".as_bytes()));
        assert!(
            !f.accepts(br#""\u00e9x""#),
            "unicode escapes go to the full parse"
        );
    }

    #[test]
    fn schemas_outside_the_subset_have_no_fast_plan() {
        for schema in [
            json!({"enum":[1,2]}),
            json!({"type":"string","pattern":"^a"}),
            json!({"properties":{"a":{"$ref":"#/$defs/x"}}}),
            json!({"anyOf":[{"type":"string"}]}),
            json!({"items":[{"type":"string"}]}),
            json!({"exclusiveMinimum":true,"minimum":1}),
            json!({"type":"text"}),
            json!({"format":"email"}),
        ] {
            assert!(FastJson::plan(&schema).is_none(), "{schema}");
        }
    }

    /// One-level schemas of the subset.
    fn leaf_schema() -> impl Strategy<Value = Value> {
        let type_name = prop::sample::select(vec![
            "null", "boolean", "integer", "number", "string", "array", "object",
        ]);
        prop_oneof![
            Just(json!(true)),
            Just(json!(false)),
            Just(json!({})),
            type_name.clone().prop_map(|t| json!({"type": t})),
            prop::collection::btree_set(type_name, 1..3).prop_map(|t| json!({"type": t})),
            (0u64..4, 0u64..4)
                .prop_map(|(a, b)| json!({"type":"string","minLength":a,"maxLength":a+b})),
            (-5i64..5, 0i64..6).prop_map(|(a, b)| json!({"minimum":a,"maximum":a+b})),
            (-5i64..5).prop_map(|a| json!({"type":"number","exclusiveMinimum":a})),
            (-3.5f64..3.5).prop_map(|a| json!({"exclusiveMaximum":a})),
        ]
    }

    /// Schemas drawn from the subset, nested a few levels.
    fn subset_schema() -> impl Strategy<Value = Value> {
        leaf_schema().prop_recursive(3, 24, 4, |inner| {
            let name = || prop::sample::select(vec!["a", "b", "c", "é"]);
            prop_oneof![
                (inner.clone(), 0u64..3, 0u64..3).prop_map(|(items, min, extra)| {
                    json!({"type":"array","items":items,"minItems":min,"maxItems":min+extra})
                }),
                (
                    prop::collection::btree_map(name(), inner.clone(), 0..3),
                    prop::collection::btree_set(name(), 0..3),
                    prop::option::of(inner),
                    prop::option::of(0u64..4),
                )
                    .prop_map(|(props, required, additional, max)| {
                        let mut s = json!({"type":"object","properties":props,"required":required});
                        if let Some(additional) = additional {
                            s["additionalProperties"] = additional;
                        }
                        if let Some(max) = max {
                            s["maxProperties"] = json!(max);
                        }
                        s
                    }),
            ]
        })
    }

    /// Scalar documents as text, each with whether the fast path is built to decide it: not
    /// when it holds what goes to the full parse (`\u` escapes, fractions and exponents,
    /// integers past 2^53).
    fn leaf_text() -> impl Strategy<Value = (String, bool)> {
        let plain = |s: &str| (s.to_owned(), true);
        let hard = |s: &str| (s.to_owned(), false);
        prop_oneof![
            prop::sample::select(vec![
                plain("null"),
                plain("true"),
                plain("false"),
                plain("-0"),
                hard("1.0"),
                hard("-2.5e0"),
                hard("9007199254740993"),
                hard("18446744073709551616"),
                plain(r#""""#),
                plain(r#""ab""#),
                plain(r#""é€""#),
                plain(r#""a\"b""#),
                plain(r#""x\\\n\t""#),
                hard(r#""\u0041""#),
                plain(r#""abcde""#),
                (" \"ab\"\n".to_owned(), true),
                ("\"a\u{1}\"".to_owned(), true),
                ("\"a\u{1f}\"".to_owned(), true),
                plain("nul"),
                plain("01"),
                plain("-"),
                plain("1."),
            ]),
            (-8i64..8).prop_map(|n| (n.to_string(), true)),
        ]
    }

    /// Documents written as text, each with whether the fast path is built to decide it (see
    /// [`leaf_text`]; also not with an escaped or repeated name).
    pub(crate) fn document_text() -> impl Strategy<Value = (String, bool)> {
        leaf_text().prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(|items| {
                    let decidable = items.iter().all(|(_, d)| *d);
                    let texts: Vec<&str> = items.iter().map(|(t, _)| t.as_str()).collect();
                    (format!("[ {} ]", texts.join(" ,")), decidable)
                }),
                prop::collection::vec(
                    (
                        prop::sample::select(vec!["a", "b", "c", "é", "d", r"a\u0062"]),
                        inner
                    ),
                    0..4
                )
                .prop_map(|members| {
                    // A repeated name counts twice as written: `maxProperties` may then refuse.
                    let names: std::collections::BTreeSet<_> =
                        members.iter().map(|(k, _)| k).collect();
                    let decidable = names.len() == members.len()
                        && members.iter().all(|(k, (_, d))| *d && !k.contains('\\'));
                    let texts: Vec<String> = members
                        .iter()
                        .map(|(k, (v, _))| format!("\"{k}\" :{v}"))
                        .collect();
                    (format!("{{{}}}", texts.join(",")), decidable)
                }),
            ]
        })
    }

    /// Soundness: the fast path never accepts what the full validator refuses (nor text that
    /// does not parse); and on text it is built to decide it accepts everything the validator
    /// accepts.
    fn agree(schema: &Value, text: &str, decidable: bool) -> Result<(), TestCaseError> {
        let f = FastJson::plan(schema).expect("the strategy draws from the subset");
        let validator = jsonschema::validator_for(schema).unwrap();
        let parsed: Option<Value> = serde_json::from_str(text).ok();
        let full = parsed.as_ref().is_some_and(|doc| validator.is_valid(doc));
        let fast = f.accepts(text.as_bytes());
        prop_assert!(
            !fast || full,
            "fast accepted what the validator refuses: {schema} {text}"
        );
        if decidable && full {
            prop_assert!(fast, "fast missed a valid document: {schema} {text}");
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]
        /// Every scalar keyword against every kind of scalar text, where the bounds live.
        #[test]
        fn scalar_checks_agree_with_the_full_validator(
            schema in leaf_schema(),
            (text, decidable) in leaf_text(),
        ) {
            agree(&schema, &text, decidable)?;
        }

        /// Nested schemas against nested documents, with the same few names on both sides.
        #[test]
        fn nested_checks_agree_with_the_full_validator(
            schema in subset_schema(),
            (text, decidable) in document_text(),
        ) {
            agree(&schema, &text, decidable)?;
        }
    }
}
