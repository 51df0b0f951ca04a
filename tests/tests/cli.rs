//! The `godel` CLI against a real server: `--json` output is JSON scripts can read, a task that
//! does not exist and a server that cannot be reached give a non-zero exit and a message saying
//! which.

use godel_e2e::{NewTask, ServerOptions, TaskView as _, TestServer, run_cli};

#[tokio::test(flavor = "multi_thread")]
async fn task_list_json_parses_and_holds_a_submitted_task() {
    let server = TestServer::start(ServerOptions::dev().run_ms(200)).await;
    let task = server
        .api()
        .submit(&NewTask::prompt("list me").priority("high"))
        .await;

    let listed = server.cli(&["task", "list", "--json"]).await;
    assert!(listed.success(), "godel task list --json:\n{listed}");
    let json = listed.json();
    let items = json["items"]
        .as_array()
        .or_else(|| json.as_array())
        .unwrap_or_else(|| panic!("a list of tasks: {json:#}"));
    let found = items
        .iter()
        .find(|t| t["id"] == task.id())
        .unwrap_or_else(|| panic!("the task {} is listed: {json:#}", task.id()));
    assert_eq!(found["priority"], "high", "{found:#}");

    let got = server.cli(&["--json", "task", "get", task.id()]).await;
    assert!(got.success(), "godel --json task get:\n{got}");
    assert_eq!(got.json()["id"], task.id(), "{got}");

    let table = server.cli(&["task", "list"]).await;
    assert!(table.success(), "godel task list:\n{table}");
    assert!(
        table.stdout.contains(task.id()) || table.stdout.contains(&task.id()[..8]),
        "the human table shows the task:\n{table}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_and_retry_from_the_cli_change_the_task() {
    let server = TestServer::start(ServerOptions::one_agent().run_ms(200)).await;
    let api = server.api();
    let slow = api
        .submit(&NewTask::prompt("SLOW: hold the only agent"))
        .await;
    api.wait_status(slow.id(), "running").await;
    let queued = api.submit(&NewTask::prompt("cancel me from the CLI")).await;

    let cancelled = server.cli(&["task", "cancel", queued.id()]).await;
    assert!(cancelled.success(), "godel task cancel:\n{cancelled}");
    assert_eq!(api.task(queued.id()).await.status(), "cancelled");
    let again = server.cli(&["task", "cancel", queued.id()]).await;
    assert!(
        !again.success(),
        "cancelling a cancelled task fails:\n{again}"
    );
    api.cancel(slow.id())
        .await
        .expect(200, "cancel the SLOW task");

    let failing = api
        .submit(&NewTask::prompt("FAIL for the CLI").max_attempts(1))
        .await;
    api.wait_status(failing.id(), "dead_letter").await;
    let retried = server.cli(&["task", "retry", failing.id()]).await;
    assert!(retried.success(), "godel task retry:\n{retried}");
    let back = api
        .wait_task(failing.id(), "run again", godel_e2e::WAIT, |t| {
            t["runs"].as_array().is_some_and(|r| r.len() == 2)
        })
        .await;
    assert_eq!(back["runs"].as_array().map(Vec::len), Some(2), "{back:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_task_id_exits_non_zero_naming_it() {
    let server = TestServer::start(ServerOptions::dev()).await;
    let unknown = "0190f5c2-7a1b-7c3d-8e4f-5a6b7c8d9e0f";
    let got = server.cli(&["task", "get", unknown]).await;
    assert!(!got.success(), "godel task get <unknown>:\n{got}");
    assert!(
        got.stderr.contains(unknown),
        "the message names the id:\n{got}"
    );
    let json = server.cli(&["--json", "task", "get", unknown]).await;
    assert!(!json.success(), "godel --json task get <unknown>:\n{json}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_server_gives_a_clear_message_and_exit_code_1() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().expect("its address").port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let out = run_cli(&url, Some("dk_live_unused"), &["task", "list"]).await;
    assert_eq!(out.code, Some(1), "godel task list against {url}:\n{out}");
    assert!(
        out.stderr.contains(&format!("127.0.0.1:{port}")),
        "the message names the server it could not reach:\n{out}"
    );
    assert!(
        !out.stderr.contains("panicked") && out.stderr.lines().count() <= 5,
        "a short message, not a crash:\n{out}"
    );
    let status = run_cli(&url, Some("dk_live_unused"), &["status"]).await;
    assert_ne!(
        status.code,
        Some(0),
        "godel status against {url}:\n{status}"
    );
}
