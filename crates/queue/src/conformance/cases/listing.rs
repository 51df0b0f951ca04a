//! Listing and counting tasks by filter, paging by enqueue order, and task groups.

use std::time::Duration;

use uuid::Uuid;

use crate::conformance::StoreFactory;
use crate::conformance::harness::{Harness, agent_id, task, tenant};
use crate::ids::TaskId;
use crate::priority::Priority;
use crate::status::TaskStatus;
use crate::store::{QueueStore, TaskQuery};
use crate::task::Failure;

/// Page sizes every pass is tried with: one, small, exact and larger than the whole list.
const PAGES: [usize; 5] = [1, 2, 3, 6, 100];

/// Tasks in six statuses, one each, enqueued in this order (tenant `acme`, default priority):
/// completed, dead-lettered, running (leased to `a1`), pending, scheduled, blocked.
async fn one_task_per_status<S: QueueStore>(h: &Harness<S>) -> Vec<(TaskId, TaskStatus)> {
    let mut out = Vec::new();
    let done = h.put(task("acme")).await;
    let lease = h.claim_one("a1").await;
    assert_eq!(lease.task.id, done);
    h.store.ack(&lease.token, None).await.unwrap();
    out.push((done, TaskStatus::Completed));

    let dead = h.put(task("acme")).await;
    let lease = h.claim_one("a1").await;
    assert_eq!(lease.task.id, dead);
    h.store
        .fail(&lease.token, Failure::permanent("bad input"))
        .await
        .unwrap();
    out.push((dead, TaskStatus::DeadLetter));

    let running = h.put(task("acme")).await;
    let lease = h.claim_one("a1").await;
    assert_eq!(lease.task.id, running);
    h.store.start(&lease.token).await.unwrap();
    out.push((running, TaskStatus::Running));

    let pending = h.put(task("acme")).await;
    out.push((pending, TaskStatus::Pending));
    let later = h.now() + Duration::from_secs(3600);
    let scheduled = h.put(task("acme").scheduled_at(later)).await;
    out.push((scheduled, TaskStatus::Scheduled));
    let blocked = h.put(task("acme").depends_on(pending)).await;
    out.push((blocked, TaskStatus::Blocked));

    for (id, status) in &out {
        assert_eq!(h.status(*id).await, *status, "setup of {id}");
    }
    out
}

/// `list` returns tasks in enqueue order, whatever their tenant, priority or status, and pages
/// through them with `after` (the last `seq` seen, exclusive) without gaps or repeats.
pub async fn list_pages_in_enqueue_order_without_gaps_or_repeats<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let mut ids = vec![
        h.put_at("acme", Priority::Low).await,
        h.put_at("globex", Priority::Critical).await,
        h.put_at("acme", Priority::High).await,
    ];
    let batch = vec![
        task("globex").with_priority(Priority::Low),
        task("acme").with_priority(Priority::Critical),
    ];
    for out in h.store.enqueue_batch(batch).await.unwrap() {
        ids.push(out.id);
    }
    ids.push(h.put_at("initech", Priority::Medium).await);
    h.claim_one("a1").await; // a status change moves no task in the listing
    let all = TaskQuery::default();
    for page in PAGES {
        assert_eq!(h.list_ids(&all, page).await, ids, "page size {page}");
    }
    let first = h.store.list(&all, None, 2).await.unwrap();
    assert_eq!(first.iter().map(|r| r.id).collect::<Vec<_>>(), ids[..2]);
    let second = h.store.list(&all, Some(first[1].seq), 2).await.unwrap();
    assert_eq!(second.iter().map(|r| r.id).collect::<Vec<_>>(), ids[2..4]);
    let last = h.list_all(&all, 100).await.pop().unwrap();
    assert!(
        h.store
            .list(&all, Some(last.seq), 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing comes after the newest task"
    );
    assert!(h.store.list(&all, None, 0).await.unwrap().is_empty());
}

