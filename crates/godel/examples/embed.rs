//! A platform team embedding Godel in its own service: an in-memory Godel with two simulated
//! OpenClaw gateways, a task submitted through the engine (no HTTP), followed on the event bus
//! to its end, then a graceful shutdown.
//!
//! Run it with `cargo run -p godel --features server --example embed`. To serve the REST API as
//! well, call `godel.serve(listener, stop)` instead of `godel.start()`; to keep tasks across
//! restarts, build with `Godel::from_settings(settings)` (SQLite or Postgres + Redis).

use std::time::Duration;

use godel::Godel;
use godel::engine::SubmitTask;
use godel::types::{EventBody, Priority, TaskEventKind, TenantId};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let godel = Godel::builder()?.dev_gateways(2).build().await?;
    let engine = godel.engine().clone();
    let mut events = engine.bus().subscribe();
    let running = godel.start();

    let tenant = TenantId::parse("platform-team")?;
    let submitted = engine
        .tasks()
        .submit(
            &tenant,
            SubmitTask {
                payload: serde_json::json!({ "prompt": "summarise the open pull requests" }),
                priority: Some(Priority::High),
                ..SubmitTask::default()
            },
        )
        .await?;
    let id = submitted.task.id;
    println!("submitted {id}");

    let outcome = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let event = events.recv().await?;
            if event.task_id() != Some(id) {
                continue;
            }
            println!("  {}", event.name().as_str());
            if let EventBody::Task(kind, _) = &event.body
                && matches!(kind, TaskEventKind::Completed | TaskEventKind::DeadLettered)
            {
                return Ok::<_, tokio::sync::broadcast::error::RecvError>(*kind);
            }
        }
    })
    .await??;
    let task = engine.tasks().get(&tenant, id).await?;
    println!("{id}: {outcome:?}, result {:?}", task.result);

    let report = running.shutdown().await;
    println!(
        "shut down ({} runs finished in the grace period)",
        report.finished
    );
    Ok(())
}
