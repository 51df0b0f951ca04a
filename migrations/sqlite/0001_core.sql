-- Godel's core tables on SQLite: the SQLite mirror of the Postgres core schema (PRD 11.1).
-- The queue's tables (`tasks`, `queue_*`) come in 0002.
--
-- Conventions:
-- - UUID ids are stored as lowercase hyphenated TEXT: they compare (and sort) like the UUIDs
--   themselves, so `ORDER BY id` is the ids' order. Tenant and agent ids are their names.
-- - Times are INTEGER unix nanoseconds (UTC); a time beyond what i64 holds (after 2262) is
--   clamped, which only affects ordering: the exact value is in `record`.
-- - Repository tables keep a typed column for everything filtered, sorted or constrained on,
--   plus `record`: the whole record as JSON, which is what reads decode. Typed columns are
--   written from the same record in the same statement, so they never disagree with it.
-- - There are no foreign keys between the repository tables: each port stands alone (a session
--   may be stored before its agent, a checkpoint before its session), and the engine keeps
--   them consistent. `task_runs` belongs to `task_context` and goes with it.
-- - Every table is STRICT; each index serves a query of `godel_sqlite::repos`.

CREATE TABLE tenants (
    id           TEXT    NOT NULL PRIMARY KEY,         -- TenantId, e.g. `acme`
    display_name TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT;

CREATE TABLE users (
    id            TEXT    NOT NULL PRIMARY KEY,        -- UUID
    tenant_id     TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email         TEXT    NOT NULL COLLATE NOCASE UNIQUE,
    password_hash TEXT,
    role          TEXT    NOT NULL DEFAULT 'viewer'
                          CHECK (role IN ('admin', 'operator', 'developer', 'viewer')),
    last_login_at INTEGER,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;

CREATE INDEX users_by_tenant ON users (tenant_id);

-- API keys (PRD SR-2): only the SHA-256 of a key is kept; `prefix` (e.g. `dk_live_ab12`) is
-- shown to operators to tell keys apart.
CREATE TABLE api_keys (
    id           TEXT    NOT NULL PRIMARY KEY,         -- UUID
    tenant_id    TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    role         TEXT    NOT NULL
                         CHECK (role IN ('admin', 'operator', 'developer', 'viewer')),
    prefix       TEXT    NOT NULL,
    hash         BLOB    NOT NULL UNIQUE CHECK (length(hash) = 32),
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
) STRICT;

CREATE INDEX api_keys_by_tenant ON api_keys (tenant_id);

-- AgentRepository. Agents are fleet-wide (they serve every tenant), so there is no tenant.
CREATE TABLE agents (
    id            TEXT    NOT NULL PRIMARY KEY,        -- AgentId
    instance_id   TEXT    NOT NULL,
    status        TEXT    NOT NULL CHECK (status IN ('idle', 'busy', 'offline', 'error')),
    registered_at INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    record        TEXT    NOT NULL                     -- AgentRecord as JSON
) STRICT;

CREATE INDEX agents_by_instance ON agents (instance_id, id);

-- SessionRepository. `version` backs the optimistic check of `update`.
CREATE TABLE sessions (
    id          TEXT    NOT NULL PRIMARY KEY,          -- UUID
    tenant_id   TEXT    NOT NULL,
    agent_id    TEXT    NOT NULL,
    instance_id TEXT    NOT NULL,
    team_id     TEXT,
    state       TEXT    NOT NULL CHECK (state IN ('created', 'initializing', 'ready', 'running',
                                                  'paused', 'migrating', 'completing', 'completed',
                                                  'failed', 'cancelled', 'timeout', 'error')),
    version     INTEGER NOT NULL CHECK (version >= 0),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    record      TEXT    NOT NULL                       -- SessionRecord as JSON
) STRICT;

CREATE INDEX sessions_by_tenant ON sessions (tenant_id, id);
CREATE INDEX sessions_by_agent ON sessions (agent_id, id);
CREATE INDEX sessions_by_instance ON sessions (instance_id, id);
CREATE INDEX sessions_by_team ON sessions (team_id, id) WHERE team_id IS NOT NULL;
CREATE INDEX sessions_by_state ON sessions (state, id);

-- InstanceStore (federation). `endpoint_key` is the endpoint in the form duplicates are
-- detected by (`godel_federation::endpoint_key`); `token` is kept beside the record because
-- the record's JSON leaves the secret out.
CREATE TABLE openclaw_instances (
    id            TEXT    NOT NULL PRIMARY KEY,        -- UUID
    endpoint      TEXT    NOT NULL,
    endpoint_key  TEXT    NOT NULL UNIQUE,
    region        TEXT,
    zone          TEXT,
    health        TEXT    NOT NULL
                          CHECK (health IN ('healthy', 'degraded', 'unhealthy', 'unknown')),
    draining      INTEGER NOT NULL CHECK (draining IN (0, 1)),
    registered_at INTEGER NOT NULL,
    token         TEXT,
    record        TEXT    NOT NULL                     -- Instance as JSON (without the token)
) STRICT;

CREATE INDEX openclaw_instances_by_registration ON openclaw_instances (registered_at, id);

-- EventLog: the audit trail, append-only. Ids are time-ordered, so id order is emission order.
CREATE TABLE events (
    id        TEXT    NOT NULL PRIMARY KEY,            -- UUID (v7)
    tenant_id TEXT,                                    -- NULL for fleet-wide events
    name      TEXT    NOT NULL,                        -- e.g. `task.completed`
    task_id   TEXT,                                    -- set for `task.*` events
    at        INTEGER NOT NULL,
    record    TEXT    NOT NULL                         -- Event as JSON (its wire form)
) STRICT;

CREATE INDEX events_by_tenant ON events (tenant_id, id);
CREATE INDEX events_by_task ON events (task_id, id) WHERE task_id IS NOT NULL;
CREATE INDEX events_by_name ON events (name, id);

-- CheckpointStore. A name is unique within a session; unnamed (automatic) ones are not.
CREATE TABLE checkpoints (
    id         TEXT    NOT NULL PRIMARY KEY,           -- UUID
    tenant_id  TEXT    NOT NULL,
    session_id TEXT    NOT NULL,
    name       TEXT,
    state      TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    record     TEXT    NOT NULL                        -- Checkpoint as JSON
) STRICT;

CREATE INDEX checkpoints_by_session ON checkpoints (tenant_id, session_id, created_at, id);
CREATE UNIQUE INDEX checkpoints_named ON checkpoints (tenant_id, session_id, name)
    WHERE name IS NOT NULL;

-- TaskRepository: what Godel keeps about a task beyond its queue record.
CREATE TABLE task_context (
    task_id    TEXT    NOT NULL PRIMARY KEY,           -- UUID, the queue's task id
    tenant_id  TEXT    NOT NULL,
    session_id TEXT,                                   -- session affinity
    team_id    TEXT,
    timeout_s  INTEGER CHECK (timeout_s >= 0)          -- whole seconds per run
) STRICT;

-- A task's runs; `seq` (the rowid) keeps them in the order they were added.
CREATE TABLE task_runs (
    seq        INTEGER NOT NULL PRIMARY KEY,
    task_id    TEXT    NOT NULL REFERENCES task_context (task_id) ON DELETE CASCADE,
    run_id     TEXT    NOT NULL,                       -- the gateway's run id
    attempt    INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    outcome    TEXT    CHECK (outcome IN ('completed', 'failed', 'timed_out', 'aborted', 'lost')),
    ended_at   INTEGER,                                -- outcome and end are set once, together
    record     TEXT    NOT NULL,                       -- RunRecord as JSON
    UNIQUE (task_id, run_id)
) STRICT;
