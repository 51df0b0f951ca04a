//! `godel do "<intent>" [--priority P] [--follow]`: submits the intent as a task and, with
//! `--follow`, shows `status · attempt · elapsed` until the task ends.
//!
//! Following subscribes to `task.*` on the `/events` WebSocket before creating the task, and
//! also reads the task every few seconds, so a dropped or unavailable socket only slows the
//! display down.

use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use godel::client::{ClientError, EventMessage, SubmitTask, Task, TaskStatus, TaskUpdate};
use serde_json::json;
use tokio::sync::mpsc;

use super::{Ctx, out, print_json};
use crate::cli::DoArgs;
use crate::render;

/// How often the task is read while following.
const POLL_EVERY: Duration = Duration::from_secs(3);

pub(crate) async fn run(ctx: &Ctx, args: DoArgs) -> anyhow::Result<ExitCode> {
    let submit = SubmitTask {
        payload: json!({ "prompt": args.intent }),
        priority: args.priority,
        capabilities: args.capabilities,
        ..SubmitTask::default()
    };
    if !args.follow {
        ctx.show(ctx.client.create_task(&submit)?, |t: &Task, _| {
            format!(
                "submitted task {} ({}, {})\nfollow it with: godel task get {}\n",
                t.id, t.priority, t.status, t.id
            )
        })
        .await?;
        return Ok(ExitCode::SUCCESS);
    }

    // Subscribe before the task exists, so none of its events is missed. Without the socket,
    // following still works by reading the task.
    let (tx, mut events) = mpsc::channel(256);
    let listener = match ctx.client.subscribe(&["task.*"]).await {
        Ok(stream) => {
            let mut stream = Box::pin(stream);
            Some(tokio::spawn(async move {
                while let Some(item) = stream.next().await {
                    if tx.send(item).await.is_err() {
                        break;
                    }
                }
            }))
        }
        Err(e @ ClientError::Connect { .. }) => return Err(e.into()),
        Err(e) => {
            eprintln!(
                "live events unavailable ({e}); reading the task every {}s",
                POLL_EVERY.as_secs()
            );
            None
        }
    };
    let result = follow(ctx, &submit, &mut events).await;
    if let Some(listener) = listener {
        listener.abort();
    }
    result
}

/// Where a followed task is.
struct Progress {
    status: TaskStatus,
    /// Attempts that failed (the task's `attempt_count`).
    attempt: u32,
    max_attempts: u32,
}

impl Progress {
    /// The exit code once the task is over; `None` while it may still move.
    fn outcome(&self) -> Option<ExitCode> {
        match self.status {
            TaskStatus::Completed => Some(ExitCode::SUCCESS),
            TaskStatus::Cancelled | TaskStatus::DeadLetter => Some(ExitCode::FAILURE),
            TaskStatus::Failed if self.attempt >= self.max_attempts => Some(ExitCode::FAILURE),
            _ => None,
        }
    }

    fn apply(&mut self, status: TaskStatus, failed_attempts: u32) {
        self.status = status;
        self.attempt = failed_attempts;
    }
}

async fn follow(
    ctx: &Ctx,
    submit: &SubmitTask,
    events: &mut mpsc::Receiver<Result<EventMessage, ClientError>>,
) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let task = ctx.client.create_task(submit)?.await?;
    let id = task.id;
    let live = std::io::stderr().is_terminal();
    eprintln!("submitted task {id} ({})", task.priority);
    let mut progress = Progress {
        status: task.status,
        attempt: task.attempt_count,
        max_attempts: task.max_attempts,
    };
    let mut shown = String::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last_poll = Instant::now();
    let mut events_open = true;
    let final_code = loop {
        if let Some(code) = progress.outcome() {
            break code;
        }
        tokio::select! {
            item = events.recv(), if events_open => match item {
                Some(Ok(message)) => {
                    if let Some(TaskUpdate { id: task_id, status, attempt_count, .. }) = message.task_update()
                        && task_id == id
                    {
                        progress.apply(status, attempt_count);
                    }
                }
                Some(Err(e)) => {
                    clear_line(live, &shown);
                    eprintln!("live events unavailable ({e}); reading the task every {}s", POLL_EVERY.as_secs());
                    shown.clear();
                }
                None => events_open = false,
            },
            _ = tick.tick() => {
                if last_poll.elapsed() >= POLL_EVERY {
                    last_poll = Instant::now();
                    let now = ctx.client.get_task(id).await?;
                    progress.apply(now.status, now.attempt_count);
                }
            }
        }
        let line = render::progress(
            progress.status,
            progress.attempt,
            progress.max_attempts,
            i64::try_from(started.elapsed().as_secs()).unwrap_or(i64::MAX),
        );
        show_line(live, &mut shown, line);
    };
    clear_line(live, &shown);

    let elapsed = render::duration(i64::try_from(started.elapsed().as_secs()).unwrap_or(0));
    let call = ctx.client.get_task(id);
    if ctx.json {
        print_json(&call.raw().await?)?;
        return Ok(final_code);
    }
    let task = call.await?;
    if task.status == TaskStatus::Completed {
        let mut text = format!("task {id} completed in {elapsed}\n");
        if let Some(result) = &task.result {
            text.push_str(&render::truncate(&result.to_string(), 2000));
            text.push('\n');
        }
        out(&text)?;
    } else {
        let why = task
            .last_error
            .as_deref()
            .map(|e| format!(": {}", render::truncate(e, 300)))
            .unwrap_or_default();
        eprintln!(
            "error: task {id} ended {} after {} failed attempt(s) in {elapsed}{why}",
            task.status, task.attempt_count
        );
    }
    Ok(final_code)
}

/// Shows the progress line: redrawn in place on a terminal, printed when it changes otherwise.
fn show_line(live: bool, shown: &mut String, line: String) {
    let mut stderr = std::io::stderr().lock();
    if live {
        let _ = write!(stderr, "\r\x1b[2K{line}");
        let _ = stderr.flush();
        *shown = line;
    } else {
        // Without a terminal, print only status changes, not every second's elapsed time.
        let key = line.rsplit_once(" · ").map_or(line.as_str(), |(k, _)| k);
        let shown_key = shown.rsplit_once(" · ").map_or(shown.as_str(), |(k, _)| k);
        if key != shown_key {
            let _ = writeln!(stderr, "{line}");
            *shown = line;
        }
    }
}

/// Clears the in-place progress line before other output.
fn clear_line(live: bool, shown: &str) {
    if live && !shown.is_empty() {
        let mut stderr = std::io::stderr().lock();
        let _ = write!(stderr, "\r\x1b[2K");
        let _ = stderr.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(status: TaskStatus, attempt: u32) -> Progress {
        Progress {
            status,
            attempt,
            max_attempts: 3,
        }
    }

    #[test]
    fn only_final_states_end_following_with_their_exit_code() {
        assert_eq!(
            at(TaskStatus::Completed, 1).outcome(),
            Some(ExitCode::SUCCESS)
        );
        assert_eq!(
            at(TaskStatus::Cancelled, 1).outcome(),
            Some(ExitCode::FAILURE)
        );
        assert_eq!(
            at(TaskStatus::DeadLetter, 3).outcome(),
            Some(ExitCode::FAILURE)
        );
        assert_eq!(at(TaskStatus::Failed, 3).outcome(), Some(ExitCode::FAILURE));
        assert_eq!(
            at(TaskStatus::Failed, 1).outcome(),
            None,
            "a retry is coming"
        );
        assert_eq!(at(TaskStatus::Running, 1).outcome(), None);
        assert_eq!(at(TaskStatus::Pending, 0).outcome(), None);
    }
}
