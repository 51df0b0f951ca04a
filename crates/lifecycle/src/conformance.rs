//! The conformance suites every repository adapter must pass (feature `test-util`), one per
//! port. A store crate runs them with one macro call each in a test file, giving a factory of
//! fresh, empty repositories (its own database, schema or key prefix per call):
//!
//! ```
//! // In a store crate's `tests/conformance.rs`:
//! use std::sync::Arc;
//! use godel_lifecycle::memory::MemorySessionRepository;
//!
//! godel_lifecycle::session_repository_conformance!(|| async {
//!     Arc::new(MemorySessionRepository::default())
//! });
//! # fn main() {}
//! ```
//!
//! Each macro generates a module named after it with one `#[tokio::test]` per case; each case
//! asserts one rule of the port's `# Errors` contract and panics with a message naming it. The
//! calling crate needs `tokio` (features `macros`, `rt`) as a dev-dependency.

pub mod agents;
pub mod checkpoints;
pub mod events;
mod fixtures;
pub mod sessions;
pub mod tasks;

use std::future::Future;
use std::sync::Arc;

pub use self::fixtures::{agent, checkpoint, event, instance, run, session, t0, tenant};

/// Makes a fresh, empty repository of type `R` (a concrete type or `dyn Port`) for each case.
///
/// Every closure `Fn() -> impl Future<Output = Arc<R>>` is a factory.
pub trait Factory<R: ?Sized>: Send + Sync {
    /// A new, empty repository.
    fn create(&self) -> impl Future<Output = Arc<R>> + Send;
}

impl<R, F, Fut> Factory<R> for F
where
    R: ?Sized,
    F: Fn() -> Fut + Send + Sync,
    Fut: Future<Output = Arc<R>> + Send,
{
    fn create(&self) -> impl Future<Output = Arc<R>> + Send {
        self()
    }
}

/// Generates `mod $module { #[tokio::test] async fn $case() { cases::$case(&factory).await } }`.
/// Used by the per-port macros; not meant to be called directly.
#[doc(hidden)]
#[macro_export]
macro_rules! __lifecycle_conformance {
    ($module:ident, $cases:ident, $factory:expr; $($case:ident),+ $(,)?) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[::tokio::test]
                async fn $case() {
                    $crate::conformance::$cases::$case(&$factory).await;
                }
            )+
        }
    };
}

/// Generates the [`TaskRepository`](crate::TaskRepository) suite, in a module
/// `task_repository_conformance`, for the repositories made by the factory expression.
#[macro_export]
macro_rules! task_repository_conformance {
    ($factory:expr) => {
        $crate::__lifecycle_conformance!(task_repository_conformance, tasks, $factory;
            inserted_details_read_back,
            many_details_read_back_in_one_call,
            duplicate_task_is_refused,
            unknown_or_foreign_task_is_not_found,
            runs_append_in_order_and_ids_are_unique,
            ending_a_run_records_it_once,
            remove_counts_what_existed,
        );
    };
}

/// Generates the [`SessionRepository`](crate::SessionRepository) suite, in a module
/// `session_repository_conformance`, for the repositories made by the factory expression.
#[macro_export]
macro_rules! session_repository_conformance {
    ($factory:expr) => {
        $crate::__lifecycle_conformance!(session_repository_conformance, sessions, $factory;
            inserted_session_reads_back,
            duplicate_session_is_refused,
            foreign_or_unknown_session_is_not_found,
            update_takes_exactly_the_next_version,
            stale_copy_is_refused,
            list_filters_by_every_field,
            list_pages_in_id_order_without_gaps,
        );
    };
}

/// Generates the [`AgentRepository`](crate::AgentRepository) suite, in a module
/// `agent_repository_conformance`, for the repositories made by the factory expression.
#[macro_export]
macro_rules! agent_repository_conformance {
    ($factory:expr) => {
        $crate::__lifecycle_conformance!(agent_repository_conformance, agents, $factory;
            inserted_agent_reads_back,
            duplicate_agent_is_refused,
            unknown_agent_is_not_found,
            update_replaces_the_record,
            list_is_ordered_by_id_and_filters_by_instance,
            remove_returns_the_last_record,
        );
    };
}

/// Generates the [`CheckpointStore`](crate::CheckpointStore) suite, in a module
/// `checkpoint_store_conformance`, for the stores made by the factory expression.
#[macro_export]
macro_rules! checkpoint_store_conformance {
    ($factory:expr) => {
        $crate::__lifecycle_conformance!(checkpoint_store_conformance, checkpoints, $factory;
            saved_checkpoint_reads_back,
            duplicate_id_is_refused,
            names_are_unique_per_session,
            foreign_checkpoints_are_invisible,
            list_is_oldest_first_and_latest_is_newest,
            prune_keeps_named_and_newest_automatic,
        );
    };
}

/// Generates the [`EventLog`](crate::EventLog) suite, in a module `event_log_conformance`,
/// for the logs made by the factory expression.
#[macro_export]
macro_rules! event_log_conformance {
    ($factory:expr) => {
        $crate::__lifecycle_conformance!(event_log_conformance, events, $factory;
            appended_events_list_in_id_order,
            appending_a_stored_id_again_is_ignored,
            query_filters_by_tenant_task_and_name,
            pages_without_gaps_or_repeats,
            empty_batch_and_zero_limit_are_harmless,
        );
    };
}
