//! Running a parsed command against the server: one module per command family, sharing a
//! [`Ctx`] (the client and the output mode).

mod fleet;
mod intent;
mod keys;
mod queue;
mod sessions;
mod status;
mod tasks;

use std::io::Write as _;
use std::process::ExitCode;

use godel::client::{Call, Client, ClientError, OffsetDateTime};
use serde::de::DeserializeOwned;

use crate::cli::{Cli, Command};

/// What every command works with.
pub(crate) struct Ctx {
    /// The server's client.
    pub(crate) client: Client,
    /// Print the server's JSON instead of tables.
    pub(crate) json: bool,
}

impl Ctx {
    /// Sends `call`; prints its JSON as sent (`--json`) or `render` of its typed answer.
    pub(crate) async fn show<T>(
        &self,
        call: Call<'_, T>,
        render: impl FnOnce(&T, OffsetDateTime) -> String,
    ) -> anyhow::Result<()>
    where
        T: DeserializeOwned + Send,
    {
        if self.json {
            let value = call.raw().await?;
            print_json(&value)
        } else {
            let answer = call.await?;
            out(&render(&answer, OffsetDateTime::now_utc()))
        }
    }
}

/// Runs the command; the exit code for an outcome that is not an error (`godel do --follow`
/// of a task that failed exits 1 without an error message of its own).
pub(crate) async fn run(cli: Cli, client: Client) -> anyhow::Result<ExitCode> {
    let ctx = Ctx {
        client,
        json: cli.json,
    };
    match cli.command {
        Command::Do(args) => return intent::run(&ctx, args).await,
        Command::Task(cmd) => tasks::run(&ctx, cmd).await?,
        Command::Queue(cmd) => queue::run_queue(&ctx, cmd).await?,
        Command::Dlq(cmd) => queue::run_dlq(&ctx, cmd).await?,
        Command::Agent(cmd) => fleet::run_agent(&ctx, cmd).await?,
        Command::Session(cmd) => sessions::run(&ctx, cmd).await?,
        Command::Instance(cmd) => fleet::run_instance(&ctx, cmd).await?,
        Command::Status => status::run(&ctx).await?,
        Command::Key(cmd) => keys::run(&ctx, cmd).await?,
        // Handled before a client is built.
        Command::Completions { .. } => {}
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes `text` to standard output; a closed pipe (`godel task list | head`) is not an error.
pub(crate) fn out(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Pretty-prints a JSON value on standard output.
pub(crate) fn print_json(value: &serde_json::Value) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    out(&text)
}

/// The one-line message for a failure, with a hint where one helps.
pub(crate) fn describe(error: &anyhow::Error, has_credential: bool) -> String {
    match error.downcast_ref::<ClientError>() {
        Some(ClientError::Connect { url, .. }) => format!(
            "cannot reach the Godel server at {url}: is it running? \
             (start it with cargo run -p godel-server)"
        ),
        Some(e @ ClientError::Api { code, .. }) if code == "unauthorized" && !has_credential => {
            format!(
                "{e}: no API key found; pass --api-key, set GODEL_API_KEY, or run where \
                 .godel/admin.key is"
            )
        }
        _ => format!("{error:#}"),
    }
}

/// The exit code of a failure: 2 for a malformed `--url` (a usage error), else 1.
pub(crate) fn exit_code(error: &anyhow::Error) -> ExitCode {
    match error.downcast_ref::<ClientError>() {
        Some(ClientError::InvalidUrl { .. }) => ExitCode::from(2),
        _ => ExitCode::FAILURE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_servers_and_missing_keys_get_a_hint() {
        let connect = anyhow::Error::new(ClientError::Connect {
            url: "http://127.0.0.1:7373".into(),
            source: "connection refused".into(),
        });
        assert_eq!(
            describe(&connect, true),
            "cannot reach the Godel server at http://127.0.0.1:7373: is it running? \
             (start it with cargo run -p godel-server)"
        );
        let unauthorized = || {
            anyhow::Error::new(ClientError::Api {
                status: 401,
                code: "unauthorized".into(),
                message: "missing credentials".into(),
                request_id: "r1".into(),
                retryable: false,
            })
        };
        assert!(describe(&unauthorized(), false).contains("GODEL_API_KEY"));
        assert_eq!(
            describe(&unauthorized(), true),
            "missing credentials (unauthorized, request r1)"
        );
    }
}
