//! Stock per location and sku: the single source of truth for what can be sold.
pub mod service;

pub use service::*;
