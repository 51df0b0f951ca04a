//! Scenarios run against more than one store (the embedded SQLite one, and Postgres + Redis):
//! written once here, called by the test files with the server options of each store.

use std::time::Duration;

use serde_json::Value;

use crate::api::{NewTask, TaskView as _, WAIT};
use crate::server::{ServerOptions, TestServer};

/// The newcomer's path on a started `--dev` server: `GET /health` is 200 `healthy`,
/// `godel do "hello" --follow` exits 0 saying the task completed, `godel status` exits 0.
///
/// # Panics
/// When a step does not hold.
pub async fn newcomer_path(server: &TestServer) -> Value {
    let health = server
        .api()
        .anonymous()
        .get("/health")
        .await
        .expect(200, "GET /health without a credential");
    assert_eq!(health["status"], "healthy", "GET /health: {health:#}");

    let done = server.cli(&["do", "hello", "--follow"]).await;
    assert!(done.success(), "godel do \"hello\" --follow:\n{done}");
    let said = format!("{}{}", done.stdout, done.stderr).to_lowercase();
    assert!(
        said.contains("completed"),
        "godel do --follow says the task completed:\n{done}"
    );

    let status = server.cli(&["status"]).await;
    assert!(status.success(), "godel status:\n{status}");
    assert!(
        !status.stdout.trim().is_empty(),
        "godel status prints a summary:\n{status}"
    );
    health
}

/// The statuses a task that waited in the queue may have after a restart: still waiting, or
/// already picked up again.
const STILL_QUEUED_OR_PICKED_UP: [&str; 4] = ["pending", "assigned", "running", "completed"];

/// A server stopped with SIGTERM (exit 0) and started again on the same data finds every task
/// with the status it had: completed, dead-lettered, cancelled and scheduled tasks unchanged,
/// queued ones still there and then completing; the run cut short by the shutdown goes back to
/// the queue. `options` chooses the store; the scenario adds one agent taking one run at a time,
/// 200 ms runs and a 1 s shutdown grace.
///
/// # Panics
/// When a step does not hold.
pub async fn restart_keeps_every_task(options: ServerOptions) {
    let options = options
        .gateways(1)
        .sessions(1)
        .run_ms(200)
        .shutdown_grace_s(1);
    let mut server = TestServer::start(options).await;
    let api = server.api();

    let done = api
        .submit(&NewTask::prompt("finish before the restart"))
        .await;
    let done = api.wait_status(done.id(), "completed").await;
    let dead = api
        .submit(&NewTask::prompt("FAIL once and for all").max_attempts(1))
        .await;
    let dead = api.wait_status(dead.id(), "dead_letter").await;
    let slow = api
        .submit(&NewTask::prompt("SLOW: hold the only agent"))
        .await;
    api.wait_status(slow.id(), "running").await;
    let mut queued = Vec::new();
    for n in 0..3 {
        let task = api
            .submit(&NewTask::prompt(&format!("queued {n} behind the slow one")))
            .await;
        queued.push(task.id().to_owned());
    }
    let cancelled = api.submit(&NewTask::prompt("cancel me while queued")).await;
    api.cancel(cancelled.id())
        .await
        .expect(200, "cancel a queued task");
    let later = api
        .submit(&NewTask::prompt("not before an hour").scheduled_in(Duration::from_secs(3600)))
        .await;
    let later = api.wait_status(later.id(), "scheduled").await;
    for id in &queued {
        let task = api.task(id).await;
        assert_eq!(
            task.status(),
            "pending",
            "queued behind the SLOW run: {task:#}"
        );
    }

    let status = server.stop().await;
    assert!(
        status.success(),
        "SIGTERM drains and exits 0, got {status}\n{}",
        server.output_tail()
    );
    server.restart().await;
    assert!(
        !server.stdout().contains("admin API key"),
        "a restart creates no second admin key:\n{}",
        server.stdout()
    );
    let api = server.api();

    let after = api.task(done.id()).await;
    assert_eq!(after.status(), "completed", "{after:#}");
    for field in ["finished_at", "started_at", "result", "attempt_count"] {
        assert_eq!(
            after[field], done[field],
            "`{field}` of a completed task is kept"
        );
    }
    let after = api.task(dead.id()).await;
    assert_eq!(after.status(), "dead_letter", "{after:#}");
    assert_eq!(after["last_error"], dead["last_error"], "{after:#}");
    let after = api.task(cancelled.id()).await;
    assert_eq!(after.status(), "cancelled", "{after:#}");
    let after = api.task(later.id()).await;
    assert_eq!(after.status(), "scheduled", "{after:#}");
    assert_eq!(after["due_at"], later["due_at"], "{after:#}");
    for id in &queued {
        let task = api.task(id).await;
        assert!(
            STILL_QUEUED_OR_PICKED_UP.contains(&task.status()),
            "a queued task is still queued (or picked up again) after the restart: {task:#}"
        );
    }
    let returned = api.task(slow.id()).await;
    assert!(
        ["pending", "assigned", "running"].contains(&returned.status()),
        "the run the shutdown cut short went back to the queue: {returned:#}"
    );

    // Free the only agent (the SLOW run would take 10 s) and let the queue drain.
    api.cancel(slow.id())
        .await
        .expect(200, "cancel the returned SLOW task");
    for id in &queued {
        api.wait_task(id, "completed", WAIT, |t| t.status() == "completed")
            .await;
    }
    let after = api.task(later.id()).await;
    assert_eq!(after.status(), "scheduled", "{after:#}");
}
