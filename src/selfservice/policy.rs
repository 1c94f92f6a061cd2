//! The modification policy: what may change on an order, and until when, from its shipments.
//! Pure: the service feeds it the order's state.
use crate::error::RefusalCode;
use crate::fulfilment::ShipmentStatus;
use crate::orders::{DeliveryMethod, OrderStatus};

text_enum!(
    /// Why an order or line was cancelled.
    CancellationReason {
        CustomerRequest = "CUSTOMER_REQUEST",
        OutOfStockAtPick = "OUT_OF_STOCK_AT_PICK",
        MarketplaceCancelled = "MARKETPLACE_CANCELLED",
        PaymentFailed = "PAYMENT_FAILED",
        Fraud = "FRAUD",
        Other = "OTHER",
    }
);

/// One shipment as the policy sees it.
#[derive(Clone, Debug)]
pub struct ShipmentState {
    pub status: ShipmentStatus,
    /// (order line id, quantity)
    pub lines: Vec<(i64, i32)>,
}

/// Whether an action is allowed now, and if not, why and with which code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allowance {
    pub allowed: bool,
    pub reason: Option<String>,
    pub code: Option<RefusalCode>,
}

impl Allowance {
    pub fn yes() -> Allowance {
        Allowance {
            allowed: true,
            reason: None,
            code: None,
        }
    }

    pub fn no(code: RefusalCode, reason: &str) -> Allowance {
        Allowance {
            allowed: false,
            reason: Some(reason.to_owned()),
            code: Some(code),
        }
    }

    /// The refusal a mutation gives when this is not allowed.
    pub fn refusal(&self, field: &str) -> Option<crate::error::Refusal> {
        match (&self.code, &self.reason) {
            (Some(code), Some(reason)) if !self.allowed => {
                Some(crate::error::Refusal::new(*code, &[field], reason.clone()))
            }
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Actions {
    pub change_shipping_address: Allowance,
    pub cancel: Allowance,
    pub cancel_lines: Allowance,
}

fn live(shipments: &[ShipmentState]) -> impl Iterator<Item = &ShipmentState> {
    shipments
        .iter()
        .filter(|s| s.status != ShipmentStatus::Cancelled)
}

/// Units of a line that may still be cancelled: those in shipments nobody has started picking.
pub fn cancellable_quantity(line_id: i64, shipments: &[ShipmentState]) -> i32 {
    live(shipments)
        .filter(|s| s.status == ShipmentStatus::Pending)
        .flat_map(|s| s.lines.iter())
        .filter(|(id, _)| *id == line_id)
        .map(|(_, q)| *q)
        .sum()
}

/// What may change on the order now. Whether a return may start is the return policy's answer
/// (`returns::order_allowance`).
pub fn actions(
    status: OrderStatus,
    method: DeliveryMethod,
    shipments: &[ShipmentState],
) -> Actions {
    use RefusalCode::NotModifiable;
    if status == OrderStatus::Cancelled {
        let cancelled = Allowance::no(NotModifiable, "This order was cancelled.");
        return Actions {
            change_shipping_address: cancelled.clone(),
            cancel: cancelled.clone(),
            cancel_lines: cancelled,
        };
    }
    let left = live(shipments).any(|s| !s.status.is_unshipped());
    let change_shipping_address = if method != DeliveryMethod::ShipToAddress {
        Allowance::no(
            NotModifiable,
            "This order is collected or was taken home, so it has no delivery address to change.",
        )
    } else if left {
        Allowance::no(
            NotModifiable,
            "Part of this order has already left us, so its address can no longer change.",
        )
    } else {
        Allowance::yes()
    };
    let cancel = if method == DeliveryMethod::CarryOut || left {
        Allowance::no(
            NotModifiable,
            "Part of this order has already been dispatched or handed over, so it can no longer be cancelled.",
        )
    } else {
        Allowance::yes()
    };
    let any_pending = live(shipments)
        .any(|s| s.status == ShipmentStatus::Pending && s.lines.iter().any(|(_, q)| *q > 0));
    let cancel_lines = if any_pending {
        Allowance::yes()
    } else {
        Allowance::no(
            NotModifiable,
            "Every item is already being picked or has left us, so no item can be cancelled.",
        )
    };
    Actions {
        change_shipping_address,
        cancel,
        cancel_lines,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipment(status: ShipmentStatus, lines: &[(i64, i32)]) -> ShipmentState {
        ShipmentState {
            status,
            lines: lines.to_vec(),
        }
    }

    #[test]
    fn everything_may_change_before_picking() {
        let s = [shipment(ShipmentStatus::Pending, &[(1, 2)])];
        let a = actions(OrderStatus::Placed, DeliveryMethod::ShipToAddress, &s);
        assert!(a.change_shipping_address.allowed && a.cancel.allowed && a.cancel_lines.allowed);
        assert_eq!(cancellable_quantity(1, &s), 2);
    }

    #[test]
    fn picking_stops_line_cancellation_but_not_the_order() {
        let s = [shipment(ShipmentStatus::Picking, &[(1, 2)])];
        let a = actions(OrderStatus::Processing, DeliveryMethod::ShipToAddress, &s);
        assert!(a.cancel.allowed && a.change_shipping_address.allowed);
        assert!(!a.cancel_lines.allowed);
        assert_eq!(cancellable_quantity(1, &s), 0);
    }

    #[test]
    fn dispatch_stops_changes_with_a_reason() {
        let s = [
            shipment(ShipmentStatus::Dispatched, &[(1, 1)]),
            shipment(ShipmentStatus::Pending, &[(2, 1)]),
        ];
        let a = actions(
            OrderStatus::PartiallyDispatched,
            DeliveryMethod::ShipToAddress,
            &s,
        );
        assert!(!a.change_shipping_address.allowed && !a.cancel.allowed);
        assert_eq!(a.cancel.code, Some(RefusalCode::NotModifiable));
        assert!(a.cancel.reason.is_some());
        assert!(a.cancel_lines.allowed);
    }

    #[test]
    fn collection_orders_have_no_address() {
        let s = [shipment(ShipmentStatus::Pending, &[(1, 1)])];
        assert!(
            !actions(OrderStatus::Placed, DeliveryMethod::ClickAndCollect, &s)
                .change_shipping_address
                .allowed
        );
    }
}
