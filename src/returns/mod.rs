//! Returns and refunds: one policy for every channel, wherever a return starts.
pub mod label;
pub mod policy;
pub mod service;

pub use policy::*;
pub use service::*;
