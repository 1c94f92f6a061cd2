//! The queries more than one benchmark sends.

/// Scenario 1: an agent reads one customer with their orders, lines, totals and shipments with
/// shipment lines (`--bench http`; `--bench engine` answers it without the server).
pub const CUSTOMER_ORDERS_QUERY: &str = "query($id: ID!) { customer(id: $id) {
    id firstName lastName email
    orders(first: 50) { totalCount edges { node {
        id number channel status placedAt
        lines { id sku name quantity unitPrice { amount currencyCode } total { amount currencyCode } }
        totals { subtotal { amount currencyCode } shipping { amount currencyCode } total { amount currencyCode } }
        shipments { id status carrier trackingNumber lines { quantity line { id sku } } }
    } } } } }";
