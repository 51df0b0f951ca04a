//! The environment layer: which variable sets which key. `GODEL_*` names come first; the
//! PRD 14.3 `DASH_*` names are aliases, used only when the `GODEL_*` one is unset. Empty
//! values count as unset.

use super::SettingsError;

/// `(key, variables in order of preference)`.
const VARIABLES: &[(&str, &[&str])] = &[
    ("server.addr", &["GODEL_ADDR"]),
    ("server.data_dir", &["GODEL_DATA_DIR"]),
    ("server.dev", &["GODEL_DEV"]),
    ("server.dev_gateways", &["GODEL_DEV_GATEWAYS"]),
    ("server.dev_sessions", &["GODEL_DEV_SESSIONS"]),
    ("server.dev_run_ms", &["GODEL_DEV_RUN_MS"]),
    ("server.shutdown_grace_s", &["GODEL_SHUTDOWN_GRACE_S"]),
    ("server.replica", &["GODEL_REPLICA"]),
    ("database.url", &["GODEL_DATABASE_URL", "DASH_DATABASE_URL"]),
    (
        "database.pool_size",
        &["GODEL_DATABASE_POOL_SIZE", "DASH_DATABASE_POOL_SIZE"],
    ),
    ("redis.url", &["GODEL_REDIS_URL", "DASH_REDIS_URL"]),
    ("redis.prefix", &["GODEL_REDIS_PREFIX"]),
    ("auth.jwt_secret", &["GODEL_JWT_SECRET", "DASH_JWT_SECRET"]),
    ("auth.jwt_issuer", &["GODEL_JWT_ISSUER", "DASH_JWT_ISSUER"]),
    (
        "auth.jwt_audience",
        &["GODEL_JWT_AUDIENCE", "DASH_JWT_AUDIENCE"],
    ),
    ("http.body_limit", &["GODEL_BODY_LIMIT"]),
    ("http.rate_per_second", &["GODEL_RATE_PER_SECOND"]),
    ("http.rate_burst", &["GODEL_RATE_BURST"]),
    ("http.metrics_public", &["GODEL_METRICS_PUBLIC"]),
    ("http.max_in_flight", &["GODEL_MAX_IN_FLIGHT"]),
    ("log.level", &["GODEL_LOG_LEVEL", "DASH_LOG_LEVEL"]),
    ("log.format", &["GODEL_LOG_FORMAT"]),
    ("federation.probe_interval_ms", &["GODEL_PROBE_INTERVAL_MS"]),
    ("federation.probe_timeout_ms", &["GODEL_PROBE_TIMEOUT_MS"]),
    ("federation.unhealthy_after", &["GODEL_UNHEALTHY_AFTER"]),
    (
        "federation.breaker_failure_threshold",
        &["GODEL_BREAKER_FAILURE_THRESHOLD"],
    ),
    ("federation.breaker_reset_ms", &["GODEL_BREAKER_RESET_MS"]),
];

/// The overrides `env` implies, in a stable order.
///
/// # Errors
/// [`SettingsError::Invalid`] when `DASH_PORT` is not a port number.
pub(super) fn overrides(env: &[(String, String)]) -> Result<Vec<(String, String)>, SettingsError> {
    let get = |name: &str| {
        env.iter()
            .rev()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.clone())
    };
    let mut out = Vec::new();
    // `DASH_HOST` / `DASH_PORT` together make the address, unless `GODEL_ADDR` is set.
    if get("GODEL_ADDR").is_none() && (get("DASH_HOST").is_some() || get("DASH_PORT").is_some()) {
        let host = get("DASH_HOST").unwrap_or_else(|| "127.0.0.1".to_owned());
        let port = get("DASH_PORT").unwrap_or_else(|| "7373".to_owned());
        if port.parse::<u16>().is_err() {
            return Err(SettingsError::Invalid {
                key: "server.addr".into(),
                message: format!("DASH_PORT={port:?} is not a port number (0 to 65535)"),
            });
        }
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host
        };
        out.push(("server.addr".to_owned(), format!("{host}:{port}")));
    }
    for (key, names) in VARIABLES {
        if let Some(value) = names.iter().find_map(|n| get(n)) {
            out.push(((*key).to_owned(), value));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn godel_names_win_over_their_dash_aliases() {
        let o = overrides(&env(&[
            ("DASH_JWT_SECRET", "dash"),
            ("GODEL_JWT_SECRET", "godel"),
            ("DASH_REDIS_URL", "redis://r"),
        ]))
        .unwrap();
        assert!(o.contains(&("auth.jwt_secret".into(), "godel".into())));
        assert!(o.contains(&("redis.url".into(), "redis://r".into())));
    }

    #[test]
    fn dash_host_and_port_make_the_address() {
        let o = overrides(&env(&[("DASH_HOST", "0.0.0.0"), ("DASH_PORT", "8080")])).unwrap();
        assert_eq!(o, vec![("server.addr".into(), "0.0.0.0:8080".into())]);
        let e = overrides(&env(&[("DASH_PORT", "eighty")])).unwrap_err();
        assert!(e.to_string().contains("server.addr"), "{e}");
    }

    #[test]
    fn empty_variables_are_unset() {
        assert!(overrides(&env(&[("GODEL_ADDR", "")])).unwrap().is_empty());
    }
}
