//! `experienceMetrics`: how the orders placed in a range of days fared, overall and per channel.
//! Aggregates only, for agents, marketing and admins.
use std::sync::Arc;

use async_graphql::{Context, Enum, Object, SimpleObject};

use super::communications::NotificationKind;
use super::customers::Channel;
use super::errors::GqlResult;
use super::returns::ReturnMethod;
use super::scalars::Date;
use super::selfservice::CancellationReason;
use super::{principal, store};
use crate::metrics::{self as domain, Figures, RepeatCounts, nearest_rank, rate};

/// Who cancelled an order or some of its lines.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancellationActor {
    Customer,
    Agent,
    Service,
    Admin,
    /// Touchpoint itself (time-driven rules).
    System,
}

impl CancellationActor {
    fn parse(role: &str) -> CancellationActor {
        match role {
            "customer" => CancellationActor::Customer,
            "agent" => CancellationActor::Agent,
            "service" => CancellationActor::Service,
            "admin" => CancellationActor::Admin,
            _ => CancellationActor::System,
        }
    }
}

/// Experience figures of the orders placed from `from` to `to`.
pub struct ExperienceMetrics {
    from: Date,
    to: Date,
    channel: Option<Channel>,
    overall: Arc<Figures>,
    by_channel: Vec<ChannelExperienceFigures>,
    orders_pending: i64,
}

#[Object]
impl ExperienceMetrics {
    /// The first day of the range (UTC), included.
    async fn from(&self) -> Date {
        self.from
    }

    /// The last day of the range (UTC), included.
    async fn to(&self) -> Date {
        self.to
    }

    /// The channel the figures were limited to; null for every channel.
    async fn channel(&self) -> Option<Channel> {
        self.channel
    }

    /// Every channel's figures together.
    async fn overall(&self) -> ExperienceFigures {
        ExperienceFigures(self.overall.clone())
    }

    /// The figures of each channel with orders in the range (or the one asked for).
    async fn by_channel(&self) -> Vec<ChannelExperienceFigures> {
        self.by_channel.clone()
    }

    /// Orders whose latest events these figures do not include yet. Always 0, except while the
    /// projection the figures are read from is rebuilt after an upgrade or a bulk import and the
    /// query did not wait for all of it.
    async fn orders_pending(&self) -> i64 {
        self.orders_pending
    }

    /// The same figures period by period (days, ISO weeks or months, the first and last clipped
    /// to the range), for charts over time; at most 120 periods.
    async fn series(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "MetricsInterval::Week")] interval: MetricsInterval,
    ) -> async_graphql::Result<Vec<ExperiencePeriod>> {
        let periods = domain::periods(self.from.0, self.to.0, interval.into()).gql()?;
        let mut series = Vec::with_capacity(periods.len());
        for (from, to) in periods {
            let (overall, by_channel, _) = figures(ctx, from, to, self.channel).await?;
            series.push(ExperiencePeriod {
                from: Date(from),
                to: Date(to),
                overall,
                by_channel,
            });
        }
        Ok(series)
    }
}

/// How a series cuts its range.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::metrics::Interval")]
pub enum MetricsInterval {
    Day,
    /// ISO weeks, Monday to Sunday.
    Week,
    Month,
}

/// One period of a series: the figures of the orders placed from `from` to `to`.
#[derive(SimpleObject)]
pub struct ExperiencePeriod {
    /// The first day of the period (UTC), included.
    from: Date,
    /// The last day of the period (UTC), included.
    to: Date,
    /// Every channel's figures together.
    overall: ExperienceFigures,
    /// The figures of each channel with orders in the period (or the one asked for).
    by_channel: Vec<ChannelExperienceFigures>,
}

/// The figures of the orders placed from `from` to `to`, overall and per channel, and how many
/// orders they do not include yet.
async fn figures(
    ctx: &Context<'_>,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
    channel: Option<Channel>,
) -> async_graphql::Result<(ExperienceFigures, Vec<ChannelExperienceFigures>, i64)> {
    let query = domain::MetricsQuery {
        from,
        to,
        channel: channel.map(Into::into),
    };
    let metrics = domain::experience_metrics(store(ctx), principal(ctx), query)
        .await
        .gql()?;
    let by_channel = metrics
        .by_channel
        .into_iter()
        .map(|(channel, figures)| ChannelExperienceFigures {
            channel: channel.into(),
            figures: Arc::new(figures),
        })
        .collect();
    Ok((
        ExperienceFigures(Arc::new(metrics.overall)),
        by_channel,
        metrics.orders_pending,
    ))
}