/// With `newest_first`, pages go from the newest task back, `after` meaning a smaller `seq`.
pub async fn list_newest_first_pages_backwards<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let mut ids = Vec::new();
    for (tenant_name, priority) in [
        ("acme", Priority::Medium),
        ("globex", Priority::Critical),
        ("acme", Priority::Low),
        ("globex", Priority::High),
        ("acme", Priority::Critical),
    ] {
        ids.push(h.put_at(tenant_name, priority).await);
    }
    ids.reverse();
    let newest = TaskQuery {
        newest_first: true,
        ..TaskQuery::default()
    };
    for page in PAGES {
        assert_eq!(h.list_ids(&newest, page).await, ids, "page size {page}");
    }
    let first = h.store.list(&newest, None, 2).await.unwrap();
    assert_eq!(first.iter().map(|r| r.id).collect::<Vec<_>>(), ids[..2]);
    let next = h.store.list(&newest, Some(first[1].seq), 2).await.unwrap();
    assert_eq!(next.iter().map(|r| r.id).collect::<Vec<_>>(), ids[2..4]);
    let oldest = h.store.get(ids[4]).await.unwrap();
    assert!(
        h.store
            .list(&newest, Some(oldest.seq), 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing comes before the oldest task"
    );
}

/// A cursor is a position, not a snapshot: between pages, a task that leaves the filter is
/// simply not listed, a task already listed is not listed again, and a task enqueued meanwhile
/// comes at the end of an oldest-first pass.
pub async fn list_cursor_survives_changes_between_pages<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(h.put(task("acme")).await);
    }
    let pending = TaskQuery {
        statuses: vec![TaskStatus::Pending],
        ..TaskQuery::default()
    };
    let first = h.store.list(&pending, None, 2).await.unwrap();
    assert_eq!(first.iter().map(|r| r.id).collect::<Vec<_>>(), ids[..2]);
    // Claims take ids[0] (already listed) and ids[2] (not yet listed) out of `pending`.
    let claimed = h.claim_ids("a1", 1).await;
    assert_eq!(claimed, ids[..1]);
    h.store.cancel(ids[2], "not needed").await.unwrap();
    let newer = h.put(task("acme")).await;
    let rest = h
        .store
        .list(&pending, Some(first[1].seq), 10)
        .await
        .unwrap();
    assert_eq!(
        rest.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![ids[3], newer]
    );
}

/// A tenant filter lists that tenant's tasks only, still in enqueue order.
pub async fn list_filters_by_tenant<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let a1 = h.put(task("acme")).await;
    let g1 = h.put(task("globex")).await;
    let a2 = h.put(task("acme")).await;
    let g2 = h.put(task("globex")).await;
    let of = |name: &str| TaskQuery {
        tenant: Some(tenant(name)),
        ..TaskQuery::default()
    };
    for page in PAGES {
        assert_eq!(h.list_ids(&of("acme"), page).await, vec![a1, a2]);
        assert_eq!(h.list_ids(&of("globex"), page).await, vec![g1, g2]);
    }
    assert!(h.list_ids(&of("initech"), 10).await.is_empty());
    assert_eq!(h.store.count(&of("acme")).await.unwrap().total(), 2);
    assert_eq!(h.store.count(&of("initech")).await.unwrap().total(), 0);
}

/// A status set lists tasks in any of its statuses; an empty set lists every status.
pub async fn list_filters_by_status_set<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let tasks = one_task_per_status(&h).await;
    let in_statuses = |statuses: &[TaskStatus]| TaskQuery {
        statuses: statuses.to_vec(),
        ..TaskQuery::default()
    };
    let want = |statuses: &[TaskStatus]| -> Vec<TaskId> {
        tasks
            .iter()
            .filter(|(_, s)| statuses.is_empty() || statuses.contains(s))
            .map(|(id, _)| *id)
            .collect()
    };
    for statuses in [
        &[][..],
        &[TaskStatus::Pending],
        &[TaskStatus::Completed, TaskStatus::DeadLetter],
        &[
            TaskStatus::Blocked,
            TaskStatus::Scheduled,
            TaskStatus::Running,
        ],
        &[TaskStatus::Cancelled, TaskStatus::Failed],
    ] {
        for page in PAGES {
            assert_eq!(
                h.list_ids(&in_statuses(statuses), page).await,
                want(statuses),
                "statuses {statuses:?}, page size {page}"
            );
        }
    }
    assert_eq!(want(&[]).len(), 6);
}

