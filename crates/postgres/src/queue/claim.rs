//! Claims: strict priority, stride-scheduled tenants within a level, FIFO within a tenant, over
//! the tasks the claimant is eligible for, leased with `FOR UPDATE SKIP LOCKED`.
//!
//! A claim runs in rounds. Each round reads the limited keys, fetches the eligible due tasks
//! (the first few of each (tenant, level) lane, skipping keys already at their limit and tasks
//! another claimer was seen holding), locks the limit rows those tasks count under (in one key
//! order across the whole claim, so claims never wait for each other's limits), and then
//! picks tasks as the reference store does: at the most urgent level with work, the tenant
//! with the smallest pass (never behind the level's virtual time; ties: first seen) gets its
//! oldest task whose keys are all below their limits. Each task is locked with `SKIP LOCKED`
//! and leased with the next fence: a task another claimer holds is stepped over, never waited
//! for. Strict priority holds under any number of concurrent claimers: a claim never moves to
//! a less urgent level while a more urgent lane may still hold a free task it did not fetch;
//! it fetches again instead (another round).
//!
//! Stride state is read without locks and written once, at the end of the claim, by
//! `queue_serve_lane` (migration 0003): each lane served advances by its stride per task,
//! relative to its *current* pass. A lane another claim is writing is never waited for: the
//! serves are left owed in `queue_lane_serves`, folded in by the next claim that gets the row,
//! and counted by every reader meanwhile. So a claim's commit never queues behind another's
//! (its tasks start in the order they were leased), and claims cannot deadlock on lanes. Two
//! concurrent claims may both serve the tenant that was next; the accounting still charges it
//! for both, so fairness holds over time.
//!
//! The virtual time of a level is the largest pass served there (`queue_levels`, a view over
//! the lanes). A tenant is always served from at least that point, so one that becomes active
//! gets no burst; unlike the reference store, this also applies to a tenant that stayed active
//! but was passed over as ineligible, which only matters when claimants differ in eligibility.

use std::collections::{HashMap, VecDeque};

use godel_queue::{AgentId, Eligibility, FAIR_STRIDE, Lease, LeaseToken, QueueConfig};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use super::counters::Counters;
use super::fault::{DbContext, Fault};
use super::limits::{self, KeyState};
use super::rows::{self, COLUMNS};

/// Extra tasks fetched per lane beyond what the claim still wants, to step over tasks other
/// claimers lock or that a limit stops during the round.
const LANE_SLACK: usize = 8;

/// What the claimants bring to every round: one shared eligibility, and the agent each lease
/// goes to, in lease order.
struct Claimant<'a> {
    agents: &'a Slots<'a>,
    capabilities: Vec<&'a str>,
    tenants: Option<Vec<&'a str>>,
    keys: Vec<String>,
}

/// An eligible due task.
#[derive(Clone)]
struct Candidate {
    id: Uuid,
    keys: Vec<String>,
}

/// The due tasks of one tenant at one level, oldest first, with the tenant's stride state.
#[derive(Clone)]
struct Lane {
    level: usize,
    tenant: String,
    ordinal: i64,
    stride: i64,
    /// The pass it is served at next (never behind the level's virtual time).
    pass: i64,
    /// Whether the fetch was cut at the per-lane limit (more due tasks may follow).
    truncated: bool,
    tasks: VecDeque<Candidate>,
}

/// The serves of one lane during a claim, written when the claim ends.
#[derive(Clone)]
struct Served {
    stride: i64,
    /// The pass it was first served at by this claim.
    first: i64,
    /// How many tasks it was served.
    count: i64,
}

/// The stride state a claim changes: its lanes' serves and each level's virtual time, as seen
/// by this claim (laid over what later rounds read, so they continue from it).
#[derive(Clone, Default)]
struct Stride {
    served: HashMap<(String, usize), Served>,
    virtual_time: [i64; 4],
}

impl Stride {
    /// The pass `lane` is served at next, counting this claim's serves.
    fn next_pass(&self, tenant: &str, level: usize) -> Option<i64> {
        self.served
            .get(&(tenant.to_owned(), level))
            .map(|s| s.first.saturating_add(s.count.saturating_mul(s.stride)))
    }

