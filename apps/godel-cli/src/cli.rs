//! The command line, as clap parses it: global flags, commands and their arguments.

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use godel::client::{
    AgentId, DEFAULT_URL, InstanceId, OffsetDateTime, Priority, Role, SessionId, TaskId,
    TaskStatus, TeamId,
};

/// Drive a Godel server: submit intents, watch tasks, inspect queues, agents, sessions and
/// gateway instances.
#[derive(Debug, Parser)]
#[command(
    name = "godel",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub(crate) struct Cli {
    /// The Godel server's base URL.
    #[arg(long, env = "GODEL_URL", default_value = DEFAULT_URL, global = true)]
    pub(crate) url: String,
    /// The credential to send (an API key `dk_...` or a JWT). Without it, the key file the
    /// local server wrote is used: ./.godel/admin.key, then $GODEL_DATA_DIR/admin.key.
    #[arg(long, env = "GODEL_API_KEY", hide_env_values = true, global = true)]
    pub(crate) api_key: Option<String>,
    /// Print the server's JSON answer instead of a table.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Submit an intent as a task (payload `{"prompt": INTENT}`), optionally following it.
    Do(DoArgs),
    /// Create, list, inspect, cancel and retry tasks.
    #[command(subcommand)]
    Task(TaskCommand),
    /// The task queue.
    #[command(subcommand)]
    Queue(QueueCommand),
    /// The dead letter queue: list, replay, export.
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Agents and their live load.
    #[command(subcommand)]
    Agent(AgentCommand),
    /// Agent sessions and their lifecycle.
    #[command(subcommand)]
    Session(SessionCommand),
    /// The registry of OpenClaw gateway instances.
    #[command(subcommand)]
    Instance(InstanceCommand),
    /// One-screen summary: health, queue depth by priority, agents, instances.
    Status,
    /// Service-account API keys (admin).
    #[command(subcommand)]
    Key(KeyCommand),
    /// Print a shell completion script.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
}

/// `godel do`.
#[derive(Debug, Args)]
pub(crate) struct DoArgs {
    /// What to do, in plain words.
    pub(crate) intent: String,
    /// The task's priority.
    #[arg(long, short, value_parser = priority_parser())]
    pub(crate) priority: Option<Priority>,
    /// Stream the task's progress until it ends; exit 0 when it completed, 1 otherwise.
    #[arg(long, short)]
    pub(crate) follow: bool,
    /// A capability the agent must have (repeatable).
    #[arg(long = "capability", value_name = "CAPABILITY")]
    pub(crate) capabilities: Vec<String>,
}

/// `godel task ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum TaskCommand {
    /// Create a task from a prompt or a JSON payload.
    Create(TaskCreateArgs),
    /// List tasks, newest first by default.
    List(TaskListArgs),
    /// Show one task.
    Get {
        /// The task's id.
        id: TaskId,
    },
    /// Cancel a task.
    Cancel {
        /// The task's id.
        id: TaskId,
    },
    /// Retry a failed or dead-lettered task.
    Retry {
        /// The task's id.
        id: TaskId,
    },
    /// Show a task's event history.
    Events {
        /// The task's id.
        id: TaskId,
    },
}

