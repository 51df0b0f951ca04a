//! The conformance suite every [`InstanceStore`](crate::InstanceStore) must pass (feature
//! `test-util`).
//!
//! A store crate runs all of it with one macro call in a test file, given an expression that
//! evaluates to a function or closure returning a future of a fresh, empty store:
//!
//! ```
//! // In a store crate's `tests/conformance.rs`:
//! godel_federation::instance_store_conformance!(|| async {
//!     godel_federation::MemoryInstanceStore::new()
//! });
//! # fn main() {}
//! ```
//!
//! Each case gets its own store and asserts one rule of the port's contract. Timestamps are
//! whole seconds, so stores keeping microseconds round-trip them exactly. The calling crate
//! needs `tokio` (features `macros`, `rt`) as a dev-dependency.

pub mod cases;

use godel_types::{Capabilities, InstanceHealth, InstanceId};
use time::OffsetDateTime;
use time::macros::datetime;

use crate::instance::{Instance, InstanceSpec};

/// `secs` seconds after 2026-01-01T00:00:00Z.
#[must_use]
pub fn at(secs: i64) -> OffsetDateTime {
    datetime!(2026-01-01 0:00 UTC) + time::Duration::seconds(secs)
}

/// A registered instance numbered `n`, with every field set to a value other than its default:
/// endpoint `ws://gw-<n>.test:18789`, registered at `at(n)`, healthy, with a token.
#[must_use]
pub fn instance(n: u128) -> Instance {
    let spec = InstanceSpec {
        endpoint: format!("ws://gw-{n}.test:18789"),
        region: Some("eu-west".into()),
        zone: Some("eu-west-1a".into()),
        version: Some("2026.1.0".into()),
        capabilities: Capabilities::parse(["gpu", "rust"]).unwrap_or_default(),
        max_sessions: 8,
        token: Some(format!("token-{n}")),
    };
    let secs = i64::try_from(n).unwrap_or(i64::MAX / 2);
    let mut i = Instance::new(InstanceId::from_u128(n), spec, at(secs));
    i.health = InstanceHealth::Healthy;
    i.load = 3;
    i.last_heartbeat = Some(at(secs + 5));
    i
}

/// Generates one `#[tokio::test]` per conformance case, inside a module named
/// `instance_store_conformance`, each on a fresh store from the factory expression.
#[macro_export]
macro_rules! instance_store_conformance {
    ($factory:expr) => {
        $crate::instance_store_conformance!(@cases $factory;
            register_then_get_returns_every_field,
            unknown_instance_is_not_found,
            empty_store_lists_nothing,
            list_is_ordered_by_registration_then_id,
            duplicate_id_is_refused,
            duplicate_endpoint_is_refused,
            update_replaces_every_field,
            update_may_keep_its_own_endpoint,
            update_of_unknown_instance_is_not_found,
            update_onto_another_endpoint_is_refused,
            deregister_returns_and_forgets_the_instance,
            deregister_of_unknown_instance_is_not_found,
            endpoint_is_free_again_after_deregister,
        );
    };
    (@cases $factory:expr; $($case:ident),+ $(,)?) => {
        mod instance_store_conformance {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[::tokio::test]
                async fn $case() {
                    let factory = $factory;
                    let store = factory().await;
                    $crate::conformance::cases::$case(&store).await;
                }
            )+
        }
    };
}
