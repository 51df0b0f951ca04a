-- The queue of the embedded store: the durable copy of the in-memory queue (godel-sqlite's
-- SqliteQueueStore writes every change here, group-committed, before it answers).

-- One row per task that is not purged. `record` is the task as the queue keeps it (JSON); the
-- columns beside it are for operators reading the file and for the indexes below.
CREATE TABLE queue_tasks (
    id          TEXT PRIMARY KEY NOT NULL,
    tenant_id   TEXT NOT NULL,
    status      TEXT NOT NULL,
    priority    TEXT NOT NULL,
    seq         INTEGER NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    record      TEXT NOT NULL
) STRICT;

CREATE INDEX queue_tasks_by_tenant_status ON queue_tasks (tenant_id, status, seq);
CREATE INDEX queue_tasks_by_status ON queue_tasks (status, seq);

-- Tenant policies (weight, max queued) set through the queue.
CREATE TABLE queue_tenant_policies (
    tenant_id TEXT PRIMARY KEY NOT NULL,
    policy    TEXT NOT NULL
) STRICT;

-- Limits by key (max running, start rate).
CREATE TABLE queue_limits (
    limit_key TEXT PRIMARY KEY NOT NULL,
    setting   TEXT NOT NULL
) STRICT;

-- The queue's high-water marks (one row): the next enqueue position and the last fence.
CREATE TABLE queue_counters (
    id         INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    next_seq   INTEGER NOT NULL,
    last_fence INTEGER NOT NULL
) STRICT;
