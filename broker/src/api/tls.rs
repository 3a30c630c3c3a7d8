//! HTTPS on the listener (`[tls]` in the config):
//!
//! - [`acceptors`]: the server certificate and key read from their PEM files at start, into
//!   rustls acceptors ([`TlsAcceptors`]): one offering h2 and HTTP/1.1 by ALPN for connections
//!   served, one offering only HTTP/1.1 for the 503 answered beyond `http.max_connections` (an
//!   HTTP/1.1 answer on a connection that agreed on h2 would not be read). Every failure names
//!   its file ([`TlsError`]), so a bad path stops the broker instead of failing each handshake.
//! - [`handshake`]: one connection's TLS handshake, bounded by the header read timeout (a client
//!   that stalls it must not hold a connection slot longer than one that stalls its headers). A
//!   client speaking plain HTTP to the TLS port gets a plain-HTTP 400 saying so, then the close.
//!
//! The crypto provider is rustls' ring, named explicitly rather than the process default: it
//! is the provider the rest of the tree (reqwest, the AWS SDK clients) links.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use wharf_proto::ErrorCode;

use super::error::ApiError;
use crate::config::TlsConfig;

/// The first byte of every TLS connection: a handshake record (RFC 8446, 5.1).
const HANDSHAKE_RECORD: u8 = 0x16;

/// Why the listener's certificate or key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read tls file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("invalid PEM in tls file {path}: {source}")]
    Pem {
        path: PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("tls.cert_path {path} holds no PEM certificate")]
    NoCertificate { path: PathBuf },
    #[error("tls.key_path {path} holds no PEM private key")]
    NoKey { path: PathBuf },
    #[error(
        "tls.cert_path {cert} and tls.key_path {key} do not make a server certificate: {source}"
    )]
    Rejected {
        cert: PathBuf,
        key: PathBuf,
        #[source]
        source: rustls::Error,
    },
}

/// The listener's TLS acceptors, sharing one certificate.
#[derive(Clone)]
pub struct TlsAcceptors {
    /// For connections served: h2 or HTTP/1.1, as the client's ALPN prefers.
    pub serve: TlsAcceptor,
    /// For connections refused with a 503: HTTP/1.1 only.
    pub refuse: TlsAcceptor,
}

impl std::fmt::Debug for TlsAcceptors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsAcceptors").finish_non_exhaustive()
    }
}

/// The listener's acceptors, or `None` while `[tls]` is off.
pub fn acceptors(config: &TlsConfig) -> Result<Option<TlsAcceptors>, TlsError> {
    let (Some(cert), Some(key)) = (&config.cert_path, &config.key_path) else {
        return Ok(None);
    };
    let chain = read_chain(cert)?;
    let private = read_key(key)?;
    let rejected = |source| TlsError::Rejected {
        cert: cert.clone(),
        key: key.clone(),
        source,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(rejected)?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(rejected)?;
    let mut refuse = server.clone();
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    refuse.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(TlsAcceptors {
        serve: TlsAcceptor::from(Arc::new(server)),
        refuse: TlsAcceptor::from(Arc::new(refuse)),
    }))
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Pem {
            path: path.to_path_buf(),
            source,
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read(path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|source| match source {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoKey {
            path: path.to_path_buf(),
        },
        source => TlsError::Pem {
            path: path.to_path_buf(),
            source,
        },
    })
}

/// How a connection to the TLS port opened.
enum Opening {
    Tls(Box<TlsStream<TcpStream>>),
    /// The first byte was not a TLS handshake record: most likely a plain-HTTP request.
    NotTls(TcpStream),
    /// Closed, reset or a broken handshake: nothing to answer.
    Failed,
}

/// Runs the TLS handshake on `tcp` within `timeout`; `None` if the client stalled it, broke it,
/// closed, or spoke plain HTTP (answered with a 400 first).
pub async fn handshake(
    acceptor: &TlsAcceptor,
    tcp: TcpStream,
    timeout: Duration,
) -> Option<TlsStream<TcpStream>> {
    let opening = tokio::time::timeout(timeout, async {
        let mut first = [0u8; 1];
        match tcp.peek(&mut first).await {
            Ok(0) | Err(_) => Opening::Failed,
            Ok(_) if first[0] != HANDSHAKE_RECORD => Opening::NotTls(tcp),
            Ok(_) => match acceptor.accept(tcp).await {
                Ok(stream) => Opening::Tls(Box::new(stream)),
                Err(e) => {
                    tracing::debug!(error = %e, "tls handshake failed");
                    Opening::Failed
                }
            },
        }
    })
    .await;
    match opening {
        Ok(Opening::Tls(stream)) => Some(*stream),
        Ok(Opening::NotTls(tcp)) => {
            tracing::debug!("plain http on the tls listener");
            super::conn::answer_and_close(tcp, &not_tls()).await;
            None
        }
        Ok(Opening::Failed) => None,
        Err(_) => {
            tracing::debug!(
                timeout_ms = timeout.as_millis() as u64,
                "closing connection: tls handshake timed out"
            );
            None
        }
    }
}

/// The answer to a client that speaks plain HTTP (or anything but TLS) to the TLS port.
fn not_tls() -> ApiError {
    ApiError::bad_request(
        ErrorCode::MalformedRequest,
        "this listener speaks TLS only: use an https:// URL",
    )
}
