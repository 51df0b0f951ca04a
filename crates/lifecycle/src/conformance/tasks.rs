//! The [`TaskRepository`] cases.

use std::time::Duration;

use godel_types::{SessionId, TaskId, TeamId};

use super::{Factory, run, t0, tenant};
use crate::records::{RunOutcome, TaskDetails};
use crate::repository::{RepositoryError, TaskRepository};

fn details(n: u128, tenant_name: &str) -> TaskDetails {
    TaskDetails {
        session: Some(SessionId::from_u128(5)),
        team: Some(TeamId::from_u128(6)),
        timeout: Some(Duration::from_secs(90)),
        ..TaskDetails::new(TaskId::from_u128(n), tenant(tenant_name))
    }
}

/// What `insert` stores, `get` returns unchanged.
pub async fn inserted_details_read_back<R: TaskRepository + ?Sized>(factory: &impl Factory<R>) {
    let repo = factory.create().await;
    let d = details(1, "acme");
    repo.insert(d.clone()).await.expect("insert");
    let mut bare = TaskDetails::new(TaskId::from_u128(2), tenant("acme"));
    bare.runs.push(run(1));
    repo.insert(bare.clone())
        .await
        .expect("insert without options");
    assert_eq!(repo.get(&tenant("acme"), d.id).await.expect("get"), d);
    assert_eq!(repo.get(&tenant("acme"), bare.id).await.expect("get"), bare);
}

/// `get_many` returns what `get` would for each id the tenant has, runs in order, and leaves
/// out unknown ids and other tenants' tasks.
pub async fn many_details_read_back_in_one_call<R: TaskRepository + ?Sized>(
    factory: &impl Factory<R>,
) {
    let repo = factory.create().await;
    let acme = tenant("acme");
    let with_runs = details(1, "acme");
    repo.insert(with_runs.clone()).await.expect("insert");
    for n in [1, 2] {
        repo.add_run(&acme, with_runs.id, run(n))
            .await
            .expect("add run");
    }
    let bare = TaskDetails::new(TaskId::from_u128(2), acme.clone());
    repo.insert(bare.clone()).await.expect("insert");
    let foreign = details(3, "globex");
    repo.insert(foreign.clone()).await.expect("insert");
    let ids = [with_runs.id, TaskId::from_u128(99), bare.id, foreign.id];
    let mut found = repo.get_many(&acme, &ids).await.expect("get_many");
    found.sort_by_key(|d| d.id);
    let expected = vec![
        repo.get(&acme, with_runs.id).await.expect("get"),
        repo.get(&acme, bare.id).await.expect("get"),
    ];
    assert_eq!(found, expected);
    assert_eq!(found[0].runs, vec![run(1), run(2)]);
    assert!(repo.get_many(&acme, &[]).await.expect("none").is_empty());
}

/// Inserting details for a task that has some is `AlreadyExists`, and keeps the first.
pub async fn duplicate_task_is_refused<R: TaskRepository + ?Sized>(factory: &impl Factory<R>) {
    let repo = factory.create().await;
    let d = details(1, "acme");
    repo.insert(d.clone()).await.expect("insert");
    let mut again = d.clone();
    again.timeout = None;
    let err = repo.insert(again).await.expect_err("duplicate");
    assert!(
        matches!(err, RepositoryError::AlreadyExists { .. }),
        "{err}"
    );
    assert_eq!(repo.get(&tenant("acme"), d.id).await.expect("get"), d);
}