/// One channel's experience figures.
#[derive(Clone)]
pub struct ChannelExperienceFigures {
    channel: Channel,
    figures: Arc<Figures>,
}

#[Object]
impl ChannelExperienceFigures {
    /// The channel the orders were placed in.
    async fn channel(&self) -> Channel {
        self.channel
    }

    /// The figures of the orders placed in this channel.
    async fn figures(&self) -> ExperienceFigures {
        ExperienceFigures(self.figures.clone())
    }
}

/// The experience figures of a set of orders: every figure is about the orders placed in the range.
pub struct ExperienceFigures(Arc<Figures>);

#[Object]
impl ExperienceFigures {
    /// Orders placed in the range.
    async fn orders_placed(&self) -> i64 {
        self.0.orders_placed
    }

    /// How the orders were split into shipments.
    async fn fulfilment(&self) -> FulfilmentFigures {
        let f = &self.0;
        FulfilmentFigures {
            orders_shipped: f.orders_shipped,
            single_shipment_orders: f.single_shipment_orders,
            shipments: f.shipments,
            single_shipment_rate: rate(f.single_shipment_orders, f.orders_shipped),
            average_shipments_per_order: rate(f.shipments, f.orders_shipped),
        }
    }

    /// Whether the orders arrived by their promised date, and whether delays were told.
    async fn delivery(&self) -> DeliveryFigures {
        let f = &self.0;
        DeliveryFigures {
            orders_judged: f.judged,
            on_time: f.on_time,
            delayed: f.delayed(),
            told_proactively: f.delayed_told,
            on_time_rate: rate(f.on_time, f.judged),
            delayed_rate: rate(f.delayed(), f.judged),
            proactive_rate: rate(f.delayed_told, f.delayed()),
        }
    }

    /// Cancellations of the orders and of their lines, by who cancelled and why.
    async fn cancellations(&self) -> CancellationFigures {
        let f = &self.0;
        CancellationFigures {
            cancellations: f.cancellations.values().sum(),
            orders_cancelled: f.orders_cancelled,
            by_actor: f
                .cancellations_by_actor()
                .into_iter()
                .map(|(actor, count)| CancellationsByActor {
                    actor: CancellationActor::parse(actor),
                    count,
                })
                .collect(),
            by_reason: f
                .cancellations_by_reason()
                .into_iter()
                .map(|(reason, count)| CancellationsByReason {
                    reason_code: crate::selfservice::CancellationReason::parse(reason)
                        .unwrap_or(crate::selfservice::CancellationReason::Other)
                        .into(),
                    count,
                })
                .collect(),
        }
    }

    /// Substitutions proposed for lines of the orders, and how customers answered.
    async fn substitutions(&self) -> SubstitutionFigures {
        let by = |status: &str| self.0.substitutions.get(status).copied().unwrap_or(0);
        let (accepted, declined) = (by("ACCEPTED"), by("DECLINED"));
        SubstitutionFigures {
            proposed: self.0.substitutions.values().sum(),
            accepted,
            declined,
            expired: by("EXPIRED"),
            awaiting_answer: by("PROPOSED"),
            acceptance_rate: rate(accepted, accepted + declined),
        }
    }

