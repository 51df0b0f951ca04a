//! Row-level security confines every role but the owner to the tenant of its transaction
//! (`app.current_tenant`, set by `begin_for_tenant`): another tenant's rows are invisible and
//! untouchable, and no row of another tenant can be written. Every table with a `tenant_id`
//! column has the policy, so a new table cannot forget it.
//!
//! The non-owner is a role made for each test (LOGIN, no BYPASSRLS) with read and write grants
//! on every table; the tests act as it with `SET LOCAL ROLE` inside a transaction of the owner.

use godel_postgres::repos::begin_for_tenant;
use godel_postgres::testing::TestDatabase;
use godel_types::TenantId;
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool, Postgres, Transaction};

/// One row of each tenant-scoped table of the core schema, for the tenant bound as `$1`.
const ROWS: &[(&str, &str)] = &[
    (
        "users",
        "INSERT INTO users (id, tenant_id, email) \
         VALUES (gen_random_uuid(), $1, gen_random_uuid()::text || '@example.test')",
    ),
    (
        "api_keys",
        "INSERT INTO api_keys (id, tenant_id, name, role, prefix, hash) \
         VALUES (gen_random_uuid(), $1, 'ci', 'developer', 'gdl_', \
                 sha256(convert_to(gen_random_uuid()::text, 'UTF8')))",
    ),
    (
        "sessions",
        "INSERT INTO sessions (id, tenant_id, agent_id, instance_id, state, version, record) \
         VALUES (gen_random_uuid(), $1, 'a1', gen_random_uuid(), 'created', 0, '{}')",
    ),
    (
        "checkpoints",
        "INSERT INTO checkpoints (id, tenant_id, session_id, created_at, record) \
         VALUES (gen_random_uuid(), $1, gen_random_uuid(), now(), '{}')",
    ),
    (
        "events",
        "INSERT INTO events (id, tenant_id, name, at, record) \
         VALUES (gen_random_uuid(), $1, 'task.created', now(), '{}')",
    ),
    (
        "audit_log",
        "INSERT INTO audit_log (id, tenant_id, at, record) \
         VALUES (gen_random_uuid(), $1, now(), '{}')",
    ),
    (
        "task_context",
        "INSERT INTO task_context (task_id, tenant_id) VALUES (gen_random_uuid(), $1)",
    ),
    (
        // A run of a task the writer can see (its own tenant's, under row-level security).
        "task_runs",
        "INSERT INTO task_runs \
         (task_id, run_id, tenant_id, attempt, agent_id, instance_id, session_id, started_at) \
         SELECT task_id, gen_random_uuid()::text, $1, 1, 'a1', gen_random_uuid(), \
                gen_random_uuid(), now() \
         FROM task_context ORDER BY tenant_id = $1 DESC LIMIT 1",
    ),
];

/// A database holding one row of every tenant-scoped table for tenants `a` and `b`, and a
/// non-owner role allowed to read and write every table.
struct Fixture {
    pool: PgPool,
    role: Role,
    _database: TestDatabase,
}

impl Fixture {
    /// `None` (the test skips) when Postgres is unreachable and live tests may skip.
    async fn create() -> Option<Self> {
        let database = TestDatabase::create().await?;
        let pool = database.pool(2).await;
        let role = Role::create(&pool, database.url()).await;
        for (_, insert) in ROWS {
            for tenant in ["a", "b"] {
                sqlx::query(*insert)
                    .bind(tenant)
                    .execute(&pool)
                    .await
                    .expect("the owner inserts a row");
            }
        }
        Some(Self {
            pool,
            role,
            _database: database,
        })
    }

    /// A transaction acting as the non-owner role for `tenant`.
    async fn as_tenant(&self, tenant: &str) -> Transaction<'static, Postgres> {
        let tenant = TenantId::parse(tenant).expect("tenant id");
        let mut tx = begin_for_tenant(&self.pool, &tenant)
            .await
            .expect("begin for the tenant");
        self.role.assume(&mut tx).await;
        tx
    }

    /// A transaction acting as the non-owner role with no tenant set.
    async fn as_nobody(&self) -> Transaction<'static, Postgres> {
        let mut tx = self.pool.begin().await.expect("begin");
        self.role.assume(&mut tx).await;
        tx
    }

    /// How many rows of `tenant` the owner sees in `table`.
    async fn owner_count(&self, table: &str, tenant: &str) -> i64 {
        count(&self.pool, table, "tenant_id = $1", tenant).await
    }
}

/// A login role without BYPASSRLS, dropped (with its grants) when the test ends.
struct Role {
    name: String,
    database_url: String,
}

