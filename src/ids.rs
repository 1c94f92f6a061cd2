//! Typed row ids and the opaque global IDs the API shows for them.
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The kinds of object that have a global ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeType {
    Customer,
    CustomerNote,
    Product,
    Location,
    Order,
    OrderLine,
    Shipment,
    Substitution,
    Return,
    Communication,
    TimelineEntry,
}

impl NodeType {
    pub fn name(self) -> &'static str {
        match self {
            NodeType::Customer => "Customer",
            NodeType::CustomerNote => "CustomerNote",
            NodeType::Product => "Product",
            NodeType::Location => "Location",
            NodeType::Order => "Order",
            NodeType::OrderLine => "OrderLine",
            NodeType::Shipment => "Shipment",
            NodeType::Substitution => "Substitution",
            NodeType::Return => "Return",
            NodeType::Communication => "Communication",
            NodeType::TimelineEntry => "TimelineEntry",
        }
    }

    const ALL: [NodeType; 11] = [
        NodeType::Customer,
        NodeType::CustomerNote,
        NodeType::Product,
        NodeType::Location,
        NodeType::Order,
        NodeType::OrderLine,
        NodeType::Shipment,
        NodeType::Substitution,
        NodeType::Return,
        NodeType::Communication,
        NodeType::TimelineEntry,
    ];
}

/// An unguessable URL-safe token of `bytes` random bytes (links that are their own credential,
/// message ids).
pub fn random_token(bytes: usize) -> String {
    let raw: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    URL_SAFE_NO_PAD.encode(raw)
}

/// A decoded global ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GlobalId {
    pub node_type: NodeType,
    pub id: i64,
}

#[derive(Debug, thiserror::Error)]
#[error("malformed ID")]
pub struct MalformedId;

impl GlobalId {
    pub fn new(node_type: NodeType, id: i64) -> Self {
        GlobalId { node_type, id }
    }

    pub fn encode(self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}:{}", self.node_type.name(), self.id))
    }

    pub fn decode(raw: &str) -> Result<GlobalId, MalformedId> {
        if raw.len() > 64 {
            return Err(MalformedId);
        }
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| MalformedId)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| MalformedId)?;
        let (name, id) = text.split_once(':').ok_or(MalformedId)?;
        let node_type = NodeType::ALL
            .into_iter()
            .find(|t| t.name() == name)
            .ok_or(MalformedId)?;
        let id: i64 = id.parse().map_err(|_| MalformedId)?;
        if id <= 0 {
            return Err(MalformedId);
        }
        Ok(GlobalId { node_type, id })
    }

    /// The row id when the ID is of the expected type.
    pub fn of(self, node_type: NodeType) -> Option<i64> {
        (self.node_type == node_type).then_some(self.id)
    }
}

macro_rules! row_id {
    ($name:ident, $node:ident) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        pub struct $name(pub i64);
        impl $name {
            pub fn global(self) -> String {
                GlobalId::new(NodeType::$node, self.0).encode()
            }
        }
    };
}

row_id!(CustomerId, Customer);
row_id!(ProductId, Product);
row_id!(LocationId, Location);
row_id!(OrderId, Order);
row_id!(OrderLineId, OrderLine);
row_id!(ReturnId, Return);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        let id = GlobalId::new(NodeType::Order, 42);
        let raw = id.encode();
        assert!(!raw.contains("42"));
        assert_eq!(GlobalId::decode(&raw).unwrap(), id);
        assert!(GlobalId::decode("not-an-id").is_err());
        assert!(GlobalId::decode(&URL_SAFE_NO_PAD.encode("Order:-1")).is_err());
        assert!(GlobalId::decode(&URL_SAFE_NO_PAD.encode("Nope:1")).is_err());
    }
}