    /// Records a serve of `lane` at its current pass.
    fn serve(&mut self, lane: &Lane) {
        let served = self
            .served
            .entry((lane.tenant.clone(), lane.level))
            .or_insert(Served {
                stride: lane.stride,
                first: lane.pass,
                count: 0,
            });
        served.count += 1;
        let vt = &mut self.virtual_time[lane.level];
        *vt = (*vt).max(lane.pass);
    }
}

/// What a claim learned in its earlier rounds.
#[derive(Default)]
struct Seen {
    /// Tasks another claimer held.
    skipped: Vec<Uuid>,
    /// Whether a limit held back a task the claimant could otherwise take.
    throttled: bool,
    /// The limit rows it holds locked, sorted.
    locked: Vec<String>,
    /// The stride state it changed.
    stride: Stride,
}

/// What a round did.
struct Round {
    leases: Vec<Lease>,
    /// Whether it leased a task or found one locked by another claimer.
    progress: bool,
}

/// The agents a claim leases to, in lease order: each claimant with how many tasks it wants.
pub(crate) struct Slots<'a> {
    /// Each claimant and the number of leases up to and including its own.
    ends: Vec<(&'a AgentId, usize)>,
}

impl<'a> Slots<'a> {
    /// `claimants` in order, each wanting up to that many tasks.
    pub(crate) fn new(claimants: impl IntoIterator<Item = (&'a AgentId, usize)>) -> Self {
        let mut total = 0_usize;
        let ends = claimants
            .into_iter()
            .map(|(agent, max)| {
                total = total.saturating_add(max);
                (agent, total)
            })
            .collect();
        Self { ends }
    }

    /// How many leases are wanted in all.
    pub(crate) fn len(&self) -> usize {
        self.ends.last().map_or(0, |(_, end)| *end)
    }

    /// Which claimant (its index in [`Slots::new`]'s order) the lease at `position` goes to.
    pub(crate) fn owner(&self, position: usize) -> usize {
        self.ends.partition_point(|(_, end)| *end <= position)
    }

    /// The agent the lease at `position` goes to.
    fn agent(&self, position: usize) -> &'a AgentId {
        // Positions are below `len`, so some claimant ends after it.
        self.ends[self.owner(position)].0
    }
}

/// Leases up to [`Slots::len`] tasks, in claim order, to the agents of `agents` in turn,
/// exactly as if each claimant had claimed after the one before. All share `eligibility`.
pub(crate) async fn claim(
    conn: &mut PgConnection,
    agents: &Slots<'_>,
    eligibility: &Eligibility,
    config: &QueueConfig,
    now: OffsetDateTime,
    counters: &mut Counters,
) -> Result<Vec<Lease>, Fault> {
    let max = agents.len();
    let mut keys: Vec<String> = eligibility
        .keys
        .iter()
        .map(|k| k.as_str().to_owned())
        .collect();
    keys.sort_unstable();
    keys.dedup();
    let claimant = Claimant {
        agents,
        capabilities: eligibility
            .capabilities
            .iter()
            .map(|c| c.as_str())
            .collect(),
        tenants: eligibility
            .tenants
            .as_ref()
            .map(|list| list.iter().map(|t| t.as_str()).collect()),
        keys,
    };
    let mut leases = Vec::new();
    let mut seen = Seen::default();
    while leases.len() < max {
        let round = round(conn, &claimant, leases.len(), config, now, &mut seen).await?;
        leases.extend(round.leases);
        if !round.progress {
            break;
        }
    }
    write_stride(conn, &seen.stride).await?;
    if seen.throttled {
        counters.throttled += 1;
    }
    counters.claimed += i64::try_from(leases.len()).unwrap_or(i64::MAX);
    Ok(leases)
}

