//! Logging: human-readable lines for a terminal, or JSON lines carrying the PRD 12.2 fields
//! (`timestamp`, `level`, `target`, `message`, and the span fields such as `request_id`,
//! `task_id`, `tenant_id`).

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::settings::{LogFormat, LogSettings, SettingsError};

/// Installs the global subscriber for `settings`; `RUST_LOG`, when set, overrides the level.
///
/// # Errors
/// [`SettingsError::Invalid`] naming `log.level` when it is not a valid filter.
pub fn init_logging(settings: &LogSettings) -> Result<(), SettingsError> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.is_empty() => EnvFilter::try_new(v),
        _ => EnvFilter::try_new(&settings.level),
    }
    .map_err(|e| SettingsError::Invalid {
        key: "log.level".into(),
        message: format!("not a valid filter (e.g. `info`, `godel=debug,info`): {e}"),
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second installation (tests, embedders with their own subscriber) is not an error.
    let _ = match settings.format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_span_events(FmtSpan::NONE)
            .try_init(),
    };
    Ok(())
}
