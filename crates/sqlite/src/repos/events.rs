//! [`SqliteEventLog`]: the audit trail in `events`, append-only.

use async_trait::async_trait;
use godel_lifecycle::{EventLog, EventQuery, RepositoryError};
use godel_types::{Event, EventId};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool};

use super::codec::{from_json, sql_limit, to_json, unix_nanos};
use super::error::{corrupt, unavailable, unencodable};

/// An [`EventLog`] on SQLite; clones share the pool.
///
/// Each event is one row: its JSON wire form plus the tenant, name and task it is filtered by.
/// An id already stored is skipped (`ON CONFLICT DO NOTHING`), so a retried batch does not
/// duplicate; a batch is one transaction.
#[derive(Debug, Clone)]
pub struct SqliteEventLog {
    pool: SqlitePool,
}

impl SqliteEventLog {
    /// A log on `pool` (opened by [`crate::db::open`], so its schema is migrated).
    #[must_use]
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

/// Stores `event` unless its id is stored already.
async fn insert(conn: &mut SqliteConnection, event: &Event) -> Result<(), RepositoryError> {
    let record = to_json(event).map_err(|e| unencodable("event", e))?;
    sqlx::query(
        "INSERT INTO events (id, tenant_id, name, task_id, at, record) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(event.id.to_string())
    .bind(event.tenant.as_ref().map(|t| t.as_str()))
    .bind(event.name().as_str())
    .bind(event.task_id().map(|t| t.to_string()))
    .bind(unix_nanos(event.at))
    .bind(record)
    .execute(conn)
    .await
    .map_err(|e| unavailable("appending an event", e))?;
    Ok(())
}

#[async_trait]
impl EventLog for SqliteEventLog {
    async fn append(&self, events: &[Event]) -> Result<(), RepositoryError> {
        match events {
            [] => Ok(()),
            [event] => {
                let mut conn = self
                    .pool
                    .acquire()
                    .await
                    .map_err(|e| unavailable("acquiring a connection", e))?;
                insert(&mut conn, event).await
            }
            batch => {
                let mut tx = self
                    .pool
                    .begin_with("BEGIN IMMEDIATE")
                    .await
                    .map_err(|e| unavailable("starting an event transaction", e))?;
                for event in batch {
                    insert(&mut tx, event).await?;
                }
                tx.commit()
                    .await
                    .map_err(|e| unavailable("committing events", e))
            }
        }
    }

    async fn list(
        &self,
        query: &EventQuery,
        after: Option<EventId>,
        limit: usize,
    ) -> Result<Vec<Event>, RepositoryError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut sql = QueryBuilder::<Sqlite>::new("SELECT record FROM events WHERE 1 = 1");
        if let Some(tenant) = &query.tenant {
            sql.push(" AND tenant_id = ")
                .push_bind(tenant.as_str().to_owned());
        }
        if let Some(task) = query.task {
            sql.push(" AND task_id = ").push_bind(task.to_string());
        }
        if !query.names.is_empty() {
            sql.push(" AND name IN (");
            let mut names = sql.separated(", ");
            for name in &query.names {
                names.push_bind(name.as_str());
            }
            sql.push(")");
        }
        if let Some(after) = after {
            sql.push(" AND id > ").push_bind(after.to_string());
        }
        sql.push(" ORDER BY id LIMIT ").push_bind(sql_limit(limit));
        let records: Vec<String> = sql
            .build_query_scalar()
            .fetch_all(&self.pool)
            .await
            .map_err(|e| unavailable("listing events", e))?;
        records
            .iter()
            .map(|r| from_json(r).map_err(|e| corrupt("event", e)))
            .collect()
    }
}
