//! Limit keys: running counts and token buckets, interned to small indexes.

use rustc_hash::FxHashMap;
use time::OffsetDateTime;

use crate::config::Limit;
use crate::ids::LimitKey;

/// Index of an interned [`LimitKey`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) struct KeyIdx(u32);

#[derive(Debug)]
struct KeyState {
    key: LimitKey,
    running: u32,
    limit: Limit,
    tokens: f64,
    refilled_at: OffsetDateTime,
}

impl KeyState {
    fn tokens_at(&self, now: OffsetDateTime) -> f64 {
        let Some(rate) = self.limit.rate else {
            return f64::INFINITY;
        };
        let elapsed = (now - self.refilled_at).as_seconds_f64().max(0.0);
        (self.tokens + elapsed * rate.per_second).min(f64::from(rate.burst))
    }

    fn allows(&self, now: OffsetDateTime) -> bool {
        self.limit.max_running.is_none_or(|max| self.running < max) && self.tokens_at(now) >= 1.0
    }
}

/// Every limit key the store has seen, with its running count and limits.
#[derive(Debug, Default)]
pub(super) struct Keys {
    index: FxHashMap<LimitKey, KeyIdx>,
    states: Vec<KeyState>,
}

impl Keys {
    /// The index of `key`, interning it on first sight.
    pub(super) fn intern(&mut self, key: &LimitKey, now: OffsetDateTime) -> KeyIdx {
        if let Some(&idx) = self.index.get(key) {
            return idx;
        }
        let idx = KeyIdx(u32::try_from(self.states.len()).expect("fewer than 2^32 limit keys"));
        self.states.push(KeyState {
            key: key.clone(),
            running: 0,
            limit: Limit::default(),
            tokens: 0.0,
            refilled_at: now,
        });
        self.index.insert(key.clone(), idx);
        idx
    }

    /// The index of `key` if it was ever seen.
    pub(super) fn get(&self, key: &LimitKey) -> Option<KeyIdx> {
        self.index.get(key).copied()
    }

    /// The key behind an index.
    pub(super) fn name(&self, key: KeyIdx) -> &LimitKey {
        &self.states[key.0 as usize].key
    }

    /// Replaces the limits of `key`; a new rate starts with a full bucket.
    pub(super) fn set_limit(&mut self, key: KeyIdx, limit: Limit, now: OffsetDateTime) {
        let state = &mut self.states[key.0 as usize];
        state.tokens = limit.rate.map_or(0.0, |r| f64::from(r.burst));
        state.refilled_at = now;
        state.limit = limit;
    }

    /// Whether one more task may start under every key of both lists.
    pub(super) fn allows(&self, a: &[KeyIdx], b: &[KeyIdx], now: OffsetDateTime) -> bool {
        a.iter()
            .chain(b)
            .all(|k| self.states[k.0 as usize].allows(now))
    }

    /// Counts a started task under every key of both lists and takes a token from each bucket.
    pub(super) fn acquire(&mut self, a: &[KeyIdx], b: &[KeyIdx], now: OffsetDateTime) {
        for k in a.iter().chain(b) {
            let state = &mut self.states[k.0 as usize];
            state.running += 1;
            if state.limit.rate.is_some() {
                state.tokens = state.tokens_at(now) - 1.0;
                state.refilled_at = now;
            }
        }
    }

    /// Uncounts a task that stopped running under every key of both lists.
    pub(super) fn release(&mut self, a: &[KeyIdx], b: &[KeyIdx]) {
        for k in a.iter().chain(b) {
            let state = &mut self.states[k.0 as usize];
            debug_assert!(
                state.running > 0,
                "limit key released more often than acquired"
            );
            state.running = state.running.saturating_sub(1);
        }
    }
}
