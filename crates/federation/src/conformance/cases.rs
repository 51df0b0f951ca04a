//! The conformance cases, one rule of the [`InstanceStore`] contract each.
//!
//! They panic with a message when a store breaks the rule, like any test.

use godel_types::{InstanceHealth, InstanceId};

use super::{at, instance};
use crate::error::{ErrorKind, FederationError};
use crate::store::InstanceStore;

async fn must_register<S: InstanceStore + ?Sized>(store: &S, n: u128) {
    if let Err(e) = store.register(instance(n)).await {
        panic!("registering instance {n} failed: {e}");
    }
}

fn kind<T: std::fmt::Debug>(result: Result<T, FederationError>) -> ErrorKind {
    match result {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.kind(),
    }
}

/// What is registered reads back unchanged, token included.
pub async fn register_then_get_returns_every_field<S: InstanceStore + ?Sized>(store: &S) {
    must_register(store, 1).await;
    let read = store.get(InstanceId::from_u128(1)).await.expect("get");
    assert_eq!(read, instance(1));
    assert_eq!(read.token.as_deref(), Some("token-1"), "the token is kept");
}

/// `get` of an id never registered is `NotFound`.
pub async fn unknown_instance_is_not_found<S: InstanceStore + ?Sized>(store: &S) {
    must_register(store, 1).await;
    let missing = store.get(InstanceId::from_u128(2)).await;
    assert!(
        matches!(missing, Err(FederationError::NotFound(id)) if id == InstanceId::from_u128(2)),
        "{missing:?}"
    );
}

/// A new store lists no instance.
pub async fn empty_store_lists_nothing<S: InstanceStore + ?Sized>(store: &S) {
    assert!(store.list().await.expect("list").is_empty());
}

/// `list` returns every instance, by registration time, then id.
pub async fn list_is_ordered_by_registration_then_id<S: InstanceStore + ?Sized>(store: &S) {
    let mut same_time = instance(9);
    same_time.registered_at = at(2);
    let mut later = instance(4);
    later.registered_at = at(50);
    for i in [later.clone(), instance(3), same_time.clone(), instance(2)] {
        store.register(i).await.expect("register");
    }
    let ids: Vec<InstanceId> = store
        .list()
        .await
        .expect("list")
        .into_iter()
        .map(|i| i.id)
        .collect();
    let expected: Vec<InstanceId> = [2, 9, 3, 4].map(InstanceId::from_u128).into();
    assert_eq!(ids, expected);
}

/// A second registration under the same id is `AlreadyExists` and changes nothing.
pub async fn duplicate_id_is_refused<S: InstanceStore + ?Sized>(store: &S) {
    must_register(store, 1).await;
    let mut again = instance(1);
    again.endpoint = "ws://elsewhere.test".into();
    let result = store.register(again).await;
    assert!(
        matches!(result, Err(FederationError::AlreadyExists(id)) if id == InstanceId::from_u128(1)),
        "{result:?}"
    );
    let kept = store.get(InstanceId::from_u128(1)).await.expect("get");
    assert_eq!(kept.endpoint, instance(1).endpoint);
}

/// A second instance at the same endpoint (also written with another case or a trailing `/`)
/// is refused with `EndpointTaken`, kind `AlreadyExists`.
pub async fn duplicate_endpoint_is_refused<S: InstanceStore + ?Sized>(store: &S) {
    must_register(store, 1).await;
    for endpoint in [instance(1).endpoint, "WS://GW-1.TEST:18789/".to_owned()] {
        let mut twin = instance(2);
        twin.endpoint = endpoint;
        let result = store.register(twin).await;
        assert!(
            matches!(&result, Err(FederationError::EndpointTaken { by, .. }) if *by == InstanceId::from_u128(1)),
            "{result:?}"
        );
        assert_eq!(kind(result), ErrorKind::AlreadyExists);
    }
    assert_eq!(store.list().await.expect("list").len(), 1);
}

