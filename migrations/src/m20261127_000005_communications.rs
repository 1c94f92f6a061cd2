//! Communications: the email outbox, versioned templates and the brand they are dressed in;
//! events name the communication they are about.
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
                .add_column(big_integer_null(name("communication_id")))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(name("brand"))
                .col(big_integer(name("id")).primary_key())
                .col(string(name("name")))
                .col(string_null(name("logo_url")))
                .col(string(name("primary_color")))
                .col(string(name("support_email")))
                .col(string_null(name("support_phone")))
                .col(string_null(name("website_url")))
                .col(string(name("updated_by")))
                .col(timestamp_with_time_zone(name("updated_at")))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(name("email_templates"))
                .col(big_pk_auto(name("id")))
                .col(string(name("kind")))
                .col(string(name("locale")))
                .col(integer_null(name("published_version")))
                .col(timestamp_with_time_zone(name("updated_at")))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "email_templates",
            "ux_email_templates_kind_locale",
            &["kind", "locale"],
            true,
        )
        .await?;
        m.create_table(
            Table::create()
                .table(name("email_template_versions"))
                .col(big_pk_auto(name("id")))
                .col(string(name("kind")))
                .col(string(name("locale")))
                .col(integer(name("version")))
                .col(text(name("subject")))
                .col(text(name("html")))
                .col(text_null(name("text")))
                .col(text(name("data_query")))
                .col(string(name("author")))
                .col(timestamp_with_time_zone(name("created_at")))
                .col(timestamp_with_time_zone_null(name("published_at")))
                .col(string_null(name("published_by")))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "email_template_versions",
            "ux_email_template_versions",
            &["kind", "locale", "version"],
            true,
        )
        .await?;
        m.create_table(
            Table::create()
                .table(name("communications"))
                .col(big_pk_auto(name("id")))
                .col(big_integer_null(name("event_seq")))
                .col(string(name("kind")))
                .col(string(name("recipient")))
                .col(big_integer_null(name("customer_id")))
                .col(big_integer_null(name("order_id")))
                .col(big_integer_null(name("shipment_id")))
                .col(big_integer_null(name("return_id")))
                .col(big_integer_null(name("substitution_id")))
                .col(string(name("locale")))
                .col(integer(name("template_version")))
                .col(text(name("subject")))
                .col(text(name("html")))
                .col(text(name("text")))
                .col(string(name("status")))
                .col(integer(name("attempts")))
                .col(text_null(name("last_error")))
                .col(timestamp_with_time_zone(name("next_attempt_at")))
                .col(timestamp_with_time_zone_null(name("claimed_until")))
                .col(string(name("message_id")))
                .col(string(name("open_token")))
                .col(boolean(name("is_test")))
                .col(string_null(name("requested_by")))
                .col(timestamp_with_time_zone(name("created_at")))
                .col(timestamp_with_time_zone_null(name("sent_at")))
                .col(timestamp_with_time_zone_null(name("opened_at")))
                .foreign_key(&mut fk("communications", "customer_id", "customers"))
                .foreign_key(&mut fk("communications", "order_id", "orders"))
                .to_owned(),
        )
        .await?;
        // One message per (event, kind, recipient): replays, restarts and other instances
        // find it there and send nothing twice.
        index(
            m,
            "communications",
            "ux_communications_event_kind_recipient",
            &["event_seq", "kind", "recipient"],
            true,
        )
        .await?;
        index(
            m,
            "communications",
            "ux_communications_open_token",
            &["open_token"],
            true,
        )
        .await?;
        index(
            m,
            "communications",
            "ix_communications_due",
            &["status", "next_attempt_at"],
            false,
        )
        .await?;
        index(
            m,
            "communications",
            "ix_communications_order",
            &["order_id"],
            false,
        )
        .await?;
        index(
            m,
            "communications",
            "ix_communications_customer",
            &["customer_id", "id"],
            false,
        )
        .await
    }
}
