//! Communications as sent, and the brand they wear.
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};

use super::connection::connection;
use super::errors::{GqlResult, UserError, outcome};
use super::loaders::{CommunicationsOf, OrderKey};
use super::orders::Order;
use super::scalars::DateTime;
use super::{load_error, loader, principal, store};
use crate::communications::{self as comms, service};
use crate::db::entities::{brand, communication};
use crate::ids::{GlobalId, NodeType};

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::communications::NotificationKind")]
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
#[graphql(remote = "crate::communications::CommunicationStatus")]
pub enum CommunicationStatus {
    Queued,
    Sent,
    Retrying,
    Failed,
    Suppressed,
}

#[derive(Clone)]
pub struct Communication(pub communication::Model);

connection!(CommunicationConnection, CommunicationEdge, Communication);

#[Object]
impl Communication {
    pub async fn id(&self) -> ID {
        ID(GlobalId::new(NodeType::Communication, self.0.id).encode())
    }
    async fn kind(&self) -> NotificationKind {
        comms::NotificationKind::parse(&self.0.kind)
            .unwrap_or(comms::NotificationKind::OrderConfirmation)
            .into()
    }
    async fn to(&self) -> &str {
        &self.0.recipient
    }
    async fn subject(&self) -> &str {
        &self.0.subject
    }
    /// The body as sent, without the open-tracking pixel; null for services.
    async fn html(&self, ctx: &Context<'_>) -> Option<&str> {
        service::may_read_bodies(principal(ctx)).then_some(self.0.html.as_str())
    }
    /// Null for services.
    async fn text(&self, ctx: &Context<'_>) -> Option<&str> {
        service::may_read_bodies(principal(ctx)).then_some(self.0.text.as_str())
    }
    async fn status(&self) -> CommunicationStatus {
        comms::CommunicationStatus::parse(&self.0.status)
            .unwrap_or(comms::CommunicationStatus::Queued)
            .into()
    }
    /// Why the last attempt failed, or why the message was suppressed.
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }
    async fn template_version(&self) -> i32 {
        self.0.template_version
    }
    /// The locale of the template it was rendered from.
    async fn locale(&self) -> &str {
        &self.0.locale
    }
    /// True for test sends; a test send belongs to no order and no timeline.
    async fn is_test(&self) -> bool {
        self.0.is_test
    }
    async fn order(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Order>> {
        match self.0.order_id {
            Some(id) => Ok(loader(ctx)
                .load_one(OrderKey(id))
                .await
                .map_err(load_error)?
                .map(Order)),
            None => Ok(None),
        }
    }
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }
    async fn sent_at(&self) -> Option<DateTime> {
        self.0.sent_at.map(DateTime)
    }
    async fn opened_at(&self) -> Option<DateTime> {
        self.0.opened_at.map(DateTime)
    }
}

/// `Order.communications`: what was sent about the order, oldest first.
pub async fn order_communications(
    ctx: &Context<'_>,
    order_id: i64,
) -> async_graphql::Result<Vec<Communication>> {
    let rows = loader(ctx)
        .load_one(CommunicationsOf(order_id))
        .await
        .map_err(load_error)?
        .unwrap_or_default();
    Ok(rows
        .into_iter()
        .filter(|c| service::may_read(principal(ctx), c))
        .map(Communication)
        .collect())
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

impl From<brand::Model> for Brand {
    fn from(b: brand::Model) -> Self {
        Brand {
            name: b.name,
            logo_url: b.logo_url,
            primary_color: b.primary_color,
            support_email: b.support_email,
            support_phone: b.support_phone,
            website_url: b.website_url,
        }
    }
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

#[derive(SimpleObject)]
pub struct BrandPayload {
    pub brand: Option<Brand>,
    pub user_errors: Vec<UserError>,
}

#[derive(Default)]
pub struct CommunicationsQuery;

#[Object]
impl CommunicationsQuery {
    /// The brand every email and page wears; anyone may read it.
    async fn brand(&self, ctx: &Context<'_>) -> async_graphql::Result<Brand> {
        Ok(comms::brand::get(store(ctx)).await.gql()?.into())
    }
}

#[derive(Default)]
pub struct CommunicationsMutation;

#[Object]
impl CommunicationsMutation {
    /// Marketing: the name, logo, colour and support contacts emails and pages use. An omitted
    /// field stays; an empty optional one is cleared.
    async fn update_brand(
        &self,
        ctx: &Context<'_>,
        input: UpdateBrandInput,
    ) -> async_graphql::Result<BrandPayload> {
        let change = comms::brand::BrandChange {
            name: input.name,
            logo_url: input.logo_url,
            primary_color: input.primary_color,
            support_email: input.support_email,
            support_phone: input.support_phone,
            website_url: input.website_url,
        };
        let (brand, user_errors) =
            outcome(comms::brand::update(store(ctx), principal(ctx), change).await)?;
        Ok(BrandPayload {
            brand: brand.map(Into::into),
            user_errors,
        })
    }
}