/// One round for the claimants from `done` on (the earlier ones have their leases).
async fn round(
    conn: &mut PgConnection,
    claimant: &Claimant<'_>,
    done: usize,
    config: &QueueConfig,
    now: OffsetDateTime,
    seen: &mut Seen,
) -> Result<Round, Fault> {
    let want = claimant.agents.len() - done;
    let idle = Round {
        leases: Vec::new(),
        progress: false,
    };
    let limits = limits::read(conn, None, false).await?;
    let blocked: Vec<String> = limits
        .iter()
        .filter(|(_, s)| !s.allows(now))
        .map(|(k, _)| k.clone())
        .collect();
    if claimant.keys.iter().any(|k| blocked.contains(k)) {
        seen.throttled = true;
        return Ok(idle);
    }
    if !blocked.is_empty() && held_back(conn, claimant, &blocked, now).await? {
        seen.throttled = true;
    }
    let mut lanes = candidates(
        conn,
        claimant,
        &blocked,
        &seen.skipped,
        want,
        config,
        now,
        &seen.stride,
    )
    .await?;
    if lanes.is_empty() {
        return Ok(idle);
    }
    // Lock the limits the candidates and the claimant count under, and read them again.
    let mut relevant: Vec<String> = claimant.keys.clone();
    for lane in &lanes {
        for task in &lane.tasks {
            relevant.extend(
                task.keys
                    .iter()
                    .filter(|k| limits.contains_key(*k))
                    .cloned(),
            );
        }
    }
    relevant.retain(|k| limits.contains_key(k));
    relevant.sort_unstable();
    relevant.dedup();
    // Limit rows are locked in one global (key) order across the whole claim, so two claims
    // can never wait for each other's limits: a later round that would need a key sorting
    // before one already held ends the claim with what it has.
    let highest = seen.locked.last();
    if relevant
        .iter()
        .any(|k| highest.is_some_and(|h| k < h) && seen.locked.binary_search(k).is_err())
    {
        return Ok(idle);
    }
    for key in &relevant {
        if let Err(at) = seen.locked.binary_search(key) {
            seen.locked.insert(at, key.clone());
        }
    }
    let mut limits = if relevant.is_empty() {
        HashMap::new()
    } else {
        limits::read(conn, Some(&relevant), true).await?
    };

    // First plan the whole round in memory and lease every pick in one statement; only if
    // another transaction holds one of them, forget the plan and lease one task at a time,
    // stepping over the held ones.
    let before = (
        lanes.clone(),
        limits.clone(),
        seen.stride.clone(),
        seen.throttled,
    );
    let planned = pick(
        None,
        claimant,
        done,
        &mut lanes,
        &mut limits,
        seen,
        config,
        now,
    )
    .await?;
    let ids: Vec<Uuid> = planned
        .taken
        .iter()
        .filter_map(|t| match t {
            Taken::Planned(id) => Some(*id),
            Taken::Leased(_) => None,
        })
        .collect();
    let leases = if ids.is_empty() {
        Vec::new()
    } else if let Some(leases) = lease_all(conn, claimant, done, &ids, config, now).await? {
        leases
    } else {
        (lanes, limits, seen.stride, seen.throttled) = before;
        let taken = pick(
            Some(conn),
            claimant,
            done,
            &mut lanes,
            &mut limits,
            seen,
            config,
            now,
        );
        let taken = taken.await?;
        limits::write_buckets(conn, &limits).await?;
        let leases = taken
            .taken
            .into_iter()
            .filter_map(|t| match t {
                Taken::Leased(lease) => Some(*lease),
                Taken::Planned(_) => None,
            })
            .collect();
        return Ok(Round {
            leases,
            progress: taken.progress,
        });
    };
    limits::write_buckets(conn, &limits).await?;
    Ok(Round {
        progress: planned.progress || !leases.is_empty(),
        leases,
    })
}

/// A task a round took: planned (to be leased with the others), or already leased.
enum Taken {
    Planned(Uuid),
    Leased(Box<Lease>),
}

/// What [`pick`] took, in claim order.
struct Picks {
    taken: Vec<Taken>,
    /// Whether it took a task or found one locked by another claimer.
    progress: bool,
}

