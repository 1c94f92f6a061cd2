//! Shipments, their lines and tracking events, routing decisions and substitutions.
use sea_orm_migration::{prelude::*, schema::*};

use crate::util::{fk, index, name};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(name("locations"))
                .add_column(string_null(name("country_code")))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(name("events"))
                .add_column(big_integer_null(name("shipment_id")))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(name("shipments"))
                .col(big_pk_auto(name("id")))
                .col(big_integer(name("order_id")))
                .col(big_integer(name("location_id")))
                .col(string(name("status")))
                .col(string_null(name("carrier")))
                .col(string_null(name("tracking_number")))
                .col(string_null(name("tracking_url")))
                .col(date_null(name("estimated_delivery_date")))
                .col(date_null(name("promised_date")))
                .col(timestamp_with_time_zone_null(name("dispatch_by")))
                .col(boolean(name("is_delayed")))
                .col(timestamp_with_time_zone_null(name("dispatched_at")))
                .col(timestamp_with_time_zone_null(name("delivered_at")))
                .col(timestamp_with_time_zone_null(name("last_event_at")))
                .col(timestamp_with_time_zone(name("created_at")))
                .col(timestamp_with_time_zone(name("updated_at")))
                .foreign_key(&mut fk("shipments", "order_id", "orders"))
                .foreign_key(&mut fk("shipments", "location_id", "locations"))
                .to_owned(),
        )
        .await?;
        index(m, "shipments", "ix_shipments_order", &["order_id"], false).await?;
        index(
            m,
            "shipments",
            "ix_shipments_location_status",
            &["location_id", "status"],
            false,
        )
        .await?;
        index(
            m,
            "shipments",
            "ux_shipments_tracking",
            &["carrier", "tracking_number"],
            true,
        )
        .await?;
        m.create_table(
            Table::create()
                .table(name("shipment_lines"))
                .col(big_pk_auto(name("id")))
                .col(big_integer(name("shipment_id")))
                .col(big_integer(name("order_line_id")))
                .col(integer(name("quantity")))
                .foreign_key(&mut fk("shipment_lines", "shipment_id", "shipments"))
                .foreign_key(&mut fk("shipment_lines", "order_line_id", "order_lines"))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "shipment_lines",
            "ix_shipment_lines_shipment",
            &["shipment_id"],
            false,
        )
        .await?;
        m.create_table(
            Table::create()
                .table(name("tracking_events"))
                .col(big_pk_auto(name("id")))
                .col(big_integer(name("shipment_id")))
                .col(string(name("status")))
                .col(text_null(name("description")))
                .col(timestamp_with_time_zone(name("occurred_at")))
                .col(string_null(name("location")))
                .col(date_null(name("estimated_delivery_date")))
                .col(string_null(name("carrier_event_id")))
                .col(timestamp_with_time_zone(name("recorded_at")))
                .foreign_key(&mut fk("tracking_events", "shipment_id", "shipments"))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "tracking_events",
            "ix_tracking_events_shipment",
            &["shipment_id", "occurred_at"],
            false,
        )
        .await?;
        index(
            m,
            "tracking_events",
            "ux_tracking_events_carrier_id",
            &["shipment_id", "carrier_event_id"],
            true,
        )
        .await?;
        m.create_table(
            Table::create()
                .table(name("routing_decisions"))
                .col(big_pk_auto(name("id")))
                .col(big_integer(name("order_id")))
                .col(string(name("strategy")))
                .col(text(name("candidates")))
                .col(timestamp_with_time_zone(name("decided_at")))
                .foreign_key(&mut fk("routing_decisions", "order_id", "orders"))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "routing_decisions",
            "ix_routing_decisions_order",
            &["order_id", "id"],
            false,
        )
        .await?;
        m.create_table(
            Table::create()
                .table(name("substitutions"))
                .col(big_pk_auto(name("id")))
                .col(big_integer(name("order_id")))
                .col(big_integer(name("order_line_id")))
                .col(string(name("substitute_sku")))
                .col(string(name("substitute_name")))
                .col(integer(name("quantity")))
                .col(big_integer(name("unit_price_minor")))
                .col(string(name("status")))
                .col(timestamp_with_time_zone(name("proposed_at")))
                .col(timestamp_with_time_zone_null(name("responded_at")))
                .foreign_key(&mut fk("substitutions", "order_id", "orders"))
                .foreign_key(&mut fk("substitutions", "order_line_id", "order_lines"))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "substitutions",
            "ix_substitutions_order",
            &["order_id"],
            false,
        )
        .await
    }
}
