//! The conformance suite of the access ports (feature `test-util`): what every [`ApiKeyStore`]
//! and [`AuditLog`] must do, run by each store adapter with one macro call in a test file,
//! giving factories of fresh, empty stores (a database, schema or key prefix of their own):
//!
//! ```
//! // In a store crate's `tests/access.rs`:
//! use std::sync::Arc;
//! use godel_engine::access::{MemoryApiKeyStore, MemoryAuditLog};
//!
//! godel_engine::access_conformance! {
//!     api_keys: || async { Arc::new(MemoryApiKeyStore::default()) },
//!     audit: || async { Arc::new(MemoryAuditLog::default()) },
//! }
//! # fn main() {}
//! ```
//!
//! Either port may be given alone. The macro generates a module per port
//! (`api_key_store_conformance`, `audit_log_conformance`) with one `#[tokio::test]` per case;
//! each case asserts one rule of the port's contract and panics with a message naming it. The
//! factory expression is evaluated inside each generated test, so it may `return` to skip the
//! test (a server that is not there). The calling crate needs `tokio` (features `macros`,
//! `rt`) as a dev-dependency.
//!
//! Fixture times are whole seconds (every adapter stores them exactly) except inside audit
//! entries, which adapters keep whole.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use godel_types::{ApiKeyId, AuditId, Role, TenantId};
use time::OffsetDateTime;
use time::macros::datetime;

use super::{ApiKeyRecord, ApiKeyStore, AuditEntry, AuditLog, AuditOutcome};

/// Makes a fresh, empty store of type `S` (a concrete type or `dyn Port`) for each case.
///
/// Every closure `Fn() -> impl Future<Output = Arc<S>>` is a factory.
pub trait Factory<S: ?Sized>: Send + Sync {
    /// A new, empty store.
    fn create(&self) -> impl Future<Output = Arc<S>> + Send;
}

impl<S, F, Fut> Factory<S> for F
where
    S: ?Sized,
    F: Fn() -> Fut + Send + Sync,
    Fut: Future<Output = Arc<S>> + Send,
{
    fn create(&self) -> impl Future<Output = Arc<S>> + Send {
        self()
    }
}

/// The time every fixture starts from.
#[must_use]
pub fn t0() -> OffsetDateTime {
    datetime!(2026-01-01 0:00 UTC)
}

/// `t0()` plus `secs` seconds.
#[must_use]
pub fn at(secs: u64) -> OffsetDateTime {
    t0() + Duration::from_secs(secs)
}

/// A tenant id from a name such as `"acme"`.
///
/// # Panics
/// When `name` is not a valid tenant id.
#[must_use]
pub fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).expect("valid tenant id")
}

/// A distinct 32-byte hash for key number `n`.
#[must_use]
pub fn hash(n: u128) -> [u8; 32] {
    let mut hash = [0xa5; 32];
    hash[..16].copy_from_slice(&n.to_be_bytes());
    hash[16..].copy_from_slice(&(!n).to_le_bytes());
    hash
}

/// An active key `n` of `tenant_name`, created `n` seconds after `t0()`, never used.
#[must_use]
pub fn api_key(n: u128, tenant_name: &str) -> ApiKeyRecord {
    let role = Role::ALL[usize::try_from(n % 4).expect("small")];
    ApiKeyRecord {
        id: ApiKeyId::from_u128(n),
        tenant: tenant(tenant_name),
        name: format!("key {n}"),
        role,
        prefix: format!("dk_live_{n:04}"),
        hash: hash(n),
        created_at: at(u64::try_from(n).expect("small")),
        last_used_at: None,
        revoked_at: None,
    }
}

/// Audit entry `n` (ids in the order entries are made), at `n` seconds and 250 ms after
/// `t0()`, of `tenant_name` (or of no tenant).
#[must_use]
pub fn audit_entry(n: u128, tenant_name: Option<&str>) -> AuditEntry {
    AuditEntry {
        id: AuditId::from_u128(n),
        at: at(u64::try_from(n).expect("small")) + Duration::from_millis(250),
        tenant: tenant_name.map(tenant),
        actor: format!("key:{}", ApiKeyId::from_u128(n)),
        action: "task.cancel".to_owned(),
        outcome: AuditOutcome::Success,
        target: None,
        request_id: None,
        remote_addr: None,
        details: serde_json::Value::Null,
    }
}

