//! Reading `WHARF_*` settings from the environment (or from a map, in tests).

use std::collections::HashMap;
use std::str::FromStr;

/// A setting that is missing or unusable. The message names the variable, so a cold start that
/// fails says which one to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is not set (or empty).
    #[error("environment variable {name} is required: {hint}")]
    Missing {
        name: &'static str,
        hint: &'static str,
    },
    /// A variable is set to something that cannot be used.
    #[error("environment variable {name}={value:?} is invalid: {reason}")]
    Invalid {
        name: &'static str,
        value: String,
        reason: String,
    },
    /// `WHARF_TOKEN_PARAMETER` names an SSM parameter that cannot be read (missing, no
    /// permission, SSM unreachable). The function does not start without its token rather than
    /// calling the broker unauthenticated.
    #[error("cannot read the broker token from SSM parameter {parameter}")]
    TokenParameter {
        parameter: String,
        // Boxed: the SDK's error is large and this is a cold-start-only path.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A source of settings: the process environment, or a fixed map (tests).
#[derive(Debug, Clone, Default)]
pub struct Env {
    /// When set, only these variables exist; otherwise the process environment is read.
    fixed: Option<HashMap<String, String>>,
}

impl Env {
    /// The process environment.
    pub fn process() -> Self {
        Self { fixed: None }
    }

    /// Exactly these variables (for tests and for embedding).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self {
            fixed: Some(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
            ),
        }
    }

    /// The value of `name`; empty values count as unset.
    pub fn get(&self, name: &str) -> Option<String> {
        let value = match &self.fixed {
            Some(map) => map.get(name).cloned(),
            None => std::env::var(name).ok(),
        };
        value.filter(|v| !v.trim().is_empty())
    }

    /// The value of `name`, or [`ConfigError::Missing`] with `hint`.
    pub fn required(&self, name: &'static str, hint: &'static str) -> Result<String, ConfigError> {
        self.get(name).ok_or(ConfigError::Missing { name, hint })
    }

    /// `name` parsed as `T`, or `default` when unset.
    pub fn parse_or<T>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse()
                .map_err(|e: T::Err| ConfigError::Invalid {
                    name,
                    value: raw.clone(),
                    reason: e.to_string(),
                }),
        }
    }

    /// `name` as a boolean (`true/false/1/0/yes/no`), or `default` when unset.
    pub fn flag_or(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => match raw.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Ok(true),
                "0" | "false" | "no" | "off" => Ok(false),
                _ => Err(ConfigError::Invalid {
                    name,
                    value: raw,
                    reason: "expected true or false".to_owned(),
                }),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_invalid_settings_name_the_variable() {
        let env = Env::from_pairs([("WHARF_MAX_RETRIES", "three"), ("WHARF_TOPIC", " ")]);
        let err = env.parse_or::<u32>("WHARF_MAX_RETRIES", 3).unwrap_err();
        assert!(err.to_string().contains("WHARF_MAX_RETRIES"), "{err}");
        let err = env.required("WHARF_TOPIC", "the topic").unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Missing {
                name: "WHARF_TOPIC",
                ..
            }
        ));
        assert_eq!(env.parse_or::<u32>("WHARF_OTHER", 7).unwrap(), 7);
        assert!(env.flag_or("WHARF_FLAG", true).unwrap());
    }
}
