//! The newcomer's path on the embedded store: `godel-server --dev` with no other configuration
//! is healthy, prints an admin key it also saves, and `godel do "hello" --follow` sees the task
//! through to completion.

use godel_e2e::scenarios::newcomer_path;
use godel_e2e::{ServerOptions, TestServer};

#[tokio::test(flavor = "multi_thread")]
async fn a_dev_server_is_healthy_and_godel_do_follow_completes_a_task() {
    let server = TestServer::start(ServerOptions::dev()).await;
    let health = newcomer_path(&server).await;
    assert_eq!(
        health["checks"]["database"]["status"], "healthy",
        "the embedded store is healthy: {health:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_first_start_saves_the_admin_key_it_prints_readable_by_its_owner_only() {
    let server = TestServer::start(ServerOptions::dev()).await;
    let path = server.data_dir().join("admin.key");
    let saved = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} is written: {e}", path.display()));
    assert_eq!(saved.trim(), server.admin_key());
    assert!(
        server.stdout().contains(&path.display().to_string()),
        "the announcement names the key file:\n{}",
        server.stdout()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "admin.key mode {mode:o}");
    }
    let tasks = server.api().get("/api/v1/tasks").await;
    assert_eq!(tasks.status, 200, "the printed key works: {}", tasks.body);
    let anonymous = server.api().anonymous().get("/api/v1/tasks").await;
    assert_eq!(
        anonymous.status, 401,
        "no key, no tasks: {}",
        anonymous.body
    );
}
