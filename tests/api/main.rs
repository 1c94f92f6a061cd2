//! Black-box tests of the Touchpoint API: a real server on port 0, GraphQL over HTTP,
//! a fresh database per test (SQLite, or PostgreSQL when TOUCHPOINT_TEST_POSTGRES_URL is set).

mod fixtures;
mod harness;
mod smtp;

mod abuse;
mod access;
mod auth;
mod catalog;
mod cli;
mod collection;
mod communications;
mod concurrency;
mod conventions;
mod crash;
mod customers;
mod dataloaders;
mod demo_history;
mod email_security;
mod email_snapshots;
mod fulfilment;
mod http;
mod inventory;
mod limits;
mod metrics;
mod notes;
mod orders;
mod reliability;
mod returns;
mod roles;
mod schema_drift;
mod selfservice;
mod shutdown;
mod subscriptions;
mod substitutions;
mod templates;
mod timeline;
mod tokens;
mod tracking;
mod tracking_page;
mod ws;
