//! Shipment statuses and the moves between them.
text_enum!(
    ShipmentStatus {
        Pending = "PENDING",
        Picking = "PICKING",
        Dispatched = "DISPATCHED",
        InTransit = "IN_TRANSIT",
        OutForDelivery = "OUT_FOR_DELIVERY",
        Delivered = "DELIVERED",
        Exception = "EXCEPTION",
        ReadyForCollection = "READY_FOR_COLLECTION",
        Collected = "COLLECTED",
        Cancelled = "CANCELLED",
    }
);

text_enum!(
    SubstitutionStatus { Proposed = "PROPOSED", Accepted = "ACCEPTED", Declined = "DECLINED", Expired = "EXPIRED" }
);

impl ShipmentStatus {
    /// Nothing moves a shipment on from these.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            ShipmentStatus::Delivered | ShipmentStatus::Collected | ShipmentStatus::Cancelled
        )
    }

    /// Still in the building: nothing has left.
    pub fn is_unshipped(self) -> bool {
        matches!(self, ShipmentStatus::Pending | ShipmentStatus::Picking)
    }

    /// Whether a shipment may move from `self` to `to`.
    pub fn may_become(self, to: ShipmentStatus) -> bool {
        use ShipmentStatus::*;
        matches!(
            (self, to),
            (
                Pending,
                Picking | Dispatched | ReadyForCollection | Cancelled
            ) | (Picking, Dispatched | ReadyForCollection | Cancelled)
                | (
                    Dispatched | InTransit | Exception,
                    InTransit | OutForDelivery | Delivered | Exception | ReadyForCollection
                )
                | (OutForDelivery, InTransit | Delivered | Exception)
                | (ReadyForCollection, Collected)
        )
    }

    /// How far along the carrier's part a status is; a carrier event never moves a shipment back.
    pub fn progress(self) -> u8 {
        use ShipmentStatus::*;
        match self {
            Pending => 0,
            Picking => 1,
            Dispatched => 2,
            InTransit | Exception => 3,
            OutForDelivery => 4,
            ReadyForCollection => 5,
            Delivered | Collected | Cancelled => 6,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ShipmentStatus::*;

    #[test]
    fn transitions_only_move_forward() {
        assert!(Pending.may_become(Picking));
        assert!(Picking.may_become(Dispatched));
        assert!(Dispatched.may_become(Delivered));
        assert!(!Delivered.may_become(Picking));
        assert!(!Dispatched.may_become(Picking));
        assert!(!Cancelled.may_become(Dispatched));
        assert!(ReadyForCollection.may_become(Collected));
        assert!(!Pending.may_become(Collected));
    }
}
