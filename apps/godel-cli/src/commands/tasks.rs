//! `godel task create|list|get|cancel|retry|events`.

use godel::client::{SubmitTask, TaskQuery};
use serde_json::json;

use super::Ctx;
use crate::cli::{TaskCommand, TaskCreateArgs, TaskListArgs};
use crate::render;

pub(crate) async fn run(ctx: &Ctx, command: TaskCommand) -> anyhow::Result<()> {
    let client = &ctx.client;
    match command {
        TaskCommand::Create(args) => {
            let submit = submission(args);
            ctx.show(client.create_task(&submit)?, render::task).await
        }
        TaskCommand::List(args) => {
            ctx.show(client.list_tasks(&query(args)), render::tasks)
                .await
        }
        TaskCommand::Get { id } => ctx.show(client.get_task(id), render::task).await,
        TaskCommand::Cancel { id } => ctx.show(client.cancel_task(id), render::task).await,
        TaskCommand::Retry { id } => ctx.show(client.retry_task(id), render::task).await,
        TaskCommand::Events { id } => {
            ctx.show(client.task_events(id), |e, _| render::events(e))
                .await
        }
    }
}

/// The submission `task create` makes.
fn submission(args: TaskCreateArgs) -> SubmitTask {
    let payload = match (args.payload, args.prompt) {
        (Some(payload), _) => payload,
        (None, prompt) => json!({ "prompt": prompt.unwrap_or_default() }),
    };
    SubmitTask {
        payload,
        priority: args.priority,
        scheduled_at: args.scheduled_at,
        max_attempts: args.max_attempts,
        capabilities: args.capabilities,
        session_id: args.session,
        team_id: args.team,
        parent_id: args.parent,
        timeout_s: args.timeout_s,
        idempotency_key: args.idempotency_key,
        ..SubmitTask::default()
    }
}

/// The query `task list` sends (newest first unless a sort is given).
fn query(args: TaskListArgs) -> TaskQuery {
    TaskQuery {
        limit: args.limit,
        cursor: args.cursor,
        sort: Some(args.sort.unwrap_or_else(|| "-created_at".to_owned())),
        status: args.status,
        priority: args.priority,
        agent_id: args.agent,
        team_id: args.team,
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;
    use godel::client::Priority;

    use super::*;
    use crate::cli::{Cli, Command};

    fn create_args(args: &[&str]) -> TaskCreateArgs {
        let cli = Cli::try_parse_from(["godel", "task", "create"].iter().chain(args)).unwrap();
        match cli.command {
            Command::Task(TaskCommand::Create(a)) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_prompt_becomes_the_payload_and_options_carry_over() {
        let submit = submission(create_args(&[
            "--prompt",
            "hi",
            "-p",
            "low",
            "--capability",
            "rust",
        ]));
        assert_eq!(submit.payload, json!({"prompt": "hi"}));
        assert_eq!(submit.priority, Some(Priority::Low));
        assert_eq!(submit.capabilities, vec!["rust".to_owned()]);
        let raw = submission(create_args(&["--payload", r#"{"prompt":"x","model":"m"}"#]));
        assert_eq!(raw.payload["model"], "m");
    }
}
