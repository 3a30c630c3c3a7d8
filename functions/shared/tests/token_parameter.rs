//! The broker token read from an SSM SecureString (`WHARF_TOKEN_PARAMETER`), against LocalStack's
//! SSM: start it with `bash infra/local/stack.sh up` and `eval "$(bash infra/local/stack.sh env)"`.

use wharf_functions_shared::{ConfigError, Env, broker_config_from_env};

fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").expect(
        "AWS_ENDPOINT_URL is not set: run `bash infra/local/stack.sh up` and eval its `env`",
    )
}

async fn ssm() -> aws_sdk_ssm::Client {
    let config = wharf_blob::aws::sdk_config_loader()
        .endpoint_url(endpoint())
        .load()
        .await;
    aws_sdk_ssm::Client::new(&config)
}

#[tokio::test]
async fn the_token_comes_from_the_secure_string_named_by_the_parameter_variable() {
    let name = format!("/wharf/test/token-{}", std::process::id());
    ssm()
        .await
        .put_parameter()
        .name(&name)
        .value("s3cr3t-from-ssm")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .expect("put the parameter into LocalStack SSM");
    let endpoint = endpoint();
    let env = Env::from_pairs([
        ("WHARF_URL", "http://127.0.0.1:8080"),
        ("WHARF_TOKEN_PARAMETER", name.as_str()),
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
    ]);
    let config = broker_config_from_env(&env).await.unwrap();
    assert_eq!(config.token.as_deref(), Some("s3cr3t-from-ssm"));
}

#[tokio::test]
async fn a_missing_parameter_fails_the_cold_start_naming_the_parameter() {
    let endpoint = endpoint();
    let env = Env::from_pairs([
        ("WHARF_URL", "http://127.0.0.1:8080"),
        ("WHARF_TOKEN_PARAMETER", "/wharf/test/no-such-parameter"),
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
    ]);
    let err = broker_config_from_env(&env).await.unwrap_err();
    assert!(
        matches!(&err, ConfigError::TokenParameter { parameter, .. } if parameter == "/wharf/test/no-such-parameter"),
        "{err:?}"
    );
    assert!(err.to_string().contains("/wharf/test/no-such-parameter"));
}
