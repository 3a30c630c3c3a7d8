//! Registry behaviour over a real redb database in a temporary directory.

use std::sync::Arc;

use super::*;

const ORDER_V1: &str = r#"{"type":"record","name":"Order","fields":[{"name":"id","type":"int"}]}"#;
const ORDER_V2: &str = r#"{"type":"record","name":"Order","fields":[{"name":"id","type":"int"},{"name":"note","type":"string","default":""}]}"#;
const ORDER_NO_DEFAULT: &str = r#"{"type":"record","name":"Order","fields":[{"name":"id","type":"int"},{"name":"note","type":"string"}]}"#;

fn open(dir: &std::path::Path) -> Registry {
    let db = Database::create(dir.join("meta.redb")).unwrap();
    Registry::open(Arc::new(db)).unwrap()
}

#[test]
fn versions_grow_per_subject_and_ids_are_global() {
    let dir = tempfile::tempdir().unwrap();
    let registry = open(dir.path());
    let v1 = registry
        .register("orders-value", SchemaType::Avro, ORDER_V1, &[])
        .unwrap();
    assert_eq!((v1.id, v1.version), (1, 1));
    // The same schema again (other whitespace) is the same version.
    let again = registry
        .register(
            "orders-value",
            SchemaType::Avro,
            &ORDER_V1.replace(',', ", "),
            &[],
        )
        .unwrap();
    assert_eq!(again, v1);
    let v2 = registry
        .register("orders-value", SchemaType::Avro, ORDER_V2, &[])
        .unwrap();
    assert_eq!((v2.id, v2.version), (2, 2));
    // Under another subject the same schema keeps its id, with that subject's first version.
    let other = registry
        .register("refunds-value", SchemaType::Avro, ORDER_V1, &[])
        .unwrap();
    assert_eq!((other.id, other.version), (1, 1));
    assert_eq!(registry.subjects(false), ["orders-value", "refunds-value"]);
    assert_eq!(registry.versions("orders-value", false).unwrap(), [1, 2]);
    assert_eq!(
        registry
            .lookup("orders-value", SchemaType::Avro, ORDER_V1)
            .unwrap()
            .version,
        1
    );
    assert_eq!(registry.by_id(2).unwrap().1, ORDER_V2);
    assert!(matches!(
        registry.by_id(9),
        Err(SchemaError::SchemaNotFound { .. })
    ));
}

#[test]
fn backward_is_the_default_and_incompatible_schemas_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let registry = open(dir.path());
    registry
        .register("orders-value", SchemaType::Avro, ORDER_V1, &[])
        .unwrap();
    let refused = registry
        .register("orders-value", SchemaType::Avro, ORDER_NO_DEFAULT, &[])
        .unwrap_err();
    assert_eq!(refused.confluent_code(), 409, "{refused}");
    assert!(
        !registry
            .test_compatibility(
                "orders-value",
                VersionRef::Latest,
                SchemaType::Avro,
                ORDER_NO_DEFAULT
            )
            .unwrap()
            .is_empty()
    );
    registry
        .set_level(Some("orders-value"), Compatibility::None)
        .unwrap();
    assert_eq!(
        registry.effective_level("orders-value"),
        Compatibility::None
    );
    assert_eq!(
        registry.effective_level("other-value"),
        Compatibility::Backward
    );
    registry
        .register("orders-value", SchemaType::Avro, ORDER_NO_DEFAULT, &[])
        .unwrap();
}

