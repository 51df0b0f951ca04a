//! Claims: the cross-tenant choice in Rust, the leases in one per-tenant script per run.
//!
//! A claim serves slots: the claimants of one combined group that share an eligibility, in
//! arrival order, each wanting up to its `max` tasks. Each round chooses as a single claim
//! would: levels from critical down; within a level, tenants in rotation order (lowest stride
//! pass first); within a tenant, its lanes (one per requirement set) by the `seq` of their
//! oldest task. The first lane whose capabilities the claimants have and whose limit keys (the
//! tenant's, the lane's, the claimants') admit a task wins. The round then takes as many tasks
//! from that lane as claims made one after another would: no more than the tenant keeps its
//! turn in the rotation (its pass, raised by one stride per task, stays before the next
//! tenant's), than the limit keys admit, and (checked by the script) than the lane's oldest
//! task stays older than every later lane's. The leases go to the slots in turn, under fences
//! drawn in that order. A lane emptied meanwhile by another claimer gives its keys back and the
//! choice starts over.

use super::shared::Connection;
use godel_queue::{
    AgentId, Eligibility, FAIR_STRIDE, Lease, LeaseToken, LimitKey, QueueError, TenantId,
};
use redis::AsyncCommands;
use serde_json::json;

use super::Core;
use super::record::{from_flat, join, parse_lane};
use super::reply::items;
use crate::error::{Context, RedisFailure};
use crate::scripts;

/// How often one round starts its choice over after losing a race for a lane.
const MAX_RACES: usize = 16;
/// Most tasks one claim script leases.
const MAX_RUN: usize = 256;

/// One claimant of a combined claim: its agent and how many tasks it wants.
pub(super) struct Slot {
    pub(super) agent: AgentId,
    pub(super) max: usize,
}

/// What a claim over some slots got: each slot's leases, and whether a limit held back an
/// eligible task.
pub(super) struct Claimed {
    pub(super) leases: Vec<Vec<Lease>>,
    pub(super) throttled: bool,
}

/// Where the next lease goes: a slot, and how many it has so far.
struct Cursor<'a> {
    slots: &'a [Slot],
    leases: Vec<Vec<Lease>>,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn new(slots: &'a [Slot]) -> Self {
        let mut cursor = Self {
            slots,
            leases: slots.iter().map(|_| Vec::new()).collect(),
            at: 0,
        };
        cursor.skip_full();
        cursor
    }

    fn skip_full(&mut self) {
        while self.at < self.slots.len() && self.leases[self.at].len() >= self.slots[self.at].max {
            self.at += 1;
        }
    }

    /// The agents of the next `n` leases (fewer when the slots want fewer).
    fn next_agents(&self, n: usize) -> Vec<&'a AgentId> {
        let mut agents = Vec::new();
        for (i, slot) in self.slots.iter().enumerate().skip(self.at) {
            let wanted = slot.max - self.leases[i].len();
            agents.extend(std::iter::repeat_n(
                &slot.agent,
                wanted.min(n - agents.len()),
            ));
            if agents.len() == n {
                break;
            }
        }
        agents
    }

    /// Hands `leases`, in order, to the slots in turn.
    fn hand_out(&mut self, leases: Vec<Lease>) {
        for lease in leases {
            self.leases[self.at].push(lease);
            self.skip_full();
        }
    }

    fn done(&self) -> bool {
        self.at >= self.slots.len()
    }
}

/// Claims for `slots`, all with `eligibility`, as claims made one after another in slot order.
pub(super) async fn claim(
    core: &Core,
    conn: &mut Connection,
    eligibility: &Eligibility,
    slots: &[Slot],
) -> Result<Claimed, QueueError> {
    let mut claimant_keys = eligibility.keys.clone();
    claimant_keys.sort();
    claimant_keys.dedup();
    let mut cursor = Cursor::new(slots);
    let mut throttled = false;
    'claims: while !cursor.done() {
        for key in &claimant_keys {
            if core.limit(conn, key.as_str(), "peek", 1).await? == 0 {
                throttled = true;
                break 'claims;
            }
        }
        let round = Round {
            core,
            eligibility,
            claimant_keys: &claimant_keys,
        };
        match round.run(conn, &cursor, &mut throttled).await? {
            Some(leases) => cursor.hand_out(leases),
            None => break,
        }
    }
    Ok(Claimed {
        leases: cursor.leases,
        throttled,
    })
}

