//! Schema migrations: one set for SQLite and PostgreSQL alike.
pub use sea_orm_migration::prelude::*;

mod m20261127_000001_foundation;
mod m20261127_000002_timeline;
mod m20261127_000003_fulfilment;
mod m20261127_000004_returns;
mod m20261127_000005_communications;
mod m20261128_000006_tracking_links;
mod m20261128_000007_experience_metrics;
mod m20261128_000008_metrics_projection;
mod util;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_foundation::Migration),
            Box::new(m20261127_000002_timeline::Migration),
            Box::new(m20261127_000003_fulfilment::Migration),
            Box::new(m20261127_000004_returns::Migration),
            Box::new(m20261127_000005_communications::Migration),
            Box::new(m20261128_000006_tracking_links::Migration),
            Box::new(m20261128_000007_experience_metrics::Migration),
            Box::new(m20261128_000008_metrics_projection::Migration),
        ]
    }
}
