//! The `order_lines` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "order_lines")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub order_id: i64,
    pub position: i32,
    pub sku: String,
    pub name: String,
    pub quantity: i32,
    pub quantity_cancelled: i32,
    pub quantity_dispatched: i32,
    pub quantity_delivered: i32,
    pub quantity_returned: i32,
    pub unit_price_minor: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