/// `godel task create`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("work").required(true).args(["prompt", "payload"])))]
pub(crate) struct TaskCreateArgs {
    /// The prompt (payload `{"prompt": PROMPT}`).
    #[arg(long)]
    pub(crate) prompt: Option<String>,
    /// The whole payload as a JSON object (it must hold a non-empty `prompt`).
    #[arg(long, value_parser = json_object)]
    pub(crate) payload: Option<serde_json::Value>,
    /// The task's priority.
    #[arg(long, short, value_parser = priority_parser())]
    pub(crate) priority: Option<Priority>,
    /// Attempts before dead letter (1 to 100).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub(crate) max_attempts: Option<u32>,
    /// A capability the agent must have (repeatable).
    #[arg(long = "capability", value_name = "CAPABILITY")]
    pub(crate) capabilities: Vec<String>,
    /// Not before this time (RFC 3339, e.g. 2026-01-01T09:00:00Z).
    #[arg(long, value_parser = rfc3339)]
    pub(crate) scheduled_at: Option<OffsetDateTime>,
    /// The session to run in.
    #[arg(long)]
    pub(crate) session: Option<SessionId>,
    /// The team it belongs to.
    #[arg(long)]
    pub(crate) team: Option<TeamId>,
    /// The task that spawned it.
    #[arg(long)]
    pub(crate) parent: Option<TaskId>,
    /// Seconds one run may take (1 to 86400).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub(crate) timeout_s: Option<u64>,
    /// Submitting again with the same key returns the first task.
    #[arg(long)]
    pub(crate) idempotency_key: Option<String>,
}

/// `godel task list`.
#[derive(Debug, Args)]
pub(crate) struct TaskListArgs {
    /// Only tasks in this status.
    #[arg(long, short, value_parser = status_parser())]
    pub(crate) status: Option<TaskStatus>,
    /// Only tasks of this priority.
    #[arg(long, short, value_parser = priority_parser())]
    pub(crate) priority: Option<Priority>,
    /// Only tasks held by this agent.
    #[arg(long)]
    pub(crate) agent: Option<AgentId>,
    /// Only tasks of this team.
    #[arg(long)]
    pub(crate) team: Option<TeamId>,
    /// Page size (1 to 100).
    #[arg(long, short = 'n', value_parser = clap::value_parser!(u32).range(1..=100))]
    pub(crate) limit: Option<u32>,
    /// The cursor printed under the previous page.
    #[arg(long)]
    pub(crate) cursor: Option<String>,
    /// Sort key: created_at, -created_at, priority, ...
    #[arg(long)]
    pub(crate) sort: Option<String>,
}

/// `godel queue ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum QueueCommand {
    /// Due tasks by priority, plus scheduled, running and dead-lettered counts.
    Depth,
}

/// `godel dlq ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum DlqCommand {
    /// List dead-lettered tasks.
    List {
        /// Only this priority.
        #[arg(long, short, value_parser = priority_parser())]
        priority: Option<Priority>,
        /// Page size (1 to 100).
        #[arg(long, short = 'n', value_parser = clap::value_parser!(u32).range(1..=100))]
        limit: Option<u32>,
        /// The cursor printed under the previous page.
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Put dead letters back in the queue (name a filter, or --all).
    Replay(DlqReplayArgs),
    /// Export dead letters as NDJSON (one task per line).
    Export {
        /// Only this priority.
        #[arg(long, short, value_parser = priority_parser())]
        priority: Option<Priority>,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
    },
}

/// `godel dlq replay`.
#[derive(Debug, Args)]
#[command(group(
    clap::ArgGroup::new("filter")
        .required(true)
        .multiple(true)
        .args(["ids", "priority", "before", "after", "error_contains", "all"])
))]
pub(crate) struct DlqReplayArgs {
    /// Only these tasks (repeatable).
    #[arg(long = "id", value_name = "TASK_ID")]
    pub(crate) ids: Vec<TaskId>,
    /// Only this priority.
    #[arg(long, short, value_parser = priority_parser())]
    pub(crate) priority: Option<Priority>,
    /// Only those dead-lettered before this time (RFC 3339).
    #[arg(long, value_parser = rfc3339)]
    pub(crate) before: Option<OffsetDateTime>,
    /// Only those dead-lettered at or after this time (RFC 3339).
    #[arg(long, value_parser = rfc3339)]
    pub(crate) after: Option<OffsetDateTime>,
    /// Only those whose last error contains this text.
    #[arg(long)]
    pub(crate) error_contains: Option<String>,
    /// Every dead letter.
    #[arg(long, conflicts_with_all = ["ids", "priority", "before", "after", "error_contains"])]
    pub(crate) all: bool,
}