/// Asserts that `result` is `AlreadyExists`.
fn assert_already_exists<T: std::fmt::Debug>(
    result: &Result<T, godel_lifecycle::RepositoryError>,
    what: &str,
) {
    assert!(
        matches!(
            result,
            Err(godel_lifecycle::RepositoryError::AlreadyExists { .. })
        ),
        "{what}: expected AlreadyExists, got {result:?}"
    );
}

/// Asserts that `result` is `NotFound`.
fn assert_not_found<T: std::fmt::Debug>(
    result: &Result<T, godel_lifecycle::RepositoryError>,
    what: &str,
) {
    assert!(
        matches!(
            result,
            Err(godel_lifecycle::RepositoryError::NotFound { .. })
        ),
        "{what}: expected NotFound, got {result:?}"
    );
}

/// The [`ApiKeyStore`] cases.
pub mod api_keys {
    use godel_types::ApiKeyId;

    use super::{
        ApiKeyStore, Factory, api_key, assert_already_exists, assert_not_found, at, hash, tenant,
    };

    fn ids(keys: &[super::ApiKeyRecord]) -> Vec<ApiKeyId> {
        keys.iter().map(|k| k.id).collect()
    }

    /// An inserted key is found by its hash with every field as inserted, including the use
    /// and revocation times of a key stored with them.
    pub async fn inserted_key_is_found_by_its_hash<S: ApiKeyStore + ?Sized>(
        factory: &impl Factory<S>,
    ) {
        let store = factory.create().await;
        let fresh = api_key(1, "acme");
        let mut used = api_key(2, "globex");
        used.last_used_at = Some(at(10));
        used.revoked_at = Some(at(20));
        store.insert(fresh.clone()).await.expect("insert");
        store.insert(used.clone()).await.expect("insert a used key");
        let found = store.find_by_hash(&fresh.hash).await.expect("find");
        assert_eq!(found, Some(fresh), "the key reads back as inserted");
        let found = store.find_by_hash(&used.hash).await.expect("find");
        assert_eq!(found, Some(used), "use and revocation times read back");
    }

    /// A hash no key has finds nothing, and that is not an error.
    pub async fn unknown_hash_is_none<S: ApiKeyStore + ?Sized>(factory: &impl Factory<S>) {
        let store = factory.create().await;
        assert_eq!(store.find_by_hash(&hash(1)).await.expect("find"), None);
        store.insert(api_key(1, "acme")).await.expect("insert");
        assert_eq!(store.find_by_hash(&hash(2)).await.expect("find"), None);
    }

    /// A key whose id or hash is taken is refused with `AlreadyExists`, and the stored key is
    /// unchanged.
    pub async fn duplicate_id_or_hash_is_refused<S: ApiKeyStore + ?Sized>(
        factory: &impl Factory<S>,
    ) {
        let store = factory.create().await;
        let original = api_key(1, "acme");
        store.insert(original.clone()).await.expect("insert");

        let mut same_id = api_key(2, "acme");
        same_id.id = original.id;
        assert_already_exists(&store.insert(same_id.clone()).await, "same id");
        assert_eq!(store.find_by_hash(&same_id.hash).await.expect("find"), None);

        let mut same_hash = api_key(3, "globex");
        same_hash.hash = original.hash;
        assert_already_exists(&store.insert(same_hash).await, "same hash");

        assert_eq!(
            store.find_by_hash(&original.hash).await.expect("find"),
            Some(original.clone())
        );
        assert_eq!(
            store.list(None).await.expect("list"),
            vec![original],
            "nothing refused was stored"
        );
    }

    /// A tenant's listing holds its keys only, oldest first (ties by id), revoked ones
    /// included; the listing of all tenants holds every key in the same order.
    pub async fn list_is_oldest_first_by_tenant_or_all_including_revoked<
        S: ApiKeyStore + ?Sized,
    >(
        factory: &impl Factory<S>,
    ) {
        let store = factory.create().await;
        let mut tied = api_key(7, "acme");
        tied.created_at = at(3);
        for key in [
            api_key(5, "acme"),
            api_key(2, "globex"),
            tied,
            api_key(3, "acme"),
            api_key(1, "acme"),
            api_key(4, "globex"),
        ] {
            store.insert(key).await.expect("insert");
        }
        store
            .revoke(&tenant("acme"), ApiKeyId::from_u128(3), at(30))
            .await
            .expect("revoke");

        let acme = store.list(Some(&tenant("acme"))).await.expect("list");
        assert_eq!(
            ids(&acme),
            [1, 3, 7, 5].map(ApiKeyId::from_u128),
            "acme's keys, oldest first, ties by id"
        );
        assert!(acme.iter().all(|k| k.tenant == tenant("acme")));
        assert_eq!(acme[1].revoked_at, Some(at(30)), "revoked keys are listed");

        let all = store.list(None).await.expect("list all");
        assert_eq!(
            ids(&all),
            [1, 2, 3, 7, 4, 5].map(ApiKeyId::from_u128),
            "every tenant's keys, oldest first"
        );
        assert!(
            store
                .list(Some(&tenant("initech")))
                .await
                .expect("list")
                .is_empty(),
            "a tenant without keys lists none"
        );
    }

