//! The orchestrator: the dispatch loop that turns queued tasks into gateway runs
//! ([`dispatch`]), the follower of one run ([`run`]), the session handling around a run
//! ([`session`]), and the leader's periodic duties ([`duties`]).

pub(crate) mod dispatch;
pub(crate) mod duties;
pub(crate) mod run;
pub(crate) mod session;
