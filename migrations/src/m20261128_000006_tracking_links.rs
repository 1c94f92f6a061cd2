//! The tracking page: each order carries an unguessable token that opens its tracking page.
use sea_orm_migration::{prelude::*, schema::*};

use crate::util::{index, name};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(name("orders"))
                .add_column(string_null(name("tracking_token")))
                .to_owned(),
        )
        .await?;
        // Orders placed before this migration get a token from the database's own random
        // source (192 bits, URL-safe characters like the ones new orders get).
        let fill = match m.get_database_backend() {
            sea_orm_migration::sea_orm::DatabaseBackend::Postgres => {
                "UPDATE orders SET tracking_token = substr(replace(gen_random_uuid()::text, '-', '') \
                 || replace(gen_random_uuid()::text, '-', ''), 1, 48) WHERE tracking_token IS NULL"
            }
            _ => {
                "UPDATE orders SET tracking_token = lower(hex(randomblob(24))) WHERE tracking_token IS NULL"
            }
        };
        m.get_connection().execute_unprepared(fill).await?;
        index(
            m,
            "orders",
            "ux_orders_tracking_token",
            &["tracking_token"],
            true,
        )
        .await
    }
}
