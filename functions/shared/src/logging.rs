//! The functions' log subscriber.
//!
//! Like `lambda_runtime::tracing::init_default_subscriber` (one event per line on stdout, which
//! Lambda sends to CloudWatch; JSON lines when the function's log format is JSON), with one
//! difference: the level is a plain level, not `EnvFilter` directives. The directive parser links
//! a regex engine into every zip, and the functions have no use for per-module levels.

use std::str::FromStr;

use tracing::Level;

use crate::Env;

/// The level named by `AWS_LAMBDA_LOG_LEVEL` (Lambda's advanced logging controls), else by
/// `RUST_LOG`: `error`, `warn`, `info`, `debug` or `trace`, any case. Anything else (such as a
/// `RUST_LOG` directive like `wharf=debug`) means `info`.
pub fn log_level(env: &Env) -> Level {
    env.get("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|| env.get("RUST_LOG"))
        .and_then(|name| Level::from_str(name.trim()).ok())
        .unwrap_or(Level::INFO)
}

/// Installs the subscriber for the process: level from [`log_level`], JSON when
/// `AWS_LAMBDA_LOG_FORMAT` is `JSON`. Call once, first thing in `main`.
pub fn init(env: &Env) {
    let json = env
        .get("AWS_LAMBDA_LOG_FORMAT")
        .is_some_and(|f| f.eq_ignore_ascii_case("json"));
    // No timestamps (CloudWatch stamps every line) and no colours (CloudWatch shows escapes raw).
    let fmt = tracing_subscriber::fmt()
        .with_max_level(log_level(env))
        .with_target(false)
        .with_ansi(false)
        .without_time();
    if json {
        fmt.json().init();
    } else {
        fmt.init();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Env {
        Env::from_pairs(vars.iter().copied())
    }

    #[test]
    fn lambdas_log_level_wins_over_rust_log_and_directives_fall_back_to_info() {
        assert_eq!(log_level(&env(&[])), Level::INFO);
        assert_eq!(log_level(&env(&[("RUST_LOG", "debug")])), Level::DEBUG);
        assert_eq!(
            log_level(&env(&[
                ("RUST_LOG", "debug"),
                ("AWS_LAMBDA_LOG_LEVEL", "WARN")
            ])),
            Level::WARN
        );
        assert_eq!(log_level(&env(&[("RUST_LOG", "wharf=trace")])), Level::INFO);
    }
}