/// Takes tasks from `lanes` in claim order, for the claimants from `done` on, counting each
/// under its limits and its lane's stride. With a connection, each task is leased as it is
/// taken (one held by another transaction is stepped over); without, every pick is assumed
/// free and only planned.
#[allow(clippy::too_many_arguments)]
async fn pick(
    mut conn: Option<&mut PgConnection>,
    claimant: &Claimant<'_>,
    done: usize,
    lanes: &mut [Lane],
    limits: &mut HashMap<String, KeyState>,
    seen: &mut Seen,
    config: &QueueConfig,
    now: OffsetDateTime,
) -> Result<Picks, Fault> {
    let want = claimant.agents.len() - done;
    let mut taken = Vec::new();
    let mut progress = false;
    let allowed = |keys: &[String], limits: &HashMap<String, KeyState>| {
        keys.iter()
            .chain(&claimant.keys)
            .all(|k| limits.get(k).is_none_or(|s| s.allows(now)))
    };
    while taken.len() < want {
        if !allowed(&[], limits) {
            seen.throttled = true;
            break;
        }
        let mut picked = None;
        'levels: for level in 0..4 {
            let mut order: Vec<usize> = (0..lanes.len())
                .filter(|&i| lanes[i].level == level && !lanes[i].tasks.is_empty())
                .collect();
            order.sort_by_key(|&i| (lanes[i].pass, lanes[i].ordinal));
            let mut unseen = false;
            for i in order {
                while let Some(task) = lanes[i].tasks.pop_front() {
                    if !allowed(&task.keys, limits) {
                        seen.throttled = true;
                        continue;
                    }
                    let Some(conn) = conn.as_deref_mut() else {
                        picked = Some((i, task.keys, Taken::Planned(task.id)));
                        break 'levels;
                    };
                    let agent = claimant.agents.agent(done + taken.len());
                    match lease(conn, claimant, agent, &task, config, now).await? {
                        Some(lease) => {
                            picked = Some((i, task.keys, Taken::Leased(Box::new(lease))));
                            break 'levels;
                        }
                        None => {
                            // Another claimer holds it (or took it): never wait for it.
                            seen.skipped.push(task.id);
                            progress = true;
                        }
                    }
                }
                unseen |= lanes[i].truncated;
            }
            if unseen {
                // Due tasks at this level were not fetched: fetch again rather than serve a
                // less urgent level.
                break;
            }
        }
        let Some((i, task_keys, took)) = picked else {
            break;
        };
        progress = true;
        // A task's keys are its tenant's and its own limit keys.
        for key in task_keys.iter().chain(&claimant.keys) {
            if let Some(state) = limits.get_mut(key) {
                state.acquire(now);
            }
        }
        let lane = &mut lanes[i];
        seen.stride.serve(lane);
        lane.pass = lane.pass.saturating_add(lane.stride);
        taken.push(took);
    }
    Ok(Picks { taken, progress })
}

/// Whether a due task the claimant could otherwise take counts under a key at its limit.
async fn held_back(
    conn: &mut PgConnection,
    claimant: &Claimant<'_>,
    blocked: &[String],
    now: OffsetDateTime,
) -> Result<bool, Fault> {
    let sql = format!(
        "SELECT EXISTS (SELECT 1 FROM tasks WHERE {due} AND capabilities <@ $2 \
         AND ($3::TEXT[] IS NULL OR tenant_id = ANY($3)) AND all_keys && $4)",
        due = rows::DUE
    );
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(now)
        .bind(&claimant.capabilities)
        .bind(claimant.tenants.as_deref())
        .bind(blocked)
        .fetch_one(conn)
        .await
        .db("look for throttled tasks")
}

