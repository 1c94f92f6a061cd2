//! Communications: events become branded emails rendered from the API's own data, kept in an
//! outbox that delivers each once.
pub mod brand;
pub mod data;
pub mod editor;
pub mod kinds;
pub mod mailer;
pub mod masking;
pub mod outbox;
pub mod render;
pub mod sample;
pub mod service;
pub mod templates;

pub use kinds::{NotificationKind, Subject};
pub use outbox::{CommunicationStatus, DeliveryConfig, Outbox};
