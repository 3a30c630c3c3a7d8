//! The listener's limits (`[http]` in the config file): connections, timeouts, header and
//! body bytes. Kept apart from the rest of the configuration because only the HTTP layer reads
//! them (`api::serve`, `api::conn`, `api::extract`).

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// Bounds on what clients may hold of the HTTP listener, so that slow, idle or oversized
/// requests cannot exhaust descriptors or memory.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpLimits {
    /// How long a client may take to send a request's line and headers, from its first byte;
    /// past it the connection is closed. Default 10 000 ms.
    pub header_read_timeout_ms: u64,
    /// How long a connection may stay open with no request in flight and nothing sent; past it
    /// the connection is closed. Default 60 000 ms.
    pub idle_timeout_ms: u64,
    /// How long a request body may take to arrive completely; past it the answer is 408
    /// `request_timeout` and the connection closes. Default 30 000 ms.
    pub body_read_timeout_ms: u64,
    /// Most connections served at once. A connection beyond it gets a 503 `overloaded` answer
    /// and is closed. Default 512 (room for them and the log's files under `ulimit -n 1024`).
    pub max_connections: u32,
    /// Largest request line plus headers (HTTP/1.1), or header list (h2). Larger is 431
    /// `headers_too_large` (a request line alone past it: 414 `uri_too_long`). Default 64 KiB.
    pub max_header_bytes: u64,
    /// Most header fields in a request. More is 431 `headers_too_large`. Default 100.
    pub max_headers: u32,
    /// Most request-body bytes buffered across all requests in flight (as they arrive on the
    /// wire). A body that would pass it is refused with 503 `overloaded` (retriable).
    /// Default 256 MiB.
    pub max_inflight_body_bytes: u64,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_read_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            body_read_timeout_ms: 30_000,
            max_connections: 512,
            max_header_bytes: 64 * 1024,
            max_headers: 100,
            max_inflight_body_bytes: 256 * 1024 * 1024,
        }
    }
}

impl HttpLimits {
    /// Checks ranges that serde cannot express; `max_request_bytes` is the per-request body
    /// limit, which the budget of body bytes in flight must hold at least once.
    pub fn validate(&self, max_request_bytes: u64) -> Result<(), ConfigError> {
        let invalid = |field, message: &str| {
            Err(ConfigError::Invalid {
                field,
                message: message.to_owned(),
            })
        };
        if self.header_read_timeout_ms == 0
            || self.idle_timeout_ms == 0
            || self.body_read_timeout_ms == 0
        {
            return invalid("http", "timeouts must be positive");
        }
        if self.max_connections == 0 {
            return invalid("http.max_connections", "must be at least 1");
        }
        // hyper's HTTP/1.1 read buffer cannot be smaller than 8 KiB.
        if self.max_header_bytes < 8192 || self.max_header_bytes > u64::from(u32::MAX) {
            return invalid("http.max_header_bytes", "must be between 8192 and 2^32-1");
        }
        if self.max_headers == 0 {
            return invalid("http.max_headers", "must be at least 1");
        }
        if self.max_inflight_body_bytes < max_request_bytes {
            return invalid(
                "http.max_inflight_body_bytes",
                "must be at least max_request_bytes",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{BrokerConfig, Overrides};

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn http_limits_come_from_the_environment_and_bad_ones_are_refused() {
        let config = BrokerConfig::load(
            &Overrides::default(),
            env(&[
                ("WHARF_HTTP_HEADER_READ_TIMEOUT_MS", "1500"),
                ("WHARF_HTTP_MAX_CONNECTIONS", "64"),
            ]),
        )
        .unwrap();
        assert_eq!(config.http.header_read_timeout_ms, 1500);
        assert_eq!(config.http.max_connections, 64);
        for (name, value) in [
            ("WHARF_HTTP_IDLE_TIMEOUT_MS", "0"),
            ("WHARF_HTTP_MAX_CONNECTIONS", "0"),
            ("WHARF_HTTP_MAX_HEADER_BYTES", "100"),
            ("WHARF_HTTP_MAX_INFLIGHT_BODY_BYTES", "2048"),
        ] {
            let err = BrokerConfig::load(&Overrides::default(), env(&[(name, value)]));
            assert!(err.is_err(), "{name}={value} accepted");
        }
    }
}
