//! Token authorisation, transport-independent: each configured token has rights (`produce`,
//! `consume`, `admin`) on topic patterns. With no token configured, everything is allowed. How a
//! token arrives (a bearer header) is the transport's business (`api::auth`).

use std::collections::HashMap;

use crate::config::{Action, AuthConfig};

/// The caller may not do what it asked.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing or invalid bearer token")]
    Unauthenticated,
    #[error("token {token_name} may not {action:?} on {resource}")]
    Forbidden {
        token_name: String,
        action: Action,
        resource: String,
    },
}

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

    /// Identifies the caller by its token (`None`: none was sent). Unauthenticated without a
    /// known token while auth is on.
    pub fn authenticate(&self, token: Option<&str>) -> Result<Caller, AuthError> {
        if !self.enabled() {
            return Ok(Caller { rights: None });
        }
        let rights = token
            .and_then(|t| self.tokens.get(t))
            .ok_or(AuthError::Unauthenticated)?;
        Ok(Caller {
            rights: Some(rights.clone()),
        })
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

    /// Whether the caller may do `action` on some topic (for showing forms whose topic is not
    /// chosen yet, such as topic creation).
    pub fn may_somewhere(&self, action: Action) -> bool {
        match &self.rights {
            None => true,
            Some(rights) => rights.grants.iter().any(|g| g.actions.contains(&action)),
        }
    }

    /// Whether the caller has any right on `topic` (for filtering listings).
    pub fn sees(&self, topic: &str) -> bool {
        [Action::Produce, Action::Consume, Action::Admin]
            .into_iter()
            .any(|a| self.may(a, topic))
    }

    pub fn require(&self, action: Action, topic: &str) -> Result<(), AuthError> {
        if self.may(action, topic) {
            Ok(())
        } else {
            Err(AuthError::Forbidden {
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
        assert!(matches!(
            auth.authenticate(None),
            Err(AuthError::Unauthenticated)
        ));
        assert!(matches!(
            auth.authenticate(Some("wrong")),
            Err(AuthError::Unauthenticated)
        ));
        let caller = auth.authenticate(Some("producer-token")).unwrap();
        assert!(caller.require(Action::Produce, "orders.a").is_ok());
        assert!(matches!(
            caller.require(Action::Consume, "orders.a"),
            Err(AuthError::Forbidden { .. })
        ));
        assert!(matches!(
            caller.require(Action::Produce, "payments.a"),
            Err(AuthError::Forbidden { .. })
        ));
        assert!(caller.sees("orders.a") && !caller.sees("payments.a"));
    }
}
