//! Touchpoint: one GraphQL API for the whole post-purchase experience.

/// A domain enum stored and shown as upper-case text.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(raw: &str) -> Option<$name> {
                match raw { $($text => Some($name::$variant),)+ _ => None }
            }
        }
    };
}

pub mod app;
pub mod auth;
pub mod catalog;
pub mod clock;
pub mod communications;
pub mod config;
pub mod customers;
pub mod db;
pub mod demo;
pub mod demo_history;
pub mod error;
pub mod events;
pub mod fulfilment;
pub mod graphql;
pub mod http;
pub mod idempotency;
pub mod ids;
pub mod inventory;
pub mod lifecycle;
pub mod metrics;
pub mod money;
pub mod orders;
pub mod paging;
pub mod returns;
pub mod routing;
pub mod selfservice;
pub mod telemetry;
pub mod text_cache;
pub mod timeline;

pub use app::App;