/// One choice of a lane and the leases taken from it.
struct Round<'a> {
    core: &'a Core,
    eligibility: &'a Eligibility,
    claimant_keys: &'a [LimitKey],
}

impl Round<'_> {
    /// The leases of one round, or `None` when no task is eligible.
    async fn run(
        &self,
        conn: &mut Connection,
        cursor: &Cursor<'_>,
        throttled: &mut bool,
    ) -> Result<Option<Vec<Lease>>, QueueError> {
        let keys = &self.core.keys;
        let mut races = 0;
        let mut promoted = false;
        while races < MAX_RACES {
            // Due timers and the rotations in one round trip; promoting makes a fresh read.
            let mut pipe = redis::pipe();
            pipe.add_command(self.core.due_tenants());
            for level in 0..4usize {
                pipe.zrange_withscores(keys.fleet_key(&format!("rot:{level}")), 0, -1);
            }
            let mut all: Vec<redis::Value> =
                pipe.query_async(conn).await.context("read rotations")?;
            let rotations: Vec<Vec<(String, f64)>> = all
                .split_off(1)
                .into_iter()
                .map(redis::from_redis_value)
                .collect::<Result<_, _>>()
                .context("decode rotations")?;
            let due: Vec<String> = redis::from_redis_value(all.pop().unwrap_or(redis::Value::Nil))
                .context("decode due tenants")?;
            if !due.is_empty() && !promoted {
                self.core.promote(conn, &due).await?;
                promoted = true;
                continue;
            }
            races += 1;
            let mut raced = false;
            'levels: for (level, rotation) in rotations.iter().enumerate() {
                for (turn, (name, _)) in rotation.iter().enumerate() {
                    let Ok(tenant) = TenantId::parse(name) else {
                        continue;
                    };
                    if self
                        .eligibility
                        .tenants
                        .as_ref()
                        .is_some_and(|only| !only.contains(&tenant))
                    {
                        continue;
                    }
                    let heads: Vec<String> = conn
                        .zrange(format!("{}heads:{level}", keys.tenant(&tenant)), 0, -1)
                        .await
                        .context("read lanes")?;
                    for lane in heads {
                        let (capabilities, lane_keys) = parse_lane(&lane)?;
                        if !capabilities.is_subset_of(&self.eligibility.capabilities) {
                            continue;
                        }
                        let mut limit_keys = vec![LimitKey::tenant(&tenant)];
                        limit_keys.extend(lane_keys);
                        limit_keys.sort();
                        limit_keys.dedup();
                        limit_keys.extend(self.claimant_keys.iter().cloned());
                        let turns = self.turns(conn, &tenant, rotation, turn).await?;
                        let want = cursor.next_agents(MAX_RUN.min(turns)).len();
                        // Fences for every lease wanted, drawn while the keys are counted (one
                        // round trip); fences left unused are gaps, which fencing allows.
                        let mut fence_conn = conn.clone();
                        let fences = async {
                            let last: u64 = fence_conn
                                .incr(keys.fleet_key("fence"), want)
                                .await
                                .context("next fences")?;
                            Ok::<_, RedisFailure>(last + 1 - want as u64..=last)
                        };
                        let acquired = acquire_all(self.core, conn, &limit_keys, want);
                        let (fences, granted) = tokio::join!(fences, acquired);
                        let (fences, granted) = (fences?, granted?);
                        if granted == 0 {
                            *throttled = true;
                            continue;
                        }
                        let agents = cursor.next_agents(granted);
                        let fences: Vec<u64> = fences.take(granted).collect();
                        let run = Run {
                            tenant: &tenant,
                            level,
                            lane: &lane,
                            keys: &limit_keys,
                        };
                        let leased = run.lease(self.core, conn, &agents, fences).await;
                        let taken = leased.as_ref().map_or(0, Vec::len);
                        refund_all(self.core, conn, &limit_keys, granted - taken).await?;
                        match leased {
                            Ok(leases) if leases.is_empty() => {
                                raced = true;
                                break 'levels;
                            }
                            Ok(leases) => return Ok(Some(leases)),
                            Err(e) => return Err(e),
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

    /// How many tasks in a row the tenant at `turn` of `rotation` takes before the next
    /// tenant's turn: its pass rises by its stride per task and it keeps the turn while
    /// (pass, name) stays before the next tenant's. Tenants before it were passed over for
    /// good (nothing eligible, or held by a limit this claim only tightens).
    async fn turns(
        &self,
        conn: &mut Connection,
        tenant: &TenantId,
        rotation: &[(String, f64)],
        turn: usize,
    ) -> Result<usize, QueueError> {
        let Some((next, next_pass)) = rotation.get(turn + 1) else {
            return Ok(MAX_RUN);
        };
        let weight: Option<u64> = conn
            .hget(self.core.keys.fleet_key("weight"), tenant.as_str())
            .await
            .context("read tenant weight")?;
        let stride = (FAIR_STRIDE / weight.unwrap_or(1).max(1)) as f64;
        let (name, pass) = (&rotation[turn].0, rotation[turn].1);
        let mut turns = 1;
        while turns < MAX_RUN {
            let after = pass + stride * turns as f64;
            if after > *next_pass || (after == *next_pass && name >= next) {
                break;
            }
            turns += 1;
        }
        Ok(turns)
    }
}

/// Leases taken from one lane of one tenant at one level.
struct Run<'a> {
    tenant: &'a TenantId,
    level: usize,
    lane: &'a str,
    keys: &'a [LimitKey],
}

impl Run<'_> {
    /// Leases up to one task per agent, under the fence of the same rank, from the lane
    /// (none if it was emptied meanwhile).
    async fn lease(
        &self,
        core: &Core,
        conn: &mut Connection,
        agents: &[&AgentId],
        fences: Vec<u64>,
    ) -> Result<Vec<Lease>, QueueError> {
        let args = json!({
            "level": self.level,
            "lane": self.lane,
            "fences": fences.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "agents": agents.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
            "lkeys": join(self.keys.iter().map(LimitKey::as_str)),
        });
        let reply = core
            .run(conn, self.tenant, &scripts::CLAIM, args, Some(self.level))
            .await?;
        items(&reply["recs"])
            .iter()
            .zip(fences)
            .map(|(flat, fence)| {
                let task = from_flat(items(flat))?;
                let expires_at = task
                    .lease_expires_at
                    .ok_or_else(|| RedisFailure::new("decode lease", "no expiry"))?;
                Ok(Lease {
                    token: LeaseToken {
                        task: task.id,
                        fence,
                    },
                    expires_at,
                    attempt: task.attempt_count + 1,
                    task,
                })
            })
            .collect()
    }
}

/// Counts up to `want` more tasks under every key, as many as all of them admit; returns how
/// many (0: none was counted anywhere).
async fn acquire_all(
    core: &Core,
    conn: &mut Connection,
    keys: &[LimitKey],
    want: usize,
) -> Result<usize, RedisFailure> {
    let mut granted = want as u64;
    for (i, key) in keys.iter().enumerate() {
        let got = core.limit(conn, key.as_str(), "acquire", granted).await?;
        // Keys before this one counted `granted`; give back what this one did not admit.
        refund_all(core, conn, &keys[..i], (granted - got) as usize).await?;
        granted = got;
        if granted == 0 {
            return Ok(0);
        }
    }
    Ok(granted as usize)
}

/// Gives back `n` counts acquired under each of `keys` that were not used (count and token).
async fn refund_all(
    core: &Core,
    conn: &mut Connection,
    keys: &[LimitKey],
    n: usize,
) -> Result<(), RedisFailure> {
    if n == 0 {
        return Ok(());
    }
    for key in keys {
        core.limit(conn, key.as_str(), "refund", n as u64).await?;
    }
    Ok(())
}
