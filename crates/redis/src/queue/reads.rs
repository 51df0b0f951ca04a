//! Reads that span tenants: `list`, `count`, dead letters and `export`, merged in Rust from
//! each tenant's indexes.

use std::collections::HashMap;

use super::shared::Connection;
use godel_queue::{
    DeadLetterCursor, DeadLetterFilter, QueueError, TaskQuery, TaskRecord, TenantId,
};

use super::RedisQueueStore;
use super::record::{from_fields, micros};
use crate::error::{Context, RedisFailure};

/// How many index entries one round trip reads.
const CHUNK: usize = 256;

/// The records of `ids` of `tenant` (purged ones are skipped).
pub(super) async fn records(
    store: &RedisQueueStore,
    conn: &mut Connection,
    tenant: &TenantId,
    ids: &[String],
) -> Result<Vec<TaskRecord>, RedisFailure> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let base = store.core.keys.tenant(tenant);
    let mut pipe = redis::pipe();
    for id in ids {
        pipe.hgetall(format!("{base}t:{id}"));
    }
    let all: Vec<HashMap<String, String>> = pipe.query_async(conn).await.context("read tasks")?;
    all.iter()
        .filter(|f| !f.is_empty())
        .map(from_fields)
        .collect()
}

/// One page of a sorted-set index: `(member, score)` after `after` (exclusive).
async fn index_page(
    conn: &mut Connection,
    key: &str,
    after: Option<f64>,
    descending: bool,
) -> Result<Vec<(String, f64)>, RedisFailure> {
    let bound = after.map(|a| format!("({a}"));
    let cmd = if descending {
        let mut c = redis::cmd("ZREVRANGEBYSCORE");
        c.arg(key)
            .arg(bound.as_deref().unwrap_or("+inf"))
            .arg("-inf");
        c
    } else {
        let mut c = redis::cmd("ZRANGEBYSCORE");
        c.arg(key)
            .arg(bound.as_deref().unwrap_or("-inf"))
            .arg("+inf");
        c
    };
    let mut cmd = cmd;
    cmd.arg("WITHSCORES").arg("LIMIT").arg(0).arg(CHUNK);
    let page: Vec<(String, f64)> = cmd.query_async(conn).await.context("read index")?;
    Ok(page)
}

/// Up to `limit` records of `tenant` matching `query`, in its order, after `after`.
async fn list_tenant(
    store: &RedisQueueStore,
    conn: &mut Connection,
    tenant: &TenantId,
    query: &TaskQuery,
    after: Option<u64>,
    limit: usize,
) -> Result<Vec<TaskRecord>, RedisFailure> {
    let index = match query.group {
        Some(group) => format!("{}g:{group}", store.core.keys.tenant(tenant)),
        None => format!("{}seq", store.core.keys.tenant(tenant)),
    };
    let mut out = Vec::new();
    #[allow(clippy::cast_precision_loss)]
    let mut cursor = after.map(|a| a as f64);
    loop {
        let page = index_page(conn, &index, cursor, query.newest_first).await?;
        let Some((_, last)) = page.last() else { break };
        cursor = Some(*last);
        let ids: Vec<String> = page.iter().map(|(id, _)| id.clone()).collect();
        for record in records(store, conn, tenant, &ids).await? {
            if query.matches(&record) && out.len() < limit {
                out.push(record);
            }
        }
        if out.len() >= limit || page.len() < CHUNK {
            break;
        }
    }
    Ok(out)
}

/// A page of `list` across tenants.
pub(super) async fn list(
    store: &RedisQueueStore,
    query: &TaskQuery,
    after: Option<u64>,
    limit: usize,
) -> Result<Vec<TaskRecord>, QueueError> {
    let mut conn = store.core.conn().await?;
    store.core.catch_up(&mut conn).await?;
    let tenants = match &query.tenant {
        Some(t) => vec![t.clone()],
        None => store.core.tenants(&mut conn).await?,
    };
    let mut all = Vec::new();
    for tenant in &tenants {
        all.extend(list_tenant(store, &mut conn, tenant, query, after, limit).await?);
    }
    all.sort_by_key(|r| r.seq);
    if query.newest_first {
        all.reverse();
    }
    all.truncate(limit);
    Ok(all)
}

/// Dead letters matching `filter` after `after`, ordered by (dead-letter time, id).
pub(super) async fn dead_letters(
    store: &RedisQueueStore,
    filter: &DeadLetterFilter,
    after: Option<DeadLetterCursor>,
    limit: usize,
) -> Result<Vec<TaskRecord>, QueueError> {
    let mut conn = store.core.conn().await?;
    let tenants = match &filter.tenant {
        Some(t) => vec![t.clone()],
        None => store.core.tenants(&mut conn).await?,
    };
    let from = after.map_or_else(|| "-inf".to_owned(), |c| micros(c.at).to_string());
    let mut all = Vec::new();
    for tenant in &tenants {
        let ids: Vec<String> = redis::cmd("ZRANGEBYSCORE")
            .arg(format!("{}dead", store.core.keys.tenant(tenant)))
            .arg(&from)
            .arg("+inf")
            .query_async(&mut conn)
            .await
            .context("read dead letters")?;
        for record in records(store, &mut conn, tenant, &ids).await? {
            let Some(cursor) = DeadLetterCursor::after(&record) else {
                continue;
            };
            if filter.matches(&record) && after.is_none_or(|a| cursor > a) {
                all.push((cursor, record));
            }
        }
    }
    all.sort_by_key(|(cursor, _)| *cursor);
    Ok(all.into_iter().take(limit).map(|(_, r)| r).collect())
}

/// Every task of every tenant, in `seq` order.
pub(super) async fn export(store: &RedisQueueStore) -> Result<Vec<TaskRecord>, QueueError> {
    list(store, &TaskQuery::default(), None, usize::MAX).await
}
