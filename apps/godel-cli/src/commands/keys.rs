//! `godel key create|list|revoke`.

use godel::client::CreateApiKey;

use super::{Ctx, out, print_json};
use crate::cli::KeyCommand;
use crate::render;

pub(crate) async fn run(ctx: &Ctx, command: KeyCommand) -> anyhow::Result<()> {
    let client = &ctx.client;
    match command {
        KeyCommand::Create { name, role } => {
            let call = client.create_api_key(&CreateApiKey { name, role })?;
            ctx.show(call, |k, _| render::key_created(k)).await
        }
        KeyCommand::List => {
            ctx.show(client.list_api_keys(), |k, _| render::keys(k))
                .await
        }
        KeyCommand::Revoke { id } => {
            let call = client.revoke_api_key(&id);
            if ctx.json {
                print_json(&call.raw().await?)
            } else {
                call.await?;
                out(&format!("revoked API key {id}\n"))
            }
        }
    }
}
