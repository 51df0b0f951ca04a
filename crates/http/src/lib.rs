//! `godel-http`: Godel's HTTP adapter (axum).
//!
//! What it is: every route of the external contract (`API.md`) under `/api/v1` and the
//! deprecated `/api` alias, the `/events` WebSocket, authentication (JWT HS256, API keys),
//! the RBAC matrix, per-credential rate limits, the OpenAPI 3.1 document generated from the
//! handlers, health probes and `/metrics`. Handlers translate HTTP to the engine's use cases and
//! back; they hold no business rules.
//!
//! - [`state`]: [`AppState`], everything a handler may reach, built by [`AppState::builder`];
//! - [`error`]: [`ApiError`], the one mapping of failures to the PRD 10.2 error body;
//! - [`auth`]: the [`Principal`] a request acts as, credentials, roles and the audit trail;
//! - `routes`: the REST resources; `ops`: health, metrics, request ids; `events`: the WebSocket;
//! - [`mod@router`]: the whole application as one `axum::Router`.
//!
//! What it is not: it opens no store and starts no engine; the `godel` crate wires those and
//! hands them over in [`AppState`].

mod audit;
pub mod auth;
#[cfg(feature = "client")]
pub mod client;
pub mod error;
pub mod events;
pub mod ops;
pub mod request_id;
pub mod router;
pub mod routes;
pub mod shed;
pub mod state;

pub use auth::{Principal, Role};
pub use auth::{create_api_key, generate_key};
pub use error::{ApiError, ErrorCode};
pub use router::{router, serve};
pub use state::{
    AppState, AppStateBuilder, HealthProbe, HttpOptions, JwtSettings, ProbeReport, StateError,
};
