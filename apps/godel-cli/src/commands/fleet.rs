//! `godel agent list|status` and `godel instance list|add|remove|health`.

use godel::client::{Capabilities, Instance, InstanceSpec};

use super::{Ctx, out, print_json};
use crate::cli::{AgentCommand, InstanceAddArgs, InstanceCommand};
use crate::render;

pub(crate) async fn run_agent(ctx: &Ctx, command: AgentCommand) -> anyhow::Result<()> {
    let client = &ctx.client;
    match command {
        AgentCommand::List => {
            ctx.show(client.list_agents(), |a, _| render::agents(a))
                .await
        }
        AgentCommand::Status { id } => {
            ctx.show(client.agent_status(&id), |v, _| render::agent_status(v))
                .await
        }
    }
}

pub(crate) async fn run_instance(ctx: &Ctx, command: InstanceCommand) -> anyhow::Result<()> {
    let client = &ctx.client;
    match command {
        InstanceCommand::List => {
            ctx.show(client.list_instances(), |i, _| render::instances(i))
                .await
        }
        InstanceCommand::Add(args) => {
            let spec = spec(args)?;
            ctx.show(client.add_instance(&spec)?, |i: &Instance, _| {
                format!("registered instance {} ({})\n", i.id, i.endpoint)
            })
            .await
        }
        InstanceCommand::Remove { id } => {
            let call = client.remove_instance(id);
            if ctx.json {
                print_json(&call.raw().await?)
            } else {
                call.await?;
                out(&format!("removed instance {id}\n"))
            }
        }
        InstanceCommand::Health { id } => {
            ctx.show(client.instance_health(id), |h, _| {
                render::instance_health(h)
            })
            .await
        }
    }
}

/// The spec `instance add` registers.
fn spec(args: InstanceAddArgs) -> anyhow::Result<InstanceSpec> {
    let capabilities = Capabilities::parse(args.capabilities.iter().map(String::as_str))
        .map_err(|e| anyhow::anyhow!("--capability: {e}"))?;
    let mut spec = InstanceSpec::new(args.endpoint, args.max_sessions);
    spec.region = args.region;
    spec.zone = args.zone;
    spec.capabilities = capabilities;
    spec.token = args.token;
    Ok(spec)
}