    /// Revoking sets `revoked_at` and returns the key; revoking again keeps the first time.
    pub async fn revoke_sets_revoked_at_once<S: ApiKeyStore + ?Sized>(factory: &impl Factory<S>) {
        let store = factory.create().await;
        let key = api_key(1, "acme");
        store.insert(key.clone()).await.expect("insert");
        let acme = tenant("acme");

        let revoked = store.revoke(&acme, key.id, at(10)).await.expect("revoke");
        let mut expected = key.clone();
        expected.revoked_at = Some(at(10));
        assert_eq!(revoked, expected, "revoke returns the revoked key");
        assert!(!revoked.is_active());
        assert_eq!(
            store.find_by_hash(&key.hash).await.expect("find"),
            Some(expected.clone()),
            "a revoked key is still found, marked revoked"
        );

        let again = store
            .revoke(&acme, key.id, at(20))
            .await
            .expect("revoke again");
        assert_eq!(again, expected, "the second revoke keeps the first time");
        assert_eq!(
            store.find_by_hash(&key.hash).await.expect("find"),
            Some(expected)
        );
    }

    /// Revoking another tenant's key, or a key that does not exist, is `NotFound` and changes
    /// nothing.
    pub async fn revoking_another_tenants_or_unknown_key_is_not_found<S: ApiKeyStore + ?Sized>(
        factory: &impl Factory<S>,
    ) {
        let store = factory.create().await;
        let key = api_key(1, "acme");
        store.insert(key.clone()).await.expect("insert");
        assert_not_found(
            &store.revoke(&tenant("globex"), key.id, at(10)).await,
            "another tenant's key",
        );
        assert_not_found(
            &store
                .revoke(&tenant("acme"), ApiKeyId::from_u128(99), at(10))
                .await,
            "an unknown key",
        );
        assert_eq!(
            store.find_by_hash(&key.hash).await.expect("find"),
            Some(key),
            "the key is still active"
        );
    }

    /// Touching sets `last_used_at` (the latest touch wins) and nothing else; touching an
    /// unknown key is not an error.
    pub async fn touch_records_the_last_use<S: ApiKeyStore + ?Sized>(factory: &impl Factory<S>) {
        let store = factory.create().await;
        let key = api_key(1, "acme");
        let other = api_key(2, "acme");
        store.insert(key.clone()).await.expect("insert");
        store.insert(other.clone()).await.expect("insert");

        store.touch(key.id, at(10)).await.expect("touch");
        let mut expected = key.clone();
        expected.last_used_at = Some(at(10));
        assert_eq!(
            store.find_by_hash(&key.hash).await.expect("find"),
            Some(expected.clone())
        );
        store.touch(key.id, at(70)).await.expect("touch again");
        expected.last_used_at = Some(at(70));
        assert_eq!(
            store.find_by_hash(&key.hash).await.expect("find"),
            Some(expected)
        );
        assert_eq!(
            store.find_by_hash(&other.hash).await.expect("find"),
            Some(other),
            "other keys are untouched"
        );

        store
            .touch(ApiKeyId::from_u128(99), at(80))
            .await
            .expect("touching an unknown key is Ok");
    }
}

/// The [`AuditLog`] cases.
pub mod audit {
    use std::collections::BTreeSet;

    use godel_types::AuditId;
    use serde_json::json;

    use super::{AuditEntry, AuditLog, AuditOutcome, Factory, audit_entry, tenant};

    fn ids(entries: &[AuditEntry]) -> Vec<AuditId> {
        entries.iter().map(|e| e.id).collect()
    }

    fn aid(n: u128) -> AuditId {
        AuditId::from_u128(n)
    }

