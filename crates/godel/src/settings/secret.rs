//! [`Secret`]: a configuration value that must never be printed (tokens, passwords, URLs with
//! credentials).

use std::fmt;

use serde::Deserialize;

/// A string kept out of `Debug` and `Display`; read it with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; do not log it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// For a URL: the URL with any password replaced by `***`, safe to log.
    #[must_use]
    pub fn redacted_url(&self) -> String {
        let Some((scheme, rest)) = self.0.split_once("://") else {
            return "<redacted>".to_owned();
        };
        match rest.rsplit_once('@') {
            Some((userinfo, host)) => {
                let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
                format!("{scheme}://{user}:***@{host}")
            }
            None => self.0.clone(),
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints_itself() {
        let s = Secret::new("hunter2-hunter2");
        assert_eq!(format!("{s:?} {s}"), "<redacted> <redacted>");
    }

    #[test]
    fn a_url_shows_its_host_but_not_its_password() {
        let url = Secret::new("postgres://app:pa55@db:5432/godel");
        assert_eq!(url.redacted_url(), "postgres://app:***@db:5432/godel");
        let plain = Secret::new("redis://127.0.0.1:6379");
        assert_eq!(plain.redacted_url(), "redis://127.0.0.1:6379");
    }
}
