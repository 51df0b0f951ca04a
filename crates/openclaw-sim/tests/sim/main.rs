//! The simulator as a raw WebSocket client sees it: each test reads as one rule of the gateway's
//! protocol v4, and the run tests compare the simulator's event sequences with frames captured
//! from the real gateway (`tests/data/`).

mod support;

mod handshake;
mod lifecycle;
mod methods;
mod runs;