    /// Appending an id already kept is a no-op (a retried batch does not duplicate, and the
    /// kept entry is not replaced); the new entries of a batch are stored.
    pub async fn append_is_idempotent_by_id<L: AuditLog + ?Sized>(factory: &impl Factory<L>) {
        let log = factory.create().await;
        let batch = [audit_entry(1, Some("acme")), audit_entry(2, Some("acme"))];
        log.append(&batch).await.expect("append");
        log.append(&batch).await.expect("retried batch");
        let mut changed = audit_entry(2, Some("globex"));
        changed.action = "api_key.delete".to_owned();
        let e3 = audit_entry(3, None);
        log.append(&[changed, e3.clone()])
            .await
            .expect("overlapping batch");
        let listed = log.list(None, None, 10).await.expect("list");
        assert_eq!(listed, vec![e3, batch[1].clone(), batch[0].clone()]);
    }

    /// Entries list newest first (descending id), whatever the order they were appended in.
    pub async fn list_is_newest_first<L: AuditLog + ?Sized>(factory: &impl Factory<L>) {
        let log = factory.create().await;
        log.append(&[audit_entry(3, Some("acme")), audit_entry(1, Some("acme"))])
            .await
            .expect("append");
        log.append(&[audit_entry(4, None), audit_entry(2, Some("globex"))])
            .await
            .expect("append");
        let listed = log.list(None, None, 10).await.expect("list");
        assert_eq!(ids(&listed), [4, 3, 2, 1].map(aid));
    }

    /// Paging with `before` (the last id of the previous page) visits every matching entry
    /// once, newest first, for all tenants and for one.
    pub async fn before_cursor_pages_without_gaps_or_repeats<L: AuditLog + ?Sized>(
        factory: &impl Factory<L>,
    ) {
        let log = factory.create().await;
        let all: Vec<_> = (1..=11)
            .map(|n| match n % 4 {
                0 => audit_entry(n, Some("globex")),
                3 => audit_entry(n, None),
                _ => audit_entry(n, Some("acme")),
            })
            .collect();
        for chunk in all.chunks(3).rev() {
            log.append(chunk).await.expect("append");
        }
        let acme = tenant("acme");
        for (filter, expected) in [
            (None, (1..=11).rev().map(aid).collect::<Vec<_>>()),
            (
                Some(&acme),
                [10, 9, 6, 5, 2, 1].map(aid).into_iter().collect(),
            ),
        ] {
            let mut seen = Vec::new();
            let mut before = None;
            loop {
                let page = log.list(filter, before, 3).await.expect("page");
                assert!(page.len() <= 3, "a page holds at most `limit` entries");
                let Some(last) = page.last() else { break };
                before = Some(last.id);
                seen.extend(ids(&page));
            }
            assert_eq!(seen, expected, "pages of {filter:?}");
            assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), seen.len());
        }
        let older = log.list(None, Some(aid(5)), 100).await.expect("list");
        assert_eq!(
            ids(&older),
            [4, 3, 2, 1].map(aid),
            "strictly older than `before`"
        );
        let none = log.list(None, Some(aid(1)), 100).await.expect("list");
        assert!(none.is_empty(), "nothing is older than the oldest");
    }

    /// A tenant's listing holds that tenant's entries only; the listing of all tenants holds
    /// every entry, those with no tenant included.
    pub async fn tenant_filter_keeps_one_tenant_and_none_keeps_all<L: AuditLog + ?Sized>(
        factory: &impl Factory<L>,
    ) {
        let log = factory.create().await;
        log.append(&[
            audit_entry(1, Some("acme")),
            audit_entry(2, None),
            audit_entry(3, Some("globex")),
            audit_entry(4, Some("acme")),
            audit_entry(5, None),
        ])
        .await
        .expect("append");
        let acme = log
            .list(Some(&tenant("acme")), None, 10)
            .await
            .expect("acme");
        assert_eq!(ids(&acme), [4, 1].map(aid));
        let globex = log
            .list(Some(&tenant("globex")), None, 10)
            .await
            .expect("globex");
        assert_eq!(ids(&globex), [aid(3)]);
        let nobody = log
            .list(Some(&tenant("initech")), None, 10)
            .await
            .expect("initech");
        assert!(nobody.is_empty());
        let all = log.list(None, None, 10).await.expect("all");
        assert_eq!(
            ids(&all),
            [5, 4, 3, 2, 1].map(aid),
            "tenant-less entries are listed with all tenants"
        );
    }

    /// A listing holds at most `limit` entries, the newest; a zero limit lists nothing and an
    /// empty batch stores nothing, neither being an error.
    pub async fn limit_is_respected<L: AuditLog + ?Sized>(factory: &impl Factory<L>) {
        let log = factory.create().await;
        log.append(&[]).await.expect("empty batch");
        assert!(log.list(None, None, 10).await.expect("list").is_empty());
        let entries: Vec<_> = (1..=5).map(|n| audit_entry(n, Some("acme"))).collect();
        log.append(&entries).await.expect("append");
        let two = log.list(None, None, 2).await.expect("list");
        assert_eq!(ids(&two), [5, 4].map(aid));
        let two = log
            .list(Some(&tenant("acme")), Some(aid(4)), 2)
            .await
            .expect("list");
        assert_eq!(ids(&two), [3, 2].map(aid));
        assert!(log.list(None, None, 0).await.expect("list").is_empty());
        assert_eq!(
            log.list(None, None, usize::MAX).await.expect("list").len(),
            5
        );
    }

    /// Every field reads back as appended: each outcome, target, request id, client address,
    /// sub-second time, nested details, with and without a tenant.
    pub async fn every_field_round_trips<L: AuditLog + ?Sized>(factory: &impl Factory<L>) {
        let log = factory.create().await;
        let outcomes = [
            AuditOutcome::Success,
            AuditOutcome::Unauthenticated,
            AuditOutcome::Forbidden,
            AuditOutcome::Failure,
        ];
        let entries: Vec<_> = (1..=4u128)
            .zip(outcomes)
            .map(|(n, outcome)| {
                let mut entry = audit_entry(n, (n % 2 == 0).then_some("acme"));
                entry.outcome = outcome;
                entry.actor = if n == 2 {
                    "anonymous".to_owned()
                } else {
                    "jwt:alice@example.test".to_owned()
                };
                entry.action = format!("api_key.create.{}", outcome.as_str());
                entry.at +=
                    std::time::Duration::from_nanos(123_456_789 * u64::try_from(n).expect("small"));
                if n != 4 {
                    entry.target = Some(format!("/api/v1/tasks/{n}"));
                    entry.request_id = Some(format!("req-{n:08x}"));
                    entry.remote_addr = Some(if n == 3 {
                        "[2001:db8::1]:443".to_owned()
                    } else {
                        "203.0.113.7:51234".to_owned()
                    });
                    entry.details = json!({
                        "name": "ci \"deploy\" key ✓",
                        "role": "developer",
                        "count": n,
                        "ratio": 0.5,
                        "flags": [true, false, null],
                        "nested": { "empty": {}, "list": [] },
                    });
                }
                entry
            })
            .collect();
        log.append(&entries).await.expect("append");
        let mut listed = log.list(None, None, 10).await.expect("list");
        listed.reverse();
        assert_eq!(listed, entries, "every field reads back as appended");
    }
}