/// The eligible due tasks, as lanes of at most `want` + slack tasks each, passes and virtual
/// times counting what `stride` (this claim's earlier rounds) served.
#[allow(clippy::too_many_arguments)]
async fn candidates(
    conn: &mut PgConnection,
    claimant: &Claimant<'_>,
    blocked: &[String],
    skipped: &[Uuid],
    want: usize,
    config: &QueueConfig,
    now: OffsetDateTime,
    this_claim: &Stride,
) -> Result<Vec<Lane>, Fault> {
    let mut virtual_time = this_claim.virtual_time;
    let levels = sqlx::query("SELECT level, virtual_time FROM queue_levels")
        .fetch_all(&mut *conn)
        .await
        .db("read virtual times")?;
    for row in levels {
        let level: i16 = row.try_get("level").db("read a virtual time")?;
        if let Some(slot) = usize::try_from(level)
            .ok()
            .and_then(|l| virtual_time.get_mut(l))
        {
            let stored: i64 = row.try_get("virtual_time").db("read a virtual time")?;
            *slot = (*slot).max(stored);
        }
    }
    let sql = if config.aging_after.is_some() {
        aged_candidates_sql()
    } else {
        promote_due(conn, now).await?;
        LANE_CANDIDATES_SQL.to_owned()
    };
    let aging = config.aging_after.map(|d| d.as_secs_f64());
    let per_lane = i64::try_from(want.saturating_add(LANE_SLACK)).unwrap_or(i64::MAX);
    let found = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(now)
        .bind(&claimant.capabilities)
        .bind(claimant.tenants.as_deref())
        .bind(blocked)
        .bind(per_lane)
        .bind(aging)
        .bind(skipped)
        .fetch_all(&mut *conn)
        .await
        .db("find claimable tasks")?;
    let what = "read a claimable task";
    let mut lanes: Vec<Lane> = Vec::new();
    for row in found {
        let level: i32 = row.try_get("level").db(what)?;
        let level = usize::try_from(level.clamp(0, 3)).unwrap_or(3);
        let tenant: String = row.try_get("tenant_id").db(what)?;
        let candidate = Candidate {
            id: row.try_get("id").db(what)?,
            keys: row.try_get("all_keys").db(what)?,
        };
        match lanes.last_mut() {
            Some(lane) if lane.level == level && lane.tenant == tenant => {
                lane.tasks.push_back(candidate);
            }
            _ => {
                let pass: Option<i64> = row.try_get("pass").db(what)?;
                let ordinal: Option<i64> = row.try_get("ordinal").db(what)?;
                let weight: Option<i32> = row.try_get("weight").db(what)?;
                let stride = rows::signed(FAIR_STRIDE) / i64::from(weight.unwrap_or(1).max(1));
                let owed: Option<i64> = row.try_get("owed").db(what)?;
                let pass = pass
                    .unwrap_or(0)
                    .saturating_add(owed.unwrap_or(0).saturating_mul(stride))
                    .max(virtual_time[level])
                    .max(this_claim.next_pass(&tenant, level).unwrap_or(0));
                lanes.push(Lane {
                    level,
                    tenant,
                    ordinal: ordinal.unwrap_or(i64::MAX),
                    stride,
                    pass,
                    truncated: false,
                    tasks: VecDeque::from([candidate]),
                });
            }
        }
    }
    for lane in &mut lanes {
        lane.truncated = i64::try_from(lane.tasks.len()).unwrap_or(i64::MAX) >= per_lane;
    }
    Ok(lanes)
}

/// Without aging, a task's level is its priority: the candidates are found lane by lane, each
/// the first few pending tasks of one (tenant, level) by the `tasks_pending_idx` index (due
/// scheduled and failed tasks were promoted first). `$1` now, `$2` the claimant's
/// capabilities, `$3` its tenant filter, `$4` the keys at their limit, `$5` tasks per lane,
/// `$6` the aging interval (unset here), `$7` tasks to skip.
const LANE_CANDIDATES_SQL: &str = "SELECT l.tenant_id, l.level::INT AS level, l.pass, \
      p.ordinal, p.weight, c.id, c.all_keys, \
      (SELECT sum(d.served) FROM queue_lane_serves d \
        WHERE d.tenant_id = l.tenant_id AND d.level = l.level)::BIGINT AS owed \
    FROM queue_lanes l \
    JOIN queue_tenant_policies p ON p.tenant_id = l.tenant_id \
    CROSS JOIN LATERAL ( \
      SELECT t.id, t.seq, t.all_keys FROM tasks t \
      WHERE t.status = 'pending' AND t.priority = l.level AND t.tenant_id = l.tenant_id \
        AND t.capabilities <@ $2 AND NOT (t.all_keys && $4) AND NOT (t.id = ANY($7)) \
      ORDER BY t.seq LIMIT $5) c \
    WHERE ($3::TEXT[] IS NULL OR l.tenant_id = ANY($3)) \
      AND $1::TIMESTAMPTZ IS NOT NULL AND $6::FLOAT8 IS NULL \
    ORDER BY l.level, l.tenant_id, c.seq";

