//! The bearer-token side of authorisation: the token comes from `Authorization: Bearer …`;
//! what it may do is [`crate::auth`]'s business.

use axum::http::{HeaderMap, header};

use super::error::ApiError;
use crate::auth::Caller;
use crate::config::Action;
use crate::state::Broker;

/// The bearer token of a request, if it sent one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

/// Identifies the caller: 401 without a known token while auth is on.
pub fn authenticate(broker: &Broker, headers: &HeaderMap) -> Result<Caller, ApiError> {
    Ok(broker.auth.authenticate(bearer(headers))?)
}

/// Authenticates and checks one right on one topic: 401 / 403.
pub fn authorize(
    broker: &Broker,
    headers: &HeaderMap,
    action: Action,
    topic: &str,
) -> Result<Caller, ApiError> {
    let caller = authenticate(broker, headers)?;
    caller.require(action, topic)?;
    Ok(caller)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bearer_credentials_are_read_as_tokens() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer(&headers), None);
        headers.insert(header::AUTHORIZATION, "Bearer  tok ".parse().unwrap());
        assert_eq!(bearer(&headers), Some("tok"));
        headers.insert(header::AUTHORIZATION, "bearer tok".parse().unwrap());
        assert_eq!(bearer(&headers), Some("tok"));
        headers.insert(header::AUTHORIZATION, "Basic dG9rOg==".parse().unwrap());
        assert_eq!(bearer(&headers), None);
    }
}
