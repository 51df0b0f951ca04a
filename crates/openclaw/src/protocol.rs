//! Protocol v4 of the OpenClaw gateway (`../shared/OPENCLAW.md`): frames, their strict
//! decoding, the connect handshake's payloads, the run events and the method payloads Godel uses.
//!
//! The envelope (`type`, `id`, `ok`, `error`, `event`, ...) is decoded strictly, like the
//! gateway's own schema: an unknown top-level key, a wrong type or a missing field is a
//! [`ProtocolError`]. Payloads are tolerant: the gateway adds fields freely, so only the fields
//! Godel reads are typed and the rest is ignored. Nothing here does I/O, and nothing here panics
//! on input.
//!
//! [`reconcile`] turns one run's `agent` and `chat` events into Godel's
//! [`RunEvent`](godel_lifecycle::RunEvent)s.

mod connect;
mod events;
mod frame;
mod methods;
pub mod reconcile;

pub use self::connect::{
    Challenge, ClientInfo, ConnectAuth, ConnectParams, Features, HelloAuth, HelloOk, Policy,
    ServerInfo,
};
pub use self::events::{
    AgentEvent, AgentStream, AssistantData, ChatEvent, ChatState, GatewayEvent, LifecycleData,
    RunStatusData, TerminalReply, ToolData, message_text,
};
pub use self::frame::{ErrorShape, Event, Frame, Request, Response, decode};
pub use self::methods::{
    AgentWaitParams, AgentWaitResult, ChatAbortParams, ChatAbortResult, ChatSendParams,
    ChatSendResult, Count, EndedRun, EventLoop, HealthAgent, HealthResult, SendStatus,
    SessionEntry, SessionsAbortParams, SessionsAbortResult, SessionsDeleteParams,
    SessionsDeleteResult, SessionsListParams, SessionsListResult, WaitOutcome, method,
};
pub use crate::error::ProtocolError;

/// The protocol version Godel speaks (both `minProtocol` and `maxProtocol` of `connect`).
pub const PROTOCOL_VERSION: u32 = 4;

/// The `client.id` of a backend orchestrator; the gateway refuses ids outside its fixed list.
pub const CLIENT_ID: &str = "gateway-client";

/// The `client.mode` of a backend orchestrator.
pub const CLIENT_MODE: &str = "backend";

/// The role Godel connects with.
pub const ROLE: &str = "operator";

/// The scopes Godel asks for: read (health, sessions), write (runs), admin (sessions.reset).
pub const DEFAULT_SCOPES: [&str; 3] = ["operator.read", "operator.write", "operator.admin"];

/// The capabilities Godel announces: `tool-events` makes the gateway send `tool` stream events
/// of the runs this connection started.
pub const DEFAULT_CAPS: [&str; 1] = ["tool-events"];

/// Event names the client reacts to.
pub mod event_name {
    /// First frame of a connection, before `connect`.
    pub const CONNECT_CHALLENGE: &str = "connect.challenge";
    /// Liveness, every `policy.tickIntervalMs`.
    pub const TICK: &str = "tick";
    /// The gateway is stopping (close 1012 follows).
    pub const SHUTDOWN: &str = "shutdown";
    /// A run's agent event.
    pub const AGENT: &str = "agent";
    /// A run's chat event.
    pub const CHAT: &str = "chat";
}
