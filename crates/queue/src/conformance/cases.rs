//! The conformance cases, grouped by rule. Each is `async fn(&impl StoreFactory)` and panics
//! with a message naming the broken rule.

mod cancel;
mod dependencies;
mod enqueue;
mod leases;
mod limits;
mod listing;
mod order;
mod retry;

pub use cancel::*;
pub use dependencies::*;
pub use enqueue::*;
pub use leases::*;
pub use limits::*;
pub use listing::*;
pub use order::*;
pub use retry::*;
