-- Godel core schema (PRD 11.1, extended for the design): tenants, users and API keys, the
-- fleet (agents, OpenClaw instances), sessions, checkpoints, the audit trail, and what Godel
-- keeps about a task beyond its queue record (task_context, task_runs). The queue's own tables
-- (tasks, queue_*) are created by 0002_queue.sql.
--
-- Tenants appear implicitly: no table has a foreign key to `tenants`.
--
-- Row-level security: every tenant-scoped table has `tenant_id` and the policy
-- `tenant_isolation`, matching `app.current_tenant` (set per transaction with
-- `SELECT set_config('app.current_tenant', $1, true)`, see `godel_postgres::repos`). RLS is
-- enabled, not forced: the owning service role bypasses it and also filters by tenant in every
-- query; any other role is confined to the tenant of its transaction.
--
-- Text ids that are sorted (agents) use COLLATE "C", so the order is the byte order Rust uses.

-- Tenants: the isolation boundary and unit of fair sharing (fleet-wide administrative data).
CREATE TABLE tenants (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    weight          INTEGER NOT NULL DEFAULT 1 CHECK (weight >= 1),
    max_queued      BIGINT CHECK (max_queued >= 0),
    max_running     INTEGER CHECK (max_running >= 0),
    max_sessions    INTEGER CHECK (max_sessions >= 0),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Users of the API and dashboard.
CREATE TABLE users (
    id              UUID PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    email           TEXT NOT NULL UNIQUE,
    password_hash   TEXT,
    role            TEXT NOT NULL DEFAULT 'viewer'
                    CHECK (role IN ('admin', 'operator', 'developer', 'viewer')),
    last_login      TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX users_tenant_idx ON users (tenant_id);

-- API keys: only the SHA-256 of the secret is kept; `prefix` lets a user recognise a key.
CREATE TABLE api_keys (
    id              UUID PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    name            TEXT NOT NULL,
    role            TEXT NOT NULL
                    CHECK (role IN ('admin', 'operator', 'developer', 'viewer')),
    prefix          TEXT NOT NULL,
    hash            BYTEA NOT NULL UNIQUE CHECK (octet_length(hash) = 32),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at    TIMESTAMPTZ,
    revoked_at      TIMESTAMPTZ
);
CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id);

-- Agents (AgentRepository): fleet-wide, they serve every tenant from the shared pool.
-- `record` is the whole AgentRecord (serde JSON); the columns are what queries filter on.
CREATE TABLE agents (
    id              TEXT COLLATE "C" PRIMARY KEY,
    instance_id     UUID NOT NULL,
    record          JSONB NOT NULL
);
CREATE INDEX agents_instance_idx ON agents (instance_id, id);

-- OpenClaw instances (InstanceStore): fleet-wide. `record` is the Instance without its token
-- (serde never writes it); the token is kept in its own column and never logged.
-- `endpoint_key` is the endpoint in the form duplicates are detected by.
CREATE TABLE openclaw_instances (
    id              UUID PRIMARY KEY,
    endpoint_key    TEXT NOT NULL UNIQUE,
    registered_at   TIMESTAMPTZ NOT NULL,
    token           TEXT,
    record          JSONB NOT NULL
);
CREATE INDEX openclaw_instances_registered_idx ON openclaw_instances (registered_at, id);

-- Sessions (SessionRepository): `record` is the whole SessionRecord; `version` is the
-- optimistic-concurrency check of updates.
CREATE TABLE sessions (
    id              UUID PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    agent_id        TEXT NOT NULL,
    instance_id     UUID NOT NULL,
    team_id         UUID,
    state           TEXT NOT NULL CHECK (state IN (
                        'created', 'initializing', 'ready', 'running', 'paused', 'migrating',
                        'completing', 'completed', 'failed', 'cancelled', 'timeout', 'error')),
    version         BIGINT NOT NULL,
    record          JSONB NOT NULL
);
CREATE INDEX sessions_tenant_idx ON sessions (tenant_id, id);
CREATE INDEX sessions_agent_idx ON sessions (agent_id, id);
CREATE INDEX sessions_instance_idx ON sessions (instance_id, id);
CREATE INDEX sessions_team_idx ON sessions (team_id, id) WHERE team_id IS NOT NULL;
CREATE INDEX sessions_state_idx ON sessions (state, id);
CREATE INDEX sessions_open_idx ON sessions (id)
    WHERE state NOT IN ('completed', 'failed', 'cancelled', 'timeout', 'error');

-- Session checkpoints (CheckpointStore): names are unique within a session.
CREATE TABLE checkpoints (
    id              UUID PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    session_id      UUID NOT NULL,
    name            TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    record          JSONB NOT NULL
);
CREATE INDEX checkpoints_session_idx ON checkpoints (tenant_id, session_id, created_at, id);
CREATE UNIQUE INDEX checkpoints_name_idx ON checkpoints (tenant_id, session_id, name)
    WHERE name IS NOT NULL;

-- The audit trail (EventLog): append-only, idempotent by event id. `tenant_id` is NULL for
-- fleet-wide events (agents, instances, system): those are visible to the owner role only.
-- `task_id` is set for task.* events. `record` is the event's JSON form.
CREATE TABLE events (
    id              UUID PRIMARY KEY,
    tenant_id       TEXT,
    task_id         UUID,
    name            TEXT NOT NULL,
    at              TIMESTAMPTZ NOT NULL,
    record          JSONB NOT NULL
);
CREATE INDEX events_tenant_idx ON events (tenant_id, id);
CREATE INDEX events_task_idx ON events (task_id, id) WHERE task_id IS NOT NULL;
CREATE INDEX events_name_idx ON events (name, id);

-- What Godel keeps about a task beyond its queue record (TaskRepository).
CREATE TABLE task_context (
    task_id         UUID PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    session_id      UUID,
    team_id         UUID,
    timeout_secs    BIGINT CHECK (timeout_secs >= 0),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX task_context_tenant_idx ON task_context (tenant_id);

-- The runs of a task on gateways, in the order they were added (`seq`).
CREATE TABLE task_runs (
    task_id         UUID NOT NULL REFERENCES task_context (task_id) ON DELETE CASCADE,
    run_id          TEXT NOT NULL,
    seq             BIGINT GENERATED ALWAYS AS IDENTITY,
    tenant_id       TEXT NOT NULL,
    attempt         BIGINT NOT NULL CHECK (attempt >= 0),
    agent_id        TEXT NOT NULL,
    instance_id     UUID NOT NULL,
    session_id      UUID NOT NULL,
    started_at      TIMESTAMPTZ NOT NULL,
    ended_at        TIMESTAMPTZ,
    outcome         JSONB,
    PRIMARY KEY (task_id, run_id)
);
CREATE INDEX task_runs_order_idx ON task_runs (task_id, seq);

-- Row-level security on every tenant-scoped table.
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON users
    USING (tenant_id = current_setting('app.current_tenant', true))
    WITH CHECK (tenant_id = current_setting('app.current_tenant', true));

ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_keys
    USING (tenant_id = current_setting('app.current_tenant', true))
    WITH CHECK (tenant_id = current_setting('app.current_tenant', true));

ALTER TABLE sessions ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sessions
    USING (tenant_id = current_setting('app.current_tenant', true))
    WITH CHECK (tenant_id = current_setting('app.current_tenant', true));

ALTER TABLE checkpoints ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON checkpoints
    USING (tenant_id = current_setting('app.current_tenant', true))
    WITH CHECK (tenant_id = current_setting('app.current_tenant', true));

ALTER TABLE events ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON events
    USING (tenant_id = current_setting('app.current_tenant', true))
    WITH CHECK (tenant_id = current_setting('app.current_tenant', true));

ALTER TABLE task_context ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON task_context
    USING (tenant_id = current_setting('app.current_tenant', true))
    WITH CHECK (tenant_id = current_setting('app.current_tenant', true));

ALTER TABLE task_runs ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON task_runs
    USING (tenant_id = current_setting('app.current_tenant', true))
    WITH CHECK (tenant_id = current_setting('app.current_tenant', true));