/// With aging, a task's level depends on how long it has waited (its priority, raised one
/// level per `aging_after`), so the due tasks are ranked in one pass (parameters as for
/// [`LANE_CANDIDATES_SQL`]).
fn aged_candidates_sql() -> String {
    format!(
        "WITH due AS ( \
           SELECT t.id, t.tenant_id, t.seq, t.all_keys, \
             GREATEST(0, t.priority - floor(extract(epoch FROM ($1 - COALESCE( \
               CASE WHEN t.status = 'pending' THEN t.pending_since ELSE t.due_at END, $1) \
             ))::FLOAT8 / $6))::INT AS level \
           FROM tasks t \
           WHERE {due} AND t.capabilities <@ $2 \
             AND ($3::TEXT[] IS NULL OR t.tenant_id = ANY($3)) \
             AND NOT (t.all_keys && $4) AND NOT (t.id = ANY($7))), \
         ranked AS ( \
           SELECT due.*, row_number() OVER (PARTITION BY level, tenant_id ORDER BY seq) AS rn \
           FROM due) \
         SELECT r.id, r.tenant_id, r.level, r.all_keys, l.pass, p.ordinal, p.weight, \
           (SELECT sum(d.served) FROM queue_lane_serves d \
             WHERE d.tenant_id = r.tenant_id AND d.level = r.level)::BIGINT AS owed \
         FROM ranked r \
         LEFT JOIN queue_lanes l ON l.tenant_id = r.tenant_id AND l.level = r.level \
         LEFT JOIN queue_tenant_policies p ON p.tenant_id = r.tenant_id \
         WHERE r.rn <= $5 ORDER BY r.level, r.tenant_id, r.seq",
        due = rows::DUE
            .replace("status", "t.status")
            .replace("due_at", "t.due_at"),
    )
}

/// Moves the scheduled and failed tasks whose time has come to pending (those another
/// transaction holds are left to it), as the reference store does before every claim.
async fn promote_due(conn: &mut PgConnection, now: OffsetDateTime) -> Result<(), Fault> {
    sqlx::query(
        "UPDATE tasks SET status = 'pending', pending_since = due_at, due_at = NULL, \
         updated_at = $1 WHERE id IN (SELECT id FROM tasks \
           WHERE status IN ('scheduled', 'failed') AND due_at <= $1 FOR UPDATE SKIP LOCKED)",
    )
    .bind(now)
    .execute(conn)
    .await
    .db("promote due tasks")?;
    Ok(())
}

