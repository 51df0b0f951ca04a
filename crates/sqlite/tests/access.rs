//! The SQLite access stores (API keys, the audit log) against the access conformance suite,
//! each case on its own database file in a fresh temporary directory; then what the suite
//! cannot show: a key's tenant row is created with it, and records outlive the pool.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use godel_engine::access::conformance::{api_key, audit_entry, tenant};
use godel_engine::access::{ApiKeyStore, AuditLog};
use godel_sqlite::repos::{SqliteApiKeyStore, SqliteAuditLog};
use godel_sqlite::testing::TempDir;
use sqlx::SqlitePool;

/// A conformance factory: each call gives `make` a pool on a new, empty database file in a
/// temporary folder of its own; the folders live (and are removed) with the factory, which the
/// suite keeps for one case.
fn on_temp_file<R: Send + 'static>(
    make: fn(SqlitePool) -> R,
) -> impl Fn() -> Pin<Box<dyn Future<Output = R> + Send>> + Send + Sync {
    let dirs: Arc<Mutex<Vec<TempDir>>> = Arc::default();
    move || {
        let dirs = Arc::clone(&dirs);
        Box::pin(async move {
            let dir = TempDir::new();
            let pool = dir.pool().await;
            dirs.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(dir);
            make(pool)
        })
    }
}

godel_engine::access_conformance! {
    api_keys: on_temp_file(|pool| Arc::new(SqliteApiKeyStore::new(pool))),
    audit: on_temp_file(|pool| Arc::new(SqliteAuditLog::new(pool))),
}

/// A key of a tenant not yet in `tenants` adds the tenant (named after its id), once: a
/// second key of the same tenant finds it there.
#[tokio::test]
async fn a_keys_tenant_is_created_with_it() {
    let dir = TempDir::new();
    let pool = dir.pool().await;
    let store = SqliteApiKeyStore::new(pool.clone());
    store.insert(api_key(1, "acme")).await.expect("insert");
    store.insert(api_key(2, "acme")).await.expect("insert");
    let tenants: Vec<(String, String)> = sqlx::query_as("SELECT id, display_name FROM tenants")
        .fetch_all(&pool)
        .await
        .expect("read tenants");
    assert_eq!(tenants, vec![("acme".to_owned(), "acme".to_owned())]);
}

/// What one pool wrote, a pool opened later on the same file reads.
#[tokio::test]
async fn keys_and_audit_entries_outlive_the_pool_that_wrote_them() {
    let dir = TempDir::new();
    let file = dir.database();
    let key = api_key(1, "acme");
    let entry = audit_entry(1, Some("acme"));
    {
        let pool = godel_sqlite::open(&file, 2).await.expect("open");
        SqliteApiKeyStore::new(pool.clone())
            .insert(key.clone())
            .await
            .expect("insert");
        SqliteAuditLog::new(pool.clone())
            .append(std::slice::from_ref(&entry))
            .await
            .expect("append");
        pool.close().await;
    }
    let pool = godel_sqlite::open(&file, 2).await.expect("reopen");
    let found = SqliteApiKeyStore::new(pool.clone())
        .find_by_hash(&key.hash)
        .await
        .expect("find");
    assert_eq!(found, Some(key));
    let listed = SqliteAuditLog::new(pool)
        .list(Some(&tenant("acme")), None, 10)
        .await
        .expect("list");
    assert_eq!(listed, vec![entry]);
}
