//! Claims: the cross-tenant choice in Rust, the lease in one per-tenant script.
//!
//! For each claim: levels from critical down; within a level, tenants in rotation order
//! (lowest stride pass first); within a tenant, its lanes (one per requirement set) by the
//! `seq` of their oldest task. The first lane whose capabilities the claimant has and whose
//! limit keys (the tenant's, the lane's, the claimant's) all admit one more task wins: its keys
//! are acquired, then the claim script leases the lane's oldest task under a fresh fence. A
//! lane emptied meanwhile by another claimer gives its keys back and the choice starts over.

use deadpool_redis::Connection;
use godel_queue::{AgentId, Eligibility, Lease, LeaseToken, LimitKey, QueueError, TenantId};
use redis::AsyncCommands;
use serde_json::json;

use super::RedisQueueStore;
use super::record::{from_flat, join, parse_lane};
use super::reply::items;
use crate::error::{Context, RedisFailure};
use crate::scripts;

/// How often one claim starts its choice over after losing a race for a lane.
const MAX_RACES: usize = 16;

pub(super) async fn claim(
    store: &RedisQueueStore,
    agent: &AgentId,
    eligibility: &Eligibility,
    max: usize,
) -> Result<Vec<Lease>, QueueError> {
    Ok(claim_counting(store, agent, eligibility, max).await?.0)
}

/// As [`claim`], also telling whether a limit held back an eligible task.
pub(super) async fn claim_counting(
    store: &RedisQueueStore,
    agent: &AgentId,
    eligibility: &Eligibility,
    max: usize,
) -> Result<(Vec<Lease>, bool), QueueError> {
    let mut conn = store.conn().await?;
    store.catch_up(&mut conn).await?;
    let mut claimant_keys = eligibility.keys.clone();
    claimant_keys.sort();
    claimant_keys.dedup();
    let mut leases = Vec::new();
    let mut throttled = false;
    'claims: while leases.len() < max {
        for key in &claimant_keys {
            if !store.limit(&mut conn, key.as_str(), "peek").await? {
                throttled = true;
                break 'claims;
            }
        }
        let next = claim_next(
            store,
            &mut conn,
            agent,
            eligibility,
            &claimant_keys,
            &mut throttled,
        );
        match next.await? {
            Some(lease) => leases.push(lease),
            None => break,
        }
    }
    if throttled {
        let _: i64 = conn
            .hincr(store.keys.fleet_key("stats"), "throttled", 1)
            .await
            .context("count throttled claim")?;
    }
    Ok((leases, throttled))
}

async fn claim_next(
    store: &RedisQueueStore,
    conn: &mut Connection,
    agent: &AgentId,
    eligibility: &Eligibility,
    claimant_keys: &[LimitKey],
    throttled: &mut bool,
) -> Result<Option<Lease>, QueueError> {
    for _ in 0..MAX_RACES {
        let mut raced = false;
        'levels: for level in 0..4usize {
            let rotation: Vec<String> = conn
                .zrange(store.keys.fleet_key(&format!("rot:{level}")), 0, -1)
                .await
                .context("read rotation")?;
            for name in rotation {
                let Ok(tenant) = TenantId::parse(&name) else {
                    continue;
                };
                if eligibility
                    .tenants
                    .as_ref()
                    .is_some_and(|only| !only.contains(&tenant))
                {
                    continue;
                }
                let heads: Vec<String> = conn
                    .zrange(
                        format!("{}heads:{level}", store.keys.tenant(&tenant)),
                        0,
                        -1,
                    )
                    .await
                    .context("read lanes")?;
                for lane in heads {
                    let (capabilities, lane_keys) = parse_lane(&lane)?;
                    if !capabilities.is_subset_of(&eligibility.capabilities) {
                        continue;
                    }
                    let mut keys = vec![LimitKey::tenant(&tenant)];
                    keys.extend(lane_keys);
                    keys.sort();
                    keys.dedup();
                    keys.extend(claimant_keys.iter().cloned());
                    if !acquire_all(store, conn, &keys).await? {
                        *throttled = true;
                        continue;
                    }
                    match lease_from(store, conn, &tenant, level, &lane, agent, &keys).await {
                        Ok(Some(lease)) => return Ok(Some(lease)),
                        Ok(None) => {
                            refund_all(store, conn, &keys).await?;
                            raced = true;
                            break 'levels;
                        }
                        Err(e) => {
                            refund_all(store, conn, &keys).await?;
                            return Err(e);
                        }
                    }
                }
            }
        }
        if !raced {
            return Ok(None);
        }
    }
    Ok(None)
}

/// Leases the oldest task of `lane`, or `None` if the lane was emptied meanwhile.
async fn lease_from(
    store: &RedisQueueStore,
    conn: &mut Connection,
    tenant: &TenantId,
    level: usize,
    lane: &str,
    agent: &AgentId,
    keys: &[LimitKey],
) -> Result<Option<Lease>, QueueError> {
    let fence: u64 = conn
        .incr(store.keys.fleet_key("fence"), 1)
        .await
        .context("next fence")?;
    let args = json!({
        "level": level,
        "lane": lane,
        "fence": fence.to_string(),
        "agent": agent.as_str(),
        "lkeys": join(keys.iter().map(LimitKey::as_str)),
    });
    let reply = store
        .run(conn, tenant, &scripts::CLAIM, args, Some(level))
        .await?;
    let Some(flat) = reply.get("rec") else {
        return Ok(None);
    };
    let task = from_flat(items(flat))?;
    let expires_at = task
        .lease_expires_at
        .ok_or_else(|| RedisFailure::new("decode lease", "no expiry"))?;
    Ok(Some(Lease {
        token: LeaseToken {
            task: task.id,
            fence,
        },
        expires_at,
        attempt: task.attempt_count + 1,
        task,
    }))
}

/// Counts one more task under every key, all or none.
async fn acquire_all(
    store: &RedisQueueStore,
    conn: &mut Connection,
    keys: &[LimitKey],
) -> Result<bool, RedisFailure> {
    for (i, key) in keys.iter().enumerate() {
        if !store.limit(conn, key.as_str(), "acquire").await? {
            refund_all(store, conn, &keys[..i]).await?;
            return Ok(false);
        }
    }
    Ok(true)
}

/// Gives back keys acquired for a lease that was not taken (count and token).
async fn refund_all(
    store: &RedisQueueStore,
    conn: &mut Connection,
    keys: &[LimitKey],
) -> Result<(), RedisFailure> {
    for key in keys {
        store.limit(conn, key.as_str(), "refund").await?;
    }
    Ok(())
}