    /// Returns of the orders and how quickly they were refunded.
    async fn returns(&self) -> ReturnFigures {
        let f = &self.0;
        let by_expected = f.refunds.iter().filter(|r| r.by_expected).count() as i64;
        let mut by_method = Vec::new();
        for method in crate::returns::ReturnMethod::ALL {
            let refunds: Vec<&domain::Refund> = f
                .refunds
                .iter()
                .filter(|r| r.method == method.as_str())
                .collect();
            if refunds.is_empty() {
                continue;
            }
            by_method.push(refund_figures(Some((*method).into()), &refunds));
        }
        let all: Vec<&domain::Refund> = f.refunds.iter().collect();
        ReturnFigures {
            returns: f.returns,
            orders_returned: f.orders_returned,
            return_rate: rate(f.orders_returned, f.orders_placed),
            cross_channel_returns: f.cross_channel_returns,
            cross_channel_rate: rate(f.cross_channel_returns, f.returns),
            refunds_issued: f.refunds.len() as i64,
            refunded_by_expected_by: by_expected,
            refunded_by_expected_by_rate: rate(by_expected, f.refunds.len() as i64),
            refunds: refund_figures(None, &all),
            by_method,
        }
    }

    /// Emails about the orders: sent, failed and opened, by kind.
    async fn emails(&self) -> EmailFigures {
        let mut total = domain::EmailCounts::default();
        let mut by_kind = Vec::new();
        for (kind, counts) in &self.0.emails {
            total.sent += counts.sent;
            total.failed += counts.failed;
            total.opened += counts.opened;
            if let Some(kind) = crate::communications::NotificationKind::parse(kind) {
                by_kind.push(EmailKindFigures {
                    kind: kind.into(),
                    sent: counts.sent,
                    failed: counts.failed,
                    opened: counts.opened,
                    open_rate: rate(counts.opened, counts.sent),
                });
            }
        }
        EmailFigures {
            sent: total.sent,
            failed: total.failed,
            opened: total.opened,
            open_rate: rate(total.opened, total.sent),
            by_kind,
        }
    }

    /// Whether customers ordered again after their first order in the range, by how that order
    /// fared. A customer counts in the channel of that first order; anonymous walk-in sales are
    /// left out.
    async fn repeat_purchase(&self) -> RepeatPurchaseFigures {
        let r = &self.0.repeat;
        RepeatPurchaseFigures {
            all: r.all.into(),
            first_order_on_time: r.on_time.into(),
            first_order_delayed: r.delayed.into(),
            first_order_delayed_told_proactively: r.delayed_told.into(),
            first_order_delayed_not_told: r.delayed_not_told.into(),
            first_order_returned: r.returned.into(),
            first_order_not_returned: r.not_returned.into(),
        }
    }
}

/// How orders were split into shipments.
#[derive(SimpleObject)]
pub struct FulfilmentFigures {
    /// Orders with at least one shipment that was not cancelled.
    pub orders_shipped: i64,
    /// Shipped orders sent in exactly one shipment.
    pub single_shipment_orders: i64,
    /// Shipments (not cancelled) of the shipped orders.
    pub shipments: i64,
    /// singleShipmentOrders / ordersShipped; null without shipped orders.
    pub single_shipment_rate: Option<f64>,
    /// shipments / ordersShipped; null without shipped orders.
    pub average_shipments_per_order: Option<f64>,
}

/// Delivery against the promised date. Orders without a promise or with nothing left to
/// deliver are left out, and so are orders still on their way while their promised date has not
/// passed and no shipment is known to be late.
#[derive(SimpleObject)]
pub struct DeliveryFigures {
    /// Orders these figures judge.
    pub orders_judged: i64,
    /// Orders whose every shipment (not cancelled) was delivered or collected by the end of the
    /// promised day (UTC).
    pub on_time: i64,
    /// Judged orders that were not on time.
    pub delayed: i64,
    /// Delayed orders whose customer was sent a SHIPMENT_DELAYED email by the end of the
    /// promised day.
    pub told_proactively: i64,
    /// onTime / ordersJudged; null when none are judged.
    pub on_time_rate: Option<f64>,
    /// delayed / ordersJudged; null when none are judged.
    pub delayed_rate: Option<f64>,
    /// toldProactively / delayed; null when none were delayed.
    pub proactive_rate: Option<f64>,
}

/// Cancellations of whole orders and of lines (each cancellation counts once).
#[derive(SimpleObject)]
pub struct CancellationFigures {
    /// Cancellations (of orders or of some of their lines).
    pub cancellations: i64,
    /// Orders now wholly cancelled.
    pub orders_cancelled: i64,
    /// Cancellations by who cancelled.
    pub by_actor: Vec<CancellationsByActor>,
    /// Cancellations by reason code; stock appears only as OUT_OF_STOCK_AT_PICK (a shortfall
    /// found at picking), as placement refuses what it cannot reserve.
    pub by_reason: Vec<CancellationsByReason>,
}

