//! sea-orm entities, one per table.
pub mod allocation;
pub mod customer;
pub mod customer_identity;
pub mod customer_note;
pub mod dispatcher_cursor;
pub mod event;
pub mod idempotency_key;
pub mod location;
pub mod order;
pub mod order_line;
pub mod product;
pub mod stock_level;
pub mod stock_movement;
