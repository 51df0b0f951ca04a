-- The access records of the API (godel-postgres `PgAuditLog`, `PgApiKeyStore`): the security
-- audit log, and the authentication path of the API keys of 0001.
--
-- Audit log (`godel_engine::access::AuditLog`, PRD SR-7): authentication and authorization
-- failures and admin actions, append-only and idempotent by id (`ON CONFLICT (id) DO NOTHING`).
-- Ids are time-ordered UUIDs (v7), so id order is the order entries were made in; listings are
-- newest first (`ORDER BY id DESC`), paged by `id < before`. `record` is the whole entry (its
-- JSON form, what reads decode). `tenant_id` is NULL when no credential was accepted (a failed
-- login, an unknown key). Row-level security as on `events`: a tenant's transaction sees only
-- its rows; the owning service role bypasses it (RLS is enabled, not forced), so the listing of
-- every tenant, tenant-less entries included, and appends of mixed batches run as the owner.
-- The all-tenants listing walks the primary key backwards; one tenant's walks the tenant index.
CREATE TABLE audit_log (
    id              UUID PRIMARY KEY,
    tenant_id       TEXT,
    at              TIMESTAMPTZ NOT NULL,
    record          JSONB NOT NULL
);
CREATE INDEX audit_log_tenant_idx ON audit_log (tenant_id, id);

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_log
    USING (tenant_id = current_setting('app.current_tenant', true))
    WITH CHECK (tenant_id = current_setting('app.current_tenant', true));

-- Looking a key up by its hash is how a request is authenticated, so it happens before any
-- tenant is known: no `app.current_tenant` can be set for it. The owning service role bypasses
-- row-level security (enabled, not forced), so a plain `SELECT ... WHERE hash = $1` would work
-- for it, but would find nothing for any other role, and the obvious fixes are unsafe: a
-- permissive policy (`USING (true)` for reads) would show every tenant's keys to every tenant,
-- and setting the tenant from the row found would trust the row to choose its own scope.
--
-- Instead the two steps of authentication are SECURITY DEFINER functions, owned (like the
-- tables) by the role that runs the migrations: `api_key_by_hash` returns the one key whose
-- SHA-256 is given (presenting the hash is as good as presenting the key, so it discloses
-- nothing the caller does not hold; there is no way to enumerate), and `api_key_touch` records
-- a key's last use. Everything else on `api_keys` (create, list, revoke) runs in a transaction
-- of the tenant, under the policy. The bodies are SQL-standard (BEGIN ATOMIC, PostgreSQL 14+):
-- their tables and operators are bound when the function is created, and `search_path` is
-- pinned, so a caller's search path cannot redirect them. EXECUTE is revoked from PUBLIC: the
-- owner keeps it; a non-owner service role must be granted it explicitly. Were RLS ever FORCEd
-- on `api_keys`, these functions would see no rows (authentication fails closed).
CREATE FUNCTION api_key_by_hash(p_hash BYTEA)
RETURNS TABLE (id UUID, tenant_id TEXT, name TEXT, role TEXT, prefix TEXT, hash BYTEA,
               created_at TIMESTAMPTZ, last_used_at TIMESTAMPTZ, revoked_at TIMESTAMPTZ)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT k.id, k.tenant_id, k.name, k.role, k.prefix, k.hash,
           k.created_at, k.last_used_at, k.revoked_at
    FROM api_keys k
    WHERE k.hash = p_hash;
END;

CREATE FUNCTION api_key_touch(p_id UUID, p_at TIMESTAMPTZ)
RETURNS VOID
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    UPDATE api_keys SET last_used_at = p_at WHERE id = p_id;
END;

REVOKE ALL ON FUNCTION api_key_by_hash(BYTEA) FROM PUBLIC;
REVOKE ALL ON FUNCTION api_key_touch(UUID, TIMESTAMPTZ) FROM PUBLIC;
