//! The one way Wharf loads AWS SDK configuration.
//!
//! The SDK's default HTTPS client brings its own crypto library (aws-lc-rs) while reqwest, which
//! every Wharf client uses for the broker, brings ring. Linking both made every Lambda zip carry
//! two crypto libraries, so the SDK clients get an HTTPS client on rustls + ring instead. The SDK
//! crates are built without their default client: a loader that did not come from here has no
//! HTTP client and fails on its first request, so every SDK client must start from
//! [`sdk_config_loader`].

use aws_config::{BehaviorVersion, ConfigLoader};
use aws_sdk_s3::config::SharedHttpClient;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

/// An HTTPS client for AWS SDK clients: hyper + rustls on ring, the platform's root certificates.
pub fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// `aws_config::defaults` (the standard chain: environment, profile, web identity, ECS, IMDS) with
/// the latest behaviour version and [`https_client`]; callers add their overrides.
pub fn sdk_config_loader() -> ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest()).http_client(https_client())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_loader_carries_an_http_client() {
        let config = sdk_config_loader()
            .region(aws_config::Region::new("us-east-1"))
            .load()
            .await;
        assert!(
            config.http_client().is_some(),
            "SDK clients built from this config would have no HTTP client"
        );
    }
}
