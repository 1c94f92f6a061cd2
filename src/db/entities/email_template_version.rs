//! The `email_template_versions` table: every saved version of a template, never changed after.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "email_template_versions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub kind: String,
    pub locale: String,
    pub version: i32,
    pub subject: String,
    pub html: String,
    pub text: Option<String>,
    pub data_query: String,
    pub author: String,
    pub created_at: DateTimeUtc,
    /// When it was last published.
    pub published_at: Option<DateTimeUtc>,
    /// Who last published it.
    pub published_by: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
