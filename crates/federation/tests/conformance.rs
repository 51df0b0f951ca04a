//! The memory store passes the whole `InstanceStore` conformance suite.

use godel_federation::MemoryInstanceStore;

godel_federation::instance_store_conformance!(|| async { MemoryInstanceStore::new() });
