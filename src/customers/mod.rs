//! Customers and their channel identities: one record per person, matched by identity, then email.
pub mod model;
pub mod service;

pub use model::*;
pub use service::*;
