//! The in-memory access stores, the reference behaviour, pass the access conformance suite.

use std::sync::Arc;

use godel_engine::access::{MemoryApiKeyStore, MemoryAuditLog};

godel_engine::access_conformance! {
    api_keys: || async { Arc::new(MemoryApiKeyStore::default()) },
    audit: || async { Arc::new(MemoryAuditLog::default()) },
}
