-- The security audit log (`godel_engine::access::AuditLog`, PRD SR-7): authentication and
-- authorization failures and admin actions, append-only and idempotent by id. Ids are
-- time-ordered UUIDs (v7), so id order is the order entries were made in; listings are newest
-- first (`ORDER BY id DESC`), paged by `id < before`.
--
-- Same conventions as 0001: typed columns for what is filtered or sorted on, the whole entry
-- as JSON in `record` (what reads decode), times as unix nanoseconds, STRICT. The listing of
-- every tenant walks the primary key backwards; the listing of one tenant walks
-- `audit_log_by_tenant`.
CREATE TABLE audit_log (
    id        TEXT    NOT NULL PRIMARY KEY,            -- UUID (v7), the AuditId
    tenant_id TEXT,                                    -- NULL when no credential was accepted
    at        INTEGER NOT NULL,
    record    TEXT    NOT NULL                         -- AuditEntry as JSON
) STRICT;

CREATE INDEX audit_log_by_tenant ON audit_log (tenant_id, id);
