//! The timeline, agent notes and the live subscriptions that push the same entries.
use std::sync::Arc;

use async_graphql::{
    Context, Enum, ErrorExtensions, ID, InputObject, Object, SimpleObject, Subscription,
};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::catalog::StockLevel;
use super::connection::connection;
use super::customers::{Channel, customer_id};
use super::errors::{GqlResult, UserError, gql_error, outcome};
use super::loaders::OrderKey;
use super::orders::{Order, order_id};
use super::scalars::DateTime;
use super::{load_error, loader, principal, state, store};
use crate::auth::Principal;
use crate::customers;
use crate::db::entities::{customer_note, event, order};
use crate::error::{Refusal, ServiceError};
use crate::events::bus::LiveEvent;
use crate::ids::{CustomerId, GlobalId, NodeType};
use crate::inventory::StockView;
use crate::telemetry::Metrics;
use crate::timeline::{self as service, Feed};

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::timeline::TimelineKind")]
pub enum TimelineKind {
    OrderPlaced,
    OrderModified,
    OrderCancelled,
    LinesCancelled,
    ShipmentUpdated,
    ShipmentDelayed,
    SubstitutionProposed,
    SubstitutionAnswered,
    ReturnRequested,
    ReturnReceived,
    ReturnRejected,
    ReturnCancelled,
    RefundIssued,
    EmailSent,
    EmailFailed,
    EmailOpened,
    NoteAdded,
    StockChanged,
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Customer,
    Agent,
    Marketing,
    Service,
    Admin,
    System,
}

impl Role {
    fn of(stored: &str) -> Role {
        match crate::auth::Role::parse(stored) {
            Some(crate::auth::Role::Customer) => Role::Customer,
            Some(crate::auth::Role::Agent) => Role::Agent,
            Some(crate::auth::Role::Marketing) => Role::Marketing,
            Some(crate::auth::Role::Service) => Role::Service,
            Some(crate::auth::Role::Admin) => Role::Admin,
            None => Role::System,
        }
    }
}

#[derive(SimpleObject, Clone)]
pub struct Actor {
    pub role: Role,
    /// Null where the viewer may not see who acted (customers see only themselves).
    pub id: Option<String>,
}

/// One timeline entry; `order` and `stock` may come preloaded by the dispatcher.
#[derive(Clone)]
pub struct TimelineEntry {
    event: Arc<LiveEvent>,
}

impl TimelineEntry {
    pub fn stored(event: event::Model) -> TimelineEntry {
        let stock = service::stock_snapshot(&event).into_iter().collect();
        TimelineEntry {
            event: Arc::new(LiveEvent {
                event,
                order: None,
                stock,
            }),
        }
    }

    fn row(&self) -> &event::Model {
        &self.event.event
    }
}

connection!(TimelineConnection, TimelineEdge, TimelineEntry);

