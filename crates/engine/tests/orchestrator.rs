//! The engine end to end, in process: memory stores, fake gateways, paused tokio time.
//! Each test is one scenario of the orchestrator's contract.

mod support;

use std::time::Duration;

use godel_lifecycle::RunEvent;
use godel_queue::{NewTask, TaskStatus};
use godel_types::{AgentId, Priority, TaskEventKind};
use support::{Mode, World, failure, prompt};

const MINUTE: Duration = Duration::from_secs(60);

async fn status_of(world: &World, id: godel_types::TaskId) -> TaskStatus {
    world
        .engine
        .tasks()
        .get(&world.tenant, id)
        .await
        .unwrap()
        .status
}

/// Waits up to a virtual minute until the task has `status`.
async fn until_status(world: &World, id: godel_types::TaskId, status: TaskStatus, what: &str) {
    world
        .until(MINUTE, what, || async {
            status_of(world, id).await == status
        })
        .await;
}

#[tokio::test(start_paused = true)]
async fn one_busy_agent_takes_tasks_in_strict_priority_order() {
    let mut world = World::new();
    let (gateway, _) = world.add_instance("a", &[], 1, Mode::Manual).await;
    world.submit("first", |_| {}).await;
    let first = world.next_started().await;
    assert_eq!(prompt(&first), "first");
    for (name, priority) in [
        ("low", Priority::Low),
        ("medium", Priority::Medium),
        ("high", Priority::High),
        ("critical", Priority::Critical),
        ("low-2", Priority::Low),
        ("critical-2", Priority::Critical),
    ] {
        world.submit(name, |t| t.priority = Some(priority)).await;
    }
    let mut order = Vec::new();
    let mut run = first.request.run;
    for _ in 0..6 {
        assert!(gateway.finish(&run, RunEvent::Completed { reply: None }));
        let next = world.next_started().await;
        order.push(prompt(&next).to_owned());
        run = next.request.run;
    }
    assert_eq!(
        order,
        ["critical", "critical-2", "high", "medium", "low", "low-2"]
    );
    world.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_task_goes_only_to_an_agent_with_its_capabilities() {
    let mut world = World::new();
    let (plain, _) = world.add_instance("plain", &[], 4, Mode::Manual).await;
    let (rusty, _) = world
        .add_instance("rusty", &["rust"], 4, Mode::Manual)
        .await;
    for i in 0..3 {
        world
            .submit(&format!("rust-{i}"), |t| {
                t.capabilities = vec!["rust".into()]
            })
            .await;
    }
    for _ in 0..3 {
        let started = world.next_started().await;
        assert_eq!(started.endpoint, rusty.endpoint, "{}", prompt(&started));
    }
    world.submit("anything", |_| {}).await;
    let started = world.next_started().await;
    assert_eq!(prompt(&started), "anything");
    assert!(started.endpoint == plain.endpoint || started.endpoint == rusty.endpoint);
    world.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn tasks_bound_to_a_session_run_in_it_one_at_a_time() {
    let mut world = World::new();
    let (a, _) = world.add_instance("a", &[], 4, Mode::Manual).await;
    let (b, _) = world.add_instance("b", &[], 4, Mode::Manual).await;
    let session = world
        .engine
        .sessions()
        .create(&world.tenant, Default::default())
        .await
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            world
                .submit(&format!("s-{i}"), |t| t.session_id = Some(session.id))
                .await
                .id,
        );
    }
    for i in 0..3 {
        let started = world.next_started().await;
        assert_eq!(prompt(&started), format!("s-{i}"));
        assert_eq!(started.request.session, session.key, "same gateway session");
        // Nothing else starts while this run holds the session.
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(world.started.try_recv().is_err());
        let gateway = if started.endpoint == a.endpoint {
            &a
        } else {
            &b
        };
        assert!(gateway.finish(&started.request.run, RunEvent::Completed { reply: None }));
    }
    for id in ids {
        world
            .until(MINUTE, "the session's tasks complete", || async {
                status_of(&world, id).await == TaskStatus::Completed
            })
            .await;
    }
    world.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn failed_runs_are_retried_with_backoff_then_dead_lettered() {
    let mut world = World::new();
    let (gateway, _) = world.add_instance("a", &[], 1, Mode::Manual).await;
    let mut events = world.engine.bus().subscribe();
    let task = world.submit("flaky", |t| t.max_attempts = Some(3)).await;
    for attempt in 1..=3 {
        let started = world.next_started().await;
        assert!(gateway.finish(&started.request.run, failure(&format!("boom {attempt}"))));
    }
    until_status(
        &world,
        task.id,
        TaskStatus::DeadLetter,
        "the task is dead-lettered",
    )
    .await;
    let view = world
        .engine
        .tasks()
        .get(&world.tenant, task.id)
        .await
        .unwrap();
    assert_eq!(view.attempt_count, 3);
    assert_eq!(view.last_error.as_deref(), Some("boom 3"));
    assert_eq!(view.runs.len(), 3, "each attempt is a recorded run");
    let mut names = Vec::new();
    while let Ok(event) = events.try_recv() {
        if event.task_id() == Some(task.id) {
            names.push(event.name().as_str());
        }
    }
    assert_eq!(names.iter().filter(|n| **n == "task.retried").count(), 2);
    assert_eq!(
        names.iter().filter(|n| **n == "task.dead_lettered").count(),
        1
    );
    // A manual retry gives it a fresh set of attempts, and it runs again.
    world
        .engine
        .tasks()
        .retry(&world.tenant, task.id)
        .await
        .unwrap();
    let again = world.next_started().await;
    assert_eq!(prompt(&again), "flaky");
    world.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_lease_left_by_a_crashed_dispatcher_expires_and_the_task_still_runs() {
    let mut world = World::new();
    let task = world.submit("survivor", |_| {}).await;
    // Another dispatcher claims it and crashes: no heartbeat, no ack.
    let crashed = AgentId::parse("crashed-replica-agent").unwrap();
    let queue = world.engine.stores().queue.clone();
    let lease = queue
        .claim(&crashed, &godel_queue::Eligibility::any(), 1)
        .await
        .unwrap();
    assert_eq!(lease.len(), 1);
    let (gateway, _) = world
        .add_instance("a", &[], 1, Mode::Complete(Duration::from_secs(1)))
        .await;
    let started = world.next_started().await;
    assert_eq!(prompt(&started), "survivor");
    assert_eq!(started.endpoint, gateway.endpoint);
    until_status(&world, task.id, TaskStatus::Completed, "the task completes").await;
    let view = world
        .engine
        .tasks()
        .get(&world.tenant, task.id)
        .await
        .unwrap();
    assert_eq!(
        view.attempt_count, 1,
        "the expired lease counted as one attempt"
    );
    assert!(
        queue.ack(&lease[0].token, None).await.is_err(),
        "the stale holder is fenced off"
    );
    world.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn an_instance_going_unhealthy_mid_run_fails_its_task_over_within_one_health_interval() {
    let mut world = World::new();
    let interval = world.engine.instances().list().len(); // 0: no instances yet
    assert_eq!(interval, 0);
    let (a, _) = world.add_instance("a", &[], 1, Mode::Manual).await;
    let task = world.submit("long", |_| {}).await;
    let first = world.next_started().await;
    assert_eq!(first.endpoint, a.endpoint);
    let (b, _) = world.add_instance("b", &[], 1, Mode::Manual).await;
    a.set_healthy(false);
    let died = tokio::time::Instant::now();
    let second = world.next_started().await;
    assert_eq!(
        second.endpoint, b.endpoint,
        "it moved to the healthy instance"
    );
    assert_eq!(prompt(&second), "long");
    let health = godel_federation::HealthConfig::default();
    let allowed = health.probe_interval * (health.unhealthy_after + 1);
    assert!(
        died.elapsed() <= allowed,
        "failover took {:?}, more than unhealthy_after probes plus one interval ({allowed:?})",
        died.elapsed()
    );
    assert!(b.finish(&second.request.run, RunEvent::Completed { reply: None }));
    until_status(
        &world,
        task.id,
        TaskStatus::Completed,
        "the task completes on b",
    )
    .await;
    world.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn cancelling_a_waiting_task_is_immediate_and_a_running_one_is_aborted() {
    let mut world = World::new();
    let (gateway, _) = world.add_instance("a", &[], 1, Mode::Manual).await;
    let running = world.submit("running", |_| {}).await;
    let started = world.next_started().await;
    assert_eq!(prompt(&started), "running");
    let waiting = world.submit("waiting", |_| {}).await;
    let cancelled = world
        .engine
        .tasks()
        .cancel(&world.tenant, waiting.id, "not needed")
        .await
        .unwrap();
    assert_eq!(cancelled.status, TaskStatus::Cancelled);
    let asked = tokio::time::Instant::now();
    world
        .engine
        .tasks()
        .cancel(&world.tenant, running.id, "stop")
        .await
        .unwrap();
    until_status(
        &world,
        running.id,
        TaskStatus::Cancelled,
        "the running task is cancelled",
    )
    .await;
    assert!(
        asked.elapsed() < std::time::Duration::from_secs(1),
        "the run is aborted at once (virtual time), not at the next heartbeat: {:?}",
        asked.elapsed()
    );
    assert!(
        gateway.aborts.load(std::sync::atomic::Ordering::SeqCst) >= 1,
        "abort reached the gateway"
    );
    let again = world
        .engine
        .tasks()
        .cancel(&world.tenant, running.id, "twice")
        .await;
    assert!(matches!(again, Err(godel_engine::EngineError::Conflict(_))));
    world.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn dependent_tasks_run_only_after_their_dependencies_complete() {
    let mut world = World::new();
    let (gateway, _) = world.add_instance("a", &[], 4, Mode::Manual).await;
    let build = world.submit("build", |_| {}).await;
    let test = world
        .submit("test", |t| t.depends_on = vec![build.id])
        .await;
    world
        .submit("deploy", |t| t.depends_on = vec![test.id])
        .await;
    assert_eq!(status_of(&world, test.id).await, TaskStatus::Blocked);
    for expected in ["build", "test", "deploy"] {
        let started = world.next_started().await;
        assert_eq!(prompt(&started), expected);
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(world.started.try_recv().is_err(), "{expected} runs alone");
        assert!(gateway.finish(&started.request.run, RunEvent::Completed { reply: None }));
    }
    world.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn load_never_drifts_whatever_the_outcomes() {
    let mut world = World::new();
    let (a, _) = world.add_instance("a", &[], 3, Mode::Manual).await;
    let (b, _) = world.add_instance("b", &[], 3, Mode::Manual).await;
    let mut ids = Vec::new();
    for i in 0..24 {
        ids.push(
            world
                .submit(&format!("t{i}"), |t| t.max_attempts = Some(2))
                .await
                .id,
        );
    }
    let mut ended = 0;
    let mut n = 0u32;
    while ended < 24 {
        let started = world.next_started().await;
        let gateway = if started.endpoint == a.endpoint {
            &a
        } else {
            &b
        };
        n += 1;
        let event = match n % 3 {
            0 => failure("flaky"),
            1 => RunEvent::Completed { reply: None },
            _ => RunEvent::Failed(godel_lifecycle::RunFailure {
                message: "fatal".into(),
                kind: None,
                retryable: false,
            }),
        };
        assert!(gateway.finish(&started.request.run, event));
        tokio::time::sleep(Duration::from_millis(10)).await;
        let mut done = 0;
        for id in &ids {
            let s = status_of(&world, *id).await;
            if matches!(s, TaskStatus::Completed | TaskStatus::DeadLetter) {
                done += 1;
            }
        }
        ended = done;
        // The engine's ledger and the queue agree at every step.
        let ledger = world.engine.agents().ledger();
        for agent in world.engine.agents().list().await.unwrap() {
            let queue_load = world.engine.stores().queue.load(&agent.id).await.unwrap();
            assert!(ledger.load(&agent.id) <= agent.max_capacity);
            assert!(queue_load <= agent.max_capacity);
        }
    }
    world
        .until(MINUTE, "every agent is idle", || async {
            let ledger = world.engine.agents().ledger();
            ledger.total_load() == 0
        })
        .await;
    for agent in world.engine.agents().list().await.unwrap() {
        assert_eq!(
            world.engine.stores().queue.load(&agent.id).await.unwrap(),
            0
        );
    }
    world.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_returns_unfinished_work_to_the_queue_and_stops_every_loop() {
    let mut world = World::new();
    world.add_instance("a", &[], 1, Mode::Manual).await;
    let task = world.submit("endless", |_| {}).await;
    world.next_started().await;
    let report = world.shutdown().await;
    assert_eq!(report.returned, 1);
    let record = world.engine.stores().queue.get(task.id).await.unwrap();
    assert_eq!(record.status, TaskStatus::Pending, "given back, not failed");
    assert_eq!(
        record.attempt_count, 0,
        "a shutdown does not cost an attempt"
    );
    let refused = world
        .engine
        .tasks()
        .submit(&world.tenant, Default::default())
        .await;
    assert!(matches!(
        refused,
        Err(godel_engine::EngineError::ShuttingDown)
    ));
}

#[tokio::test(start_paused = true)]
async fn submissions_are_validated_with_the_field_at_fault() {
    let world = World::new();
    let tasks = world.engine.tasks();
    let bad = |payload: serde_json::Value| godel_engine::SubmitTask {
        payload,
        ..Default::default()
    };
    for (request, field) in [
        (bad(serde_json::json!("just text")), "payload"),
        (bad(serde_json::json!({"prompt": "  "})), "payload.prompt"),
        (bad(serde_json::json!({"no": "prompt"})), "payload.prompt"),
        (
            godel_engine::SubmitTask {
                max_attempts: Some(0),
                ..bad(serde_json::json!({"prompt": "x"}))
            },
            "max_attempts",
        ),
        (
            godel_engine::SubmitTask {
                capabilities: vec!["has space".into()],
                ..bad(serde_json::json!({"prompt": "x"}))
            },
            "capabilities",
        ),
        (
            godel_engine::SubmitTask {
                timeout_s: Some(0),
                ..bad(serde_json::json!({"prompt": "x"}))
            },
            "timeout_s",
        ),
    ] {
        match tasks.submit(&world.tenant, request).await {
            Err(godel_engine::EngineError::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("expected invalid {field}, got {other:?}"),
        }
    }
    let unknown = godel_engine::SubmitTask {
        session_id: Some(godel_types::SessionId::generate()),
        ..bad(serde_json::json!({"prompt": "x"}))
    };
    assert!(matches!(
        tasks.submit(&world.tenant, unknown).await,
        Err(godel_engine::EngineError::NotFound { .. })
    ));
    let _ = NewTask::new(world.tenant.clone(), serde_json::json!({}));
    let _ = TaskEventKind::Created;
}

#[tokio::test(start_paused = true)]
async fn tasks_are_listed_with_filters_and_cursor_paging() {
    let world = World::new();
    let team = godel_types::TeamId::generate();
    for i in 0..7 {
        world
            .submit(&format!("t{i}"), |t| {
                if i % 2 == 0 {
                    t.team_id = Some(team);
                }
            })
            .await;
    }
    let tasks = world.engine.tasks();
    let mut seen = Vec::new();
    let mut query = godel_engine::TaskListQuery {
        limit: Some(3),
        ..Default::default()
    };
    loop {
        let page = tasks.list(&world.tenant, &query).await.unwrap();
        assert_eq!(page.total, 7);
        seen.extend(page.items.iter().map(|t| t.id));
        match page.next_cursor {
            Some(c) => query.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7);
    let team_query = godel_engine::TaskListQuery {
        team: Some(team),
        ..Default::default()
    };
    assert_eq!(
        tasks.list(&world.tenant, &team_query).await.unwrap().total,
        4
    );
    let progress = tasks.team_progress(&world.tenant, team).await.unwrap();
    assert_eq!((progress.total, progress.waiting), (4, 4));
    let bad = godel_engine::TaskListQuery {
        cursor: Some("zzz".into()),
        ..Default::default()
    };
    assert!(matches!(
        tasks.list(&world.tenant, &bad).await,
        Err(godel_engine::EngineError::Invalid {
            field: "cursor",
            ..
        })
    ));
}
