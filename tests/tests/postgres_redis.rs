//! Postgres + Redis: the server on a fresh Postgres database (it migrates it itself) with Redis
//! as its queue index passes the newcomer's path, reports Redis healthy, and keeps every task
//! across a restart. Skipped with a printed line when the servers are unreachable, unless
//! `GODEL_TEST_LIVE=require`.

use godel_e2e::scenarios::{newcomer_path, restart_keeps_every_task};
use godel_e2e::{LiveStores, ServerOptions, TestServer};

#[tokio::test(flavor = "multi_thread")]
async fn on_postgres_and_redis_the_newcomer_path_works_and_health_shows_both_healthy() {
    let Some(stores) = LiveStores::create().await else {
        return;
    };
    let server = TestServer::start(ServerOptions::dev().stores(&stores)).await;
    let health = newcomer_path(&server).await;
    for check in ["database", "redis"] {
        assert_eq!(
            health["checks"][check]["status"], "healthy",
            "`{check}` is healthy: {health:#}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn on_postgres_and_redis_a_restarted_server_finds_every_task_with_the_status_it_had() {
    let Some(stores) = LiveStores::create().await else {
        return;
    };
    restart_keeps_every_task(ServerOptions::dev().stores(&stores)).await;
}
