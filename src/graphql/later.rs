//! Contract names whose capabilities land in later issues (communications, templates, brand,
//! tracking page). Each answers NOT_IMPLEMENTED until its issue lands; none returns data.
use async_graphql::{Enum, ID, InputObject, Json, Object, SimpleObject};

use super::catalog::Location;
use super::connection::connection;
use super::errors::{UserError, not_implemented};
use super::fulfilment::{ShipmentStatus, TrackingEvent};
use super::orders::{DeliveryMethod, Order, OrderStatus};
use super::scalars::{Date, DateTime};

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotificationKind {
    OrderConfirmation,
    OrderModified,
    OrderCancelled,
    ShipmentDispatched,
    ShipmentDelayed,
    OutForDelivery,
    Delivered,
    ReadyForCollection,
    SubstitutionProposed,
    ReturnRequested,
    ReturnReceived,
    RefundIssued,
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommunicationStatus {
    Queued,
    Sent,
    Retrying,
    Failed,
    Suppressed,
}

#[derive(SimpleObject, Clone)]
pub struct Communication {
    #[graphql(owned)]
    pub id: ID,
    pub kind: NotificationKind,
    pub to: String,
    pub subject: String,
    /// The body as sent, without the open-tracking pixel; null for services.
    pub html: Option<String>,
    /// Null for services.
    pub text: Option<String>,
    pub status: CommunicationStatus,
    /// Why the last attempt failed, or why the message was suppressed.
    pub last_error: Option<String>,
    pub attempts: i32,
    pub template_version: i32,
    /// True for test sends; a test send belongs to no order and no timeline.
    pub is_test: bool,
    pub order: Option<Order>,
    pub created_at: DateTime,
    pub sent_at: Option<DateTime>,
    pub opened_at: Option<DateTime>,
}
connection!(CommunicationConnection, CommunicationEdge, Communication);

#[derive(SimpleObject, Clone)]
pub struct TemplateVersion {
    pub version: i32,
    pub subject: String,
    pub html: String,
    pub text: Option<String>,
    pub data_query: String,
    pub author: String,
    pub created_at: DateTime,
    pub published_at: Option<DateTime>,
}

#[derive(SimpleObject, Clone)]
pub struct EmailTemplate {
    pub kind: NotificationKind,
    pub locale: String,
    pub published: Option<TemplateVersion>,
    pub draft: Option<TemplateVersion>,
    pub versions: Vec<TemplateVersion>,
}

#[derive(SimpleObject, Clone)]
pub struct RenderedEmail {
    pub subject: String,
    pub html: String,
    pub text: String,
}

#[derive(SimpleObject, Clone)]
pub struct EmailPreview {
    pub email: Option<RenderedEmail>,
    /// The data the template saw (the data query's result plus brand); personal data masked for marketing.
    pub context: Option<Json<serde_json::Value>>,
    pub user_errors: Vec<UserError>,
}

#[derive(SimpleObject, Clone)]
pub struct Brand {
    pub name: String,
    pub logo_url: Option<String>,
    pub primary_color: String,
    pub support_email: String,
    pub support_phone: Option<String>,
    pub website_url: Option<String>,
}

#[derive(SimpleObject, Clone)]
pub struct TrackedLine {
    pub name: String,
    pub quantity: i32,
    pub image_url: Option<String>,
}

#[derive(SimpleObject, Clone)]
pub struct TrackedShipment {
    pub status: ShipmentStatus,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub tracking_url: Option<String>,
    pub estimated_delivery_date: Option<Date>,
    pub is_delayed: bool,
    pub events: Vec<TrackingEvent>,
}

/// What the tracking link shows: nothing personal beyond the delivery town.
#[derive(SimpleObject, Clone)]
pub struct TrackedOrder {
    pub number: String,
    pub status: OrderStatus,
    pub placed_at: DateTime,
    pub lines: Vec<TrackedLine>,
    pub delivery_method: DeliveryMethod,
    pub delivery_town: Option<String>,
    pub collection_store: Option<Location>,
    pub promised_date: Option<Date>,
    pub estimated_delivery_date: Option<Date>,
    pub is_delayed: bool,
    pub shipments: Vec<TrackedShipment>,
    pub returnable_until: Option<Date>,
}

// ---------------------------------------------------------------- inputs

#[derive(InputObject)]
pub struct TemplateDraftInput {
    pub subject: String,
    pub html: String,
    pub text: Option<String>,
    pub data_query: Option<String>,
}

#[derive(InputObject)]
pub struct PreviewEmailInput {
    pub kind: NotificationKind,
    pub locale: Option<String>,
    /// Render this draft instead of the published version.
    pub draft: Option<TemplateDraftInput>,
    /// Render against this real order (by id or number); without one, a built-in sample order.
    pub order_id: Option<ID>,
    pub order_number: Option<String>,
    pub shipment_id: Option<ID>,
    pub return_id: Option<ID>,
    pub substitution_id: Option<ID>,
}

#[derive(InputObject)]
pub struct SaveEmailTemplateDraftInput {
    pub kind: NotificationKind,
    pub locale: Option<String>,
    pub subject: String,
    pub html: String,
    pub text: Option<String>,
    pub data_query: Option<String>,
}

#[derive(InputObject)]
pub struct PublishEmailTemplateInput {
    pub kind: NotificationKind,
    pub locale: Option<String>,
    pub version: i32,
}

#[derive(InputObject)]
pub struct SendTestEmailInput {
    pub kind: NotificationKind,
    pub locale: Option<String>,
    pub to: String,
    pub order_id: Option<ID>,
    pub order_number: Option<String>,
    pub use_draft: Option<bool>,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject)]
