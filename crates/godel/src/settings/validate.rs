//! The rules a loaded [`Settings`] must follow; each failure names its key.

use godel_queue::TenantId;

use super::{Settings, SettingsError};

fn invalid(key: &str, message: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        key: key.to_owned(),
        message: message.into(),
    }
}

fn check(ok: bool, key: &str, message: &str) -> Result<(), SettingsError> {
    if ok {
        Ok(())
    } else {
        Err(invalid(key, message))
    }
}

impl Settings {
    /// Checks every rule.
    ///
    /// # Errors
    /// [`SettingsError::Invalid`] naming the first key at fault.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let s = &self.server;
        check(
            !s.data_dir.as_os_str().is_empty(),
            "server.data_dir",
            "must not be empty",
        )?;
        check(
            (1..=50).contains(&s.dev_gateways),
            "server.dev_gateways",
            "must be 1 to 50",
        )?;
        check(
            (1..=64).contains(&s.dev_sessions),
            "server.dev_sessions",
            "must be 1 to 64",
        )?;
        check(
            (1..=600_000).contains(&s.dev_run_ms),
            "server.dev_run_ms",
            "must be 1 to 600000",
        )?;
        check(
            s.shutdown_grace_s <= 3600,
            "server.shutdown_grace_s",
            "must be at most 3600",
        )?;
        check(
            !s.replica.trim().is_empty(),
            "server.replica",
            "must not be empty",
        )?;

        if let Some(url) = &self.database.url {
            let url = url.expose();
            check(
                url.starts_with("postgres://") || url.starts_with("postgresql://"),
                "database.url",
                "must be a postgres:// URL (leave it unset for the embedded SQLite store)",
            )?;
        }
        check(
            (1..=1000).contains(&self.database.pool_size),
            "database.pool_size",
            "must be 1 to 1000",
        )?;
        if let Some(url) = &self.redis.url {
            let url = url.expose();
            check(
                url.starts_with("redis://") || url.starts_with("rediss://"),
                "redis.url",
                "must be a redis:// or rediss:// URL",
            )?;
            check(
                self.database.url.is_some(),
                "redis.url",
                "Redis indexes a Postgres store: set database.url too",
            )?;
        }
        let prefix = &self.redis.prefix;
        check(
            !prefix.is_empty()
                && prefix
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')),
            "redis.prefix",
            "must be non-empty letters, digits, `_`, `-` or `.`",
        )?;

        let a = &self.auth;
        if let Some(secret) = &a.jwt_secret {
            let len = secret.expose().len();
            if len < 32 {
                return Err(invalid(
                    "auth.jwt_secret",
                    format!("must be at least 32 bytes (256 bits); it has {len}"),
                ));
            }
        }
        check(
            !a.jwt_issuer.is_empty(),
            "auth.jwt_issuer",
            "must not be empty",
        )?;
        check(
            !a.jwt_audience.is_empty(),
            "auth.jwt_audience",
            "must not be empty",
        )?;
        TenantId::parse(&a.bootstrap_tenant)
            .map_err(|e| invalid("auth.bootstrap_tenant", e.to_string()))?;

        let h = &self.http;
        check(
            (1024..=64 << 20).contains(&h.body_limit),
            "http.body_limit",
            "must be 1024 bytes to 64 MiB",
        )?;
        check(
            h.rate_per_second.is_finite() && h.rate_per_second > 0.0,
            "http.rate_per_second",
            "must be a positive number",
        )?;
        check(h.rate_burst >= 1, "http.rate_burst", "must be at least 1")?;
        check(
            (1..=1_000_000).contains(&h.max_in_flight),
            "http.max_in_flight",
            "must be 1 to 1000000",
        )?;

        check(
            !self.log.level.trim().is_empty(),
            "log.level",
            "must not be empty",
        )?;

        let f = &self.federation;
        check(
            (100..=3_600_000).contains(&f.probe_interval_ms),
            "federation.probe_interval_ms",
            "must be 100 to 3600000",
        )?;
        check(
            (1..=f.probe_interval_ms).contains(&f.probe_timeout_ms),
            "federation.probe_timeout_ms",
            "must be at least 1 and at most federation.probe_interval_ms",
        )?;
        check(
            (1..=100).contains(&f.unhealthy_after),
            "federation.unhealthy_after",
            "must be 1 to 100",
        )?;
        check(
            (1..=1000).contains(&f.breaker_failure_threshold),
            "federation.breaker_failure_threshold",
            "must be 1 to 1000",
        )?;
        check(
            (1..=3_600_000).contains(&f.breaker_reset_ms),
            "federation.breaker_reset_ms",
            "must be 1 to 3600000",
        )?;

        for (i, g) in self.openclaw.gateways.iter().enumerate() {
            check(
                g.url.starts_with("ws://") || g.url.starts_with("wss://"),
                &format!("openclaw.gateways[{i}].url"),
                "must be a ws:// or wss:// URL",
            )?;
            check(
                g.max_sessions >= 1,
                &format!("openclaw.gateways[{i}].max_sessions"),
                "must be at least 1",
            )?;
        }
        Ok(())
    }
}
