//! Godel's test fixtures, shared by the adapters' live tests (a dev-dependency only).
//!
//! Live tests talk to real servers (Postgres, Redis, a gateway). [`live`] decides what a test
//! does when its server cannot be reached: by default it prints that it skipped and passes; with
//! `GODEL_TEST_LIVE=require` (set by `.ci/run`) it fails, so CI can never pass by skipping.
//!
//! With the feature `fake-model`, `fake_model` is a fake OpenAI-compatible model provider for
//! tests that run real OpenClaw gateways.

#[cfg(feature = "fake-model")]
pub mod fake_model;
pub mod live;
