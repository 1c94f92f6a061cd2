//! The `products` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "products")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub sku: String,
    pub name: String,
    pub category: Option<String>,
    pub image_url: Option<String>,
    pub care_instructions: Option<String>,
    pub returnable: bool,
    /// JSON array of skus.
    pub related_skus: String,
    pub price_minor: Option<i64>,
    pub currency: Option<String>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
