//! Whether a reader schema can read what a writer schema wrote.
//!
//! BACKWARD asks whether the new schema reads data written with the old ones (the new schema is
//! the reader); FORWARD the other way round; FULL both. [`reasons`] answers one pair.
//!
//! Avro: apache-avro's `SchemaCompatibility::can_read`, the Avro specification's schema
//! resolution (added fields need defaults, numeric promotions, enum symbols, unions...).
//!
//! JSON Schema: the reader reads the writer's data when every document the writer accepts the
//! reader also accepts. Checked structurally, level by level, by these rules:
//! - `type`: the reader's types include the writer's (`number` includes `integer`); a reader
//!   without `type` takes any; a writer without `type` but a typed reader is incompatible.
//! - `enum`: a reader's `enum` must contain every value of the writer's (adding a value is
//!   backward compatible, removing one forward compatible).
//! - `required`: every property the reader requires, the writer requires too (a new required
//!   property is not backward compatible; a new optional one is).
//! - `properties`: a property the writer declares is checked against the reader's declaration
//!   of it; if the reader does not declare it, the reader's `additionalProperties` decides
//!   (`false`: incompatible, a schema: checked against it, absent/`true`: accepted). A property
//!   only the reader declares is accepted (writers are assumed not to put other types under
//!   undeclared names).
//! - `additionalProperties: false` in the reader needs it in the writer too.
//! - `items` are checked recursively.
//! - bounds may only widen in the reader: `minimum`, `exclusiveMinimum`, `minLength`,
//!   `minItems` not higher, `maximum`, `exclusiveMaximum`, `maxLength`, `maxItems` not lower;
//!   a `pattern` or `format` must be the same.
//! - composition and references (`anyOf`, `oneOf`, `allOf`, `not`, `$ref`, `if`, ...) are not
//!   compared: they must be identical in both, else the pair is reported incompatible.

use apache_avro::schema_compatibility::SchemaCompatibility;
use serde_json::{Map, Value};

use super::{SchemaError, SchemaType};

/// Why `reader` cannot read data written with `writer`; empty when it can.
pub fn reasons(kind: SchemaType, reader: &str, writer: &str) -> Result<Vec<String>, SchemaError> {
    match kind {
        SchemaType::Avro => {
            let parse = |text: &str| {
                apache_avro::Schema::parse_str(text).map_err(|e| SchemaError::InvalidSchema {
                    message: e.to_string(),
                })
            };
            let (reader, writer) = (parse(reader)?, parse(writer)?);
            Ok(match SchemaCompatibility::can_read(&writer, &reader) {
                Ok(()) => Vec::new(),
                Err(e) => vec![e.to_string()],
            })
        }
        SchemaType::Json => {
            let parse = |text: &str| {
                serde_json::from_str::<Value>(text).map_err(|e| SchemaError::InvalidSchema {
                    message: e.to_string(),
                })
            };
            let (reader, writer) = (parse(reader)?, parse(writer)?);
            let mut out = Vec::new();
            json_reads(&reader, &writer, "#", &mut out);
            Ok(out)
        }
    }
}

/// Keywords whose semantics the structural check does not model.
const OPAQUE: &[&str] = &[
    "anyOf",
    "oneOf",
    "allOf",
    "not",
    "$ref",
    "if",
    "then",
    "else",
    "patternProperties",
    "dependentSchemas",
    "dependentRequired",
    "const",
    "prefixItems",
    "contains",
    "propertyNames",
];

fn json_reads(reader: &Value, writer: &Value, at: &str, out: &mut Vec<String>) {
    let (r, w) = match (reader, writer) {
        (Value::Bool(true), _) | (_, Value::Bool(false)) => return,
        (Value::Bool(false), _) => {
            out.push(format!("{at}: the reader accepts nothing"));
            return;
        }
        (Value::Object(r), Value::Object(w)) => (r, w),
        (Value::Object(r), Value::Bool(true)) if r.is_empty() => return,
        (Value::Object(_), Value::Bool(true)) => {
            out.push(format!(
                "{at}: the writer accepts anything, the reader constrains it"
            ));
            return;
        }
        _ => {
            out.push(format!("{at}: not a schema"));
            return;
        }
    };
    for keyword in OPAQUE {
        if r.get(*keyword) != w.get(*keyword) {
            out.push(format!(
                "{at}: `{keyword}` differs (not compared: it must be identical)"
            ));
        }
    }
    types(r, w, at, out);
    if let Some(Value::Array(r_enum)) = r.get("enum") {
        match w.get("enum") {
            Some(Value::Array(w_enum)) => {
                for value in w_enum.iter().filter(|v| !r_enum.contains(v)) {
                    out.push(format!("{at}: enum value {value} is missing in the reader"));
                }
            }
            _ => out.push(format!("{at}: the reader restricts values to an enum")),
        }
    }
    objects(r, w, at, out);
    if let Some(r_items) = r.get("items") {
        let w_items = w.get("items").unwrap_or(&Value::Bool(true));
        json_reads(r_items, w_items, &format!("{at}/items"), out);
    }
    bounds(r, w, at, out);
}