impl Role {
    async fn create(pool: &PgPool, database_url: &str) -> Self {
        // The name is generated (`godel_rls_<pid>_<n>_<nanos>`), never taken from input.
        let name = godel_test_support::live::unique_name("godel_rls");
        for sql in [
            format!("CREATE ROLE {name} LOGIN NOSUPERUSER NOBYPASSRLS"),
            format!(
                "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {name}"
            ),
            format!("GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {name}"),
        ] {
            sqlx::query(AssertSqlSafe(sql))
                .execute(pool)
                .await
                .expect("set up the non-owner role");
        }
        Self {
            name,
            database_url: database_url.to_owned(),
        }
    }

    /// Makes the rest of `tx` run as this role.
    async fn assume(&self, tx: &mut Transaction<'static, Postgres>) {
        sqlx::query(AssertSqlSafe(format!("SET LOCAL ROLE {}", self.name)))
            .execute(&mut **tx)
            .await
            .expect("assume the non-owner role");
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        let url = self.database_url.clone();
        let name = self.name.clone();
        // Like `TestDatabase`'s drop: a runtime of its own on a thread. The role's grants live
        // in the test database, so they go first; a failure leaves a stray role, nothing worse.
        let dropper = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                runtime.block_on(async {
                    if let Ok(mut conn) = PgConnection::connect(&url).await {
                        for sql in [
                            format!("DROP OWNED BY {name}"),
                            format!("DROP ROLE IF EXISTS {name}"),
                        ] {
                            sqlx::query(AssertSqlSafe(sql))
                                .execute(&mut conn)
                                .await
                                .ok();
                        }
                        conn.close().await.ok();
                    }
                });
            }
        });
        dropper.join().ok();
    }
}

/// `SELECT count(*) FROM <table> WHERE <condition>` with `tenant` bound as `$1`.
async fn count<'c, E>(executor: E, table: &str, condition: &str, tenant: &str) -> i64
where
    E: sqlx::Executor<'c, Database = Postgres>,
{
    // `table` and `condition` come from this file's constants, never from input.
    sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT count(*) FROM {table} WHERE {condition}"
    )))
    .bind(tenant)
    .fetch_one(executor)
    .await
    .expect("count rows")
}

/// Whether `result` is Postgres refusing the row for row-level security (SQLSTATE 42501).
fn refused_by_policy<T: std::fmt::Debug>(result: Result<T, sqlx::Error>) -> bool {
    match result {
        Err(err) => err
            .as_database_error()
            .and_then(|db| db.code())
            .is_some_and(|code| code == "42501"),
        Ok(done) => panic!("expected a refusal, got {done:?}"),
    }
}

#[tokio::test]
async fn another_tenants_rows_are_invisible() {
    let Some(fixture) = Fixture::create().await else {
        return;
    };
    for (table, _) in ROWS {
        let mut tx = fixture.as_tenant("b").await;
        assert_eq!(
            count(&mut *tx, table, "tenant_id = $1", "a").await,
            0,
            "{table}: tenant b reads a row of tenant a"
        );
        assert_eq!(
            count(&mut *tx, table, "tenant_id <> $1", "b").await,
            0,
            "{table}: tenant b sees rows of other tenants"
        );
        assert_eq!(
            count(&mut *tx, table, "tenant_id = $1", "b").await,
            1,
            "{table}: tenant b does not see its own row"
        );
        tx.rollback().await.expect("rollback");
    }
}

#[tokio::test]
async fn another_tenants_rows_cannot_be_updated_or_deleted() {
    let Some(fixture) = Fixture::create().await else {
        return;
    };
    for (table, _) in ROWS {
        let mut tx = fixture.as_tenant("b").await;
        let updated = sqlx::query(AssertSqlSafe(format!(
            "UPDATE {table} SET tenant_id = tenant_id WHERE tenant_id = 'a'"
        )))
        .execute(&mut *tx)
        .await
        .expect("update");
        assert_eq!(
            updated.rows_affected(),
            0,
            "{table}: tenant b updated a's row"
        );
        let deleted = sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE tenant_id = 'a'"
        )))
        .execute(&mut *tx)
        .await
        .expect("delete");
        assert_eq!(
            deleted.rows_affected(),
            0,
            "{table}: tenant b deleted a's row"
        );
        tx.commit().await.expect("commit");
        assert_eq!(
            fixture.owner_count(table, "a").await,
            1,
            "{table}: a's row is intact"
        );
    }
}

