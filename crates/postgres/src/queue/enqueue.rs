//! Enqueueing one caller's batch inside the committer's transaction. What the batch refers to
//! (taken ids, named dependencies and parents, idempotency keys) is read in one query each;
//! the tasks are then validated in order exactly as the reference store does (a task may name
//! an earlier one of its batch), inserted with one multi-row statement, and checked against
//! the tenants' queue bounds. The caller runs it under a savepoint, so a refused batch leaves
//! nothing behind.

use std::collections::{BTreeSet, HashMap, HashSet};

use godel_queue::{
    Enqueued, LimitKey, MAX_IDEMPOTENCY_KEY_LEN, NewTask, Priority, QueueConfig, QueueError,
    TaskId, TaskStatus, TenantId,
};
use sqlx::{PgConnection, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use super::counters::Counters;
use super::fault::{DbContext, Fault, invalid};
use super::rows::{self, signed32};

/// What is known of a task a new one names (as dependency or parent).
#[derive(Debug, Clone)]
struct Named {
    tenant: String,
    status: TaskStatus,
    priority: Priority,
}

/// A validated task, as inserted.
struct NewRow {
    task: NewTask,
    priority: i16,
    status: TaskStatus,
    max_attempts: i32,
    seq: i64,
    due_at: Option<OffsetDateTime>,
    pending_since: Option<OffsetDateTime>,
    finished_at: Option<OffsetDateTime>,
    last_error: Option<String>,
    depends_on: Vec<Uuid>,
    all_keys: Vec<String>,
}

/// Most rows per insert statement (20 parameters each, under Postgres's 65,535).
const ROWS_PER_INSERT: usize = 1_000;

/// Enqueues `tasks` all or none (the caller rolls back on error).
pub(crate) async fn enqueue_batch(
    conn: &mut PgConnection,
    tasks: Vec<NewTask>,
    config: &QueueConfig,
    now: OffsetDateTime,
    counters: &mut Counters,
) -> Result<Vec<Enqueued>, Fault> {
    if tasks.is_empty() {
        return Err(invalid("batch", "must hold at least one task"));
    }
    let mut taken = taken_ids(conn, &tasks).await?;
    let mut named = named_tasks(conn, &tasks).await?;
    let mut keys = idempotency_keys(conn, &tasks, now).await?;
    let tenants: BTreeSet<TenantId> = tasks.iter().map(|t| t.tenant.clone()).collect();

    let mut out = Vec::with_capacity(tasks.len());
    let mut rows: Vec<NewRow> = Vec::with_capacity(tasks.len());
    for task in tasks {
        if let Some(key) = task.idempotency_key.as_deref() {
            if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN {
                return Err(invalid("idempotency_key", "must be 1 to 255 bytes"));
            }
            if let Some(existing) = keys.get(&(task.tenant.as_str().to_owned(), key.to_owned())) {
                out.push(*existing);
                continue;
            }
        }
        let row = validate(task, &taken, &named, config, now)?;
        let enqueued = Enqueued {
            id: row.task.id,
            status: row.status,
            priority: rows::priority(row.priority)?,
            deduplicated: false,
        };
        taken.insert(*row.task.id.as_uuid());
        named.insert(
            *row.task.id.as_uuid(),
            Named {
                tenant: row.task.tenant.as_str().to_owned(),
                status: row.status,
                priority: enqueued.priority,
            },
        );
        if let Some(key) = &row.task.idempotency_key {
            let tenant = row.task.tenant.as_str().to_owned();
            keys.insert(
                (tenant, key.clone()),
                Enqueued {
                    deduplicated: true,
                    ..enqueued
                },
            );
        }
        out.push(enqueued);
        rows.push(row);
    }
    if !rows.is_empty() {
        for tenant in &tenants {
            intern_tenant(conn, tenant).await?;
        }
        let seqs = next_seqs(conn, rows.len()).await?;
        for (row, seq) in rows.iter_mut().zip(seqs) {
            row.seq = seq;
        }
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            insert(conn, chunk, now).await?;
        }
        counters.enqueued += i64::try_from(rows.len()).unwrap_or(i64::MAX);
    }
    for tenant in &tenants {
        check_bound(conn, tenant).await?;
    }
    Ok(out)
}