pub struct UpdateBrandInput {
    pub name: Option<String>,
    pub logo_url: Option<String>,
    pub primary_color: Option<String>,
    pub support_email: Option<String>,
    pub support_phone: Option<String>,
    pub website_url: Option<String>,
}

// ---------------------------------------------------------------- payloads

#[derive(SimpleObject)]
pub struct EmailTemplatePayload {
    pub template: Option<EmailTemplate>,
    pub user_errors: Vec<UserError>,
}

#[derive(SimpleObject)]
pub struct SendTestEmailPayload {
    pub communication: Option<Communication>,
    pub user_errors: Vec<UserError>,
}

#[derive(SimpleObject)]
pub struct BrandPayload {
    pub brand: Option<Brand>,
    pub user_errors: Vec<UserError>,
}

// ---------------------------------------------------------------- operations

#[derive(Default)]
pub struct LaterQuery;

#[Object]
impl LaterQuery {
    async fn email_templates(&self) -> async_graphql::Result<Vec<EmailTemplate>> {
        not_implemented("emailTemplates")
    }
    async fn email_template(
        &self,
        kind: NotificationKind,
        locale: Option<String>,
    ) -> async_graphql::Result<Option<EmailTemplate>> {
        let _ = (kind, locale);
        not_implemented("emailTemplate")
    }
    async fn preview_email(&self, input: PreviewEmailInput) -> async_graphql::Result<EmailPreview> {
        let _ = input;
        not_implemented("previewEmail")
    }
    async fn brand(&self) -> async_graphql::Result<Brand> {
        not_implemented("brand")
    }
    /// The tracking page's data, by the token in its link; no other credential needed.
    async fn tracked_order(&self, token: String) -> async_graphql::Result<Option<TrackedOrder>> {
        let _ = token;
        not_implemented("trackedOrder")
    }
}

/// Declares mutations that answer NOT_IMPLEMENTED until their issue lands.
macro_rules! pending_mutations {
    ($($name:ident : $input:ty => $payload:ty),+ $(,)?) => {
        #[derive(Default)]
        pub struct LaterMutation;

        #[Object]
        impl LaterMutation {
            $(
                async fn $name(&self, input: $input) -> async_graphql::Result<$payload> {
                    let _ = input;
                    not_implemented(stringify!($name))
                }
            )+
        }
    };
}

pending_mutations! {
    save_email_template_draft: SaveEmailTemplateDraftInput => EmailTemplatePayload,
    publish_email_template: PublishEmailTemplateInput => EmailTemplatePayload,
    send_test_email: SendTestEmailInput => SendTestEmailPayload,
    update_brand: UpdateBrandInput => BrandPayload,
}