/// `godel agent ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum AgentCommand {
    /// List agents.
    List,
    /// One agent with its live load.
    Status {
        /// The agent's id.
        id: AgentId,
    },
}

/// `godel session ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum SessionCommand {
    /// List sessions.
    List {
        /// How many (1 to 100).
        #[arg(long, short = 'n', value_parser = clap::value_parser!(u32).range(1..=100))]
        limit: Option<u32>,
    },
    /// One session with its state history.
    Get {
        /// The session's id.
        id: SessionId,
    },
    /// Hold a session: no new run starts until it is resumed.
    Pause {
        /// The session's id.
        id: SessionId,
    },
    /// Resume a paused session.
    Resume {
        /// The session's id.
        id: SessionId,
    },
    /// End a session.
    Terminate {
        /// The session's id.
        id: SessionId,
    },
}

/// `godel instance ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum InstanceCommand {
    /// List gateway instances.
    List,
    /// Register a gateway instance (admin).
    Add(InstanceAddArgs),
    /// Deregister a gateway instance (admin).
    Remove {
        /// The instance's id.
        id: InstanceId,
    },
    /// One instance's health.
    Health {
        /// The instance's id.
        id: InstanceId,
    },
}

/// `godel instance add`.
#[derive(Debug, Args)]
pub(crate) struct InstanceAddArgs {
    /// The gateway's WebSocket URL (ws:// or wss://).
    pub(crate) endpoint: String,
    /// Most sessions it runs at once.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_sessions: u32,
    /// Region, for geo-aware routing.
    #[arg(long)]
    pub(crate) region: Option<String>,
    /// Zone within the region.
    #[arg(long)]
    pub(crate) zone: Option<String>,
    /// A capability its agents have (repeatable).
    #[arg(long = "capability", value_name = "CAPABILITY")]
    pub(crate) capabilities: Vec<String>,
    /// The gateway's auth token.
    #[arg(long, env = "GODEL_GATEWAY_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
}

/// `godel key ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum KeyCommand {
    /// Create a key; its secret is printed once.
    Create {
        /// A label for the key.
        #[arg(long)]
        name: String,
        /// What it may do.
        #[arg(long, value_parser = role_parser(), default_value = "developer")]
        role: Role,
    },
    /// List keys (never their secrets).
    List,
    /// Revoke a key.
    Revoke {
        /// The key's id.
        id: String,
    },
}

/// Priorities by name, listing the allowed values on error and in completions.
fn priority_parser() -> impl TypedValueParser<Value = Priority> {
    PossibleValuesParser::new(Priority::ALL.map(Priority::as_str))
        .try_map(|s| s.parse::<Priority>())
}

/// Task statuses by name.
fn status_parser() -> impl TypedValueParser<Value = TaskStatus> {
    PossibleValuesParser::new(TaskStatus::ALL.map(TaskStatus::as_str))
        .try_map(|s| s.parse::<TaskStatus>())
}

/// Roles by name.
fn role_parser() -> impl TypedValueParser<Value = Role> {
    PossibleValuesParser::new(Role::ALL.iter().map(|r| r.as_str())).try_map(|s| s.parse::<Role>())
}

/// An RFC 3339 timestamp.
fn rfc3339(s: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("expected an RFC 3339 time such as 2026-01-01T09:00:00Z ({e})"))
}

