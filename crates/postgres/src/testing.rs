//! Test fixtures (feature `test-util`): a fresh, migrated database per test on a real server.
//!
//! The server is `GODEL_TEST_PG_URL`, else `postgres://postgres@127.0.0.1:5432/postgres`. The
//! first test of a run builds a template database holding every migration (named after the
//! migrations' checksums, under an advisory lock, so concurrent test processes build it once);
//! each [`TestDatabase`] is then a cheap copy of it, dropped when the fixture is dropped.
//! When the server is unreachable, [`TestDatabase::create`] follows `GODEL_TEST_LIVE`
//! (see [`godel_test_support::live`]).

use std::fmt::Write as _;

use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool};

// Names interpolated into SQL below are generated here (`godel_t_<pid>_<n>_<nanos>`,
// `godel_tmpl_<hex>`), never taken from input.

use crate::admin::with_database;
use crate::migrate::{MIGRATOR, connect};

/// The environment variable naming the admin URL of the test server.
pub const URL_ENV: &str = "GODEL_TEST_PG_URL";

/// Where the test server is when [`URL_ENV`] is unset.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A fresh database with every migration applied, dropped (with its connections) on drop.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    url: String,
    admin_url: String,
}

impl TestDatabase {
    /// Creates a database for one test; `None` when the server is unreachable and live tests
    /// may skip.
    ///
    /// # Panics
    /// When the server is unreachable under `GODEL_TEST_LIVE=require`, or when it answers but
    /// creating the database fails.
    pub async fn create() -> Option<Self> {
        let admin_url = std::env::var(URL_ENV).unwrap_or_else(|_| DEFAULT_URL.to_owned());
        let mut admin = match PgConnection::connect(&admin_url).await {
            Ok(conn) => conn,
            Err(error) => return godel_test_support::live::unavailable("postgres", error),
        };
        let template = ensure_template(&mut admin, &admin_url).await;
        let name = godel_test_support::live::unique_name("godel_t");
        sqlx::query(AssertSqlSafe(format!(
            "CREATE DATABASE {name} TEMPLATE {template}"
        )))
        .execute(&mut admin)
        .await
        .expect("create the test database");
        admin.close().await.ok();
        let url = with_database(&admin_url, &name);
        Some(Self {
            name,
            url,
            admin_url,
        })
    }

    /// The database's URL.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The admin URL of the server it lives on (the `postgres` database).
    #[must_use]
    pub fn admin_url(&self) -> &str {
        &self.admin_url
    }

    /// Its name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A pool of up to `max_connections` to it.
    ///
    /// # Panics
    /// When the server refuses the connection.
    pub async fn pool(&self, max_connections: u32) -> PgPool {
        connect(&self.url, max_connections)
            .await
            .expect("connect to the test database")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs inside the test's runtime, which cannot block on its own futures: use a
        // thread with a runtime of its own. A failure leaves a stray database, nothing worse.
        let dropper = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                runtime.block_on(async {
                    if let Ok(mut admin) = PgConnection::connect(&admin_url).await {
                        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                        sqlx::query(AssertSqlSafe(sql))
                            .execute(&mut admin)
                            .await
                            .ok();
                        admin.close().await.ok();
                    }
                });
            }
        });
        dropper.join().ok();
    }
}

/// The template's name: one per distinct set of migrations.
fn template_name() -> String {
    let mut digest = 0xcbf2_9ce4_8422_2325_u64; // FNV-1a over every migration's checksum
    for migration in MIGRATOR.iter() {
        for byte in migration
            .checksum
            .iter()
            .chain(&migration.version.to_le_bytes())
        {
            digest ^= u64::from(*byte);
            digest = digest.wrapping_mul(0x0100_0000_01b3);
        }
    }
    let mut name = String::from("godel_tmpl_");
    write!(name, "{digest:016x}").expect("writing to a String cannot fail");
    name
}

async fn ensure_template(admin: &mut PgConnection, admin_url: &str) -> String {
    let name = template_name();
    const LOCK: i64 = 0x676f_6465_6c5f_746d; // "godel_tm"
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(LOCK)
        .execute(&mut *admin)
        .await
        .expect("take the template lock");
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut *admin)
            .await
            .expect("look for the template");
    if !exists {
        let building = format!("{name}_building");
        for sql in [
            format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"),
            format!("CREATE DATABASE {building}"),
        ] {
            sqlx::query(AssertSqlSafe(sql))
                .execute(&mut *admin)
                .await
                .expect("create the template");
        }
        let pool = connect(&with_database(admin_url, &building), 1)
            .await
            .expect("connect to the template");
        MIGRATOR.run(&pool).await.expect("migrate the template");
        pool.close().await;
        sqlx::query(AssertSqlSafe(format!(
            "ALTER DATABASE {building} RENAME TO {name}"
        )))
        .execute(&mut *admin)
        .await
        .expect("publish the template");
    }
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(LOCK)
        .execute(&mut *admin)
        .await
        .expect("release the template lock");
    name
}
