//! The experience-metrics projection: per-order facts and per-day counts, kept up to date from
//! the events by the metrics projector (src/metrics/projection.rs), so a range of days is read
//! without visiting every shipment, return, message and event of its orders.
//!
//! Every existing order is listed as waiting, so the projector builds the rows on its first
//! pass.
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::util::{index, name};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Orders whose rows must be recomputed, with the sequence of the latest event that said
        // so: a pass removes an entry only if no later event marked the order again meanwhile.
        m.create_table(
            Table::create()
                .table(name("metrics_dirty"))
                .col(big_integer(name("order_id")).primary_key())
                .col(big_integer(name("seq")))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(name("order_metrics"))
                .col(big_integer(name("order_id")).primary_key())
                // None for an anonymous walk-in sale: such orders are left out of repeat purchase.
                .col(big_integer_null(name("customer_id")))
                .col(string(name("channel")))
                .col(timestamp_with_time_zone(name("placed_at")))
                .col(date_null(name("promised_date")))
                .col(integer(name("cancelled")))
                .col(integer(name("live")))
                .col(integer(name("late")))
                .col(integer(name("flagged")))
                .col(integer(name("told")))
                .col(integer(name("returns")))
                .col(integer(name("cross_channel_returns")))
                .col(timestamp_with_time_zone_null(name("prev_placed_at")))
                .col(integer_null(name("repeat_within")))
                .to_owned(),
        )
        .await?;
        // A range of days is read from this index alone, in order, without visiting the table.
        index(
            m,
            "order_metrics",
            "ix_order_metrics_placed_at",
            &[
                "placed_at",
                "channel",
                "customer_id",
                "promised_date",
                "cancelled",
                "live",
                "late",
                "flagged",
                "returns",
                "cross_channel_returns",
                "told",
                "prev_placed_at",
                "repeat_within",
            ],
            false,
        )
        .await?;
        m.create_table(
            Table::create()
                .table(name("metrics_email_days"))
                .col(date(name("day")))
                .col(string(name("channel")))
                .col(string(name("kind")))
                .col(big_integer(name("sent")))
                .col(big_integer(name("failed")))
                .col(big_integer(name("opened")))
                .primary_key(
                    Index::create()
                        .col(name("day"))
                        .col(name("channel"))
                        .col(name("kind")),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(name("metrics_cancellation_days"))
                .col(date(name("day")))
                .col(string(name("channel")))
                .col(string(name("actor")))
                .col(string(name("reason")))
                .col(big_integer(name("n")))
                .primary_key(
                    Index::create()
                        .col(name("day"))
                        .col(name("channel"))
                        .col(name("actor"))
                        .col(name("reason")),
                )
                .to_owned(),
        )
        .await?;
        // A message's outcome without reading its body.
        index(
            m,
            "communications",
            "ix_communications_order_outcome",
            &["order_id", "kind", "status", "sent_at", "opened_at"],
            false,
        )
        .await?;
        m.get_connection()
            .execute_unprepared(
                "INSERT INTO metrics_dirty (order_id, seq) SELECT id, 0 FROM orders",
            )
            .await?;
        Ok(())
    }
}
