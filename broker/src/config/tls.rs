//! `[tls]`: HTTPS on the listener. Only the paths live here; reading and checking the PEM files
//! is the HTTP layer's job (`api::tls`), at start, so a bad file stops the broker with its path
//! named instead of failing the first handshake.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// The listener's certificate and key. Both set: the listener speaks only HTTPS (HTTP/1.1 and
/// h2, chosen by ALPN); neither (default): plain HTTP.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM file with the server's certificate chain, the leaf first (intermediates after it; the
    /// root may be left out). Read once at start.
    pub cert_path: Option<PathBuf>,
    /// PEM file with the private key of the leaf certificate (PKCS#8, PKCS#1 RSA or SEC1 EC).
    pub key_path: Option<PathBuf>,
}

impl TlsConfig {
    /// Whether the listener serves HTTPS.
    pub fn enabled(&self) -> bool {
        self.cert_path.is_some()
    }

    /// A certificate without its key (or the other way round) is a mistake, never plain HTTP.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match (&self.cert_path, &self.key_path) {
            (Some(_), Some(_)) | (None, None) => Ok(()),
            (Some(_), None) => Err(ConfigError::Invalid {
                field: "tls.key_path",
                message: "must be set when tls.cert_path is".to_owned(),
            }),
            (None, Some(_)) => Err(ConfigError::Invalid {
                field: "tls.cert_path",
                message: "must be set when tls.key_path is".to_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::{BrokerConfig, Overrides};

    fn load(pairs: &[(&str, &str)]) -> Result<BrokerConfig, super::ConfigError> {
        let env = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        BrokerConfig::load(&Overrides::default(), env)
    }

    #[test]
    fn tls_paths_come_from_the_environment_and_need_each_other() {
        let config = load(&[
            ("WHARF_TLS_CERT_PATH", "/etc/wharf/cert.pem"),
            ("WHARF_TLS_KEY_PATH", "/etc/wharf/key.pem"),
        ])
        .unwrap();
        assert!(config.tls.enabled());
        assert_eq!(
            config.tls.cert_path.as_deref(),
            Some(Path::new("/etc/wharf/cert.pem"))
        );
        assert_eq!(
            config.tls.key_path.as_deref(),
            Some(Path::new("/etc/wharf/key.pem"))
        );
        let err = load(&[("WHARF_TLS_CERT_PATH", "/etc/wharf/cert.pem")]).unwrap_err();
        assert!(err.to_string().contains("tls.key_path"), "{err}");
        let err = load(&[("WHARF_TLS_KEY_PATH", "/etc/wharf/key.pem")]).unwrap_err();
        assert!(err.to_string().contains("tls.cert_path"), "{err}");
        assert!(
            !BrokerConfig::default().tls.enabled(),
            "plain http by default"
        );
    }
}