/// Locks `task` if it is still due and no one else holds it, and leases it to the claimant.
async fn lease(
    conn: &mut PgConnection,
    claimant: &Claimant<'_>,
    agent: &AgentId,
    task: &Candidate,
    config: &QueueConfig,
    now: OffsetDateTime,
) -> Result<Option<Lease>, Fault> {
    let expires_at = now + config.lease_ttl;
    let sql = format!(
        "UPDATE tasks SET status = 'assigned', assignee = $3, \
           lease_fence = nextval('queue_fence'), lease_expires_at = $4, \
           cancel_requested = FALSE, claim_keys = $5, due_at = NULL, pending_since = NULL, \
           updated_at = $1 \
         WHERE id = (SELECT id FROM tasks WHERE id = $2 AND {due} FOR UPDATE SKIP LOCKED) \
         RETURNING {COLUMNS}",
        due = rows::DUE
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(now)
        .bind(task.id)
        .bind(agent.as_str())
        .bind(expires_at)
        .bind(&claimant.keys)
        .fetch_optional(conn)
        .await
        .db("lease a task")?;
    row.map(|row| lease_of(&row, expires_at, now)).transpose()
}

/// The lease a leasing statement returned for one task (selected with [`COLUMNS`]).
fn lease_of(row: &PgRow, expires_at: OffsetDateTime, now: OffsetDateTime) -> Result<Lease, Fault> {
    let record = rows::record(row, now)?;
    let fence = record
        .lease_fence
        .ok_or_else(|| Fault::corrupt("a lease without a fence"))?;
    Ok(Lease {
        token: LeaseToken {
            task: record.id,
            fence,
        },
        expires_at,
        attempt: record.attempt_count.saturating_add(1),
        task: record,
    })
}

/// Leases all of `ids` (picked in this order for the claimants from `done` on) in one
/// statement, with fences increasing in that order, if no other transaction holds any of
/// them; `None` (and nothing leased) if one is held or no longer due.
async fn lease_all(
    conn: &mut PgConnection,
    claimant: &Claimant<'_>,
    done: usize,
    ids: &[Uuid],
    config: &QueueConfig,
    now: OffsetDateTime,
) -> Result<Option<Vec<Lease>>, Fault> {
    let expires_at = now + config.lease_ttl;
    let agents: Vec<&str> = (done..done + ids.len())
        .map(|position| claimant.agents.agent(position).as_str())
        .collect();
    let sql = format!(
        "WITH wanted AS MATERIALIZED ( \
           SELECT want_id, want_agent, want_n, nextval('queue_fence') AS want_fence \
           FROM unnest($2::UUID[], $3::TEXT[]) WITH ORDINALITY AS w(want_id, want_agent, want_n)), \
         locked AS (SELECT id AS locked_id FROM tasks WHERE id = ANY($2) AND {due} FOR UPDATE SKIP LOCKED), \
         whole AS (SELECT count(*) = cardinality($2::UUID[]) AS complete FROM locked) \
         UPDATE tasks SET status = 'assigned', assignee = wanted.want_agent, \
           lease_fence = wanted.want_fence, lease_expires_at = $4, \
           cancel_requested = FALSE, claim_keys = $5, due_at = NULL, pending_since = NULL, \
           updated_at = $1 \
         FROM wanted, whole \
         WHERE id = wanted.want_id AND whole.complete AND id IN (SELECT locked_id FROM locked) \
         RETURNING {COLUMNS}, wanted.want_n",
        due = rows::DUE
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(now)
        .bind(ids)
        .bind(&agents)
        .bind(expires_at)
        .bind(&claimant.keys)
        .fetch_all(conn)
        .await
        .db("lease the picked tasks")?;
    if rows.len() < ids.len() {
        return Ok(None);
    }
    let mut leased = Vec::with_capacity(rows.len());
    for row in &rows {
        let n: i64 = row.try_get("want_n").db("read a lease's place")?;
        leased.push((n, lease_of(row, expires_at, now)?));
    }
    leased.sort_unstable_by_key(|(n, _)| *n);
    Ok(Some(leased.into_iter().map(|(_, lease)| lease).collect()))
}

/// Writes the serves of a claim (`queue_serve_lane`, migration 0003): each lane served
/// advances by its stride per task from its current pass (or from where this claim first
/// served it, if that is further on), and the level's virtual time with it. A lane another
/// claim holds is never waited for: its serves are left owed, for the next claim to fold in.
async fn write_stride(conn: &mut PgConnection, stride: &Stride) -> Result<(), Fault> {
    let mut served: Vec<(&(String, usize), &Served)> = stride.served.iter().collect();
    served.sort_unstable_by(|a, b| a.0.cmp(b.0));
    for ((tenant, level), served) in served {
        sqlx::query("SELECT queue_serve_lane($1, $2, $3, $4, $5)")
            .bind(tenant)
            .bind(i16::try_from(*level).unwrap_or(3))
            .bind(served.first)
            .bind(served.count)
            .bind(served.stride)
            .execute(&mut *conn)
            .await
            .db("advance a tenant's pass")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_hand_out_leases_to_claimants_in_turn() {
        let (a, b, c) = (
            AgentId::parse("a").unwrap(),
            AgentId::parse("b").unwrap(),
            AgentId::parse("c").unwrap(),
        );
        let slots = Slots::new([(&a, 2), (&b, 0), (&c, 1)]);
        assert_eq!(slots.len(), 3);
        let owners: Vec<usize> = (0..3).map(|p| slots.owner(p)).collect();
        assert_eq!(owners, [0, 0, 2]);
        let agents: Vec<&str> = (0..3).map(|p| slots.agent(p).as_str()).collect();
        assert_eq!(agents, ["a", "a", "c"]);
        assert_eq!(Slots::new([(&a, usize::MAX), (&b, 5)]).len(), usize::MAX);
    }
}
