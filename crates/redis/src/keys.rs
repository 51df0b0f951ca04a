//! Key names. Per-tenant queue keys share the tenant's hash tag (`<prefix>:{<tenant>}:...`);
//! fleet-wide queue keys share the tag `{#}` (no tenant id can contain `#`); each limit key's
//! state has a tag of its own (`<prefix>:{limit:<key>}`).

use godel_queue::{LimitKey, TenantId};

/// The key prefix used when none is configured.
pub const DEFAULT_PREFIX: &str = "godel";

/// Builds every key name under one prefix.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    pub(crate) fn new(prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        Self {
            prefix: if prefix.is_empty() {
                DEFAULT_PREFIX.to_owned()
            } else {
                prefix
            },
        }
    }

    /// The prefix of every key of `tenant` (its scripts' `KEYS[1]`).
    pub(crate) fn tenant(&self, tenant: &TenantId) -> String {
        format!("{}:{{{tenant}}}:", self.prefix)
    }

    /// The prefix of the fleet-wide queue keys (the fleet script's `KEYS[1]`).
    pub(crate) fn fleet(&self) -> String {
        format!("{}:{{#}}:", self.prefix)
    }

    /// One fleet-wide queue key.
    pub(crate) fn fleet_key(&self, name: &str) -> String {
        format!("{}:{{#}}:{name}", self.prefix)
    }

    /// The hash holding `key`'s running count, limits and token bucket.
    pub(crate) fn limit(&self, key: &str) -> String {
        format!("{}:{{limit:{key}}}", self.prefix)
    }

    /// Every key of the limit key `key` of the queue.
    pub(crate) fn queue_limit(&self, key: &LimitKey) -> String {
        self.limit(key.as_str())
    }

    /// The pub/sub channel of domain events.
    pub(crate) fn events(&self) -> String {
        format!("{}:events", self.prefix)
    }

    /// The leader lease's holder key and term counter (one hash tag).
    pub(crate) fn leader(&self, name: &str) -> (String, String) {
        (
            format!("{}:{{leader:{name}}}:holder", self.prefix),
            format!("{}:{{leader:{name}}}:term", self.prefix),
        )
    }

    /// A rate-limit bucket of the HTTP limiter.
    pub(crate) fn rate(&self, key: &str) -> String {
        format!("{}:{{rate:{key}}}", self.prefix)
    }
}
