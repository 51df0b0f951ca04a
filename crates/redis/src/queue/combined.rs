//! The operations served by [`Combiner`](godel_engine::combine::Combiner)s: claims (every
//! waiting claim with the same eligibility served by one claim over all their slots) and acks
//! (every waiting ack of a tenant completed by one script call).
//!
//! A group costs a handful of round trips however many callers it serves; one group is in
//! flight at a time, so claims of this process never race each other for a lane.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use godel_engine::combine::Serve;
use godel_queue::{AgentId, Eligibility, Lease, LeaseToken, QueueError, TenantId};
use redis::AsyncCommands;
use serde_json::{Value, json};

use super::Core;
use super::claim::{self, Slot};
use super::reply::{error_of, items};
use crate::error::Context;
use crate::scripts;

/// Most claims one group serves.
pub(super) const MAX_CLAIMS: usize = 256;
/// Most acks one group serves.
pub(super) const MAX_ACKS: usize = 512;

/// One caller's claim.
pub(super) struct ClaimRequest {
    pub(super) agent: AgentId,
    pub(super) eligibility: Eligibility,
    pub(super) max: usize,
}

/// Claims, served a group at a time.
pub(super) struct Claims {
    pub(super) core: Arc<Core>,
}

#[async_trait]
impl Serve for Claims {
    type Request = ClaimRequest;
    /// The leases, and whether a limit held back an eligible task.
    type Response = (Vec<Lease>, bool);
    type Fault = QueueError;

    /// Claims with equal eligibility are served together, in arrival order, as one claim
    /// whose leases go to each claimant in turn: the same leases, in the same order, as
    /// claims made one after another.
    async fn serve(
        &self,
        requests: &[ClaimRequest],
    ) -> Result<Vec<Result<(Vec<Lease>, bool), QueueError>>, QueueError> {
        // Each round of a claim promotes what fell due before it chooses.
        let mut conn = self.core.conn().await?;
        let mut answers: Vec<Option<(Vec<Lease>, bool)>> = requests.iter().map(|_| None).collect();
        for first in 0..requests.len() {
            if answers[first].is_some() {
                continue;
            }
            let eligibility = &requests[first].eligibility;
            let members: Vec<usize> = (first..requests.len())
                .filter(|&i| answers[i].is_none() && requests[i].eligibility == *eligibility)
                .collect();
            let slots: Vec<Slot> = members
                .iter()
                .map(|&i| Slot {
                    agent: requests[i].agent.clone(),
                    max: requests[i].max,
                })
                .collect();
            let claimed = claim::claim(&self.core, &mut conn, eligibility, &slots).await?;
            if claimed.throttled {
                // As many throttled claims as claimants held back (at least the first).
                let short = members
                    .iter()
                    .zip(&claimed.leases)
                    .filter(|(i, leases)| leases.len() < requests[**i].max)
                    .count()
                    .max(1);
                let _: i64 = conn
                    .hincr(self.core.keys.fleet_key("stats"), "throttled", short)
                    .await
                    .context("count throttled claims")?;
            }
            for (i, leases) in members.into_iter().zip(claimed.leases) {
                answers[i] = Some((leases, claimed.throttled));
            }
        }
        Ok(answers
            .into_iter()
            .map(|a| Ok(a.unwrap_or_default()))
            .collect())
    }
}

/// One caller's ack: its lease and the result (JSON text, empty for none).
pub(super) struct AckRequest {
    pub(super) token: LeaseToken,
    pub(super) result: String,
}

/// Acks, served a group at a time.
pub(super) struct Acks {
    pub(super) core: Arc<Core>,
}

#[async_trait]
impl Serve for Acks {
    type Request = AckRequest;
    type Response = ();
    type Fault = QueueError;

    /// One lookup of every task's tenant, then one ack script per tenant over its acks in
    /// arrival order (so of two acks of one lease, the first wins).
    async fn serve(
        &self,
        requests: &[AckRequest],
    ) -> Result<Vec<Result<(), QueueError>>, QueueError> {
        let mut conn = self.core.conn().await?;
        let ids: Vec<String> = requests.iter().map(|r| r.token.task.to_string()).collect();
        let tenants: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(self.core.keys.fleet_key("where"))
            .arg(&ids)
            .query_async(&mut conn)
            .await
            .context("find tasks")?;
        let mut answers: Vec<Result<(), QueueError>> = requests
            .iter()
            .map(|r| Err(QueueError::NotFound(r.token.task)))
            .collect();
        let mut by_tenant: HashMap<TenantId, Vec<usize>> = HashMap::new();
        let mut order = Vec::new();
        for (i, tenant) in tenants.iter().enumerate() {
            if let Some(tenant) = tenant.as_deref().and_then(|t| TenantId::parse(t).ok()) {
                let members = by_tenant.entry(tenant.clone()).or_default();
                if members.is_empty() {
                    order.push(tenant);
                }
                members.push(i);
            }
        }
        for tenant in order {
            let members = &by_tenant[&tenant];
            let list: Vec<Value> = members
                .iter()
                .map(|&i| {
                    json!({
                        "id": ids[i],
                        "fence": requests[i].token.fence.to_string(),
                        "result": requests[i].result,
                    })
                })
                .collect();
            let reply = self
                .core
                .run(
                    &mut conn,
                    &tenant,
                    &scripts::ACK,
                    json!({ "items": list }),
                    None,
                )
                .await?;
            let out = items(&reply["out"]);
            for (&i, why) in members.iter().zip(out) {
                let why = why.as_str().unwrap_or("");
                answers[i] = match error_of(&json!({ "err": why }), requests[i].token.task, &tenant)
                {
                    Some(e) if !why.is_empty() => Err(e),
                    _ => Ok(()),
                };
            }
        }
        Ok(answers)
    }
}