/// `update` replaces every field of the stored instance.
pub async fn update_replaces_every_field<S: InstanceStore + ?Sized>(store: &S) {
    must_register(store, 1).await;
    let mut changed = instance(1);
    changed.endpoint = "wss://moved.test".into();
    changed.region = None;
    changed.zone = Some("us-east-1b".into());
    changed.version = Some("2026.2.0".into());
    changed.capabilities = godel_types::Capabilities::none();
    changed.max_sessions = 32;
    changed.token = Some("rotated".into());
    changed.health = InstanceHealth::Degraded;
    changed.load = 17;
    changed.last_heartbeat = Some(at(600));
    changed.draining = true;
    store.update(changed.clone()).await.expect("update");
    assert_eq!(store.get(changed.id).await.expect("get"), changed);
}

/// An update keeping the instance's own endpoint (in any spelling) is no conflict.
pub async fn update_may_keep_its_own_endpoint<S: InstanceStore + ?Sized>(store: &S) {
    must_register(store, 1).await;
    let mut same = instance(1);
    same.endpoint = "WS://gw-1.test:18789/".into();
    same.load = 0;
    store.update(same.clone()).await.expect("update");
    assert_eq!(store.get(same.id).await.expect("get").load, 0);
}

/// `update` of an id never registered is `NotFound` and registers nothing.
pub async fn update_of_unknown_instance_is_not_found<S: InstanceStore + ?Sized>(store: &S) {
    let result = store.update(instance(1)).await;
    assert!(
        matches!(result, Err(FederationError::NotFound(_))),
        "{result:?}"
    );
    assert!(store.list().await.expect("list").is_empty());
}

/// `update` onto another instance's endpoint is `EndpointTaken` and changes nothing.
pub async fn update_onto_another_endpoint_is_refused<S: InstanceStore + ?Sized>(store: &S) {
    must_register(store, 1).await;
    must_register(store, 2).await;
    let mut clash = instance(2);
    clash.endpoint = instance(1).endpoint;
    let result = store.update(clash).await;
    assert!(
        matches!(&result, Err(FederationError::EndpointTaken { by, .. }) if *by == InstanceId::from_u128(1)),
        "{result:?}"
    );
    let kept = store.get(InstanceId::from_u128(2)).await.expect("get");
    assert_eq!(kept, instance(2));
}

/// `deregister` returns the instance as stored and forgets it.
pub async fn deregister_returns_and_forgets_the_instance<S: InstanceStore + ?Sized>(store: &S) {
    must_register(store, 1).await;
    must_register(store, 2).await;
    let gone = store
        .deregister(InstanceId::from_u128(1))
        .await
        .expect("deregister");
    assert_eq!(gone, instance(1));
    let read = store.get(InstanceId::from_u128(1)).await;
    assert_eq!(kind(read), ErrorKind::NotFound);
    let left: Vec<_> = store
        .list()
        .await
        .expect("list")
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(left, [InstanceId::from_u128(2)]);
}

/// `deregister` of an id never registered (or already gone) is `NotFound`.
pub async fn deregister_of_unknown_instance_is_not_found<S: InstanceStore + ?Sized>(store: &S) {
    assert_eq!(
        kind(store.deregister(InstanceId::from_u128(1)).await),
        ErrorKind::NotFound
    );
    must_register(store, 1).await;
    store
        .deregister(InstanceId::from_u128(1))
        .await
        .expect("deregister");
    assert_eq!(
        kind(store.deregister(InstanceId::from_u128(1)).await),
        ErrorKind::NotFound
    );
}

/// Once an instance is deregistered, its id and endpoint may be registered again.
pub async fn endpoint_is_free_again_after_deregister<S: InstanceStore + ?Sized>(store: &S) {
    must_register(store, 1).await;
    store
        .deregister(InstanceId::from_u128(1))
        .await
        .expect("deregister");
    let mut successor = instance(2);
    successor.endpoint = instance(1).endpoint;
    store.register(successor).await.expect("endpoint is free");
    let mut back = instance(1);
    back.endpoint = "ws://back.test".into();
    store.register(back).await.expect("id is free");
    assert_eq!(
        kind(store.register(instance(1)).await),
        ErrorKind::AlreadyExists
    );
}
