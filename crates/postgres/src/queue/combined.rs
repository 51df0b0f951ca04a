//! The operations served by [`Combiner`](godel_engine::combine::Combiner)s besides enqueues: claims
//! (every waiting claim with the same eligibility leased by one claim over all their slots)
//! and acks (every waiting ack completed by one statement).

use async_trait::async_trait;
use godel_queue::{AgentId, Eligibility, Lease, QueueConfig, QueueError};
use sqlx::PgPool;
use time::OffsetDateTime;

use super::claim::{self, Slots};
use super::counters::Counters;
use super::fault::{DbContext, Fault};
use super::lease::{self, AckRequest};
use super::{STATS_SHARD_ACKS, STATS_SHARD_CLAIMS};
use godel_engine::combine::Serve;

/// Most claims one transaction serves.
pub(crate) const MAX_CLAIMS: usize = 256;
/// Most acks one transaction serves.
pub(crate) const MAX_ACKS: usize = 512;
/// Claim groups in flight at once: one, since concurrent groups would race for the same rows.
pub(crate) const CLAIM_GROUPS: usize = 1;
/// Ack groups in flight at once (acks of different leases never touch the same row).
pub(crate) const ACK_GROUPS: usize = 2;

/// One caller's claim, with the clock reading taken when it was made.
pub(crate) struct ClaimRequest {
    pub(crate) agent: AgentId,
    pub(crate) eligibility: Eligibility,
    pub(crate) max: usize,
    pub(crate) now: OffsetDateTime,
}

/// Claims, served a group per transaction.
pub(crate) struct Claims {
    pub(crate) pool: PgPool,
    pub(crate) config: QueueConfig,
}

#[async_trait]
impl Serve for Claims {
    type Request = ClaimRequest;
    type Response = Vec<Lease>;
    type Fault = Fault;

    /// Claims with equal eligibility are served together, in arrival order, as one claim
    /// whose leases go to each claimant in turn: the same leases, in the same order, as
    /// claims made one after another.
    async fn serve(
        &self,
        requests: &[ClaimRequest],
    ) -> Result<Vec<Result<Vec<Lease>, QueueError>>, Fault> {
        let mut answers: Vec<Vec<Lease>> = requests.iter().map(|_| Vec::new()).collect();
        let mut served = vec![false; requests.len()];
        // The group's clock reading: the latest of its requests (each was taken before sending).
        let Some(now) = requests.iter().map(|r| r.now).max() else {
            return Ok(Vec::new());
        };
        let mut tx = self.pool.begin().await.db("begin a claim group")?;
        let mut counters = Counters::default();
        for first in 0..requests.len() {
            if served[first] {
                continue;
            }
            let eligibility = &requests[first].eligibility;
            let members: Vec<usize> = (first..requests.len())
                .filter(|&i| !served[i] && requests[i].eligibility == *eligibility)
                .collect();
            let slots = Slots::new(
                members
                    .iter()
                    .map(|&i| (&requests[i].agent, requests[i].max)),
            );
            let leases = claim::claim(
                &mut tx,
                &slots,
                eligibility,
                &self.config,
                now,
                &mut counters,
            )
            .await?;
            for (position, lease) in leases.into_iter().enumerate() {
                answers[members[slots.owner(position)]].push(lease);
            }
            for i in members {
                served[i] = true;
            }
        }
        counters.flush(&mut tx, STATS_SHARD_CLAIMS).await?;
        tx.commit().await.db("commit a claim group")?;
        Ok(answers.into_iter().map(Ok).collect())
    }
}

/// Acks, served a group per transaction.
pub(crate) struct Acks {
    pub(crate) pool: PgPool,
}

#[async_trait]
impl Serve for Acks {
    type Request = AckRequest;
    type Response = ();
    type Fault = Fault;

    async fn serve(&self, requests: &[AckRequest]) -> Result<Vec<Result<(), QueueError>>, Fault> {
        let mut tx = self.pool.begin().await.db("begin an ack group")?;
        let mut counters = Counters::default();
        let answers = lease::ack_all(&mut tx, requests, &mut counters).await?;
        counters.flush(&mut tx, STATS_SHARD_ACKS).await?;
        tx.commit().await.db("commit an ack group")?;
        Ok(answers)
    }
}
