//! `godel queue depth` and `godel dlq list|replay|export`.

use anyhow::Context as _;
use godel::client::{DeadLetterQuery, ReplayFilter, ReplayOutcome};

use super::{Ctx, out};
use crate::cli::{DlqCommand, DlqReplayArgs, QueueCommand};
use crate::render;

pub(crate) async fn run_queue(ctx: &Ctx, command: QueueCommand) -> anyhow::Result<()> {
    match command {
        QueueCommand::Depth => {
            ctx.show(ctx.client.queue_depth(), |d, _| render::depth(d))
                .await
        }
    }
}

pub(crate) async fn run_dlq(ctx: &Ctx, command: DlqCommand) -> anyhow::Result<()> {
    let client = &ctx.client;
    match command {
        DlqCommand::List {
            priority,
            limit,
            cursor,
        } => {
            let query = DeadLetterQuery {
                limit,
                cursor,
                priority,
            };
            ctx.show(client.list_dead_letters(&query), render::tasks)
                .await
        }
        DlqCommand::Replay(args) => {
            let call = client.replay_dead_letters(&filter(args))?;
            ctx.show(call, |o: &ReplayOutcome, _| {
                format!("replayed {} dead-lettered task(s)\n", o.count)
            })
            .await
        }
        DlqCommand::Export { priority, output } => {
            let query = DeadLetterQuery {
                priority,
                ..DeadLetterQuery::default()
            };
            let ndjson = client.export_dead_letters(&query).text().await?;
            match output {
                Some(path) => {
                    std::fs::write(&path, &ndjson)
                        .with_context(|| format!("write {}", path.display()))?;
                    let lines = ndjson.lines().filter(|l| !l.trim().is_empty()).count();
                    eprintln!("wrote {lines} dead letter(s) to {}", path.display());
                    Ok(())
                }
                None => out(&ndjson),
            }
        }
    }
}

/// The replay filter; `--all` is the empty filter.
fn filter(args: DlqReplayArgs) -> ReplayFilter {
    if args.all {
        return ReplayFilter::default();
    }
    ReplayFilter {
        ids: args.ids,
        priority: args.priority,
        before: args.before,
        after: args.after,
        error_contains: args.error_contains,
    }
}
