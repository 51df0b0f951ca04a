//! Godel's facade crate: the pieces that wire the adapters together above the ports.
//!
//! - [`store::PairedQueueStore`]: the production queue, a [`godel_queue::QueueStore`] over
//!   Postgres (the truth: every write commits there first) and Redis (the index: claims are
//!   picked there by Lua and adopted by Postgres), degrading to Postgres alone while Redis is
//!   unreachable and rebuilding the index from Postgres when it comes back (DESIGN §4).

pub mod store;
