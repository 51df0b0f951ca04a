//! The Postgres access stores (API keys, the audit log) pass the access conformance suite,
//! each case on a fresh database of its own (see `support` for how a case skips when Postgres
//! is unreachable); then the authentication path under row-level security: a role that does
//! not own the tables, with no tenant set, finds a key by its hash through `api_key_by_hash`
//! (once granted EXECUTE) but still reads no row of `api_keys` itself.

mod support;

use std::sync::Arc;

use godel_engine::access::ApiKeyStore;
use godel_engine::access::conformance::{api_key, at, hash};
use godel_postgres::repos::{PgApiKeyStore, PgAuditLog};
use godel_postgres::testing::TestDatabase;
use sqlx::{AssertSqlSafe, PgConnection};
use time::OffsetDateTime;
use uuid::Uuid;

use self::support::fresh;

godel_engine::access_conformance! {
    api_keys: fresh!(|pool| Arc::new(PgApiKeyStore::new(pool))),
    audit: fresh!(|pool| Arc::new(PgAuditLog::new(pool))),
}

/// Creates a role that owns nothing and cannot bypass row-level security, allowed to read
/// `api_keys` and, when `execute`, to call the authentication functions; then acts as it for
/// the rest of the transaction. Roles are transactional: rolling back removes it.
async fn assume_non_owner(conn: &mut PgConnection, execute: bool) {
    // The name is generated, never taken from input.
    let name = godel_test_support::live::unique_name("godel_auth");
    let mut statements = vec![
        format!("CREATE ROLE {name} NOLOGIN NOSUPERUSER NOBYPASSRLS"),
        format!("GRANT SELECT, UPDATE ON api_keys TO {name}"),
    ];
    if execute {
        statements.push(format!(
            "GRANT EXECUTE ON FUNCTION api_key_by_hash(BYTEA), \
             api_key_touch(UUID, TIMESTAMPTZ) TO {name}"
        ));
    }
    statements.push(format!("SET LOCAL ROLE {name}"));
    for sql in statements {
        sqlx::query(AssertSqlSafe(sql))
            .execute(&mut *conn)
            .await
            .expect("set up the non-owner role");
    }
}

/// A non-owner role with no tenant set authenticates through the functions: it finds the key
/// by its hash (and no other), records its use, and still sees no row of `api_keys` directly.
#[tokio::test]
async fn a_non_owner_role_authenticates_by_hash_without_seeing_the_table() {
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    let pool = database.pool(2).await;
    let store = PgApiKeyStore::new(pool.clone());
    let key = api_key(1, "acme");
    store.insert(key.clone()).await.expect("insert");
    store.insert(api_key(2, "globex")).await.expect("insert");

    let mut tx = pool.begin().await.expect("begin");
    assume_non_owner(&mut tx, true).await;
    let visible: i64 = sqlx::query_scalar("SELECT count(*) FROM api_keys")
        .fetch_one(&mut *tx)
        .await
        .expect("count keys");
    assert_eq!(visible, 0, "without a tenant, no key row is visible");
    let found: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT id, tenant_id FROM api_key_by_hash($1)")
            .bind(key.hash.as_slice())
            .fetch_all(&mut *tx)
            .await
            .expect("look up by hash");
    assert_eq!(found, vec![(*key.id.as_uuid(), "acme".to_owned())]);
    let unknown: Vec<(Uuid,)> = sqlx::query_as("SELECT id FROM api_key_by_hash($1)")
        .bind(hash(99).as_slice())
        .fetch_all(&mut *tx)
        .await
        .expect("look up an unknown hash");
    assert!(unknown.is_empty());
    sqlx::query("SELECT api_key_touch($1, $2)")
        .bind(key.id.as_uuid())
        .bind(at(60))
        .execute(&mut *tx)
        .await
        .expect("record a use");
    sqlx::query("RESET ROLE")
        .execute(&mut *tx)
        .await
        .expect("back to the owner");
    let used: Option<OffsetDateTime> =
        sqlx::query_scalar("SELECT last_used_at FROM api_keys WHERE id = $1")
            .bind(key.id.as_uuid())
            .fetch_one(&mut *tx)
            .await
            .expect("read the use");
    assert_eq!(used, Some(at(60)));
    tx.rollback().await.expect("rollback");
}

/// The functions are not callable by every role: EXECUTE is revoked from PUBLIC, so a role
/// must be granted it (SQLSTATE 42501 otherwise).
#[tokio::test]
async fn the_authentication_functions_need_a_grant() {
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    let pool = database.pool(2).await;
    for call in [
        "SELECT count(*) FROM api_key_by_hash(sha256('x'::bytea))",
        "SELECT api_key_touch(gen_random_uuid(), now())::text",
    ] {
        let mut tx = pool.begin().await.expect("begin");
        assume_non_owner(&mut tx, false).await;
        let refused = sqlx::query(call).execute(&mut *tx).await;
        let code = refused
            .as_ref()
            .err()
            .and_then(|e| e.as_database_error())
            .and_then(|db| db.code().map(|c| c.into_owned()));
        assert_eq!(code.as_deref(), Some("42501"), "{call}: {refused:?}");
        tx.rollback().await.expect("rollback");
    }
}