/// A priority filter lists tasks of exactly that priority (an inherited one counts).
pub async fn list_filters_by_priority<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let critical = h.put_at("acme", Priority::Critical).await;
    let low = h.put_at("globex", Priority::Low).await;
    let child = h.put(task("acme").with_parent(critical)).await;
    let medium = h.put(task("acme")).await;
    let at = |priority| TaskQuery {
        priority: Some(priority),
        ..TaskQuery::default()
    };
    for page in PAGES {
        assert_eq!(
            h.list_ids(&at(Priority::Critical), page).await,
            vec![critical, child]
        );
        assert_eq!(h.list_ids(&at(Priority::Low), page).await, vec![low]);
        assert_eq!(h.list_ids(&at(Priority::Medium), page).await, vec![medium]);
        assert!(h.list_ids(&at(Priority::High), page).await.is_empty());
    }
}

/// An assignee filter lists the tasks whose lease that agent holds now: a task leaves it when
/// its lease ends (here by ack), since the record keeps no assignee once unleased.
pub async fn list_filters_by_assignee<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(h.put(task("acme")).await);
    }
    let by_a1 = h.claim("a1", 2).await;
    let by_a2 = h.claim_one("a2").await;
    assert_eq!(
        by_a1.iter().map(|l| l.task.id).collect::<Vec<_>>(),
        ids[..2]
    );
    assert_eq!(by_a2.task.id, ids[2]);
    h.store.start(&by_a1[1].token).await.unwrap();
    let held_by = |name: &str| TaskQuery {
        assignee: Some(agent_id(name)),
        ..TaskQuery::default()
    };
    for page in PAGES {
        assert_eq!(h.list_ids(&held_by("a1"), page).await, ids[..2]);
        assert_eq!(h.list_ids(&held_by("a2"), page).await, vec![ids[2]]);
        assert!(h.list_ids(&held_by("a3"), page).await.is_empty());
    }
    h.store.ack(&by_a1[0].token, None).await.unwrap();
    assert_eq!(h.list_ids(&held_by("a1"), 10).await, vec![ids[1]]);
    let counts = h.store.count(&held_by("a1")).await.unwrap();
    assert_eq!(counts.get(TaskStatus::Running), 1);
    assert_eq!(counts.total(), 1);
}

/// A group given to `NewTask` is on the record (single and batch enqueue); a group filter lists
/// and counts that group's tasks only.
pub async fn group_is_carried_to_the_record_and_filters<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let (team, other) = (Uuid::from_u128(0x7ea), Uuid::from_u128(0xb0b));
    let first = h.put(task("acme").with_group(team)).await;
    let loose = h.put(task("acme")).await;
    let theirs = h.put(task("globex").with_group(other)).await;
    let batch = vec![
        task("acme").with_group(team),
        task("globex").with_group(team),
    ];
    let batched: Vec<TaskId> = h
        .store
        .enqueue_batch(batch)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(h.store.get(first).await.unwrap().group, Some(team));
    assert_eq!(h.store.get(batched[1]).await.unwrap().group, Some(team));
    assert_eq!(h.store.get(theirs).await.unwrap().group, Some(other));
    assert_eq!(h.store.get(loose).await.unwrap().group, None);
    let lease = h.claim_one("a1").await;
    assert_eq!(lease.task.group, Some(team), "a lease carries the group");

    let of = |group| TaskQuery {
        group: Some(group),
        ..TaskQuery::default()
    };
    let want = vec![first, batched[0], batched[1]];
    for page in PAGES {
        assert_eq!(h.list_ids(&of(team), page).await, want);
        assert_eq!(h.list_ids(&of(other), page).await, vec![theirs]);
        assert!(h.list_ids(&of(Uuid::from_u128(1)), page).await.is_empty());
    }
    let counts = h.store.count(&of(team)).await.unwrap();
    assert_eq!(
        (
            counts.get(TaskStatus::Assigned),
            counts.get(TaskStatus::Pending)
        ),
        (1, 2)
    );
    assert_eq!(
        h.store
            .count(&of(Uuid::from_u128(1)))
            .await
            .unwrap()
            .total(),
        0
    );
}

