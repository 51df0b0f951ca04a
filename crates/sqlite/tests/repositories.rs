//! The SQLite repositories against the conformance suite of every port they implement, each
//! case on its own database file in a fresh temporary directory; then what the suites cannot
//! show on their own: many writers at once on one file, and records outliving the pool.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use godel_federation::InstanceStore;
use godel_lifecycle::conformance::{event, session, t0, tenant};
use godel_lifecycle::{
    EventLog, EventQuery, RepositoryError, SessionCommand, SessionFilter, SessionRecord,
    SessionRepository, SessionTimeouts,
};
use godel_sqlite::repos::{
    SqliteAgentRepository, SqliteCheckpointStore, SqliteEventLog, SqliteInstanceStore,
    SqliteSessionRepository, SqliteTaskRepository,
};
use godel_sqlite::testing::TempDir;
use godel_types::{SessionId, TaskEventKind};
use sqlx::SqlitePool;

/// A conformance factory: each call gives `make` a pool on a new, empty database file in a
/// temporary folder of its own; the folders live (and are removed) with the factory, which the
/// suites keep for one case.
fn on_temp_file<R: Send + 'static>(
    make: fn(SqlitePool) -> R,
) -> impl Fn() -> Pin<Box<dyn Future<Output = R> + Send>> + Send + Sync {
    let dirs: Arc<Mutex<Vec<TempDir>>> = Arc::default();
    move || {
        let dirs = Arc::clone(&dirs);
        Box::pin(async move {
            let dir = TempDir::new();
            let pool = dir.pool().await;
            dirs.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(dir);
            make(pool)
        })
    }
}

godel_lifecycle::task_repository_conformance!(on_temp_file(|pool| Arc::new(
    SqliteTaskRepository::new(pool)
)));
godel_lifecycle::session_repository_conformance!(on_temp_file(|pool| Arc::new(
    SqliteSessionRepository::new(pool)
)));
godel_lifecycle::agent_repository_conformance!(on_temp_file(|pool| Arc::new(
    SqliteAgentRepository::new(pool)
)));
godel_lifecycle::checkpoint_store_conformance!(on_temp_file(|pool| Arc::new(
    SqliteCheckpointStore::new(pool)
)));
godel_lifecycle::event_log_conformance!(on_temp_file(|pool| Arc::new(SqliteEventLog::new(pool))));
godel_federation::instance_store_conformance!(on_temp_file(SqliteInstanceStore::new));

/// `record` after `command`, `secs` seconds after its last change, and the event it emitted.
fn step(
    record: &SessionRecord,
    command: SessionCommand,
    secs: u64,
) -> (SessionRecord, godel_types::Event) {
    let mut next = record.clone();
    let now = record.updated_at + Duration::from_secs(secs);
    let event = next
        .apply(command, now, &SessionTimeouts::default())
        .expect("legal transition");
    (next, event)
}

/// Asserts that `result` is not a driver failure (a `SQLITE_BUSY` would be `Unavailable`).
fn assert_not_unavailable<T: std::fmt::Debug>(result: &Result<T, RepositoryError>, what: &str) {
    assert!(
        !matches!(result, Err(RepositoryError::Unavailable { .. })),
        "{what}: {result:?}"
    );
}

/// Writers on many tokio tasks share one file: every write lands, none fails for the lock (the
/// busy timeout and short transactions serialize them), and of the writers updating one
/// session from the same copy exactly one wins while the others get `Conflict`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_on_one_file_all_land_without_busy_errors() {
    const WRITERS: u128 = 32;
    let dir = TempDir::new();
    let pool = godel_sqlite::open(&dir.database(), 8).await.expect("open");
    let sessions = Arc::new(SqliteSessionRepository::new(pool.clone()));
    let events = Arc::new(SqliteEventLog::new(pool.clone()));
    let contested = session("acme", 1000);
    sessions
        .insert(contested.clone())
        .await
        .expect("insert the contested session");

    let mut writers = Vec::new();
    for n in 1..=WRITERS {
        let (sessions, events, contested) = (
            Arc::clone(&sessions),
            Arc::clone(&events),
            contested.clone(),
        );
        writers.push(tokio::spawn(async move {
            // Its own session, through three versions, with the events each step emits.
            let mut own = session("acme", n);
            sessions.insert(own.clone()).await.expect("insert");
            for command in [SessionCommand::Initialize, SessionCommand::Ready] {
                let (next, emitted) = step(&own, command, 1);
                sessions.update(&next).await.expect("update own session");
                events.append(&[emitted]).await.expect("append one");
                own = next;
            }
            // A batch of task events, one transaction.
            let batch: Vec<_> = (0..4)
                .map(|k| event(n * 100 + k, "acme", n, TaskEventKind::Created))
                .collect();
            events.append(&batch).await.expect("append a batch");
            // Everyone updates the contested session from the same copy.
            let (mine, _) = step(
                &contested,
                SessionCommand::Cancel {
                    reason: format!("writer {n}"),
                },
                u64::try_from(n).expect("small"),
            );
            let outcome = sessions.update(&mine).await;
            assert_not_unavailable(&outcome, "contested update");
            outcome.is_ok()
        }));
    }
    let mut winners = 0;
    for writer in writers {
        if writer.await.expect("writer task") {
            winners += 1;
        }
    }
    assert_eq!(winners, 1, "exactly one update from the shared copy wins");

    let acme = tenant("acme");
    for n in 1..=WRITERS {
        let stored = sessions
            .get(&acme, SessionId::from_u128(n))
            .await
            .expect("own session");
        assert_eq!(stored.version, 2, "session {n} saw both its updates");
    }
    let contested = sessions.get(&acme, contested.id).await.expect("contested");
    assert_eq!(contested.version, 1);
    let all = sessions
        .list(&SessionFilter::default(), None, 1000)
        .await
        .expect("list sessions");
    assert_eq!(all.len(), 33);
    let logged = events
        .list(&EventQuery::default(), None, 1000)
        .await
        .expect("list events");
    assert_eq!(
        logged.len(),
        32 * (2 + 4),
        "every appended event is stored once"
    );
}

/// What one pool wrote, a pool opened later on the same file reads: records live in the file.
#[tokio::test]
async fn records_outlive_the_pool_that_wrote_them() {
    let dir = TempDir::new();
    let file = dir.database();
    let written = session("acme", 1);
    {
        let pool = godel_sqlite::open(&file, 2).await.expect("open");
        SqliteSessionRepository::new(pool.clone())
            .insert(written.clone())
            .await
            .expect("insert");
        SqliteEventLog::new(pool.clone())
            .append(&[event(1, "acme", 1, TaskEventKind::Created)])
            .await
            .expect("append");
        let instance = godel_federation::conformance::instance(1);
        SqliteInstanceStore::new(pool.clone())
            .register(instance)
            .await
            .expect("register");
        pool.close().await;
    }
    let pool = godel_sqlite::open(&file, 2).await.expect("reopen");
    let read = SqliteSessionRepository::new(pool.clone())
        .get(&tenant("acme"), written.id)
        .await
        .expect("get");
    assert_eq!(read, written);
    let events = SqliteEventLog::new(pool.clone())
        .list(&EventQuery::default(), None, 10)
        .await
        .expect("list");
    assert_eq!(events.len(), 1);
    let instance = SqliteInstanceStore::new(pool)
        .get(godel_types::InstanceId::from_u128(1))
        .await
        .expect("get instance");
    assert_eq!(
        instance.token.as_deref(),
        Some("token-1"),
        "the token is kept"
    );
    assert_eq!(instance.registered_at, t0() + Duration::from_secs(1));
}
