//! The [`CheckpointStore`] cases.

use godel_types::{CheckpointId, SessionId};

use super::{Factory, checkpoint, tenant};
use crate::records::Checkpoint;
use crate::repository::{CheckpointStore, RepositoryError};

fn ids(checkpoints: &[Checkpoint]) -> Vec<CheckpointId> {
    checkpoints.iter().map(|c| c.id).collect()
}

fn cp(n: u128) -> CheckpointId {
    CheckpointId::from_u128(n)
}

fn assert_already_exists(result: Result<(), RepositoryError>, what: &str) {
    match result {
        Err(RepositoryError::AlreadyExists { .. }) => {}
        other => panic!("{what}: expected already exists, got {other:?}"),
    }
}

/// What `save` stores (its opaque data included), `get` returns unchanged.
pub async fn saved_checkpoint_reads_back<R: CheckpointStore + ?Sized>(factory: &impl Factory<R>) {
    let store = factory.create().await;
    let named = checkpoint("acme", 1, 1, Some("before-refactor"), 10);
    let automatic = checkpoint("acme", 1, 2, None, 20);
    store.save(named.clone()).await.expect("save named");
    store.save(automatic.clone()).await.expect("save automatic");
    assert_eq!(
        store.get(&tenant("acme"), named.id).await.expect("get"),
        named
    );
    assert_eq!(
        store.get(&tenant("acme"), automatic.id).await.expect("get"),
        automatic
    );
}

/// Saving a taken id is `AlreadyExists`, and keeps the stored checkpoint.
pub async fn duplicate_id_is_refused<R: CheckpointStore + ?Sized>(factory: &impl Factory<R>) {
    let store = factory.create().await;
    let first = checkpoint("acme", 1, 1, None, 10);
    store.save(first.clone()).await.expect("save");
    assert_already_exists(
        store.save(checkpoint("acme", 2, 1, None, 20)).await,
        "same id",
    );
    assert_eq!(
        store.get(&tenant("acme"), first.id).await.expect("get"),
        first
    );
}

/// A name is unique within a session: the same name in another session, and any number of
/// unnamed checkpoints, are fine.
pub async fn names_are_unique_per_session<R: CheckpointStore + ?Sized>(factory: &impl Factory<R>) {
    let store = factory.create().await;
    store
        .save(checkpoint("acme", 1, 1, Some("v1"), 10))
        .await
        .expect("save");
    assert_already_exists(
        store.save(checkpoint("acme", 1, 2, Some("v1"), 20)).await,
        "same name, same session",
    );
    store
        .save(checkpoint("acme", 2, 3, Some("v1"), 20))
        .await
        .expect("same name, other session");
    store
        .save(checkpoint("acme", 1, 4, None, 30))
        .await
        .expect("unnamed");
    store
        .save(checkpoint("acme", 1, 5, None, 40))
        .await
        .expect("unnamed again");
    let listed = store
        .list(&tenant("acme"), SessionId::from_u128(1))
        .await
        .expect("list");
    assert_eq!(ids(&listed), [cp(1), cp(4), cp(5)]);
}

/// Another tenant's checkpoints are `NotFound` by id and absent from `list` and `latest`.
pub async fn foreign_checkpoints_are_invisible<R: CheckpointStore + ?Sized>(
    factory: &impl Factory<R>,
) {
    let store = factory.create().await;
    let mine = checkpoint("acme", 1, 1, None, 10);
    store.save(mine.clone()).await.expect("save");
    let globex = tenant("globex");
    let session = SessionId::from_u128(1);
    match store.get(&globex, mine.id).await {
        Err(RepositoryError::NotFound { .. }) => {}
        other => panic!("get of another tenant: expected not found, got {other:?}"),
    }
    match store.get(&tenant("acme"), cp(99)).await {
        Err(RepositoryError::NotFound { .. }) => {}
        other => panic!("get of an unknown id: expected not found, got {other:?}"),
    }
    assert!(store.list(&globex, session).await.expect("list").is_empty());
    assert_eq!(store.latest(&globex, session).await.expect("latest"), None);
    assert_eq!(store.prune(&globex, session, 0).await.expect("prune"), 0);
    assert_eq!(
        store
            .get(&tenant("acme"), mine.id)
            .await
            .expect("still there"),
        mine
    );
}

/// `list` is one session's checkpoints oldest first; `latest` is the newest, `None` for none.
pub async fn list_is_oldest_first_and_latest_is_newest<R: CheckpointStore + ?Sized>(
    factory: &impl Factory<R>,
) {
    let store = factory.create().await;
    let acme = tenant("acme");
    let session = SessionId::from_u128(1);
    assert_eq!(store.latest(&acme, session).await.expect("latest"), None);
    // Saved out of time order, ids not in time order, plus another session's.
    for c in [
        checkpoint("acme", 1, 3, None, 20),
        checkpoint("acme", 1, 1, Some("newest"), 30),
        checkpoint("acme", 1, 2, None, 10),
        checkpoint("acme", 2, 4, None, 40),
    ] {
        store.save(c).await.expect("save");
    }
    let listed = store.list(&acme, session).await.expect("list");
    assert_eq!(ids(&listed), [cp(2), cp(3), cp(1)]);
    let latest = store.latest(&acme, session).await.expect("latest");
    assert_eq!(latest.map(|c| c.id), Some(cp(1)));
}

/// `prune` deletes the session's unnamed checkpoints but the newest `keep`, keeps every named
/// one and other sessions', and counts what it deleted.
pub async fn prune_keeps_named_and_newest_automatic<R: CheckpointStore + ?Sized>(
    factory: &impl Factory<R>,
) {
    let store = factory.create().await;
    let acme = tenant("acme");
    let session = SessionId::from_u128(1);
    for (id, name, secs) in [
        (1, None, 10),
        (2, Some("manual"), 20),
        (3, None, 30),
        (4, None, 40),
        (5, None, 50),
    ] {
        store
            .save(checkpoint("acme", 1, id, name, secs))
            .await
            .expect("save");
    }
    store
        .save(checkpoint("acme", 2, 6, None, 5))
        .await
        .expect("other session");
    assert_eq!(store.prune(&acme, session, 2).await.expect("prune"), 2);
    let left = store.list(&acme, session).await.expect("list");
    assert_eq!(ids(&left), [cp(2), cp(4), cp(5)]);
    assert_eq!(
        store.prune(&acme, session, 2).await.expect("prune again"),
        0
    );
    assert_eq!(store.prune(&acme, session, 0).await.expect("prune all"), 2);
    let left = store.list(&acme, session).await.expect("list");
    assert_eq!(ids(&left), [cp(2)], "named checkpoints are never pruned");
    let other = store
        .list(&acme, SessionId::from_u128(2))
        .await
        .expect("list");
    assert_eq!(ids(&other), [cp(6)]);
}
