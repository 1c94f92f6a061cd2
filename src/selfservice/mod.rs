//! Self-service changes: what a customer (or an agent for them) may still change on an order,
//! and the changes themselves. Every channel and role goes through these rules.
pub mod policy;
pub mod service;

pub use policy::*;
pub use service::*;
