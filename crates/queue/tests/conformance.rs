//! The memory store passes the whole queue conformance suite.

use godel_queue::conformance::MemoryFactory;

godel_queue::queue_conformance!(MemoryFactory);
