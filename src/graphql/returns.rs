//! Returns and refunds: the policy, what each line may still return, and the return steps.
use std::collections::HashMap;

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};

use super::catalog::{Location, load_location};
use super::connection::connection;
use super::customers::Channel;
use super::errors::{GqlResult, UserError, gql_error, malformed_id, outcome};
use super::loaders::{
    LinesOf, OrderKey, OrderLineKey, ProductSku, ReturnLinesOf, ReturnsOf, ShipmentLinesOf,
    ShipmentsOf,
};
use super::orders::{Order, OrderLine, order_id};
use super::scalars::{Date, DateTime, Money};
use super::{load_error, loader, principal, state, store};
use crate::db::entities::{order, order_line, return_, return_line};
use crate::error::{Refusal, ServiceError};
use crate::ids::{GlobalId, NodeType, ReturnId};
use crate::money::Currency;
use crate::returns::{self as service, Closing, Returnability, Step};
use crate::selfservice::Allowance;

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::returns::ReturnStatus")]
pub enum ReturnStatus {
    Requested,
    Received,
    Refunded,
    Rejected,
    Cancelled,
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::returns::ReturnMethod")]
pub enum ReturnMethod {
    InStore,
    Carrier,
    DropOff,
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::returns::RefundStatus")]
pub enum RefundStatus {
    Pending,
    Issued,
}

#[derive(SimpleObject, Clone)]
pub struct Refund {
    pub amount: Money,
    pub status: RefundStatus,
    /// The latest day the money arrives: the day the return started (for IN_STORE, the day of
    /// the visit) plus the policy's refund days for the method.
    pub expected_by: Date,
    pub issued_at: Option<DateTime>,
}

#[derive(SimpleObject, Clone)]
pub struct ReturnPolicy {
    pub window_days: i32,
    pub in_store_refund_days: i32,
    pub carrier_refund_days: i32,
    pub drop_off_refund_days: i32,
}

impl From<&crate::returns::ReturnPolicy> for ReturnPolicy {
    fn from(p: &crate::returns::ReturnPolicy) -> Self {
        let days = |d: u32| i32::try_from(d).unwrap_or(i32::MAX);
        ReturnPolicy {
            window_days: days(p.window_days),
            in_store_refund_days: days(p.in_store_refund_days),
            carrier_refund_days: days(p.carrier_refund_days),
            drop_off_refund_days: days(p.drop_off_refund_days),
        }
    }
}

#[derive(SimpleObject, Clone)]
pub struct ReturnableLine {
    pub line: OrderLine,
    pub quantity_returnable: i32,
    pub returnable_until: Option<Date>,
    /// Why it cannot be returned; null when it can.
    pub reason: Option<String>,
}

#[derive(Clone)]
pub struct Return(pub return_::Model);

connection!(ReturnConnection, ReturnEdge, Return);

#[Object]
impl Return {
    pub async fn id(&self) -> ID {
        ID(ReturnId(self.0.id).global())
    }
    async fn rma_number(&self) -> &str {
        &self.0.rma_number
    }
    async fn order(&self, ctx: &Context<'_>) -> async_graphql::Result<Order> {
        loader(ctx)
            .load_one(OrderKey(self.0.order_id))
            .await
            .map_err(load_error)?
            .map(Order)
            .ok_or_else(|| {
                gql_error(ServiceError::Internal(format!(
                    "return {} has no order",
                    self.0.id
                )))
            })
    }
    async fn status(&self) -> ReturnStatus {
        crate::returns::ReturnStatus::parse(&self.0.status)
            .unwrap_or(crate::returns::ReturnStatus::Requested)
            .into()
    }
    /// Where the return was started.
    async fn channel(&self) -> Channel {
        crate::orders::Channel::parse(&self.0.channel)
            .unwrap_or(crate::orders::Channel::Web)
            .into()
    }
    async fn method(&self) -> ReturnMethod {
        crate::returns::ReturnMethod::parse(&self.0.method)
            .unwrap_or(crate::returns::ReturnMethod::Carrier)
            .into()
    }
    /// The return point the goods go to (for CARRIER returns, the warehouse on the label).
    async fn return_location(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Location>> {
        match self.0.return_location_id {
            Some(id) => load_location(ctx, id).await,
            None => Ok(None),
        }
    }
    /// Where the goods arrived; null until they do.
    async fn received_location(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<Location>> {
        match self.0.received_location_id {
            Some(id) => load_location(ctx, id).await,
            None => Ok(None),
        }
    }
    async fn received_at(&self) -> Option<DateTime> {
        self.0.received_at.map(DateTime)
    }
    async fn lines(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ReturnLine>> {
        let rows = loader(ctx)
            .load_one(ReturnLinesOf(self.0.id))
            .await
            .map_err(load_error)?
            .unwrap_or_default();
        Ok(rows
            .into_iter()
            .map(|line| ReturnLine {
                line,
                currency: self.0.currency.clone(),
            })
            .collect())
    }
    /// Null once the return was rejected or cancelled without a refund.
    async fn refund(&self) -> Option<Refund> {
        let r = &self.0;
        let status = crate::returns::RefundStatus::parse(&r.refund_status)
            .unwrap_or(crate::returns::RefundStatus::Pending);
        let closed = matches!(
            crate::returns::ReturnStatus::parse(&r.status),
            Some(crate::returns::ReturnStatus::Rejected | crate::returns::ReturnStatus::Cancelled)
        );
        if closed && status == crate::returns::RefundStatus::Pending {
            return None;
        }
        Some(Refund {
            amount: crate::money::Money::new(r.refund_minor, Currency::stored(&r.currency)).into(),
            status: status.into(),
            expected_by: Date(r.refund_expected_by),
            issued_at: r.refund_issued_at.map(DateTime),
        })
    }
    /// Why the return was rejected or cancelled; null otherwise.
    async fn closing_reason(&self) -> Option<&str> {
        self.0.closing_reason.as_deref()
    }
    /// A prepaid label for CARRIER returns.
    async fn label_url(&self, ctx: &Context<'_>) -> Option<String> {
        self.0
            .label_token
            .as_ref()
            .map(|token| format!("{}/returns/label/{token}", state(ctx).public_url))
    }
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }
}

#[derive(Clone)]
pub struct ReturnLine {
    line: return_line::Model,
    currency: String,
}

#[Object]
impl ReturnLine {
    async fn line(&self, ctx: &Context<'_>) -> async_graphql::Result<OrderLine> {
        let line = loader(ctx)
            .load_one(OrderLineKey(self.line.order_line_id))
            .await
            .map_err(load_error)?
            .ok_or_else(|| {
                gql_error(ServiceError::Internal(format!(
                    "return line {} has no order line",
                    self.line.id
                )))
            })?;
        Ok(OrderLine {
            line,
            currency: self.currency.clone(),
        })
    }
    async fn quantity(&self) -> i32 {
        self.line.quantity
    }
    async fn reason(&self) -> &str {
        &self.line.reason
    }
    /// Units that arrived; 0 until the return is received.
    async fn quantity_received(&self) -> i32 {
        self.line.quantity_received
    }
    /// Units put back on sale where they arrived.
    async fn quantity_restocked(&self) -> i32 {
        self.line.quantity_restocked
    }
}

/// What the policy says about each line of the order, from the request's loaders.
pub(crate) async fn returnability(
    ctx: &Context<'_>,
    order: &order::Model,
) -> async_graphql::Result<Vec<(order_line::Model, Returnability)>> {
    let lines = loader(ctx)
        .load_one(LinesOf(order.id))
        .await
        .map_err(load_error)?
        .unwrap_or_default();
    let shipments = loader(ctx)
        .load_one(ShipmentsOf(order.id))
        .await
        .map_err(load_error)?
        .unwrap_or_default();
    let returns = loader(ctx)
        .load_one(ReturnsOf(order.id))
        .await
        .map_err(load_error)?
        .unwrap_or_default();
    let (shipment_lines, return_lines, products) = futures_util::try_join!(
        loader(ctx).load_many(shipments.iter().map(|s| ShipmentLinesOf(s.id))),
        loader(ctx).load_many(returns.iter().map(|r| ReturnLinesOf(r.id))),
        loader(ctx).load_many(lines.iter().map(|l| ProductSku(l.sku.clone()))),
    )
    .map_err(load_error)?;
    let mut shipment_lines = shipment_lines;
    let mut return_lines = return_lines;
    let shipments: Vec<_> = shipments
        .into_iter()
        .map(|s| {
            let lines = shipment_lines
                .remove(&ShipmentLinesOf(s.id))
                .unwrap_or_default();
            (s, lines)
        })
        .collect();
    let returns: Vec<_> = returns
        .into_iter()
        .map(|r| {
            let lines = return_lines
                .remove(&ReturnLinesOf(r.id))
                .unwrap_or_default();
            (r, lines)
        })
        .collect();
    let products: HashMap<String, _> = products.into_iter().map(|(k, p)| (k.0, p)).collect();
    let policy = &state(ctx).returns;
    let today = chrono::Utc::now().date_naive();
    let facts = service::line_facts(policy, &lines, &products, &shipments, &returns);
    Ok(lines
        .into_iter()
        .zip(
            facts
                .iter()
                .map(|f| crate::returns::returnability(policy, f, today)),
        )
        .collect())
}

/// `Order.returnableLines`.
pub async fn returnable_lines(
    ctx: &Context<'_>,
    order: &order::Model,
) -> async_graphql::Result<Vec<ReturnableLine>> {
    Ok(returnability(ctx, order)
        .await?
        .into_iter()
        .map(|(line, r)| ReturnableLine {
            line: OrderLine {
                line,
                currency: order.currency.clone(),
            },
            quantity_returnable: r.quantity,
            returnable_until: r.until.map(Date),
            reason: r.reason,
        })
        .collect())
}

/// `OrderActions.requestReturn`.
pub async fn request_return_allowance(
    ctx: &Context<'_>,
    order: &order::Model,
) -> async_graphql::Result<Allowance> {
    let lines: Vec<Returnability> = returnability(ctx, order)
        .await?
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    let cancelled = order.status == crate::orders::OrderStatus::Cancelled.as_str();
    Ok(crate::returns::order_allowance(cancelled, &lines))
}

/// `Order.returns`.
pub async fn order_returns(ctx: &Context<'_>, order_id: i64) -> async_graphql::Result<Vec<Return>> {
    Ok(loader(ctx)
        .load_one(ReturnsOf(order_id))
        .await
        .map_err(load_error)?
        .unwrap_or_default()
        .into_iter()
        .map(Return)
        .collect())
}

/// A return's global ID: malformed is BAD_USER_INPUT, another type reads as missing.
fn return_id(raw: &ID) -> async_graphql::Result<Option<ReturnId>> {
    let id = GlobalId::decode(raw).map_err(|_| malformed_id())?;
    Ok(id.of(NodeType::Return).map(ReturnId))
}

#[derive(InputObject)]
pub struct ReturnLineInput {
    pub line_id: ID,
    pub quantity: i32,
    pub reason: String,
}

#[derive(InputObject)]
pub struct OverrideInput {
    pub reason: String,
}

#[derive(InputObject)]
pub struct RequestReturnInput {
    pub order_id: ID,
    pub lines: Vec<ReturnLineInput>,
    pub method: ReturnMethod,
    /// Required for IN_STORE and DROP_OFF: any location that is a return point.
    pub return_location_code: Option<String>,
    /// Where the return is being started; defaults from the caller's role.
    pub channel: Option<Channel>,
    /// Agents only: accept a return that the policy would refuse.
    #[graphql(name = "override")]
    pub override_: Option<OverrideInput>,
    /// Required when an agent acts.
    pub reason: Option<String>,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject)]
pub struct ReceiveReturnLineInput {
    pub line_id: ID,
    pub quantity: i32,
    pub restock: bool,
}

#[derive(InputObject)]
pub struct ReceiveReturnInput {
    pub return_id: ID,
    pub location_code: String,
    /// Restock everything received (when lines is omitted).
    pub restock: Option<bool>,
    /// A partial receipt, or restock decisions per line; omitted: everything requested.
    pub lines: Option<Vec<ReceiveReturnLineInput>>,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject)]
pub struct RejectReturnInput {
    pub return_id: ID,
    pub reason: String,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject)]
pub struct CancelReturnInput {
    pub return_id: ID,
    pub reason: Option<String>,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject)]
