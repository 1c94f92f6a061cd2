//! The return policy: one rule set for every channel and every place a return starts.
//! Pure: the service and the resolvers feed it what was delivered and what is already coming back.
use chrono::{Days, NaiveDate};

use crate::error::RefusalCode;
use crate::selfservice::Allowance;

text_enum!(
    /// How the goods come back.
    ReturnMethod { InStore = "IN_STORE", Carrier = "CARRIER", DropOff = "DROP_OFF" }
);

text_enum!(
    ReturnStatus {
        Requested = "REQUESTED",
        Received = "RECEIVED",
        Refunded = "REFUNDED",
        Rejected = "REJECTED",
        Cancelled = "CANCELLED",
    }
);

text_enum!(RefundStatus { Pending = "PENDING", Issued = "ISSUED" });

/// The configured policy (DESIGN.md, "Dates that policies count from").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReturnPolicy {
    /// Days from delivery or collection during which a line may be returned.
    pub window_days: u32,
    pub in_store_refund_days: u32,
    pub carrier_refund_days: u32,
    pub drop_off_refund_days: u32,
    /// Product categories that are never returnable, besides products marked so.
    pub non_returnable_categories: Vec<String>,
}

impl Default for ReturnPolicy {
    fn default() -> Self {
        ReturnPolicy {
            window_days: 30,
            in_store_refund_days: 0,
            carrier_refund_days: 10,
            drop_off_refund_days: 7,
            non_returnable_categories: Vec::new(),
        }
    }
}

impl ReturnPolicy {
    pub fn refund_days(&self, method: ReturnMethod) -> u32 {
        match method {
            ReturnMethod::InStore => self.in_store_refund_days,
            ReturnMethod::Carrier => self.carrier_refund_days,
            ReturnMethod::DropOff => self.drop_off_refund_days,
        }
    }

    /// When the money arrives at the latest: the day the return starts (for IN_STORE, the day
    /// of the visit) plus the method's refund days.
    pub fn refund_expected_by(&self, method: ReturnMethod, day: NaiveDate) -> NaiveDate {
        add_days(day, self.refund_days(method))
    }

    /// Whether a product may be returned at all.
    pub fn product_returnable(&self, returnable: bool, category: Option<&str>) -> bool {
        returnable
            && !category.is_some_and(|c| {
                self.non_returnable_categories
                    .iter()
                    .any(|n| n.eq_ignore_ascii_case(c))
            })
    }
}

fn add_days(day: NaiveDate, days: u32) -> NaiveDate {
    day.checked_add_days(Days::new(u64::from(days)))
        .unwrap_or(NaiveDate::MAX)
}

/// What the policy needs to know about one order line.
#[derive(Clone, Debug)]
pub struct LineFacts {
    pub line_id: i64,
    pub quantity_ordered: i32,
    pub quantity_cancelled: i32,
    /// Whether its product may be returned at all (`ReturnPolicy::product_returnable`).
    pub product_returnable: bool,
    /// Units delivered or collected, and the UTC day they were.
    pub deliveries: Vec<(i32, NaiveDate)>,
    /// Units already on their way back or taken back by other returns.
    pub claimed: i32,
}

/// Whether a line may be returned now: how many units, until when, or why not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Returnability {
    pub line_id: i64,
    /// Units that may be returned now under the policy.
    pub quantity: i32,
    /// The last day of the window (null while nothing was delivered or the product is excluded).
    pub until: Option<NaiveDate>,
    /// Why not, in words a customer understands; null when some units may be returned.
    pub reason: Option<String>,
    /// Units an agent's override may still accept: delivered and not already coming back.
    pub overridable: i32,
}

impl Returnability {
    /// Whether the policy refuses this line (as opposed to the line having nothing left).
    pub fn refused(&self) -> bool {
        self.quantity == 0 && self.overridable > 0
    }
}

/// Applies the policy to one line on `today`.
pub fn returnability(policy: &ReturnPolicy, facts: &LineFacts, today: NaiveDate) -> Returnability {
    let delivered: i32 = facts.deliveries.iter().map(|(q, _)| q).sum();
    let unclaimed = std::cmp::max(delivered - facts.claimed, 0);
    let refuse = |until: Option<NaiveDate>, reason: String, overridable: i32| Returnability {
        line_id: facts.line_id,
        quantity: 0,
        until,
        reason: Some(reason),
        overridable,
    };
    if !facts.product_returnable {
        return refuse(None, "This item can't be returned.".into(), unclaimed);
    }
    if delivered == 0 {
        let reason = if facts.quantity_cancelled >= facts.quantity_ordered {
            "This item was cancelled, so there is nothing to return."
        } else {
            "This item hasn't reached you yet, so it can't be returned yet."
        };
        return refuse(None, reason.into(), 0);
    }
    let until_of = |day: NaiveDate| add_days(day, policy.window_days);
    let until = facts.deliveries.iter().map(|(_, d)| until_of(*d)).max();
    let in_window: i32 = facts
        .deliveries
        .iter()
        .filter(|(_, d)| until_of(*d) >= today)
        .map(|(q, _)| q)
        .sum();
    if unclaimed == 0 {
        return refuse(until, "This item has already been returned.".into(), 0);
    }
    let quantity = std::cmp::min(unclaimed, in_window);
    if quantity == 0 {
        let closed = until.map(|d| d.to_string()).unwrap_or_default();
        return refuse(
            until,
            format!(
                "The {}-day return window for this item closed on {closed}.",
                policy.window_days
            ),
            unclaimed,
        );
    }
    Returnability {
        line_id: facts.line_id,
        quantity,
        until,
        reason: None,
        overridable: unclaimed,
    }
}