/// The ids of the batch that are taken already.
async fn taken_ids(conn: &mut PgConnection, tasks: &[NewTask]) -> Result<HashSet<Uuid>, Fault> {
    let ids: Vec<Uuid> = tasks.iter().map(|t| *t.id.as_uuid()).collect();
    let taken: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM tasks WHERE id = ANY($1)")
        .bind(&ids)
        .fetch_all(conn)
        .await
        .db("look up task ids")?;
    Ok(taken.into_iter().collect())
}

/// The tasks the batch names as dependencies or parents, locked `FOR SHARE`: none can complete
/// or end until this enqueue commits, so its completion sees the new dependents.
async fn named_tasks(
    conn: &mut PgConnection,
    tasks: &[NewTask],
) -> Result<HashMap<Uuid, Named>, Fault> {
    let refs: Vec<Uuid> = tasks
        .iter()
        .flat_map(|t| t.depends_on.iter().chain(t.parent_id.as_ref()))
        .map(|id| *id.as_uuid())
        .collect();
    if refs.is_empty() {
        return Ok(HashMap::new());
    }
    let found = sqlx::query(
        "SELECT id, tenant_id, status, priority FROM tasks WHERE id = ANY($1) \
         ORDER BY id FOR SHARE",
    )
    .bind(&refs)
    .fetch_all(conn)
    .await
    .db("read named tasks")?;
    let what = "read a named task";
    found
        .iter()
        .map(|row| {
            Ok((
                row.try_get("id").db(what)?,
                Named {
                    tenant: row.try_get("tenant_id").db(what)?,
                    status: rows::status(row.try_get::<&str, _>("status").db(what)?)?,
                    priority: rows::priority(row.try_get("priority").db(what)?)?,
                },
            ))
        })
        .collect()
}

/// The tasks already holding the batch's idempotency keys, by (tenant, key), as a
/// deduplicated enqueue reports them.
async fn idempotency_keys(
    conn: &mut PgConnection,
    tasks: &[NewTask],
    now: OffsetDateTime,
) -> Result<HashMap<(String, String), Enqueued>, Fault> {
    let (tenants, keys): (Vec<&str>, Vec<&str>) = tasks
        .iter()
        .filter_map(|t| Some((t.tenant.as_str(), t.idempotency_key.as_deref()?)))
        .unzip();
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let found = sqlx::query(
        "SELECT t.tenant_id, t.idempotency_key, t.id, t.status, t.priority, t.due_at \
         FROM tasks t JOIN UNNEST($1::TEXT[], $2::TEXT[]) AS k(tenant_id, key) \
           ON t.tenant_id = k.tenant_id AND t.idempotency_key = k.key",
    )
    .bind(&tenants)
    .bind(&keys)
    .fetch_all(conn)
    .await
    .db("look up idempotency keys")?;
    let what = "read a deduplicated task";
    let mut out = HashMap::with_capacity(found.len());
    for row in found {
        let mut status = rows::status(row.try_get::<&str, _>("status").db(what)?)?;
        let due_at: Option<OffsetDateTime> = row.try_get("due_at").db(what)?;
        if matches!(status, TaskStatus::Scheduled | TaskStatus::Failed)
            && due_at.is_some_and(|at| at <= now)
        {
            status = TaskStatus::Pending;
        }
        out.insert(
            (
                row.try_get("tenant_id").db(what)?,
                row.try_get("idempotency_key").db(what)?,
            ),
            Enqueued {
                id: TaskId::from_uuid(row.try_get("id").db(what)?),
                status,
                priority: rows::priority(row.try_get("priority").db(what)?)?,
                deduplicated: true,
            },
        );
    }
    Ok(out)
}

