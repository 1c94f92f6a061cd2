//! A template's data: its `data.graphql` executed against Touchpoint's own schema as the
//! template principal (DESIGN.md, "Emails: data and context").
use async_graphql::Variables;
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, Selection};
use async_graphql_value::Value as GqlValue;

use super::kinds::{NotificationKind, Subject};
use super::render::Problem;
use crate::auth::Principal;
use crate::db::Store;
use crate::graphql::TouchpointSchema;
use crate::graphql::batch::Batcher;
use crate::ids::{GlobalId, NodeType};

/// The root fields a data query may use; each is addressed by one of the kind's variables.
const ROOTS: [&str; 4] = ["order", "shipment", "return", "substitution"];

fn problem(message: impl Into<String>, pos: Option<async_graphql::Pos>) -> Problem {
    Problem {
        part: "dataQuery",
        line: pos.map(|p| p.line),
        column: pos.map(|p| p.column),
        message: message.into(),
    }
}

/// Checks that a data query is one query reading only what the template principal may:
/// `order`, `shipment`, `return` and `substitution` by the kind's variables, and `brand`.
/// Returns the variables it declares.
pub fn check(query: &str, kind: NotificationKind) -> Result<Vec<String>, Problem> {
    let document = async_graphql::parser::parse_query(query).map_err(|e| {
        let pos = e.positions().next();
        // The parser's message draws the line; its `= expected …` line says what is wrong.
        let text = e.to_string();
        let reason = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("= "))
            .unwrap_or_else(|| text.lines().next().unwrap_or("syntax error"));
        problem(format!("syntax error: {reason}"), pos)
    })?;
    check_document(&document, kind)
}

/// [`check`] of a parsed data query.
fn check_document(
    document: &ExecutableDocument,
    kind: NotificationKind,
) -> Result<Vec<String>, Problem> {
    let max_aliases = crate::config::Limits::default().max_aliases;
    if let Some(refusal) = crate::graphql::operation::alias_refusal(document, max_aliases) {
        return Err(problem(refusal, None));
    }
    let mut operations = match &document.operations {
        DocumentOperations::Single(op) => vec![op],
        DocumentOperations::Multiple(ops) => ops.values().collect(),
    };
    if operations.len() > 1 {
        // Placed at the second operation.
        let mut positions: Vec<_> = operations.iter().map(|op| op.pos).collect();
        positions.sort_by_key(|p| (p.line, p.column));
        return Err(problem(
            "a data query is exactly one operation",
            positions.get(1).copied(),
        ));
    }
    let Some(operation) = operations.pop() else {
        return Err(problem("a data query is exactly one operation", None));
    };
    if operation.node.ty != async_graphql::parser::types::OperationType::Query {
        return Err(problem(
            "a data query only reads: use `query`",
            Some(operation.pos),
        ));
    }
    let allowed = kind.variables();
    for variable in &operation.node.variable_definitions {
        let name = variable.node.name.node.as_str();
        if !allowed.contains(&name) {
            return Err(problem(
                format!(
                    "`${name}` is not given to {} templates; they get {}",
                    kind.as_str(),
                    allowed
                        .iter()
                        .map(|v| format!("${v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Some(variable.pos),
            ));
        }
    }
    for selection in &operation.node.selection_set.node.items {
        let Selection::Field(field) = &selection.node else {
            return Err(problem(
                "select root fields directly, without fragments",
                Some(selection.pos),
            ));
        };
        let name = field.node.name.node.as_str();
        if name == "brand" || name == "__typename" {
            continue;
        }
        if !ROOTS.contains(&name) {
            return Err(problem(
                format!(
                    "templates may read only order, shipment, return, substitution and brand, not `{name}`"
                ),
                Some(field.pos),
            ));
        }
        let by_variable = field.node.arguments.iter().any(|(arg, value)| {
            arg.node == "id"
                && matches!(&value.node, GqlValue::Variable(v) if allowed.contains(&v.as_str()))
        });
        if !by_variable {
            return Err(problem(
                format!("`{name}` must be addressed by one of the template's variables"),
                Some(field.pos),
            ));
        }
    }
    Ok(operation
        .node
        .variable_definitions
        .iter()
        .map(|v| v.node.name.node.to_string())
        .collect())
}

/// The variables of a message about `subject`, as global IDs.
pub fn variables(subject: &Subject) -> serde_json::Value {
    let id = |t: NodeType, v: i64| serde_json::Value::String(GlobalId::new(t, v).encode());
    let mut vars = serde_json::Map::new();
    vars.insert("orderId".into(), id(NodeType::Order, subject.order_id));
    if let Some(s) = subject.shipment_id {
        vars.insert("shipmentId".into(), id(NodeType::Shipment, s));
    }
    if let Some(r) = subject.return_id {
        vars.insert("returnId".into(), id(NodeType::Return, r));
    }
    if let Some(s) = subject.substitution_id {
        vars.insert("substitutionId".into(), id(NodeType::Substitution, s));
    }
    serde_json::Value::Object(vars)
}

/// Runs a checked data query for `subject` as the order's customer would read it, and returns
/// its data; any error is a problem of the query.
pub async fn run(
    schema: &TouchpointSchema,
    store: &Store,
    query: &str,
    kind: NotificationKind,
    subject: &Subject,
    reader: Principal,
) -> Result<serde_json::Value, Problem> {
    // Parsed once per text, like a client's query (`graphql::documents`).
    let Some(document) = crate::graphql::documents::parse(query) else {
        return Err(check(query, kind)
            .err()
            .unwrap_or_else(|| problem("syntax error", None)));
    };
    let declared = check_document(&document, kind)?;
    let vars = variables(subject);
    // Only the variables the query declares are passed on.
    let vars: serde_json::Map<String, serde_json::Value> = vars
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| declared.contains(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut request = async_graphql::Request::new(query)
        .variables(Variables::from_json(serde_json::Value::Object(vars)))
        .data(reader);
    request.set_parsed_query(ExecutableDocument::clone(&document));
    let batcher = Batcher::driven_in_background(store);
    let response = batcher
        .drive(schema.execute(request.data(batcher.clone())))
        .await;
    if let Some(error) = response.errors.first() {
        return Err(problem(
            error.message.clone(),
            error.locations.first().copied(),
        ));
    }
    response
        .data
        .into_json()
        .map_err(|e| problem(e.to_string(), None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_kinds_roots_and_variables_pass() {
        let ok = "query Q($orderId: ID!) { order(id: $orderId) { number } brand { name } }";
        assert!(check(ok, NotificationKind::OrderConfirmation).is_ok());
        let me = "query Q($orderId: ID!) { me { email } order(id: $orderId) { number } }";
        assert!(check(me, NotificationKind::OrderConfirmation).is_err());
        let literal = r#"query { order(id: "T3JkZXI6MQ") { number } }"#;
        assert!(check(literal, NotificationKind::OrderConfirmation).is_err());
        let foreign = "query Q($returnId: ID!) { return(id: $returnId) { rmaNumber } }";
        let p = check(foreign, NotificationKind::OrderConfirmation).unwrap_err();
        assert_eq!(p.line, Some(1));
        assert!(check(foreign, NotificationKind::RefundIssued).is_ok());
        let mutation = "mutation M($orderId: ID!) { cancelOrder(input: {orderId: $orderId}) { userErrors { code } } }";
        assert!(check(mutation, NotificationKind::OrderConfirmation).is_err());
    }
}
