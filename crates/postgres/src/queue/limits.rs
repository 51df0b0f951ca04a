//! Limits by key as a claim sees them: each limited key's concurrency (running count, derived
//! from the leased tasks) and token bucket.

use std::collections::HashMap;

use godel_queue::{Limit, LimitKey, QueueError};
use sqlx::{PgConnection, Row};
use time::OffsetDateTime;

use super::fault::{DbContext, Fault};
use super::rows::LEASED;

/// One limited key's state.
#[derive(Debug, Clone)]
pub(crate) struct KeyState {
    max_running: Option<i64>,
    rate: Option<(f64, f64)>,
    tokens: f64,
    refilled_at: OffsetDateTime,
    running: i64,
    /// Whether a claim took a token, so the bucket must be written back.
    pub(crate) drawn: bool,
}

impl KeyState {
    fn tokens_at(&self, now: OffsetDateTime) -> f64 {
        let Some((per_second, burst)) = self.rate else {
            return f64::INFINITY;
        };
        let elapsed = (now - self.refilled_at).as_seconds_f64().max(0.0);
        (self.tokens + elapsed * per_second).min(burst)
    }

    /// Whether one more task may start under this key.
    pub(crate) fn allows(&self, now: OffsetDateTime) -> bool {
        self.max_running.is_none_or(|max| self.running < max) && self.tokens_at(now) >= 1.0
    }

    /// Counts one more task started under this key, taking a token.
    pub(crate) fn acquire(&mut self, now: OffsetDateTime) {
        self.running += 1;
        if self.rate.is_some() {
            self.tokens = self.tokens_at(now) - 1.0;
            self.refilled_at = now;
            self.drawn = true;
        }
    }
}

/// The limited keys (all, or those of `only`), with their running counts; with `lock`, their
/// rows are locked first (in key order) so the counts stay exact until commit.
pub(crate) async fn read(
    conn: &mut PgConnection,
    only: Option<&[String]>,
    lock: bool,
) -> Result<HashMap<String, KeyState>, Fault> {
    if lock {
        sqlx::query("SELECT key FROM queue_limits WHERE key = ANY($1) ORDER BY key FOR UPDATE")
            .bind(only.unwrap_or_default())
            .execute(&mut *conn)
            .await
            .db("lock limits")?;
    }
    let sql = format!(
        "SELECT l.key, l.max_running, l.rate_per_second, l.burst, l.tokens, l.refilled_at, \
           (SELECT count(*) FROM tasks t WHERE t.status IN {LEASED} \
              AND t.all_keys @> ARRAY[l.key]) \
         + (SELECT count(*) FROM tasks t WHERE t.status IN {LEASED} \
              AND t.claim_keys @> ARRAY[l.key]) AS running \
         FROM queue_limits l WHERE $1::TEXT[] IS NULL OR l.key = ANY($1)"
    );
    let found = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(only)
        .fetch_all(conn)
        .await
        .db("read limits")?;
    let what = "read a limit";
    let mut out = HashMap::with_capacity(found.len());
    for row in found {
        let per_second: Option<f64> = row.try_get("rate_per_second").db(what)?;
        let burst: Option<i32> = row.try_get("burst").db(what)?;
        let max_running: Option<i32> = row.try_get("max_running").db(what)?;
        out.insert(
            row.try_get("key").db(what)?,
            KeyState {
                max_running: max_running.map(i64::from),
                rate: per_second.zip(burst.map(f64::from)),
                tokens: row.try_get("tokens").db(what)?,
                refilled_at: row.try_get("refilled_at").db(what)?,
                running: row.try_get("running").db(what)?,
                drawn: false,
            },
        );
    }
    Ok(out)
}

/// Writes back the buckets claims drew from.
pub(crate) async fn write_buckets(
    conn: &mut PgConnection,
    keys: &HashMap<String, KeyState>,
) -> Result<(), Fault> {
    let mut drawn: Vec<(&String, &KeyState)> = keys.iter().filter(|(_, s)| s.drawn).collect();
    drawn.sort_by(|a, b| a.0.cmp(b.0));
    for (key, state) in drawn {
        sqlx::query("UPDATE queue_limits SET tokens = $2, refilled_at = $3 WHERE key = $1")
            .bind(key)
            .bind(state.tokens)
            .bind(state.refilled_at)
            .execute(&mut *conn)
            .await
            .db("draw from a token bucket")?;
    }
    Ok(())
}

/// Sets (or with `None` removes) the limits of `key`; a new rate starts with a full bucket.
pub(crate) async fn set(
    conn: &mut PgConnection,
    key: &LimitKey,
    limit: Option<Limit>,
    now: OffsetDateTime,
) -> Result<(), Fault> {
    let limit = limit.unwrap_or_default();
    limit.validate()?;
    if limit == Limit::default() {
        sqlx::query("DELETE FROM queue_limits WHERE key = $1")
            .bind(key.as_str())
            .execute(conn)
            .await
            .db("remove a limit")?;
        return Ok(());
    }
    let max_running = limit
        .max_running
        .map(|m| i32::try_from(m).unwrap_or(i32::MAX));
    let burst = limit
        .rate
        .map(|r| i32::try_from(r.burst).unwrap_or(i32::MAX));
    let tokens = limit.rate.map_or(0.0, |r| f64::from(r.burst));
    sqlx::query(
        "INSERT INTO queue_limits (key, max_running, rate_per_second, burst, tokens, refilled_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key) DO UPDATE SET \
         max_running = $2, rate_per_second = $3, burst = $4, tokens = $5, refilled_at = $6",
    )
    .bind(key.as_str())
    .bind(max_running)
    .bind(limit.rate.map(|r| r.per_second))
    .bind(burst)
    .bind(tokens)
    .bind(now)
    .execute(conn)
    .await
    .map_err(|error| Fault::Queue(QueueError::unavailable("postgres: set a limit", error)))?;
    Ok(())
}
