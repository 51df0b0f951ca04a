//! Requests sent and not yet answered, by request id.

use std::collections::HashMap;

use godel_lifecycle::{GatewayError, RunId};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::time::Instant;

/// A request that failed: the error, and the payload the gateway may have sent along.
#[derive(Debug, Clone)]
pub(crate) struct Refusal {
    /// What went wrong.
    pub(crate) error: GatewayError,
    /// The response's `payload` next to its `error`, if any.
    pub(crate) payload: Option<Value>,
}

impl From<GatewayError> for Refusal {
    fn from(error: GatewayError) -> Self {
        Self {
            error,
            payload: None,
        }
    }
}

/// What a caller gets back.
pub(crate) type Answer = Result<Value, Refusal>;

/// Where a response goes.
#[derive(Debug)]
pub(crate) enum Responder {
    /// Back to a caller of the gateway.
    Caller(oneshot::Sender<Answer>),
    /// To the run whose end an internal `agent.wait` confirms.
    Confirm(RunId),
    /// To the runs whose sessions an internal `sessions.list` checks.
    Verify(Vec<RunId>),
}

/// One request awaiting its response.
#[derive(Debug)]
pub(crate) struct Waiter {
    /// The method, for error messages.
    pub(crate) method: String,
    /// Where the response goes.
    pub(crate) responder: Responder,
    /// When to give up on it.
    pub(crate) deadline: Instant,
}

/// The requests in flight on the current connection.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    waiters: HashMap<String, Waiter>,
}

impl Pending {
    /// Remembers a request sent with `id`.
    pub(crate) fn insert(&mut self, id: String, waiter: Waiter) {
        self.waiters.insert(id, waiter);
    }

    /// The waiter of `id`, if the request is still awaited.
    pub(crate) fn take(&mut self, id: &str) -> Option<Waiter> {
        self.waiters.remove(id)
    }

    /// Forgets requests whose caller gave up or whose deadline passed; returns the runs whose
    /// confirmation expired.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<RunId> {
        let mut expired = Vec::new();
        self.waiters.retain(|_, w| match &w.responder {
            Responder::Caller(tx) => !tx.is_closed() && w.deadline > now,
            Responder::Confirm(run) if w.deadline <= now => {
                expired.push(run.clone());
                false
            }
            Responder::Confirm(_) => true,
            Responder::Verify(_) => w.deadline > now,
        });
        expired
    }

    /// Fails every caller with `error` (the connection is gone) and forgets confirmations.
    pub(crate) fn fail_all(&mut self, error: &GatewayError) {
        for (_, waiter) in self.waiters.drain() {
            if let Responder::Caller(tx) = waiter.responder {
                let _ = tx.send(Err(error.clone().into()));
            }
        }
    }

    /// Requests in flight.
    pub(crate) fn len(&self) -> usize {
        self.waiters.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn expiry_drops_abandoned_callers_and_reports_late_confirmations() {
        let now = Instant::now();
        let mut pending = Pending::default();
        let (tx, rx) = oneshot::channel();
        drop(rx);
        pending.insert(
            "1".into(),
            Waiter {
                method: "health".into(),
                responder: Responder::Caller(tx),
                deadline: now + Duration::from_secs(9),
            },
        );
        let (tx, _rx) = oneshot::channel();
        pending.insert(
            "2".into(),
            Waiter {
                method: "health".into(),
                responder: Responder::Caller(tx),
                deadline: now + Duration::from_secs(9),
            },
        );
        pending.insert(
            "3".into(),
            Waiter {
                method: "agent.wait".into(),
                responder: Responder::Confirm(RunId::new("r")),
                deadline: now,
            },
        );
        assert_eq!(pending.expire(now), vec![RunId::new("r")]);
        assert_eq!(pending.len(), 1);
        assert!(pending.take("2").is_some());
    }

    #[test]
    fn failing_all_answers_every_caller() {
        let mut pending = Pending::default();
        let (tx, mut rx) = oneshot::channel();
        pending.insert(
            "1".into(),
            Waiter {
                method: "health".into(),
                responder: Responder::Caller(tx),
                deadline: Instant::now(),
            },
        );
        pending.fail_all(&GatewayError::unavailable("gone"));
        assert!(matches!(
            rx.try_recv(),
            Ok(Err(Refusal {
                error: GatewayError::Unavailable { .. },
                payload: None
            }))
        ));
        assert_eq!(pending.len(), 0);
    }
}
