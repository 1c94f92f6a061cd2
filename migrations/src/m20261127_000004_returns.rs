//! Returns, their lines and refunds; events name the return they are about.
use sea_orm_migration::{prelude::*, schema::*};

use crate::util::{fk, index, name};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(name("events"))
                .add_column(big_integer_null(name("return_id")))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(name("returns"))
                .col(big_pk_auto(name("id")))
                .col(big_integer(name("order_id")))
                .col(big_integer(name("customer_id")))
                .col(string(name("rma_number")))
                .col(string(name("status")))
                .col(string(name("channel")))
                .col(string(name("method")))
                .col(big_integer_null(name("return_location_id")))
                .col(big_integer_null(name("received_location_id")))
                .col(string_null(name("label_token")))
                .col(text_null(name("override_reason")))
                .col(text_null(name("closing_reason")))
                .col(string(name("currency")))
                .col(big_integer(name("refund_minor")))
                .col(string(name("refund_status")))
                .col(date(name("refund_expected_by")))
                .col(timestamp_with_time_zone_null(name("refund_issued_at")))
                .col(timestamp_with_time_zone_null(name("received_at")))
                .col(timestamp_with_time_zone(name("created_at")))
                .col(timestamp_with_time_zone(name("updated_at")))
                .foreign_key(&mut fk("returns", "order_id", "orders"))
                .foreign_key(&mut fk("returns", "customer_id", "customers"))
                .foreign_key(&mut fk("returns", "return_location_id", "locations"))
                .foreign_key(&mut fk("returns", "received_location_id", "locations"))
                .to_owned(),
        )
        .await?;
        index(m, "returns", "ux_returns_rma", &["rma_number"], true).await?;
        index(m, "returns", "ux_returns_label", &["label_token"], true).await?;
        index(m, "returns", "ix_returns_order", &["order_id"], false).await?;
        index(
            m,
            "returns",
            "ix_returns_customer",
            &["customer_id", "id"],
            false,
        )
        .await?;
        m.create_table(
            Table::create()
                .table(name("return_lines"))
                .col(big_pk_auto(name("id")))
                .col(big_integer(name("return_id")))
                .col(big_integer(name("order_line_id")))
                .col(integer(name("quantity")))
                .col(integer(name("quantity_received")))
                .col(integer(name("quantity_restocked")))
                .col(text(name("reason")))
                .foreign_key(&mut fk("return_lines", "return_id", "returns"))
                .foreign_key(&mut fk("return_lines", "order_line_id", "order_lines"))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "return_lines",
            "ix_return_lines_return",
            &["return_id"],
            false,
        )
        .await
    }
}
