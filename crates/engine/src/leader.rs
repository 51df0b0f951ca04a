//! The `LeaderLease` port: which replica runs the fleet-wide duties (promotion, reaping,
//! purging, health probes, autoscaling, failover). Every replica dispatches; only the leader
//! runs duties.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::EngineError;

/// A lease on leadership, held by one replica at a time.
#[async_trait]
pub trait LeaderLease: Send + Sync + fmt::Debug {
    /// Takes or renews leadership for `holder` for `ttl`; returns the fencing token of the
    /// current term when `holder` leads, `None` when another replica does. Tokens grow
    /// strictly with each new term.
    ///
    /// # Errors
    /// [`EngineError::Unavailable`] when the lease store cannot be reached (the caller must
    /// then act as a follower).
    async fn acquire(&self, holder: &str, ttl: Duration) -> Result<Option<u64>, EngineError>;

    /// Gives leadership up early (graceful shutdown), if `holder` has it.
    ///
    /// # Errors
    /// [`EngineError::Unavailable`] when the lease store cannot be reached.
    async fn release(&self, holder: &str) -> Result<(), EngineError>;
}

/// A single-node deployment: this replica always leads.
#[derive(Debug, Clone, Copy, Default)]
pub struct SingleNode;

#[async_trait]
impl LeaderLease for SingleNode {
    async fn acquire(&self, _holder: &str, _ttl: Duration) -> Result<Option<u64>, EngineError> {
        Ok(Some(1))
    }

    async fn release(&self, _holder: &str) -> Result<(), EngineError> {
        Ok(())
    }
}
