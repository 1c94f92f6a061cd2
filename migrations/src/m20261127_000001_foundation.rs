//! Customers, catalogue, locations, stock, orders, and the append-only event log.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn ts(name: &'static str) -> ColumnDef {
    timestamp_with_time_zone(Alias::new(name))
}
fn col(name: &'static str) -> Alias {
    Alias::new(name)
}

async fn create(manager: &SchemaManager<'_>, table: TableCreateStatement) -> Result<(), DbErr> {
    manager.create_table(table).await
}

async fn index(
    manager: &SchemaManager<'_>,
    table: &'static str,
    name: &'static str,
    cols: &[&'static str],
    unique: bool,
) -> Result<(), DbErr> {
    let mut stmt = Index::create();
    stmt.name(name).table(Alias::new(table));
    for c in cols {
        stmt.col(Alias::new(*c));
    }
    if unique {
        stmt.unique();
    }
    manager.create_index(stmt.to_owned()).await
}

fn fk(
    from_table: &'static str,
    from_col: &'static str,
    to_table: &'static str,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(Alias::new(from_table), Alias::new(from_col))
        .to(Alias::new(to_table), Alias::new("id"))
        .on_delete(ForeignKeyAction::Restrict)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create(
            manager,
            Table::create()
                .table(col("customers"))
                .col(big_pk_auto(col("id")))
                .col(string_null(col("email")))
                .col(string_null(col("first_name")))
                .col(string_null(col("last_name")))
                .col(string_null(col("phone")))
                .col(string(col("locale")))
                .col(boolean(col("order_updates_by_email")))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .to_owned(),
        )
        .await?;
        index(manager, "customers", "ux_customers_email", &["email"], true).await?;

        create(
            manager,
            Table::create()
                .table(col("customer_identities"))
                .col(big_pk_auto(col("id")))
                .col(big_integer(col("customer_id")))
                .col(string(col("channel")))
                .col(string(col("external_id")))
                .col(ts("created_at"))
                .foreign_key(&mut fk("customer_identities", "customer_id", "customers"))
                .to_owned(),
        )
        .await?;
        index(
            manager,
            "customer_identities",
            "ux_identities_channel_external",
            &["channel", "external_id"],
            true,
        )
        .await?;
        index(
            manager,
            "customer_identities",
            "ix_identities_customer",
            &["customer_id"],
            false,
        )
        .await?;

        create(
            manager,
            Table::create()
                .table(col("products"))
                .col(big_pk_auto(col("id")))
                .col(string_uniq(col("sku")))
                .col(string(col("name")))
                .col(string_null(col("category")))
                .col(string_null(col("image_url")))
                .col(text_null(col("care_instructions")))
                .col(boolean(col("returnable")))
                .col(text(col("related_skus")))
                .col(big_integer_null(col("price_minor")))
                .col(string_null(col("currency")))
                .col(ts("updated_at"))
                .to_owned(),
        )
        .await?;

        create(
            manager,
            Table::create()
                .table(col("locations"))
                .col(big_pk_auto(col("id")))
                .col(string_uniq(col("code")))
                .col(string(col("name")))
                .col(string(col("kind")))
                .col(double(col("latitude")))
                .col(double(col("longitude")))
                .col(boolean(col("pickup_point")))
                .col(boolean(col("return_point")))
                .col(big_integer(col("shipping_cost_minor")))
                .col(string(col("currency")))
                .col(integer(col("handling_days")))
                .col(ts("updated_at"))
                .to_owned(),
        )
        .await?;

        create(
            manager,
            Table::create()
                .table(col("stock_levels"))
                .col(big_pk_auto(col("id")))
                .col(big_integer(col("location_id")))
                .col(string(col("sku")))
                .col(integer(col("on_hand")).check(Expr::col(col("on_hand")).gte(0)))
                .col(integer(col("reserved")).check(Expr::col(col("reserved")).gte(0)))
                .col(ts("updated_at"))
                .foreign_key(&mut fk("stock_levels", "location_id", "locations"))
                .to_owned(),
        )
        .await?;
        index(
            manager,
            "stock_levels",
            "ux_stock_location_sku",
            &["location_id", "sku"],
            true,
        )
        .await?;
        index(manager, "stock_levels", "ix_stock_sku", &["sku"], false).await?;

        create(
            manager,
            Table::create()
                .table(col("stock_movements"))
                .col(big_pk_auto(col("id")))
                .col(big_integer(col("location_id")))
                .col(string(col("sku")))
                .col(integer(col("delta")))
                .col(string(col("reason")))
                .col(string(col("actor")))
                .col(ts("created_at"))
                .foreign_key(&mut fk("stock_movements", "location_id", "locations"))
                .to_owned(),
        )
        .await?;

        create(
            manager,
            Table::create()
                .table(col("orders"))
                .col(big_pk_auto(col("id")))
                .col(string_uniq(col("number")))
                .col(string(col("channel")))
                .col(string(col("scope")))
                .col(string(col("channel_order_ref")))
                .col(string(col("content_hash")))
                .col(string_null(col("marketplace")))
                .col(big_integer_null(col("store_location_id")))
                .col(string(col("seller_of_record")))
                .col(big_integer(col("customer_id")))
                .col(string(col("status")))
                .col(string(col("currency")))
                .col(big_integer(col("subtotal_minor")))
                .col(big_integer(col("shipping_minor")))
                .col(big_integer(col("refunded_minor")))
                .col(string(col("delivery_method")))
                .col(text_null(col("delivery_address")))
                .col(big_integer_null(col("collection_location_id")))
                .col(date_null(col("promised_date")))
                .col(integer(col("version")))
                .col(ts("placed_at"))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .foreign_key(&mut fk("orders", "customer_id", "customers"))
                .foreign_key(&mut fk("orders", "store_location_id", "locations"))
                .foreign_key(&mut fk("orders", "collection_location_id", "locations"))
                .to_owned(),
        )
        .await?;
        index(
            manager,
            "orders",
            "ux_orders_channel_ref",
            &["channel", "scope", "channel_order_ref"],
            true,
        )
        .await?;
        index(
            manager,
            "orders",
            "ix_orders_customer",
            &["customer_id", "id"],
            false,
        )
        .await?;

        create(
            manager,
            Table::create()
                .table(col("order_lines"))
                .col(big_pk_auto(col("id")))
                .col(big_integer(col("order_id")))
                .col(integer(col("position")))
                .col(string(col("sku")))
                .col(string(col("name")))
                .col(integer(col("quantity")))
                .col(integer(col("quantity_cancelled")))
                .col(integer(col("quantity_dispatched")))
                .col(integer(col("quantity_delivered")))
                .col(integer(col("quantity_returned")))
                .col(big_integer(col("unit_price_minor")))
                .foreign_key(&mut fk("order_lines", "order_id", "orders"))
                .to_owned(),
        )
        .await?;
        index(
            manager,
            "order_lines",
            "ix_order_lines_order",
            &["order_id", "position"],
            false,
        )
        .await?;

        create(
            manager,
            Table::create()
                .table(col("allocations"))
                .col(big_pk_auto(col("id")))
                .col(big_integer(col("order_id")))
                .col(big_integer(col("order_line_id")))
                .col(big_integer(col("location_id")))
                .col(string(col("sku")))
                .col(integer(col("quantity")))
                .foreign_key(&mut fk("allocations", "order_id", "orders"))
                .foreign_key(&mut fk("allocations", "order_line_id", "order_lines"))
                .foreign_key(&mut fk("allocations", "location_id", "locations"))
                .to_owned(),
        )
        .await?;
        index(
            manager,
            "allocations",
            "ix_allocations_order",
            &["order_id"],
            false,
        )
        .await?;

        create(
            manager,
            Table::create()
                .table(col("events"))
                .col(big_pk_auto(col("seq")))
                .col(string(col("kind")))
                .col(ts("occurred_at"))
                .col(ts("recorded_at"))
                .col(string(col("actor_role")))
                .col(string_null(col("actor_id")))
                .col(string_null(col("channel")))
                .col(big_integer_null(col("customer_id")))
                .col(big_integer_null(col("order_id")))
                .col(big_integer_null(col("location_id")))
                .col(string_null(col("sku")))
                .col(text_null(col("reason")))
                .col(text(col("payload")))
                .to_owned(),
        )
        .await?;
        index(
            manager,
            "events",
            "ix_events_customer",
            &["customer_id", "seq"],
            false,
        )
        .await?;
        index(
            manager,
            "events",
            "ix_events_order",
            &["order_id", "seq"],
            false,
        )
        .await?;

        create(
            manager,
            Table::create()
                .table(col("idempotency_keys"))
                .col(big_pk_auto(col("id")))
                .col(string(col("principal")))
                .col(string(col("operation")))
                .col(string(col("key")))
                .col(string(col("request_hash")))
                .col(text(col("response")))
                .col(ts("created_at"))
                .to_owned(),
        )
        .await?;
        index(
            manager,
            "idempotency_keys",
            "ux_idempotency",
            &["principal", "operation", "key"],
            true,
        )
        .await?;
        Ok(())
    }
}
