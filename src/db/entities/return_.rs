//! The `returns` table: one row per return, with its refund.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "returns")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub order_id: i64,
    pub customer_id: i64,
    pub rma_number: String,
    pub status: String,
    /// Where the return was started.
    pub channel: String,
    pub method: String,
    pub return_location_id: Option<i64>,
    pub received_location_id: Option<i64>,
    /// The unguessable part of a CARRIER return's label link.
    pub label_token: Option<String>,
    /// The reason an agent gave to accept a return the policy refused.
    pub override_reason: Option<String>,
    /// Why the return was rejected or cancelled.
    pub closing_reason: Option<String>,
    pub currency: String,
    pub refund_minor: i64,
    pub refund_status: String,
    pub refund_expected_by: Date,
    pub refund_issued_at: Option<DateTimeUtc>,
    pub received_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