/// Checks one task against what exists (and the earlier tasks of its batch), and decides its
/// first status and priority.
fn validate(
    task: NewTask,
    taken: &HashSet<Uuid>,
    named: &HashMap<Uuid, Named>,
    config: &QueueConfig,
    now: OffsetDateTime,
) -> Result<NewRow, Fault> {
    if task.max_attempts == Some(0) {
        return Err(invalid("max_attempts", "must be at least 1"));
    }
    if taken.contains(task.id.as_uuid()) {
        return Err(Fault::Queue(QueueError::AlreadyExists(task.id)));
    }
    let same_tenant = |id: &TaskId| {
        named
            .get(id.as_uuid())
            .filter(|n| n.tenant == task.tenant.as_str())
    };
    let mut doomed: Option<(TaskId, TaskStatus)> = None;
    let mut unmet = 0_u32;
    for dependency in &task.depends_on {
        if *dependency == task.id {
            return Err(invalid("depends_on", "a task cannot depend on itself"));
        }
        let Some(dep) = same_tenant(dependency) else {
            return Err(Fault::Queue(QueueError::UnknownDependency {
                task: task.id,
                dependency: *dependency,
            }));
        };
        match dep.status {
            TaskStatus::Completed => {}
            s @ (TaskStatus::Cancelled | TaskStatus::DeadLetter) => {
                if doomed.is_none_or(|(d, _)| *dependency < d) {
                    doomed = Some((*dependency, s));
                }
            }
            _ => unmet += 1,
        }
    }
    let mut inherited = None;
    if let Some(parent) = task.parent_id {
        let found = (parent != task.id).then(|| same_tenant(&parent)).flatten();
        let Some(found) = found else {
            return Err(Fault::Queue(QueueError::UnknownParent {
                task: task.id,
                parent,
            }));
        };
        inherited = Some(found.priority);
    }
    let priority = task
        .priority
        .or(inherited)
        .unwrap_or(config.default_priority);
    let (status, due_at, pending_since, finished_at, last_error) = match doomed {
        Some((cause, s)) => (
            TaskStatus::Cancelled,
            None,
            None,
            Some(now),
            Some(format!("dependency {cause} is {s}")),
        ),
        None if unmet > 0 => (TaskStatus::Blocked, None, None, None, None),
        None => match task.scheduled_at.filter(|at| *at > now) {
            Some(at) => (TaskStatus::Scheduled, Some(at), None, None, None),
            None => (TaskStatus::Pending, None, Some(now), None, None),
        },
    };
    let mut depends_on: Vec<Uuid> = task.depends_on.iter().map(|d| *d.as_uuid()).collect();
    depends_on.sort_unstable();
    depends_on.dedup();
    let mut all_keys: Vec<String> = vec![LimitKey::tenant(&task.tenant).as_str().to_owned()];
    all_keys.extend(task.limit_keys.iter().map(|k| k.as_str().to_owned()));
    all_keys.sort_unstable();
    all_keys.dedup();
    Ok(NewRow {
        priority: rows::rank(priority),
        status,
        max_attempts: signed32(task.max_attempts.unwrap_or(config.retry.max_attempts)),
        seq: 0,
        due_at,
        pending_since,
        finished_at,
        last_error,
        depends_on,
        all_keys,
        task,
    })
}

/// `n` fresh enqueue positions, ascending.
async fn next_seqs(conn: &mut PgConnection, n: usize) -> Result<Vec<i64>, Fault> {
    let mut seqs: Vec<i64> =
        sqlx::query_scalar("SELECT nextval('queue_seq') FROM generate_series(1, $1)")
            .bind(i64::try_from(n).unwrap_or(i64::MAX))
            .fetch_all(conn)
            .await
            .db("take enqueue positions")?;
    seqs.sort_unstable();
    Ok(seqs)
}

