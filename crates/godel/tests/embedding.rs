//! The `godel` library as a platform team embeds it: in memory with simulated gateways, tasks
//! submitted through the engine run to completion; from settings on SQLite, the first start
//! writes a private admin key, a restart keeps every task and creates no second key; `serve`
//! answers HTTP and drains on stop.

use std::time::Duration;

use godel::engine::SubmitTask;
use godel::types::{TaskStatus, TenantId};
use godel::{Godel, Settings, Sources};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn prompt(text: &str) -> SubmitTask {
    SubmitTask {
        payload: serde_json::json!({ "prompt": text }),
        ..SubmitTask::default()
    }
}

async fn wait_for(
    engine: &godel::engine::Engine,
    tenant: &TenantId,
    id: godel::types::TaskId,
    status: TaskStatus,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let task = engine.tasks().get(tenant, id).await.unwrap();
        if task.status == status {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "task {id} stayed {:?}",
            task.status
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "godel-embed-{name}-{}-{}",
        std::process::id(),
        time::OffsetDateTime::now_utc().unix_timestamp_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn sqlite_settings(dir: &std::path::Path) -> Settings {
    Settings::load(&Sources {
        no_default_file: true,
        env: Some(Vec::new()),
        overrides: vec![
            ("server.data_dir".into(), dir.display().to_string()),
            ("server.addr".into(), "127.0.0.1:0".into()),
            ("server.shutdown_grace_s".into(), "1".into()),
        ],
        ..Sources::default()
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_memory_godel_with_simulated_gateways_runs_a_task_to_completion() {
    let godel = Godel::builder()
        .unwrap()
        .dev_gateways(1)
        .build()
        .await
        .unwrap();
    assert!(
        godel.admin_key().is_none(),
        "an embedded Godel creates no key file"
    );
    assert_eq!(godel.dev_endpoints().len(), 1);
    let engine = godel.engine().clone();
    let running = godel.start();
    let tenant = TenantId::parse("platform").unwrap();
    let task = engine
        .tasks()
        .submit(&tenant, prompt("hello"))
        .await
        .unwrap()
        .task;
    wait_for(&engine, &tenant, task.id, TaskStatus::Completed).await;
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_godel_keeps_its_tasks_and_its_admin_key_across_restarts() {
    let dir = temp_dir("restart");
    let tenant = TenantId::parse("default").unwrap();

    let first = Godel::from_settings(sqlite_settings(&dir))
        .build()
        .await
        .unwrap();
    let key = first
        .admin_key()
        .cloned()
        .expect("the first start creates an admin key");
    assert!(key.secret.starts_with("dk_live_"));
    let written = std::fs::read_to_string(dir.join("admin.key")).unwrap();
    assert_eq!(written.trim(), key.secret);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("admin.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // No gateway: the task waits in the queue.
    let queued = first
        .engine()
        .tasks()
        .submit(&tenant, prompt("wait for me"))
        .await
        .unwrap()
        .task;
    first.start().shutdown().await;

    let second = Godel::from_settings(sqlite_settings(&dir))
        .dev_gateways(1)
        .build()
        .await
        .unwrap();
    assert!(
        second.admin_key().is_none(),
        "a restart creates no second key"
    );
    let engine = second.engine().clone();
    let found = engine.tasks().get(&tenant, queued.id).await.unwrap();
    assert_eq!(
        found.status,
        TaskStatus::Pending,
        "the queued task survived the restart"
    );
    let running = second.start();
    wait_for(&engine, &tenant, queued.id, TaskStatus::Completed).await;
    running.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_http_until_stopped_then_drains() {
    let godel = Godel::builder().unwrap().build().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(godel.serve(listener, async {
        let _ = stopped.await;
    }));

    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(b"GET /health/live HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    socket.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"alive\""), "{answer}");

    stop.send(()).unwrap();
    let report = tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("serve returns after stop")
        .unwrap()
        .unwrap();
    assert_eq!(report.returned, 0);
}
