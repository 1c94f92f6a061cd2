//! The catalogue (products) and the fulfilment network (locations).
pub mod model;
pub mod service;

pub use model::*;
pub use service::*;