/// Filters combine: a task is listed only when it matches every field set, and a listing is
/// exactly the full listing narrowed by [`TaskQuery::matches`].
pub async fn list_combines_filters<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let team = Uuid::from_u128(0x7ea);
    let hit = h
        .put(task("acme").with_group(team).with_priority(Priority::High))
        .await;
    let wrong_tenant = h
        .put(
            task("globex")
                .with_group(team)
                .with_priority(Priority::High),
        )
        .await;
    let wrong_priority = h
        .put(task("acme").with_group(team).with_priority(Priority::Low))
        .await;
    let no_group = h.put(task("acme").with_priority(Priority::High)).await;
    let leased = h
        .put(task("acme").with_group(team).with_priority(Priority::High))
        .await;
    let second_hit = h
        .put(task("acme").with_group(team).with_priority(Priority::High))
        .await;
    // Claim order (high first, tenants alternating, FIFO) leases four tasks, `second_hit` not.
    let claimed = h.claim_ids("a1", 4).await;
    assert_eq!(claimed, vec![hit, wrong_tenant, no_group, leased]);
    let query = TaskQuery {
        tenant: Some(tenant("acme")),
        group: Some(team),
        priority: Some(Priority::High),
        statuses: vec![TaskStatus::Pending],
        ..TaskQuery::default()
    };
    assert_eq!(h.list_ids(&query, 1).await, vec![second_hit]);
    let held = TaskQuery {
        statuses: vec![TaskStatus::Assigned],
        assignee: Some(agent_id("a1")),
        ..query.clone()
    };
    assert_eq!(h.list_ids(&held, 1).await, vec![hit, leased]);
    let low = TaskQuery {
        priority: Some(Priority::Low),
        statuses: Vec::new(),
        ..query.clone()
    };
    assert_eq!(h.list_ids(&low, 1).await, vec![wrong_priority]);

    let everything = h.list_all(&TaskQuery::default(), 100).await;
    assert_eq!(everything.len(), 6);
    let queries = [
        query.clone(),
        held,
        TaskQuery {
            statuses: Vec::new(),
            ..query.clone()
        },
        TaskQuery {
            tenant: None,
            newest_first: true,
            ..query.clone()
        },
        TaskQuery {
            group: None,
            priority: None,
            ..query
        },
    ];
    for q in queries {
        let mut want: Vec<TaskId> = everything
            .iter()
            .filter(|r| q.matches(r))
            .map(|r| r.id)
            .collect();
        if q.newest_first {
            want.reverse();
        }
        for page in PAGES {
            assert_eq!(h.list_ids(&q, page).await, want, "{q:?}, page size {page}");
        }
        let counts = h.store.count(&q).await.unwrap();
        assert_eq!(counts.total(), want.len() as u64, "{q:?}");
    }
}