pub struct IssueRefundInput {
    pub return_id: ID,
    pub reason: String,
    pub idempotency_key: Option<String>,
}

#[derive(SimpleObject)]
pub struct ReturnPayload {
    #[graphql(name = "return")]
    pub return_: Option<Return>,
    pub user_errors: Vec<UserError>,
}

fn payload(result: Result<return_::Model, ServiceError>) -> async_graphql::Result<ReturnPayload> {
    let (ret, user_errors) = outcome(result)?;
    Ok(ReturnPayload {
        return_: ret.map(Return),
        user_errors,
    })
}

/// An order line ID inside a list input: anything but an order line reads as missing.
fn line_ids<T>(items: &[T], raw: impl Fn(&T) -> &ID) -> Result<Vec<i64>, ServiceError> {
    let mut refusals = Vec::new();
    let mut ids = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match GlobalId::decode(raw(item))
            .ok()
            .and_then(|g| g.of(NodeType::OrderLine))
        {
            Some(id) => ids.push(id),
            None => refusals.push(Refusal::not_found(
                &["lines", &i.to_string(), "lineId"],
                "no such line on this order",
            )),
        }
    }
    if refusals.is_empty() {
        Ok(ids)
    } else {
        Err(ServiceError::Refused(refusals))
    }
}