/// Whether a return may be started on the order at all (`OrderActions.requestReturn`).
pub fn order_allowance(cancelled: bool, lines: &[Returnability]) -> Allowance {
    let no = |reason: &str| Allowance::no(RefusalCode::NotReturnable, reason);
    if cancelled {
        return no("This order was cancelled, so there is nothing to return.");
    }
    if lines.iter().any(|l| l.quantity > 0) {
        return Allowance::yes();
    }
    match lines {
        [only] => no(only
            .reason
            .as_deref()
            .unwrap_or("This item can't be returned.")),
        _ if lines
            .iter()
            .all(|l| l.until.is_none() && l.overridable == 0) =>
        {
            no("Nothing in this order has reached you yet, so there is nothing to return yet.")
        }
        _ if lines.iter().any(|l| l.refused() && l.until.is_some()) => {
            no("The return window for this order has closed.")
        }
        _ => no("Nothing in this order can be returned now."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn line(deliveries: &[(i32, &str)], claimed: i32) -> LineFacts {
        LineFacts {
            line_id: 1,
            quantity_ordered: 2,
            quantity_cancelled: 0,
            product_returnable: true,
            deliveries: deliveries.iter().map(|(q, d)| (*q, day(d))).collect(),
            claimed,
        }
    }

    #[test]
    fn a_delivered_line_is_returnable_for_the_window() {
        let p = ReturnPolicy::default();
        let r = returnability(&p, &line(&[(2, "2026-11-01")], 0), day("2026-11-20"));
        assert_eq!(r.quantity, 2);
        assert_eq!(r.until, Some(day("2026-12-01")));
        assert_eq!(r.reason, None);
        let last = returnability(&p, &line(&[(2, "2026-11-01")], 0), day("2026-12-01"));
        assert_eq!(last.quantity, 2, "the last day still counts");
    }

    #[test]
    fn a_closed_window_refuses_with_the_date_but_an_override_may_accept() {
        let p = ReturnPolicy::default();
        let r = returnability(&p, &line(&[(2, "2026-10-01")], 0), day("2026-11-20"));
        assert_eq!(r.quantity, 0);
        assert_eq!(r.until, Some(day("2026-10-31")));
        assert!(r.reason.as_deref().unwrap().contains("2026-10-31"));
        assert_eq!(r.overridable, 2);
        assert!(r.refused());
    }

    #[test]
    fn units_already_coming_back_are_not_returnable_twice() {
        let p = ReturnPolicy::default();
        let r = returnability(&p, &line(&[(2, "2026-11-01")], 1), day("2026-11-02"));
        assert_eq!(r.quantity, 1);
        let all = returnability(&p, &line(&[(2, "2026-11-01")], 2), day("2026-11-02"));
        assert_eq!(all.quantity, 0);
        assert!(!all.refused());
        assert!(all.reason.unwrap().contains("already been returned"));
    }

    #[test]
    fn only_units_still_in_their_window_count() {
        let p = ReturnPolicy::default();
        let facts = line(&[(1, "2026-10-01"), (1, "2026-11-10")], 0);
        let r = returnability(&p, &facts, day("2026-11-20"));
        assert_eq!(r.quantity, 1);
        assert_eq!(r.until, Some(day("2026-12-10")));
    }

    #[test]
    fn nothing_delivered_is_not_returnable_even_by_override() {
        let r = returnability(&ReturnPolicy::default(), &line(&[], 0), day("2026-11-20"));
        assert_eq!((r.quantity, r.overridable, r.until), (0, 0, None));
        assert!(r.reason.unwrap().contains("hasn't reached you"));
    }

    #[test]
    fn excluded_products_and_categories() {
        let p = ReturnPolicy {
            non_returnable_categories: vec!["Food".into()],
            ..ReturnPolicy::default()
        };
        assert!(!p.product_returnable(true, Some("food")));
        assert!(!p.product_returnable(false, None));
        assert!(p.product_returnable(true, Some("Shoes")));
        let mut facts = line(&[(2, "2026-11-01")], 0);
        facts.product_returnable = false;
        let r = returnability(&p, &facts, day("2026-11-02"));
        assert_eq!((r.quantity, r.until, r.overridable), (0, None, 2));
    }

    #[test]
    fn refunds_are_expected_by_the_start_day_plus_the_method_days() {
        let p = ReturnPolicy::default();
        let d = day("2026-11-27");
        assert_eq!(p.refund_expected_by(ReturnMethod::InStore, d), d);
        assert_eq!(
            p.refund_expected_by(ReturnMethod::Carrier, d),
            day("2026-12-07")
        );
        assert_eq!(
            p.refund_expected_by(ReturnMethod::DropOff, d),
            day("2026-12-04")
        );
    }

    #[test]
    fn the_order_allowance_explains_itself() {
        let p = ReturnPolicy::default();
        let today = day("2026-11-20");
        let open = returnability(&p, &line(&[(2, "2026-11-01")], 0), today);
        let closed = returnability(&p, &line(&[(2, "2026-10-01")], 0), today);
        let pending = returnability(&p, &line(&[], 0), today);
        assert!(order_allowance(false, &[open.clone(), closed.clone()]).allowed);
        let a = order_allowance(false, &[closed, pending.clone()]);
        assert_eq!(a.code, Some(RefusalCode::NotReturnable));
        assert!(a.reason.unwrap().contains("window"));
        assert!(!order_allowance(true, &[open]).allowed);
        assert!(
            order_allowance(false, &[pending.clone(), pending])
                .reason
                .unwrap()
                .contains("reached you")
        );
    }
}
