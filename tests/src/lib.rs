//! `godel-e2e`: black-box, end-to-end tests of Godel's built binaries.
//!
//! Once the server issue (#6) lands, the tests in `tests/` will start the real `godel-server` and
//! `godel` binaries on port 0 and speak HTTP and WebSocket to them, as an operator would; the helpers
//! they share will live in this library. Until then it holds no code, and `tests/workspace.rs` checks
//! promises the repository itself makes (the README's test command is what CI runs, every crate is
//! on the architecture map).
//!
//! What this is not: a place for unit or adapter tests. Those live next to the code they test.
