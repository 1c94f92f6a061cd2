//! Agent notes and the dispatcher's durable cursor.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("customer_notes"))
                    .col(big_pk_auto(Alias::new("id")))
                    .col(big_integer(Alias::new("customer_id")))
                    .col(text(Alias::new("body")))
                    .col(string(Alias::new("author")))
                    .col(timestamp_with_time_zone(Alias::new("created_at")))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Alias::new("customer_notes"), Alias::new("customer_id"))
                            .to(Alias::new("customers"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_customer_notes_customer")
                    .table(Alias::new("customer_notes"))
                    .col(Alias::new("customer_id"))
                    .col(Alias::new("id"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("dispatcher_cursors"))
                    .col(string(Alias::new("name")).primary_key())
                    .col(big_integer(Alias::new("position")))
                    .col(timestamp_with_time_zone(Alias::new("updated_at")))
                    .to_owned(),
            )
            .await
    }
}