#[Object]
impl TimelineEntry {
    pub async fn id(&self) -> ID {
        ID(GlobalId::new(NodeType::TimelineEntry, self.row().seq).encode())
    }
    /// Resume a subscription or a page after this entry.
    async fn cursor(&self) -> String {
        service::TimelineCursor::of(self.row()).encode()
    }
    async fn kind(&self) -> TimelineKind {
        crate::timeline::TimelineKind::parse(&self.row().kind)
            .unwrap_or(crate::timeline::TimelineKind::OrderModified)
            .into()
    }
    async fn occurred_at(&self) -> DateTime {
        DateTime(self.row().occurred_at)
    }
    async fn channel(&self) -> Option<Channel> {
        self.row()
            .channel
            .as_deref()
            .and_then(crate::orders::Channel::parse)
            .map(Into::into)
    }
    async fn actor(&self, ctx: &Context<'_>) -> Actor {
        Actor {
            role: Role::of(&self.row().actor_role),
            id: service::actor_id(principal(ctx), self.row()),
        }
    }
    async fn summary(&self) -> String {
        service::summary(self.row())
    }
    /// The reason an agent gave for a change or a policy override; null otherwise.
    async fn reason(&self, ctx: &Context<'_>) -> Option<String> {
        service::reason(principal(ctx), self.row())
    }
    async fn order(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Order>> {
        if let Some(order) = &self.event.order {
            return Ok(Some(Order(order.clone())));
        }
        match self.row().order_id {
            Some(id) => Ok(loader(ctx)
                .load_one(OrderKey(id))
                .await
                .map_err(load_error)?
                .map(Order)),
            None => Ok(None),
        }
    }
    async fn shipment(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<super::fulfilment::Shipment>> {
        match self.row().shipment_id {
            Some(id) => Ok(loader(ctx)
                .load_one(super::loaders::ShipmentKey(id))
                .await
                .map_err(load_error)?
                .map(super::fulfilment::Shipment::of)),
            None => Ok(None),
        }
    }
    #[graphql(name = "return")]
    async fn return_(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<super::returns::Return>> {
        match self.row().return_id {
            Some(id) => Ok(loader(ctx)
                .load_one(super::loaders::ReturnKey(id))
                .await
                .map_err(load_error)?
                .map(super::returns::Return)),
            None => Ok(None),
        }
    }
    async fn communication(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<super::communications::Communication>> {
        let Some(id) = self.row().communication_id else {
            return Ok(None);
        };
        let row = loader(ctx)
            .load_one(super::loaders::CommunicationKey(id))
            .await
            .map_err(load_error)?;
        Ok(row
            .filter(|c| crate::communications::service::may_read(principal(ctx), c))
            .map(super::communications::Communication))
    }
    async fn stock_level(&self) -> Option<StockLevel> {
        self.event.stock.first().cloned().map(StockLevel)
    }
}

#[derive(Clone)]
pub struct CustomerNote(pub customer_note::Model);

connection!(CustomerNoteConnection, CustomerNoteEdge, CustomerNote);

#[Object]
impl CustomerNote {
    pub async fn id(&self) -> ID {
        ID(GlobalId::new(NodeType::CustomerNote, self.0.id).encode())
    }
    async fn body(&self) -> &str {
        &self.0.body
    }
    async fn author(&self) -> &str {
        &self.0.author
    }
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }
}

#[derive(InputObject)]
pub struct AddCustomerNoteInput {
    pub customer_id: ID,
    pub body: String,
    pub idempotency_key: Option<String>,
}

#[derive(SimpleObject)]
pub struct CustomerNotePayload {
    pub note: Option<CustomerNote>,
    pub user_errors: Vec<UserError>,
}

/// Reads a page of a customer's timeline as this viewer may see it.
pub async fn customer_timeline(
    ctx: &Context<'_>,
    customer: i64,
    first: Option<i32>,
    after: Option<String>,
    kinds: Option<Vec<TimelineKind>>,
) -> async_graphql::Result<Option<TimelineConnection>> {
    let page = service::TimelinePage::parse(first, after.as_deref()).gql()?;
    let kinds: Option<Vec<crate::timeline::TimelineKind>> =
        kinds.map(|k| k.into_iter().map(Into::into).collect());
    let rows = service::customer_timeline(
        store(ctx),
        principal(ctx),
        CustomerId(customer),
        kinds.as_deref(),
        page,
    )
    .await
    .gql()?;
    Ok(rows.map(|p| TimelineConnection::from_page(p, TimelineEntry::stored)))
}

/// Reads a page of an order's timeline as this viewer may see it.
pub async fn order_timeline(
    ctx: &Context<'_>,
    order: &order::Model,
    first: Option<i32>,
    after: Option<String>,
    kinds: Option<Vec<TimelineKind>>,
) -> async_graphql::Result<Option<TimelineConnection>> {
    let page = service::TimelinePage::parse(first, after.as_deref()).gql()?;
    let kinds: Option<Vec<crate::timeline::TimelineKind>> =
        kinds.map(|k| k.into_iter().map(Into::into).collect());
    let rows = service::order_timeline(store(ctx), principal(ctx), order, kinds.as_deref(), page)
        .await
        .gql()?;
    Ok(rows.map(|p| TimelineConnection::from_page(p, TimelineEntry::stored)))
}

/// Reads a page of a customer's notes (agents; null for others).
pub async fn customer_notes(
    ctx: &Context<'_>,
    customer: i64,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<Option<CustomerNoteConnection>> {
    let page = crate::paging::PageRequest::parse(first, after.as_deref()).gql()?;
    let rows = customers::notes(store(ctx), principal(ctx), CustomerId(customer), page)
        .await
        .gql()?;
    Ok(rows.map(|p| CustomerNoteConnection::from_page(p, CustomerNote)))
}

#[derive(Default)]
pub struct TimelineMutation;

#[Object]
impl TimelineMutation {
    async fn add_customer_note(
        &self,
        ctx: &Context<'_>,
        input: AddCustomerNoteInput,
    ) -> async_graphql::Result<CustomerNotePayload> {
        principal(ctx).require(&[crate::auth::Role::Agent]).gql()?;
        let result = match customer_id(&input.customer_id)? {
            None => Err(Refusal::not_found(&["customerId"], "no such customer").into()),
            Some(id) => {
                customers::add_note(
                    store(ctx),
                    principal(ctx),
                    id,
                    &input.body,
                    input.idempotency_key.as_deref(),
                )
                .await
            }
        };
        let (note, user_errors) = outcome(result)?;
        Ok(CustomerNotePayload {
            note: note.map(CustomerNote),
            user_errors,
        })
    }
}

/// Counts a subscription as live until its stream is dropped.
struct LiveSubscription(Arc<Metrics>);

impl LiveSubscription {
    fn open(metrics: Arc<Metrics>) -> LiveSubscription {
        metrics.live_subscriptions.inc();
        LiveSubscription(metrics)
    }
}

impl Drop for LiveSubscription {
    fn drop(&mut self) {
        self.0.live_subscriptions.dec();
    }
}

fn not_found(what: &str) -> async_graphql::Error {
    gql_error(Refusal::not_found(&[], format!("no such {what}")).into())
}

fn lagged(missed: u64) -> async_graphql::Error {
    async_graphql::Error::new(format!(
        "this subscriber fell {missed} events behind; resubscribe with the last cursor it saw"
    ))
    .extend_with(|_, e| e.set("code", "LAGGED"))
}

/// Most entries replayed after a cursor before live ones follow.
const MAX_REPLAY: u64 = 1000;

/// A feed's entries: the replay after `after`, then live ones, each re-authorized for the viewer.
/// The resolvers await it boxed: the GraphQL engine keeps a subscription resolver's future
/// allocated for as long as the subscription lives, and this one holds the authorization and
/// replay reads.
async fn feed(
    ctx: &Context<'_>,
    feed: Feed,
    after: Option<String>,
    what: &str,
) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<TimelineEntry>> + use<>> {
    let viewer: Principal = principal(ctx).clone();
    let state = state(ctx);
    if !service::authorize_feed(&state.store, &viewer, feed)
        .await
        .gql()?
    {
        return Err(not_found(what));
    }
    let after = after
        .as_deref()
        .map(service::TimelineCursor::decode)
        .transpose()
        .gql()?
        .map(|c| c.seq);
    // Subscribe before reading the replay, so nothing committed in between is missed.
    let mut live = state.bus.subscribe();
    let replayed = match after {
        Some(cursor) => service::replay(&state.store, &viewer, feed, cursor, MAX_REPLAY)
            .await
            .gql()?,
        None => Vec::new(),
    };
    let gauge = LiveSubscription::open(state.metrics.clone());
    Ok(async_stream::stream! {
        let _gauge = gauge;
        let mut replayed_up_to = None;
        for row in replayed {
            replayed_up_to = Some(row.seq);
            yield Ok(TimelineEntry::stored(row));
        }
        loop {
            match live.recv().await {
                Ok(item) => {
                    if replayed_up_to.is_some_and(|seq| item.event.seq <= seq) {
                        continue;
                    }
                    if feed.matches(&item.event) && service::visible(&viewer, &item.event) {
                        yield Ok(TimelineEntry { event: item });
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    yield Err(lagged(missed));
                    break;
                }
                Err(RecvError::Closed) => break,
            }
        }
    })
}

/// Each subscription may resume after a timeline cursor: entries after it are replayed first, then
/// live ones follow. A subscriber that falls too far behind gets an error with extensions.code LAGGED
/// and the subscription completes; it resubscribes with the last cursor it saw.
#[derive(Default)]
pub struct Subscription;

#[Subscription]
impl Subscription {
    /// Owner or agent.
    async fn order_events(
        &self,
        ctx: &Context<'_>,
        order_id: ID,
        after: Option<String>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<TimelineEntry>> + use<>>
    {
        let Some(id) = self::order_id(&order_id)? else {
            service::require_order_follower(principal(ctx)).gql()?;
            return Err(not_found("order"));
        };
        Box::pin(feed(ctx, Feed::Order(id), after, "order")).await
    }

    /// Every event on the calling customer's orders.
    async fn my_order_events(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<TimelineEntry>> + use<>>
    {
        let me = match principal(ctx) {
            Principal::Customer(id) => *id,
            Principal::Anonymous => return Err(gql_error(ServiceError::Unauthenticated)),
            Principal::Staff { .. } | Principal::System => {
                return Err(gql_error(ServiceError::Forbidden));
            }
        };
        Box::pin(feed(ctx, Feed::CustomerOrders(me), after, "customer")).await
    }

    /// Agents: the live timeline of one customer.
    async fn customer_timeline(
        &self,
        ctx: &Context<'_>,
        customer_id: ID,
        after: Option<String>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<TimelineEntry>> + use<>>
    {
        principal(ctx).require(&[crate::auth::Role::Agent]).gql()?;
        let id =
            super::customers::customer_id(&customer_id)?.ok_or_else(|| not_found("customer"))?;
        Box::pin(feed(ctx, Feed::Customer(id), after, "customer")).await
    }

    /// Storefronts too (no token needed): available quantities as they change.
    async fn stock_levels(
        &self,
        ctx: &Context<'_>,
        skus: Vec<String>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<StockLevel>> + use<>> {
        if skus.is_empty() || skus.len() > crate::catalog::MAX_ANONYMOUS_SKUS {
            return Err(gql_error(ServiceError::BadInput(
                "name 1 to 100 skus".into(),
            )));
        }
        let state = state(ctx);
        let mut live = state.bus.subscribe();
        let gauge = LiveSubscription::open(state.metrics.clone());
        Ok(async_stream::stream! {
            let _gauge = gauge;
            loop {
                match live.recv().await {
                    Ok(item) => {
                        let changed: Vec<StockView> = item.stock.iter().filter(|s| skus.contains(&s.sku)).cloned().collect();
                        for level in changed {
                            yield Ok(StockLevel(level));
                        }
                    }
                    Err(RecvError::Lagged(missed)) => {
                        yield Err(lagged(missed));
                        break;
                    }
                    Err(RecvError::Closed) => break,
                }
            }
        })
    }
}

/// `node(id:)` for timeline entries and notes.
pub async fn entry_node(
    ctx: &Context<'_>,
    seq: i64,
) -> async_graphql::Result<Option<TimelineEntry>> {
    Ok(service::entry(store(ctx), principal(ctx), seq)
        .await
        .gql()?
        .map(TimelineEntry::stored))
}

pub async fn note_node(ctx: &Context<'_>, id: i64) -> async_graphql::Result<Option<CustomerNote>> {
    Ok(customers::note(store(ctx), principal(ctx), id)
        .await
        .gql()?
        .map(CustomerNote))
}
