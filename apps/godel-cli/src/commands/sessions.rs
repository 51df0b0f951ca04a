//! `godel session list|get|pause|resume|terminate`.

use super::Ctx;
use crate::cli::SessionCommand;
use crate::render;

pub(crate) async fn run(ctx: &Ctx, command: SessionCommand) -> anyhow::Result<()> {
    let client = &ctx.client;
    let detail = |s: &_, _| render::session(s);
    match command {
        SessionCommand::List { limit } => {
            ctx.show(client.list_sessions(limit), render::sessions)
                .await
        }
        SessionCommand::Get { id } => ctx.show(client.get_session(id), detail).await,
        SessionCommand::Pause { id } => ctx.show(client.pause_session(id), detail).await,
        SessionCommand::Resume { id } => ctx.show(client.resume_session(id), detail).await,
        SessionCommand::Terminate { id } => ctx.show(client.terminate_session(id), detail).await,
    }
}