#[test]
fn transitive_levels_check_every_live_version() {
    let dir = tempfile::tempdir().unwrap();
    let registry = open(dir.path());
    let closed = |props: &str| {
        format!(r#"{{"type":"object","properties":{{{props}}},"additionalProperties":false}}"#)
    };
    let a = r#""a":{"type":"integer"}"#;
    let b = r#""b":{"type":"integer"}"#;
    registry
        .set_level(Some("t-value"), Compatibility::None)
        .unwrap();
    registry
        .register(
            "t-value",
            SchemaType::Json,
            &closed(&format!("{a},{b}")),
            &[],
        )
        .unwrap();
    registry
        .register("t-value", SchemaType::Json, &closed(a), &[])
        .unwrap();
    // A schema declaring a and b reads v2 (a only), not necessarily v1... both declare a/b:
    // v3 = {a,b} reads v2 {a} and v1 {a,b}; v3' = {b} reads neither closed model.
    registry
        .set_level(Some("t-value"), Compatibility::BackwardTransitive)
        .unwrap();
    let only_b = closed(b);
    let err = registry
        .register("t-value", SchemaType::Json, &only_b, &[])
        .unwrap_err();
    let SchemaError::Incompatible { reasons, .. } = err else {
        panic!("expected incompatible");
    };
    assert!(
        reasons.iter().any(|r| r.contains("version 1")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("version 2")),
        "{reasons:?}"
    );
}

#[test]
fn json_schemas_must_accept_the_retained_samples_under_backward_levels() {
    let dir = tempfile::tempdir().unwrap();
    let registry = open(dir.path());
    let sample = Sample {
        place: "partition 0 offset 3".into(),
        value: br#"{"n":"text"}"#.to_vec(),
    };
    let integer = r#"{"type":"object","properties":{"n":{"type":"integer"}}}"#;
    let err = registry
        .register(
            "s-value",
            SchemaType::Json,
            integer,
            std::slice::from_ref(&sample),
        )
        .unwrap_err();
    assert!(err.to_string().contains("partition 0 offset 3"), "{err}");
    let string = r#"{"type":"object","properties":{"n":{"type":"string"}}}"#;
    registry
        .register("s-value", SchemaType::Json, string, &[sample])
        .unwrap();
}

#[test]
fn soft_deletes_hide_versions_but_keep_numbers_and_ids() {
    let dir = tempfile::tempdir().unwrap();
    let registry = open(dir.path());
    registry
        .register("orders-value", SchemaType::Avro, ORDER_V1, &[])
        .unwrap();
    registry
        .register("orders-value", SchemaType::Avro, ORDER_V2, &[])
        .unwrap();
    assert_eq!(
        registry
            .delete_version("orders-value", VersionRef::Number(2))
            .unwrap(),
        2
    );
    assert_eq!(registry.versions("orders-value", false).unwrap(), [1]);
    assert_eq!(registry.versions("orders-value", true).unwrap(), [1, 2]);
    assert!(matches!(
        registry.get("orders-value", VersionRef::Number(2), false),
        Err(SchemaError::VersionNotFound { .. })
    ));
    // Its id still resolves (readers of old records need it).
    assert_eq!(registry.by_id(2).unwrap().1, ORDER_V2);
    // Registering it again makes a new version with the same id.
    let back = registry
        .register("orders-value", SchemaType::Avro, ORDER_V2, &[])
        .unwrap();
    assert_eq!((back.id, back.version), (2, 3));
    assert_eq!(registry.delete_subject("orders-value").unwrap(), [1, 3]);
    assert!(matches!(
        registry.versions("orders-value", false),
        Err(SchemaError::SubjectNotFound { .. })
    ));
    assert!(registry.subjects(false).is_empty());
}

#[test]
fn schemas_levels_and_deletions_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let registry = open(dir.path());
        registry
            .register("orders-value", SchemaType::Avro, ORDER_V1, &[])
            .unwrap();
        registry
            .register("orders-value", SchemaType::Avro, ORDER_V2, &[])
            .unwrap();
        registry
            .delete_version("orders-value", VersionRef::Latest)
            .unwrap();
        registry.set_level(None, Compatibility::Full).unwrap();
    }
    let registry = open(dir.path());
    assert_eq!(registry.versions("orders-value", false).unwrap(), [1]);
    assert_eq!(registry.level(None), Some(Compatibility::Full));
    let view = registry.view("orders-value").unwrap();
    assert_eq!(view.latest, Some((1, 1)));
    // Ids keep growing after a restart.
    let next = registry
        .register("other-value", SchemaType::Json, r#"{"type":"string"}"#, &[])
        .unwrap();
    assert_eq!(next.id, 3);
}

#[test]
fn bad_subjects_versions_and_schemas_get_confluents_codes() {
    let dir = tempfile::tempdir().unwrap();
    let registry = open(dir.path());
    let code = |e: SchemaError| e.confluent_code();
    assert_eq!(code(registry.versions("nope", false).unwrap_err()), 40401);
    registry
        .register("orders-value", SchemaType::Avro, ORDER_V1, &[])
        .unwrap();
    assert_eq!(
        code(
            registry
                .get("orders-value", VersionRef::Number(7), false)
                .unwrap_err()
        ),
        40402
    );
    assert_eq!(
        code(
            registry
                .register("orders-value", SchemaType::Avro, "{\"type\":\"nope\"}", &[])
                .unwrap_err()
        ),
        42201
    );
    assert_eq!(
        code(
            registry
                .register("bad subject", SchemaType::Avro, ORDER_V1, &[])
                .unwrap_err()
        ),
        42201
    );
    assert_eq!(code(VersionRef::parse("0").unwrap_err()), 42202);
    assert_eq!(VersionRef::parse("-1").unwrap(), VersionRef::Latest);
}

