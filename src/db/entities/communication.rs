//! The `communications` table: the email outbox and the record of every message.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "communications")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The event it answers; null for test sends.
    pub event_seq: Option<i64>,
    pub kind: String,
    pub recipient: String,
    pub customer_id: Option<i64>,
    pub order_id: Option<i64>,
    pub shipment_id: Option<i64>,
    pub return_id: Option<i64>,
    pub substitution_id: Option<i64>,
    pub locale: String,
    pub template_version: i32,
    pub subject: String,
    /// The HTML as sent, without the open-tracking pixel.
    pub html: String,
    pub text: String,
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub next_attempt_at: DateTimeUtc,
    /// A sender holds the message until then; after, another may take it.
    pub claimed_until: Option<DateTimeUtc>,
    pub message_id: String,
    /// The unguessable id in the open-tracking pixel.
    pub open_token: String,
    pub is_test: bool,
    pub requested_by: Option<String>,
    pub created_at: DateTimeUtc,
    pub sent_at: Option<DateTimeUtc>,
    pub opened_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
