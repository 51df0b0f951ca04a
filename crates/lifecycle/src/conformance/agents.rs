//! The [`AgentRepository`] cases.

use std::time::Duration;

use godel_types::{AgentId, AgentStatus};

use super::{Factory, agent, instance, t0};
use crate::repository::{AgentRepository, RepositoryError};

fn id(name: &str) -> AgentId {
    AgentId::parse(name).expect("valid agent id")
}

fn assert_not_found(result: Result<impl std::fmt::Debug, RepositoryError>, what: &str) {
    match result {
        Err(RepositoryError::NotFound { .. }) => {}
        other => panic!("{what}: expected not found, got {other:?}"),
    }
}

/// What `insert` stores, `get` returns unchanged.
pub async fn inserted_agent_reads_back<R: AgentRepository + ?Sized>(factory: &impl Factory<R>) {
    let repo = factory.create().await;
    let a = agent("a1", 1);
    repo.insert(a.clone()).await.expect("insert");
    assert_eq!(repo.get(&a.id).await.expect("get"), a);
}

/// Inserting a taken id is `AlreadyExists`, and keeps the stored agent.
pub async fn duplicate_agent_is_refused<R: AgentRepository + ?Sized>(factory: &impl Factory<R>) {
    let repo = factory.create().await;
    let a = agent("a1", 1);
    repo.insert(a.clone()).await.expect("insert");
    let err = repo.insert(agent("a1", 2)).await.expect_err("duplicate");
    assert!(
        matches!(err, RepositoryError::AlreadyExists { .. }),
        "{err}"
    );
    assert_eq!(repo.get(&a.id).await.expect("get"), a);
}

/// `get`, `update` and `remove` of an unknown agent are `NotFound`; `update` creates nothing.
pub async fn unknown_agent_is_not_found<R: AgentRepository + ?Sized>(factory: &impl Factory<R>) {
    let repo = factory.create().await;
    repo.insert(agent("a1", 1)).await.expect("insert");
    assert_not_found(repo.get(&id("ghost")).await, "get");
    assert_not_found(repo.update(&agent("ghost", 1)).await, "update");
    assert_not_found(repo.remove(&id("ghost")).await, "remove");
    assert_not_found(repo.get(&id("ghost")).await, "get after update");
    assert_eq!(repo.list(None).await.expect("list").len(), 1);
}

/// `update` replaces every field of the stored record.
pub async fn update_replaces_the_record<R: AgentRepository + ?Sized>(factory: &impl Factory<R>) {
    let repo = factory.create().await;
    let mut a = agent("a1", 1);
    repo.insert(a.clone()).await.expect("insert");
    a.set_status(AgentStatus::Busy, 2, t0() + Duration::from_secs(5))
        .expect("busy");
    a.max_capacity = 8;
    a.instance = instance(2);
    a.gateway_agent = "reviewer".into();
    repo.update(&a).await.expect("update");
    assert_eq!(repo.get(&a.id).await.expect("get"), a);
}

/// `list` returns every agent, or one instance's, ordered by id whatever the insertion order.
pub async fn list_is_ordered_by_id_and_filters_by_instance<R: AgentRepository + ?Sized>(
    factory: &impl Factory<R>,
) {
    let repo = factory.create().await;
    for (name, inst) in [("c", 1), ("a", 2), ("d", 2), ("b", 1)] {
        repo.insert(agent(name, inst)).await.expect("insert");
    }
    let names = |agents: Vec<crate::AgentRecord>| {
        agents
            .into_iter()
            .map(|a| a.id.as_str().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(repo.list(None).await.expect("list")),
        ["a", "b", "c", "d"]
    );
    assert_eq!(
        names(repo.list(Some(instance(2))).await.expect("list")),
        ["a", "d"]
    );
    assert!(repo.list(Some(instance(3))).await.expect("list").is_empty());
}

/// `remove` returns the last record and the agent is gone; others stay.
pub async fn remove_returns_the_last_record<R: AgentRepository + ?Sized>(
    factory: &impl Factory<R>,
) {
    let repo = factory.create().await;
    let mut a = agent("a1", 1);
    repo.insert(a.clone()).await.expect("insert");
    repo.insert(agent("a2", 1)).await.expect("insert");
    a.set_status(AgentStatus::Offline, 0, t0() + Duration::from_secs(5))
        .expect("offline");
    repo.update(&a).await.expect("update");
    assert_eq!(repo.remove(&a.id).await.expect("remove"), a);
    assert_not_found(repo.get(&a.id).await, "get after remove");
    assert_not_found(repo.remove(&a.id).await, "second remove");
    let left: Vec<_> = repo
        .list(None)
        .await
        .expect("list")
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(left, [id("a2")]);
}