/// Runs a step on a return named by its global ID; an ID of another type reads as missing,
/// after the caller's role was checked.
async fn on_return(
    ctx: &Context<'_>,
    raw: &ID,
    step: Step,
    run: impl AsyncFnOnce(ReturnId) -> Result<return_::Model, ServiceError>,
) -> async_graphql::Result<ReturnPayload> {
    service::authorize(principal(ctx), step).gql()?;
    let result = match return_id(raw)? {
        Some(id) => run(id).await,
        None => Err(Refusal::not_found(&["returnId"], "no such return").into()),
    };
    payload(result)
}

#[derive(Default)]
pub struct ReturnsQuery;

#[Object]
impl ReturnsQuery {
    /// A return by ID: its customer, agents and services; null otherwise.
    #[graphql(name = "return")]
    async fn return_(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Return>> {
        let Some(id) = return_id(&id)? else {
            service::require_return_reader(principal(ctx)).gql()?;
            return Ok(None);
        };
        Ok(service::get_return(store(ctx), principal(ctx), id)
            .await
            .gql()?
            .map(Return))
    }
    /// What a till looks up when the customer brings the goods.
    async fn return_by_rma(
        &self,
        ctx: &Context<'_>,
        rma_number: String,
    ) -> async_graphql::Result<Option<Return>> {
        Ok(
            service::return_by_rma(store(ctx), principal(ctx), &rma_number)
                .await
                .gql()?
                .map(Return),
        )
    }
    /// The one return policy every channel applies.
    async fn return_policy(&self, ctx: &Context<'_>) -> ReturnPolicy {
        (&state(ctx).returns).into()
    }
}

#[derive(Default)]
pub struct ReturnsMutation;

#[Object]
impl ReturnsMutation {
    /// Customers online (their own orders), agents on the phone (with a reason) and tills.
    async fn request_return(
        &self,
        ctx: &Context<'_>,
        input: RequestReturnInput,
    ) -> async_graphql::Result<ReturnPayload> {
        service::authorize(principal(ctx), Step::Request).gql()?;
        let lines = line_ids(&input.lines, |l| &l.line_id);
        let result = match (order_id(&input.order_id)?, lines) {
            (None, _) => Err(Refusal::not_found(&["orderId"], "no such order").into()),
            (Some(_), Err(e)) => Err(e),
            (Some(id), Ok(ids)) => {
                let new = service::NewReturn {
                    order_id: id,
                    lines: input
                        .lines
                        .iter()
                        .zip(ids)
                        .map(|(l, line_id)| service::RequestedLine {
                            line_id,
                            quantity: l.quantity,
                            reason: l.reason.clone(),
                        })
                        .collect(),
                    method: input.method.into(),
                    return_location_code: input.return_location_code,
                    channel: input.channel.map(Into::into),
                    override_reason: input.override_.map(|o| o.reason),
                    reason: input.reason,
                };
                service::request_return(
                    store(ctx),
                    principal(ctx),
                    &state(ctx).returns,
                    new,
                    input.idempotency_key.as_deref(),
                )
                .await
            }
        };
        payload(result)
    }

