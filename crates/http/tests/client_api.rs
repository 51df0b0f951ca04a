//! The typed client against the real router, served on a random loopback port over an
//! in-memory engine with scripted gateways: every route family, the error mapping, and the
//! `/events` stream.

#![cfg(feature = "client")]

mod client_support;

use futures_util::StreamExt as _;
use godel_http::Role;
use godel_http::client::{
    Client, ClientError, CreateApiKey, CreateSession, DeadLetterQuery, ErrorKind, InstanceSpec,
    MigrateSession, Priority, ReplayFilter, SubmitTask, TaskId, TaskQuery, TaskStatus,
};
use serde_json::json;

use client_support::{PATIENCE, Server, eventually};

fn prompt(text: &str) -> SubmitTask {
    SubmitTask {
        payload: json!({ "prompt": text }),
        ..SubmitTask::default()
    }
}

/// Registers a fake gateway instance (its mode chosen by `host`) and waits for its agent.
async fn instance_with_agent(client: &Client, host: &str) -> godel_http::client::AgentId {
    let instance = client
        .add_instance(&InstanceSpec::new(format!("ws://{host}:1"), 4))
        .unwrap()
        .await
        .unwrap();
    assert_eq!(instance.endpoint, format!("ws://{host}:1"));
    eventually("the instance's agent is registered", || async {
        let agents = client.list_agents().await.ok()?;
        agents
            .items
            .into_iter()
            .find(|a| a.instance == instance.id)
            .map(|a| a.id)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_are_created_listed_read_cancelled_and_errors_are_typed() {
    let server = Server::start().await;
    let client = server.client(Role::Operator).await;

    let mut submit = prompt("write the docs");
    submit.priority = Some(Priority::High);
    submit.idempotency_key = Some("docs-1".into());
    let task = client.create_task(&submit).unwrap().await.unwrap();
    assert_eq!(task.priority, Priority::High);
    assert_eq!(task.payload["prompt"], "write the docs");
    let again = client.create_task(&submit).unwrap().await.unwrap();
    assert_eq!(again.id, task.id, "the idempotency key is honoured");

    let got = client.get_task(task.id).await.unwrap();
    assert_eq!(got.id, task.id);

    let page = client
        .list_tasks(&TaskQuery {
            priority: Some(Priority::High),
            limit: Some(10),
            ..TaskQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.total, 1);
    assert_eq!(page.items[0].id, task.id);
    let raw = client
        .list_tasks(&TaskQuery::default())
        .raw()
        .await
        .unwrap();
    assert_eq!(
        raw["items"][0]["id"],
        task.id.to_string(),
        "raw is the server's JSON"
    );

    let events = client.task_events(task.id).await.unwrap();
    assert!(
        events.items.iter().any(|e| e.event == "task.created"),
        "{events:?}"
    );

    let cancelled = client.cancel_task(task.id).await.unwrap();
    assert_eq!(cancelled.status, TaskStatus::Cancelled);
    let e = client.cancel_task(task.id).await.unwrap_err();
    assert!(
        matches!(&e, ClientError::Api { status: 409, code, request_id, .. }
            if code == "conflict" && !request_id.is_empty()),
        "{e:?}"
    );

    let missing = TaskId::generate();
    let e = client.get_task(missing).await.unwrap_err();
    assert_eq!(e.code(), Some("not_found"));
    assert_eq!(e.status(), Some(404));
    assert!(e.to_string().contains("not_found, request "), "{e}");

    let bad = client
        .create_task(&SubmitTask {
            payload: json!({ "no_prompt": true }),
            ..SubmitTask::default()
        })
        .unwrap()
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Some("invalid_request"), "{bad}");

    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_runs_to_completion_and_its_events_stream_over_the_websocket() {
    let server = Server::start().await;
    let admin = server.client(Role::Admin).await;
    let agent = instance_with_agent(&admin, "complete-1").await;

    // Subscribed (acknowledged) before the task exists: none of its events can be missed.
    let mut events = Box::pin(admin.subscribe(&["task.*"]).await.unwrap());
    let task = admin
        .create_task(&prompt("ship it"))
        .unwrap()
        .await
        .unwrap();
    let first = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some(item) = events.next().await {
            let message = item.unwrap();
            let done = message.event == "task.completed";
            seen.push(message);
            if done {
                break;
            }
        }
        seen
    });

    let seen = tokio::time::timeout(PATIENCE, first)
        .await
        .expect("task.completed should arrive")
        .unwrap();
    assert_eq!(
        seen[0].event, "task.created",
        "the first event is seen: {seen:?}"
    );
    let completed = seen.last().unwrap();
    assert_eq!(completed.task_id(), Some(task.id));
    let update = completed.task_update().unwrap();
    assert_eq!(update.status, TaskStatus::Completed);
    assert!(seen.iter().all(|m| m.is_task_event()), "only task.* arrive");

    let done = admin.get_task(task.id).await.unwrap();
    assert_eq!(done.status, TaskStatus::Completed);
    assert_eq!(
        done.attempt_count, update.attempt_count,
        "failed attempts, as the event said"
    );

    let status = admin.agent_status(&agent).await.unwrap();
    assert_eq!(status.agent.id, agent);
    let depth = admin.queue_depth().await.unwrap();
    assert_eq!(depth.due(), 0);
    assert!(
        depth.running.is_some() && depth.dead_letter.is_some(),
        "{depth:?}"
    );

    // A refused credential is a typed error, at once or as the lazy stream's only item.
    let stranger = Client::try_new(&server.url, Some("dk_live_not_a_key".into())).unwrap();
    let refused = stranger.subscribe(&["task.*"]).await.err().unwrap();
    assert_eq!(refused.code(), Some("unauthorized"), "{refused}");
    let mut refused_lazy = Box::pin(stranger.events(&["task.*"]));
    let item = refused_lazy.next().await.unwrap();
    assert_eq!(item.err().and_then(|e| e.status()), Some(401));
    assert!(refused_lazy.next().await.is_none(), "a failed stream ends");

    // The lazy stream subscribes on its first poll: keep causing events until one arrives.
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let mut lazy = Box::pin(admin.events(&["task.*"]));
    tokio::spawn(async move {
        while let Some(item) = lazy.next().await {
            if tx.send(item).await.is_err() {
                break;
            }
        }
    });
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let message = loop {
        admin.create_task(&prompt("again")).unwrap().await.unwrap();
        match tokio::time::timeout(std::time::Duration::from_millis(200), rx.recv()).await {
            Ok(Some(item)) => break item.unwrap(),
            Ok(None) => panic!("the lazy stream ended"),
            Err(_) => assert!(
                tokio::time::Instant::now() < deadline,
                "the lazy stream delivered no event"
            ),
        }
    };
    assert!(message.task_id().is_some(), "{message:?}");

    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_exported_and_replayed() {
    let server = Server::start().await;
    let admin = server.client(Role::Admin).await;
    instance_with_agent(&admin, "fail-1").await;

    let mut submit = prompt("doomed");
    submit.max_attempts = Some(1);
    let task = admin.create_task(&submit).unwrap().await.unwrap();
    eventually("the task is dead-lettered", || async {
        let t = admin.get_task(task.id).await.ok()?;
        (t.status == TaskStatus::DeadLetter).then_some(())
    })
    .await;

    let page = admin
        .list_dead_letters(&DeadLetterQuery::default())
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].id, task.id);

    let ndjson = admin
        .export_dead_letters(&DeadLetterQuery::default())
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = ndjson.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{ndjson}");
    let exported: godel_http::client::Task = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(exported.id, task.id);

    let replayed = admin
        .replay_dead_letters(&ReplayFilter {
            ids: vec![task.id],
            ..ReplayFilter::default()
        })
        .unwrap()
        .await
        .unwrap();
    assert_eq!(replayed.count, 1);

    let retry_of_live = admin.retry_task(task.id).await;
    if let Err(e) = &retry_of_live {
        assert_eq!(e.code(), Some("conflict"), "{e}");
    }

    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_agents_sessions_and_teams_round_trip() {
    let server = Server::start().await;
    let admin = server.client(Role::Admin).await;
    let agent = instance_with_agent(&admin, "hold-1").await;

    let instances = admin.list_instances().await.unwrap();
    assert_eq!(instances.items.len(), 1);
    let instance = &instances.items[0];
    let health = admin.instance_health(instance.id).await.unwrap();
    assert_eq!(health.id.as_deref(), Some(instance.id.to_string().as_str()));
    assert!(!health.health.is_empty());

    let session = admin
        .create_session(&CreateSession {
            agent_id: Some(agent.clone()),
            ..CreateSession::default()
        })
        .unwrap()
        .await
        .unwrap();
    assert_eq!(session.agent, agent);
    let got = admin.get_session(session.id).await.unwrap();
    assert_eq!(got.id, session.id);
    let listed = admin.list_sessions(Some(10)).await.unwrap();
    assert!(listed.items.iter().any(|s| s.id == session.id));

    let paused = admin.pause_session(session.id).await.unwrap();
    assert_eq!(paused.state.as_str(), "paused");
    let resumed = admin.resume_session(session.id).await.unwrap();
    assert_ne!(resumed.state.as_str(), "paused");
    let checkpoint = admin
        .checkpoint_session(session.id, Some("before-migrate"))
        .await
        .unwrap();
    assert_eq!(checkpoint.session, session.id);
    let migrated = admin
        .migrate_session(session.id, &MigrateSession { agent_id: agent })
        .unwrap()
        .await;
    if let Err(e) = &migrated {
        // Migrating to the agent it is on may be refused; it must be refused as a typed error.
        assert_eq!(e.kind(), ErrorKind::Api, "{e}");
    }
    let terminated = admin.terminate_session(session.id).await.unwrap();
    assert!(
        terminated.state.as_str() != "ready",
        "{:?}",
        terminated.state
    );

    let mut teamed = prompt("team work");
    let team = godel_http::client::TeamId::generate();
    teamed.team_id = Some(team);
    admin.create_task(&teamed).unwrap().await.unwrap();
    let progress = admin.get_team(team).await.unwrap();
    assert_eq!(progress.total, 1);
    let teams = admin.list_teams().await.unwrap();
    assert!(teams.items.iter().any(|t| t.team_id == team));

    let removed = admin.remove_instance(instance.id).await.unwrap();
    assert_eq!(removed.map(|i| i.id), Some(instance.id));

    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_audit_health_and_openapi() {
    let server = Server::start().await;
    let admin = server.client(Role::Admin).await;

    let created = admin
        .create_api_key(&CreateApiKey {
            name: "ci".into(),
            role: Role::Viewer,
        })
        .unwrap()
        .await
        .unwrap();
    assert!(created.secret.starts_with("dk_"), "{created:?}");
    assert_eq!(created.key.name, "ci");
    let keys = admin.list_api_keys().await.unwrap();
    assert!(keys.items.iter().any(|k| k.id == created.key.id));

    let viewer = Client::try_new(&server.url, Some(created.secret.clone())).unwrap();
    viewer.list_tasks(&TaskQuery::default()).await.unwrap();
    let e = viewer
        .create_api_key(&CreateApiKey {
            name: "nope".into(),
            role: Role::Admin,
        })
        .unwrap()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("forbidden"), "{e}");

    let revoked = admin.revoke_api_key(&created.key.id).await.unwrap();
    assert!(revoked.is_some_and(|k| k.revoked_at.is_some()));
    let e = viewer.list_tasks(&TaskQuery::default()).await.unwrap_err();
    assert_eq!(e.code(), Some("unauthorized"), "{e}");

    let audit = admin.audit(Some(50), None).await.unwrap();
    assert!(!audit.items.is_empty(), "admin actions are audited");

    let anonymous = Client::try_new(&server.url, None).unwrap();
    let health = anonymous.health().await.unwrap();
    assert!(
        ["healthy", "degraded", "unhealthy"].contains(&health.status.as_str()),
        "{health:?}"
    );
    let openapi = anonymous.openapi().await.unwrap();
    assert!(
        openapi["openapi"]
            .as_str()
            .unwrap_or_default()
            .starts_with("3.1")
    );
    let e = anonymous
        .list_tasks(&TaskQuery::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("unauthorized"));

    server.stop().await;
}

#[tokio::test]
async fn an_unreachable_server_is_a_connect_error_naming_its_url() {
    // Bind a port, then free it: nothing listens there any more.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let client = Client::try_new(&url, Some("dk_test_x".into())).unwrap();
    let e = client.queue_depth().await.unwrap_err();
    assert!(
        matches!(&e, ClientError::Connect { url: u, .. } if *u == url),
        "{e:?}"
    );
    assert!(e.to_string().contains(&url));
}