#[tokio::test]
async fn a_row_of_another_tenant_cannot_be_written() {
    let Some(fixture) = Fixture::create().await else {
        return;
    };
    for (table, insert) in ROWS {
        let mut tx = fixture.as_tenant("b").await;
        let inserted = sqlx::query(*insert).bind("a").execute(&mut *tx).await;
        assert!(
            refused_by_policy(inserted),
            "{table}: tenant b inserted a row for tenant a"
        );
        tx.rollback().await.expect("rollback");

        let mut tx = fixture.as_tenant("b").await;
        let moved = sqlx::query(AssertSqlSafe(format!(
            "UPDATE {table} SET tenant_id = 'a' WHERE tenant_id = 'b'"
        )))
        .execute(&mut *tx)
        .await;
        assert!(
            refused_by_policy(moved),
            "{table}: tenant b gave its row to tenant a"
        );
        tx.rollback().await.expect("rollback");
        assert_eq!(fixture.owner_count(table, "a").await, 1, "{table}");
    }
}

#[tokio::test]
async fn a_tenant_sees_and_changes_its_own_rows() {
    let Some(fixture) = Fixture::create().await else {
        return;
    };
    for (table, insert) in ROWS {
        let mut tx = fixture.as_tenant("a").await;
        assert_eq!(
            count(&mut *tx, table, "tenant_id = $1", "a").await,
            1,
            "{table}: tenant a does not see its row"
        );
        sqlx::query(*insert)
            .bind("a")
            .execute(&mut *tx)
            .await
            .unwrap_or_else(|e| panic!("{table}: tenant a cannot insert its own row: {e}"));
        let deleted = sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE tenant_id = 'a'"
        )))
        .execute(&mut *tx)
        .await
        .expect("delete");
        // task_context's delete also removes the tenant's runs (ON DELETE CASCADE).
        assert_eq!(deleted.rows_affected(), 2, "{table}: tenant a's rows");
        tx.rollback().await.expect("rollback");
    }
}

#[tokio::test]
async fn without_a_tenant_a_role_sees_no_tenant_rows() {
    let Some(fixture) = Fixture::create().await else {
        return;
    };
    for (table, _) in ROWS {
        let mut tx = fixture.as_nobody().await;
        assert_eq!(
            count(&mut *tx, table, "$1 = $1", "any").await,
            0,
            "{table}: rows visible with no tenant set"
        );
        tx.rollback().await.expect("rollback");
    }
}

#[tokio::test]
async fn the_tenant_setting_ends_with_its_transaction() {
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    let pool = database.pool(1).await;
    let tenant = TenantId::parse("a").expect("tenant id");
    let current = "SELECT current_setting('app.current_tenant', true)";
    let mut tx = begin_for_tenant(&pool, &tenant).await.expect("begin");
    let inside: Option<String> = sqlx::query_scalar(current)
        .fetch_one(&mut *tx)
        .await
        .expect("read the setting");
    assert_eq!(inside.as_deref(), Some("a"));
    tx.commit().await.expect("commit");
    // The pool has one connection: the same one, now outside the transaction.
    let after: Option<String> = sqlx::query_scalar(current)
        .fetch_one(&pool)
        .await
        .expect("read the setting");
    assert!(
        after.unwrap_or_default().is_empty(),
        "the tenant outlived its transaction"
    );
}

#[tokio::test]
async fn every_table_with_a_tenant_column_has_the_isolation_policy() {
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    let pool = database.pool(1).await;
    let tables: Vec<(String, bool, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT c.relname::text, c.relrowsecurity, p.qual, p.with_check \
         FROM information_schema.columns col \
         JOIN pg_class c ON c.relname = col.table_name \
         JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = col.table_schema \
         LEFT JOIN pg_policies p \
                ON p.schemaname = n.nspname AND p.tablename = c.relname \
               AND p.policyname = 'tenant_isolation' \
         WHERE col.table_schema = 'public' AND col.column_name = 'tenant_id' \
           AND c.relkind IN ('r', 'p') \
         ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .expect("read the catalog");
    let names: Vec<&str> = tables.iter().map(|t| t.0.as_str()).collect();
    for (table, _) in ROWS {
        assert!(names.contains(table), "{table} has no tenant_id column");
    }
    let setting = "tenant_id = current_setting('app.current_tenant'::text, true)";
    for (table, rls, using, check) in &tables {
        assert!(
            rls,
            "{table} has a tenant_id column but row-level security is off"
        );
        for (clause, expression) in [("USING", using), ("WITH CHECK", check)] {
            assert!(
                expression.as_deref().is_some_and(|e| e.contains(setting)),
                "{table}: policy tenant_isolation {clause} is {expression:?}, expected {setting}"
            );
        }
    }
}