/// A JSON object.
fn json_object(s: &str) -> Result<serde_json::Value, String> {
    match serde_json::from_str::<serde_json::Value>(s) {
        Ok(v) if v.is_object() => Ok(v),
        Ok(_) => Err("expected a JSON object, e.g. '{\"prompt\": \"...\"}'".into()),
        Err(e) => Err(format!("not JSON: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;
    use clap::error::ErrorKind;

    use super::*;

    const TASK: &str = "0193a1b2-0000-7000-8000-000000000001";

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("godel").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_parses() {
        let commands: &[&[&str]] = &[
            &["do", "fix the flaky test", "--priority", "high", "--follow"],
            &["do", "x", "-p", "critical", "--capability", "rust"],
            &[
                "task",
                "create",
                "--prompt",
                "hi",
                "--priority",
                "low",
                "--max-attempts",
                "3",
            ],
            &[
                "task",
                "create",
                "--payload",
                r#"{"prompt":"hi","model":"m"}"#,
            ],
            &[
                "task",
                "list",
                "--status",
                "dead_letter",
                "--priority",
                "medium",
                "-n",
                "5",
            ],
            &["task", "get", TASK],
            &["task", "cancel", TASK],
            &["task", "retry", TASK],
            &["task", "events", TASK],
            &["queue", "depth"],
            &["dlq", "list", "--priority", "high"],
            &["dlq", "replay", "--id", TASK, "--id", TASK],
            &["dlq", "replay", "--all"],
            &[
                "dlq",
                "replay",
                "--error-contains",
                "timeout",
                "--priority",
                "low",
            ],
            &["dlq", "replay", "--before", "2026-01-01T00:00:00Z"],
            &[
                "task",
                "create",
                "--prompt",
                "p",
                "--scheduled-at",
                "2026-01-01T09:00:00+02:00",
            ],
            &["dlq", "export", "-o", "dead.ndjson"],
            &["agent", "list"],
            &["agent", "status", "agent-1"],
            &["session", "list"],
            &["session", "get", TASK],
            &["session", "pause", TASK],
            &["session", "resume", TASK],
            &["session", "terminate", TASK],
            &["instance", "list"],
            &[
                "instance",
                "add",
                "ws://127.0.0.1:18789",
                "--max-sessions",
                "4",
            ],
            &["instance", "remove", TASK],
            &["instance", "health", TASK],
            &["status"],
            &["key", "create", "--name", "ci", "--role", "operator"],
            &["key", "list"],
            &["key", "revoke", "k1"],
            &["completions", "bash"],
            &[
                "--json",
                "--url",
                "http://h:1",
                "--api-key",
                "dk_x",
                "status",
            ],
            &["status", "--json"],
        ];
        for args in commands {
            if let Err(e) = parse(args) {
                panic!("{args:?} did not parse: {e}");
            }
        }
    }

    #[test]
    fn global_flags_reach_the_command() {
        let cli = parse(&["task", "list", "--json", "--url", "http://example:1"]).unwrap();
        assert!(cli.json);
        assert_eq!(cli.url, "http://example:1");
        let cli = parse(&["do", "ship it", "-p", "high"]).unwrap();
        let Command::Do(args) = cli.command else {
            panic!("not do: {:?}", cli.command);
        };
        assert_eq!(args.intent, "ship it");
        assert_eq!(args.priority, Some(Priority::High));
        assert!(!args.follow);
    }

    #[test]
    fn a_bad_priority_is_rejected_naming_the_allowed_values() {
        let e = parse(&["do", "x", "--priority", "urgent"]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidValue);
        let text = e.to_string();
        for allowed in ["critical", "high", "medium", "low"] {
            assert!(text.contains(allowed), "{text}");
        }
        assert!(text.contains("urgent"), "{text}");
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn bad_input_is_a_usage_error() {
        for args in [
            &["task", "get", "not-a-uuid"][..],
            &["task", "list", "--status", "done"],
            &["task", "create"],
            &["task", "create", "--payload", "[1]"],
            &["dlq", "replay"],
            &["dlq", "replay", "--all", "--priority", "low"],
            &["key", "create", "--name", "x", "--role", "root"],
            &["task", "list", "-n", "0"],
            &[
                "task",
                "create",
                "--prompt",
                "p",
                "--scheduled-at",
                "tomorrow",
            ],
            &["frobnicate"],
        ] {
            let e = parse(args).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{args:?}: {e}");
        }
    }
}