/// Generates `mod $module { #[tokio::test] async fn $case() { cases::$case(&factory).await } }`.
/// Used by [`access_conformance!`](crate::access_conformance); not meant to be called directly.
#[doc(hidden)]
#[macro_export]
macro_rules! __access_conformance {
    ($module:ident, $cases:ident, $factory:expr; $($case:ident),+ $(,)?) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[::tokio::test]
                async fn $case() {
                    $crate::access::conformance::$cases::$case(&$factory).await;
                }
            )+
        }
    };
}

/// Generates the [`ApiKeyStore`] suite (module `api_key_store_conformance`) for the stores
/// made by the `api_keys` factory expression, and the [`AuditLog`] suite (module
/// `audit_log_conformance`) for the logs made by the `audit` one; either may be left out.
#[macro_export]
macro_rules! access_conformance {
    (api_keys: $keys:expr, audit: $audit:expr $(,)?) => {
        $crate::access_conformance!(api_keys: $keys);
        $crate::access_conformance!(audit: $audit);
    };
    (api_keys: $factory:expr $(,)?) => {
        $crate::__access_conformance!(api_key_store_conformance, api_keys, $factory;
            inserted_key_is_found_by_its_hash,
            unknown_hash_is_none,
            duplicate_id_or_hash_is_refused,
            list_is_oldest_first_by_tenant_or_all_including_revoked,
            revoke_sets_revoked_at_once,
            revoking_another_tenants_or_unknown_key_is_not_found,
            touch_records_the_last_use,
        );
    };
    (audit: $factory:expr $(,)?) => {
        $crate::__access_conformance!(audit_log_conformance, audit, $factory;
            append_is_idempotent_by_id,
            list_is_newest_first,
            before_cursor_pages_without_gaps_or_repeats,
            tenant_filter_keeps_one_tenant_and_none_keeps_all,
            limit_is_respected,
            every_field_round_trips,
        );
    };
}
