//! The `GODEL_TEST_LIVE` switch: skip or fail when a live test's server is unreachable.

use std::fmt::Display;

/// The environment variable that chooses the [`Mode`].
pub const ENV: &str = "GODEL_TEST_LIVE";

/// What a live test does when its server is unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Print that the test skipped, and pass (the default, for machines without the servers).
    Skip,
    /// Fail the test (`GODEL_TEST_LIVE=require`, as CI runs).
    Require,
}

impl Mode {
    /// The mode chosen by `GODEL_TEST_LIVE` (`require` or `1` means [`Mode::Require`]).
    #[must_use]
    pub fn from_env() -> Self {
        Self::parse(std::env::var(ENV).ok().as_deref())
    }

    fn parse(value: Option<&str>) -> Self {
        match value.map(str::trim) {
            Some(v) if v.eq_ignore_ascii_case("require") || v == "1" => Self::Require,
            _ => Self::Skip,
        }
    }
}

/// Reports that `service` could not be reached because of `error`: panics under
/// [`Mode::Require`], else prints a skip line on stderr and returns `None`, so a test writes
/// `let Some(db) = connect().await.or_else(|e| unavailable("postgres", e)) else { return };`.
///
/// # Panics
/// Under [`Mode::Require`], always.
pub fn unavailable<T>(service: &str, error: impl Display) -> Option<T> {
    match Mode::from_env() {
        Mode::Require => panic!("{service} is unreachable and {ENV}=require: {error}"),
        Mode::Skip => {
            eprintln!(
                "SKIPPED: {service} is unreachable ({error}); set {ENV}=require to fail instead"
            );
            None
        }
    }
}

/// A name unique to this process and call, for databases, key prefixes and temp folders
/// (`<prefix>_<pid>_<counter>_<nanos>`, lowercase ASCII).
#[must_use]
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{prefix}_{}_{n}_{nanos}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn require_is_opt_in() {
        assert_eq!(Mode::parse(None), Mode::Skip);
        assert_eq!(Mode::parse(Some("")), Mode::Skip);
        assert_eq!(Mode::parse(Some("skip")), Mode::Skip);
        assert_eq!(Mode::parse(Some("require")), Mode::Require);
        assert_eq!(Mode::parse(Some(" REQUIRE ")), Mode::Require);
        assert_eq!(Mode::parse(Some("1")), Mode::Require);
    }

    #[test]
    fn unique_names_differ() {
        let a = unique_name("godel_t");
        let b = unique_name("godel_t");
        assert_ne!(a, b);
        assert!(a.starts_with("godel_t_"));
        assert!(
            a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        );
    }
}
