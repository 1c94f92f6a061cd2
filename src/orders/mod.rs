//! Orders from every channel: intake (idempotent per channel and scope), reads, and status.
pub mod model;
pub mod service;

pub use model::*;
pub use service::*;
