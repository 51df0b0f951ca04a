//! Waiting tasks in claim order: four levels, tenants in stride-scheduled rotation within a
//! level, and per tenant one FIFO lane per distinct set of requirements.
//!
//! Lanes make "no head-of-line blocking" cheap: all tasks of a lane need the same
//! capabilities and limit keys, so one eligibility check covers the lane, and the oldest
//! eligible task of a tenant is the smallest head among its eligible lanes.

use std::collections::{BTreeMap, BTreeSet};

use crate::ids::TaskId;
use crate::priority::Priority;

/// Index of an interned tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) struct TenantIdx(pub(super) u32);

/// Index of an interned requirement set (capabilities and limit keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct ReqIdx(pub(super) u32);

/// The pass a tenant of weight 1 advances by per claim; weight `w` advances `STRIDE / w`.
pub(crate) const STRIDE: u64 = 1_000_000_000;

/// Whether a lane's tasks can be claimed by the current claimant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LaneCheck {
    Eligible,
    /// The claimant lacks a required capability.
    Incapable,
    /// A limit key is at its limit.
    Throttled,
}

#[derive(Debug)]
struct Lane {
    req: ReqIdx,
    tasks: BTreeMap<u64, TaskId>,
}

#[derive(Debug, Default)]
struct TenantLevel {
    pass: u64,
    count: u64,
    lanes: Vec<Lane>,
}

#[derive(Debug, Default)]
struct Level {
    /// Tenants with waiting tasks, by (pass, tenant): the next to serve comes first.
    rotation: BTreeSet<(u64, TenantIdx)>,
    /// The largest pass served so far; a tenant that becomes active joins no earlier.
    virtual_time: u64,
    count: u64,
}

/// Where a claim found its task.
#[derive(Debug, Clone, Copy)]
pub(super) struct Selection {
    level: usize,
    tenant: TenantIdx,
    lane: usize,
}

/// All waiting (pending) tasks.
#[derive(Debug, Default)]
pub(super) struct WaitQueues {
    levels: [Level; 4],
    tenants: Vec<[TenantLevel; 4]>,
    strides: Vec<u64>,
}

impl WaitQueues {
    /// Registers tenant `t` (indexes are handed out in order by the caller).
    pub(super) fn add_tenant(&mut self, t: TenantIdx, weight: u32) {
        debug_assert_eq!(t.0 as usize, self.tenants.len());
        self.tenants.push(Default::default());
        self.strides.push(STRIDE / u64::from(weight.max(1)));
    }

    /// Changes a tenant's weight from its next claim on.
    pub(super) fn set_weight(&mut self, t: TenantIdx, weight: u32) {
        self.strides[t.0 as usize] = STRIDE / u64::from(weight.max(1));
    }

    /// Waiting tasks at `level`.
    pub(super) fn count(&self, level: Priority) -> u64 {
        self.levels[level.rank()].count
    }

    /// Waiting tasks of tenant `t` at `level`.
    pub(super) fn tenant_count(&self, t: TenantIdx, level: Priority) -> u64 {
        self.tenants[t.0 as usize][level.rank()].count
    }

    /// Adds a task at the back of its lane (or in enqueue order, for a task coming back).
    pub(super) fn push(
        &mut self,
        level: Priority,
        t: TenantIdx,
        req: ReqIdx,
        seq: u64,
        id: TaskId,
    ) {
        let lvl = &mut self.levels[level.rank()];
        let tl = &mut self.tenants[t.0 as usize][level.rank()];
        if tl.count == 0 {
            tl.pass = tl.pass.max(lvl.virtual_time);
            lvl.rotation.insert((tl.pass, t));
        }
        let lane = match tl.lanes.iter().position(|l| l.req == req) {
            Some(i) => &mut tl.lanes[i],
            None => {
                tl.lanes.push(Lane {
                    req,
                    tasks: BTreeMap::new(),
                });
                tl.lanes.last_mut().expect("just pushed")
            }
        };
        let fresh = lane.tasks.insert(seq, id).is_none();
        debug_assert!(fresh, "task pushed twice");
        tl.count += 1;
        lvl.count += 1;
    }

    /// Removes a waiting task (cancel, aging); returns whether it was there.
    pub(super) fn remove(&mut self, level: Priority, t: TenantIdx, req: ReqIdx, seq: u64) -> bool {
        let lvl = &mut self.levels[level.rank()];
        let tl = &mut self.tenants[t.0 as usize][level.rank()];
        let Some(i) = tl.lanes.iter().position(|l| l.req == req) else {
            return false;
        };
        if tl.lanes[i].tasks.remove(&seq).is_none() {
            return false;
        }
        if tl.lanes[i].tasks.is_empty() {
            tl.lanes.swap_remove(i);
        }
        tl.count -= 1;
        lvl.count -= 1;
        if tl.count == 0 {
            lvl.rotation.remove(&(tl.pass, t));
        }
        true
    }

    /// Finds the next task in claim order among those `tenant_ok` and `lane_ok` accept.
    /// Also says whether any lane was skipped for a limit.
    pub(super) fn select(
        &self,
        mut tenant_ok: impl FnMut(TenantIdx) -> bool,
        mut lane_ok: impl FnMut(TenantIdx, ReqIdx) -> LaneCheck,
    ) -> (Option<Selection>, bool) {
        let mut throttled = false;
        for (level, lvl) in self.levels.iter().enumerate() {
            if lvl.count == 0 {
                continue;
            }
            for &(_, t) in &lvl.rotation {
                if !tenant_ok(t) {
                    continue;
                }
                let mut best: Option<(u64, usize)> = None;
                for (i, lane) in self.tenants[t.0 as usize][level].lanes.iter().enumerate() {
                    let Some((&seq, _)) = lane.tasks.first_key_value() else {
                        continue;
                    };
                    if best.is_some_and(|(b, _)| b < seq) {
                        continue;
                    }
                    match lane_ok(t, lane.req) {
                        LaneCheck::Eligible => best = Some((seq, i)),
                        LaneCheck::Throttled => throttled = true,
                        LaneCheck::Incapable => {}
                    }
                }
                if let Some((_, lane)) = best {
                    return (
                        Some(Selection {
                            level,
                            tenant: t,
                            lane,
                        }),
                        throttled,
                    );
                }
            }
        }
        (None, throttled)
    }

    /// Takes the head of the selected lane and advances the tenant's pass.
    pub(super) fn take(&mut self, sel: Selection) -> TaskId {
        let lvl = &mut self.levels[sel.level];
        let tl = &mut self.tenants[sel.tenant.0 as usize][sel.level];
        let (_, id) = tl.lanes[sel.lane]
            .tasks
            .pop_first()
            .expect("selected lane is not empty");
        if tl.lanes[sel.lane].tasks.is_empty() {
            tl.lanes.swap_remove(sel.lane);
        }
        tl.count -= 1;
        lvl.count -= 1;
        lvl.rotation.remove(&(tl.pass, sel.tenant));
        lvl.virtual_time = lvl.virtual_time.max(tl.pass);
        tl.pass += self.strides[sel.tenant.0 as usize];
        if tl.count > 0 {
            lvl.rotation.insert((tl.pass, sel.tenant));
        }
        id
    }
}