/// Cancellations by one kind of actor.
#[derive(SimpleObject)]
pub struct CancellationsByActor {
    /// Who cancelled.
    pub actor: CancellationActor,
    /// How many cancellations they made.
    pub count: i64,
}

/// Cancellations for one reason.
#[derive(SimpleObject)]
pub struct CancellationsByReason {
    /// The reason code given.
    pub reason_code: CancellationReason,
    /// How many cancellations gave it.
    pub count: i64,
}

/// Substitutions proposed and their answers.
#[derive(SimpleObject)]
pub struct SubstitutionFigures {
    /// Substitutions proposed.
    pub proposed: i64,
    /// Accepted by the customer.
    pub accepted: i64,
    /// Declined by the customer.
    pub declined: i64,
    /// Not answered in time.
    pub expired: i64,
    /// Still waiting for an answer.
    pub awaiting_answer: i64,
    /// accepted / (accepted + declined); null when none were answered.
    pub acceptance_rate: Option<f64>,
}

/// Returns and refunds.
#[derive(SimpleObject)]
pub struct ReturnFigures {
    /// Returns started (not cancelled) for the orders.
    pub returns: i64,
    /// Orders with at least one return (not cancelled).
    pub orders_returned: i64,
    /// ordersReturned / ordersPlaced; null without orders.
    pub return_rate: Option<f64>,
    /// Returns started in another channel than the one the order was placed in.
    pub cross_channel_returns: i64,
    /// crossChannelReturns / returns; null without returns.
    pub cross_channel_rate: Option<f64>,
    /// Refunds issued.
    pub refunds_issued: i64,
    /// Refunds issued by the end of their expectedBy day.
    pub refunded_by_expected_by: i64,
    /// refundedByExpectedBy / refundsIssued; null without refunds.
    pub refunded_by_expected_by_rate: Option<f64>,
    /// Refund times of every issued refund.
    pub refunds: RefundTimes,
    /// Refund times per return method (methods with refunds only).
    pub by_method: Vec<RefundTimes>,
}

/// How long refunds took (nearest-rank percentiles, in seconds to the millisecond).
#[derive(SimpleObject)]
pub struct RefundTimes {
    /// The return method; null for every method together.
    pub method: Option<ReturnMethod>,
    /// Refunds issued.
    pub refunds: i64,
    /// Median seconds from the return's request to its refund; null without refunds.
    pub from_request_p50_seconds: Option<f64>,
    /// 90th-percentile seconds from the return's request to its refund; null without refunds.
    pub from_request_p90_seconds: Option<f64>,
    /// Median seconds from the goods' receipt to the refund; null without received refunds.
    pub from_receipt_p50_seconds: Option<f64>,
    /// 90th-percentile seconds from the goods' receipt to the refund; null without received
    /// refunds.
    pub from_receipt_p90_seconds: Option<f64>,
    /// Refunds issued by the end of their expectedBy day.
    pub refunded_by_expected_by: i64,
    /// refundedByExpectedBy / refunds; null without refunds.
    pub refunded_by_expected_by_rate: Option<f64>,
}

fn refund_figures(method: Option<ReturnMethod>, refunds: &[&domain::Refund]) -> RefundTimes {
    let mut from_request: Vec<i64> = refunds.iter().map(|r| r.from_request_ms).collect();
    let mut from_receipt: Vec<i64> = refunds.iter().filter_map(|r| r.from_receipt_ms).collect();
    from_request.sort_unstable();
    from_receipt.sort_unstable();
    let seconds = |sorted: &[i64], p| nearest_rank(sorted, p).map(|ms| ms as f64 / 1000.0);
    let by_expected = refunds.iter().filter(|r| r.by_expected).count() as i64;
    RefundTimes {
        method,
        refunds: refunds.len() as i64,
        from_request_p50_seconds: seconds(&from_request, 50),
        from_request_p90_seconds: seconds(&from_request, 90),
        from_receipt_p50_seconds: seconds(&from_receipt, 50),
        from_receipt_p90_seconds: seconds(&from_receipt, 90),
        refunded_by_expected_by: by_expected,
        refunded_by_expected_by_rate: rate(by_expected, refunds.len() as i64),
    }
}

