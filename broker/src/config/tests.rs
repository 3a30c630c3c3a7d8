use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn defaults_load_without_any_input() {
    let config = BrokerConfig::load(&Overrides::default(), env(&[])).unwrap();
    assert_eq!(config, BrokerConfig::default());
    assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
}

#[test]
fn every_setting_has_an_environment_variable() {
    let names = env_var_names();
    for expected in [
        "WHARF_LISTEN",
        "WHARF_DATA_DIR",
        "WHARF_TOPIC_DEFAULTS_RETENTION_MS",
        "WHARF_CLAIM_CHECK_BUCKET",
        "WHARF_CLAIM_CHECK_ENDPOINT_URL",
        "WHARF_GROUPS_MAX_LEASE_MS",
        "WHARF_AUTH_TOKENS",
        "WHARF_FSYNC",
        "WHARF_TLS_CERT_PATH",
        "WHARF_TLS_KEY_PATH",
    ] {
        assert!(
            names.contains(&expected.to_owned()),
            "{expected} missing from {names:?}"
        );
    }
}

#[test]
fn environment_overrides_file_and_flags_override_environment() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broker.toml");
    std::fs::write(
        &file,
        "max_wait_ms = 1000\n[topic_defaults]\nretention_ms = 5000\nsegment_bytes = 4096\nmax_record_bytes = 1024\n",
    )
    .unwrap();
    let overrides = Overrides {
        config_file: Some(file),
        listen: Some("127.0.0.1:0".parse().unwrap()),
        ..Overrides::default()
    };
    let config = BrokerConfig::load(
        &overrides,
        env(&[
            ("WHARF_TOPIC_DEFAULTS_RETENTION_MS", "7000"),
            ("WHARF_LISTEN", "127.0.0.1:9999"),
            ("WHARF_CLAIM_CHECK_BUCKET", "12345"),
            ("WHARF_FSYNC", "always"),
            ("WHARF_URL", "http://ignored"),
        ]),
    )
    .unwrap();
    assert_eq!(config.max_wait_ms, 1000);
    assert_eq!(config.topic_defaults.retention_ms, 7000);
    assert_eq!(config.topic_defaults.segment_bytes, 4096);
    assert_eq!(config.listen.port(), 0, "the flag wins over WHARF_LISTEN");
    assert_eq!(
        config.claim_check.bucket, "12345",
        "string fields take raw values"
    );
    assert_eq!(config.fsync, FsyncPolicy::Always);
}

#[test]
fn unknown_file_fields_are_rejected_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broker.toml");
    std::fs::write(&file, "[topic_defaults]\nretention_msec = 1\n").unwrap();
    let overrides = Overrides {
        config_file: Some(file.clone()),
        ..Overrides::default()
    };
    let err = BrokerConfig::load(&overrides, env(&[])).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("retention_msec"), "{text}");
    assert!(text.contains(&file.display().to_string()), "{text}");
}

#[test]
fn auth_tokens_can_come_from_the_environment() {
    let config = BrokerConfig::load(
        &Overrides::default(),
        env(&[(
            "WHARF_AUTH_TOKENS",
            r#"[{token = "secret-token-1", rights = [{topics = "orders.*", actions = ["produce"]}]}]"#,
        )]),
    )
    .unwrap();
    assert_eq!(config.auth.tokens.len(), 1);
    assert_eq!(
        config.auth.tokens[0].rights[0].actions,
        vec![Action::Produce]
    );
}

#[test]
fn a_token_is_given_as_the_secret_or_its_sha256_not_both() {
    let load = |tokens: &str| {
        BrokerConfig::load(&Overrides::default(), env(&[("WHARF_AUTH_TOKENS", tokens)]))
    };
    let digest = "a".repeat(64);
    assert!(load(&format!(r#"[{{token_sha256 = "{digest}", rights = []}}]"#)).is_ok());
    for bad in [
        format!(r#"[{{token = "long-enough-1", token_sha256 = "{digest}", rights = []}}]"#),
        r#"[{rights = []}]"#.to_owned(),
        r#"[{token_sha256 = "not-hex", rights = []}]"#.to_owned(),
        r#"[{token = "short", rights = []}]"#.to_owned(),
    ] {
        assert!(load(&bad).is_err(), "{bad} accepted");
    }
}

#[test]
fn out_of_range_values_are_refused() {
    let err = BrokerConfig::load(
        &Overrides::default(),
        env(&[("WHARF_TOPIC_DEFAULTS_SEGMENT_BYTES", "10")]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("segment_bytes"), "{err}");
    let err = BrokerConfig::load(&Overrides::default(), env(&[("WHARF_MAX_WAIT_MS", "soon")]))
        .unwrap_err();
    assert!(err.to_string().contains("WHARF_MAX_WAIT_MS"), "{err}");
}

#[test]
fn postgres_coordination_comes_from_the_environment_and_needs_a_url() {
    let config = BrokerConfig::load(
        &Overrides::default(),
        env(&[
            ("WHARF_COORDINATION_BACKEND", "postgres"),
            (
                "WHARF_COORDINATION_POSTGRES_URL",
                "postgresql://wharf@127.0.0.1:5432/wharf",
            ),
        ]),
    )
    .unwrap();
    assert_eq!(config.coordination.backend, CoordinationBackend::Postgres);
    assert_eq!(
        config.coordination.postgres.url,
        "postgresql://wharf@127.0.0.1:5432/wharf"
    );
    let err = BrokerConfig::load(
        &Overrides::default(),
        env(&[("WHARF_COORDINATION_BACKEND", "postgres")]),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("coordination.postgres.url"),
        "{err}"
    );
    assert_eq!(
        BrokerConfig::default().coordination.backend,
        CoordinationBackend::Embedded
    );
}