/// `count` gives, per status, exactly as many tasks as `list` finds with that status added to
/// the filter; the total is the whole listing, and finished ones are completed, cancelled and
/// dead-lettered.
pub async fn count_by_status_equals_the_filtered_lists<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let tasks = one_task_per_status(&h).await;
    let cancelled = h.put(task("acme")).await;
    h.store.cancel(cancelled, "no").await.unwrap();
    h.put(task("globex")).await;
    h.put(task("globex").with_priority(Priority::Critical))
        .await;
    for base in [
        TaskQuery::default(),
        TaskQuery {
            tenant: Some(tenant("acme")),
            ..TaskQuery::default()
        },
        TaskQuery {
            tenant: Some(tenant("globex")),
            newest_first: true,
            ..TaskQuery::default()
        },
        TaskQuery {
            priority: Some(Priority::Medium),
            ..TaskQuery::default()
        },
    ] {
        let counts = h.store.count(&base).await.unwrap();
        for status in TaskStatus::ALL {
            let narrowed = TaskQuery {
                statuses: vec![status],
                ..base.clone()
            };
            let listed = h.list_ids(&narrowed, 3).await.len() as u64;
            assert_eq!(counts.get(status), listed, "{status} under {base:?}");
        }
        let listed = h.list_ids(&base, 4).await.len() as u64;
        assert_eq!(counts.total(), listed, "{base:?}");
    }
    let all = h.store.count(&TaskQuery::default()).await.unwrap();
    assert_eq!(all.total(), tasks.len() as u64 + 3);
    assert_eq!(all.get(TaskStatus::Pending), 3);
    assert_eq!(all.finished(), 3, "completed, dead-lettered and cancelled");
    assert!(!all.all_finished());
}

/// Purged tasks, finished or dead-lettered, are neither listed nor counted, in no group.
pub async fn purged_tasks_are_neither_listed_nor_counted<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let team = Uuid::from_u128(0x7ea);
    let done = h.put(task("acme").with_group(team)).await;
    let lease = h.claim_one("a1").await;
    h.store.ack(&lease.token, None).await.unwrap();
    let dead = h.put(task("acme").with_group(team)).await;
    let lease = h.claim_one("a1").await;
    h.store
        .fail(&lease.token, Failure::permanent("bad"))
        .await
        .unwrap();
    let live = h.put(task("acme").with_group(team)).await;
    let all = TaskQuery::default();
    let in_team = TaskQuery {
        group: Some(team),
        ..TaskQuery::default()
    };
    assert_eq!(h.list_ids(&in_team, 2).await, vec![done, dead, live]);

    h.advance(Duration::from_secs(3600));
    let retention = Duration::from_secs(60);
    assert_eq!(h.store.purge_finished(retention).await.unwrap(), 1);
    assert_eq!(h.store.purge_dead_letters(retention).await.unwrap(), 1);
    for query in [&all, &in_team] {
        for page in PAGES {
            assert_eq!(h.list_ids(query, page).await, vec![live], "{query:?}");
        }
        let counts = h.store.count(query).await.unwrap();
        assert_eq!(counts.total(), 1, "{query:?}");
        assert_eq!(counts.get(TaskStatus::Pending), 1);
        assert_eq!(counts.finished(), 0);
    }
}

/// `list` and `count` report statuses as `get` does: a scheduled task whose time has come is
/// `pending`, with or without a `promote_due`.
pub async fn list_and_count_see_due_tasks_as_pending<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let soon = h
        .put(task("acme").scheduled_at(h.now() + Duration::from_secs(10)))
        .await;
    let later = h
        .put(task("acme").scheduled_at(h.now() + Duration::from_secs(20)))
        .await;
    let in_status = |status| TaskQuery {
        statuses: vec![status],
        ..TaskQuery::default()
    };
    assert_eq!(
        h.list_ids(&in_status(TaskStatus::Scheduled), 5).await,
        vec![soon, later]
    );
    // Each read comes first after its advance, so each must see the time by itself.
    h.advance(Duration::from_secs(10));
    let counts = h.store.count(&TaskQuery::default()).await.unwrap();
    assert_eq!(
        (
            counts.get(TaskStatus::Pending),
            counts.get(TaskStatus::Scheduled)
        ),
        (1, 1)
    );
    h.advance(Duration::from_secs(10));
    let records = h.store.list(&TaskQuery::default(), None, 5).await.unwrap();
    assert_eq!(
        records.iter().map(|r| (r.id, r.status)).collect::<Vec<_>>(),
        vec![(soon, TaskStatus::Pending), (later, TaskStatus::Pending)]
    );
    assert!(
        h.list_ids(&in_status(TaskStatus::Scheduled), 5)
            .await
            .is_empty()
    );
}
