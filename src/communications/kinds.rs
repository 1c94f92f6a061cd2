//! Notification kinds and the rules that turn events into them.
use crate::db::entities::event;
use crate::fulfilment::ShipmentStatus;

text_enum!(
    /// What a message is about; one template per kind and locale.
    NotificationKind {
        OrderConfirmation = "ORDER_CONFIRMATION",
        OrderModified = "ORDER_MODIFIED",
        OrderCancelled = "ORDER_CANCELLED",
        ShipmentDispatched = "SHIPMENT_DISPATCHED",
        ShipmentDelayed = "SHIPMENT_DELAYED",
        OutForDelivery = "OUT_FOR_DELIVERY",
        Delivered = "DELIVERED",
        ReadyForCollection = "READY_FOR_COLLECTION",
        SubstitutionProposed = "SUBSTITUTION_PROPOSED",
        ReturnRequested = "RETURN_REQUESTED",
        ReturnReceived = "RETURN_RECEIVED",
        RefundIssued = "REFUND_ISSUED",
    }
);

impl NotificationKind {
    /// Optional updates, which a customer may turn off (`orderUpdatesByEmail`); confirmations,
    /// changes, cancellations, delays, returns and refunds are always sent.
    pub fn optional(self) -> bool {
        use NotificationKind::*;
        matches!(
            self,
            ShipmentDispatched
                | OutForDelivery
                | Delivered
                | ReadyForCollection
                | SubstitutionProposed
        )
    }

    /// The folder of its factory template under `templates/email/`.
    pub fn folder(self) -> String {
        self.as_str().to_lowercase()
    }

    /// The variables its data query receives besides `$orderId`.
    pub fn variables(self) -> &'static [&'static str] {
        use NotificationKind::*;
        match self {
            ShipmentDispatched | ShipmentDelayed | OutForDelivery | Delivered
            | ReadyForCollection => &["orderId", "shipmentId"],
            ReturnRequested | ReturnReceived | RefundIssued => &["orderId", "returnId"],
            SubstitutionProposed => &["orderId", "substitutionId"],
            OrderConfirmation | OrderModified | OrderCancelled => &["orderId"],
        }
    }
}

/// What a message is about: the rows its data query is addressed by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Subject {
    pub order_id: i64,
    pub shipment_id: Option<i64>,
    pub return_id: Option<i64>,
    pub substitution_id: Option<i64>,
}

/// The notification an event calls for, if any.
pub fn notification_for(event: &event::Model) -> Option<(NotificationKind, Subject)> {
    use NotificationKind::*;
    let order_id = event.order_id?;
    let payload: serde_json::Value = serde_json::from_str(&event.payload).unwrap_or_default();
    let text = |k: &str| payload.get(k).and_then(|v| v.as_str());
    let subject = Subject {
        order_id,
        shipment_id: event.shipment_id,
        return_id: event.return_id,
        substitution_id: None,
    };
    let kind = match event.kind.as_str() {
        "ORDER_PLACED" => OrderConfirmation,
        "ORDER_MODIFIED" | "LINES_CANCELLED" => OrderModified,
        "ORDER_CANCELLED" => OrderCancelled,
        "SHIPMENT_DELAYED" => ShipmentDelayed,
        "SHIPMENT_UPDATED" => {
            // Re-routing and events kept only in the history tell the customer nothing new.
            if payload.get("rerouted").is_some()
                || payload.get("history").and_then(|v| v.as_bool()) == Some(true)
            {
                return None;
            }
            let status = text("status").and_then(ShipmentStatus::parse)?;
            if let Some(reported) = text("tracking").and_then(ShipmentStatus::parse)
                && reported != status
            {
                return None;
            }
            match status {
                ShipmentStatus::Dispatched => ShipmentDispatched,
                ShipmentStatus::OutForDelivery => OutForDelivery,
                ShipmentStatus::Delivered => Delivered,
                ShipmentStatus::ReadyForCollection => ReadyForCollection,
                _ => return None,
            }
        }
        "SUBSTITUTION_PROPOSED" => {
            let id = payload.get("substitutionId").and_then(|v| v.as_i64())?;
            return Some((
                SubstitutionProposed,
                Subject {
                    substitution_id: Some(id),
                    ..subject
                },
            ));
        }
        "RETURN_REQUESTED" => ReturnRequested,
        "RETURN_RECEIVED" => ReturnReceived,
        "REFUND_ISSUED" => RefundIssued,
        _ => return None,
    };
    if kind.variables().contains(&"shipmentId") && subject.shipment_id.is_none()
        || kind.variables().contains(&"returnId") && subject.return_id.is_none()
    {
        return None;
    }
    Some((kind, subject))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, payload: serde_json::Value) -> event::Model {
        event::Model {
            seq: 1,
            kind: kind.into(),
            occurred_at: chrono::Utc::now(),
            recorded_at: chrono::Utc::now(),
            actor_role: "service".into(),
            actor_id: None,
            channel: Some("WEB".into()),
            customer_id: Some(1),
            order_id: Some(7),
            location_id: None,
            sku: None,
            reason: None,
            shipment_id: Some(3),
            return_id: None,
            communication_id: None,
            payload: payload.to_string(),
        }
    }

    #[test]
    fn shipment_moves_notify_once_per_status() {
        let dispatched = event(
            "SHIPMENT_UPDATED",
            serde_json::json!({ "status": "DISPATCHED" }),
        );
        assert_eq!(
            notification_for(&dispatched).map(|(k, _)| k),
            Some(NotificationKind::ShipmentDispatched)
        );
        let picking = event(
            "SHIPMENT_UPDATED",
            serde_json::json!({ "status": "PICKING" }),
        );
        assert_eq!(notification_for(&picking), None);
        let history = event(
            "SHIPMENT_UPDATED",
            serde_json::json!({ "status": "DELIVERED", "tracking": "IN_TRANSIT", "history": true }),
        );
        assert_eq!(notification_for(&history), None);
        let delivered = event(
            "SHIPMENT_UPDATED",
            serde_json::json!({ "status": "DELIVERED", "tracking": "DELIVERED", "history": false }),
        );
        assert_eq!(
            notification_for(&delivered).map(|(k, s)| (k, s.shipment_id)),
            Some((NotificationKind::Delivered, Some(3)))
        );
    }

    #[test]
    fn events_without_an_order_or_a_rule_send_nothing() {
        let mut note = event("NOTE_ADDED", serde_json::json!({}));
        assert_eq!(notification_for(&note), None);
        note.kind = "ORDER_PLACED".into();
        note.order_id = None;
        assert_eq!(notification_for(&note), None);
    }

    #[test]
    fn substitutions_are_addressed_by_their_id() {
        let e = event(
            "SUBSTITUTION_PROPOSED",
            serde_json::json!({ "substitutionId": 9 }),
        );
        assert_eq!(
            notification_for(&e).map(|(_, s)| s.substitution_id),
            Some(Some(9))
        );
    }
}
