//! Experience metrics: orders are read by the day they were placed, and a customer's orders by
//! time (repeat purchase).
use sea_orm_migration::prelude::*;

use crate::util::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        index(m, "orders", "ix_orders_placed_at", &["placed_at"], false).await?;
        index(
            m,
            "orders",
            "ix_orders_customer_placed_at",
            &["customer_id", "placed_at"],
            false,
        )
        .await
    }
}
