//! The `events` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub seq: i64,
    pub kind: String,
    pub occurred_at: DateTimeUtc,
    pub recorded_at: DateTimeUtc,
    pub actor_role: String,
    pub actor_id: Option<String>,
    pub channel: Option<String>,
    pub customer_id: Option<i64>,
    pub order_id: Option<i64>,
    pub location_id: Option<i64>,
    pub sku: Option<String>,
    pub reason: Option<String>,
    pub shipment_id: Option<i64>,
    pub return_id: Option<i64>,
    pub communication_id: Option<i64>,
    /// JSON.
    pub payload: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
