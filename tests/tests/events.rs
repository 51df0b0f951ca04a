//! The `/events` stream: a subscriber sees every transition of a task — created, assigned,
//! started, (progress), completed — in that order, each carrying the task as the REST API
//! shows it.

use godel_e2e::{NewTask, ServerOptions, TaskView as _, TestServer, WAIT};

#[tokio::test(flavor = "multi_thread")]
async fn a_subscriber_sees_every_transition_of_a_task_in_order() {
    let server = TestServer::start(ServerOptions::dev().run_ms(300)).await;
    let mut events = server.events(&["task.*"]).await;
    let task = server
        .api()
        .submit(&NewTask::prompt("TOOL: say hello"))
        .await;

    let names = events
        .task_events_until(task.id(), "task.completed", WAIT)
        .await;
    let transitions: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| *n != "task.progress")
        .collect();
    assert_eq!(
        transitions,
        [
            "task.created",
            "task.assigned",
            "task.started",
            "task.completed"
        ],
        "all events of the task: {names:?}"
    );
    if let Some(first_progress) = names.iter().position(|n| n == "task.progress") {
        let started = names.iter().position(|n| n == "task.started").unwrap();
        let completed = names.iter().position(|n| n == "task.completed").unwrap();
        assert!(
            started < first_progress && first_progress < completed,
            "progress comes between start and completion: {names:?}"
        );
    }

    let frames: Vec<_> = events
        .seen()
        .iter()
        .filter(|e| e["data"]["id"] == task.id())
        .collect();
    for frame in &frames {
        assert_eq!(frame["type"], "event", "{frame:#}");
        assert_eq!(frame["tenant_id"], task["tenant_id"], "{frame:#}");
        assert!(
            frame["id"].is_string(),
            "an event has its own id: {frame:#}"
        );
        assert!(frame["timestamp"].is_string(), "{frame:#}");
    }
    let created = frames[0];
    assert_eq!(created["data"]["status"], "pending", "{created:#}");
    let last = frames.last().unwrap();
    assert_eq!(last["data"]["status"], "completed", "{last:#}");
    let mut ids: Vec<&str> = frames.iter().filter_map(|f| f["id"].as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), frames.len(), "every event has an id of its own");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subscriber_sees_only_the_events_it_subscribed_to() {
    let server = TestServer::start(ServerOptions::dev().run_ms(200)).await;
    let mut completions = server.events(&["task.completed"]).await;
    let task = server.api().submit(&NewTask::prompt("hello")).await;
    let names = completions
        .task_events_until(task.id(), "task.completed", WAIT)
        .await;
    assert_eq!(names, ["task.completed"]);
    assert!(
        completions
            .seen()
            .iter()
            .all(|e| e["event"] == "task.completed"),
        "{:?}",
        completions.seen()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_task_event_carries_the_task_as_the_rest_api_shows_it() {
    let server = TestServer::start(ServerOptions::dev().run_ms(200)).await;
    let mut events = server.events(&["task.*"]).await;
    let task = server.api().submit(&NewTask::prompt("hello")).await;
    events
        .task_events_until(task.id(), "task.completed", WAIT)
        .await;
    let rest = server.api().wait_status(task.id(), "completed").await;
    let completed = events
        .seen()
        .iter()
        .find(|e| e["event"] == "task.completed" && e["data"]["id"] == task.id())
        .expect("the task.completed event");
    let data = &completed["data"];
    // API.md: `data` is the resource as the REST API shows it (for `task.*` the Task), plus
    // event-specific fields.
    let missing: Vec<&String> = rest
        .as_object()
        .expect("a task is an object")
        .keys()
        .filter(|k| data.get(k.as_str()).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "task.completed `data` lacks the Task fields {missing:?}\n  data: {data}\n  GET /api/v1/tasks/{{id}}: {rest}"
    );
    for field in [
        "id",
        "tenant_id",
        "status",
        "priority",
        "payload",
        "result",
        "finished_at",
    ] {
        assert_eq!(
            data[field], rest[field],
            "`{field}` of task.completed `data`"
        );
    }
}
