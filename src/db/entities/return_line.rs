//! The `return_lines` table: what a return takes back of each order line.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "return_lines")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub return_id: i64,
    pub order_line_id: i64,
    /// Units the customer asked to return.
    pub quantity: i32,
    /// Units that arrived.
    pub quantity_received: i32,
    /// Units put back on sale where they arrived.
    pub quantity_restocked: i32,
    pub reason: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
