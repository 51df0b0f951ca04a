-- The task queue (godel-postgres `PgQueueStore`): tasks, fair-share state, limits and counters.
--
-- Times are always bound by the store from its injected clock; nothing here reads now().
-- Tenant-scoped tables carry row-level security on `app.current_tenant` (not FORCEd: the owning
-- service role, which claims across tenants, bypasses it; other roles are confined).

-- Enqueue order (TaskRecord::seq, from 0), lease fences (from 1) and tenant first-seen order.
CREATE SEQUENCE queue_seq MINVALUE 0 START 0;
CREATE SEQUENCE queue_fence MINVALUE 1 START 1;
CREATE SEQUENCE queue_tenant_ordinal MINVALUE 0 START 0;

CREATE TABLE tasks (
    id               UUID PRIMARY KEY,
    tenant_id        TEXT NOT NULL,
    -- Priority::rank: 0 critical, 1 high, 2 medium, 3 low.
    priority         SMALLINT NOT NULL CHECK (priority BETWEEN 0 AND 3),
    status           TEXT NOT NULL CHECK (status IN ('pending', 'blocked', 'scheduled', 'assigned',
                         'running', 'completed', 'failed', 'cancelled', 'dead_letter')),
    payload          JSONB NOT NULL,
    capabilities     TEXT[] NOT NULL DEFAULT '{}',
    limit_keys       TEXT[] NOT NULL DEFAULT '{}',
    -- The tenant key and the task's limit keys: what a lease counts under.
    all_keys         TEXT[] NOT NULL,
    -- The claimant's keys, while leased.
    claim_keys       TEXT[] NOT NULL DEFAULT '{}',
    attempt_count    INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL CHECK (max_attempts >= 1),
    seq              BIGINT NOT NULL UNIQUE,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    scheduled_at     TIMESTAMPTZ,
    due_at           TIMESTAMPTZ,
    -- When it last became pending (aging counts from here).
    pending_since    TIMESTAMPTZ,
    started_at       TIMESTAMPTZ,
    finished_at      TIMESTAMPTZ,
    dead_lettered_at TIMESTAMPTZ,
    assignee         TEXT,
    lease_fence      BIGINT,
    lease_expires_at TIMESTAMPTZ,
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    last_error       TEXT,
    result           JSONB,
    depends_on       UUID[] NOT NULL DEFAULT '{}',
    parent_id        UUID,
    idempotency_key  TEXT,
    group_id         UUID
);

-- Claims: due work by level, tenant and FIFO position.
CREATE INDEX tasks_pending_idx ON tasks (priority, tenant_id, seq) WHERE status = 'pending';
-- Delayed and backing-off tasks by due time (claims, promote_due).
CREATE INDEX tasks_timer_idx ON tasks (due_at) WHERE status IN ('scheduled', 'failed');
-- Leases by expiry (reap_expired) and by holder (load, fail_over).
CREATE INDEX tasks_lease_idx ON tasks (lease_expires_at, id) WHERE status IN ('assigned', 'running');
CREATE INDEX tasks_assignee_idx ON tasks (assignee) WHERE status IN ('assigned', 'running');
-- Running counts per limit key.
CREATE INDEX tasks_leased_keys_idx ON tasks USING GIN (all_keys)
    WHERE status IN ('assigned', 'running');
CREATE INDEX tasks_claim_keys_idx ON tasks USING GIN (claim_keys)
    WHERE status IN ('assigned', 'running');
-- Idempotency keys, per tenant.
CREATE UNIQUE INDEX tasks_idempotency_idx ON tasks (tenant_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
-- Queue bounds and tenant listings.
CREATE INDEX tasks_tenant_status_idx ON tasks (tenant_id, status);
CREATE INDEX tasks_tenant_seq_idx ON tasks (tenant_id, seq);
-- Group listings.
CREATE INDEX tasks_group_idx ON tasks (group_id, seq) WHERE group_id IS NOT NULL;
-- Dead letters in (dead_lettered_at, id) order; finished tasks by finish time (purge).
CREATE INDEX tasks_dead_letter_idx ON tasks (dead_lettered_at, id) WHERE status = 'dead_letter';
CREATE INDEX tasks_finished_idx ON tasks (finished_at) WHERE status IN ('completed', 'cancelled');
-- Dependents still blocked on a task.
CREATE INDEX tasks_blocked_on_idx ON tasks USING GIN (depends_on) WHERE status = 'blocked';

ALTER TABLE tasks ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tasks
    USING (tenant_id = current_setting('app.current_tenant', true))
    WITH CHECK (tenant_id = current_setting('app.current_tenant', true));

-- Every tenant the queue has seen: first-seen order (ties of the fair order), weight and bound.
CREATE TABLE queue_tenant_policies (
    tenant_id  TEXT PRIMARY KEY,
    ordinal    BIGINT NOT NULL DEFAULT nextval('queue_tenant_ordinal'),
    weight     INTEGER NOT NULL DEFAULT 1 CHECK (weight BETWEEN 1 AND 1000000),
    max_queued BIGINT
);

ALTER TABLE queue_tenant_policies ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON queue_tenant_policies
    USING (tenant_id = current_setting('app.current_tenant', true))
    WITH CHECK (tenant_id = current_setting('app.current_tenant', true));

-- Stride scheduling: each tenant's pass per level (0 critical .. 3 low), and the pass it was
-- last served at. A claim locks the lane it serves with SKIP LOCKED: a lane another claimer is
-- serving is passed over, never waited for. Rows are made with the tenant (all four levels).
CREATE TABLE queue_lanes (
    tenant_id   TEXT NOT NULL,
    level       SMALLINT NOT NULL CHECK (level BETWEEN 0 AND 3),
    pass        BIGINT NOT NULL DEFAULT 0,
    served_pass BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, level)
);

ALTER TABLE queue_lanes ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON queue_lanes
    USING (tenant_id = current_setting('app.current_tenant', true))
    WITH CHECK (tenant_id = current_setting('app.current_tenant', true));

-- Each level's virtual time: the largest pass served there (no tenant is served from behind
-- it, so one that becomes active gets no burst). Derived from the lanes, so claims never
-- contend on a per-level row.
CREATE VIEW queue_levels AS
    SELECT level, max(served_pass) AS virtual_time FROM queue_lanes GROUP BY level;

-- Limits by key (set_limit): concurrency and a token bucket. Running counts are derived from
-- the leased tasks (all_keys, claim_keys).
CREATE TABLE queue_limits (
    key             TEXT PRIMARY KEY,
    max_running     INTEGER CHECK (max_running >= 0),
    rate_per_second DOUBLE PRECISION CHECK (rate_per_second > 0),
    burst           INTEGER CHECK (burst >= 1),
    tokens          DOUBLE PRECISION NOT NULL DEFAULT 0,
    refilled_at     TIMESTAMPTZ NOT NULL
);

-- Counters (QueueStats), sharded: a transaction adds to the first shard no other holds.
CREATE TABLE queue_stats (
    shard           SMALLINT PRIMARY KEY,
    enqueued        BIGINT NOT NULL DEFAULT 0,
    claimed         BIGINT NOT NULL DEFAULT 0,
    completed       BIGINT NOT NULL DEFAULT 0,
    failed_attempts BIGINT NOT NULL DEFAULT 0,
    dead_lettered   BIGINT NOT NULL DEFAULT 0,
    throttled       BIGINT NOT NULL DEFAULT 0
);
INSERT INTO queue_stats (shard) SELECT generate_series(0, 63);