/// An unknown task, or one of another tenant, is `NotFound` for every tenant-scoped method.
pub async fn unknown_or_foreign_task_is_not_found<R: TaskRepository + ?Sized>(
    factory: &impl Factory<R>,
) {
    let repo = factory.create().await;
    let d = details(1, "acme");
    repo.insert(d.clone()).await.expect("insert");
    let other = tenant("globex");
    let unknown = TaskId::from_u128(99);
    for (who, id) in [(&other, d.id), (&tenant("acme"), unknown)] {
        let err = repo.get(who, id).await.expect_err("get");
        assert!(
            matches!(err, RepositoryError::NotFound { .. }),
            "get: {err}"
        );
        let err = repo.add_run(who, id, run(1)).await.expect_err("add_run");
        assert!(
            matches!(err, RepositoryError::NotFound { .. }),
            "add_run: {err}"
        );
        let err = repo
            .end_run(who, id, &run(1).run, RunOutcome::Completed, t0())
            .await
            .expect_err("end_run");
        assert!(
            matches!(err, RepositoryError::NotFound { .. }),
            "end_run: {err}"
        );
    }
    assert!(
        repo.get(&tenant("acme"), d.id)
            .await
            .expect("get")
            .runs
            .is_empty()
    );
}

/// Runs append in order; a second run with the same id is `AlreadyExists`.
pub async fn runs_append_in_order_and_ids_are_unique<R: TaskRepository + ?Sized>(
    factory: &impl Factory<R>,
) {
    let repo = factory.create().await;
    let acme = tenant("acme");
    let d = details(1, "acme");
    repo.insert(d.clone()).await.expect("insert");
    for n in [1, 2, 3] {
        repo.add_run(&acme, d.id, run(n)).await.expect("add run");
    }
    let err = repo
        .add_run(&acme, d.id, run(2))
        .await
        .expect_err("duplicate run");
    assert!(
        matches!(err, RepositoryError::AlreadyExists { .. }),
        "{err}"
    );
    let runs = repo.get(&acme, d.id).await.expect("get").runs;
    assert_eq!(runs, vec![run(1), run(2), run(3)]);
}

/// `end_run` records outcome and time; ending it again changes nothing; an unknown run is
/// `NotFound`.
pub async fn ending_a_run_records_it_once<R: TaskRepository + ?Sized>(factory: &impl Factory<R>) {
    let repo = factory.create().await;
    let acme = tenant("acme");
    let d = details(1, "acme");
    repo.insert(d.clone()).await.expect("insert");
    repo.add_run(&acme, d.id, run(1)).await.expect("add run 1");
    repo.add_run(&acme, d.id, run(2)).await.expect("add run 2");
    let ended = t0() + Duration::from_secs(30);
    let failed = RunOutcome::Failed {
        message: "model error".into(),
    };
    repo.end_run(&acme, d.id, &run(1).run, failed.clone(), ended)
        .await
        .expect("end run");
    let later = ended + Duration::from_secs(30);
    repo.end_run(&acme, d.id, &run(1).run, RunOutcome::Completed, later)
        .await
        .expect("ending again is not an error");
    let runs = repo.get(&acme, d.id).await.expect("get").runs;
    assert_eq!(runs[0].outcome, Some(failed), "the first end stands");
    assert_eq!(runs[0].ended_at, Some(ended));
    assert_eq!(runs[1], run(2), "other runs untouched");
    let err = repo
        .end_run(
            &acme,
            d.id,
            &crate::RunId::new("nope"),
            RunOutcome::Aborted,
            later,
        )
        .await
        .expect_err("unknown run");
    assert!(matches!(err, RepositoryError::NotFound { .. }), "{err}");
}

/// `remove` deletes what exists, counts it, and ignores unknown ids.
pub async fn remove_counts_what_existed<R: TaskRepository + ?Sized>(factory: &impl Factory<R>) {
    let repo = factory.create().await;
    let acme = tenant("acme");
    for n in [1, 2, 3] {
        repo.insert(details(n, "acme")).await.expect("insert");
    }
    let ids = [
        TaskId::from_u128(1),
        TaskId::from_u128(3),
        TaskId::from_u128(99),
    ];
    assert_eq!(repo.remove(&ids).await.expect("remove"), 2);
    assert_eq!(repo.remove(&ids).await.expect("remove again"), 0);
    assert_eq!(repo.remove(&[]).await.expect("remove nothing"), 0);
    let err = repo.get(&acme, ids[0]).await.expect_err("removed");
    assert!(matches!(err, RepositoryError::NotFound { .. }), "{err}");
    repo.get(&acme, TaskId::from_u128(2)).await.expect("kept");
}
