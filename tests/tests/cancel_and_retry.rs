//! Cancelling and retrying: a queued task cancels at once (a second cancel is a conflict), a
//! running one ends cancelled, and a task out of attempts dead-letters and comes back through a
//! manual retry or a dead-letter replay.

use std::time::Duration;

use godel_e2e::events::names_for;
use godel_e2e::{NewTask, ServerOptions, TaskView as _, TestServer, WAIT};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn cancelling_a_queued_task_answers_200_and_cancelling_it_again_answers_409() {
    let server = TestServer::start(ServerOptions::one_agent().run_ms(200)).await;
    let api = server.api();
    let slow = api
        .submit(&NewTask::prompt("SLOW: hold the only agent"))
        .await;
    api.wait_status(slow.id(), "running").await;
    let queued = api
        .submit(&NewTask::prompt("wait behind the slow one"))
        .await;
    assert_eq!(queued.status(), "pending", "{queued:#}");

    let cancelled = api
        .cancel(queued.id())
        .await
        .expect(200, "cancel a queued task");
    assert_eq!(
        cancelled.status(),
        "cancelled",
        "the answer is the task: {cancelled:#}"
    );
    assert_eq!(api.task(queued.id()).await.status(), "cancelled");

    let again = api.cancel(queued.id()).await;
    assert_eq!(again.status, 409, "a second cancel: {}", again.body);
    assert_eq!(again.body["error"]["code"], "conflict", "{}", again.body);

    api.cancel(slow.id())
        .await
        .expect(200, "cancel the SLOW task");
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelling_a_hanging_run_aborts_it_and_ends_the_task_cancelled() {
    let server = TestServer::start(ServerOptions::dev()).await;
    let api = server.api();
    let hang = api.submit(&NewTask::prompt("HANG until aborted")).await;
    api.wait_status(hang.id(), "running").await;

    api.cancel(hang.id())
        .await
        .expect(200, "cancel a running task");
    let ended = api.wait_status(hang.id(), "cancelled").await;
    assert!(ended["finished_at"].is_string(), "{ended:#}");
    let again = api.cancel(hang.id()).await;
    assert_eq!(
        again.status, 409,
        "cancelling an ended task: {}",
        again.body
    );
}

/// A run that would end on its own a few seconds later: the cancel must stop it, not let it
/// complete (`SLOW` runs last 10 s, as long as the engine's heartbeat, so they race; an
/// ordinary 3 s run shows the same without a race).
#[tokio::test(flavor = "multi_thread")]
async fn cancelling_a_running_task_ends_it_cancelled_not_completed() {
    let server = TestServer::start(ServerOptions::dev().run_ms(3000)).await;
    let api = server.api();
    let task = api.submit(&NewTask::prompt("run for three seconds")).await;
    api.wait_status(task.id(), "running").await;

    let answer = api
        .cancel(task.id())
        .await
        .expect(200, "cancel a running task");
    let ended = api
        .wait_task(task.id(), "ended", WAIT, |t| {
            ["cancelled", "completed", "dead_letter"].contains(&t.status())
        })
        .await;
    assert_eq!(
        ended.status(),
        "cancelled",
        "POST /cancel answered {answer}\nbut the task ended: {ended:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_task_out_of_attempts_dead_letters_and_a_manual_retry_runs_it_again() {
    let server = TestServer::start(ServerOptions::dev().run_ms(200)).await;
    let api = server.api();
    let mut events = server.events(&["task.*"]).await;
    let task = api
        .submit(&NewTask::prompt("FAIL every time").max_attempts(1))
        .await;
    let id = task.id().to_owned();

    let first = events
        .task_events_until(&id, "task.dead_lettered", WAIT)
        .await;
    let dead = api.wait_status(&id, "dead_letter").await;
    assert!(dead["dead_lettered_at"].is_string(), "{dead:#}");
    let listed = api
        .get("/api/v1/dead-letter")
        .await
        .expect(200, "GET /api/v1/dead-letter");
    assert!(
        listed["items"]
            .as_array()
            .is_some_and(|items| items.iter().any(|t| t["id"] == id.as_str())),
        "the dead letter queue lists the task: {listed:#}"
    );

    let retried = api
        .retry(&id)
        .await
        .expect(200, "retry a dead-lettered task");
    assert_ne!(retried.status(), "dead_letter", "{retried:#}");
    let all = events.task_events_until(&id, "task.retried", WAIT).await;
    let after_retry = wait_for_next(&mut events, &id, "task.dead_lettered", all.len()).await;

    let first: Vec<&str> = first
        .iter()
        .map(String::as_str)
        .filter(|n| *n != "task.progress")
        .collect();
    assert_eq!(
        first[..3.min(first.len())],
        ["task.created", "task.assigned", "task.started"],
        "first life of the task: {first:?}"
    );
    assert_eq!(first.last(), Some(&"task.dead_lettered"), "{first:?}");
    assert!(
        first[3..first.len() - 1]
            .iter()
            .all(|n| *n == "task.failed"),
        "between its start and its dead letter, at most a failure: {first:?}"
    );
    let first_len = names_for(events.seen(), &id)
        .iter()
        .position(|n| n == "task.dead_lettered")
        .map_or(0, |i| i + 1);
    let second = &after_retry[first_len..];
    assert_eq!(
        second.first().map(String::as_str),
        Some("task.retried"),
        "after the retry: {second:?}"
    );
    for step in ["task.assigned", "task.started", "task.dead_lettered"] {
        assert!(
            second.iter().any(|n| n == step),
            "the retried task is {step} again: {second:?}"
        );
    }
    let again = api.wait_status(&id, "dead_letter").await;
    assert_eq!(
        again["runs"].as_array().map(Vec::len),
        Some(2),
        "two runs, one per life: {again:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn replaying_a_dead_letter_by_id_queues_it_again() {
    let server = TestServer::start(ServerOptions::dev().run_ms(200)).await;
    let api = server.api();
    let mut events = server.events(&["task.*"]).await;
    let task = api
        .submit(&NewTask::prompt("FAIL again and again").max_attempts(1))
        .await;
    let id = task.id().to_owned();
    let first = events
        .task_events_until(&id, "task.dead_lettered", WAIT)
        .await;
    api.wait_status(&id, "dead_letter").await;

    let replayed = api
        .post("/api/v1/dead-letter/replay", &json!({ "ids": [id] }))
        .await
        .expect(200, "POST /api/v1/dead-letter/replay");
    assert_eq!(replayed["count"], 1, "{replayed:#}");
    assert_eq!(replayed["ids"], json!([id]), "{replayed:#}");

    let all = wait_for_next(&mut events, &id, "task.dead_lettered", first.len()).await;
    let second = &all[first.len()..];
    for step in ["task.started", "task.dead_lettered"] {
        assert!(
            second.iter().any(|n| n == step),
            "the replayed task is {step} again: {second:?}"
        );
    }
    let again = api.wait_status(&id, "dead_letter").await;
    assert_eq!(again["runs"].as_array().map(Vec::len), Some(2), "{again:#}");
}

/// The task's event names until a `last` event after the first `skip` ones.
async fn wait_for_next(
    events: &mut godel_e2e::EventStream,
    id: &str,
    last: &str,
    skip: usize,
) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let names = names_for(events.seen(), id);
        if names[skip.min(names.len())..].iter().any(|n| n == last) {
            return names;
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        assert!(
            events
                .next_event(left.min(Duration::from_secs(30)))
                .await
                .is_some(),
            "no second `{last}` for task {id}; its events: {names:?}"
        );
    }
}
