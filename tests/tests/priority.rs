//! Priority order: when the only agent frees up, the waiting tasks start most urgent first —
//! critical, high, medium, low — whatever order they were submitted in.

use std::time::Duration;

use godel_e2e::{NewTask, ServerOptions, TaskView as _, TestServer};

#[tokio::test(flavor = "multi_thread")]
async fn tasks_waiting_for_the_only_agent_start_critical_then_high_then_medium_then_low() {
    let server = TestServer::start(ServerOptions::one_agent().run_ms(200)).await;
    let api = server.api();
    let mut events = server.events(&["task.started"]).await;

    let slow = api
        .submit(&NewTask::prompt("SLOW: hold the only agent"))
        .await;
    api.wait_status(slow.id(), "running").await;
    let mut waiting = Vec::new();
    for priority in ["low", "medium", "high", "critical"] {
        let task = api
            .submit(&NewTask::prompt(&format!("a {priority} task")).priority(priority))
            .await;
        waiting.push((priority, task.id().to_owned()));
    }
    for (_, id) in &waiting {
        let task = api.task(id).await;
        assert_eq!(task.status(), "pending", "the only agent is busy: {task:#}");
    }

    api.cancel(slow.id())
        .await
        .expect(200, "cancel the SLOW task to free the agent");
    let mut started = Vec::new();
    for (priority, id) in &waiting {
        let task = api.wait_status(id, "completed").await;
        let at = task
            .started_at()
            .unwrap_or_else(|| panic!("a completed task has started_at: {task:#}"));
        started.push((at, *priority));
    }
    started.sort();
    let by_started_at: Vec<&str> = started.iter().map(|(_, p)| *p).collect();
    assert_eq!(
        by_started_at,
        ["critical", "high", "medium", "low"],
        "order of started_at: {started:?}"
    );

    let mut by_event = Vec::new();
    while by_event.len() < waiting.len() {
        let event = events
            .next_event(Duration::from_secs(30))
            .await
            .unwrap_or_else(|| panic!("four task.started events; got {by_event:?}"));
        if let Some((priority, _)) = waiting.iter().find(|(_, id)| event["data"]["id"] == **id) {
            by_event.push(*priority);
        }
    }
    assert_eq!(
        by_event,
        ["critical", "high", "medium", "low"],
        "order of task.started events"
    );
}
