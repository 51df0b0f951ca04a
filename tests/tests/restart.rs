//! Restarting on the embedded store: SIGTERM drains and exits 0, and the server started again on
//! the same data folder finds every task with the status it had.

use godel_e2e::scenarios::restart_keeps_every_task;
use godel_e2e::{NewTask, ServerOptions, TaskView as _, TestServer};

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_server_finds_every_task_with_the_status_it_had() {
    restart_keeps_every_task(ServerOptions::dev()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_a_running_task_finish_within_the_grace_period() {
    let mut server =
        TestServer::start(ServerOptions::one_agent().run_ms(2000).shutdown_grace_s(30)).await;
    let api = server.api();
    let task = api.submit(&NewTask::prompt("finish while draining")).await;
    api.wait_status(task.id(), "running").await;

    let status = server.stop().await;
    assert!(status.success(), "exit {status}\n{}", server.output_tail());
    server.restart().await;
    let after = server.api().task(task.id()).await;
    assert_eq!(
        after.status(),
        "completed",
        "a run shorter than the grace period finishes before the exit: {after:#}"
    );
}