fn type_set(schema: &Map<String, Value>) -> Option<Vec<&str>> {
    match schema.get("type")? {
        Value::String(t) => Some(vec![t.as_str()]),
        Value::Array(ts) => Some(ts.iter().filter_map(Value::as_str).collect()),
        _ => Some(Vec::new()),
    }
}

fn types(r: &Map<String, Value>, w: &Map<String, Value>, at: &str, out: &mut Vec<String>) {
    let Some(r_types) = type_set(r) else { return };
    let Some(w_types) = type_set(w) else {
        out.push(format!(
            "{at}: the writer allows any type, the reader only {}",
            r_types.join(", ")
        ));
        return;
    };
    for t in w_types {
        let covered = r_types.contains(&t) || (t == "integer" && r_types.contains(&"number"));
        if !covered {
            out.push(format!(
                "{at}: type {t} of the writer is not one of the reader's ({})",
                r_types.join(", ")
            ));
        }
    }
}

fn names(schema: &Map<String, Value>, keyword: &str) -> Vec<String> {
    match schema.get(keyword) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn objects(r: &Map<String, Value>, w: &Map<String, Value>, at: &str, out: &mut Vec<String>) {
    let w_required = names(w, "required");
    for name in names(r, "required") {
        if !w_required.contains(&name) {
            out.push(format!(
                "{at}: property {name:?} is required by the reader, not by the writer"
            ));
        }
    }
    let empty = Map::new();
    let r_props = r
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let w_props = w
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let r_additional = r.get("additionalProperties");
    for (name, w_prop) in w_props {
        let here = format!("{at}/properties/{name}");
        match (r_props.get(name), r_additional) {
            (Some(r_prop), _) => json_reads(r_prop, w_prop, &here, out),
            (None, Some(Value::Bool(false))) => out.push(format!(
                "{here}: the writer's property is not allowed by the reader (additionalProperties false)"
            )),
            (None, Some(extra)) => json_reads(extra, w_prop, &here, out),
            (None, None) => {}
        }
    }
    if r_additional == Some(&Value::Bool(false)) && w.get("additionalProperties") != r_additional {
        out.push(format!(
            "{at}: the reader closes the content model (additionalProperties false), the writer does not"
        ));
    }
}

fn bounds(r: &Map<String, Value>, w: &Map<String, Value>, at: &str, out: &mut Vec<String>) {
    let number = |m: &Map<String, Value>, k: &str| m.get(k).and_then(Value::as_f64);
    for lower in [
        "minimum",
        "exclusiveMinimum",
        "minLength",
        "minItems",
        "minProperties",
    ] {
        if let Some(rv) = number(r, lower)
            && number(w, lower).is_none_or(|wv| rv > wv)
        {
            out.push(format!("{at}: `{lower}` is stricter in the reader"));
        }
    }
    for upper in [
        "maximum",
        "exclusiveMaximum",
        "maxLength",
        "maxItems",
        "maxProperties",
    ] {
        if let Some(rv) = number(r, upper)
            && number(w, upper).is_none_or(|wv| rv < wv)
        {
            out.push(format!("{at}: `{upper}` is stricter in the reader"));
        }
    }
    for same in ["pattern", "format", "multipleOf"] {
        if r.get(same).is_some() && r.get(same) != w.get(same) {
            out.push(format!("{at}: `{same}` differs"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (backward, forward): whether the new schema reads the old one's data, and the old the
    /// new's.
    fn answers(kind: SchemaType, old: &str, new: &str) -> (bool, bool) {
        let backward = reasons(kind, new, old).unwrap();
        let forward = reasons(kind, old, new).unwrap();
        (backward.is_empty(), forward.is_empty())
    }

    fn avro_record(fields: &str) -> String {
        format!(r#"{{"type":"record","name":"Order","namespace":"shop","fields":[{fields}]}}"#)
    }

    const ID: &str = r#"{"name":"id","type":"int"}"#;

    /// Confluent's documented answers ("Schema Evolution and Compatibility", Avro).
    #[test]
    fn avro_evolutions_are_answered_as_confluent_documents() {
        let avro = |old: &str, new: &str| answers(SchemaType::Avro, old, new);
        let base = avro_record(ID);
        // Add a field with a default: backward and forward (full).
        let with_default = avro_record(&format!(
            r#"{ID},{{"name":"note","type":"string","default":""}}"#
        ));
        assert_eq!(avro(&base, &with_default), (true, true));
        // Add a field without a default: new readers cannot fill it in old data.
        let no_default = avro_record(&format!(r#"{ID},{{"name":"note","type":"string"}}"#));
        assert_eq!(avro(&base, &no_default), (false, true));
        // Remove a field without a default: backward only.
        assert_eq!(avro(&no_default, &base), (true, false));
        // Remove a field that had a default: full.
        assert_eq!(avro(&with_default, &base), (true, true));
        // Change a type: int -> long is a promotion (backward); int -> string is neither.
        let long = avro_record(r#"{"name":"id","type":"long"}"#);
        assert_eq!(avro(&base, &long), (true, false));
        let string = avro_record(r#"{"name":"id","type":"string"}"#);
        assert_eq!(avro(&base, &string), (false, false));
        // Widen to a union with null: backward.
        let nullable = avro_record(r#"{"name":"id","type":["null","int"],"default":null}"#);
        assert_eq!(avro(&base, &nullable), (true, false));
        // Rename without an alias: the new field has no value in old data.
        let renamed = avro_record(r#"{"name":"order_id","type":"int"}"#);
        assert_eq!(avro(&base, &renamed), (false, false));
        // Add an enum symbol: backward (new readers know every old symbol), not forward.
        let colour =
            |symbols: &str| format!(r#"{{"type":"enum","name":"Colour","symbols":[{symbols}]}}"#);
        let (rg, rgb) = (
            colour(r#""RED","GREEN""#),
            colour(r#""RED","GREEN","BLUE""#),
        );
        assert_eq!(avro(&rg, &rgb), (true, false));
        // Remove an enum symbol: forward only.
        assert_eq!(avro(&rgb, &rg), (false, true));
    }

    fn object(properties: &str, required: &str, extra: &str) -> String {
        format!(
            r#"{{"type":"object","properties":{{{properties}}},"required":[{required}]{extra}}}"#
        )
    }

    /// The documented JSON Schema rules (module doc) on the same evolutions.
    #[test]
    fn json_schema_evolutions_follow_the_documented_rules() {
        let json = |old: &str, new: &str| answers(SchemaType::Json, old, new);
        let id = r#""id":{"type":"integer"}"#;
        let note = r#""note":{"type":"string"}"#;
        let base = object(id, r#""id""#, "");
        // Add an optional property: full.
        let optional = object(&format!("{id},{note}"), r#""id""#, "");
        assert_eq!(json(&base, &optional), (true, true));
        // Add a required property: old data lacks it.
        let required = object(&format!("{id},{note}"), r#""id","note""#, "");
        assert_eq!(json(&base, &required), (false, true));
        // Remove an optional property from an open model: full.
        assert_eq!(json(&optional, &base), (true, true));
        // Remove a required property: backward only (old readers require it).
        assert_eq!(json(&required, &base), (true, false));
        // Remove a property from a closed model: the new reader refuses old data carrying it.
        let closed_two = object(
            &format!("{id},{note}"),
            r#""id""#,
            r#","additionalProperties":false"#,
        );
        let closed_one = object(id, r#""id""#, r#","additionalProperties":false"#);
        assert_eq!(json(&closed_two, &closed_one), (false, true));
        // Change a type: integer -> string is neither; integer -> number widens (backward).
        let string = object(r#""id":{"type":"string"}"#, r#""id""#, "");
        assert_eq!(json(&base, &string), (false, false));
        let number = object(r#""id":{"type":"number"}"#, r#""id""#, "");
        assert_eq!(json(&base, &number), (true, false));
        // Add an enum value: backward; remove one: forward.
        let colour = |values: &str| format!(r#"{{"type":"string","enum":[{values}]}}"#);
        let (rg, rgb) = (
            colour(r#""RED","GREEN""#),
            colour(r#""RED","GREEN","BLUE""#),
        );
        assert_eq!(json(&rg, &rgb), (true, false));
        assert_eq!(json(&rgb, &rg), (false, true));
        // Tighten a bound: forward only.
        let (loose, tight) = (
            r#"{"type":"string","maxLength":10}"#,
            r#"{"type":"string","maxLength":5}"#,
        );
        assert_eq!(json(loose, tight), (false, true));
        // Composition is compared for identity only.
        let any_of = r#"{"anyOf":[{"type":"string"},{"type":"integer"}]}"#;
        assert_eq!(json(any_of, any_of), (true, true));
        assert_eq!(
            json(any_of, r#"{"anyOf":[{"type":"string"}]}"#),
            (false, false)
        );
    }

    #[test]
    fn incompatibilities_name_the_place_and_the_reason() {
        let id = r#""id":{"type":"integer"}"#;
        let old = object(id, "", "");
        let new = object(r#""id":{"type":"string"}"#, r#""id""#, "");
        let why = reasons(SchemaType::Json, &new, &old).unwrap();
        assert_eq!(why.len(), 2, "{why:?}");
        assert!(
            why.iter()
                .any(|r| r.starts_with("#/properties/id: type integer")),
            "{why:?}"
        );
        assert!(
            why.iter().any(|r| r.contains(r#""id" is required"#)),
            "{why:?}"
        );
    }
}