/// Registration under BACKWARD, FORWARD, FULL and NONE for the evolutions Confluent's "Schema
/// Evolution and Compatibility" tables list (Avro), and the same evolutions in JSON Schema by
/// the rules in `compat`'s module doc: accepted exactly where the tables say.
#[test]
fn each_level_accepts_the_evolutions_its_documentation_allows() {
    let avro = |fields: &str| {
        format!(
            r#"{{"type":"record","name":"Order","fields":[{{"name":"id","type":"int"}}{fields}]}}"#
        )
    };
    let enum_of =
        |symbols: &str| format!(r#"{{"type":"enum","name":"Colour","symbols":[{symbols}]}}"#);
    let object = |props: &str, required: &str| {
        format!(
            r#"{{"type":"object","properties":{{"id":{{"type":"integer"}}{props}}},"required":["id"{required}]}}"#
        )
    };
    let note = r#","note":{"type":"string"}"#;
    let colour = |values: &str| format!(r#"{{"type":"string","enum":[{values}]}}"#);
    use Compatibility::{Backward, Forward, Full, None as NoCheck};
    // (what, type, old, new, accepted under [BACKWARD, FORWARD, FULL])
    let cases: Vec<(&str, SchemaType, String, String, [bool; 3])> = vec![
        (
            "avro: add a field with a default",
            SchemaType::Avro,
            avro(""),
            avro(r#",{"name":"note","type":"string","default":""}"#),
            [true, true, true],
        ),
        (
            "avro: add a field without a default",
            SchemaType::Avro,
            avro(""),
            avro(r#",{"name":"note","type":"string"}"#),
            [false, true, false],
        ),
        (
            "avro: remove a field without a default",
            SchemaType::Avro,
            avro(r#",{"name":"note","type":"string"}"#),
            avro(""),
            [true, false, false],
        ),
        (
            "avro: remove a field with a default",
            SchemaType::Avro,
            avro(r#",{"name":"note","type":"string","default":""}"#),
            avro(""),
            [true, true, true],
        ),
        (
            "avro: change a field's type int to string",
            SchemaType::Avro,
            avro(""),
            avro("").replace(r#""type":"int""#, r#""type":"string""#),
            [false, false, false],
        ),
        (
            "avro: add an enum symbol",
            SchemaType::Avro,
            enum_of(r#""RED","GREEN""#),
            enum_of(r#""RED","GREEN","BLUE""#),
            [true, false, false],
        ),
        (
            "json: add an optional property",
            SchemaType::Json,
            object("", ""),
            object(note, ""),
            [true, true, true],
        ),
        (
            "json: add a required property",
            SchemaType::Json,
            object("", ""),
            object(note, r#","note""#),
            [false, true, false],
        ),
        (
            "json: remove a required property",
            SchemaType::Json,
            object(note, r#","note""#),
            object("", ""),
            [true, false, false],
        ),
        (
            "json: change a property's type integer to string",
            SchemaType::Json,
            object("", ""),
            object("", "").replace(r#""type":"integer""#, r#""type":"string""#),
            [false, false, false],
        ),
        (
            "json: add an enum value",
            SchemaType::Json,
            colour(r#""RED","GREEN""#),
            colour(r#""RED","GREEN","BLUE""#),
            [true, false, false],
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let registry = open(dir.path());
    for (i, (what, kind, old, new, expected)) in cases.iter().enumerate() {
        for (level, accepted) in [Backward, Forward, Full, NoCheck]
            .into_iter()
            .zip(expected.iter().copied().chain([true]))
        {
            let subject = format!("case{i}-{}-value", level.as_str());
            registry.set_level(Some(&subject), level).unwrap();
            registry.register(&subject, *kind, old, &[]).unwrap();
            let outcome = registry.register(&subject, *kind, new, &[]);
            assert_eq!(
                outcome.is_ok(),
                accepted,
                "{what} under {}: {outcome:?}",
                level.as_str()
            );
            if let Err(e) = outcome {
                assert_eq!(e.confluent_code(), 409, "{what}: {e}");
            }
        }
    }
}