/// Inserts validated rows with one statement.
async fn insert(
    conn: &mut PgConnection,
    rows: &[NewRow],
    now: OffsetDateTime,
) -> Result<(), Fault> {
    let mut insert = sqlx::QueryBuilder::<sqlx::Postgres>::new(
        "INSERT INTO tasks (id, tenant_id, priority, status, payload, capabilities, limit_keys, \
         all_keys, max_attempts, seq, created_at, updated_at, scheduled_at, due_at, \
         pending_since, finished_at, last_error, depends_on, parent_id, idempotency_key, \
         group_id) ",
    );
    insert.push_values(rows, |mut values, row| {
        let task = &row.task;
        let capabilities: Vec<&str> = task.capabilities.iter().map(|c| c.as_str()).collect();
        let limit_keys: Vec<&str> = task.limit_keys.iter().map(LimitKey::as_str).collect();
        values
            .push_bind(task.id.as_uuid())
            .push_bind(task.tenant.as_str())
            .push_bind(row.priority)
            .push_bind(row.status.as_str())
            .push_bind(&*task.payload)
            .push_bind(capabilities)
            .push_bind(limit_keys)
            .push_bind(&row.all_keys)
            .push_bind(row.max_attempts)
            .push_bind(row.seq)
            .push_bind(now)
            .push_bind(now)
            .push_bind(task.scheduled_at)
            .push_bind(row.due_at)
            .push_bind(row.pending_since)
            .push_bind(row.finished_at)
            .push_bind(row.last_error.as_deref())
            .push_bind(&row.depends_on)
            .push_bind(task.parent_id.map(|p| *p.as_uuid()))
            .push_bind(task.idempotency_key.as_deref())
            .push_bind(task.group);
    });
    insert.build().execute(conn).await.map_err(|error| {
        match crate::error::classify(&error) {
            // Another writer took an id or key meanwhile (outside this committer).
            crate::error::Class::UniqueViolation => Fault::Queue(QueueError::Unavailable {
                message: "postgres: a task id or idempotency key was taken concurrently; retry"
                    .to_owned(),
                source: Some(Box::new(error)),
            }),
            _ => Fault::Db {
                what: "insert tasks",
                error,
            },
        }
    })?;
    Ok(())
}

/// Records `tenant` (first-seen order decides ties of the fair order) and its four lanes, if
/// it is new.
pub(crate) async fn intern_tenant(conn: &mut PgConnection, tenant: &TenantId) -> Result<(), Fault> {
    let known: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM queue_lanes WHERE tenant_id = $1)")
            .bind(tenant.as_str())
            .fetch_one(&mut *conn)
            .await
            .db("look up a tenant")?;
    if known {
        return Ok(());
    }
    sqlx::query("INSERT INTO queue_tenant_policies (tenant_id) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(tenant.as_str())
        .execute(&mut *conn)
        .await
        .db("record a tenant")?;
    sqlx::query(
        "INSERT INTO queue_lanes (tenant_id, level) SELECT $1, generate_series(0, 3) \
         ON CONFLICT DO NOTHING",
    )
    .bind(tenant.as_str())
    .execute(conn)
    .await
    .db("make a tenant's lanes")?;
    Ok(())
}

/// Refuses the batch when the tenant now holds more queued tasks than its bound.
async fn check_bound(conn: &mut PgConnection, tenant: &TenantId) -> Result<(), Fault> {
    let bound: Option<i64> = sqlx::query_scalar(
        "SELECT max_queued FROM queue_tenant_policies WHERE tenant_id = $1 FOR UPDATE",
    )
    .bind(tenant.as_str())
    .fetch_optional(&mut *conn)
    .await
    .db("read a tenant's queue bound")?
    .flatten();
    let Some(limit) = bound else {
        return Ok(());
    };
    let queued: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tasks WHERE tenant_id = $1 \
         AND status IN ('pending', 'blocked', 'scheduled', 'failed')",
    )
    .bind(tenant.as_str())
    .fetch_one(conn)
    .await
    .db("count a tenant's queued tasks")?;
    if queued > limit {
        return Err(Fault::Queue(QueueError::QueueFull {
            tenant: tenant.clone(),
            limit: rows::unsigned(limit),
        }));
    }
    Ok(())
}
