//! The `orders` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "orders")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub number: String,
    pub channel: String,
    /// The marketplace name or store code that scopes `channel_order_ref`; empty otherwise.
    pub scope: String,
    pub channel_order_ref: String,
    /// A digest of the placement request, to tell a replay from a duplicate reference.
    pub content_hash: String,
    pub marketplace: Option<String>,
    pub store_location_id: Option<i64>,
    pub seller_of_record: String,
    pub customer_id: i64,
    pub status: String,
    pub currency: String,
    pub subtotal_minor: i64,
    pub shipping_minor: i64,
    pub refunded_minor: i64,
    pub delivery_method: String,
    /// JSON of the shipping address.
    pub delivery_address: Option<String>,
    pub collection_location_id: Option<i64>,
    pub promised_date: Option<Date>,
    pub version: i32,
    /// The unguessable token of the order's tracking page (`/track/<token>`).
    pub tracking_token: Option<String>,
    pub placed_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
