//! `godel`: the library platform teams embed, and the wiring above the ports.
//!
//! Features choose the adapters compiled in (none by default): `sqlite`, `postgres`, `redis`
//! (with `postgres`), `openclaw`, `http`; `server` brings SQLite, OpenClaw and HTTP with the
//! builder and settings; `client` the HTTP client.
//!
//! - `Godel` (feature `server`): the builder and the server: in-memory stores for embedding,
//!   or the stores `Settings` name; the engine, the HTTP API, the first admin key, simulated
//!   gateways in development mode; `run` is all of `godel-server`. See `examples/embed.rs`.
//! - `settings` (feature `server`): `Settings`, loaded from defaults, `godel.toml`, the
//!   environment and flags.
//! - `client` (feature `client`): the typed HTTP client of a Godel server.
//! - `store::PairedQueueStore` (feature `redis`): the production queue, a `godel_queue::QueueStore` over
//!   Postgres (the truth: every write commits there first) and Redis (the index: claims are
//!   picked there by Lua and adopted by Postgres), degrading to Postgres alone while Redis is
//!   unreachable and rebuilding the index from Postgres when it comes back (DESIGN §4).

#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "server")]
pub mod settings;
#[cfg(feature = "redis")]
pub mod store;

/// The engine's use cases and types (`SubmitTask`, `Task`, `TaskService`, ...), for embedders.
#[cfg(feature = "server")]
pub use godel_engine as engine;
#[cfg(feature = "client")]
pub use godel_http::client;
/// The shared vocabulary (`TenantId`, `Priority`, `TaskStatus`, `Event`, ...), for embedders.
#[cfg(feature = "server")]
pub use godel_types as types;
#[cfg(feature = "server")]
pub use server::{Godel, GodelBuilder, Running, ServerError, run};
#[cfg(feature = "server")]
pub use settings::{Settings, Sources};