/// Emails sent, failed and opened.
#[derive(SimpleObject)]
pub struct EmailFigures {
    /// Emails sent.
    pub sent: i64,
    /// Emails that failed for good.
    pub failed: i64,
    /// Sent emails that were opened.
    pub opened: i64,
    /// opened / sent; null when none were sent.
    pub open_rate: Option<f64>,
    /// The same per kind of email.
    pub by_kind: Vec<EmailKindFigures>,
}

/// Emails of one kind.
#[derive(SimpleObject)]
pub struct EmailKindFigures {
    /// The kind of email.
    pub kind: NotificationKind,
    /// Emails sent.
    pub sent: i64,
    /// Emails that failed for good.
    pub failed: i64,
    /// Sent emails that were opened.
    pub opened: i64,
    /// opened / sent; null when none were sent.
    pub open_rate: Option<f64>,
}

/// Repeat purchase, segmented by the customer's first order in the range.
#[derive(SimpleObject)]
pub struct RepeatPurchaseFigures {
    /// Every customer.
    pub all: RepeatPurchaseSegment,
    /// Customers whose first order was on time.
    pub first_order_on_time: RepeatPurchaseSegment,
    /// Customers whose first order was delayed.
    pub first_order_delayed: RepeatPurchaseSegment,
    /// Customers whose first order was delayed and who were told before its promised date passed.
    pub first_order_delayed_told_proactively: RepeatPurchaseSegment,
    /// Customers whose first order was delayed and who were not told in time.
    pub first_order_delayed_not_told: RepeatPurchaseSegment,
    /// Customers who returned something from their first order.
    pub first_order_returned: RepeatPurchaseSegment,
    /// Customers who returned nothing from their first order.
    pub first_order_not_returned: RepeatPurchaseSegment,
}

/// Customers in one segment and how many ordered again.
#[derive(SimpleObject)]
pub struct RepeatPurchaseSegment {
    /// Customers whose first order in the range is in the segment.
    pub customers: i64,
    /// Those who placed another order within 30 days after it.
    pub repeated_within_30_days: i64,
    /// Those who placed another order within 60 days after it.
    pub repeated_within_60_days: i64,
    /// Those who placed another order within 90 days after it.
    pub repeated_within_90_days: i64,
    /// repeatedWithin30Days / customers; null without customers.
    pub rate_30_days: Option<f64>,
    /// repeatedWithin60Days / customers; null without customers.
    pub rate_60_days: Option<f64>,
    /// repeatedWithin90Days / customers; null without customers.
    pub rate_90_days: Option<f64>,
}

impl From<RepeatCounts> for RepeatPurchaseSegment {
    fn from(c: RepeatCounts) -> Self {
        RepeatPurchaseSegment {
            customers: c.customers,
            repeated_within_30_days: c.repeated[0],
            repeated_within_60_days: c.repeated[1],
            repeated_within_90_days: c.repeated[2],
            rate_30_days: rate(c.repeated[0], c.customers),
            rate_60_days: rate(c.repeated[1], c.customers),
            rate_90_days: rate(c.repeated[2], c.customers),
        }
    }
}

#[derive(Default)]
pub struct MetricsQuery;

#[Object]
impl MetricsQuery {
    /// Agents, marketing and admins: how the orders placed from `from` to `to` (UTC days, both
    /// included) fared, overall and per channel. Aggregates only.
    async fn experience_metrics(
        &self,
        ctx: &Context<'_>,
        from: Date,
        to: Date,
        channel: Option<Channel>,
    ) -> async_graphql::Result<ExperienceMetrics> {
        let (overall, by_channel, orders_pending) = figures(ctx, from.0, to.0, channel).await?;
        Ok(ExperienceMetrics {
            from,
            to,
            channel,
            overall: overall.0,
            by_channel,
            orders_pending,
        })
    }
}
