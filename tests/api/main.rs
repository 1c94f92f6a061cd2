//! Black-box tests of the Touchpoint API: a real server on port 0, GraphQL over HTTP,
//! a fresh database per test (SQLite, or PostgreSQL when TOUCHPOINT_TEST_POSTGRES_URL is set).

mod fixtures;
mod harness;

mod auth;
mod catalog;
mod collection;
mod concurrency;
mod conventions;
mod customers;
mod dataloaders;
mod fulfilment;
mod http;
mod inventory;
mod limits;
mod not_implemented;
mod notes;
mod orders;
mod returns;
mod schema_drift;
mod selfservice;
mod subscriptions;
mod substitutions;
mod timeline;
mod tracking;
mod ws;
