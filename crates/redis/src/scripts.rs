//! The Lua scripts, loaded once and run by SHA (`EVALSHA`, falling back to `EVAL`).
//!
//! Per-tenant queue scripts are `tenant_lib.lua` followed by the operation's own file.

use std::sync::LazyLock;

use redis::Script;

macro_rules! tenant_script {
    ($name:ident, $file:literal) => {
        pub(crate) static $name: LazyLock<Script> = LazyLock::new(|| {
            Script::new(concat!(
                include_str!("scripts/tenant_lib.lua"),
                include_str!(concat!("scripts/", $file))
            ))
        });
    };
}

tenant_script!(ENQUEUE, "enqueue.lua");
tenant_script!(CLAIM, "claim.lua");
tenant_script!(START, "start.lua");
tenant_script!(HEARTBEAT, "heartbeat.lua");
tenant_script!(ACK, "ack.lua");
tenant_script!(FAIL, "fail.lua");
tenant_script!(RELEASE, "release.lua");
tenant_script!(CANCEL, "cancel.lua");
tenant_script!(REAP, "reap.lua");
tenant_script!(PROMOTE, "promote.lua");
tenant_script!(REPLAY, "replay.lua");
tenant_script!(PURGE, "purge.lua");
tenant_script!(RESTORE, "restore.lua");

/// Applies a tenant's summary to the fleet-wide rotation.
pub(crate) static FLEET_SYNC: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/fleet_sync.lua")));

/// One queue limit key: acquire, peek, release, refund, set.
pub(crate) static LIMIT: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/limit.lua")));

/// Raises counters to at least given values (never lowers one), in one call.
pub(crate) static RAISE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/raise.lua")));

/// The leader lease: acquire or renew.
pub(crate) static LEADER_ACQUIRE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/leader_acquire.lua")));

/// The leader lease: release by the holder only.
pub(crate) static LEADER_RELEASE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/leader_release.lua")));

/// The HTTP token bucket.
pub(crate) static RATE_LIMIT: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/rate_limit.lua")));
