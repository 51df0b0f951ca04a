//! [`PgEventLog`]: the audit trail in `events`, append-only and idempotent by event id
//! (`ON CONFLICT (id) DO NOTHING`); listed in id order, which is emission order.

use async_trait::async_trait;
use godel_lifecycle::{EventLog, EventQuery, RepositoryError};
use godel_types::{Event, EventId, TaskId, TenantId};
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Select, begin_for_tenant, to_i64};
use crate::error;

/// An [`EventLog`] on Postgres.
///
/// A batch may hold events of several tenants and fleet-wide ones, so `append` is a fleet-wide
/// duty (the owning role); a listing of one tenant's events runs under that tenant.
#[derive(Debug, Clone)]
pub struct PgEventLog {
    pool: PgPool,
}

impl PgEventLog {
    /// A log over `pool` (a database migrated with [`crate::migrate()`]).
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl EventLog for PgEventLog {
    async fn append(&self, events: &[Event]) -> Result<(), RepositoryError> {
        if events.is_empty() {
            return Ok(());
        }
        let ids: Vec<Uuid> = events.iter().map(|e| *e.id.as_uuid()).collect();
        let tenants: Vec<Option<&str>> = events
            .iter()
            .map(|e| e.tenant.as_ref().map(TenantId::as_str))
            .collect();
        let tasks: Vec<Option<Uuid>> = events
            .iter()
            .map(|e| e.task_id().as_ref().map(TaskId::as_uuid).copied())
            .collect();
        let names: Vec<&str> = events.iter().map(|e| e.name().as_str()).collect();
        let ats: Vec<OffsetDateTime> = events.iter().map(|e| e.at).collect();
        let records: Vec<Json<&Event>> = events.iter().map(Json).collect();
        // One statement: the batch is stored all or none; ids already stored (or repeated in
        // the batch) are skipped.
        sqlx::query(
            "INSERT INTO events (id, tenant_id, task_id, name, at, record) \
             SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::uuid[], $4::text[], \
                                  $5::timestamptz[], $6::jsonb[]) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&ids)
        .bind(&tenants)
        .bind(&tasks)
        .bind(&names)
        .bind(&ats)
        .bind(&records)
        .execute(&self.pool)
        .await
        .map_err(|e| error::repository("append events", e))?;
        Ok(())
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
        let mut select = Select::new("SELECT record FROM events");
        if query.tenant.is_some() {
            select.filter("tenant_id = $");
        }
        if query.task.is_some() {
            select.filter("task_id = $");
        }
        if !query.names.is_empty() {
            select.filter("name = ANY($)");
        }
        if after.is_some() {
            select.filter("id > $");
        }
        let sql = select.finish(" ORDER BY id LIMIT ");

        let names: Vec<&str> = query.names.iter().map(|n| n.as_str()).collect();
        let mut statement = sqlx::query_scalar::<_, Json<Event>>(AssertSqlSafe(sql));
        if let Some(tenant) = &query.tenant {
            statement = statement.bind(tenant.as_str());
        }
        if let Some(task) = &query.task {
            statement = statement.bind(task.as_uuid());
        }
        if !names.is_empty() {
            statement = statement.bind(&names);
        }
        if let Some(after) = &after {
            statement = statement.bind(after.as_uuid());
        }
        statement = statement.bind(to_i64(limit));

        let fail = |e| error::repository("list events", e);
        let found = match &query.tenant {
            Some(tenant) => {
                let mut tx = begin_for_tenant(&self.pool, tenant).await.map_err(fail)?;
                let found = statement.fetch_all(&mut *tx).await.map_err(fail)?;
                tx.commit().await.map_err(fail)?;
                found
            }
            None => statement.fetch_all(&self.pool).await.map_err(fail)?,
        };
        Ok(found.into_iter().map(|Json(e)| e).collect())
    }
}