    /// Tills and warehouses: the goods arrived; the refund is issued for what arrived.
    async fn receive_return(
        &self,
        ctx: &Context<'_>,
        input: ReceiveReturnInput,
    ) -> async_graphql::Result<ReturnPayload> {
        let key = input.idempotency_key.clone();
        on_return(ctx, &input.return_id, Step::Receive, async |id| {
            let lines = match &input.lines {
                Some(lines) => Some(
                    line_ids(lines, |l| &l.line_id)?
                        .into_iter()
                        .zip(lines)
                        .map(|(line_id, l)| service::ReceivedLine {
                            line_id,
                            quantity: l.quantity,
                            restock: l.restock,
                        })
                        .collect(),
                ),
                None => None,
            };
            let receipt = service::Receipt {
                return_id: id,
                location_code: input.location_code.trim().to_owned(),
                restock: input.restock,
                lines,
            };
            service::receive_return(
                store(ctx),
                principal(ctx),
                &state(ctx).returns,
                receipt,
                key.as_deref(),
            )
            .await
        })
        .await
    }

    async fn reject_return(
        &self,
        ctx: &Context<'_>,
        input: RejectReturnInput,
    ) -> async_graphql::Result<ReturnPayload> {
        on_return(ctx, &input.return_id, Step::Reject, async |id| {
            service::close_return(
                store(ctx),
                principal(ctx),
                Closing::Reject,
                id,
                Some(&input.reason),
                input.idempotency_key.as_deref(),
            )
            .await
        })
        .await
    }

    async fn cancel_return(
        &self,
        ctx: &Context<'_>,
        input: CancelReturnInput,
    ) -> async_graphql::Result<ReturnPayload> {
        on_return(ctx, &input.return_id, Step::Cancel, async |id| {
            service::close_return(
                store(ctx),
                principal(ctx),
                Closing::Cancel,
                id,
                input.reason.as_deref(),
                input.idempotency_key.as_deref(),
            )
            .await
        })
        .await
    }

    /// Agents: refund before the goods arrive, with a reason.
    async fn issue_refund(
        &self,
        ctx: &Context<'_>,
        input: IssueRefundInput,
    ) -> async_graphql::Result<ReturnPayload> {
        on_return(ctx, &input.return_id, Step::Refund, async |id| {
            service::issue_refund(
                store(ctx),
                principal(ctx),
                id,
                &input.reason,
                input.idempotency_key.as_deref(),
            )
            .await
        })
        .await
    }
}
