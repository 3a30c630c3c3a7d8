//! Bearer-token authorization: each configured token has rights (`produce`, `consume`,
//! `admin`) on topic patterns. With no token configured, everything is allowed.

use std::collections::HashMap;

use axum::http::{HeaderMap, header};

use super::error::ApiError;
use crate::config::{Action, AuthConfig};

#[derive(Debug, Clone)]
struct Grant {
    pattern: String,
    actions: Vec<Action>,
}

#[derive(Debug, Clone)]
struct TokenRights {
    name: String,
    grants: Vec<Grant>,
}

/// The authorizer built once from the config.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    tokens: HashMap<String, TokenRights>,
}

/// Who is calling, once authenticated.
#[derive(Debug, Clone)]
pub struct Caller {
    rights: Option<TokenRights>,
}

impl Auth {
    pub fn new(config: &AuthConfig) -> Self {
        let tokens = config
            .tokens
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let rights = TokenRights {
                    name: t.name.clone().unwrap_or_else(|| format!("token-{i}")),
                    grants: t
                        .rights
                        .iter()
                        .map(|r| Grant {
                            pattern: r.topics.clone(),
                            actions: r.actions.clone(),
                        })
                        .collect(),
                };
                (t.token.clone(), rights)
            })
            .collect();
        Self { tokens }
    }

    pub fn enabled(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// Identifies the caller: 401 without a known token while auth is on.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        if !self.enabled() {
            return Ok(Caller { rights: None });
        }
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or(ApiError::Unauthorized)?;
        let rights = self.tokens.get(token).ok_or(ApiError::Unauthorized)?;
        Ok(Caller {
            rights: Some(rights.clone()),
        })
    }

    /// Authenticates and checks one right on one topic: 401 / 403.
    pub fn authorize(
        &self,
        headers: &HeaderMap,
        action: Action,
        topic: &str,
    ) -> Result<Caller, ApiError> {
        let caller = self.authenticate(headers)?;
        caller.require(action, topic)?;
        Ok(caller)
    }
}

impl Caller {
    /// Whether the caller may do `action` on `topic`.
    pub fn may(&self, action: Action, topic: &str) -> bool {
        match &self.rights {
            None => true,
            Some(rights) => rights
                .grants
                .iter()
                .any(|g| g.actions.contains(&action) && glob_match(&g.pattern, topic)),
        }
    }

    /// Whether the caller has any right on `topic` (for filtering listings).
    pub fn sees(&self, topic: &str) -> bool {
        [Action::Produce, Action::Consume, Action::Admin]
            .into_iter()
            .any(|a| self.may(a, topic))
    }

    pub fn require(&self, action: Action, topic: &str) -> Result<(), ApiError> {
        if self.may(action, topic) {
            Ok(())
        } else {
            Err(ApiError::Forbidden {
                token_name: self
                    .rights
                    .as_ref()
                    .map(|r| r.name.clone())
                    .unwrap_or_default(),
                action,
                resource: topic.to_owned(),
            })
        }
    }
}

/// `*` matches any run of characters (including none); everything else matches itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            // Let the last star swallow one more character and retry.
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{RightConfig, TokenConfig};

    #[test]
    fn glob_matches_stars_and_literals() {
        assert!(glob_match("*", "anything"));
        assert!(glob_match("orders.*", "orders.created"));
        assert!(!glob_match("orders.*", "order.created"));
        assert!(glob_match("*.dlq", "orders.created.dlq"));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXbYY"));
        assert!(glob_match("exact", "exact"));
        assert!(!glob_match("exact", "exactly"));
    }

    #[test]
    fn tokens_get_only_their_rights() {
        let auth = Auth::new(&AuthConfig {
            tokens: vec![TokenConfig {
                token: "producer-token".into(),
                name: Some("producer".into()),
                rights: vec![RightConfig {
                    topics: "orders.*".into(),
                    actions: vec![Action::Produce],
                }],
            }],
        });
        let mut headers = HeaderMap::new();
        assert!(matches!(
            auth.authorize(&headers, Action::Produce, "orders.a"),
            Err(ApiError::Unauthorized)
        ));
        headers.insert(header::AUTHORIZATION, "Bearer wrong".parse().unwrap());
        assert!(matches!(
            auth.authorize(&headers, Action::Produce, "orders.a"),
            Err(ApiError::Unauthorized)
        ));
        headers.insert(
            header::AUTHORIZATION,
            "Bearer producer-token".parse().unwrap(),
        );
        assert!(
            auth.authorize(&headers, Action::Produce, "orders.a")
                .is_ok()
        );
        assert!(matches!(
            auth.authorize(&headers, Action::Consume, "orders.a"),
            Err(ApiError::Forbidden { .. })
        ));
        assert!(matches!(
            auth.authorize(&headers, Action::Produce, "payments.a"),
            Err(ApiError::Forbidden { .. })
        ));
    }
}
