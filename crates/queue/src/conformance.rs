//! The conformance suite every [`QueueStore`] must pass (feature `test-util`).
//!
//! A store crate runs all of it with one macro call in a test file:
//!
//! ```
//! // In a store crate's `tests/conformance.rs`, with a factory of its own:
//! godel_queue::queue_conformance!(godel_queue::conformance::MemoryFactory);
//! # fn main() {}
//! ```
//!
//! Each case builds a fresh store through the factory, with a [`ManualClock`] the case moves
//! by hand and a [`QueueConfig`] of its choosing, and asserts one rule of DESIGN §3. The
//! calling crate needs `tokio` (features `macros`, `rt-multi-thread`) as a dev-dependency.

pub mod cases;
mod guarded;
mod harness;

use std::future::Future;

pub use guarded::Guarded;
pub use harness::{Harness, agent_id, caps, join_all, task, tenant};

use crate::clock::ManualClock;
use crate::config::QueueConfig;
use crate::memory::MemoryQueueStore;
use crate::store::QueueStore;

/// Makes fresh, empty stores for the conformance cases.
pub trait StoreFactory: Send + Sync {
    /// The store under test.
    type Store: QueueStore + 'static;

    /// A new, empty store (its own database, schema or key prefix) using `config` and reading
    /// time from `clock`.
    fn create(
        &self,
        config: QueueConfig,
        clock: ManualClock,
    ) -> impl Future<Output = Self::Store> + Send;
}

/// Runs the suite on [`MemoryQueueStore`].
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryFactory;

impl StoreFactory for MemoryFactory {
    type Store = MemoryQueueStore;

    async fn create(&self, config: QueueConfig, clock: ManualClock) -> MemoryQueueStore {
        MemoryQueueStore::try_new(config, std::sync::Arc::new(clock)).expect("valid test config")
    }
}

/// Generates one `#[tokio::test]` per conformance case, inside a module named
/// `queue_conformance`, for the store made by the factory expression.
#[macro_export]
macro_rules! queue_conformance {
    ($factory:expr) => {
        $crate::queue_conformance!(@cases $factory;
            enqueued_task_is_pending_and_readable,
            unknown_task_is_not_found,
            duplicate_id_is_refused,
            batch_is_all_or_nothing,
            empty_batch_is_invalid,
            zero_max_attempts_is_invalid,
            idempotency_key_returns_the_existing_task,
            idempotency_keys_are_per_tenant,
            idempotent_duplicates_within_a_batch_collapse,
            tenant_queue_bound_refuses_excess_tasks,
            claims_follow_strict_priority,
            claims_are_fifo_within_tenant_and_priority,
            equal_weight_tenants_alternate,
            tenants_share_claims_by_weight,
            newly_active_tenant_does_not_get_a_burst,
            claim_returns_at_most_max_and_fewer_when_dry,
            claim_on_empty_queue_returns_nothing,
            required_capabilities_must_be_a_subset,
            incapable_head_does_not_block_other_work,
            tenant_filter_restricts_claims,
            concurrent_claimers_never_share_a_task,
            claim_leases_with_expiry_and_increasing_fences,
            start_marks_the_task_running,
            heartbeat_extends_the_lease,
            ack_completes_and_keeps_the_result,
            old_holder_is_refused_after_the_task_is_leased_again,
            expired_token_is_refused_before_reaping,
            second_ack_is_refused,
            stale_heartbeat_and_start_are_refused,
            expired_lease_is_requeued_as_a_failed_attempt,
            expiry_at_max_attempts_dead_letters,
            release_gives_back_without_counting_an_attempt,
            failure_waits_for_exponential_backoff,
            retry_after_longer_than_backoff_is_honoured,
            failure_at_max_attempts_dead_letters,
            permanent_failure_dead_letters_at_once,
            replay_restores_a_dead_letter_with_fresh_attempts,
            replay_of_a_live_task_is_refused,
            replay_by_filter_touches_only_matching_dead_letters,
            dead_letters_page_in_order,
            purge_removes_dead_letters_past_retention,
            purge_finished_frees_idempotency_keys,
            cancel_of_waiting_tasks_is_immediate,
            cancel_of_leased_task_is_a_request_the_holder_confirms,
            cancel_of_finished_task_is_illegal,
            cancel_cascades_to_blocked_dependents,
            dependent_waits_until_every_dependency_completes,
            dead_lettered_dependency_cancels_dependents,
            dependency_on_another_tenant_is_unknown,
            dependency_already_cancelled_cancels_the_new_task,
            delayed_task_is_not_due_before_its_time,
            promote_due_moves_due_tasks_to_pending,
            child_inherits_parent_priority,
            unknown_parent_is_refused,
            load_is_released_exactly_once_on_every_path,
            fail_over_requeues_the_agents_tasks,
            concurrency_limit_skips_without_blocking_others,
            tenant_concurrency_limit_applies_across_agents,
            claimant_key_limit_caps_an_agent,
            rate_limit_refills_with_time,
            depth_counts_due_waiting_tasks_by_priority_and_tenant,
            aging_raises_waiting_tasks_when_enabled,
            list_pages_in_enqueue_order_without_gaps_or_repeats,
            list_newest_first_pages_backwards,
            list_cursor_survives_changes_between_pages,
            list_filters_by_tenant,
            list_filters_by_status_set,
            list_filters_by_priority,
            list_filters_by_assignee,
            group_is_carried_to_the_record_and_filters,
            list_combines_filters,
            count_by_status_equals_the_filtered_lists,
            purged_tasks_are_neither_listed_nor_counted,
            list_and_count_see_due_tasks_as_pending,
        );
    };
    (@cases $factory:expr; $($case:ident),+ $(,)?) => {
        mod queue_conformance {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    $crate::conformance::cases::$case(&$factory).await;
                }
            )+
        }
    };
}
