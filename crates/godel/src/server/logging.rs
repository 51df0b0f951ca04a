//! Logging: human-readable lines for a terminal, or JSON lines with the PRD 12.2 fields:
//! `timestamp` (RFC 3339, UTC), `level` (lowercase), `message`, `service`, `version`, `target`,
//! then the fields of the event and of every span it happened in, flattened (`request_id`,
//! `trace_id`, `tenant_id`, `task_id`, `agent_id`, `duration_ms`, ...; the innermost wins).

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

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
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines)
            .try_init(),
    };
    Ok(())
}

/// The JSON lines event format (see the module header).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut line = Map::new();
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        line.insert("timestamp".into(), Value::String(now));
        line.insert(
            "level".into(),
            Value::String(meta.level().as_str().to_ascii_lowercase()),
        );
        line.insert("service".into(), Value::String("godel-server".into()));
        line.insert(
            "version".into(),
            Value::String(env!("CARGO_PKG_VERSION").into()),
        );
        line.insert("target".into(), Value::String(meta.target().into()));
        // Span fields, outermost first, so inner spans override outer ones.
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<N>>()
                    && let Ok(Value::Object(map)) = serde_json::from_str::<Value>(fields)
                {
                    line.extend(map);
                }
            }
        }
        let mut visitor = Fields(&mut line);
        event.record(&mut visitor);
        line.entry("message")
            .or_insert(Value::String(String::new()));
        let text = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// Collects an event's fields into the line.
struct Fields<'a>(&'a mut Map<String, Value>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), Value::String(format!("{value:?}")));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().to_owned(), Value::String(value.to_owned()));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Self;

        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    #[test]
    fn a_json_line_carries_the_prd_fields_and_its_spans_fields() {
        let buffer = Buffer::default();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines)
            .with_writer(buffer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", request_id = "r-1", tenant_id = "acme");
            let _entered = span.enter();
            tracing::info!(task_id = "t-9", duration_ms = 15_u64, "task assigned");
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let line: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["level"], "info");
        assert_eq!(line["message"], "task assigned");
        assert_eq!(line["service"], "godel-server");
        assert_eq!(line["request_id"], "r-1");
        assert_eq!(line["tenant_id"], "acme");
        assert_eq!(line["task_id"], "t-9");
        assert_eq!(line["duration_ms"], 15);
        assert!(line["timestamp"].as_str().unwrap().ends_with('Z'));
    }
}
