use super::*;

#[test]
fn null_value_is_present_and_absent_value_is_none() {
    let with_null: ProduceRecord = serde_json::from_str(r#"{"value":null}"#).unwrap();
    assert_eq!(with_null.value.unwrap().get(), "null");
    let absent: ProduceRecord = serde_json::from_str(r#"{"value_b64":"AA=="}"#).unwrap();
    assert!(absent.value.is_none());
}

#[test]
fn polled_records_decode_with_json_values() {
    let text = r#"{"topic":"t","partition":1,"epoch":5,"offset":9,"timestamp":3,"key":"k","value":{"a":[1]},"headers":{"h":"v"}}"#;
    let r: PolledRecord = serde_json::from_str(text).unwrap();
    assert_eq!(r.value.unwrap().get(), r#"{"a":[1]}"#);
    assert_eq!((r.partition, r.epoch, r.offset), (1, 5, 9));
}

#[test]
fn acks_parse_every_spelling_and_print_the_canonical_one() {
    for (text, acks) in [
        ("all", Acks::All),
        ("-1", Acks::All),
        ("leader", Acks::Leader),
        ("1", Acks::Leader),
        ("none", Acks::None),
        ("0", Acks::None),
    ] {
        assert_eq!(text.parse::<Acks>(), Ok(acks));
        let json: Acks = serde_json::from_str(&format!("\"{text}\"")).unwrap();
        assert_eq!(json, acks);
    }
    assert_eq!(Acks::default(), Acks::All);
    assert_eq!(Acks::Leader.to_string(), "leader");
    assert_eq!(serde_json::to_string(&Acks::None).unwrap(), "\"none\"");
    assert!("2".parse::<Acks>().is_err());
    let err = serde_json::from_str::<Acks>("\"some\"").unwrap_err();
    assert!(err.to_string().contains("unknown variant `some`"), "{err}");
}

#[test]
fn json_keys_are_string_bytes_or_compact_text() {
    use serde_json::json;
    assert_eq!(
        key_bytes_of_json(&json!("k é")).as_deref(),
        Some("k é".as_bytes())
    );
    assert_eq!(key_bytes_of_json(&json!(null)), None);
    assert_eq!(
        key_bytes_of_json(&json!({"a": [1, 2]})).as_deref(),
        Some(&b"{\"a\":[1,2]}"[..])
    );
    assert_eq!(into_key_bytes(json!(42)), Some(b"42".to_vec()));
    assert_eq!(into_key_bytes(json!("k")), Some(b"k".to_vec()));
    assert_eq!(into_key_bytes(json!(null)), None);
}

#[test]
fn error_bodies_carry_a_typed_code_and_keep_unknown_ones() {
    let body: ErrorBody =
        serde_json::from_str(r#"{"error":{"code":"fenced","message":"m","retriable":false}}"#)
            .unwrap();
    assert_eq!(body.error.error_code(), ErrorCode::Fenced);
    let newer: ErrorDetail =
        serde_json::from_str(r#"{"code":"brand_new","message":"m","retriable":true}"#).unwrap();
    assert_eq!(newer.error_code(), ErrorCode::Other("brand_new".to_owned()));
}

#[test]
fn a_new_topic_request_sends_only_name_and_partitions() {
    let json = serde_json::to_value(CreateTopic::new("orders", 3)).unwrap();
    assert_eq!(json, serde_json::json!({"name": "orders", "partitions": 3}));
}

#[test]
fn unknown_record_fields_are_rejected() {
    let err = serde_json::from_str::<ProduceRecord>(r#"{"value":1,"vaule":2}"#).unwrap_err();
    assert!(err.to_string().contains("unknown field"), "{err}");
}
