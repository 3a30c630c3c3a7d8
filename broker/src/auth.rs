//! Token authorisation, transport-independent: each configured token has rights (`produce`,
//! `consume`, `admin`) on topic patterns. With no token configured, everything is allowed. How a
//! token arrives (a bearer header) is the transport's business (`api::auth`).
//!
//! Tokens are kept only as SHA-256 digests (the config may give the digest instead of the
//! token) and a presented token is compared against every digest in constant time, so neither
//! the lookup's timing nor a `Debug` print reveals a token.

use sha2::{Digest, Sha256};

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

/// A token's SHA-256 digest. Its `Debug` says nothing of it: a digest of a short token is as
/// good as the token to whoever can search for it.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenDigest([u8; 32]);

impl std::fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenDigest(<redacted>)")
    }
}

impl TokenDigest {
    /// The digest of a token as presented.
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    /// Parses 64 hex digits (either case), as `token_sha256` gives them.
    pub fn from_hex(text: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut out).ok()?;
        Some(Self(out))
    }

    /// Equality whose time does not depend on where the digests differ.
    fn ct_eq(&self, other: &Self) -> bool {
        let diff = self
            .0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        std::hint::black_box(diff) == 0
    }
}

/// The authorizer built once from the config.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    tokens: Vec<(TokenDigest, TokenRights)>,
}

/// Who is calling, once authenticated.
#[derive(Debug, Clone)]
pub struct Caller {
    rights: Option<TokenRights>,
}

impl Auth {
    /// Builds the authorizer. A token entry without a usable secret (the config's validation
    /// refuses those) is left out, so it can never match.
    pub fn new(config: &AuthConfig) -> Self {
        let tokens = config
            .tokens
            .iter()
            .enumerate()
            .filter_map(|(i, t)| {
                let digest = t.digest()?;
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
                Some((digest, rights))
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
        let token = token.ok_or(AuthError::Unauthenticated)?;
        let presented = TokenDigest::of(token);
        // Every digest is compared, matched or not: the time taken says nothing of which
        // entry (if any) is close.
        let mut found = None;
        for (digest, rights) in &self.tokens {
            if digest.ct_eq(&presented) && found.is_none() {
                found = Some(rights);
            }
        }
        let rights = found.ok_or(AuthError::Unauthenticated)?;
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
                token: Some("producer-token".into()),
                token_sha256: None,
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

    #[test]
    fn a_token_given_as_its_sha256_authenticates_the_token() {
        let digest = hex::encode(Sha256::digest(b"hashed-secret"));
        let auth = Auth::new(&AuthConfig {
            tokens: vec![TokenConfig {
                token: None,
                token_sha256: Some(digest.to_uppercase()),
                name: Some("hashed".into()),
                rights: vec![RightConfig {
                    topics: "*".into(),
                    actions: vec![Action::Consume],
                }],
            }],
        });
        assert!(auth.authenticate(Some("hashed-secret")).is_ok());
        assert!(
            auth.authenticate(Some(&digest)).is_err(),
            "the digest is not the token"
        );
        assert!(auth.authenticate(Some("hashed-secreT")).is_err());
    }

    #[test]
    fn debug_output_never_shows_a_token_or_its_digest() {
        let config = AuthConfig {
            tokens: vec![TokenConfig {
                token: Some("very-secret-token".into()),
                token_sha256: None,
                name: Some("named".into()),
                rights: vec![],
            }],
        };
        let digest = hex::encode(Sha256::digest(b"very-secret-token"));
        let auth = Auth::new(&config);
        for text in [format!("{config:?}"), format!("{auth:?}")] {
            assert!(!text.contains("very-secret-token"), "{text}");
            assert!(!text.contains(&digest[..16]), "{text}");
            assert!(text.contains("redacted"), "{text}");
        }
    }
}
