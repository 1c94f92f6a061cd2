//! Fulfilment: shipments and their lifecycle, carrier tracking, delays, collection and
//! substitutions. Every step writes its domain event in the same transaction.
pub mod model;
pub mod service;

pub use model::*;
pub use service::*;
